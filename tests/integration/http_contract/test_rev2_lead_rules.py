"""[rev 2] Section 3, Leads and Deals: a lead's stage and status agree at every moment; a
closed lead keeps its contact, funnel and stage; a deal's contact is its lead's contact."""

from __future__ import annotations

from typing import Any

import pytest

from .checks import parse_ts, problem, stage_by_name
from .conftest import Api

FINALS = ["Закрыта успешно", "Закрыта неудачно"]


@pytest.fixture()
def funnel(api: Api) -> dict[str, Any]:
    return api.funnel()


@pytest.fixture()
def contact(api: Api) -> dict[str, Any]:
    return api.contact(first_name="Лид", last_name="Правилов")


def stage_changes(api: Api, lead_id: str) -> list[dict[str, Any]]:
    page = api.list("activities", lead=lead_id, activity_type="stage_change", page_size=500)
    results: list[dict[str, Any]] = page["results"]
    return results


def closed_lead(
    api: Api, contact: dict[str, Any], funnel: dict[str, Any], state: str
) -> dict[str, Any]:
    lead = api.lead(contact, funnel, title="Закрытый", estimated_value=100, source="сайт")
    if state == "converted":
        api.action("leads", lead["id"], "convert_to_deal", status=201)
    else:
        api.action("leads", lead["id"], "mark_lost", {"reason": "нет бюджета"})
    after = api.fetch("leads", lead["id"])
    assert after["status"] == state
    return after


# ----------------------------------------------------------------------------- moves


def test_given_an_open_lead_when_moved_to_the_final_failure_stage_then_lost_with_closed_at(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any]
) -> None:
    lead = api.lead(contact, funnel)
    target = stage_by_name(funnel, "Закрыта неудачно")
    got = api.action("leads", lead["id"], "move_to_stage", {"stage_id": target["id"]})
    assert (got["stage"], got["status"]) == (target["id"], "lost")
    parse_ts(got["closed_at"])
    after = api.fetch("leads", lead["id"])
    assert (after["stage"], after["status"]) == (target["id"], "lost")
    assert after["closed_at"] == got["closed_at"]
    changes = stage_changes(api, lead["id"])
    assert len(changes) == 1
    assert "Новый лид" in changes[0]["description"]
    assert "Закрыта неудачно" in changes[0]["description"]


def test_given_an_open_lead_when_moved_to_the_final_success_stage_then_409_and_unchanged(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any]
) -> None:
    lead = api.lead(contact, funnel)
    target = stage_by_name(funnel, "Закрыта успешно")
    body = problem(
        api.post(f"leads/{lead['id']}/move_to_stage/", json={"stage_id": target["id"]}), 409
    )
    assert body["detail"]
    after = api.fetch("leads", lead["id"])
    assert (after["stage"], after["status"], after["closed_at"]) == (lead["stage"], "open", None)
    assert stage_changes(api, lead["id"]) == []


@pytest.mark.parametrize("final", FINALS)
def test_given_a_final_stage_when_creating_a_lead_then_400_on_stage(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any], final: str
) -> None:
    body = {
        "contact": contact["id"],
        "funnel": funnel["id"],
        "title": "В финал",
        "stage": stage_by_name(funnel, final)["id"],
    }
    problem(api.post("leads/", json=body), 400, "stage")
    assert api.list("leads", contact=contact["id"])["count"] == 0


@pytest.mark.parametrize("final", FINALS)
def test_given_a_final_stage_when_patching_a_lead_then_400_on_stage_and_unchanged(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any], final: str
) -> None:
    lead = api.lead(contact, funnel)
    target = stage_by_name(funnel, final)
    problem(api.patch(f"leads/{lead['id']}/", json={"stage": target["id"]}), 400, "stage")
    after = api.fetch("leads", lead["id"])
    assert (after["stage"], after["status"]) == (lead["stage"], "open")
    assert stage_changes(api, lead["id"]) == []


@pytest.mark.parametrize("final", FINALS)
def test_given_a_final_stage_when_putting_a_lead_then_400_on_stage_and_unchanged(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any], final: str
) -> None:
    lead = api.lead(contact, funnel)
    body = {
        "contact": contact["id"],
        "funnel": funnel["id"],
        "title": "В финал",
        "stage": stage_by_name(funnel, final)["id"],
    }
    problem(api.put(f"leads/{lead['id']}/", json=body), 400, "stage")
    after = api.fetch("leads", lead["id"])
    assert (after["stage"], after["status"], after["title"]) == (
        lead["stage"],
        "open",
        lead["title"],
    )


