"""Why the web app refused something, in Russian. The core explains its refusals in English for
the API; the web app names them by the error's type, the field it names, the board's action
and the card's state, never by reading the core's text."""

from __future__ import annotations

import enum
from collections.abc import Mapping

import attrs

from crm_core.errors import Conflict, DomainError, NotFound, PermissionDenied, ValidationFailed
from crm_core.ports import BoardKind, Row
from crm_core.values import REASON_LENGTH


class Action(enum.StrEnum):
    """What the board asked of a card."""

    MOVE = "move"
    WON = "won"
    LOST = "lost"
    REOPEN = "reopen"


class CardState(enum.StrEnum):
    OPEN = "open"
    WON = "won"
    LOST = "lost"
    CONVERTED = "converted"

    @classmethod
    def of(cls, kind: BoardKind, row: Row) -> CardState:
        """The state of a lead or deal as the read model gives it."""
        if kind is BoardKind.LEADS:
            return cls(str(row["status"]))
        if row["is_won"]:
            return cls.WON
        return cls.LOST if row["is_lost"] else cls.OPEN


@attrs.frozen
class Refused:
    """A change the board asked for and the core refused; `state` is the card's state after
    the refusal (None when it could not be read)."""

    action: Action
    kind: BoardKind
    state: CardState | None = None


DEALS, LEADS = BoardKind.DEALS, BoardKind.LEADS
CONVERTED_LEAD = "Лид уже конвертирован в сделку: дальше работайте со сделкой."
# A Conflict says that the card's state forbids the action: the state says which rule it was.
CONFLICTS: Mapping[tuple[BoardKind, CardState, Action], str] = {
    (DEALS, CardState.WON, Action.MOVE): (
        "Сделка уже выиграна: чтобы переместить её, сначала верните её в работу."
    ),
    (DEALS, CardState.LOST, Action.MOVE): (
        "Сделка уже провалена: чтобы переместить её, сначала верните её в работу."
    ),
    (DEALS, CardState.LOST, Action.WON): (
        "Сделка уже провалена: чтобы отметить её успешной, сначала верните её в работу."
    ),
    (DEALS, CardState.WON, Action.LOST): (
        "Сделка уже выиграна: чтобы отметить её проваленной, сначала верните её в работу."
    ),
    (DEALS, CardState.OPEN, Action.REOPEN): "Сделка уже в работе.",
    **{(LEADS, CardState.CONVERTED, action): CONVERTED_LEAD for action in Action},
    (LEADS, CardState.LOST, Action.MOVE): (
        "Лид уже провален: чтобы переместить его, сначала верните его в работу."
    ),
    (LEADS, CardState.LOST, Action.WON): (
        "Лид уже провален: чтобы конвертировать его в сделку, сначала верните его в работу."
    ),
    # The one rule an open lead's move can break: a success stage is reached by conversion.
    (LEADS, CardState.OPEN, Action.MOVE): (
        "В успешную стадию лид не перемещают: «Успешно» конвертирует его в сделку."
    ),
    (LEADS, CardState.OPEN, Action.REOPEN): "Лид уже в работе.",
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


def in_russian(error: DomainError, refused: Refused | None = None) -> str:
    """The error's `detail` as the web app shows it: Russian for what the board asks and for
    anything not found; the core's own words otherwise."""
    if isinstance(error, NotFound):
        return NOT_FOUND.get(error.kind, "Не найдено.")
    if refused is None:
        return error.detail
    if isinstance(error, Conflict):
        if refused.state is None:
            return CHANGED
        return CONFLICTS.get((refused.kind, refused.state, refused.action), CHANGED)
    if isinstance(error, ValidationFailed):
        for field in error.errors:
            text = FIELDS.get((field, refused.action)) or FIELDS.get((field, None))
            if text:
                return text
        return NOT_ACCEPTED
    if isinstance(error, PermissionDenied):
        return NOT_ALLOWED
    return error.detail


__all__ = ["Action", "CardState", "Refused", "in_russian"]
