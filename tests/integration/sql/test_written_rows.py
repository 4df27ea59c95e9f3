"""A create's answer read back by its own write: on PostgreSQL the statement that inserts a lone
new lead or deal returns its detail, which the request's read scope keeps for the detail read
that follows (the 201's body). Whatever answers, it is the detail a later read gives."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal

import pytest
from sqlalchemy import Engine

from crm_adapters.sql.read_model import SqlReadModel
from crm_adapters.sql.reads import ReadConnections
from crm_adapters.sql.unit_of_work import SqlUnitOfWork, unit_of_work_factory
from crm_core.errors import Conflict, NotFound
from crm_core.lead import Lead
from crm_core.ports import Resource, Row
from crm_core.services.pipeline import ChangeLead, ConvertLead, CreateDeal, CreateLead
from crm_core.values import Money, Probability
from tests.integration.sql.conftest import World, new_world, recording


@pytest.fixture(scope="module")
def reads(engine: Engine) -> ReadConnections:
    return ReadConnections(engine)


@pytest.fixture(scope="module")
def scoped(engine: Engine, reads: ReadConnections) -> SqlReadModel:
    """The read model as the HTTP API wires it: on the same reads as the units of work."""
    return SqlReadModel(engine=engine, reads=reads)


@pytest.fixture
def world(engine: Engine, reads: ReadConnections) -> World:
    uow: Callable[[], SqlUnitOfWork] = unit_of_work_factory(engine, reads=reads)
    return new_world(uow)


def fresh(engine: Engine, resource: Resource, world: World, object_id: uuid.UUID) -> Row:
    """The detail as a read in no scope gives it: from the database."""
    return SqlReadModel(engine=engine).detail(resource, world.company_id, object_id)


def answered_by_the_write(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def a_lead(world: World, **fields: object) -> uuid.UUID:
    funnel_id = world.funnels.create_funnel(world.admin, "Продажи")
    contact_id = world.contact("Пётр", last_name="Иванов", middle_name="Сергеевич")
    command = CreateLead(contact_id=contact_id, funnel_id=funnel_id, title="Сайт", **fields)
    return world.leads.create_lead(world.admin, command)


def test_a_created_lead_is_answered_with_its_detail(
    engine: Engine, reads: ReadConnections, scoped: SqlReadModel, world: World
) -> None:
    owner = world.user("Мария Петрова")
    with reads.scope():
        lead_id = a_lead(
            world,
            owner_id=owner.user_id,
            description="Звонок",
            estimated_value=Money(Decimal("15000.50")),
            probability=Probability(20),
            source="web",
        )
        with recording(engine) as sent:
            answer = scoped.detail(Resource.LEADS, world.company_id, lead_id)

    assert answer == fresh(engine, Resource.LEADS, world, lead_id)
    assert answer["contact_name"] == "Иванов Пётр Сергеевич"
    assert answer["owner_name"] == "Мария Петрова"
    assert answer["estimated_value"] == Decimal("15000.50")
    assert len(sent) == (0 if answered_by_the_write(engine) else 1)


def test_a_created_deal_is_answered_with_its_detail(
    engine: Engine, reads: ReadConnections, scoped: SqlReadModel, world: World
) -> None:
    funnel_id = world.funnels.create_funnel(world.admin, "Сделки")
    contact_id = world.contact("Ольга")
    with reads.scope():
        command = CreateDeal(
            contact_id=contact_id,
            funnel_id=funnel_id,
            title="Поставка",
            amount=Money(Decimal("990.00")),
        )
        deal_id = world.deals.create_deal(world.admin, command)
        with recording(engine) as sent:
            answer = scoped.detail(Resource.DEALS, world.company_id, deal_id)

    assert answer == fresh(engine, Resource.DEALS, world, deal_id)
    assert answer["lead"] is None and answer["amount"] == Decimal("990.00")
    assert len(sent) == (0 if answered_by_the_write(engine) else 1)


def test_a_converted_lead_answers_its_deal_from_the_database(
    engine: Engine, reads: ReadConnections, scoped: SqlReadModel, world: World
) -> None:
    # The deal is written beside its lead's change: the ORM writes both, nothing is kept.
    lead_id = a_lead(world)
    with reads.scope():
        deal_id = world.leads.convert_lead(world.admin, lead_id, ConvertLead(title="Сделка"))
        answer = scoped.detail(Resource.DEALS, world.company_id, deal_id)
    assert answer == fresh(engine, Resource.DEALS, world, deal_id)
    assert answer["lead"] == lead_id and answer["lead_title"] == "Сайт"


def test_the_kept_answer_is_taken_once(
    engine: Engine, reads: ReadConnections, scoped: SqlReadModel, world: World
) -> None:
    with reads.scope():
        lead_id = a_lead(world)
        scoped.detail(Resource.LEADS, world.company_id, lead_id)
        with recording(engine) as sent:
            again = scoped.detail(Resource.LEADS, world.company_id, lead_id)
    assert again == fresh(engine, Resource.LEADS, world, lead_id)
    assert len(sent) == 1


def test_a_later_commit_drops_the_kept_answer(
    engine: Engine, reads: ReadConnections, scoped: SqlReadModel, world: World
) -> None:
    with reads.scope():
        lead_id = a_lead(world)
        world.leads.update_lead(world.admin, lead_id, ChangeLead(title="Звонок"))
        answer = scoped.detail(Resource.LEADS, world.company_id, lead_id)
    assert answer["title"] == "Звонок"
    assert answer == fresh(engine, Resource.LEADS, world, lead_id)


def test_another_companys_read_is_not_answered_from_it(
    engine: Engine,
    reads: ReadConnections,
    scoped: SqlReadModel,
    world: World,
    make_world: Callable[..., World],
) -> None:
    stranger = make_world()
    with reads.scope():
        lead_id = a_lead(world)
        with pytest.raises(NotFound):
            scoped.detail(Resource.LEADS, stranger.company_id, lead_id)
        with pytest.raises(NotFound):  # nor under another resource's name
            scoped.detail(Resource.DEALS, world.company_id, lead_id)
        assert scoped.detail(Resource.LEADS, world.company_id, lead_id)["id"] == lead_id


def test_a_lead_whose_contact_went_meanwhile_is_refused(
    reads: ReadConnections, world: World
) -> None:
    # Deleted by another transaction after this one's checks: the write's detail finds no
    # contact to join, and the commit's foreign key check refuses the lead, as without it.
    funnel_id, contact_id = world.funnels.create_funnel(world.admin, "Продажи"), world.contact()
    with reads.scope(), world.uow() as unit:
        lead = Lead.open(
            company_id=world.company_id,
            contact_id=contact_id,
            funnel=unit.funnels.read(world.company_id, funnel_id),
            title="Сайт",
            now=world.clock.now(),
        )
        unit.leads.save(lead)
        world.contacts.delete_contact(world.admin, contact_id)
        with pytest.raises(Conflict):
            unit.commit()
    with world.uow() as unit, pytest.raises(NotFound):
        unit.leads.get(world.company_id, lead.id)


def test_only_a_write_in_a_scope_reads_its_detail_back(
    engine: Engine, reads: ReadConnections, world: World
) -> None:
    with recording(engine) as alone:
        a_lead(world)
    with reads.scope(), recording(engine) as scoped:
        a_lead(world)
    assert not [statement for statement in alone if "RETURNING" in statement]
    assert len([statement for statement in scoped if "RETURNING" in statement]) == (
        1 if answered_by_the_write(engine) else 0
    )


def test_outside_a_scope_nothing_is_kept(
    engine: Engine, reads: ReadConnections, scoped: SqlReadModel, world: World
) -> None:
    lead_id = a_lead(world)
    with reads.scope(), recording(engine) as sent:
        answer = scoped.detail(Resource.LEADS, world.company_id, lead_id)
    assert answer == fresh(engine, Resource.LEADS, world, lead_id)
    assert len(sent) == 1
