"""Section 5: funnel statistics on a small data set built through the API."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from .checks import bad_param, problem, random_id, stage_by_name
from .conftest import Api

TOP_KEYS = {
    "funnel_id", "funnel_name", "leads_count", "deals_count", "open_deals", "won_deals",
    "lost_deals",
    "total_amount", "won_amount", "lost_amount", "pipeline_amount", "weighted_pipeline_amount",
    "win_rate", "lead_to_deal_rate", "avg_days_to_win", "stages_statistics",
}  # fmt: skip
STAGE_KEYS = {
    "stage_id", "stage_name", "order", "color", "is_final", "is_success", "leads_count",
    "leads_value",
    "deals_count", "deals_amount", "reached_count", "conversion_from_previous", "avg_days_in_stage",
    "open_count", "open_amount",
}  # fmt: skip
MONEY = re.compile(r"^\d+\.\d{2}$")


def money(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01'))}"


@pytest.fixture(scope="module")
def data(api: Api, manager_me: dict[str, Any]) -> dict[str, Any]:
    """Three leads (one open and moved, one converted, one lost) and five deals
    (two won, one lost, two open) in one funnel with the default stages."""
    funnel = api.funnel(name="Продажи услуг")
    s = {
        name: stage_by_name(funnel, name)["id"]
        for name, *_ in [(st["name"],) for st in funnel["stages"]]
    }
    c = api.contact()
    # stages each lead and deal stood in (for reached_count)
    history: dict[str, set[str]] = {}

    lead_open = api.lead(c, funnel, title="Открытый", estimated_value=1000)
    api.action("leads", lead_open["id"], "move_to_stage", {"stage_id": s["Квалификация"]})
    history[lead_open["id"]] = {s["Новый лид"], s["Квалификация"]}

    lead_conv = api.lead(c, funnel, title="Конвертирован", estimated_value=3000, probability=50)
    d1 = api.action("leads", lead_conv["id"], "convert_to_deal", status=201)
    history[lead_conv["id"]] = {s["Новый лид"]}
    api.action("deals", d1["id"], "mark_won")
    history[d1["id"]] = {s["Новый лид"], s["Закрыта успешно"]}

    lead_lost = api.lead(c, funnel, title="Потерян", estimated_value=400)
    api.action("leads", lead_lost["id"], "mark_lost", {"reason": "нет"})
    history[lead_lost["id"]] = {s["Новый лид"]}

    d2 = api.deal(c, funnel, title="Открытая 1", amount=4000, probability=25, stage=s["Переговоры"])
    history[d2["id"]] = {s["Переговоры"]}
    d3 = api.deal(c, funnel, title="Открытая 2", amount="1000.50", probability=10)
    history[d3["id"]] = {s["Новый лид"]}
    d4 = api.deal(c, funnel, title="Проиграна", amount=500, probability=30)
    api.action("deals", d4["id"], "move_to_stage", {"stage_id": s["Предложение"]})
    api.action("deals", d4["id"], "mark_lost", {"reason": "дорого"})
    history[d4["id"]] = {s["Новый лид"], s["Предложение"], s["Закрыта неудачно"]}
    d5 = api.deal(c, funnel, title="Выиграна менеджером", amount=200, owner=manager_me["id"])
    api.action("deals", d5["id"], "move_to_stage", {"stage_id": s["Закрыта успешно"]})
    history[d5["id"]] = {s["Новый лид"], s["Закрыта успешно"]}

    leads = [api.fetch("leads", x["id"]) for x in (lead_open, lead_conv, lead_lost)]
    deals = [api.fetch("deals", x["id"]) for x in (d1, d2, d3, d4, d5)]
    for item in leads + deals:  # where each stands now is a stage it stood in
        history[item["id"]].add(item["stage"])
    # [rev 2] reached_count counts opportunities: a converted lead and its deal are one
    history[lead_conv["id"]] |= history.pop(d1["id"])
    stats = api.ok("GET", f"funnels/{funnel['id']}/statistics/")
    return {"funnel": funnel, "stats": stats, "leads": leads, "deals": deals, "history": history,
            "manager": manager_me}  # fmt: skip


def test_given_a_funnel_then_every_key_of_the_contract_is_present(data: Any) -> None:
    stats = data["stats"]
    assert set(stats) >= TOP_KEYS, TOP_KEYS - set(stats)
    assert stats["funnel_id"] == data["funnel"]["id"]
    assert stats["funnel_name"] == "Продажи услуг"
    assert len(stats["stages_statistics"]) == 6
    for row in stats["stages_statistics"]:
        assert set(row) >= STAGE_KEYS, STAGE_KEYS - set(row)


def test_given_the_data_set_then_the_counts_are_right(data: Any) -> None:
    stats = data["stats"]
    assert stats["leads_count"] == 3
    assert stats["deals_count"] == 5
    assert stats["open_deals"] == 2
    assert stats["won_deals"] == 2
    assert stats["lost_deals"] == 1


def test_given_the_data_set_then_the_sums_are_money_strings(data: Any) -> None:
    stats = data["stats"]
    for key in (
        "total_amount",
        "won_amount",
        "lost_amount",
        "pipeline_amount",
        "weighted_pipeline_amount",
    ):
        assert isinstance(stats[key], str) and MONEY.match(stats[key]), (key, stats[key])
    assert stats["won_amount"] == "3200.00"
    assert stats["total_amount"] == "3200.00"
    assert stats["lost_amount"] == "500.00"
    assert stats["pipeline_amount"] == "5000.50"
    # 4000 x 25% + 1000.50 x 10%
    assert stats["weighted_pipeline_amount"] == "1100.05"


def test_given_the_data_set_then_the_rates_are_fractions_rounded_to_4_places(data: Any) -> None:
    stats = data["stats"]
    assert stats["win_rate"] == 0.6667  # 2 won / (2 won + 1 lost)
    assert stats["lead_to_deal_rate"] == 0.3333  # 1 converted / 3 leads
    for row in stats["stages_statistics"]:
        value = row["conversion_from_previous"]
        if value is not None:
            assert value >= 0 and round(value, 4) == value


def test_given_deals_won_moments_ago_then_avg_days_to_win_is_nearly_zero(data: Any) -> None:
    value = data["stats"]["avg_days_to_win"]
    assert isinstance(value, (int, float))
    assert 0 <= value < 0.01


def test_given_the_data_set_then_each_stage_counts_what_stands_in_it(data: Any) -> None:
    funnel, rows = data["funnel"], data["stats"]["stages_statistics"]
    assert [r["stage_id"] for r in rows] == [s["id"] for s in funnel["stages"]]
    for row, stage in zip(rows, funnel["stages"], strict=True):
        assert (row["stage_name"], row["order"], row["color"]) == (
            stage["name"],
            stage["order"],
            stage["color"],
        )
        assert (row["is_final"], row["is_success"]) == (stage["is_final"], stage["is_success"])
        here_leads = [x for x in data["leads"] if x["stage"] == stage["id"]]
        here_deals = [x for x in data["deals"] if x["stage"] == stage["id"]]
        assert row["leads_count"] == len(here_leads), row
        assert row["deals_count"] == len(here_deals), row
        assert row["leads_value"] == money(
            sum((Decimal(x["estimated_value"]) for x in here_leads), Decimal(0))
        )
        assert row["deals_amount"] == money(
            sum((Decimal(x["amount"]) for x in here_deals), Decimal(0))
        )
        open_leads = [x for x in here_leads if x["status"] == "open"]
        open_deals = [x for x in here_deals if not (x["is_won"] or x["is_lost"])]
        assert row["open_count"] == len(open_leads) + len(open_deals), row
        assert row["open_amount"] == money(
            sum((Decimal(x["estimated_value"]) for x in open_leads), Decimal(0))
            + sum((Decimal(x["amount"]) for x in open_deals), Decimal(0))
        )
    by_name = {r["stage_name"]: r for r in rows}
    assert by_name["Квалификация"]["open_amount"] == "1000.00"  # lead_open
    assert by_name["Новый лид"]["open_amount"] == "1000.50"  # d3
    assert by_name["Закрыта неудачно"]["open_count"] == 0
    # the converted lead stays where it stood; [rev 2] the lost one moved to the failure stage
    assert by_name["Закрыта неудачно"]["leads_count"] == 1
    assert by_name["Квалификация"]["leads_count"] == 1
    assert by_name["Закрыта успешно"]["deals_count"] == 2
    assert by_name["Закрыта успешно"]["deals_amount"] == "3200.00"
    assert by_name["Переговоры"]["deals_amount"] == "4000.00"


def test_given_the_data_set_then_reached_count_and_conversion_follow_the_history(data: Any) -> None:
    funnel, rows = data["funnel"], data["stats"]["stages_statistics"]
    order = {s["id"]: s["order"] for s in funnel["stages"]}
    furthest = [max(order[sid] for sid in stood) for stood in data["history"].values()]
    expected = [sum(1 for f in furthest if f >= s["order"]) for s in funnel["stages"]]
    assert [r["reached_count"] for r in rows] == expected
    assert expected[0] == 7  # 3 leads and 5 deals, one deal made from one of the leads
    assert rows[0]["conversion_from_previous"] is None
    for prev, row in zip(expected, rows[1:], strict=False):
        want = None if prev == 0 else round(row["reached_count"] / prev, 4)
        assert row["conversion_from_previous"] == want, row


def test_given_finished_stays_then_avg_days_in_stage_is_a_small_number_or_null(data: Any) -> None:
    by_name = {r["stage_name"]: r for r in data["stats"]["stages_statistics"]}
    # stays ended by a move: Новый лид (lead_open, lead_lost lost by mark_lost, d4, d5),
    # Предложение (d4 lost by mark_lost)
    value = by_name["Новый лид"]["avg_days_in_stage"]
    assert isinstance(value, (int, float)) and 0 <= value < 0.01
    # nothing ever left Переговоры or Квалификация
    assert by_name["Переговоры"]["avg_days_in_stage"] is None
    assert by_name["Квалификация"]["avg_days_in_stage"] is None


def test_given_an_owner_filter_then_only_that_owners_records_count(api: Api, data: Any) -> None:
    stats = api.ok(
        "GET",
        f"funnels/{data['funnel']['id']}/statistics/",
        params={"owner": data["manager"]["id"]},
    )
    assert stats["leads_count"] == 0
    assert stats["deals_count"] == 1
    assert stats["won_deals"] == 1
    assert stats["won_amount"] == "200.00"
    assert stats["pipeline_amount"] == "0.00"
    assert stats["win_rate"] == 1.0


def test_given_a_period_in_the_future_then_everything_is_zero_and_rates_null(
    api: Api, data: Any
) -> None:
    tomorrow = (
        date.fromisoformat(data["deals"][0]["created_at"][:10]) + timedelta(days=1)
    ).isoformat()
    stats = api.ok(
        "GET", f"funnels/{data['funnel']['id']}/statistics/", params={"created_at_after": tomorrow}
    )
    assert (
        stats["leads_count"],
        stats["deals_count"],
        stats["won_deals"],
        stats["lost_deals"],
    ) == (0, 0, 0, 0)
    assert stats["won_amount"] == "0.00"
    assert stats["win_rate"] is None
    assert stats["avg_days_to_win"] is None
    assert len(stats["stages_statistics"]) == 6


def test_given_a_period_covering_today_then_everything_counts(api: Api, data: Any) -> None:
    day = data["deals"][0]["created_at"][:10]
    stats = api.ok(
        "GET",
        f"funnels/{data['funnel']['id']}/statistics/",
        params={"created_at_after": day, "created_at_before": day},
    )
    assert (stats["leads_count"], stats["deals_count"]) == (3, 5)


def test_given_an_empty_funnel_then_zeros_and_nulls(api: Api) -> None:
    funnel = api.funnel()
    stats = api.ok("GET", f"funnels/{funnel['id']}/statistics/")
    assert (stats["leads_count"], stats["deals_count"], stats["open_deals"]) == (0, 0, 0)
    assert stats["pipeline_amount"] == "0.00"
    assert stats["weighted_pipeline_amount"] == "0.00"
    assert stats["win_rate"] is None
    assert stats["avg_days_to_win"] is None
    assert [r["reached_count"] for r in stats["stages_statistics"]] == [0] * 6
    assert all(r["conversion_from_previous"] is None for r in stats["stages_statistics"])
    assert all(r["avg_days_in_stage"] is None for r in stats["stages_statistics"])


@pytest.mark.parametrize(
    ("param", "value"),
    [("owner", "abc"), ("created_at_after", "tomorrow"), ("created_at_before", "2026-02-30")],
)
def test_given_a_wrong_statistics_parameter_then_400_naming_it(
    api: Api, data: Any, param: str, value: str
) -> None:
    bad_param(api.get(f"funnels/{data['funnel']['id']}/statistics/", params={param: value}), param)


def test_given_an_unknown_funnel_then_404(api: Api) -> None:
    problem(api.get(f"funnels/{random_id()}/statistics/"), 404)


def test_given_another_company_then_its_statistics_are_404(other: Api, data: Any) -> None:
    problem(other.get(f"funnels/{data['funnel']['id']}/statistics/"), 404)
