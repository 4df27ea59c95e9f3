"""Column types for the value objects, and the few SQL expressions that differ by dialect."""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime, Integer, Numeric, String, true
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import Boolean, Float, TypeDecorator

from crm_core.values import Color, Money, PhoneNumber, Probability, fold_for_search


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC in and out: SQLite keeps no offset, PostgreSQL answers in the session's zone."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored: the domain works in aware UTC")
        value = value.astimezone(UTC)
        # SQLite's storage format drops the offset anyway; strip it so nothing is shifted.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None or value.tzinfo is UTC:  # psycopg's, in the session's zone UTC
            return value
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class MoneyAmount(TypeDecorator[Decimal]):
    """An exact decimal amount with two places, as each database keeps it exactly.

    PostgreSQL has NUMERIC. SQLite would keep NUMERIC as a binary float, so there amounts
    are whole kopecks in an INTEGER, and SQLite adds integers exactly. Sums use this type
    too: unbounded on PostgreSQL; on SQLite up to 2^63 kopecks (9.2 * 10^16 ₽).
    """

    impl = Numeric(14, 2, asdecimal=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        amount = value.amount if isinstance(value, Money) else Decimal(value)
        return int(amount.scaleb(2)) if dialect.name == "sqlite" else amount

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        amount = Decimal(value).scaleb(-2) if dialect.name == "sqlite" else Decimal(value)
        return amount.quantize(_CENT)


class MoneyType(MoneyAmount):
    """A Money column (at most twelve digits, checked by Money itself)."""

    cache_ok = True

    def process_result_value(self, value: Any, dialect: Dialect) -> Money | None:  # type: ignore[override]
        amount = super().process_result_value(value, dialect)
        return None if amount is None else Money(amount)


_CENT = Decimal("0.01")


class ProbabilityType(TypeDecorator[Probability]):
    impl = Integer
    cache_ok = True

    def process_bind_param(self, value: Probability | int | None, dialect: Dialect) -> int | None:
        return None if value is None else int(value)

    def process_result_value(self, value: int | None, dialect: Dialect) -> Probability | None:
        return None if value is None else Probability(value)


class PhoneType(TypeDecorator[PhoneNumber]):
    """E.164 text; a plain string is accepted for comparisons in queries."""

    impl = String(16)
    cache_ok = True

    def process_bind_param(self, value: PhoneNumber | str | None, dialect: Dialect) -> str | None:
        return value.e164 if isinstance(value, PhoneNumber) else value

    def process_result_value(self, value: str | None, dialect: Dialect) -> PhoneNumber | None:
        return None if value is None else PhoneNumber(value)


class ColorType(TypeDecorator[Color]):
    impl = String(7)
    cache_ok = True

    def process_bind_param(self, value: Color | str | None, dialect: Dialect) -> str | None:
        return value.hex if isinstance(value, Color) else value

    def process_result_value(self, value: str | None, dialect: Dialect) -> Color | None:
        return None if value is None else Color(value)


class StrEnumType(TypeDecorator[enum.StrEnum]):
    """A StrEnum stored as its value (plain VARCHAR: adding a member needs no migration)."""

    impl = String(32)
    cache_ok = True

    def __init__(self, enum_class: type[enum.StrEnum], length: int = 32) -> None:
        super().__init__(length)
        self.enum_class = enum_class

    def process_bind_param(self, value: enum.StrEnum | str | None, dialect: Dialect) -> str | None:
        return None if value is None else self.enum_class(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> enum.StrEnum | None:
        return None if value is None else self.enum_class(value)


# --- expressions whose SQL differs between SQLite and PostgreSQL ---------------------------


class folded_contains(ColumnElement[bool]):
    """Case-insensitive substring test that also folds Cyrillic, with ё read as е.

    SQLite's LIKE folds ASCII only, so there both sides go through the `crm_casefold`
    function that the engine registers; PostgreSQL's ILIKE folds by the database's ctype.
    The text is folded as `crm_core.values.fold_for_search` folds it.
    """

    inherit_cache = True
    type = Boolean()

    def __init__(self, column: ColumnElement[Any], text: str) -> None:
        self.column = column
        self.text = text


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@compiles(folded_contains)
def _folded_contains_default(element: folded_contains, compiler: SQLCompiler, **kw: Any) -> str:
    from sqlalchemy import func, literal

    pattern = literal(_like_pattern(fold_for_search(element.text)))
    folded = func.replace(func.crm_casefold(element.column), "ё", "е")
    return compiler.process(folded.like(pattern, escape="\\"), **kw)


@compiles(folded_contains, "postgresql")
def _folded_contains_postgresql(element: folded_contains, compiler: SQLCompiler, **kw: Any) -> str:
    from sqlalchemy import func, literal

    pattern = literal(_like_pattern(fold_for_search(element.text)))
    folded = func.translate(element.column, "Ёё", "Ее")
    return compiler.process(folded.ilike(pattern, escape="\\"), **kw)


class days_between(FunctionElement[float]):
    """(end - start) in fractional days."""

    inherit_cache = True
    type = Float()


@compiles(days_between)
def _days_between_sqlite(element: days_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = list(element.clauses)
    return (
        f"(julianday({compiler.process(end, **kw)}) - julianday({compiler.process(start, **kw)}))"
    )


@compiles(days_between, "postgresql")
def _days_between_postgresql(element: days_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = list(element.clauses)
    return (
        f"(EXTRACT(EPOCH FROM ({compiler.process(end, **kw)} - {compiler.process(start, **kw)}))"
        " / 86400.0)"
    )


def from_day(column: Any, day: date) -> ColumnElement[bool]:
    """`column` on or after the start of `day` (UTC)."""
    return column >= datetime.combine(day, time.min, UTC)  # type: ignore[no-any-return]


def through_day(column: Any, day: date) -> ColumnElement[bool]:
    """`column` on or before the end of `day` (UTC); the last representable day bounds nothing."""
    if day == date.max:
        return true()
    return column < datetime.combine(day + timedelta(days=1), time.min, UTC)  # type: ignore[no-any-return]


class russian_order(ColumnElement[str]):
    """A name column as ordering compares it: Russian alphabetical order on PostgreSQL (ICU,
    «Ёлкин» between «Васильев» and «Жуков»); SQLite orders by its binary collation."""

    inherit_cache = True

    def __init__(self, column: ColumnElement[Any]) -> None:
        self.column = column
        self.type = column.type


@compiles(russian_order)
def _russian_order_default(element: russian_order, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.column, **kw)


@compiles(russian_order, "postgresql")
def _russian_order_postgresql(element: russian_order, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.column.collate("ru-RU-x-icu"), **kw)