@pytest.mark.parametrize("final", FINALS)
def test_given_a_final_stage_of_another_funnel_when_patching_funnel_and_stage_then_400(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any], final: str
) -> None:
    lead = api.lead(contact, funnel)
    other = api.funnel()
    body = {"funnel": other["id"], "stage": stage_by_name(other, final)["id"]}
    problem(api.patch(f"leads/{lead['id']}/", json=body), 400, "stage")
    assert api.fetch("leads", lead["id"])["funnel"] == funnel["id"]


# ----------------------------------------------------------------------------- mark_lost


def test_given_several_failure_stages_when_marked_lost_then_moved_to_the_lowest_order(
    api: Api, contact: dict[str, Any]
) -> None:
    funnel = api.funnel(
        stages=[
            {"name": "Новый", "order": 1},
            {"name": "Работа", "order": 2},
            {"name": "Отказ поздний", "order": 9, "is_final": True},
            {"name": "Успех", "order": 5, "is_final": True, "is_success": True},
            {"name": "Отказ ранний", "order": 7, "is_final": True},
        ]
    )
    lead = api.lead(contact, funnel)
    got = api.action("leads", lead["id"], "mark_lost", {"reason": "дорого"})
    early = stage_by_name(funnel, "Отказ ранний")
    assert (got["status"], got["stage"], got["stage_name"]) == ("lost", early["id"], "Отказ ранний")
    parse_ts(got["closed_at"])
    parse_ts(got["stage_changed_at"])
    assert api.fetch("leads", lead["id"])["stage"] == early["id"]
    changes = stage_changes(api, lead["id"])
    assert len(changes) == 1
    assert "Новый" in changes[0]["description"]
    assert "Отказ ранний" in changes[0]["description"]


def test_given_the_default_stages_when_marked_lost_then_in_zakryta_neudachno(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any]
) -> None:
    lead = api.lead(contact, funnel, stage=stage_by_name(funnel, "Переговоры")["id"])
    got = api.action("leads", lead["id"], "mark_lost", {})
    assert (got["status"], got["stage_name"]) == ("lost", "Закрыта неудачно")
    changes = stage_changes(api, lead["id"])
    assert len(changes) == 1
    assert "Переговоры" in changes[0]["description"]
    assert "Закрыта неудачно" in changes[0]["description"]


def test_given_no_failure_stage_when_marked_lost_then_lost_where_it_stands(
    api: Api, contact: dict[str, Any]
) -> None:
    funnel = api.funnel(
        stages=[
            {"name": "Новый", "order": 1},
            {"name": "Успех", "order": 2, "is_final": True, "is_success": True},
        ]
    )
    lead = api.lead(contact, funnel)
    got = api.action("leads", lead["id"], "mark_lost", {"reason": "нет"})
    assert (got["status"], got["stage"]) == ("lost", lead["stage"])
    parse_ts(got["closed_at"])
    assert stage_changes(api, lead["id"]) == []


# ----------------------------------------------------------------------------- closed leads


@pytest.mark.parametrize("state", ["converted", "lost"])
def test_given_a_closed_lead_when_changing_its_contact_then_409_and_unchanged(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any], state: str
) -> None:
    lead = closed_lead(api, contact, funnel, state)
    someone = api.contact()
    problem(api.patch(f"leads/{lead['id']}/", json={"contact": someone["id"]}), 409)
    assert api.fetch("leads", lead["id"])["contact"] == contact["id"]


@pytest.mark.parametrize("state", ["converted", "lost"])
def test_given_a_closed_lead_when_changing_its_funnel_then_409_and_unchanged(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any], state: str
) -> None:
    lead = closed_lead(api, contact, funnel, state)
    other = api.funnel()
    body = {"funnel": other["id"], "stage": stage_by_name(other, "Квалификация")["id"]}
    problem(api.patch(f"leads/{lead['id']}/", json=body), 409)
    after = api.fetch("leads", lead["id"])
    assert (after["funnel"], after["stage"]) == (funnel["id"], lead["stage"])


