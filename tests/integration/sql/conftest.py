"""Migrated databases shared by a module (tests keep apart by working in companies of their own),
a `World`: one company with an admin, its use cases over SqlUnitOfWork and a fixed clock, and
the SQL statements an engine sends."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import pytest
from sqlalchemy import Engine, event, func, select

from crm_adapters.sql import tables
from crm_adapters.sql.engine import create_database_engine
from crm_adapters.sql.migrate import upgrade
from crm_adapters.sql.read_model import SqlReadModel
from crm_adapters.sql.unit_of_work import SqlUnitOfWork, unit_of_work_factory
from crm_core import (
    AccessUseCases,
    ActivityUseCases,
    ContactUseCases,
    DealUseCases,
    FunnelUseCases,
    LeadUseCases,
    Role,
)
from crm_core.services.contacts import CreateContact
from crm_core.services.pipeline import CreateLead
from crm_core.tenancy import Actor
from tests.fakes import FixedClock, PlainHasher
from tests.integration.conftest import BACKENDS, fresh_postgres_database


@pytest.fixture(scope="module", params=BACKENDS)
def migrated_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A database migrated to head, shared by the tests of one module on each backend."""
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("sql") / "crm.sqlite3"
        url = f"sqlite:///{path}"
        upgrade(url)
        yield url
        return
    with fresh_postgres_database() as url:
        upgrade(url)
        yield url


@pytest.fixture(scope="module")
def engine(migrated_url: str) -> Iterator[Engine]:
    engine = create_database_engine(migrated_url)
    yield engine
    engine.dispose()


@contextmanager
def recording(engine: Engine) -> Iterator[list[str]]:
    """The statements `engine` sends inside the block, as sent."""
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


def sent_by(engine: Engine, action: Callable[[], Any]) -> list[str]:
    """The statements `engine` sends while `action` runs."""
    with recording(engine) as sent:
        action()
    return sent


def revision(engine: Engine, funnel: Any) -> int:
    """A funnel's revision: one more for each commit that wrote its stages, leads or deals."""
    slots = tables.funnel_revision_slots
    with engine.connect() as connection:
        found: int = connection.scalar(
            select(func.coalesce(func.sum(slots.c.revision), 0)).where(slots.c.funnel_id == funnel)
        )
        return found


@pytest.fixture
def statements(engine: Engine) -> Iterator[list[str]]:
    """The statements the module's engine sends during the test (clear it to count from a
    point on)."""
    with recording(engine) as sent:
        yield sent


@pytest.fixture(scope="module")
def uow(engine: Engine) -> Callable[[], SqlUnitOfWork]:
    return unit_of_work_factory(engine)


@pytest.fixture(scope="module")
def read_model(engine: Engine) -> SqlReadModel:
    return SqlReadModel(engine=engine)


@attrs.define
class World:
    """One company of its own in the shared database, driven through the real use cases."""

    uow: Callable[[], SqlUnitOfWork]
    clock: FixedClock
    admin: Actor
    access: AccessUseCases

    @property
    def company_id(self) -> uuid.UUID:
        return self.admin.company_id

    @property
    def funnels(self) -> FunnelUseCases:
        return FunnelUseCases(self.uow, self.clock)

    @property
    def contacts(self) -> ContactUseCases:
        return ContactUseCases(self.uow, self.clock)

    @property
    def leads(self) -> LeadUseCases:
        return LeadUseCases(self.uow, self.clock)

    @property
    def deals(self) -> DealUseCases:
        return DealUseCases(self.uow, self.clock)

    @property
    def activities(self) -> ActivityUseCases:
        return ActivityUseCases(self.uow, self.clock)

    def user(self, full_name: str = "", role: Role = Role.MANAGER) -> Actor:
        """Another user of the same company."""
        with self.uow() as uow:
            company = uow.companies.get(self.company_id)
        email = f"{uuid.uuid4().hex[:10]}@example.com"
        self.access.create_user(company.name, email, "pw", role, full_name)
        with self.uow() as uow:
            user = uow.users.by_email(email)
            assert user is not None
        return Actor(user_id=user.id, company_id=user.company_id, role=user.role)

    def stages(self, funnel_id: uuid.UUID) -> list[uuid.UUID]:
        with self.uow() as uow:
            return [
                stage.id for stage in uow.funnels.get(self.company_id, funnel_id).ordered_stages
            ]

    def contact(self, first_name: str = "Иван", **fields: Any) -> uuid.UUID:
        values = {"email": f"{uuid.uuid4().hex[:8]}@example.com", **fields}
        return self.contacts.create_contact(
            self.admin, CreateContact(first_name=first_name, **values)
        )

    def lead(
        self, contact_id: uuid.UUID, funnel_id: uuid.UUID, title: str = "Сайт", **fields: Any
    ) -> uuid.UUID:
        command = CreateLead(contact_id=contact_id, funnel_id=funnel_id, title=title, **fields)
        return self.leads.create_lead(self.admin, command)


START = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def new_world(
    uow: Callable[[], SqlUnitOfWork], start: datetime = START, admin_name: str = "Анна Смирнова"
) -> World:
    """A new company with an admin (its own name, so tests sharing a database never meet)."""
    clock = FixedClock(start)
    access = AccessUseCases(uow, clock, PlainHasher())
    name = f"Компания {uuid.uuid4().hex[:8]}"
    email = f"admin-{uuid.uuid4().hex[:8]}@example.com"
    _, token = access.create_user(name, email, "pw", Role.ADMIN, admin_name)
    admin = access.authenticate(token)
    assert admin is not None
    return World(uow=uow, clock=clock, admin=admin, access=access)


@pytest.fixture
def make_world(uow: Callable[[], SqlUnitOfWork]) -> Callable[..., World]:
    return lambda **options: new_world(uow, **options)


@pytest.fixture
def world(make_world: Callable[..., World]) -> World:
    return make_world()
