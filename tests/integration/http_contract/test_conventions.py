"""Section 1 of the contract: paths, JSON bodies, ids, lists, errors; and the service endpoints."""

from __future__ import annotations

import json
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from .checks import assert_no_leak, bad_param, parse_ts, problem, random_id
from .conftest import Api, Tenants

LISTS = [
    "funnels",
    "funnel-stages",
    "contacts",
    "leads",
    "deals",
    "activities",
    "users",
    "branches",
]
DETAILS = ["funnels", "funnel-stages", "contacts", "leads", "deals", "activities", "branches"]


@pytest.fixture(scope="module")
def world(api: Api) -> dict[str, Any]:
    """One object of each kind, for the detail-path checks."""
    funnel = api.funnel()
    contact = api.contact(phone="+7 999 000-00-01")
    lead = api.lead(contact, funnel)
    deal = api.deal(contact, funnel)
    activity = api.create(
        "activities", {"activity_type": "note", "title": "x", "contact": contact["id"]}
    )
    branch = api.create("branches", {"name": "Центральный", "address": "Москва"})
    stage = funnel["stages"][0]
    return {
        "funnels": funnel,
        "funnel-stages": stage,
        "contacts": contact,
        "leads": lead,
        "deals": deal,
        "activities": activity,
        "branches": branch,
    }


# ----------------------------------------------------------------------------- service endpoints


def test_given_no_token_when_health_is_asked_then_status_and_database_are_ok(
    tenants: Tenants,
) -> None:
    r = tenants.anonymous().get("/api/health/")
    assert r.status_code == 200
    body = r.json()
    assert (body["status"], body["database"]) == ("ok", "ok")
    # the jobs backlog beside them (issue 11): the server runs the embedded `db` mode
    assert body["jobs"] == {"mode": "db", "due": body["jobs"]["due"], "dead": 0}
    assert body["broker"] is None


def test_given_no_token_when_openapi_is_asked_then_a_valid_openapi_3_document_lists_every_path(
    tenants: Tenants,
) -> None:
    r = tenants.anonymous().get("/api/openapi.json")
    assert r.status_code == 200, r.text[:500]
    doc = r.json()
    assert str(doc.get("openapi", "")).startswith("3."), doc.get("openapi")
    from openapi_spec_validator import validate

    validate(doc)
    prefix = ""
    servers = doc.get("servers") or []
    if servers and not any(p.startswith("/api/") for p in doc["paths"]):
        prefix = urlparse(servers[0]["url"]).path.rstrip("/")
    documented = {re.sub(r"\{[^}]*\}", "{}", prefix + p) for p in doc["paths"]}
    needed = {
        "/api/health/",
        "/api/auth/token/",
        "/api/crm/users/",
        "/api/crm/users/me/",
        "/api/crm/branches/",
        "/api/crm/branches/{}/",
        "/api/crm/funnels/",
        "/api/crm/funnels/{}/",
        "/api/crm/funnels/{}/statistics/",
        "/api/crm/funnel-stages/",
        "/api/crm/funnel-stages/{}/",
        "/api/crm/contacts/",
        "/api/crm/contacts/{}/",
        "/api/crm/contacts/{}/timeline/",
        "/api/crm/leads/",
        "/api/crm/leads/{}/",
        "/api/crm/leads/{}/move_to_stage/",
        "/api/crm/leads/{}/convert_to_deal/",
        "/api/crm/leads/{}/mark_lost/",
        "/api/crm/deals/",
        "/api/crm/deals/{}/",
        "/api/crm/deals/{}/move_to_stage/",
        "/api/crm/deals/{}/mark_won/",
        "/api/crm/deals/{}/mark_lost/",
        "/api/crm/deals/{}/reopen/",
        "/api/crm/activities/",
        "/api/crm/activities/{}/",
    }
    missing = sorted(needed - documented)
    assert not missing, f"paths missing from the OpenAPI document: {missing}"


def test_given_no_token_when_docs_are_asked_then_an_html_page_answers(tenants: Tenants) -> None:
    r = tenants.anonymous().get("/api/docs/", follow_redirects=True)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "<html" in r.text.lower()


# ----------------------------------------------------------------------------- lists


@pytest.mark.parametrize("resource", LISTS)
def test_given_a_list_when_asked_then_it_is_the_pagination_envelope(
    api: Api, world: Any, resource: str
) -> None:
    body = api.list(resource)
    assert set(body) >= {"count", "next", "previous", "results"}
    assert isinstance(body["count"], int) and body["count"] >= 1
    assert isinstance(body["results"], list) and len(body["results"]) == min(body["count"], 50)
    assert body["previous"] is None


