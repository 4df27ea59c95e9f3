"""What every group of use cases shares: the unit of work, the clock and reference checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from crm_core.errors import NotFound, ValidationFailed
from crm_core.ports import Clock, UnitOfWork

T = TypeVar("T")

UnitOfWorkFactory = Callable[[], UnitOfWork]


def referenced(field: str, load: Callable[[], T]) -> T:
    """Loads an object named in a body; one outside the company is a field error, not a 404."""
    try:
        return load()
    except NotFound:
        raise ValidationFailed.on(field, "Object with this id does not exist.") from None


class UseCases:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self.uow = uow
        self.clock = clock
