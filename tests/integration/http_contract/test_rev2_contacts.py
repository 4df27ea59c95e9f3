"""[rev 2] Section 3, Contacts: telegram is a channel; a contact with leads or deals is not
deleted (409), one with only activities is, and its activities go with it."""

from __future__ import annotations

from typing import Any

import pytest

from .checks import problem
from .conftest import Api


@pytest.fixture()
def funnel(api: Api) -> dict[str, Any]:
    return api.funnel()


def note(api: Api, contact: dict[str, Any], **kw: Any) -> dict[str, Any]:
    body = {"activity_type": "note", "title": "Заметка", "contact": contact["id"], **kw}
    return api.create("activities", body)


# ----------------------------------------------------------------------------- telegram


def test_given_only_a_first_name_and_telegram_when_creating_a_contact_then_201(
    api: Api,
) -> None:
    r = api.post("contacts/", json={"first_name": "Телеграм", "telegram": "ivan_petrov"})
    assert r.status_code == 201, r.text
    contact = r.json()
    assert contact["telegram"] == "ivan_petrov"
    assert api.fetch("contacts", contact["id"])["telegram"] == "ivan_petrov"


# ----------------------------------------------------------------------------- delete


def test_given_a_contact_with_a_lead_when_deleted_then_409_and_both_stay(
    api: Api, funnel: dict[str, Any]
) -> None:
    contact = api.contact()
    lead = api.lead(contact, funnel)
    body = problem(api.delete(f"contacts/{contact['id']}/"), 409)
    assert "is_active" in body["detail"], body
    assert api.fetch("contacts", contact["id"])["id"] == contact["id"]
    assert api.fetch("leads", lead["id"])["contact"] == contact["id"]


def test_given_a_contact_with_a_deal_when_deleted_then_409_and_both_stay(
    api: Api, funnel: dict[str, Any]
) -> None:
    contact = api.contact()
    deal = api.deal(contact, funnel)
    body = problem(api.delete(f"contacts/{contact['id']}/"), 409)
    assert "is_active" in body["detail"], body
    assert api.fetch("contacts", contact["id"])["id"] == contact["id"]
    assert api.fetch("deals", deal["id"])["contact"] == contact["id"]


@pytest.mark.parametrize("state", ["won", "lost"])
def test_given_a_contact_with_a_closed_deal_when_deleted_then_409(
    api: Api, funnel: dict[str, Any], state: str
) -> None:
    contact = api.contact()
    deal = api.deal(contact, funnel, amount=100)
    if state == "won":
        api.action("deals", deal["id"], "mark_won")
    else:
        api.action("deals", deal["id"], "mark_lost", {"reason": "дорого"})
    problem(api.delete(f"contacts/{contact['id']}/"), 409)
    assert api.fetch("deals", deal["id"])["amount"] == "100.00"


@pytest.mark.parametrize("state", ["converted", "lost"])
def test_given_a_contact_with_a_closed_lead_when_deleted_then_409(
    api: Api, funnel: dict[str, Any], state: str
) -> None:
    contact = api.contact()
    lead = api.lead(contact, funnel)
    if state == "converted":
        api.action("leads", lead["id"], "convert_to_deal", status=201)
    else:
        api.action("leads", lead["id"], "mark_lost", {"reason": "нет"})
    problem(api.delete(f"contacts/{contact['id']}/"), 409)
    assert api.fetch("leads", lead["id"])["status"] == state


def test_given_a_contact_with_only_activities_when_deleted_then_204_and_they_are_gone(
    api: Api,
) -> None:
    contact = api.contact()
    first = note(api, contact)
    second = note(api, contact, activity_type="call", title="Звонок")
    r = api.delete(f"contacts/{contact['id']}/")
    assert r.status_code == 204, r.text
    problem(api.get(f"contacts/{contact['id']}/"), 404)
    problem(api.get(f"activities/{first['id']}/"), 404)
    problem(api.get(f"activities/{second['id']}/"), 404)
    assert api.list("activities", contact=contact["id"])["count"] == 0


def test_given_a_contact_whose_lead_and_deal_were_deleted_when_deleted_then_204(
    api: Api, funnel: dict[str, Any]
) -> None:
    contact = api.contact()
    lead = api.lead(contact, funnel)
    deal = api.deal(contact, funnel)
    problem(api.delete(f"contacts/{contact['id']}/"), 409)
    assert api.delete(f"leads/{lead['id']}/").status_code == 204
    problem(api.delete(f"contacts/{contact['id']}/"), 409)
    assert api.delete(f"deals/{deal['id']}/").status_code == 204
    r = api.delete(f"contacts/{contact['id']}/")
    assert r.status_code == 204, r.text
    problem(api.get(f"contacts/{contact['id']}/"), 404)


def test_given_a_contact_with_a_lead_when_deactivated_instead_then_200(
    api: Api, funnel: dict[str, Any]
) -> None:
    contact = api.contact()
    api.lead(contact, funnel)
    got = api.ok("PATCH", f"contacts/{contact['id']}/", json={"is_active": False})
    assert got["is_active"] is False