@pytest.mark.parametrize("resource", LISTS)
@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("page", "0"),
        ("page", "abc"),
        ("page", "-1"),
        ("page_size", "0"),
        ("page_size", "abc"),
        ("page_size", "-5"),
    ],
)
def test_given_a_list_when_page_or_page_size_is_not_a_positive_integer_then_400(
    api: Api, resource: str, param: str, value: str
) -> None:
    bad_param(api.get(f"{resource}/", params={param: value}), param)


@pytest.mark.parametrize("resource", LISTS)
def test_given_a_list_when_ordering_by_an_unknown_field_then_400(api: Api, resource: str) -> None:
    bad_param(api.get(f"{resource}/", params={"ordering": "no_such_field"}), "ordering")


@pytest.mark.parametrize("resource", LISTS)
def test_given_a_list_when_page_is_past_the_end_then_404(
    api: Api, world: Any, resource: str
) -> None:
    problem(api.get(f"{resource}/", params={"page": 999}), 404)


@pytest.mark.parametrize("resource", ["funnels", "contacts", "leads", "deals"])
def test_given_an_empty_result_when_page_1_is_asked_then_200_and_page_2_is_404(
    api: Api, resource: str
) -> None:
    nothing = f"nothing-{uuid.uuid4().hex}"
    body = api.list(resource, search=nothing)
    assert body == {"count": 0, "next": None, "previous": None, "results": []}
    problem(api.get(f"{resource}/", params={"search": nothing, "page": 2}), 404)


@pytest.mark.parametrize("resource", LISTS)
def test_given_a_list_when_an_unknown_query_parameter_is_sent_then_it_is_ignored(
    api: Api, resource: str
) -> None:
    assert api.get(f"{resource}/", params={"no_such_param": "x"}).status_code == 200


def test_given_five_contacts_when_paging_by_two_then_links_walk_every_item_once(api: Api) -> None:
    source = f"paging-{uuid.uuid4().hex[:8]}"
    created = [api.contact(source=source)["id"] for _ in range(5)]
    first = api.list("contacts", source=source, page_size=2)
    assert first["count"] == 5
    assert len(first["results"]) == 2
    assert first["previous"] is None
    assert first["next"] is not None
    query = parse_qs(urlparse(first["next"]).query)
    assert query["page"] == ["2"]
    assert query.get("page_size") == ["2"]
    assert query.get("source") == [source], "the next link must keep the filters"
    seen = [item["id"] for item in first["results"]]
    url: str | None = first["next"]
    pages = 1
    while url:
        r = api.get(url)
        assert r.status_code == 200, r.text
        page = r.json()
        assert page["previous"] is not None
        seen += [item["id"] for item in page["results"]]
        url = page["next"]
        pages += 1
    assert pages == 3
    assert len(seen) == len(set(seen)) == 5
    assert set(seen) == set(created)
    # newest first by default
    assert seen == list(reversed(created))


def test_given_501_activities_when_page_size_is_above_500_then_it_is_clamped_to_500(
    api: Api,
) -> None:
    contact = api.contact()
    body = {"activity_type": "note", "title": "заметка", "contact": contact["id"]}

    def make(_: int) -> int:
        return api.post("activities/", json=body).status_code

    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = list(pool.map(make, range(501)))
    assert statuses == [201] * 501
    page = api.list("activities", contact=contact["id"], page_size=1000)
    assert page["count"] == 501
    assert len(page["results"]) == 500
    assert page["next"] is not None
    assert parse_qs(urlparse(page["next"]).query).get("page_size") in (None, ["500"])
    rest = api.get(page["next"]).json()
    assert len(rest["results"]) == 1
    ids = {a["id"] for a in page["results"]} | {a["id"] for a in rest["results"]}
    assert len(ids) == 501


def test_given_a_list_when_page_size_is_not_given_then_it_is_50(api: Api) -> None:
    source = f"fifty-{uuid.uuid4().hex[:8]}"
    for _ in range(51):
        api.contact(source=source)
    page = api.list("contacts", source=source)
    assert page["count"] == 51
    assert len(page["results"]) == 50
    assert page["next"] is not None


# ----------------------------------------------------------------------------- paths