@pytest.mark.parametrize("state", ["converted", "lost"])
def test_given_a_closed_lead_when_changing_its_stage_then_409_and_unchanged(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any], state: str
) -> None:
    lead = closed_lead(api, contact, funnel, state)
    target = stage_by_name(funnel, "Квалификация")
    problem(api.patch(f"leads/{lead['id']}/", json={"stage": target["id"]}), 409)
    after = api.fetch("leads", lead["id"])
    assert (after["stage"], after["status"]) == (lead["stage"], state)


@pytest.mark.parametrize("state", ["converted", "lost"])
@pytest.mark.parametrize(
    ("field", "value", "returned"),
    [
        ("title", "Новое название", "Новое название"),
        ("description", "Новое описание", "Новое описание"),
        ("source", "звонок", "звонок"),
        ("estimated_value", "777.70", "777.70"),
        ("owner", "manager", "manager"),
    ],
)
def test_given_a_closed_lead_when_changing_a_free_field_then_200_and_kept(
    api: Api,
    funnel: dict[str, Any],
    contact: dict[str, Any],
    manager_me: dict[str, Any],
    state: str,
    field: str,
    value: str,
    returned: str,
) -> None:
    lead = closed_lead(api, contact, funnel, state)
    if field == "owner":
        value = returned = manager_me["id"]
    got = api.ok("PATCH", f"leads/{lead['id']}/", json={field: value})
    assert got[field] == returned
    after = api.fetch("leads", lead["id"])
    assert after[field] == returned
    assert (after["status"], after["stage"], after["contact"], after["funnel"]) == (
        state,
        lead["stage"],
        contact["id"],
        funnel["id"],
    )
    assert after["closed_at"] == lead["closed_at"]


@pytest.mark.parametrize("state", ["converted", "lost"])
def test_given_a_closed_lead_when_put_with_the_same_contact_funnel_stage_then_200(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any], state: str
) -> None:
    lead = closed_lead(api, contact, funnel, state)
    body = {
        "contact": contact["id"],
        "funnel": funnel["id"],
        "stage": lead["stage"],
        "title": "Переименован",
        "estimated_value": "5.00",
    }
    got = api.ok("PUT", f"leads/{lead['id']}/", json=body)
    assert (got["title"], got["estimated_value"], got["status"], got["stage"]) == (
        "Переименован",
        "5.00",
        state,
        lead["stage"],
    )


# ----------------------------------------------------------------------------- a deal's contact


def test_given_a_deal_with_a_lead_when_changing_its_contact_alone_then_400_on_contact(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any]
) -> None:
    lead = api.lead(contact, funnel)
    deal = api.action("leads", lead["id"], "convert_to_deal", status=201)
    someone = api.contact()
    problem(api.patch(f"deals/{deal['id']}/", json={"contact": someone["id"]}), 400, "contact")
    assert api.fetch("deals", deal["id"])["contact"] == contact["id"]


def test_given_a_deal_with_a_lead_when_put_with_another_contact_then_400_on_contact(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any]
) -> None:
    lead = api.lead(contact, funnel)
    deal = api.action("leads", lead["id"], "convert_to_deal", status=201)
    someone = api.contact()
    body = {
        "lead": lead["id"],
        "contact": someone["id"],
        "funnel": funnel["id"],
        "stage": deal["stage"],
        "title": deal["title"],
    }
    problem(api.put(f"deals/{deal['id']}/", json=body), 400, "contact")
    assert api.fetch("deals", deal["id"])["contact"] == contact["id"]


def test_given_a_lead_of_another_contact_when_creating_a_deal_then_400(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any]
) -> None:
    lead = api.lead(contact, funnel)
    someone = api.contact()
    body = {"lead": lead["id"], "contact": someone["id"], "funnel": funnel["id"], "title": "x"}
    errors = problem(api.post("deals/", json=body), 400)["errors"]
    assert "contact" in errors or "lead" in errors, errors  # either names the disagreement


def test_given_a_deal_without_a_lead_when_changing_its_contact_then_200(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any]
) -> None:
    deal = api.deal(contact, funnel)
    someone = api.contact()
    got = api.ok("PATCH", f"deals/{deal['id']}/", json={"contact": someone["id"]})
    assert got["contact"] == someone["id"]
