"""The statistics cache answers what the database would: every write to a funnel's stages,
leads or deals bumps its revision, so the next read recomputes; reads of an unchanged funnel
cost one statement."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, func, select

from crm_adapters.sql import tables
from crm_adapters.sql.read_model import SqlReadModel
from crm_core import Money
from crm_core.ports import StatisticsFilter
from crm_core.services.funnels import ChangeStage
from crm_core.services.pipeline import ChangeLead, CreateDeal
from tests.integration.sql.conftest import World, revision

EVERYTHING = StatisticsFilter()


def test_every_write_is_seen_by_the_next_read(engine: Engine, world: World) -> None:
    model = SqlReadModel(engine)  # its own cache
    admin = world.admin
    funnel = world.funnels.create_funnel(admin, "Продажи")
    first, second, *_ = world.stages(funnel)
    contact = world.contact()

    def figures() -> dict[str, Any]:
        return model.funnel_statistics(world.company_id, funnel, EVERYTHING)

    assert figures()["leads_count"] == 0
    lead = world.lead(contact, funnel, "L1", estimated_value=Money(Decimal(100)))
    assert figures()["leads_count"] == 1
    world.leads.move_lead(admin, lead, second)
    assert [row["reached_count"] for row in figures()["stages_statistics"]][:2] == [1, 1]
    world.leads.update_lead(admin, lead, ChangeLead(estimated_value=Money(Decimal(250))))
    assert figures()["stages_statistics"][1]["leads_value"] == Decimal("250.00")
    world.funnels.update_stage(admin, first, ChangeStage(name="Входящие"))
    assert figures()["stages_statistics"][0]["stage_name"] == "Входящие"
    world.deals.create_deal(
        admin, CreateDeal(contact_id=contact, funnel_id=funnel, title="D1", amount=Money(7))
    )
    assert figures()["deals_count"] == 1
    world.leads.delete_lead(admin, lead)
    assert figures()["leads_count"] == 0


def test_a_lead_moved_to_another_funnel_changes_both(engine: Engine, world: World) -> None:
    model = SqlReadModel(engine)
    admin = world.admin
    sales = world.funnels.create_funnel(admin, "Продажи")
    service = world.funnels.create_funnel(admin, "Сервис")
    lead = world.lead(world.contact(), sales)

    def leads_in(funnel: Any) -> int:
        return int(model.funnel_statistics(world.company_id, funnel, EVERYTHING)["leads_count"])

    assert (leads_in(sales), leads_in(service)) == (1, 0)
    world.leads.update_lead(admin, lead, ChangeLead(funnel_id=service))
    assert (leads_in(sales), leads_in(service)) == (0, 1)


def test_an_unchanged_funnel_is_answered_from_one_statement(
    engine: Engine, world: World, statements: list[str]
) -> None:
    model = SqlReadModel(engine)
    funnel = world.funnels.create_funnel(world.admin, "Продажи")
    other = world.funnels.create_funnel(world.admin, "Сервис")
    world.lead(world.contact(), funnel)
    computed = model.funnel_statistics(world.company_id, funnel, EVERYTHING)
    world.lead(world.contact(), other)  # another funnel's write
    statements.clear()

    again = model.funnel_statistics(world.company_id, funnel, EVERYTHING)

    assert again == computed
    assert len(statements) == 1
    again["stages_statistics"][0]["leads_count"] = 99  # a caller's change stays its own
    assert model.funnel_statistics(world.company_id, funnel, EVERYTHING) == computed


def test_a_write_bumps_its_funnels_revision_once_per_commit(engine: Engine, world: World) -> None:
    funnel = world.funnels.create_funnel(world.admin, "Продажи")
    before = revision(engine, funnel) or 0
    lead = world.lead(world.contact(), funnel)  # the lead and its first stay: one commit
    assert revision(engine, funnel) == before + 1
    world.leads.mark_lead_lost(world.admin, lead, "дорого")
    assert revision(engine, funnel) == before + 2


def test_commits_to_one_funnel_spread_over_its_revision_slots(engine: Engine, world: World) -> None:
    """So that they seldom wait on one another's row lock: each bumps one slot of many."""
    funnel = world.funnels.create_funnel(world.admin, "Продажи")
    contact = world.contact()
    before = revision(engine, funnel)
    for number in range(20):
        world.lead(contact, funnel, f"L{number}")
    slots = tables.funnel_revision_slots
    with engine.connect() as connection:
        used = connection.scalar(
            select(func.count()).select_from(slots).where(slots.c.funnel_id == funnel)
        )
    assert revision(engine, funnel) == before + 20
    assert 1 < used <= tables.REVISION_SLOTS  # all twenty in one slot: a chance of 32**-19


def test_the_period_is_part_of_the_key(engine: Engine, world: World) -> None:
    model = SqlReadModel(engine)
    funnel = world.funnels.create_funnel(world.admin, "Продажи")
    contact = world.contact()
    middle = world.clock.current.date() + timedelta(days=5)
    early, late = StatisticsFilter(created_before=middle), StatisticsFilter(created_after=middle)
    world.lead(contact, funnel, "Ранний")
    world.clock.advance(days=10)
    world.lead(contact, funnel, "Поздний 1")
    world.lead(contact, funnel, "Поздний 2")

    def leads(period: StatisticsFilter) -> int:
        return int(model.funnel_statistics(world.company_id, funnel, period)["leads_count"])

    # Each read twice: the second comes from the cache and must still be its period's.
    assert [leads(early), leads(late), leads(EVERYTHING)] == [1, 2, 3]
    assert [leads(early), leads(late), leads(EVERYTHING)] == [1, 2, 3]
    world.lead(contact, funnel, "Поздний 3")
    assert [leads(late), leads(early), leads(EVERYTHING)] == [3, 1, 4]
    assert [leads(EVERYTHING), leads(late), leads(early)] == [4, 3, 1]


def test_the_owner_is_part_of_the_key(engine: Engine, world: World) -> None:
    model = SqlReadModel(engine)
    funnel = world.funnels.create_funnel(world.admin, "Продажи")
    contact = world.contact()
    boris = world.user("Борис")
    admins, boriss = (
        StatisticsFilter(owner_id=world.admin.user_id),
        StatisticsFilter(owner_id=boris.user_id),
    )
    world.lead(contact, funnel, "Анны")
    world.lead(contact, funnel, "Бориса 1", owner_id=boris.user_id)
    world.lead(contact, funnel, "Бориса 2", owner_id=boris.user_id)

    def leads(owner: StatisticsFilter) -> int:
        return int(model.funnel_statistics(world.company_id, funnel, owner)["leads_count"])

    assert [leads(admins), leads(boriss), leads(EVERYTHING)] == [1, 2, 3]
    assert [leads(admins), leads(boriss), leads(EVERYTHING)] == [1, 2, 3]
    world.lead(contact, funnel, "Анны 2")
    world.lead(contact, funnel, "Анны 3")
    assert [leads(boriss), leads(admins), leads(EVERYTHING)] == [2, 3, 5]
    assert [leads(EVERYTHING), leads(boriss), leads(admins)] == [5, 2, 3]