@pytest.mark.parametrize("resource", LISTS)
def test_given_a_list_path_without_the_slash_then_same_answer_or_308(
    api: Api, world: Any, resource: str
) -> None:
    r = api.get(f"/api/crm/{resource}")
    assert r.status_code in (200, 308), r.status_code
    if r.status_code == 308:
        assert urlparse(r.headers["location"]).path == f"/api/crm/{resource}/"
    else:
        assert r.json()["count"] == api.list(resource)["count"]


@pytest.mark.parametrize("resource", DETAILS)
def test_given_a_detail_path_without_the_slash_then_same_answer_or_308(
    api: Api, world: Any, resource: str
) -> None:
    obj = world[resource]
    r = api.get(f"/api/crm/{resource}/{obj['id']}")
    assert r.status_code in (200, 308), r.status_code
    if r.status_code == 308:
        assert urlparse(r.headers["location"]).path == f"/api/crm/{resource}/{obj['id']}/"
    else:
        assert r.json()["id"] == obj["id"]


def test_given_a_post_without_the_slash_then_created_or_308_and_following_it_creates(
    api: Api,
) -> None:
    body = {"first_name": "Без", "email": f"{uuid.uuid4().hex[:8]}@example.com"}
    r = api.post("/api/crm/contacts", json=body)
    assert r.status_code in (201, 308), r.status_code
    if r.status_code == 308:
        r = api.post(r.headers["location"], json=body)
        assert r.status_code == 201
    assert r.json()["email"] == body["email"]


def test_given_an_action_path_without_the_slash_then_same_answer_or_308(api: Api) -> None:
    funnel = api.funnel()
    lead = api.lead(api.contact(), funnel)
    stage = funnel["stages"][1]["id"]
    r = api.post(f"/api/crm/leads/{lead['id']}/move_to_stage", json={"stage_id": stage})
    assert r.status_code in (200, 308), r.text
    if r.status_code == 308:
        r = api.post(r.headers["location"], json={"stage_id": stage})
        assert r.status_code == 200
    assert api.fetch("leads", lead["id"])["stage"] == stage


@pytest.mark.parametrize("resource", DETAILS)
@pytest.mark.parametrize("bad_id", ["abc", "123", "00000000-0000-0000-0000-00000000000z"])
def test_given_a_path_id_that_is_not_a_uuid_then_404(api: Api, resource: str, bad_id: str) -> None:
    problem(api.get(f"{resource}/{bad_id}/"), 404)
    problem(api.patch(f"{resource}/{bad_id}/", json={}), 404)
    problem(api.delete(f"{resource}/{bad_id}/"), 404)


@pytest.mark.parametrize("resource", DETAILS)
def test_given_an_unknown_uuid_then_404(api: Api, resource: str) -> None:
    problem(api.get(f"{resource}/{random_id()}/"), 404)
    problem(api.delete(f"{resource}/{random_id()}/"), 404)


@pytest.mark.parametrize(
    "path",
    [
        "leads/{}/move_to_stage/",
        "leads/{}/convert_to_deal/",
        "leads/{}/mark_lost/",
        "deals/{}/move_to_stage/",
        "deals/{}/mark_won/",
        "deals/{}/mark_lost/",
        "deals/{}/reopen/",
    ],
)
def test_given_an_action_on_a_non_uuid_or_unknown_id_then_404(api: Api, path: str) -> None:
    problem(api.post(path.format("abc"), json={}), 404)
    problem(api.post(path.format(random_id()), json={"stage_id": random_id()}), 404)


def test_given_non_uuid_ids_for_other_paths_then_404(api: Api) -> None:
    problem(api.get("funnels/abc/statistics/"), 404)
    problem(api.get("contacts/abc/timeline/"), 404)
    problem(api.get(f"funnels/{random_id()}/statistics/"), 404)
    problem(api.get(f"contacts/{random_id()}/timeline/"), 404)


def test_given_an_unknown_path_then_404_problem(api: Api) -> None:
    problem(api.get("no-such-resource/"), 404)


def test_given_a_method_not_allowed_then_405_problem(api: Api) -> None:
    problem(api.put("contacts/", json={"first_name": "x"}), 405)
    problem(api.delete("funnels/"), 405)
    problem(api.get(f"leads/{random_id()}/move_to_stage/"), 405)
    problem(api.get(f"deals/{random_id()}/mark_won/"), 405)


# ----------------------------------------------------------------------------- bodies


