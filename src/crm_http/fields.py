"""marshmallow fields for the domain's value objects, so that the edge checks their shape."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from marshmallow import ValidationError, fields

from crm_core.errors import InvalidValue
from crm_core.values import Color, Money, Probability


class MoneyField(fields.Field[Money]):
    """Money in: a JSON number or a decimal string; money out: a string with two places."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {}).update(
            {"type": "string", "format": "decimal", "example": "50000.00"}
        )
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Money:
        try:
            return Money.parse(value)
        except InvalidValue as error:
            raise ValidationError(error.detail) from None

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else str(Money.parse(value))


class SumField(fields.Field[Decimal]):
    """A total (statistics): a decimal string with two places and no upper bound."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {}).update(
            {"type": "string", "format": "decimal", "example": "1250000.00"}
        )
        super().__init__(dump_only=True, **kwargs)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else f"{Decimal(value):.2f}"


class ProbabilityField(fields.Field[Probability]):
    """A whole percentage 0..100 (a JSON integer)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {}).update({"type": "integer", "minimum": 0, "maximum": 100})
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Probability:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError("Must be an integer.")
        try:
            return Probability(value)
        except InvalidValue as error:
            raise ValidationError(error.detail) from None

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> int | None:
        return None if value is None else int(value)


class ColorField(fields.Field[Color]):
    """`#RRGGBB` in either case; answered lower-case."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {}).update(
            {"type": "string", "pattern": "^#[0-9a-fA-F]{6}$", "example": "#3498db"}
        )
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Color:
        try:
            return Color(value)
        except InvalidValue as error:
            raise ValidationError(error.detail) from None

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else str(value)


class Reference(fields.UUID):
    """An id in a body (`contact`, `funnel`, ...), loaded under the domain's `*_id` name."""

    def __init__(self, data_key: str, **kwargs: Any) -> None:
        super().__init__(data_key=data_key, **kwargs)


class StrictBoolean(fields.Boolean):
    """A JSON `true` or `false` in a body, as documented (not 0, 1 or "yes")."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise ValidationError("Must be true or false.")
        return value


def _unstorable(text: str) -> str | None:
    if "\x00" in text:
        return "Must not contain NUL characters."
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "Must be valid Unicode (no lone surrogates)."
    return None


def storable_text(data: Any) -> Any:
    """Refuses text that no database stores (NUL, lone surrogates), naming each field by its
    dotted path; everything else passes through untouched."""
    errors: dict[str, list[str]] = {}

    def walk(value: Any, path: str) -> None:
        if isinstance(value, str):
            problem = _unstorable(value)
            if problem:
                errors[path or "non_field_errors"] = [problem]
        elif isinstance(value, Mapping):
            for key, item in value.items():
                walk(key, path or "non_field_errors")
                walk(item, f"{path}.{key}" if path else str(key))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, f"{path}.{index}" if path else str(index))

    walk(data, "")
    if errors:
        raise ValidationError(errors)
    return data


class UtcDateTime(fields.AwareDateTime):
    """A timestamp with an offset, kept in UTC; one UTC cannot hold (year 0 or 10000) is a 400."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        moment = super()._deserialize(value, attr, data, **kwargs)
        try:
            return moment.astimezone(UTC)
        except OverflowError:
            raise ValidationError("Out of the range of dates.") from None


def iso_utc(moment: datetime) -> str:
    """The one timestamp form of every answer: UTC with `Z` (`2026-11-24T10:15:00Z`, with
    microseconds when stored)."""
    if moment.tzinfo is UTC:  # as read from either database: its offset is the last six
        return moment.isoformat()[:-6] + "Z"
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")


class Timestamp(fields.DateTime):
    """A timestamp as answered: always `iso_utc`."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else iso_utc(value)
