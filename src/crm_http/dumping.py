"""Rows answered without marshmallow's dump machinery on the hot read paths.

A schema's dump looks each value up through several layers (`serialize`, `get_value`, the
error store, the hooks) for every field of every row: a list page of 50 rows spent a third
of its time there. `compile_dump` walks the schema once and returns a function that calls
each field's own conversion (`_serialize`) directly, so the answer is the schema's dump,
only cheaper. A schema it cannot follow exactly (dump hooks, defaults, computed fields)
is dumped by marshmallow as before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from marshmallow import Schema, fields, missing

from crm_core.values import MONEY_DIGITS
from crm_http.fields import MoneyField, ProbabilityField, SumField, Timestamp, iso_utc

Dump = Callable[[Any], dict[str, Any]]
Convert = Callable[[Any], Any]

# Fields whose value is not the row's own (computed from the whole object, or plucked).
_COMPUTED = (fields.Method, fields.Function, fields.Pluck, fields.Constant)


class _Unfollowed(Exception):
    """The schema does something `compile_dump` does not repeat exactly."""


def compile_dump(schema: Schema) -> Dump:
    """`schema.dump` for one object or mapping (not `many`), as a plain function."""
    try:
        return _compiled(schema)
    except _Unfollowed:
        return schema.dump


def _compiled(schema: Schema) -> Dump:
    if schema._hooks.get("pre_dump") or schema._hooks.get("post_dump"):
        raise _Unfollowed
    plan: list[tuple[str, str, Convert]] = []
    for name, field in schema.dump_fields.items():
        attribute = field.attribute or name
        if field.dump_default is not missing or "." in attribute:
            raise _Unfollowed
        plan.append((field.data_key or name, attribute, _converter(field, attribute)))

    def dump(row: Any) -> dict[str, Any]:
        if not isinstance(row, Mapping):  # an object: its attributes, as marshmallow reads them
            row = {attribute: getattr(row, attribute, missing) for _, attribute, _ in plan}
        answer = {}
        for key, attribute, convert in plan:
            value = row.get(attribute, missing)
            if value is not missing:  # marshmallow leaves out what the object does not have
                answer[key] = convert(value)
        return answer

    return dump


def _converter(field: fields.Field[Any], attribute: str) -> Convert:
    if isinstance(field, _COMPUTED):
        raise _Unfollowed
    if isinstance(field, fields.Nested):
        schema = field.schema
        nested = _compiled(schema)
        if schema.many or field.many:
            return lambda value: None if value is None else [nested(each) for each in value]
        return lambda value: None if value is None else nested(value)
    if isinstance(field, fields.List):
        inner = _converter(field.inner, attribute)
        return lambda value: None if value is None else [inner(each) for each in value]
    convert = field._serialize  # the field's own conversion, nothing around it
    # A number field may answer text (`as_string`): the shortcuts answer numbers.
    shortcut = None if getattr(field, "as_string", False) else _SHORTCUTS.get(type(field))
    if shortcut is not None:  # the common values converted inline, the rest by the field
        return shortcut(lambda value: convert(value, attribute, None))
    return lambda value: convert(value, attribute, None)


# Per exact field class: the conversion of the values a row usually holds, equal to the
# field's `_serialize` of them (tests/unit/test_dumping.py checks every schema), falling back
# to the field for anything else. A subclass may convert differently, so it is not listed.
def _text(other: Convert) -> Convert:
    return lambda value: value if value is None or type(value) is str else other(value)


def _uuid(other: Convert) -> Convert:
    return lambda value: None if value is None else str(value)


def _same(kind: type) -> Callable[[Convert], Convert]:
    return lambda other: (
        lambda value: value if value is None or type(value) is kind else other(value)
    )


def _timestamp(other: Convert) -> Convert:
    return lambda value: None if value is None else iso_utc(value)


def _money(other: Convert) -> Convert:
    """An amount as the database gives it (a Decimal of two places, not negative, within
    Money's digits) reads as Money writes it: its own text."""

    def convert(value: Any) -> Any:
        if type(value) is Decimal:
            sign, digits, exponent = value.as_tuple()
            if exponent == -2 and not sign and len(digits) <= MONEY_DIGITS:
                return str(value)
        return other(value)

    return convert


def _sum(other: Convert) -> Convert:
    return lambda value: f"{value:.2f}" if type(value) is Decimal else other(value)


_SHORTCUTS: dict[type, Callable[[Convert], Convert]] = {
    fields.String: _text,
    fields.UUID: _uuid,
    fields.Boolean: _same(bool),
    ProbabilityField: _same(int),
    Timestamp: _timestamp,
    MoneyField: _money,
    SumField: _sum,
    fields.Integer: _same(int),
    fields.Float: _same(float),
}


__all__ = ["Dump", "compile_dump"]
