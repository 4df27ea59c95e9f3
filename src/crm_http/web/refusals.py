"""Why the web app refused something, in Russian. The core and the API's schemas explain their
refusals in English for the API; the web app names them by the rule a conflict names, the field
a validation names, the kind of a refused query parameter and the board's action, never by
reading the English text."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

from marshmallow import Schema, fields, validate

from crm_core.errors import (
    Conflict,
    DomainError,
    NotFound,
    PermissionDenied,
    Rule,
    ValidationFailed,
)
from crm_core.values import REASON_LENGTH
from crm_http.listing import PhoneQuery
from crm_http.problems import flatten


class Action(enum.StrEnum):
    """What the board asked of a card."""

    MOVE = "move"
    WON = "won"
    LOST = "lost"
    REOPEN = "reopen"


CONVERTED_LEAD = "Лид уже конвертирован в сделку: дальше работайте со сделкой."
# What stood in the way of the board's action.
CONFLICTS: Mapping[tuple[Rule, Action], str] = {
    (Rule.DEAL_WON, Action.MOVE): (
        "Сделка уже выиграна: чтобы переместить её, сначала верните её в работу."
    ),
    (Rule.DEAL_LOST, Action.MOVE): (
        "Сделка уже провалена: чтобы переместить её, сначала верните её в работу."
    ),
    (Rule.DEAL_LOST, Action.WON): (
        "Сделка уже провалена: чтобы отметить её успешной, сначала верните её в работу."
    ),
    (Rule.DEAL_WON, Action.LOST): (
        "Сделка уже выиграна: чтобы отметить её проваленной, сначала верните её в работу."
    ),
    (Rule.DEAL_OPEN, Action.REOPEN): "Сделка уже в работе.",
    **{(Rule.LEAD_CONVERTED, action): CONVERTED_LEAD for action in Action},
    (Rule.LEAD_LOST, Action.MOVE): (
        "Лид уже провален: чтобы переместить его, сначала верните его в работу."
    ),
    (Rule.LEAD_LOST, Action.WON): (
        "Лид уже провален: чтобы конвертировать его в сделку, сначала верните его в работу."
    ),
    (Rule.LEAD_INTO_SUCCESS, Action.MOVE): (
        "В успешную стадию лид не перемещают: «Успешно» конвертирует его в сделку."
    ),
    (Rule.LEAD_OPEN, Action.REOPEN): "Лид уже в работе.",
}
# A field the board sends that the core (or the board itself) refused.
FIELDS: Mapping[tuple[str, Action | None], str] = {
    ("stage_id", Action.MOVE): "Такой стадии нет в воронке карточки: обновите страницу.",
    ("stage_id", Action.REOPEN): (
        "Вернуть в работу можно только в открытую стадию воронки карточки."
    ),
    ("funnel_id", None): "Не указана воронка доски: обновите страницу.",
    ("reason", None): f"Причина слишком длинная: не больше {REASON_LENGTH} символов.",
}
NOT_FOUND = {
    "Deal": "Сделка не найдена: возможно, её удалили.",
    "Lead": "Лид не найден: возможно, его удалили.",
    "Stage": "Стадия не найдена: возможно, её удалили.",
    "Funnel": "Воронка не найдена.",
    "Contact": "Контакт не найден.",
}
CHANGED = "Карточку только что изменили: обновите страницу и повторите."
NOT_ACCEPTED = "Изменение не принято: обновите страницу и повторите."
NOT_ALLOWED = "Это действие вам недоступно."


def in_russian(error: DomainError, action: Action | None = None) -> str:
    """The error's `detail` as the web app shows it: Russian for what the board asks (`action`)
    and for anything not found; the core's own words otherwise."""
    if isinstance(error, NotFound):
        return NOT_FOUND.get(error.kind, "Не найдено.")
    if action is None:
        return error.detail
    if isinstance(error, Conflict):
        return CONFLICTS.get((error.rule, action), CHANGED) if error.rule else CHANGED
    if isinstance(error, ValidationFailed):
        for field in error.errors:
            text = FIELDS.get((field, action)) or FIELDS.get((field, None))
            if text:
                return text
        return NOT_ACCEPTED
    if isinstance(error, PermissionDenied):
        return NOT_ALLOWED
    return error.detail


# How a query parameter of a list or of the statistics is named when a page refuses it.
PARAMETER_NAMES = {
    "search": "Поиск",
    "phone": "Телефон",
    "is_client": "Клиент",
    "owner": "Ответственный",
    "funnel": "Воронка",
    "stage": "Стадия",
    "status": "Статус",
    "is_won": "Выиграна",
    "is_lost": "Проиграна",
    "page": "Страница",
    "page_size": "Строк на странице",
    "ordering": "Сортировка",
    "created_at_after": "Созданы с",
    "created_at_before": "Созданы по",
    "non_field_errors": "Адрес страницы",
}
# What is wrong with a refused query parameter, by its name where the kind does not say it.
PARAMETER_REFUSALS = {"ordering": "по этому полю не сортируют."}
CHOOSE_FROM_LIST = "выберите значение из списка."
NOT_VALID = "неверное значение."


def _parameter_refusal(name: str, field: fields.Field[Any] | None) -> str:
    """Why a query parameter was refused, by its name or by its kind: each kind of parameter
    is refused for one reason (its form, or the choices or range its validator allows)."""
    if name in PARAMETER_REFUSALS:
        return PARAMETER_REFUSALS[name]
    validators = getattr(field, "validators", ())
    if isinstance(field, fields.Date):
        return "неверная дата, введите её в виде ГГГГ-ММ-ДД."
    if isinstance(field, fields.UUID):
        return CHOOSE_FROM_LIST
    if isinstance(field, fields.Boolean):
        return "выберите «Да», «Нет» или «Все»."
    if isinstance(field, fields.Integer):
        least = next(
            (v.min for v in validators if isinstance(v, validate.Range) and v.min is not None),
            None,
        )
        return "нужно целое число" + ("" if least is None else f" не меньше {least}") + "."
    if isinstance(field, PhoneQuery):
        return "в номере должны быть цифры."
    if any(isinstance(v, validate.OneOf) for v in validators):
        return CHOOSE_FROM_LIST
    if isinstance(field, fields.String):
        return "в тексте есть недопустимые символы."  # what no database stores (NUL, ...)
    return NOT_VALID


def query_refusals(schema: Schema, given: Mapping[str, str]) -> list[str]:
    """What is wrong with a page's query string, in Russian: one line per refused parameter,
    named as the page's form names it (and as the address names it)."""
    return [
        f"{PARAMETER_NAMES.get(name, name)} ({name}): "
        + _parameter_refusal(name, schema.fields.get(name))
        for name in flatten(schema.validate(given))
    ]


__all__ = ["PARAMETER_NAMES", "Action", "in_russian", "query_refusals"]