@pytest.mark.parametrize(
    "resource", ["funnels", "contacts", "leads", "deals", "activities", "branches"]
)
@pytest.mark.parametrize("raw", ['{"name": ', "not json at all", "{'single': 'quotes'}"])
def test_given_a_body_that_is_not_json_when_creating_then_400(
    api: Api, resource: str, raw: str
) -> None:
    r = api.post(f"{resource}/", content=raw.encode(), headers={"Content-Type": "application/json"})
    problem(r, 400)


@pytest.mark.parametrize(
    "resource", ["funnels", "contacts", "leads", "deals", "activities", "branches"]
)
@pytest.mark.parametrize("payload", [[], ["a"], "text", 42, None, True])
def test_given_a_json_body_that_is_not_an_object_when_creating_then_400(
    api: Api, resource: str, payload: Any
) -> None:
    r = api.post(
        f"{resource}/",
        content=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
    )
    problem(r, 400)


@pytest.mark.parametrize("resource", DETAILS)
def test_given_a_json_body_that_is_not_an_object_when_patching_or_putting_then_400(
    api: Api, world: Any, resource: str
) -> None:
    path = f"{resource}/{world[resource]['id']}/"
    problem(api.patch(path, content=b"[1, 2]", headers={"Content-Type": "application/json"}), 400)
    problem(api.put(path, content=b'"x"', headers={"Content-Type": "application/json"}), 400)
    problem(api.patch(path, content=b"{nope", headers={"Content-Type": "application/json"}), 400)


def test_given_an_action_body_that_is_not_an_object_then_400(api: Api, world: Any) -> None:
    lead = world["leads"]
    r = api.post(
        f"leads/{lead['id']}/move_to_stage/",
        content=b"[]",
        headers={"Content-Type": "application/json"},
    )
    problem(r, 400)
    r = api.post(
        f"leads/{lead['id']}/move_to_stage/",
        content=b"{bad",
        headers={"Content-Type": "application/json"},
    )
    problem(r, 400)


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"]
)
def test_given_a_content_type_that_is_not_json_then_415(
    api: Api, world: Any, content_type: str
) -> None:
    body = json.dumps({"first_name": "Иван", "email": "ivan415@example.com"}).encode()
    problem(api.post("contacts/", content=body, headers={"Content-Type": content_type}), 415)
    contact = world["contacts"]
    problem(
        api.patch(
            f"contacts/{contact['id']}/",
            content=b'{"notes": "x"}',
            headers={"Content-Type": content_type},
        ),
        415,
    )
    assert api.list("contacts", email="ivan415@example.com")["count"] == 0


def big_body(marker: str) -> bytes:
    body = json.dumps(
        {"first_name": "Иван", "email": f"{marker}@example.com", "notes": "я" * (600 * 1024)}
    ).encode()
    assert len(body) > 1024 * 1024
    return body


def test_given_a_body_over_one_mebibyte_then_413(api: Api, tenants: Tenants) -> None:
    marker = uuid.uuid4().hex
    with tenants.client(api.token) as fresh:
        r = fresh.post(
            "contacts/", content=big_body(marker), headers={"Content-Type": "application/json"}
        )
    problem(r, 413)
    assert api.list("contacts", search=marker)["count"] == 0


def test_given_a_413_on_a_keep_alive_connection_then_the_next_request_still_answers(
    api: Api, tenants: Tenants
) -> None:
    """HTTP/1.1: a server that will not read the rest of a body must say `Connection: close`
    (or drain it); otherwise a client's next request on the pooled connection is lost."""
    with tenants.client(api.token) as client:
        for _ in range(5):
            r = client.post(
                "contacts/",
                content=big_body(uuid.uuid4().hex),
                headers={"Content-Type": "application/json"},
            )
            assert r.status_code == 413
            if r.headers.get("connection", "").lower() == "close":
                continue
            assert client.get("users/me/").status_code == 200


@pytest.mark.parametrize("resource", ["funnels", "contacts", "branches"])
def test_given_unknown_fields_in_a_body_then_they_are_ignored(api: Api, resource: str) -> None:
    base = {
        "funnels": {"name": "Воронка"},
        "contacts": {"first_name": "Иван", "email": "unknown-fields@example.com"},
        "branches": {"name": "Филиал"},
    }[resource]
    created = api.create(resource, {**base, "no_such_field": 1, "другое": "значение"})
    assert "no_such_field" not in created
    r = api.patch(f"{resource}/{created['id']}/", json={"no_such_field": 2})
    assert r.status_code == 200, r.text


