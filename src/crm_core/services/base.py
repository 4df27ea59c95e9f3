"""What every group of use cases shares: the unit of work, the clock and reference checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from crm_core.commands import UNSET, Maybe
from crm_core.errors import NotFound, ValidationFailed
from crm_core.ports import Clock, UnitOfWork
from crm_core.tenancy import Actor
from crm_core.values import UserId

T = TypeVar("T")

UnitOfWorkFactory = Callable[[], UnitOfWork]


_MISSING = "Object with this id does not exist."


def referenced(field: str, load: Callable[[], T]) -> T:
    """Loads an object named in a body; one outside the company is a field error, not a 404."""
    try:
        return load()
    except NotFound:
        raise ValidationFailed.on(field, _MISSING) from None


def require(field: str, exists: bool) -> None:
    """An object named in a body exists in the company (else a field error, not a 404)."""
    if not exists:
        raise ValidationFailed.on(field, _MISSING)


def check_owner(uow: UnitOfWork, actor: Actor, owner_id: Maybe[UserId | None]) -> None:
    """An owner named in a command is an active user of the caller's company."""
    if owner_id is UNSET or owner_id is None:
        return
    referenced("owner", lambda: uow.users.get(actor.company_id, owner_id)).ensure_can_own()


class UseCases:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self.uow = uow
        self.clock = clock
