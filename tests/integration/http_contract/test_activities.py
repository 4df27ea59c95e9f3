"""Section 3, Activities."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from .checks import bad_param, now_utc, parse_ts, problem, random_id
from .conftest import Api

LABELS = {
    "call": "Звонок",
    "meeting": "Встреча",
    "email": "Email",
    "message": "Сообщение",
    "note": "Заметка",
    "task": "Задача",
}


@pytest.fixture(scope="module")
def scene(api: Api) -> dict[str, Any]:
    funnel = api.funnel()
    contact = api.contact(first_name="Активный")
    stranger = api.contact(first_name="Чужой")
    lead = api.lead(contact, funnel, title="Лид активности")
    deal = api.deal(contact, funnel, title="Сделка активности")
    other_deal = api.deal(stranger, funnel, title="Другая сделка")
    return {
        "funnel": funnel,
        "contact": contact,
        "stranger": stranger,
        "lead": lead,
        "deal": deal,
        "other_deal": other_deal,
    }


@pytest.mark.parametrize(("kind", "label"), list(LABELS.items()))
def test_given_each_type_when_created_then_the_russian_label(
    api: Api, scene: Any, kind: str, label: str
) -> None:
    r = api.post(
        "activities/",
        json={"activity_type": kind, "title": "Дело", "contact": scene["contact"]["id"]},
    )
    assert r.status_code == 201, r.text
    a = r.json()
    assert r.headers["location"].endswith(f"/api/crm/activities/{a['id']}/")
    assert a["activity_type"] == kind
    assert a["activity_type_display"] == label


def test_given_an_activity_when_created_then_author_and_defaults(
    api: Api, scene: Any, me: dict[str, Any]
) -> None:
    before = now_utc()
    a = api.create(
        "activities",
        {"activity_type": "call", "title": "Позвонить", "contact": scene["contact"]["id"]},
    )
    assert a["user"] == me["id"]
    assert a["user_name"]
    assert a["title"] == "Позвонить"
    assert a["contact"] == scene["contact"]["id"]
    assert "Активный" in a["contact_name"]
    assert a["lead"] is None and a["deal"] is None
    when = parse_ts(a["activity_date"])
    assert before - timedelta(minutes=2) <= when <= now_utc() + timedelta(minutes=2)
    for key in ("description", "due_date", "is_done", "lead_title", "deal_title", "company"):
        assert key in a


def test_given_a_user_in_the_body_then_the_author_is_still_the_caller(
    api: Api, scene: Any, me: dict[str, Any], manager_me: dict[str, Any]
) -> None:
    a = api.create(
        "activities",
        {
            "activity_type": "note",
            "title": "x",
            "contact": scene["contact"]["id"],
            "user": manager_me["id"],
        },
    )
    assert a["user"] == me["id"]


def test_given_an_activity_date_with_an_offset_then_returned_in_utc(api: Api, scene: Any) -> None:
    a = api.create(
        "activities",
        {
            "activity_type": "meeting",
            "title": "Встреча",
            "contact": scene["contact"]["id"],
            "activity_date": "2026-11-24T13:15:00+03:00",
        },
    )
    assert parse_ts(a["activity_date"]).isoformat() == "2026-11-24T10:15:00+00:00"


def test_given_a_lead_with_its_contact_then_created_with_titles(api: Api, scene: Any) -> None:
    a = api.create(
        "activities",
        {
            "activity_type": "call",
            "title": "x",
            "lead": scene["lead"]["id"],
            "contact": scene["contact"]["id"],
        },
    )
    assert (a["lead"], a["lead_title"]) == (scene["lead"]["id"], "Лид активности")
    d = api.create(
        "activities", {"activity_type": "call", "title": "x", "deal": scene["deal"]["id"]}
    )
    assert (d["deal"], d["deal_title"]) == (scene["deal"]["id"], "Сделка активности")


def test_given_neither_contact_lead_nor_deal_then_400(api: Api) -> None:
    problem(
        api.post("activities/", json={"activity_type": "note", "title": "висит в воздухе"}), 400
    )


@pytest.mark.parametrize(
    "links",
    [
        {"lead": "lead", "contact": "stranger"},
        {"deal": "deal", "contact": "stranger"},
        {"deal": "other_deal", "lead": "lead"},
    ],
)
def test_given_links_that_disagree_then_400(api: Api, scene: Any, links: dict[str, str]) -> None:
    body = {"activity_type": "note", "title": "x", **{k: scene[v]["id"] for k, v in links.items()}}
    problem(api.post("activities/", json=body), 400)


@pytest.mark.parametrize("missing", ["activity_type", "title"])
def test_given_a_required_field_missing_then_400_naming_it(
    api: Api, scene: Any, missing: str
) -> None:
    body = {"activity_type": "call", "title": "x", "contact": scene["contact"]["id"]}
    del body[missing]
    problem(api.post("activities/", json=body), 400, missing)


def test_given_an_unknown_type_then_400_naming_activity_type(api: Api, scene: Any) -> None:
    problem(
        api.post(
            "activities/",
            json={"activity_type": "fax", "title": "x", "contact": scene["contact"]["id"]},
        ),
        400,
        "activity_type",
    )


def test_given_a_stage_change_by_hand_then_400(api: Api, scene: Any) -> None:
    problem(
        api.post(
            "activities/",
            json={"activity_type": "stage_change", "title": "x", "lead": scene["lead"]["id"]},
        ),
        400,
        "activity_type",
    )
    note = api.create(
        "activities", {"activity_type": "note", "title": "x", "contact": scene["contact"]["id"]}
    )
    problem(
        api.patch(f"activities/{note['id']}/", json={"activity_type": "stage_change"}),
        400,
        "activity_type",
    )


def test_given_a_system_stage_change_then_labelled_smena_stadii(api: Api, scene: Any) -> None:
    funnel = scene["funnel"]
    lead = api.lead(scene["contact"], funnel)
    api.action("leads", lead["id"], "move_to_stage", {"stage_id": funnel["stages"][1]["id"]})
    items = api.list("activities", lead=lead["id"], activity_type="stage_change")["results"]
    assert len(items) == 1
    assert items[0]["activity_type_display"] == "Смена стадии"


def test_given_a_task_then_due_date_and_is_done_are_kept_and_patched(api: Api, scene: Any) -> None:
    # the contract does not say whether due_date is a date or a timestamp: either form is fine
    body = {
        "activity_type": "task",
        "title": "Отправить КП",
        "contact": scene["contact"]["id"],
        "is_done": False,
    }
    r = api.post("activities/", json={**body, "due_date": "2026-12-01"})
    if r.status_code == 400:
        r = api.post("activities/", json={**body, "due_date": "2026-12-01T09:00:00Z"})
    assert r.status_code == 201, r.text
    task = r.json()
    assert task["is_done"] is False
    assert task["due_date"] is not None and task["due_date"].startswith("2026-12-01")
    done = api.ok("PATCH", f"activities/{task['id']}/", json={"is_done": True})
    assert done["is_done"] is True
    assert done["title"] == "Отправить КП"


def test_given_an_activity_when_put_without_title_then_400_and_with_it_200(
    api: Api, scene: Any
) -> None:
    a = api.create(
        "activities", {"activity_type": "note", "title": "x", "contact": scene["contact"]["id"]}
    )
    problem(
        api.put(
            f"activities/{a['id']}/",
            json={"activity_type": "note", "contact": scene["contact"]["id"]},
        ),
        400,
        "title",
    )
    got = api.ok(
        "PUT",
        f"activities/{a['id']}/",
        json={"activity_type": "call", "title": "Новый", "contact": scene["contact"]["id"]},
    )
    assert (got["activity_type"], got["activity_type_display"], got["title"]) == (
        "call",
        "Звонок",
        "Новый",
    )


def test_given_an_activity_when_deleted_then_204_then_404(api: Api, scene: Any) -> None:
    a = api.create(
        "activities", {"activity_type": "note", "title": "x", "contact": scene["contact"]["id"]}
    )
    assert api.delete(f"activities/{a['id']}/").status_code == 204
    problem(api.get(f"activities/{a['id']}/"), 404)


# ----------------------------------------------------------------------------- list


@pytest.fixture(scope="module")
def diary(api: Api, manager: Api, scene: Any, manager_me: dict[str, Any]) -> dict[str, Any]:
    c = api.contact(first_name="Дневник")
    funnel = scene["funnel"]
    lead = api.lead(c, funnel)
    deal = api.deal(c, funnel)
    jan = api.create(
        "activities",
        {
            "activity_type": "call",
            "title": "jan",
            "contact": c["id"],
            "activity_date": "2026-01-15T12:00:00Z",
        },
    )
    mar = manager.create(
        "activities",
        {
            "activity_type": "task",
            "title": "mar",
            "contact": c["id"],
            "lead": lead["id"],
            "activity_date": "2026-03-15T12:00:00Z",
            "is_done": True,
        },
    )
    feb = api.create(
        "activities",
        {
            "activity_type": "note",
            "title": "feb",
            "deal": deal["id"],
            "contact": c["id"],
            "activity_date": "2026-02-15T23:59:00Z",
        },
    )
    return {
        "contact": c,
        "lead": lead,
        "deal": deal,
        "jan": jan,
        "feb": feb,
        "mar": mar,
        "manager": manager_me,
    }


def ids(api: Api, d: dict[str, Any], **params: Any) -> list[str]:
    mine = {d[k]["id"] for k in ("jan", "feb", "mar")}
    return [i for i in api.ids("activities", **params) if i in mine]


def test_given_activities_then_default_ordering_is_newest_activity_date_first(
    api: Api, diary: Any
) -> None:
    d = diary
    assert ids(api, d, contact=d["contact"]["id"]) == [
        d["mar"]["id"],
        d["feb"]["id"],
        d["jan"]["id"],
    ]
    assert ids(api, d, contact=d["contact"]["id"], ordering="activity_date") == [
        d["jan"]["id"],
        d["feb"]["id"],
        d["mar"]["id"],
    ]
    assert ids(api, d, contact=d["contact"]["id"], ordering="created_at") == [
        d["jan"]["id"],
        d["mar"]["id"],
        d["feb"]["id"],
    ]
    assert ids(api, d, contact=d["contact"]["id"], ordering="-created_at") == [
        d["feb"]["id"],
        d["mar"]["id"],
        d["jan"]["id"],
    ]


def test_given_activities_when_filtering_then_matching(api: Api, diary: Any) -> None:
    d = diary
    assert ids(api, d, lead=d["lead"]["id"]) == [d["mar"]["id"]]
    assert ids(api, d, deal=d["deal"]["id"]) == [d["feb"]["id"]]
    assert ids(api, d, contact=d["contact"]["id"], activity_type="call") == [d["jan"]["id"]]
    assert ids(api, d, contact=d["contact"]["id"], user=d["manager"]["id"]) == [d["mar"]["id"]]
    assert ids(api, d, contact=d["contact"]["id"], is_done="true") == [d["mar"]["id"]]


def test_given_activities_when_filtering_by_activity_date_range_then_inclusive_days(
    api: Api, diary: Any
) -> None:
    d = diary
    c = d["contact"]["id"]
    assert ids(api, d, contact=c, activity_date_after="2026-02-15") == [
        d["mar"]["id"],
        d["feb"]["id"],
    ]
    assert ids(api, d, contact=c, activity_date_before="2026-02-15") == [
        d["feb"]["id"],
        d["jan"]["id"],
    ]
    assert (
        ids(api, d, contact=c, activity_date_after="2026-02-16", activity_date_before="2026-03-14")
        == []
    )


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("contact", "abc"),
        ("lead", "1"),
        ("deal", "x"),
        ("user", "me"),
        ("activity_type", "fax"),
        ("is_done", "perhaps"),
        ("activity_date_after", "2026-02-31"),
        ("activity_date_before", "later"),
    ],
)
def test_given_an_activity_filter_value_of_the_wrong_form_then_400_naming_it(
    api: Api, param: str, value: str
) -> None:
    bad_param(api.get("activities/", params={param: value}), param)


def test_given_an_unknown_contact_uuid_filter_then_empty(api: Api) -> None:
    assert api.list("activities", contact=random_id())["results"] == []


def test_given_a_bad_ordering_then_400(api: Api) -> None:
    bad_param(api.get("activities/", params={"ordering": "title"}), "ordering")
