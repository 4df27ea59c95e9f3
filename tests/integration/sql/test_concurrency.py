"""Optimistic versions under real concurrency (PostgreSQL): one deal per lead, a sound deal."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Engine, text

from crm_adapters.sql.engine import create_database_engine
from crm_adapters.sql.migrate import upgrade
from crm_adapters.sql.unit_of_work import SqlUnitOfWork, unit_of_work_factory
from crm_core import Conflict, DealUseCases, DomainError, FunnelUseCases
from crm_core.services.funnels import ChangeStage
from crm_core.services.pipeline import CreateDeal
from tests.fakes import FixedClock
from tests.integration.conftest import POSTGRES_URL, fresh_postgres_database
from tests.integration.sql.conftest import World, new_world

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not POSTGRES_URL, reason="CRM_TEST_POSTGRES_URL is not set"),
]

THREADS = 20


@pytest.fixture(scope="module")
def pg_engine() -> Iterator[Engine]:
    with fresh_postgres_database() as url:
        upgrade(url)
        engine = create_database_engine(url, pool_size=THREADS, max_overflow=5)
        yield engine
        engine.dispose()


@pytest.fixture(scope="module")
def pg_uow(pg_engine: Engine) -> Callable[[], SqlUnitOfWork]:
    return unit_of_work_factory(pg_engine)


def until_held(engine: Engine, mode: str, timeout: float = 10.0) -> None:
    """Waits until a transaction holds an advisory lock (a funnel's) in `mode`, "ShareLock" or
    "ExclusiveLock", in this database."""
    held = text(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND mode = :mode"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    deadline = time.monotonic() + timeout
    with engine.connect() as connection:
        while connection.scalar(held, {"mode": mode}) == 0:
            assert time.monotonic() < deadline, f"no advisory {mode} held after {timeout} s"
            time.sleep(0.02)


def race(action: Callable[[int], Any]) -> list[BaseException | Any]:
    """Runs `action(i)` in THREADS threads released at once; results or exceptions."""
    barrier = threading.Barrier(THREADS)
    outcomes: list[BaseException | Any] = [None] * THREADS

    def run(index: int) -> None:
        barrier.wait()
        try:
            outcomes[index] = action(index)
        except BaseException as error:  # every outcome is examined by the test
            outcomes[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


@pytest.fixture
def world(pg_uow: Callable[[], SqlUnitOfWork]) -> World:
    return new_world(pg_uow)


def test_twenty_conversions_of_one_lead_make_one_deal(world: World) -> None:
    funnel_id = world.funnels.create_funnel(world.admin, "Гонка")
    lead_id = world.lead(world.contact(), funnel_id)

    outcomes = race(lambda _: world.leads.convert_lead(world.admin, lead_id))

    deals = [outcome for outcome in outcomes if not isinstance(outcome, BaseException)]
    assert len(deals) == 1
    assert all(isinstance(o, Conflict) for o in outcomes if isinstance(o, BaseException))
    with world.uow() as unit:
        lead = unit.leads.get(world.company_id, lead_id)
        assert lead.deal_id == deals[0] and lead.status == "converted"
        from sqlalchemy import func, select

        from crm_adapters.sql.tables import deals as deals_table

        assert (
            unit.session.scalar(select(func.count()).where(deals_table.c.lead_id == lead_id)) == 1
        )


def test_twenty_hands_on_one_deal_keep_it_sound(world: World) -> None:
    funnel_id = world.funnels.create_funnel(world.admin, "Гонка")
    stages = world.stages(funnel_id)
    success, failure = stages[4], stages[5]
    deal_id = world.deals.create_deal(
        world.admin, CreateDeal(contact_id=world.contact(), funnel_id=funnel_id, title="Сделка")
    )
    deals = world.deals

    def act(index: int) -> str:
        chance = random.Random(index)
        choice = chance.choice(["move", "won", "lost", "reopen"])
        if choice == "move":
            deals.move_deal(world.admin, deal_id, chance.choice(stages))
        elif choice == "won":
            deals.mark_won(world.admin, deal_id)
        elif choice == "lost":
            deals.mark_lost(world.admin, deal_id, "причина")
        else:
            deals.reopen(world.admin, deal_id, chance.choice(stages[:4]))
        return choice

    for _ in range(3):
        outcomes = race(act)
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        assert all(isinstance(o, DomainError) for o in failures), failures
        with world.uow() as unit:
            deal = unit.deals.get(world.company_id, deal_id)
        assert not (deal.is_won and deal.is_lost)
        assert deal.is_won == (deal.stage_id == success)
        assert deal.is_lost == (deal.stage_id == failure)
        assert (deal.closed_at is not None) == (deal.is_won or deal.is_lost)
        assert [t.seq for t in deal.history] == list(range(len(deal.history)))
        assert [t.left_at is None for t in deal.history] == [False] * (len(deal.history) - 1) + [
            True
        ]
        assert deal.history[-1].to_stage_id == deal.stage_id


class SlowClock(FixedClock):
    """Stands still for a while when asked the time: a move asks it after loading the funnel
    and before committing, which opens the window the stage-flag race needs."""

    def __init__(self, pause: float) -> None:
        super().__init__()
        self.pause = pause

    def now(self) -> datetime:
        time.sleep(self.pause)
        return super().now()


def test_a_stage_cannot_become_final_while_a_deal_is_moving_into_it(
    pg_engine: Engine, world: World
) -> None:
    funnel_id = world.funnels.create_funnel(world.admin, "Флаги")
    stages = world.stages(funnel_id)
    target = stages[3]  # «Переговоры»: open now, about to be made a success stage
    deal_id = world.deals.create_deal(
        world.admin, CreateDeal(contact_id=world.contact(), funnel_id=funnel_id, title="Сделка")
    )
    slow_deals = DealUseCases(world.uow, SlowClock(pause=1.0))
    outcomes: dict[str, BaseException | None] = {}

    def move() -> None:
        try:
            slow_deals.move_deal(world.admin, deal_id, target)
            outcomes["move"] = None
        except BaseException as error:
            outcomes["move"] = error

    mover = threading.Thread(target=move)
    mover.start()
    until_held(pg_engine, "ShareLock")  # the move has read the funnel and waits on its clock
    try:
        world.funnels.update_stage(world.admin, target, ChangeStage(is_final=True, is_success=True))
        outcomes["flags"] = None
    except Conflict as error:
        outcomes["flags"] = error
    mover.join()

    assert outcomes["move"] is None
    assert isinstance(outcomes["flags"], Conflict)  # the stage was occupied by then
    with world.uow() as unit:
        deal = unit.deals.get(world.company_id, deal_id)
        stage = unit.funnels.get(world.company_id, funnel_id).stage(target)
    assert deal.stage_id == target
    assert (stage.is_final, stage.is_success, deal.is_won) == (False, False, False)


def test_a_move_waiting_on_a_stage_change_sees_the_changed_stage(
    pg_engine: Engine, world: World
) -> None:
    """The other order: the stage is being made a success stage when a lead moves into it.
    The move waits for the change's commit and must then see the stage as changed, though
    its process kept the funnel as it was (`funnels.read`): the number that says whether the
    kept funnel holds is read after the lock, not under a snapshot taken before the wait."""
    funnel_id = world.funnels.create_funnel(world.admin, "Флаги")
    target = world.stages(funnel_id)[3]
    lead_id = world.lead(world.contact(), funnel_id)  # and the process now keeps the funnel
    slow_funnels = FunnelUseCases(world.uow, SlowClock(pause=1.0))
    outcomes: dict[str, BaseException | None] = {}

    def change() -> None:
        try:
            slow_funnels.update_stage(
                world.admin, target, ChangeStage(is_final=True, is_success=True)
            )
            outcomes["flags"] = None
        except BaseException as error:
            outcomes["flags"] = error

    changer = threading.Thread(target=change)
    changer.start()
    until_held(pg_engine, "ExclusiveLock")  # the change holds the lock, waits on its clock
    try:
        world.leads.move_lead(world.admin, lead_id, target)
        outcomes["move"] = None
    except Conflict as error:
        outcomes["move"] = error
    changer.join()

    assert outcomes["flags"] is None
    assert isinstance(outcomes["move"], Conflict)  # a lead is converted into success, not moved
    with world.uow() as unit:
        lead = unit.leads.get(world.company_id, lead_id)
    assert lead.is_open and lead.stage_id != target
