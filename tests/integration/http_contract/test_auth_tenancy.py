"""Section 2 of the contract: tokens, users, roles, and one company never seeing another."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from .checks import problem, random_id
from .conftest import PASSWORD, Api, Tenants

PROTECTED = [
    "crm/funnels/",
    "crm/funnel-stages/",
    "crm/contacts/",
    "crm/leads/",
    "crm/deals/",
    "crm/activities/",
    "crm/users/",
    "crm/users/me/",
    "crm/branches/",
]


@pytest.fixture(scope="module")
def b_world(other: Api) -> dict[str, Any]:
    """Company B's records, which company A must never reach."""
    funnel = other.funnel(description="B")
    contact = other.contact(first_name="Борис", phone="+7 999 555-44-33")
    branch = other.create("branches", {"name": "Филиал B"})
    lead = other.lead(contact, funnel, title="Лид B")
    deal = other.deal(contact, funnel, title="Сделка B")
    activity = other.create(
        "activities", {"activity_type": "call", "title": "B", "contact": contact["id"]}
    )
    me = other.ok("GET", "users/me/")
    return {
        "funnels": funnel,
        "funnel-stages": funnel["stages"][0],
        "contacts": contact,
        "branches": branch,
        "leads": lead,
        "deals": deal,
        "activities": activity,
        "me": me,
    }


@pytest.fixture(scope="module")
def a_world(api: Api) -> dict[str, Any]:
    funnel = api.funnel()
    contact = api.contact(first_name="Анна")
    lead = api.lead(contact, funnel)
    return {"funnel": funnel, "contact": contact, "lead": lead}


# ----------------------------------------------------------------------------- tokens


@pytest.mark.parametrize("path", PROTECTED)
def test_given_no_token_when_calling_the_api_then_401(tenants: Tenants, path: str) -> None:
    problem(tenants.anonymous().get(f"/api/{path}"), 401)


@pytest.mark.parametrize("path", PROTECTED)
@pytest.mark.parametrize(
    "header",
    [
        "Bearer not-a-real-token",
        "Bearer",
        "Token abc",
        "Basic YWRtaW46YWRtaW4=",
        "Bearer " + "a" * 64,
    ],
)
def test_given_a_bad_token_when_calling_the_api_then_401(
    tenants: Tenants, path: str, header: str
) -> None:
    problem(tenants.anonymous().get(f"/api/{path}", headers={"Authorization": header}), 401)


def test_given_no_token_when_writing_then_401_and_nothing_is_created(
    tenants: Tenants, api: Api
) -> None:
    name = f"anon-{uuid.uuid4().hex[:8]}"
    problem(tenants.anonymous().post("/api/crm/funnels/", json={"name": name}), 401)
    assert api.list("funnels", search=name)["count"] == 0


def test_given_right_credentials_when_asking_a_token_then_it_works(tenants: Tenants) -> None:
    anon = tenants.anonymous()
    r = anon.post("/api/auth/token/", json={"email": tenants.a.admin_email, "password": PASSWORD})
    assert r.status_code in (200, 201), r.text
    token = r.json()["token"]
    assert isinstance(token, str) and len(token) >= 32
    me = tenants.client(token).ok("GET", "users/me/")
    assert me["email"] == tenants.a.admin_email
    again = anon.post(
        "/api/auth/token/", json={"email": tenants.a.admin_email, "password": PASSWORD}
    )
    assert again.json()["token"] != token, "tokens must be random"


@pytest.mark.parametrize(
    "body",
    [
        {"password": "wrong-password"},
        {"password": PASSWORD.upper()},
        {"email": "nobody@example.com"},
    ],
)
def test_given_wrong_credentials_when_asking_a_token_then_401(
    tenants: Tenants, body: dict[str, str]
) -> None:
    full = {"email": tenants.a.admin_email, "password": PASSWORD, **body}
    problem(tenants.anonymous().post("/api/auth/token/", json=full), 401)


