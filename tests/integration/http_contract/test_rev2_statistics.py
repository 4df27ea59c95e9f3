"""[rev 2] Section 5: reached_count counts opportunities (a converted lead and its deal once),
per-stage open_count/open_amount, and sums past 12 digits returned exact."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from .checks import stage_by_name
from .conftest import Api, Tenants

MAX = "9999999999.99"  # the largest amount a single deal may carry (12 digits)


@pytest.fixture(scope="module")
def board(api: Api) -> dict[str, Any]:
    """Seven opportunities in the default stages (orders 1..6):

    O1 lead L1 1000, moved Новый лид -> Квалификация, open            furthest 2
    O2 lead L2 3000, moved to Предложение, converted (deal D1 3000 in
       Предложение), D1 moved to Переговоры, open                      furthest 4
    O3 lead L3 400, marked lost (moved to Закрыта неудачно)            furthest 6
    O4 lead L4 700, converted in Новый лид (deal D2 700), D2 marked won
       (moved to Закрыта успешно)                                       furthest 5
    O5 deal D3 500, created in Переговоры, open                        furthest 4
    O6 deal D4 200, created in Новый лид, open                         furthest 1
    O7 lead L5 50.25, created in Новый лид, open                       furthest 1
    """
    funnel = api.funnel()
    s = {st["name"]: st["id"] for st in funnel["stages"]}
    c = api.contact()
    l1 = api.lead(c, funnel, title="L1", estimated_value=1000)
    api.action("leads", l1["id"], "move_to_stage", {"stage_id": s["Квалификация"]})
    l2 = api.lead(c, funnel, title="L2", estimated_value=3000)
    api.action("leads", l2["id"], "move_to_stage", {"stage_id": s["Предложение"]})
    d1 = api.action("leads", l2["id"], "convert_to_deal", status=201)
    assert d1["stage"] == s["Предложение"]
    api.action("deals", d1["id"], "move_to_stage", {"stage_id": s["Переговоры"]})
    l3 = api.lead(c, funnel, title="L3", estimated_value=400)
    api.action("leads", l3["id"], "mark_lost", {"reason": "нет"})
    l4 = api.lead(c, funnel, title="L4", estimated_value=700)
    d2 = api.action("leads", l4["id"], "convert_to_deal", status=201)
    api.action("deals", d2["id"], "mark_won")
    api.deal(c, funnel, title="D3", amount=500, stage=s["Переговоры"])
    api.deal(c, funnel, title="D4", amount=200)
    api.lead(c, funnel, title="L5", estimated_value="50.25")
    stats = api.ok("GET", f"funnels/{funnel['id']}/statistics/")
    rows = {row["stage_name"]: row for row in stats["stages_statistics"]}
    return {"funnel": funnel, "stats": stats, "rows": rows}


ORDERED = [
    "Новый лид",
    "Квалификация",
    "Предложение",
    "Переговоры",
    "Закрыта успешно",
    "Закрыта неудачно",
]


def test_given_the_board_then_reached_count_counts_opportunities_once(
    board: dict[str, Any],
) -> None:
    rows = board["stats"]["stages_statistics"]
    assert [r["stage_name"] for r in rows] == ORDERED
    # stage 1: all seven; 2: O1-O5; 3: O2-O5; 4: O2-O5; 5: O3, O4; 6: O3
    assert [r["reached_count"] for r in rows] == [7, 5, 4, 4, 2, 1]


def test_given_the_board_then_conversion_from_previous_follows_reached_count(
    board: dict[str, Any],
) -> None:
    rows = board["stats"]["stages_statistics"]
    # None; 5/7; 4/5; 4/4; 2/4; 1/2
    assert [r["conversion_from_previous"] for r in rows] == [None, 0.7143, 0.8, 1.0, 0.5, 0.5]


def test_given_the_board_then_open_count_is_open_leads_and_open_deals_standing_there(
    board: dict[str, Any],
) -> None:
    rows = board["rows"]
    # Новый лид: L5 (open lead) + D4 (open deal); L4 stands there but is converted.
    # Квалификация: L1. Предложение: only the converted L2. Переговоры: D1 + D3.
    # Закрыта успешно: the won D2. Закрыта неудачно: the lost L3.
    assert {name: rows[name]["open_count"] for name in ORDERED} == {
        "Новый лид": 2,
        "Квалификация": 1,
        "Предложение": 0,
        "Переговоры": 2,
        "Закрыта успешно": 0,
        "Закрыта неудачно": 0,
    }


def test_given_the_board_then_open_amount_sums_estimated_value_and_amount(
    board: dict[str, Any],
) -> None:
    rows = board["rows"]
    assert {name: rows[name]["open_amount"] for name in ORDERED} == {
        "Новый лид": "250.25",  # L5 50.25 + D4 200
        "Квалификация": "1000.00",  # L1
        "Предложение": "0.00",
        "Переговоры": "3500.00",  # D1 3000 + D3 500
        "Закрыта успешно": "0.00",
        "Закрыта неудачно": "0.00",
    }


def test_given_the_board_then_the_seed_counts_still_count_everything_standing_there(
    board: dict[str, Any],
) -> None:
    rows, stats = board["rows"], board["stats"]
    assert rows["Новый лид"]["leads_count"] == 2  # L4 (converted) and L5
    assert rows["Новый лид"]["leads_value"] == "750.25"
    assert rows["Закрыта неудачно"]["leads_count"] == 1  # L3, moved there by mark_lost
    assert rows["Закрыта неудачно"]["leads_value"] == "400.00"
    assert (stats["leads_count"], stats["deals_count"]) == (5, 4)
    assert (stats["open_deals"], stats["won_deals"], stats["lost_deals"]) == (3, 1, 0)
    assert stats["pipeline_amount"] == "3700.00"  # D1 3000 + D3 500 + D4 200
    assert stats["won_amount"] == "700.00"


# ----------------------------------------------------------------------------- large sums


@pytest.fixture(scope="module")
def big(api: Api, tenants: Tenants) -> dict[str, Any]:
    """101 won deals, 101 open deals (probability 100) and one open lead, each at the
    12-digit maximum, in one funnel with the default stages."""
    funnel = api.funnel()
    contact = api.contact()
    success = stage_by_name(funnel, "Закрыта успешно")["id"]
    local = threading.local()
    clients: list[Api] = []
    lock = threading.Lock()

    def client() -> Api:
        if not hasattr(local, "api"):
            local.api = tenants.client(api.token)
            with lock:
                clients.append(local.api)
        return local.api  # type: ignore[no-any-return]

    def won(_: int) -> None:
        me = client()
        deal = me.deal(contact, funnel, title="Крупная выигранная", amount=MAX)
        got = me.action("deals", deal["id"], "mark_won")
        assert got["is_won"] and got["stage"] == success

    def open_(_: int) -> None:
        client().deal(contact, funnel, title="Крупная открытая", amount=MAX, probability=100)

    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(won, range(101)))
            list(pool.map(open_, range(101)))
    finally:
        for c in clients:
            c.close()
    api.lead(contact, funnel, title="Крупный лид", estimated_value=MAX)
    stats = api.ok("GET", f"funnels/{funnel['id']}/statistics/")
    return {"stats": stats, "rows": {r["stage_name"]: r for r in stats["stages_statistics"]}}


# 101 x 9999999999.99 = 1010000000000 - 1.01 = 1009999999998.99  (past 10^12)
SUM_101 = "1009999999998.99"
# 102 x 9999999999.99 = 1020000000000 - 1.02 = 1019999999998.98
SUM_102 = "1019999999998.98"


def test_given_sums_past_twelve_digits_then_won_and_total_are_exact(big: dict[str, Any]) -> None:
    stats = big["stats"]
    assert (stats["won_deals"], stats["open_deals"], stats["lost_deals"]) == (101, 101, 0)
    assert stats["won_amount"] == SUM_101
    assert stats["total_amount"] == SUM_101
    assert stats["lost_amount"] == "0.00"


def test_given_sums_past_twelve_digits_then_pipeline_and_weighted_are_exact(
    big: dict[str, Any],
) -> None:
    stats = big["stats"]
    assert stats["pipeline_amount"] == SUM_101
    assert stats["weighted_pipeline_amount"] == SUM_101  # every probability is 100


def test_given_sums_past_twelve_digits_then_stage_sums_are_exact(big: dict[str, Any]) -> None:
    rows = big["rows"]
    assert rows["Закрыта успешно"]["deals_count"] == 101
    assert rows["Закрыта успешно"]["deals_amount"] == SUM_101
    assert rows["Новый лид"]["deals_count"] == 101
    assert rows["Новый лид"]["deals_amount"] == SUM_101
    assert rows["Новый лид"]["leads_value"] == MAX
    assert rows["Новый лид"]["open_count"] == 102
    assert rows["Новый лид"]["open_amount"] == SUM_102
    assert rows["Закрыта успешно"]["open_count"] == 0
    assert rows["Закрыта успешно"]["open_amount"] == "0.00"
