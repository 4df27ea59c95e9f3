"""Section 3, Deals: fields, the won/lost invariant, and the actions."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import pytest

from .checks import assert_deal_invariant, bad_param, parse_ts, problem, random_id, stage_by_name
from .conftest import Api


@pytest.fixture()
def funnel(api: Api) -> dict[str, Any]:
    return api.funnel()


@pytest.fixture()
def contact(api: Api) -> dict[str, Any]:
    return api.contact(first_name="Ольга", last_name="Сделкина")


def activities(api: Api, deal_id: str, kind: str | None = None) -> list[dict[str, Any]]:
    params: dict[str, Any] = {"deal": deal_id, "page_size": 500}
    if kind:
        params["activity_type"] = kind
    return api.list("activities", **params)["results"]  # type: ignore[no-any-return]


def move(api: Api, deal: dict[str, Any], funnel: dict[str, Any], stage_name: str) -> dict[str, Any]:
    got = api.action(
        "deals", deal["id"], "move_to_stage", {"stage_id": stage_by_name(funnel, stage_name)["id"]}
    )
    assert_deal_invariant(got, funnel)
    return got  # type: ignore[no-any-return]


def fresh(api: Api, deal: dict[str, Any], funnel: dict[str, Any]) -> dict[str, Any]:
    got = api.fetch("deals", deal["id"])
    assert_deal_invariant(got, funnel)
    return got


# ----------------------------------------------------------------------------- create


def test_given_contact_funnel_title_when_creating_a_deal_then_201_with_defaults(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any], me: dict[str, Any]
) -> None:
    r = api.post(
        "deals/", json={"contact": contact["id"], "funnel": funnel["id"], "title": "Поставка"}
    )
    assert r.status_code == 201, r.text
    deal = r.json()
    assert r.headers["location"].endswith(f"/api/crm/deals/{deal['id']}/")
    assert deal["stage"] == stage_by_name(funnel, "Новый лид")["id"]
    assert deal["stage_name"] == "Новый лид"
    assert deal["amount"] == "0.00"
    assert (deal["is_won"], deal["is_lost"], deal["closed_at"]) == (False, False, None)
    assert not deal["lost_reason"]
    assert deal["lead"] is None
    assert deal["expected_close_date"] is None
    assert deal["owner"] == me["id"]
    assert deal["funnel_name"] == funnel["name"]
    assert "Ольга" in deal["contact_name"]
    for key in (
        "lead_title",
        "description",
        "probability",
        "stage_changed_at",
        "company",
        "owner_name",
    ):
        assert key in deal
    assert_deal_invariant(deal, funnel)


@pytest.mark.parametrize("missing", ["contact", "funnel", "title"])
def test_given_a_required_field_missing_when_creating_a_deal_then_400_naming_it(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any], missing: str
) -> None:
    body = {"contact": contact["id"], "funnel": funnel["id"], "title": "x"}
    del body[missing]
    problem(api.post("deals/", json=body), 400, missing)


def test_given_a_stage_of_another_funnel_when_creating_a_deal_then_400(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any]
) -> None:
    other = api.funnel()
    body = {
        "contact": contact["id"],
        "funnel": funnel["id"],
        "title": "x",
        "stage": other["stages"][0]["id"],
    }
    problem(api.post("deals/", json=body), 400, "stage")


@pytest.mark.parametrize("stage_name", ["Закрыта успешно", "Закрыта неудачно"])
def test_given_a_final_stage_when_creating_a_deal_then_the_invariant_holds(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any], stage_name: str
) -> None:
    body = {
        "contact": contact["id"],
        "funnel": funnel["id"],
        "title": "x",
        "stage": stage_by_name(funnel, stage_name)["id"],
    }
    r = api.post("deals/", json=body)
    if r.status_code == 201:
        assert_deal_invariant(r.json(), funnel)
        fresh(api, r.json(), funnel)
    else:
        problem(r, 400, "stage")


@pytest.mark.parametrize(
    ("given", "returned"),
    [(50000, "50000.00"), ("50000", "50000.00"), ("0.5", "0.50"), (99.99, "99.99")],
)
def test_given_an_amount_as_number_or_string_then_two_places(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any], given: Any, returned: str
) -> None:
    assert api.deal(contact, funnel, amount=given)["amount"] == returned


@pytest.mark.parametrize("given", ["10.001", 0.125, -5, "-1.00", "ten", "10000000000000"])
def test_given_an_invalid_amount_then_400_naming_amount(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any], given: Any
) -> None:
    problem(
        api.post(
            "deals/",
            json={"contact": contact["id"], "funnel": funnel["id"], "title": "x", "amount": given},
        ),
        400,
        "amount",
    )


@pytest.mark.parametrize("given", [-1, 101])
def test_given_a_probability_out_of_range_then_400(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any], given: int
) -> None:
    problem(
        api.post(
            "deals/",
            json={
                "contact": contact["id"],
                "funnel": funnel["id"],
                "title": "x",
                "probability": given,
            },
        ),
        400,
        "probability",
    )


def test_given_an_expected_close_date_then_kept_as_a_date(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any]
) -> None:
    deal = api.deal(contact, funnel, expected_close_date="2026-12-31")
    assert deal["expected_close_date"] == "2026-12-31"
    problem(
        api.post(
            "deals/",
            json={
                "contact": contact["id"],
                "funnel": funnel["id"],
                "title": "x",
                "expected_close_date": "31.12.2026",
            },
        ),
        400,
        "expected_close_date",
    )


def test_given_read_only_flags_when_creating_or_patching_a_deal_then_ignored(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any]
) -> None:
    deal = api.deal(
        contact,
        funnel,
        is_won=True,
        is_lost=True,
        lost_reason="x",
        closed_at="2020-01-01T00:00:00Z",
    )
    assert (deal["is_won"], deal["is_lost"], deal["closed_at"]) == (False, False, None)
    got = api.ok(
        "PATCH", f"deals/{deal['id']}/", json={"is_won": True, "closed_at": "2020-01-01T00:00:00Z"}
    )
    assert (got["is_won"], got["closed_at"]) == (False, None)
    fresh(api, deal, funnel)


def test_given_an_open_lead_when_creating_a_deal_for_it_then_linked_and_only_once(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any]
) -> None:
    lead = api.lead(contact, funnel, title="Лид для сделки")
    deal = api.deal(contact, funnel, lead=lead["id"])
    assert deal["lead"] == lead["id"]
    assert deal["lead_title"] == "Лид для сделки"
    r = api.post(
        "deals/",
        json={
            "contact": contact["id"],
            "funnel": funnel["id"],
            "title": "второй",
            "lead": lead["id"],
        },
    )
    assert r.status_code in (400, 409), r.text
    problem(r, r.status_code, *(("lead",) if r.status_code == 400 else ()))


def test_given_a_lost_lead_when_creating_a_deal_for_it_then_400_naming_lead(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any]
) -> None:
    lead = api.lead(contact, funnel)
    api.action("leads", lead["id"], "mark_lost", {"reason": "x"})
    body = {"contact": contact["id"], "funnel": funnel["id"], "title": "x", "lead": lead["id"]}
    problem(api.post("deals/", json=body), 400, "lead")


def test_given_a_converted_lead_when_creating_another_deal_for_it_then_refused(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any]
) -> None:
    lead = api.lead(contact, funnel)
    api.action("leads", lead["id"], "convert_to_deal", status=201)
    r = api.post(
        "deals/",
        json={"contact": contact["id"], "funnel": funnel["id"], "title": "x", "lead": lead["id"]},
    )
    assert r.status_code in (400, 409), r.text
    problem(r, r.status_code, *(("lead",) if r.status_code == 400 else ()))
    assert api.list("deals", contact=contact["id"])["count"] == 1


def test_given_a_deal_when_put_without_title_then_400(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any]
) -> None:
    deal = api.deal(contact, funnel)
    problem(
        api.put(f"deals/{deal['id']}/", json={"contact": contact["id"], "funnel": funnel["id"]}),
        400,
        "title",
    )


def test_given_a_deal_when_patching_amount_then_kept(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any]
) -> None:
    deal = api.deal(contact, funnel, amount=10, title="Старая")
    got = api.ok("PATCH", f"deals/{deal['id']}/", json={"amount": "20.5"})
    assert (got["amount"], got["title"]) == ("20.50", "Старая")


@pytest.mark.parametrize("stage_name", ["Закрыта успешно", "Закрыта неудачно"])
def test_given_an_open_deal_when_patching_into_a_final_stage_then_the_invariant_holds(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any], stage_name: str
) -> None:
    deal = api.deal(contact, funnel)
    r = api.patch(f"deals/{deal['id']}/", json={"stage": stage_by_name(funnel, stage_name)["id"]})
    assert r.status_code in (200, 400, 409), r.text
    if r.status_code == 200:
        assert_deal_invariant(r.json(), funnel)
    fresh(api, deal, funnel)


def test_given_a_deal_when_deleted_then_204_then_404(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any]
) -> None:
    deal = api.deal(contact, funnel)
    assert api.delete(f"deals/{deal['id']}/").status_code == 204
    problem(api.get(f"deals/{deal['id']}/"), 404)


# ----------------------------------------------------------------------------- move_to_stage


def test_given_an_open_deal_when_moved_to_an_open_stage_then_200_and_a_stage_change(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any]
) -> None:
    deal = api.deal(contact, funnel)
    got = move(api, deal, funnel, "Переговоры")
    assert (got["stage_name"], got["is_won"], got["is_lost"]) == ("Переговоры", False, False)
    parse_ts(got["stage_changed_at"])
    changes = activities(api, deal["id"], "stage_change")
    assert len(changes) == 1
    assert "Новый лид" in changes[0]["description"] and "Переговоры" in changes[0]["description"]


def test_given_an_open_deal_when_moved_to_its_own_stage_then_nothing_changes(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any]
) -> None:
    deal = api.deal(contact, funnel)
    first = move(api, deal, funnel, "Предложение")
    again = move(api, deal, funnel, "Предложение")
    assert again["stage_changed_at"] == first["stage_changed_at"]
    assert again["updated_at"] == first["updated_at"]
    assert len(activities(api, deal["id"], "stage_change")) == 1


def test_given_an_open_deal_when_moved_to_the_success_stage_then_won(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any]
) -> None:
    deal = api.deal(contact, funnel)
    got = move(api, deal, funnel, "Закрыта успешно")
    assert (got["is_won"], got["is_lost"]) == (True, False)
    parse_ts(got["closed_at"])
    assert fresh(api, deal, funnel)["is_won"] is True


def test_given_an_open_deal_when_moved_to_the_failure_stage_then_lost(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any]
) -> None:
    deal = api.deal(contact, funnel)
    got = move(api, deal, funnel, "Закрыта неудачно")
    assert (got["is_won"], got["is_lost"]) == (False, True)
    parse_ts(got["closed_at"])


@pytest.mark.parametrize("close", ["mark_won", "mark_lost", "move_success", "move_failure"])
def test_given_a_closed_deal_when_moved_then_409(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any], close: str
) -> None:
    deal = api.deal(contact, funnel)
    if close == "move_success":
        move(api, deal, funnel, "Закрыта успешно")
    elif close == "move_failure":
        move(api, deal, funnel, "Закрыта неудачно")
    else:
        api.action("deals", deal["id"], close, {})
    before = fresh(api, deal, funnel)
    body = problem(
        api.post(
            f"deals/{deal['id']}/move_to_stage/",
            json={"stage_id": stage_by_name(funnel, "Квалификация")["id"]},
        ),
        409,
    )
    assert body["detail"]
    after = fresh(api, deal, funnel)
    assert (after["stage"], after["is_won"], after["is_lost"], after["closed_at"]) == (
        before["stage"],
        before["is_won"],
        before["is_lost"],
        before["closed_at"],
    )


def test_given_a_stage_of_another_funnel_when_moving_a_deal_then_400(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any]
) -> None:
    deal = api.deal(contact, funnel)
    other = api.funnel()
    problem(
        api.post(f"deals/{deal['id']}/move_to_stage/", json={"stage_id": other["stages"][1]["id"]}),
        400,
    )
    assert fresh(api, deal, funnel)["stage"] == deal["stage"]


@pytest.mark.parametrize("body", [{}, {"stage_id": "abc"}, {"stage_id": None}])
def test_given_no_stage_id_or_not_a_uuid_when_moving_a_deal_then_400(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any], body: dict[str, Any]
) -> None:
    deal = api.deal(contact, funnel)
    problem(api.post(f"deals/{deal['id']}/move_to_stage/", json=body), 400, "stage_id")


# ----------------------------------------------------------------------------- mark_won


def test_given_an_open_deal_when_marked_won_then_won_in_success_stage_and_contact_is_client(
    api: Api, funnel: dict[str, Any]
) -> None:
    contact = api.contact()
    assert contact["is_client"] is False
    deal = api.deal(contact, funnel)
    got = api.action("deals", deal["id"], "mark_won", {})
    assert_deal_invariant(got, funnel)
    assert (got["is_won"], got["is_lost"]) == (True, False)
    assert got["stage"] == stage_by_name(funnel, "Закрыта успешно")["id"]
    assert got["stage_name"] == "Закрыта успешно"
    parse_ts(got["closed_at"])
    assert api.fetch("contacts", contact["id"])["is_client"] is True
    assert len(activities(api, deal["id"])) >= 1
    assert any(a["activity_type"] in ("note", "stage_change") for a in activities(api, deal["id"]))


def test_given_a_won_deal_when_marked_won_again_then_200_and_no_change(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any]
) -> None:
    deal = api.deal(contact, funnel)
    first = api.action("deals", deal["id"], "mark_won")
    count = len(activities(api, deal["id"]))
    again = api.action("deals", deal["id"], "mark_won")
    assert again["closed_at"] == first["closed_at"]
    assert again["stage"] == first["stage"]
    assert again["updated_at"] == first["updated_at"]
    assert len(activities(api, deal["id"])) == count


def test_given_a_lost_deal_when_marked_won_then_409(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any]
) -> None:
    deal = api.deal(contact, funnel)
    api.action("deals", deal["id"], "mark_lost", {"reason": "дорого"})
    problem(api.post(f"deals/{deal['id']}/mark_won/", json={}), 409)
    after = fresh(api, deal, funnel)
    assert (after["is_won"], after["is_lost"]) == (False, True)


def test_given_a_funnel_with_two_success_stages_when_marked_won_then_the_lowest_order(
    api: Api, contact: dict[str, Any]
) -> None:
    f = api.funnel(
        stages=[
            {"name": "Открыта", "order": 1},
            {"name": "Успех Б", "order": 7, "is_final": True, "is_success": True},
            {"name": "Успех А", "order": 5, "is_final": True, "is_success": True},
        ]
    )
    deal = api.deal(contact, f)
    got = api.action("deals", deal["id"], "mark_won")
    assert got["stage_name"] == "Успех А"
    assert_deal_invariant(got, f)


def test_given_a_funnel_without_a_success_stage_when_marked_won_then_won_in_place(
    api: Api, contact: dict[str, Any]
) -> None:
    f = api.funnel(
        stages=[{"name": "Открыта", "order": 1}, {"name": "Провал", "order": 2, "is_final": True}]
    )
    deal = api.deal(contact, f)
    got = api.action("deals", deal["id"], "mark_won")
    assert got["is_won"] is True
    assert got["stage_name"] == "Открыта"
    assert_deal_invariant(got, f)


# ----------------------------------------------------------------------------- mark_lost


def test_given_an_open_deal_when_marked_lost_then_lost_with_reason_in_the_failure_stage(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any]
) -> None:
    deal = api.deal(contact, funnel)
    got = api.action("deals", deal["id"], "mark_lost", {"reason": "Выбрали конкурента"})
    assert_deal_invariant(got, funnel)
    assert (got["is_won"], got["is_lost"], got["lost_reason"]) == (
        False,
        True,
        "Выбрали конкурента",
    )
    assert got["stage_name"] == "Закрыта неудачно"
    parse_ts(got["closed_at"])
    assert activities(api, deal["id"])


def test_given_no_reason_when_marking_lost_then_200(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any]
) -> None:
    deal = api.deal(contact, funnel)
    assert api.action("deals", deal["id"], "mark_lost")["is_lost"] is True


def test_given_a_reason_of_1000_chars_then_kept_and_1001_then_400(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any]
) -> None:
    deal = api.deal(contact, funnel)
    problem(api.post(f"deals/{deal['id']}/mark_lost/", json={"reason": "я" * 1001}), 400, "reason")
    assert fresh(api, deal, funnel)["is_lost"] is False
    assert (
        api.action("deals", deal["id"], "mark_lost", {"reason": "я" * 1000})["lost_reason"]
        == "я" * 1000
    )


def test_given_a_lost_deal_when_marked_lost_again_then_200_and_no_change(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any]
) -> None:
    deal = api.deal(contact, funnel)
    first = api.action("deals", deal["id"], "mark_lost", {"reason": "первая"})
    count = len(activities(api, deal["id"]))
    again = api.action("deals", deal["id"], "mark_lost", {"reason": "вторая"})
    assert (again["lost_reason"], again["closed_at"], again["updated_at"]) == (
        first["lost_reason"],
        first["closed_at"],
        first["updated_at"],
    )
    assert len(activities(api, deal["id"])) == count


def test_given_a_won_deal_when_marked_lost_then_409(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any]
) -> None:
    deal = api.deal(contact, funnel)
    api.action("deals", deal["id"], "mark_won")
    problem(api.post(f"deals/{deal['id']}/mark_lost/", json={"reason": "x"}), 409)
    assert fresh(api, deal, funnel)["is_won"] is True


# ----------------------------------------------------------------------------- reopen


@pytest.mark.parametrize("close", ["mark_won", "mark_lost"])
def test_given_a_closed_deal_when_reopened_then_open_with_flags_cleared(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any], close: str
) -> None:
    deal = api.deal(contact, funnel)
    api.action("deals", deal["id"], close, {"reason": "причина"} if close == "mark_lost" else {})
    before = len(activities(api, deal["id"]))
    target = stage_by_name(funnel, "Переговоры")
    got = api.action("deals", deal["id"], "reopen", {"stage_id": target["id"]})
    assert_deal_invariant(got, funnel)
    assert (got["is_won"], got["is_lost"], got["closed_at"]) == (False, False, None)
    assert not got["lost_reason"]
    assert got["stage"] == target["id"]
    assert len(activities(api, deal["id"])) > before
    # and it moves again
    assert move(api, got, funnel, "Предложение")["stage_name"] == "Предложение"


def test_given_an_open_deal_when_reopened_then_409(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any]
) -> None:
    deal = api.deal(contact, funnel)
    problem(
        api.post(
            f"deals/{deal['id']}/reopen/",
            json={"stage_id": stage_by_name(funnel, "Переговоры")["id"]},
        ),
        409,
    )


@pytest.mark.parametrize("stage_name", ["Закрыта успешно", "Закрыта неудачно"])
def test_given_a_closed_deal_when_reopened_into_a_final_stage_then_400(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any], stage_name: str
) -> None:
    deal = api.deal(contact, funnel)
    api.action("deals", deal["id"], "mark_lost", {})
    problem(
        api.post(
            f"deals/{deal['id']}/reopen/",
            json={"stage_id": stage_by_name(funnel, stage_name)["id"]},
        ),
        400,
    )
    assert fresh(api, deal, funnel)["is_lost"] is True


def test_given_a_closed_deal_when_reopened_without_a_valid_stage_then_400(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any]
) -> None:
    deal = api.deal(contact, funnel)
    api.action("deals", deal["id"], "mark_won")
    problem(api.post(f"deals/{deal['id']}/reopen/", json={"stage_id": "abc"}), 400, "stage_id")
    other = api.funnel()
    problem(
        api.post(f"deals/{deal['id']}/reopen/", json={"stage_id": other["stages"][0]["id"]}), 400
    )
    problem(api.post(f"deals/{deal['id']}/reopen/", json={"stage_id": random_id()}), 400)
    assert fresh(api, deal, funnel)["is_won"] is True


def test_given_a_long_life_of_a_deal_then_the_invariant_holds_after_every_step(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any]
) -> None:
    deal = api.deal(contact, funnel)
    open_stage = stage_by_name(funnel, "Квалификация")["id"]
    steps: list[tuple[str, dict[str, Any]]] = [
        ("move_to_stage", {"stage_id": stage_by_name(funnel, "Закрыта неудачно")["id"]}),
        ("reopen", {"stage_id": open_stage}),
        ("mark_won", {}),
        ("reopen", {"stage_id": open_stage}),
        ("mark_lost", {"reason": "r"}),
        ("reopen", {"stage_id": open_stage}),
        ("move_to_stage", {"stage_id": stage_by_name(funnel, "Закрыта успешно")["id"]}),
    ]
    for action, body in steps:
        got = api.action("deals", deal["id"], action, body)
        assert_deal_invariant(got, funnel)
        fresh(api, deal, funnel)
    assert got["is_won"] is True


# ----------------------------------------------------------------------------- list


@pytest.fixture(scope="module")
def book(api: Api, manager: Api, manager_me: dict[str, Any]) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    f1, f2 = api.funnel(name=f"D1 {tag}"), api.funnel(name=f"D2 {tag}")
    c1, c2 = api.contact(), api.contact()
    a = api.deal(
        c1,
        f1,
        title=f"Иван поставка {tag}",
        amount=300,
        expected_close_date="2026-03-10",
        description="оборудование",
    )
    b = manager.deal(
        c2,
        f1,
        title=f"Большая {tag}",
        amount=1000,
        expected_close_date="2026-04-01",
        stage=stage_by_name(f1, "Переговоры")["id"],
        description=f"для ИВАНА {tag}",
    )
    c = api.deal(c1, f2, title=f"Малая {tag}", amount="5.5", expected_close_date="2026-03-31")
    won = api.deal(c2, f2, title=f"Выиграна {tag}", amount=70)
    api.action("deals", won["id"], "mark_won")
    lost = api.deal(c2, f2, title=f"Проиграна {tag}", amount=50)
    api.action("deals", lost["id"], "mark_lost", {})
    return {
        "tag": tag,
        "f1": f1,
        "f2": f2,
        "c1": c1,
        "c2": c2,
        "a": a,
        "b": b,
        "c": c,
        "won": won,
        "lost": lost,
        "manager": manager_me,
    }


def deal_ids(api: Api, bk: dict[str, Any], **params: Any) -> set[str]:
    mine = {bk[k]["id"] for k in ("a", "b", "c", "won", "lost")}
    return set(api.ids("deals", **params)) & mine


def the(bk: dict[str, Any], *keys: str) -> set[str]:
    return {bk[k]["id"] for k in keys}


def test_given_deals_when_filtering_by_title_funnel_stage_owner_contact_then_matching(
    api: Api, book: Any
) -> None:
    bk = book
    assert deal_ids(api, bk, title="иван") == the(bk, "a")
    assert deal_ids(api, bk, funnel=bk["f1"]["id"]) == the(bk, "a", "b")
    assert deal_ids(api, bk, stage=stage_by_name(bk["f1"], "Переговоры")["id"]) == the(bk, "b")
    assert deal_ids(api, bk, owner=bk["manager"]["id"]) == the(bk, "b")
    assert deal_ids(api, bk, contact=bk["c1"]["id"]) == the(bk, "a", "c")


def test_given_deals_when_filtering_by_is_won_and_is_lost_then_matching(
    api: Api, book: Any
) -> None:
    bk = book
    assert deal_ids(api, bk, funnel=bk["f2"]["id"], is_won="true") == the(bk, "won")
    assert deal_ids(api, bk, funnel=bk["f2"]["id"], is_lost="1") == the(bk, "lost")
    assert deal_ids(api, bk, funnel=bk["f2"]["id"], is_won="false", is_lost="0") == the(bk, "c")


def test_given_deals_when_filtering_by_expected_close_date_then_exact_and_inclusive_range(
    api: Api, book: Any
) -> None:
    bk = book
    assert deal_ids(api, bk, expected_close_date="2026-03-31") == the(bk, "c")
    assert deal_ids(api, bk, expected_close_date_after="2026-03-31") == the(bk, "b", "c")
    assert deal_ids(api, bk, expected_close_date_before="2026-03-31") == the(bk, "a", "c")
    assert deal_ids(
        api, bk, expected_close_date_after="2026-03-11", expected_close_date_before="2026-03-31"
    ) == the(bk, "c")


def test_given_deals_when_filtering_by_created_at_range_then_inclusive(api: Api, book: Any) -> None:
    bk = book
    day = date.fromisoformat(bk["a"]["created_at"][:10])
    assert deal_ids(
        api,
        bk,
        funnel=bk["f1"]["id"],
        created_at_after=day.isoformat(),
        created_at_before=day.isoformat(),
    ) == the(bk, "a", "b")
    assert (
        deal_ids(
            api, bk, funnel=bk["f1"]["id"], created_at_after=(day + timedelta(days=1)).isoformat()
        )
        == set()
    )


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("is_won", "maybe"),
        ("is_lost", "yes"),
        ("funnel", "abc"),
        ("stage", "1"),
        ("owner", "x"),
        ("contact", "y"),
        ("expected_close_date", "2026-31-12"),
        ("expected_close_date_after", "tomorrow"),
        ("expected_close_date_before", "2026/01/01"),
        ("created_at_after", "x"),
    ],
)
def test_given_a_deal_filter_value_of_the_wrong_form_then_400_naming_it(
    api: Api, param: str, value: str
) -> None:
    bad_param(api.get("deals/", params={param: value}), param)


def test_given_deals_when_searching_then_title_description_and_contact_match(
    api: Api, book: Any
) -> None:
    assert deal_ids(api, book, search="поставка") == the(book, "a")  # title
    assert deal_ids(api, book, search="ИВАНА") == the(book, "b")  # description
    assert deal_ids(api, book, search="ОБОРУДОВАНИЕ") == the(book, "a")
    # [rev 2] the contact's name: every contact of the book is an «Иван»
    assert deal_ids(api, book, search="иван") == the(book, "a", "b", "c", "won", "lost")


def test_given_deals_when_ordering_then_sorted(api: Api, book: Any) -> None:
    bk = book
    amounts = [
        d["amount"] for d in api.list("deals", funnel=bk["f2"]["id"], ordering="amount")["results"]
    ]
    assert amounts == ["5.50", "50.00", "70.00"]
    amounts = [
        d["amount"] for d in api.list("deals", funnel=bk["f2"]["id"], ordering="-amount")["results"]
    ]
    assert amounts == ["70.00", "50.00", "5.50"]
    dates = [
        d["expected_close_date"]
        for d in api.list("deals", funnel=bk["f1"]["id"], ordering="-expected_close_date")[
            "results"
        ]
    ]
    assert dates == ["2026-04-01", "2026-03-10"]
    titles = [
        d["title"] for d in api.list("deals", funnel=bk["f2"]["id"], ordering="title")["results"]
    ]
    assert titles == sorted(titles)
    bad_param(api.get("deals/", params={"ordering": "probability"}), "ordering")