def test_given_a_token_request_without_json_then_a_4xx_problem(tenants: Tenants) -> None:
    r = tenants.anonymous().post(
        "/api/auth/token/", content=b"{x", headers={"Content-Type": "application/json"}
    )
    problem(r, 400)


# ----------------------------------------------------------------------------- users


def test_given_a_user_when_asking_me_then_own_profile_without_secrets(
    tenants: Tenants, api: Api, manager: Api
) -> None:
    me = api.ok("GET", "users/me/")
    assert me["email"] == tenants.a.admin_email
    assert me["role"] == "admin"
    assert me["is_active"] is True
    assert {"id", "email", "full_name", "role", "is_active"} <= set(me)
    assert not any("password" in k or "hash" in k or "token" in k for k in me)
    m = manager.ok("GET", "users/me/")
    assert m["email"] == tenants.a.manager_email
    assert m["role"] == "manager"


def test_given_two_companies_when_listing_users_then_only_the_own_company(
    tenants: Tenants, api: Api, other: Api
) -> None:
    users = api.list("users")
    emails = {u["email"] for u in users["results"]}
    assert emails == {tenants.a.admin_email, tenants.a.manager_email}
    assert users["count"] == 2
    for u in users["results"]:
        assert {"id", "email", "full_name", "role", "is_active"} <= set(u)
        assert not any("password" in k or "hash" in k for k in u)
    assert {u["email"] for u in other.list("users")["results"]} == {tenants.b.admin_email}


def test_given_the_users_list_when_filtered_by_ordering_then_it_answers(api: Api) -> None:
    r = api.get("users/", params={"page_size": 1})
    assert r.status_code == 200
    assert len(r.json()["results"]) == 1
    assert r.json()["next"] is not None


def test_given_a_manager_when_managing_users_then_403(
    api: Api, manager: Api, tenants: Tenants
) -> None:
    before = api.list("users")["results"]
    new = {
        "email": f"new-{uuid.uuid4().hex[:6]}@example.com",
        "password": "x" * 12,
        "role": "manager",
        "full_name": "Новый",
    }
    admin_answer = api.post("users/", json={})
    r = manager.post("users/", json=new)
    if admin_answer.status_code == 405:
        problem(r, 405)
    else:
        problem(r, 403)
    target = next(u for u in before if u["email"] == tenants.a.admin_email)
    has_detail = api.get(f"users/{target['id']}/").status_code == 200
    for method, kw in (
        ("PATCH", {"json": {"role": "manager"}}),
        ("PUT", {"json": new}),
        ("DELETE", {}),
    ):
        r = manager.request(method, f"users/{target['id']}/", **kw)
        assert r.status_code >= 400, f"a manager changed a user: {method} {r.status_code}"
        if not has_detail:
            continue
        admin_probe = api.request(method, f"users/{random_id()}/", **kw)
        if admin_probe.status_code == 405:
            problem(r, 405)
        else:
            problem(r, 403)
    after = api.list("users")["results"]
    assert sorted((u["id"], u["role"], u["is_active"]) for u in after) == sorted(
        (u["id"], u["role"], u["is_active"]) for u in before
    )


def test_given_a_manager_then_all_crm_records_are_open_to_him(
    manager: Api, manager_me: dict[str, Any]
) -> None:
    funnel = manager.funnel()
    contact = manager.contact()
    assert contact["owner"] == manager_me["id"]
    lead = manager.lead(contact, funnel)
    deal = manager.action("leads", lead["id"], "convert_to_deal", status=201)
    manager.action("deals", deal["id"], "mark_won")
    assert manager.ok("DELETE", f"deals/{deal['id']}/", 204) is None


def test_given_an_admin_record_then_the_manager_of_the_same_company_sees_it(
    api: Api, manager: Api
) -> None:
    contact = api.contact()
    assert manager.fetch("contacts", contact["id"])["id"] == contact["id"]


# ----------------------------------------------------------------------------- tenancy

