"""The compiled dump answers exactly what the schema's own dump answers, for every schema the
API declares, on rows of any values (absent keys and nulls included)."""

from __future__ import annotations

import enum
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import Schema, fields, post_dump

import crm_http.app  # noqa: F401 (imports every resource's schemas)
from crm_http import fields as ours
from crm_http.dumping import compile_dump


def every_schema() -> list[type[Schema]]:
    found: list[type[Schema]] = []
    pending: list[type[Schema]] = [Schema]
    while pending:
        schema = pending.pop()
        pending.extend(schema.__subclasses__())
        if schema.__module__.startswith("crm_http."):
            found.append(schema)
    return sorted(found, key=lambda schema: f"{schema.__module__}.{schema.__qualname__}")


def compiles(schema_class: type[Schema]) -> bool:
    schema = schema_class()
    return compile_dump(schema) != schema.dump


COMPILED = [schema for schema in every_schema() if compiles(schema)]


def values_of(field: fields.Field[Any]) -> st.SearchStrategy[Any]:
    if isinstance(field, fields.Nested):
        if field.many:
            return st.lists(rows_of(field.schema), max_size=3)
        return rows_of(field.schema)
    if isinstance(field, fields.List):
        return st.lists(values_of(field.inner), max_size=3)
    if isinstance(field, fields.Dict):
        given = field.value_field
        values = st.text(max_size=5) if given is None else values_of(given)
        return st.dictionaries(st.text(max_size=5), values, max_size=3)
    if isinstance(field, fields.Enum):
        return st.sampled_from(list(field.enum))
    kinds: list[tuple[type[fields.Field[Any]], st.SearchStrategy[Any]]] = [
        (ours.MoneyField, st.decimals("0", "9999999999.99", places=2)),
        (ours.ProbabilityField, st.integers(0, 100)),
        (ours.SumField, st.decimals("0", "1e20", places=2)),
        (ours.ColorField, st.from_regex(r"#[0-9a-f]{6}", fullmatch=True)),
        (ours.Timestamp, st.datetimes(timezones=st.just(UTC))),
        (fields.DateTime, st.datetimes(timezones=st.just(UTC))),
        (fields.Date, st.dates()),
        (fields.UUID, st.uuids()),
        (fields.Boolean, st.booleans()),
        (fields.Integer, st.integers(-(2**40), 2**40)),
        (fields.Float, st.floats(allow_nan=False, allow_infinity=False)),
        (fields.Decimal, st.decimals(allow_nan=False, allow_infinity=False)),
        (fields.String, st.text(max_size=20)),
    ]
    for kind, strategy in kinds:
        if isinstance(field, kind):
            return strategy
    return st.text(max_size=5)  # Raw and the rest: dumped as they are


def rows_of(schema: Schema) -> st.SearchStrategy[dict[str, Any]]:
    """Each field's key present or absent, its value null or one of its kind."""
    parts = {
        field.attribute or name: st.one_of(st.none(), values_of(field))
        for name, field in schema.dump_fields.items()
    }
    return st.fixed_dictionaries({}, optional=parts)


@pytest.mark.parametrize("schema_class", COMPILED, ids=lambda s: s.__qualname__)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_the_compiled_dump_is_the_schemas_dump(
    schema_class: type[Schema], data: st.DataObject
) -> None:
    schema = schema_class()
    row = data.draw(rows_of(schema))

    assert compile_dump(schema)(row) == schema.dump(row)


def test_the_rows_of_the_hot_paths_are_compiled() -> None:
    names = {schema.__qualname__ for schema in COMPILED}
    assert {"LeadRow", "DealRow", "ContactRow", "FunnelRow", "FunnelStatistics"} <= names


def test_a_schema_with_a_dump_hook_is_dumped_by_marshmallow() -> None:
    class Shouting(Schema):
        name = fields.String()

        @post_dump
        def shout(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
            return {key: str(value).upper() for key, value in data.items()}

    assert compile_dump(Shouting())({"name": "ая"}) == {"name": "АЯ"}


def test_a_nested_list_and_an_enum_follow_the_schema() -> None:
    class Colour(enum.Enum):
        RED = "red"

    class Inner(Schema):
        amount = ours.MoneyField()

    class Outer(Schema):
        colour = fields.Enum(Colour, by_value=True, data_key="color")
        items = fields.List(fields.Nested(Inner))

    row = {"colour": Colour.RED, "items": [{"amount": Decimal("5")}, None]}
    assert compile_dump(Outer())(row) == {"color": "red", "items": [{"amount": "5.00"}, None]}


def test_an_object_is_read_by_its_attributes() -> None:
    @attrs.frozen
    class Report:
        synced_count: int
        errors: list[str]

    class Answer(Schema):
        synced_count = fields.Integer()
        errors = fields.List(fields.String())
        last_sync = ours.Timestamp()  # the object has none: left out, as marshmallow does

    report = Report(3, ["нет сети"])
    assert (
        compile_dump(Answer())(report)
        == Answer().dump(report)
        == {
            "synced_count": 3,
            "errors": ["нет сети"],
        }
    )


class Figures(Schema):
    amount = ours.MoneyField()
    total = ours.SumField()
    count = fields.Integer()
    count_text = fields.Integer(as_string=True)
    rate = fields.Float()
    at = ours.Timestamp()


@pytest.mark.parametrize(
    "value",
    [
        Decimal("0.00"),
        Decimal("-0.00"),
        Decimal("0.05"),
        Decimal("15000.00"),
        Decimal("9999999999.99"),
        Decimal("99999999999.99"),  # thirteen digits: over Money's
        Decimal("1.5"),
        Decimal("1.005"),
        Decimal("-3.00"),
        Decimal("1E+3"),
        Decimal("NaN"),
        7,
        "12.30",
    ],
    ids=str,
)
def test_the_shortcuts_answer_or_refuse_as_the_fields_do(value: Any) -> None:
    """The amounts the database gives take a shortcut; any other value is the field's to
    answer or refuse, exactly as it would."""
    row = {"amount": value, "total": value, "count": 3, "count_text": 3, "rate": 0.25}
    try:
        expected: Any = Figures().dump(row)
    except Exception as error:  # whatever the field raises, the shortcut must raise too
        with pytest.raises(type(error)):
            compile_dump(Figures())(row)
    else:
        assert compile_dump(Figures())(row) == expected


def test_a_timestamp_reads_the_same_whatever_its_offset() -> None:
    moment = datetime(2026, 12, 6, 10, 15, 0, 120, tzinfo=UTC)
    elsewhere = moment.astimezone(timezone(timedelta(hours=3)))
    naive = moment.replace(tzinfo=None)
    answers = [compile_dump(Figures())({"at": each})["at"] for each in (moment, elsewhere, naive)]
    assert answers == ["2026-12-06T10:15:00.000120Z"] * 3
