"""Funnel statistics against numbers worked out by hand on a small, known history."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from crm_adapters.sql.read_model import SqlReadModel
from crm_adapters.sql.unit_of_work import SqlUnitOfWork
from crm_core import Money, NotFound, Probability
from crm_core.ports import StatisticsFilter
from crm_core.services.pipeline import CreateDeal
from tests.integration.sql.conftest import START, World, new_world


def at(world: World, day: float) -> None:
    world.clock.current = START + timedelta(days=day)


@pytest.fixture(scope="module")
def history(uow: Callable[[], SqlUnitOfWork]) -> tuple[World, Any, list[Any], Any]:
    """Leads L1..L3 and deals D1..D3 in the default funnel, moved on known days.

    L1: s1 day 0, s2 day 2, s3 day 5 (open)         D1 (L2's): s2 day 4, s4 day 6, won day 10
    L2: s1 day 0, s2 day 4, converted day 4            (-> s5)
    L3: s1 day 1, lost day 3 (-> s6)               D2: s1 day 2, s3 day 3, lost day 7 (-> s6)
                                                   D3 (Boris's): s2 day 5, open

    Five opportunities, and the furthest stage each reached: L1 s3, L2 with D1 s5, L3 s6,
    D2 s6, D3 s2.
    """
    world = new_world(uow)
    boris = world.user("Борис")
    admin = world.admin
    funnel = world.funnels.create_funnel(admin, "Продажи услуг")
    _, s2, s3, s4, _, _ = world.stages(funnel)
    ivan = world.contact()
    at(world, 0)
    l1 = world.lead(ivan, funnel, "L1", estimated_value=Money(Decimal(100)))
    l2 = world.lead(
        ivan, funnel, "L2", estimated_value=Money(Decimal(200)), probability=Probability(50)
    )
    at(world, 1)
    l3 = world.lead(ivan, funnel, "L3", estimated_value=Money(Decimal(300)))
    at(world, 2)
    world.leads.move_lead(admin, l1, s2)
    d2 = world.deals.create_deal(
        admin,
        CreateDeal(
            contact_id=ivan,
            funnel_id=funnel,
            title="D2",
            amount=Money(Decimal(1000)),
            probability=Probability(30),
        ),
    )
    at(world, 3)
    world.leads.mark_lead_lost(admin, l3, "дорого")
    world.deals.move_deal(admin, d2, s3)
    at(world, 4)
    world.leads.move_lead(admin, l2, s2)
    d1 = world.leads.convert_lead(admin, l2)
    at(world, 5)
    world.leads.move_lead(admin, l1, s3)
    world.deals.create_deal(
        admin,
        CreateDeal(
            contact_id=ivan,
            funnel_id=funnel,
            title="D3",
            amount=Money(Decimal(500)),
            probability=Probability(20),
            stage_id=s2,
            owner_id=boris.user_id,
        ),
    )
    at(world, 6)
    world.deals.move_deal(admin, d1, s4)
    at(world, 7)
    world.deals.mark_lost(admin, d2, "ушли")
    at(world, 10)
    world.deals.mark_won(admin, d1)
    return world, funnel, world.stages(funnel), boris


def column(statistics: Any, key: str) -> list[Any]:
    return [stage[key] for stage in statistics["stages_statistics"]]


def test_the_whole_funnel(read_model: SqlReadModel, history: Any, statements: list[str]) -> None:
    world, funnel, stages, _ = history
    statistics = read_model.funnel_statistics(world.company_id, funnel, StatisticsFilter())
    assert len(statements) <= 4
    money = Decimal
    assert {k: v for k, v in statistics.items() if k != "stages_statistics"} == {
        "funnel_id": funnel,
        "funnel_name": "Продажи услуг",
        "leads_count": 3,
        "deals_count": 3,
        "open_deals": 1,
        "won_deals": 1,
        "lost_deals": 1,
        "total_amount": money("200.00"),
        "won_amount": money("200.00"),
        "lost_amount": money("1000.00"),
        "pipeline_amount": money("500.00"),
        "weighted_pipeline_amount": money("100.00"),
        "win_rate": 0.5,
        "lead_to_deal_rate": 0.3333,
        "avg_days_to_win": 6.0,
    }
    assert column(statistics, "stage_id") == stages
    assert column(statistics, "order") == [1, 2, 3, 4, 5, 6]
    assert column(statistics, "stage_name")[0] == "Новый лид"
    assert column(statistics, "color")[4] == "#2ecc71"
    assert column(statistics, "is_final") == [False] * 4 + [True] * 2
    assert column(statistics, "is_success") == [False] * 4 + [True, False]
    # A lost lead stands in the failure stage it was moved to [rev 2].
    assert column(statistics, "leads_count") == [0, 1, 1, 0, 0, 1]
    assert column(statistics, "leads_value") == [
        money(v) for v in ("0.00", "200.00", "100.00", "0.00", "0.00", "300.00")
    ]
    assert column(statistics, "deals_count") == [0, 1, 0, 0, 1, 1]
    assert column(statistics, "deals_amount") == [
        money(v) for v in ("0.00", "500.00", "0.00", "0.00", "200.00", "1000.00")
    ]
    # Open now: L1 (100) in s3 and D3 (500) in s2 [rev 2].
    assert column(statistics, "open_count") == [0, 1, 1, 0, 0, 0]
    assert column(statistics, "open_amount") == [
        money(v) for v in ("0.00", "500.00", "100.00", "0.00", "0.00", "0.00")
    ]
    # Opportunities, L2 and its deal D1 as one [rev 2].
    assert column(statistics, "reached_count") == [5, 5, 4, 3, 3, 2]
    assert column(statistics, "conversion_from_previous") == [None, 1.0, 0.8, 0.75, 1.0, 0.6667]
    # s1: L1 2, L2 4, L3 2 (its loss is a move), D2 1 days.
    assert column(statistics, "avg_days_in_stage") == [2.25, 2.5, 4.0, 4.0, None, None]
    assert set(statistics["stages_statistics"][0]) == {
        "stage_id",
        "stage_name",
        "order",
        "color",
        "is_final",
        "is_success",
        "leads_count",
        "leads_value",
        "deals_count",
        "deals_amount",
        "open_count",
        "open_amount",
        "reached_count",
        "conversion_from_previous",
        "avg_days_in_stage",
    }


def test_a_period(read_model: SqlReadModel, history: Any) -> None:
    world, funnel, _, _ = history
    before = START.date() + timedelta(days=1)
    statistics = read_model.funnel_statistics(
        world.company_id, funnel, StatisticsFilter(created_before=before)
    )
    assert (statistics["leads_count"], statistics["deals_count"]) == (3, 0)
    assert statistics["win_rate"] is None and statistics["avg_days_to_win"] is None
    # L1 (s3), L2 (s2: its deal D1 was made after the period) and L3 (s6, lost).
    assert column(statistics, "reached_count") == [3, 3, 2, 1, 1, 1]
    assert column(statistics, "conversion_from_previous") == [None, 1.0, 0.6667, 0.5, 1.0, 1.0]
    assert column(statistics, "avg_days_in_stage") == [2.6667, 3.0, None, None, None, None]
    after = read_model.funnel_statistics(
        world.company_id, funnel, StatisticsFilter(created_after=before, created_before=before)
    )
    assert (after["leads_count"], after["deals_count"]) == (1, 0)


def test_an_owner(read_model: SqlReadModel, history: Any) -> None:
    world, funnel, _, boris = history
    statistics = read_model.funnel_statistics(
        world.company_id, funnel, StatisticsFilter(owner_id=boris.user_id)
    )
    assert statistics["leads_count"] == 0 and statistics["lead_to_deal_rate"] is None
    assert (statistics["deals_count"], statistics["open_deals"]) == (1, 1)
    assert statistics["weighted_pipeline_amount"] == Decimal("100.00")
    assert column(statistics, "reached_count") == [1, 1, 0, 0, 0, 0]
    assert column(statistics, "open_count") == [0, 1, 0, 0, 0, 0]


def test_another_company_and_an_empty_funnel(
    read_model: SqlReadModel, history: Any, uow: Callable[[], SqlUnitOfWork]
) -> None:
    _, funnel, _, _ = history
    other = new_world(uow)
    with pytest.raises(NotFound):
        read_model.funnel_statistics(other.company_id, funnel, StatisticsFilter())
    bare = other.funnels.create_funnel(other.admin, "Пустая", stages=[])
    statistics = read_model.funnel_statistics(other.company_id, bare, StatisticsFilter())
    assert statistics["stages_statistics"] == [] and statistics["leads_count"] == 0
    assert statistics["total_amount"] == Decimal("0.00")
