"""The world of the unit tests: the use cases on the in-memory fakes, and a way to read back."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import count
from typing import Any

import pytest

from crm_core import (
    AccessUseCases,
    Activity,
    ActivityUseCases,
    Actor,
    ContactUseCases,
    DealUseCases,
    Funnel,
    FunnelUseCases,
    LeadUseCases,
    Role,
    StageSpec,
)
from crm_core.services.contacts import CreateContact
from crm_core.values import ContactId, FunnelId
from tests.fakes import FakeDatabase, FakeUnitOfWork, FixedClock, PlainHasher

_emails = count(1)


class Crm:
    """Every group of use cases over one fake database and one clock."""

    def __init__(self) -> None:
        self.db = FakeDatabase()
        self.clock = FixedClock()
        uow = self.db.unit_of_work
        self.access = AccessUseCases(uow, self.clock, PlainHasher())
        self.funnels = FunnelUseCases(uow, self.clock)
        self.contacts = ContactUseCases(uow, self.clock)
        self.leads = LeadUseCases(uow, self.clock)
        self.deals = DealUseCases(uow, self.clock)
        self.activities = ActivityUseCases(uow, self.clock)

    def company(self, name: str = "ООО Ромашка", role: Role = Role.ADMIN) -> Actor:
        """A user (of the company `name`, made when new), signed in."""
        _, token = self.access.create_user(name, f"user{next(_emails)}@example.com", "pw", role)
        actor = self.access.authenticate(token)
        assert actor is not None
        return actor

    @contextmanager
    def read(self) -> Iterator[FakeUnitOfWork]:
        """A new unit of work that only reads what was committed."""
        with self.db.unit_of_work() as uow:
            yield uow

    def funnel(self, actor: Actor, stages: Sequence[StageSpec] | None = None) -> Funnel:
        funnel_id = self.funnels.create_funnel(actor, "Продажи", stages=stages)
        return self.funnel_of(actor, funnel_id)

    def funnel_of(self, actor: Actor, funnel_id: FunnelId) -> Funnel:
        with self.read() as uow:
            return uow.funnels.get(actor.company_id, funnel_id)

    def activities_about(self, subject_id: object) -> list[Activity]:
        """The committed activities naming a contact, lead or deal, oldest first."""
        found = [
            activity
            for activity in self.db.rows("activities")
            if subject_id in (activity.contact_id, activity.lead_id, activity.deal_id)
        ]
        return sorted(found, key=lambda activity: activity.activity_date)

    def contact(self, actor: Actor, **fields: Any) -> ContactId:
        values = {"first_name": "Иван", "phone": "+7 999 123-45-67", **fields}
        return self.contacts.create_contact(actor, CreateContact(**values))


@pytest.fixture
def crm() -> Crm:
    return Crm()


@pytest.fixture
def anna(crm: Crm) -> Actor:
    """An admin of ООО Ромашка."""
    return crm.company("ООО Ромашка")


@pytest.fixture
def boris(crm: Crm) -> Actor:
    """An admin of another company, ООО Лютик."""
    return crm.company("ООО Лютик")
