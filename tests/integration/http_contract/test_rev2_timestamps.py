"""[rev 2] Section 1: timestamps are returned in UTC with `Z`, in one form on every endpoint
(`2026-11-24T10:15:00Z`, microseconds when stored)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from .checks import stage_by_name
from .conftest import Api

# One form: seconds, optionally six digits of microseconds, then `Z` (never `+00:00`).
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?Z$")
TIMESTAMP_KEYS = ("created_at", "updated_at", "stage_changed_at", "closed_at", "activity_date")


def timestamps_of(obj: Any, where: str = "") -> list[tuple[str, str]]:
    """Every (path, value) of a timestamp key anywhere in `obj` whose value is not null."""
    found: list[tuple[str, str]] = []
    if isinstance(obj, dict):
        for key, value in obj.items():
            path = f"{where}.{key}" if where else key
            if key in TIMESTAMP_KEYS and value is not None:
                found.append((path, value))
            else:
                found.extend(timestamps_of(value, path))
    elif isinstance(obj, list):
        for i, item in enumerate(obj):
            found.extend(timestamps_of(item, f"{where}.{i}" if where else str(i)))
    return found


def assert_one_form(obj: Any, *required: str) -> None:
    stamps = dict(timestamps_of(obj))
    for key in required:
        assert key in stamps, f"{key} missing or null in {obj}"
    for path, value in stamps.items():
        assert isinstance(value, str) and TIMESTAMP.match(value), (
            f"{path} is not in the one UTC form with Z: {value!r}"
        )


@pytest.fixture(scope="module")
def world(api: Api) -> dict[str, Any]:
    """A funnel, a contact, a moved lead, a lost lead, a won deal and an activity."""
    funnel = api.funnel()
    contact = api.contact(last_name="Временов")
    moved = api.lead(contact, funnel)
    moved = api.action(
        "leads",
        moved["id"],
        "move_to_stage",
        {"stage_id": stage_by_name(funnel, "Квалификация")["id"]},
    )
    lost = api.lead(contact, funnel)
    lost = api.action("leads", lost["id"], "mark_lost", {"reason": "дорого"})
    deal = api.deal(contact, funnel)
    won = api.action("deals", deal["id"], "mark_won")
    activity = api.create(
        "activities",
        {
            "activity_type": "call",
            "title": "Звонок",
            "contact": contact["id"],
            "activity_date": "2026-11-24T13:15:00+03:00",
        },
    )
    branch = api.create("branches", {"name": "Филиал времени", "address": "Казань"})
    return {
        "funnel": funnel,
        "contact": contact,
        "moved": moved,
        "lost": lost,
        "won": won,
        "activity": activity,
        "branch": branch,
    }


def test_given_created_objects_then_their_create_answers_use_the_one_form(
    world: dict[str, Any],
) -> None:
    assert_one_form(world["funnel"], "created_at", "updated_at")
    assert_one_form(world["funnel"]["stages"], "0.created_at", "0.updated_at")
    assert_one_form(world["contact"], "created_at", "updated_at")
    assert_one_form(world["branch"], "created_at", "updated_at")
    assert_one_form(world["activity"], "created_at", "updated_at", "activity_date")


def test_given_actions_then_their_answers_use_the_one_form(world: dict[str, Any]) -> None:
    assert_one_form(world["moved"], "created_at", "updated_at", "stage_changed_at")
    assert_one_form(world["lost"], "created_at", "updated_at", "closed_at")
    assert_one_form(world["won"], "created_at", "updated_at", "closed_at")


@pytest.mark.parametrize(
    ("resource", "key", "required"),
    [
        ("funnels", "funnel", ("created_at", "updated_at")),
        ("contacts", "contact", ("created_at", "updated_at")),
        ("leads", "moved", ("created_at", "updated_at", "stage_changed_at")),
        ("leads", "lost", ("created_at", "updated_at", "closed_at")),
        ("deals", "won", ("created_at", "updated_at", "stage_changed_at", "closed_at")),
        ("activities", "activity", ("created_at", "updated_at", "activity_date")),
        ("branches", "branch", ("created_at", "updated_at")),
    ],
)
def test_given_a_detail_then_every_timestamp_is_utc_with_z_and_equal_to_the_create_answer(
    api: Api, world: dict[str, Any], resource: str, key: str, required: tuple[str, ...]
) -> None:
    detail = api.fetch(resource, world[key]["id"])
    assert_one_form(detail, *required)
    for name in ("created_at", "updated_at", "closed_at", "stage_changed_at"):
        if world[key].get(name) is not None:
            assert detail[name] == world[key][name], (name, world[key][name], detail[name])


def test_given_a_stage_detail_then_its_timestamps_are_utc_with_z(
    api: Api, world: dict[str, Any]
) -> None:
    stage = world["funnel"]["stages"][0]
    detail = api.fetch("funnel-stages", stage["id"])
    assert_one_form(detail, "created_at", "updated_at")
    assert detail["created_at"] == stage["created_at"]


@pytest.mark.parametrize(
    ("resource", "params"),
    [
        ("leads", "contact"),
        ("deals", "contact"),
        ("activities", "contact"),
        ("contacts", None),
        ("funnels", None),
        ("funnel-stages", "funnel"),
        ("branches", None),
    ],
)
def test_given_a_list_then_every_timestamp_is_utc_with_z(
    api: Api, world: dict[str, Any], resource: str, params: str | None
) -> None:
    query: dict[str, Any] = {"page_size": 100}
    if params == "contact":
        query["contact"] = world["contact"]["id"]
    elif params == "funnel":
        query["funnel"] = world["funnel"]["id"]
    results = api.list(resource, **query)["results"]
    assert results
    assert_one_form(results)


def test_given_a_list_item_then_it_carries_the_same_strings_as_the_detail(
    api: Api, world: dict[str, Any]
) -> None:
    items = {x["id"]: x for x in api.list("leads", contact=world["contact"]["id"])["results"]}
    for key in ("moved", "lost"):
        detail = api.fetch("leads", world[key]["id"])
        item = items[world[key]["id"]]
        for name in ("created_at", "updated_at", "closed_at", "stage_changed_at"):
            assert item[name] == detail[name], (name, item[name], detail[name])


def test_given_the_contact_timeline_then_every_timestamp_is_utc_with_z(
    api: Api, world: dict[str, Any]
) -> None:
    page = api.ok("GET", f"contacts/{world['contact']['id']}/timeline/")
    assert page["results"]
    assert_one_form(page["results"])


def test_given_an_activity_date_with_an_offset_then_returned_in_utc_with_z(
    api: Api, world: dict[str, Any]
) -> None:
    assert world["activity"]["activity_date"] == "2026-11-24T10:15:00Z"
    assert api.fetch("activities", world["activity"]["id"])["activity_date"] == (
        "2026-11-24T10:15:00Z"
    )


def test_given_users_then_their_timestamps_if_any_are_utc_with_z(api: Api) -> None:
    assert_one_form(api.ok("GET", "users/me/"))
    assert_one_form(api.list("users")["results"])
