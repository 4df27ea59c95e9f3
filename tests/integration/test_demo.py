"""The demo company `crm demo` loads: a funnel worth looking at on the board and in the
statistics, the same story on every load, told through the use cases on a moving clock."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dependency_injector import providers

from crm_adapters.sql.migrate import upgrade
from crm_core.ports import BoardKind, ListQuery, Resource, StatisticsFilter
from crm_http.config import Settings
from crm_http.container import Container, configure
from crm_http.demo import (
    DEMO_ADMIN,
    DEMO_PASSWORD,
    LEAD,
    OPEN,
    STAGES,
    STORY,
    TEAM,
    WON,
    load_demo,
)
from tests.fakes import FixedClock

NOW = datetime(2026, 12, 4, 15, 30, tzinfo=UTC)  # a Friday afternoon in Moscow

# What the demo's story (crm_http.demo.STORY) should show, counted from the story itself.
DEALS = [sale for sale in STORY if sale.kind != LEAD]  # opened directly or from a lead
OPEN_DEALS = [sale for sale in DEALS if sale.fate == OPEN]
OPEN_LEADS = [sale for sale in STORY if sale.kind == LEAD and sale.fate == OPEN]
OPEN_STAGES = [stage for stage in STAGES if not stage.is_final]
# The board is read whole: one page holds every card of a column.
PAGE = 100
# Days in the stage vary: the open deals entered their stages on at least this many days,
# and the oldest did so over three weeks ago (the story spans HISTORY_DAYS).
DAYS_ENTERED = 10
OLDEST_ENTRY = timedelta(weeks=3)
# About two seconds on a quiet machine; the bound leaves room for a busy one.
LOAD_SECONDS = 10


def loaded(folder: Path) -> tuple[Container, Any, Any]:
    """A demo loaded into a fresh SQLite file at NOW: the container, the admin and the funnel."""
    settings = Settings(database_url=f"sqlite:///{folder / 'crm.sqlite3'}", secret_key="demo-test")
    upgrade(settings.database_url)
    container = Container()
    configure(container, settings)
    container.clock.override(providers.Object(FixedClock(NOW)))
    token = load_demo(container)
    admin = container.access().authenticate(token)
    assert admin is not None
    funnels = container.read_model().list(Resource.FUNNELS, admin.company_id, ListQuery())
    (funnel,) = funnels.rows
    return container, admin, funnel


def shown(container: Container, admin: Any, funnel_id: Any, kind: BoardKind) -> list[Any]:
    board = container.board().board(admin.company_id, funnel_id, kind, PAGE)
    return [
        (column["name"], card["title"], card["amount"], card["stage_changed_at"], card["task_due"])
        for column in board["columns"]
        for card in column["cards"]
    ]


def test_the_demo_is_a_team_s_funnel_with_history_tasks_and_outcomes(tmp_path: Path) -> None:
    started = time.perf_counter()
    container, admin, funnel = loaded(tmp_path)
    took = time.perf_counter() - started

    stats = container.read_model().funnel_statistics(
        admin.company_id, funnel["id"], StatisticsFilter()
    )
    board = container.board().board(admin.company_id, funnel["id"], BoardKind.DEALS, PAGE)
    cards = [card for column in board["columns"] for card in column["cards"]]
    leads = shown(container, admin, funnel["id"], BoardKind.LEADS)
    stages = stats["stages_statistics"]
    assert len({stage["color"] for stage in stages}) == len(stages) == len(STAGES)
    assert stats["deals_count"] == len(DEALS)
    assert len(cards) == stats["open_deals"] == len(OPEN_DEALS)
    assert stats["won_deals"] == sum(1 for sale in DEALS if sale.fate == WON)
    assert stats["lost_deals"] == sum(1 for sale in DEALS if sale.fate not in (OPEN, WON))
    assert len(leads) == len(OPEN_LEADS)
    columns_with_cards = sum(1 for column in board["columns"] if column["cards"])
    assert columns_with_cards == len(OPEN_STAGES)  # every open stage has deals
    assert len({card["owner_name"] for card in cards}) == len(TEAM)  # everyone has deals
    assert max(card["amount"] for card in cards) == max(sale.amount for sale in OPEN_DEALS)
    due = [card["task_due"] for card in cards] + [lead[4] for lead in leads]
    today = NOW.date()
    assert today in due and any(day < today for day in due if day)
    assert len({card["stage_changed_at"].date() for card in cards}) >= DAYS_ENTERED
    assert min(card["stage_changed_at"] for card in cards) < NOW - OLDEST_ENTRY
    assert all(stage["avg_days_in_stage"] for stage in stages if not stage["is_final"])
    assert container.access().log_in(DEMO_ADMIN, DEMO_PASSWORD) is not None
    assert took < LOAD_SECONDS


def test_the_demo_tells_the_same_story_on_every_load(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, admin, funnel = loaded(tmp_path / "a")
    second, other, other_funnel = loaded(tmp_path / "b")

    for kind in (BoardKind.DEALS, BoardKind.LEADS):
        assert shown(first, admin, funnel["id"], kind) == shown(
            second, other, other_funnel["id"], kind
        )