RESOURCES = ["funnels", "funnel-stages", "contacts", "branches", "leads", "deals", "activities"]


@pytest.mark.parametrize("resource", RESOURCES)
def test_given_a_record_of_company_b_when_company_a_reads_it_then_404(
    api: Api, b_world: Any, resource: str
) -> None:
    problem(api.get(f"{resource}/{b_world[resource]['id']}/"), 404)


@pytest.mark.parametrize("resource", RESOURCES)
def test_given_a_record_of_company_b_when_company_a_changes_it_then_404_and_unchanged(
    api: Api, other: Api, b_world: Any, resource: str
) -> None:
    obj = b_world[resource]
    field = {
        "funnel-stages": "name",
        "activities": "title",
        "leads": "title",
        "deals": "title",
    }.get(resource, "name")
    if resource == "contacts":
        field = "first_name"
    problem(api.patch(f"{resource}/{obj['id']}/", json={field: "Взлом"}), 404)
    problem(api.delete(f"{resource}/{obj['id']}/"), 404)
    assert other.fetch(resource, obj["id"])[field] == obj[field]


@pytest.mark.parametrize("resource", RESOURCES)
def test_given_records_of_company_b_when_company_a_lists_then_none_appears(
    api: Api, b_world: Any, resource: str
) -> None:
    assert b_world[resource]["id"] not in api.ids(resource)


def test_given_company_b_records_when_company_a_acts_on_them_then_404(
    api: Api, other: Api, b_world: Any
) -> None:
    lead, deal, funnel = b_world["leads"], b_world["deals"], b_world["funnels"]
    stage = funnel["stages"][1]["id"]
    problem(api.post(f"leads/{lead['id']}/move_to_stage/", json={"stage_id": stage}), 404)
    problem(api.post(f"leads/{lead['id']}/convert_to_deal/", json={}), 404)
    problem(api.post(f"leads/{lead['id']}/mark_lost/", json={"reason": "x"}), 404)
    problem(api.post(f"deals/{deal['id']}/move_to_stage/", json={"stage_id": stage}), 404)
    problem(api.post(f"deals/{deal['id']}/mark_won/", json={}), 404)
    problem(api.post(f"deals/{deal['id']}/mark_lost/", json={}), 404)
    problem(api.post(f"deals/{deal['id']}/reopen/", json={"stage_id": stage}), 404)
    problem(api.get(f"funnels/{funnel['id']}/statistics/"), 404)
    problem(api.get(f"contacts/{b_world['contacts']['id']}/timeline/"), 404)
    assert other.fetch("leads", lead["id"])["status"] == "open"
    assert other.fetch("deals", deal["id"])["is_won"] is False


def test_given_a_filter_by_a_foreign_id_then_nothing_of_company_b_is_revealed(
    api: Api, b_world: Any
) -> None:
    for resource, param, value in (
        ("leads", "funnel", b_world["funnels"]["id"]),
        ("leads", "contact", b_world["contacts"]["id"]),
        ("deals", "funnel", b_world["funnels"]["id"]),
        ("activities", "contact", b_world["contacts"]["id"]),
        ("funnel-stages", "funnel", b_world["funnels"]["id"]),
        ("contacts", "owner", b_world["me"]["id"]),
    ):
        r = api.get(f"{resource}/", params={param: value})
        assert r.status_code in (200, 400), r.text
        if r.status_code == 200:
            assert r.json()["results"] == [], f"{resource}?{param} reveals company B"
        else:
            problem(r, 400)


