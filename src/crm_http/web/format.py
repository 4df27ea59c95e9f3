"""How the web app writes amounts, days and moments in Russian."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

NBSP = "\u00a0"


def rubles(value: Any) -> str:
    """`1 250 000 ₽`, or `1 250 000,50 ₽` when there are kopecks."""
    amount = Decimal(value or 0)
    whole = amount == amount.to_integral_value()
    text = f"{amount:,.0f}" if whole else f"{amount:,.2f}"
    return text.replace(",", NBSP).replace(".", ",") + f"{NBSP}₽"


def amount_field(value: Any) -> str:
    """An amount as a form's field starts from, in the form people type and the form reads
    back: `180000`, or `180000,50` when there are kopecks."""
    if value is None or value == "":
        return ""
    amount = Decimal(value)
    if amount == amount.to_integral_value():
        return f"{amount:.0f}"
    return f"{amount:.2f}".replace(".", ",")


def plural(count: int, one: str, few: str, many: str) -> str:
    """The Russian form for a count: 1 день, 2 дня, 5 дней (11–14 take `many`)."""
    tens, units = count % 100, count % 10
    if 11 <= tens <= 14:
        return many
    if units == 1:
        return one
    if 2 <= units <= 4:
        return few
    return many


def days_since(moment: datetime | None, today: date) -> int:
    if moment is None:
        return 0
    return max((today - moment.astimezone(UTC).date()).days, 0)


def days_text(count: int) -> str:
    return f"{count}{NBSP}{plural(count, 'день', 'дня', 'дней')}"


def days_in_stage(count: int) -> str:
    """How long a card has stood in its stage: `сегодня` on the day it came, then `1 день`,
    `2 дня`, `5 дней`."""
    return "сегодня" if count <= 0 else days_text(count)


def moment(value: datetime | None) -> str:
    """A moment as the team reads it (UTC, to the minute)."""
    if value is None:
        return ""
    return value.astimezone(UTC).strftime("%d.%m.%Y %H:%M")


def day(value: date | None) -> str:
    return "" if value is None else value.strftime("%d.%m.%Y")
