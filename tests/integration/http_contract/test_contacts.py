"""Section 3, Contacts (and Branches, the contact's `branch`)."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import pytest

from .checks import bad_param, problem
from .conftest import Api


def uniq() -> str:
    return uuid.uuid4().hex[:8]


def unique_phone() -> str:
    n = uuid.uuid4().int % 10_000_000
    return f"+7 916 {n:07d}"


# ----------------------------------------------------------------------------- create


def test_given_a_name_and_a_phone_when_creating_then_201_with_defaults(
    api: Api, me: dict[str, Any], tenants: Any
) -> None:
    r = api.post("contacts/", json={"first_name": "Иван", "phone": "8 999 123-45-67"})
    assert r.status_code == 201, r.text
    c = r.json()
    assert r.headers["location"].endswith(f"/api/crm/contacts/{c['id']}/")
    assert c["phone"] == "+79991234567"
    assert c["first_name"] == "Иван"
    assert c["is_active"] is True
    assert c["is_client"] is False
    assert c["tags"] == []
    assert c["owner"] == me["id"]
    assert c["owner_name"]
    assert "Иван" in c["full_name"]
    assert c["branch"] is None
    assert c["company"]
    for key in (
        "id",
        "company",
        "branch",
        "branch_name",
        "owner",
        "owner_name",
        "first_name",
        "last_name",
        "middle_name",
        "full_name",
        "phone",
        "phone_secondary",
        "email",
        "whatsapp",
        "instagram",
        "company_name",
        "position",
        "address",
        "notes",
        "tags",
        "source",
        "is_active",
        "is_client",
        "created_at",
        "updated_at",
    ):
        assert key in c, f"contact without {key!r}"


def test_given_full_names_then_full_name_joins_them(api: Api) -> None:
    c = api.contact(first_name="Иван", last_name="Петров", middle_name="Сергеевич")
    for part in ("Иван", "Петров", "Сергеевич"):
        assert part in c["full_name"]


@pytest.mark.parametrize(
    "raw", ["8 999 123-45-67", "+7 (999) 123-45-67", "+79991234567", "89991234567", "8(999)1234567"]
)
def test_given_a_russian_phone_in_any_form_then_stored_as_e164(api: Api, raw: str) -> None:
    c = api.contact(phone=raw, phone_secondary=raw, whatsapp=raw)
    assert (c["phone"], c["phone_secondary"], c["whatsapp"]) == ("+79991234567",) * 3
    assert api.fetch("contacts", c["id"])["phone"] == "+79991234567"


@pytest.mark.parametrize("field", ["phone", "phone_secondary", "whatsapp"])
@pytest.mark.parametrize("raw", ["not a phone", "123", "+7 999", "abc-def-ghij"])
def test_given_a_string_that_is_no_phone_then_400_naming_the_field(
    api: Api, field: str, raw: str
) -> None:
    problem(
        api.post("contacts/", json={"first_name": "x", "email": "x@example.com", field: raw}),
        400,
        field,
    )


def test_given_no_channel_when_creating_then_400(api: Api) -> None:
    marker = uniq()
    problem(api.post("contacts/", json={"first_name": marker}), 400)
    problem(
        api.post(
            "contacts/",
            json={"first_name": marker, "phone": "", "email": "", "whatsapp": "", "instagram": ""},
        ),
        400,
    )
    problem(api.post("contacts/", json={"first_name": marker, "phone": None, "email": None}), 400)
    assert api.list("contacts", search=marker)["count"] == 0


@pytest.mark.parametrize(
    "channel",
    [
        {"email": "only@example.com"},
        {"whatsapp": "+7 999 765-43-21"},
        {"instagram": "ivan.petrov"},
        {"phone": "+79991112233"},
    ],
)
def test_given_any_single_channel_when_creating_then_201(api: Api, channel: dict[str, str]) -> None:
    assert api.create("contacts", {"first_name": "Один", **channel})["id"]


def test_given_an_instagram_with_at_then_stored_without_it(api: Api) -> None:
    c = api.contact(instagram="@ivan_petrov")
    assert c["instagram"] == "ivan_petrov"


@pytest.mark.parametrize("email", ["not-an-email", "a@", "@b.c", "a b@example.com"])
def test_given_an_invalid_email_then_400_naming_email(api: Api, email: str) -> None:
    problem(api.post("contacts/", json={"first_name": "x", "email": email}), 400, "email")


@pytest.mark.parametrize(
    "body",
    [
        {"email": "x@example.com"},
        {"first_name": "", "email": "x@example.com"},
        {"first_name": None, "email": "x@example.com"},
    ],
)
def test_given_no_first_name_then_400_naming_first_name(api: Api, body: dict[str, Any]) -> None:
    problem(api.post("contacts/", json=body), 400, "first_name")


def test_given_tags_then_they_are_kept_as_a_list_of_strings(api: Api) -> None:
    c = api.contact(tags=["vip", "Опт", "ё"])
    assert c["tags"] == ["vip", "Опт", "ё"]
    assert api.fetch("contacts", c["id"])["tags"] == ["vip", "Опт", "ё"]


def test_given_a_branch_then_branch_name_is_shown(api: Api) -> None:
    branch = api.create("branches", {"name": "Филиал Север", "address": "Мурманск"})
    c = api.contact(branch=branch["id"])
    assert c["branch"] == branch["id"]
    assert c["branch_name"] == "Филиал Север"


def test_given_an_owner_of_the_company_then_owner_name_is_shown(
    api: Api, manager_me: dict[str, Any]
) -> None:
    c = api.contact(owner=manager_me["id"])
    assert c["owner"] == manager_me["id"]
    assert c["owner_name"]


def test_given_an_owner_that_is_not_a_uuid_then_400_naming_owner(api: Api) -> None:
    problem(
        api.post("contacts/", json={"first_name": "x", "email": "o@example.com", "owner": "abc"}),
        400,
        "owner",
    )


def test_given_is_client_and_is_active_then_they_are_kept(api: Api) -> None:
    c = api.contact(is_client=True, is_active=False)
    assert (c["is_client"], c["is_active"]) == (True, False)


# ----------------------------------------------------------------------------- update and delete


def test_given_a_contact_when_put_without_first_name_then_400(api: Api) -> None:
    c = api.contact()
    problem(api.put(f"contacts/{c['id']}/", json={"email": "x@example.com"}), 400, "first_name")


def test_given_a_contact_when_put_without_any_channel_then_400(api: Api) -> None:
    c = api.contact()
    problem(api.put(f"contacts/{c['id']}/", json={"first_name": "Иван"}), 400)
    assert api.fetch("contacts", c["id"])["email"] == c["email"]


def test_given_a_contact_when_put_then_every_field_replaced(api: Api) -> None:
    c = api.contact(last_name="Старый", notes="старое")
    r = api.put(
        f"contacts/{c['id']}/",
        json={"first_name": "Пётр", "phone": "8 (912) 000-11-22", "tags": ["a"]},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["first_name"] == "Пётр"
    assert body["phone"] == "+79120001122"
    assert body["tags"] == ["a"]
    assert api.fetch("contacts", c["id"])["first_name"] == "Пётр"


def test_given_a_contact_when_put_then_fields_left_out_are_cleared(api: Api) -> None:
    """PUT is a full update: what the body leaves out goes back to its default."""
    c = api.contact(
        last_name="Старый", notes="старое", position="Директор", tags=["x"], phone="+79990001122"
    )
    body = api.ok("PUT", f"contacts/{c['id']}/", json={"first_name": "Пётр", "email": c["email"]})
    fresh = api.fetch("contacts", c["id"])
    for got in (body, fresh):
        assert not got["last_name"], got
        assert not got["notes"], got
        assert not got["position"], got
        assert not got["phone"], got
        assert got["tags"] == [], got


def test_given_a_contact_when_patching_one_field_then_the_others_stay(api: Api) -> None:
    c = api.contact(phone="+7 999 222-33-44", last_name="Петров")
    body = api.ok(
        "PATCH",
        f"contacts/{c['id']}/",
        json={"position": "Директор", "phone_secondary": "8 999 222 33 45"},
    )
    assert body["position"] == "Директор"
    assert body["phone_secondary"] == "+79992223345"
    assert body["phone"] == "+79992223344"
    assert body["last_name"] == "Петров"
    assert body["email"] == c["email"]


def test_given_a_contact_when_patching_away_the_last_channel_then_400(api: Api) -> None:
    c = api.create("contacts", {"first_name": "Один", "email": f"{uniq()}@example.com"})
    problem(api.patch(f"contacts/{c['id']}/", json={"email": ""}), 400)
    assert api.fetch("contacts", c["id"])["email"] == c["email"]


def test_given_a_contact_when_patching_a_bad_phone_then_400_and_unchanged(api: Api) -> None:
    c = api.contact(phone="+79993334455")
    problem(api.patch(f"contacts/{c['id']}/", json={"phone": "nope"}), 400, "phone")
    assert api.fetch("contacts", c["id"])["phone"] == "+79993334455"


def test_given_a_contact_with_a_lead_and_a_deal_when_deleted_then_409_until_they_go(
    api: Api,
) -> None:
    funnel = api.funnel()
    c = api.contact()
    lead = api.lead(c, funnel)
    deal = api.deal(c, funnel)
    activity = api.create(
        "activities", {"activity_type": "call", "title": "звонок", "contact": c["id"]}
    )
    body = problem(api.delete(f"contacts/{c['id']}/"), 409)
    assert "is_active" in body["detail"]
    assert api.fetch("deals", deal["id"])["contact"] == c["id"]
    assert api.delete(f"deals/{deal['id']}/").status_code == 204
    problem(api.delete(f"contacts/{c['id']}/"), 409)  # the lead still belongs to it
    assert api.delete(f"leads/{lead['id']}/").status_code == 204
    assert api.delete(f"contacts/{c['id']}/").status_code == 204
    problem(api.get(f"contacts/{c['id']}/"), 404)
    problem(api.get(f"activities/{activity['id']}/"), 404)
    # the funnel is free again
    assert api.delete(f"funnels/{funnel['id']}/").status_code == 204


# ----------------------------------------------------------------------------- filters


@pytest.fixture(scope="module")
def people(api: Api, manager: Api, manager_me: dict[str, Any]) -> dict[str, Any]:
    tag = uniq()
    branch = api.create("branches", {"name": f"Филиал {tag}"})
    ivan = api.contact(
        first_name="Иван",
        last_name="Петров",
        middle_name="Ильич",
        phone="+7 999 123-45-67",
        email=f"Ivan.{tag}@Example.com",
        company_name=f"ООО Ромашка {tag}",
        source=f"сайт-{tag}",
        branch=branch["id"],
        is_client=True,
    )
    maria = manager.contact(
        first_name="Мария",
        last_name="Иванова",
        phone_secondary="8 (495) 765-43-21",
        email=f"maria.{tag}@example.com",
        source=f"звонок-{tag}",
        is_active=False,
    )
    yuri = api.contact(
        first_name="Юрий", whatsapp="+7 921 555 66 77", source=f"сайт-{tag}", last_name="Ёлкин"
    )
    return {
        "tag": tag,
        "branch": branch,
        "ivan": ivan,
        "maria": maria,
        "yuri": yuri,
        "manager": manager_me,
    }


def ids_of(api: Api, **params: Any) -> set[str]:
    return set(api.ids("contacts", **params))


def test_given_contacts_when_filtering_by_phone_digits_then_substring_over_all_numbers(
    api: Api, people: Any
) -> None:
    assert people["ivan"]["id"] in ids_of(api, phone="9991234")
    assert people["ivan"]["id"] in ids_of(api, phone="79991234567")
    # phone_secondary and whatsapp are searched too
    assert people["maria"]["id"] in ids_of(api, phone="4957654321")
    assert people["yuri"]["id"] in ids_of(api, phone="9215556677")
    assert people["yuri"]["id"] not in ids_of(api, phone="9991234")
    for c in api.list("contacts", phone="9215556677", page_size=500)["results"]:
        assert any("9215556677" in (c[k] or "") for k in ("phone", "phone_secondary", "whatsapp"))


def test_given_contacts_when_filtering_by_first_name_in_lower_case_cyrillic_then_found(
    api: Api, people: Any
) -> None:
    found = ids_of(api, first_name="иван", source=f"сайт-{people['tag']}")
    assert found == {people["ivan"]["id"]}
    assert people["ivan"]["id"] in ids_of(api, first_name="ИВА")


def test_given_contacts_when_filtering_by_last_name_case_insensitively_then_found(
    api: Api, people: Any
) -> None:
    assert people["maria"]["id"] in ids_of(api, last_name="ИВАНОВА")
    assert people["maria"]["id"] in ids_of(api, last_name="иванов")
    assert people["yuri"]["id"] in ids_of(api, last_name="ёлкин")
    assert people["ivan"]["id"] not in ids_of(api, last_name="иванов")


def test_given_contacts_when_filtering_by_email_then_case_insensitive_substring(
    api: Api, people: Any
) -> None:
    assert ids_of(api, email=f"IVAN.{people['tag']}@example") == {people["ivan"]["id"]}


def test_given_contacts_when_filtering_by_source_then_case_insensitive_substring(
    api: Api, people: Any
) -> None:
    assert ids_of(api, source=f"САЙТ-{people['tag']}") == {
        people["ivan"]["id"],
        people["yuri"]["id"],
    }


def test_given_contacts_when_filtering_by_is_active_and_is_client_then_matching(
    api: Api, people: Any
) -> None:
    tag = people["tag"]
    assert ids_of(api, search=tag, is_active="false") == {people["maria"]["id"]}
    assert ids_of(api, search=tag, is_active="1") == {people["ivan"]["id"]}
    assert ids_of(api, search=tag, is_client="true") == {people["ivan"]["id"]}
    assert ids_of(api, search=tag, is_client="0") == {people["maria"]["id"]}


def test_given_contacts_when_filtering_by_owner_and_branch_then_matching(
    api: Api, people: Any
) -> None:
    tag = people["tag"]
    assert ids_of(api, search=tag, owner=people["manager"]["id"]) == {people["maria"]["id"]}
    assert ids_of(api, branch=people["branch"]["id"]) == {people["ivan"]["id"]}


def test_given_contacts_when_filtering_by_created_at_range_then_dates_are_inclusive(
    api: Api, people: Any
) -> None:
    tag = people["tag"]
    day = date.fromisoformat(people["ivan"]["created_at"][:10])
    after_ok = ids_of(api, source=f"сайт-{tag}", created_at_after=day.isoformat())
    before_ok = ids_of(api, source=f"сайт-{tag}", created_at_before=day.isoformat())
    assert people["ivan"]["id"] in after_ok
    assert people["ivan"]["id"] in before_ok, "created_at_before is inclusive of the whole day"
    assert (
        ids_of(api, source=f"сайт-{tag}", created_at_after=(day + timedelta(days=1)).isoformat())
        == set()
    )
    assert (
        ids_of(api, source=f"сайт-{tag}", created_at_before=(day - timedelta(days=1)).isoformat())
        == set()
    )


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("is_active", "maybe"),
        ("is_client", "2"),
        ("owner", "abc"),
        ("branch", "not-a-uuid"),
        ("created_at_after", "yesterday"),
        ("created_at_before", "2026-13-01"),
        ("created_at_after", "01.02.2026"),
    ],
)
def test_given_a_contact_filter_value_of_the_wrong_form_then_400_naming_it(
    api: Api, param: str, value: str
) -> None:
    bad_param(api.get("contacts/", params={param: value}), param)


@pytest.mark.parametrize(
    ("query", "who"),
    [
        ("иван", {"ivan", "maria"}),  # first_name Иван, last_name Иванова
        ("ильич", {"ivan"}),  # middle_name
        ("ромашка", {"ivan"}),  # company_name
        ("9991234567", {"ivan"}),  # phone
        ("MARIA.", {"maria"}),  # email
    ],
)
def test_given_contacts_when_searching_then_the_named_fields_match(
    api: Api, people: Any, query: str, who: set[str]
) -> None:
    mine = {people[k]["id"] for k in ("ivan", "maria", "yuri")}
    found = ids_of(api, search=query) & mine
    assert found == {people[k]["id"] for k in who}


def test_given_contacts_when_ordering_by_names_then_sorted(api: Api, people: Any) -> None:
    tag = people["tag"]
    by_first = [
        c["first_name"] for c in api.list("contacts", search=tag, ordering="first_name")["results"]
    ]
    assert by_first == ["Иван", "Мария"]
    by_last_desc = [
        c["last_name"] for c in api.list("contacts", search=tag, ordering="-last_name")["results"]
    ]
    assert by_last_desc == ["Петров", "Иванова"]
    assert api.get("contacts/", params={"ordering": "-created_at,first_name"}).status_code == 200
    bad_param(api.get("contacts/", params={"ordering": "phone"}), "ordering")


# ----------------------------------------------------------------------------- timeline


def test_given_a_contact_with_activities_then_the_timeline_lists_them_newest_first(
    api: Api,
) -> None:
    c = api.contact()
    made = []
    for i, day in enumerate(
        ["2026-01-05T10:00:00Z", "2026-03-01T10:00:00Z", "2026-02-01T10:00:00Z"]
    ):
        made.append(
            api.create(
                "activities",
                {
                    "activity_type": "note",
                    "title": f"t{i}",
                    "contact": c["id"],
                    "activity_date": day,
                },
            )
        )
    r = api.get(f"contacts/{c['id']}/timeline/")
    assert r.status_code == 200, r.text
    page = r.json()
    assert set(page) >= {"count", "next", "previous", "results"}
    assert page["count"] == 3
    assert [item["kind"] for item in page["results"]] == ["activity"] * 3
    assert [item["id"] for item in page["results"]] == [made[1]["id"], made[2]["id"], made[0]["id"]]
    paged = api.list(f"contacts/{c['id']}/timeline", page_size=2)
    assert len(paged["results"]) == 2 and paged["next"] is not None
    problem(api.get(f"contacts/{c['id']}/timeline/", params={"page": 3}), 404)


def test_given_a_contact_without_activities_then_the_timeline_is_empty(api: Api) -> None:
    c = api.contact()
    assert api.list(f"contacts/{c['id']}/timeline")["results"] == []


# ----------------------------------------------------------------------------- branches


def test_given_a_branch_when_created_then_201_with_defaults(api: Api) -> None:
    r = api.post("branches/", json={"name": "Главный офис", "address": "Москва, ул. Ленина, 1"})
    assert r.status_code == 201, r.text
    b = r.json()
    assert r.headers["location"].endswith(f"/api/crm/branches/{b['id']}/")
    assert (b["name"], b["address"], b["is_active"]) == (
        "Главный офис",
        "Москва, ул. Ленина, 1",
        True,
    )


@pytest.mark.parametrize("body", [{}, {"name": ""}, {"address": "x"}])
def test_given_a_branch_without_name_then_400(api: Api, body: dict[str, Any]) -> None:
    problem(api.post("branches/", json=body), 400, "name")


def test_given_a_branch_when_put_patch_delete_then_each_works(api: Api) -> None:
    b = api.create("branches", {"name": "Филиал", "address": "Казань"})
    problem(api.put(f"branches/{b['id']}/", json={"address": "Самара"}), 400, "name")
    put = api.ok(
        "PUT",
        f"branches/{b['id']}/",
        json={"name": "Филиал 2", "address": "Самара", "is_active": False},
    )
    assert (put["name"], put["address"], put["is_active"]) == ("Филиал 2", "Самара", False)
    patched = api.ok("PATCH", f"branches/{b['id']}/", json={"is_active": True})
    assert (patched["name"], patched["is_active"]) == ("Филиал 2", True)
    assert api.delete(f"branches/{b['id']}/").status_code == 204
    problem(api.get(f"branches/{b['id']}/"), 404)
    problem(api.delete(f"branches/{b['id']}/"), 404)


def test_given_branches_then_the_list_pages_and_orders(api: Api) -> None:
    tag = uniq()
    made = [api.create("branches", {"name": f"{tag}-{i}"})["id"] for i in range(3)]
    ids = [b["id"] for b in api.list("branches", page_size=500)["results"]]
    assert [i for i in ids if i in made] == list(reversed(made))