@pytest.mark.parametrize(
    ("resource", "field"),
    [
        ("leads", "contact"),
        ("leads", "funnel"),
        ("leads", "stage"),
        ("leads", "owner"),
        ("deals", "contact"),
        ("deals", "funnel"),
        ("deals", "stage"),
        ("deals", "owner"),
        ("deals", "lead"),
        ("contacts", "branch"),
        ("contacts", "owner"),
        ("funnel-stages", "funnel"),
        ("activities", "contact"),
        ("activities", "lead"),
        ("activities", "deal"),
    ],
)
@pytest.mark.parametrize("whose", ["company_b", "nonexistent"])
def test_given_a_foreign_or_unknown_id_in_a_body_then_400_naming_the_field(
    api: Api, a_world: Any, b_world: Any, resource: str, field: str, whose: str
) -> None:
    foreign = {
        "contact": b_world["contacts"]["id"],
        "funnel": b_world["funnels"]["id"],
        "stage": b_world["funnel-stages"]["id"],
        "owner": b_world["me"]["id"],
        "lead": b_world["leads"]["id"],
        "deal": b_world["deals"]["id"],
        "branch": b_world["branches"]["id"],
    }[field]
    if whose == "nonexistent":
        foreign = random_id()
    marker = f"foreign-{uuid.uuid4().hex[:8]}"
    valid = {
        "leads": {
            "contact": a_world["contact"]["id"],
            "funnel": a_world["funnel"]["id"],
            "title": marker,
        },
        "deals": {
            "contact": a_world["contact"]["id"],
            "funnel": a_world["funnel"]["id"],
            "title": marker,
        },
        "contacts": {"first_name": marker, "email": f"{marker}@example.com"},
        "funnel-stages": {"funnel": a_world["funnel"]["id"], "name": marker},
        "activities": {"activity_type": "note", "title": marker},
    }[resource]
    problem(api.post(f"{resource}/", json={**valid, field: foreign}), 400, field)
    search_param = {"contacts": "search", "leads": "search", "deals": "search"}.get(resource)
    if search_param:
        assert api.list(resource, search=marker)["count"] == 0


def test_given_a_foreign_id_in_a_patch_then_400_and_unchanged(
    api: Api, a_world: Any, b_world: Any
) -> None:
    lead = a_world["lead"]
    problem(
        api.patch(f"leads/{lead['id']}/", json={"contact": b_world["contacts"]["id"]}),
        400,
        "contact",
    )
    problem(api.patch(f"leads/{lead['id']}/", json={"owner": b_world["me"]["id"]}), 400, "owner")
    contact = a_world["contact"]
    problem(
        api.patch(f"contacts/{contact['id']}/", json={"branch": b_world["branches"]["id"]}),
        400,
        "branch",
    )
    fresh = api.fetch("leads", lead["id"])
    assert fresh["contact"] == a_world["contact"]["id"]


def test_given_a_foreign_stage_in_an_action_then_400(api: Api, a_world: Any, b_world: Any) -> None:
    lead = a_world["lead"]
    problem(
        api.post(
            f"leads/{lead['id']}/move_to_stage/", json={"stage_id": b_world["funnel-stages"]["id"]}
        ),
        400,
    )
    problem(api.post(f"leads/{lead['id']}/move_to_stage/", json={"stage_id": random_id()}), 400)
    assert api.fetch("leads", lead["id"])["stage"] == lead["stage"]


def test_given_a_company_in_a_body_then_it_is_ignored(
    api: Api, other: Api, b_world: Any, tenants: Tenants
) -> None:
    b_company = b_world["funnels"]["company"]
    mine = api.funnel()
    a_company = mine["company"]
    assert a_company != b_company
    assert mine["company_name"] == tenants.a.company
    assert b_world["funnels"]["company_name"] == tenants.b.company
    created = api.funnel(company=b_company, company_name="Чужая")
    assert created["company"] == a_company
    assert created["company_name"] == tenants.a.company
    problem(other.get(f"funnels/{created['id']}/"), 404)
    contact = api.contact(company=b_company)
    assert contact["company"] == a_company
    problem(other.get(f"contacts/{contact['id']}/"), 404)
    patched = api.ok("PATCH", f"funnels/{mine['id']}/", json={"company": b_company})
    assert patched["company"] == a_company
    problem(other.get(f"funnels/{mine['id']}/"), 404)
    assert other.fetch("funnels", b_world["funnels"]["id"])["company"] == b_company