def test_given_read_only_fields_in_a_body_then_they_are_ignored(api: Api) -> None:
    fixed_id = random_id()
    created = api.contact(
        id=fixed_id, created_at="2000-01-01T00:00:00Z", full_name="Подделка", owner_name="x"
    )
    assert created["id"] != fixed_id
    assert not created["created_at"].startswith("2000")
    assert created["full_name"] != "Подделка"
    patched = api.ok(
        "PATCH",
        f"contacts/{created['id']}/",
        json={"id": fixed_id, "created_at": "2000-01-01T00:00:00Z"},
    )
    assert patched["id"] == created["id"]
    assert patched["created_at"] == created["created_at"]


def test_given_cyrillic_text_then_it_is_stored_and_returned_unchanged(api: Api) -> None:
    text = "Ёжик «в тумане» — ЁЁЁ ёё, Щука №5 🦔"
    created = api.contact(first_name="Ёжик", notes=text, company_name="ООО «Ёлка»")
    fetched = api.fetch("contacts", created["id"])
    assert fetched["notes"] == text
    assert fetched["company_name"] == "ООО «Ёлка»"
    raw = api.get(f"contacts/{created['id']}/")
    assert raw.headers["content-type"].startswith("application/json")


def test_given_any_object_then_timestamps_are_utc_with_an_offset(api: Api, world: Any) -> None:
    for resource in DETAILS:
        obj = api.fetch(resource, world[resource]["id"])
        parse_ts(obj["created_at"])
        parse_ts(obj["updated_at"])


def test_given_a_create_then_201_with_a_location_that_answers_the_object(api: Api) -> None:
    r = api.post("branches/", json={"name": "Филиал Юг"})
    assert r.status_code == 201
    location = r.headers.get("location")
    assert location, "no Location header"
    assert urlparse(location).path == f"/api/crm/branches/{r.json()['id']}/"
    assert api.get(location).json() == r.json()


def test_given_server_errors_of_many_kinds_then_none_leaks_internals(api: Api) -> None:
    for r in (
        api.get("leads/", params={"funnel": "' OR 1=1 --"}),
        api.get("contacts/", params={"created_at_after": "2026-02-30"}),
        api.post("leads/", json={"contact": "x", "funnel": None, "title": 5}),
        api.post("deals/", json={"amount": "1e400", "contact": random_id()}),
        api.post("contacts/", json={"first_name": "x" * 100000, "email": "a@b.c"}),
    ):
        assert r.status_code < 500, r.text[:1000]
        assert_no_leak(r.text)


@pytest.mark.parametrize(
    ("field", "value"),
    [("first_name", 12), ("tags", "not-a-list"), ("tags", [1, {"a": 1}]), ("is_active", "maybe")],
)
def test_given_a_value_of_the_wrong_type_then_400_naming_the_field(
    api: Api, field: str, value: Any
) -> None:
    body = {"first_name": "Иван", "email": "typed@example.com", field: value}
    errors = problem(api.post("contacts/", json=body), 400)["errors"]
    assert any(k == field or k.startswith(f"{field}.") for k in errors), errors


def test_given_parallel_requests_then_the_server_answers_them_all(
    api: Api, tenants: Tenants
) -> None:
    def call(_: int) -> int:
        with httpx.Client(base_url=tenants.server.base_url, timeout=30) as c:
            return c.get("/api/health/").status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(call, range(16))) == [200] * 16


@pytest.mark.parametrize(
    ("resource", "optional"),
    [
        ("funnels", "description"),
        ("branches", "address"),
        ("leads", "description"),
        ("deals", "description"),
        ("activities", "description"),
    ],
)
def test_given_a_put_that_leaves_out_an_optional_field_then_it_is_cleared(
    api: Api, resource: str, optional: str
) -> None:
    """PUT is a full update (section 1): the body replaces the object."""
    funnel = api.funnel()
    contact = api.contact()
    required = {
        "funnels": {"name": "Полная замена"},
        "branches": {"name": "Полная замена"},
        "leads": {"contact": contact["id"], "funnel": funnel["id"], "title": "Полная замена"},
        "deals": {"contact": contact["id"], "funnel": funnel["id"], "title": "Полная замена"},
        "activities": {"activity_type": "note", "title": "Полная замена", "contact": contact["id"]},
    }[resource]
    created = api.create(resource, {**required, optional: "будет стёрто"})
    assert created[optional] == "будет стёрто"
    put = api.ok("PUT", f"{resource}/{created['id']}/", json=required)
    assert not put[optional], put
    assert not api.fetch(resource, created["id"])[optional]
