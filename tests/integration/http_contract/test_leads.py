"""Section 3, Leads: fields, money, and the actions move_to_stage, convert_to_deal, mark_lost."""

from __future__ import annotations

import threading
import uuid
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from .checks import bad_param, parse_ts, problem, random_id, stage_by_name
from .conftest import Api, Tenants


@pytest.fixture()
def funnel(api: Api) -> dict[str, Any]:
    return api.funnel()


@pytest.fixture()
def contact(api: Api) -> dict[str, Any]:
    return api.contact(first_name="Иван", last_name="Лидов")


def stage_changes(api: Api, lead_id: str) -> list[dict[str, Any]]:
    return api.list("activities", lead=lead_id, activity_type="stage_change", page_size=500)[
        "results"
    ]  # type: ignore[no-any-return]


# ----------------------------------------------------------------------------- create


def test_given_contact_funnel_title_when_creating_a_lead_then_201_with_defaults(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any], me: dict[str, Any]
) -> None:
    r = api.post("leads/", json={"contact": contact["id"], "funnel": funnel["id"], "title": "Сайт"})
    assert r.status_code == 201, r.text
    lead = r.json()
    assert r.headers["location"].endswith(f"/api/crm/leads/{lead['id']}/")
    assert lead["stage"] == stage_by_name(funnel, "Новый лид")["id"]
    assert lead["stage_name"] == "Новый лид"
    assert lead["funnel_name"] == funnel["name"]
    assert "Иван" in lead["contact_name"]
    assert lead["status"] == "open"
    assert lead["deal"] is None
    assert lead["closed_at"] is None
    assert lead["estimated_value"] == "0.00"
    assert lead["probability"] == 0
    assert lead["owner"] == me["id"]
    assert lead["owner_name"]
    for key in ("description", "source", "stage_changed_at", "company", "created_at", "updated_at"):
        assert key in lead


@pytest.mark.parametrize("missing", ["contact", "funnel", "title"])
def test_given_a_required_field_missing_when_creating_a_lead_then_400_naming_it(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any], missing: str
) -> None:
    body = {"contact": contact["id"], "funnel": funnel["id"], "title": "x"}
    del body[missing]
    problem(api.post("leads/", json=body), 400, missing)


def test_given_an_empty_title_then_400(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any]
) -> None:
    problem(
        api.post("leads/", json={"contact": contact["id"], "funnel": funnel["id"], "title": ""}),
        400,
        "title",
    )


def test_given_a_stage_of_another_funnel_when_creating_a_lead_then_400_naming_stage(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any]
) -> None:
    other = api.funnel()
    body = {
        "contact": contact["id"],
        "funnel": funnel["id"],
        "title": "x",
        "stage": other["stages"][1]["id"],
    }
    problem(api.post("leads/", json=body), 400, "stage")


def test_given_a_stage_of_the_funnel_when_creating_a_lead_then_it_stands_there(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any]
) -> None:
    stage = stage_by_name(funnel, "Предложение")
    lead = api.lead(contact, funnel, stage=stage["id"])
    assert (lead["stage"], lead["stage_name"]) == (stage["id"], "Предложение")


def test_given_a_funnel_without_stages_when_creating_a_lead_then_400(
    api: Api, contact: dict[str, Any]
) -> None:
    empty = api.funnel(stages=[])
    problem(
        api.post("leads/", json={"contact": contact["id"], "funnel": empty["id"], "title": "x"}),
        400,
    )


def test_given_custom_stage_orders_then_the_default_stage_is_the_lowest_order(
    api: Api, contact: dict[str, Any]
) -> None:
    f = api.funnel(
        stages=[
            {"name": "Поздняя", "order": 9},
            {"name": "Ранняя", "order": 0},
            {"name": "Средняя", "order": 4},
        ]
    )
    assert api.lead(contact, f)["stage_name"] == "Ранняя"


def test_given_read_only_fields_when_creating_a_lead_then_ignored(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any]
) -> None:
    lead = api.lead(
        contact,
        funnel,
        status="converted",
        deal=random_id(),
        closed_at="2020-01-01T00:00:00Z",
        stage_changed_at="2020-01-01T00:00:00Z",
    )
    assert lead["status"] == "open"
    assert lead["deal"] is None
    assert lead["closed_at"] is None


# ----------------------------------------------------------------------------- money, probability


@pytest.mark.parametrize(
    ("given", "returned"),
    [
        (50000, "50000.00"),
        ("50000", "50000.00"),
        ("1234.5", "1234.50"),
        (1234.5, "1234.50"),
        ("0.01", "0.01"),
        (0, "0.00"),
        ("9999999999.99", "9999999999.99"),
        ("12.30", "12.30"),
    ],
)
def test_given_money_as_number_or_string_then_returned_with_two_places(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any], given: Any, returned: str
) -> None:
    lead = api.lead(contact, funnel, estimated_value=given)
    assert lead["estimated_value"] == returned
    assert api.fetch("leads", lead["id"])["estimated_value"] == returned


@pytest.mark.parametrize(
    "given",
    ["0.001", 12.345, "1.999", -1, "-0.01", "abc", "", "1e3x", "1000000000000", 1e13, True, [1]],
)
def test_given_invalid_money_then_400_naming_estimated_value(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any], given: Any
) -> None:
    body = {
        "contact": contact["id"],
        "funnel": funnel["id"],
        "title": "x",
        "estimated_value": given,
    }
    problem(api.post("leads/", json=body), 400, "estimated_value")


@pytest.mark.parametrize("given", [0, 1, 55, 100])
def test_given_a_probability_in_range_then_kept(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any], given: int
) -> None:
    assert api.lead(contact, funnel, probability=given)["probability"] == given


@pytest.mark.parametrize("given", [-1, 101, 1000, 50.5, "abc"])
def test_given_a_probability_out_of_range_then_400_naming_probability(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any], given: Any
) -> None:
    body = {"contact": contact["id"], "funnel": funnel["id"], "title": "x", "probability": given}
    problem(api.post("leads/", json=body), 400, "probability")


def test_given_a_lead_when_patching_invalid_money_then_400_and_unchanged(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any]
) -> None:
    lead = api.lead(contact, funnel, estimated_value="10.00")
    problem(
        api.patch(f"leads/{lead['id']}/", json={"estimated_value": "1.005"}), 400, "estimated_value"
    )
    problem(api.patch(f"leads/{lead['id']}/", json={"probability": 101}), 400, "probability")
    assert api.fetch("leads", lead["id"])["estimated_value"] == "10.00"


# ----------------------------------------------------------------------------- update and delete


def test_given_a_lead_when_put_without_title_then_400(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any]
) -> None:
    lead = api.lead(contact, funnel)
    problem(
        api.put(f"leads/{lead['id']}/", json={"contact": contact["id"], "funnel": funnel["id"]}),
        400,
        "title",
    )


def test_given_a_lead_when_put_with_required_fields_then_200(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any]
) -> None:
    lead = api.lead(contact, funnel, description="старое")
    body = {
        "contact": contact["id"],
        "funnel": funnel["id"],
        "title": "Новое",
        "estimated_value": "700",
        "probability": 30,
    }
    r = api.put(f"leads/{lead['id']}/", json=body)
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["title"], got["estimated_value"], got["probability"]) == ("Новое", "700.00", 30)
    assert got["stage"] == lead["stage"]


def test_given_a_lead_when_patching_the_title_then_the_rest_stays(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any]
) -> None:
    lead = api.lead(contact, funnel, estimated_value=100, description="описание")
    got = api.ok("PATCH", f"leads/{lead['id']}/", json={"title": "Переименован"})
    assert got["title"] == "Переименован"
    assert (got["estimated_value"], got["description"], got["stage"]) == (
        "100.00",
        "описание",
        lead["stage"],
    )


def test_given_a_lead_when_patching_the_stage_then_recorded_like_move_to_stage(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any]
) -> None:
    lead = api.lead(contact, funnel)
    target = stage_by_name(funnel, "Квалификация")
    got = api.ok("PATCH", f"leads/{lead['id']}/", json={"stage": target["id"]})
    assert got["stage"] == target["id"]
    assert got["stage_changed_at"] is not None
    changes = stage_changes(api, lead["id"])
    assert len(changes) == 1
    assert "Новый лид" in changes[0]["description"] and "Квалификация" in changes[0]["description"]


def test_given_a_lead_when_patching_a_stage_of_another_funnel_then_400(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any]
) -> None:
    lead = api.lead(contact, funnel)
    other = api.funnel()
    problem(
        api.patch(f"leads/{lead['id']}/", json={"stage": other["stages"][2]["id"]}), 400, "stage"
    )
    assert api.fetch("leads", lead["id"])["stage"] == lead["stage"]


def test_given_a_lead_when_patching_funnel_and_stage_together_then_moved(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any]
) -> None:
    lead = api.lead(contact, funnel)
    other = api.funnel()
    target = stage_by_name(other, "Переговоры")
    got = api.ok(
        "PATCH", f"leads/{lead['id']}/", json={"funnel": other["id"], "stage": target["id"]}
    )
    assert (got["funnel"], got["stage"]) == (other["id"], target["id"])
    assert len(stage_changes(api, lead["id"])) == 1


def test_given_a_converted_lead_when_patching_the_stage_then_409(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any]
) -> None:
    lead = api.lead(contact, funnel)
    api.action("leads", lead["id"], "convert_to_deal", status=201)
    problem(api.patch(f"leads/{lead['id']}/", json={"stage": funnel["stages"][2]["id"]}), 409)


def test_given_a_lead_when_patching_read_only_fields_then_ignored(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any]
) -> None:
    lead = api.lead(contact, funnel)
    got = api.ok(
        "PATCH",
        f"leads/{lead['id']}/",
        json={"status": "lost", "closed_at": "2020-01-01T00:00:00Z", "deal": random_id()},
    )
    assert (got["status"], got["closed_at"], got["deal"]) == ("open", None, None)


def test_given_a_lead_when_deleted_then_204_then_404(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any]
) -> None:
    lead = api.lead(contact, funnel)
    r = api.delete(f"leads/{lead['id']}/")
    assert r.status_code == 204
    problem(api.get(f"leads/{lead['id']}/"), 404)
    problem(api.delete(f"leads/{lead['id']}/"), 404)


# ----------------------------------------------------------------------------- move_to_stage


def test_given_an_open_lead_when_moved_then_200_and_a_stage_change_activity(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any]
) -> None:
    lead = api.lead(contact, funnel)
    target = stage_by_name(funnel, "Предложение")
    got = api.action("leads", lead["id"], "move_to_stage", {"stage_id": target["id"]})
    assert got["id"] == lead["id"]
    assert (got["stage"], got["stage_name"], got["status"]) == (target["id"], "Предложение", "open")
    moved_at = parse_ts(got["stage_changed_at"])
    if lead["stage_changed_at"]:
        assert moved_at >= parse_ts(lead["stage_changed_at"])
    assert api.fetch("leads", lead["id"])["stage"] == target["id"]
    changes = stage_changes(api, lead["id"])
    assert len(changes) == 1
    activity = changes[0]
    assert activity["activity_type_display"] == "Смена стадии"
    assert "Новый лид" in activity["description"]
    assert "Предложение" in activity["description"]
    assert activity["lead"] == lead["id"]


def test_given_a_lead_when_moved_to_its_own_stage_then_nothing_changes(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any]
) -> None:
    lead = api.lead(contact, funnel)
    target = stage_by_name(funnel, "Квалификация")
    first = api.action("leads", lead["id"], "move_to_stage", {"stage_id": target["id"]})
    again = api.action("leads", lead["id"], "move_to_stage", {"stage_id": target["id"]})
    assert again["stage"] == target["id"]
    assert again["stage_changed_at"] == first["stage_changed_at"]
    assert again["updated_at"] == first["updated_at"]
    assert len(stage_changes(api, lead["id"])) == 1


def test_given_a_lead_when_moved_back_and_forth_then_one_activity_per_move(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any]
) -> None:
    lead = api.lead(contact, funnel)
    for name in ("Квалификация", "Переговоры", "Новый лид"):
        api.action(
            "leads", lead["id"], "move_to_stage", {"stage_id": stage_by_name(funnel, name)["id"]}
        )
    assert len(stage_changes(api, lead["id"])) == 3


def test_given_a_stage_of_another_funnel_when_moving_a_lead_then_400(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any]
) -> None:
    lead = api.lead(contact, funnel)
    other = api.funnel()
    problem(
        api.post(f"leads/{lead['id']}/move_to_stage/", json={"stage_id": other["stages"][1]["id"]}),
        400,
    )
    assert api.fetch("leads", lead["id"])["stage"] == lead["stage"]
    assert stage_changes(api, lead["id"]) == []


@pytest.mark.parametrize(
    "body", [{}, {"stage_id": None}, {"stage_id": "abc"}, {"stage_id": 12}, {"stage": "x"}]
)
def test_given_no_stage_id_or_not_a_uuid_when_moving_a_lead_then_400_naming_stage_id(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any], body: dict[str, Any]
) -> None:
    lead = api.lead(contact, funnel)
    problem(api.post(f"leads/{lead['id']}/move_to_stage/", json=body), 400, "stage_id")


def test_given_no_body_when_moving_a_lead_then_400(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any]
) -> None:
    lead = api.lead(contact, funnel)
    problem(api.post(f"leads/{lead['id']}/move_to_stage/"), 400)


@pytest.mark.parametrize("state", ["converted", "lost"])
def test_given_a_closed_lead_when_moved_then_409(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any], state: str
) -> None:
    lead = api.lead(contact, funnel)
    if state == "converted":
        api.action("leads", lead["id"], "convert_to_deal", status=201)
    else:
        api.action("leads", lead["id"], "mark_lost", {"reason": "нет бюджета"})
    body = problem(
        api.post(
            f"leads/{lead['id']}/move_to_stage/", json={"stage_id": funnel["stages"][2]["id"]}
        ),
        409,
    )
    assert body["detail"]
    # it stays where conversion left it, or [rev 2] where losing it moved it
    failure = [stage for stage in funnel["stages"] if stage["is_final"] and not stage["is_success"]]
    expected = lead["stage"] if state == "converted" else failure[0]["id"]
    assert api.fetch("leads", lead["id"])["stage"] == expected


# ----------------------------------------------------------------------------- convert_to_deal


def test_given_an_open_lead_when_converted_then_201_with_a_deal_copying_its_fields(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any], manager_me: dict[str, Any]
) -> None:
    stage = stage_by_name(funnel, "Переговоры")
    lead = api.lead(
        contact,
        funnel,
        title="Крупный заказ",
        description="Описание лида",
        estimated_value="150000.50",
        probability=40,
        stage=stage["id"],
        owner=manager_me["id"],
    )
    r = api.post(f"leads/{lead['id']}/convert_to_deal/")
    assert r.status_code == 201, r.text
    deal = r.json()
    assert deal["contact"] == contact["id"]
    assert deal["funnel"] == funnel["id"]
    assert deal["owner"] == manager_me["id"]
    assert deal["title"] == "Крупный заказ"
    assert deal["description"] == "Описание лида"
    assert deal["probability"] == 40
    assert deal["amount"] == "150000.50"
    assert deal["stage"] == stage["id"]
    assert deal["lead"] == lead["id"]
    assert deal["lead_title"] == "Крупный заказ"
    assert (deal["is_won"], deal["is_lost"], deal["closed_at"]) == (False, False, None)
    assert api.fetch("deals", deal["id"])["id"] == deal["id"]
    after = api.fetch("leads", lead["id"])
    assert after["status"] == "converted"
    assert after["deal"] == deal["id"]
    assert after["closed_at"] is not None
    parse_ts(after["closed_at"])


def test_given_a_body_when_converting_then_title_amount_stage_override(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any]
) -> None:
    lead = api.lead(contact, funnel, estimated_value=100)
    stage = stage_by_name(funnel, "Предложение")
    deal = api.action(
        "leads",
        lead["id"],
        "convert_to_deal",
        {"title": "Своя сделка", "amount": "250.5", "stage_id": stage["id"]},
        status=201,
    )
    assert (deal["title"], deal["amount"], deal["stage"]) == ("Своя сделка", "250.50", stage["id"])


def test_given_a_stage_of_another_funnel_when_converting_then_400_and_lead_stays_open(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any]
) -> None:
    lead = api.lead(contact, funnel)
    other = api.funnel()
    problem(
        api.post(
            f"leads/{lead['id']}/convert_to_deal/", json={"stage_id": other["stages"][0]["id"]}
        ),
        400,
    )
    problem(
        api.post(f"leads/{lead['id']}/convert_to_deal/", json={"amount": "1.234"}), 400, "amount"
    )
    assert api.fetch("leads", lead["id"])["status"] == "open"


def test_given_a_converted_lead_when_converted_again_then_409_and_one_deal(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any]
) -> None:
    c = api.contact()
    lead = api.lead(c, funnel)
    api.action("leads", lead["id"], "convert_to_deal", status=201)
    body = problem(api.post(f"leads/{lead['id']}/convert_to_deal/"), 409)
    assert body["detail"]
    assert api.list("deals", contact=c["id"])["count"] == 1


def test_given_concurrent_conversions_of_one_lead_then_exactly_one_deal(
    api: Api, tenants: Tenants, funnel: dict[str, Any]
) -> None:
    c = api.contact()
    lead = api.lead(c, funnel)
    barrier = threading.Barrier(6)
    statuses: list[int] = []

    def convert() -> None:
        with httpx.Client(
            base_url=tenants.server.base_url,
            headers={"Authorization": f"Bearer {api.token}"},
            timeout=30,
        ) as client:
            barrier.wait()
            statuses.append(
                client.post(f"/api/crm/leads/{lead['id']}/convert_to_deal/").status_code
            )

    threads = [threading.Thread(target=convert) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [201] + [409] * 5, statuses
    assert api.list("deals", contact=c["id"])["count"] == 1


# ----------------------------------------------------------------------------- mark_lost


def test_given_an_open_lead_when_marked_lost_then_lost_with_closed_at(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any]
) -> None:
    lead = api.lead(contact, funnel)
    got = api.action("leads", lead["id"], "mark_lost", {"reason": "Ушёл к конкурентам"})
    assert got["status"] == "lost"
    parse_ts(got["closed_at"])
    assert api.fetch("leads", lead["id"])["status"] == "lost"


def test_given_a_converted_lead_when_marked_lost_then_409(
    api: Api, funnel: dict[str, Any], contact: dict[str, Any]
) -> None:
    lead = api.lead(contact, funnel)
    deal = api.action("leads", lead["id"], "convert_to_deal", status=201)
    problem(api.post(f"leads/{lead['id']}/mark_lost/", json={"reason": "x"}), 409)
    after = api.fetch("leads", lead["id"])
    assert (after["status"], after["deal"]) == ("converted", deal["id"])


# ----------------------------------------------------------------------------- list


@pytest.fixture(scope="module")
def pipeline(api: Api, manager: Api, manager_me: dict[str, Any]) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    f1, f2 = api.funnel(name=f"F1 {tag}"), api.funnel(name=f"F2 {tag}")
    c1 = api.contact(first_name="Иван")
    c2 = api.contact(first_name="Пётр")
    ivan = api.lead(
        c1,
        f1,
        title=f"Иван заказ {tag}",
        estimated_value=300,
        source=f"Сайт-{tag}",
        description="кухня",
    )
    big = manager.lead(
        c2,
        f1,
        title=f"Большой {tag}",
        estimated_value=1000,
        source=f"звонок-{tag}",
        stage=stage_by_name(f1, "Переговоры")["id"],
        description=f"ИВАН советовал {tag}",
    )
    small = api.lead(c1, f2, title=f"Малый {tag}", estimated_value="5.5", description="мелочь")
    lost = api.lead(c2, f2, title=f"Потерян {tag}", estimated_value=50)
    api.action("leads", lost["id"], "mark_lost", {"reason": "дорого"})
    converted = api.lead(c2, f2, title=f"Конвертирован {tag}", estimated_value=70)
    api.action("leads", converted["id"], "convert_to_deal", status=201)
    return {
        "tag": tag,
        "f1": f1,
        "f2": f2,
        "c1": c1,
        "c2": c2,
        "ivan": ivan,
        "big": big,
        "small": small,
        "lost": lost,
        "converted": converted,
        "manager": manager_me,
    }


def lead_ids(api: Api, p: dict[str, Any], **params: Any) -> set[str]:
    mine = {p[k]["id"] for k in ("ivan", "big", "small", "lost", "converted")}
    return set(api.ids("leads", **params)) & mine


def names(p: dict[str, Any], *keys: str) -> set[str]:
    return {p[k]["id"] for k in keys}


def test_given_leads_when_filtering_by_title_cyrillic_case_insensitive_then_found(
    api: Api, pipeline: Any
) -> None:
    assert lead_ids(api, pipeline, title="иван") == names(pipeline, "ivan")
    assert lead_ids(api, pipeline, title="БОЛЬШОЙ") == names(pipeline, "big")


def test_given_leads_when_filtering_by_funnel_stage_owner_contact_then_matching(
    api: Api, pipeline: Any
) -> None:
    p = pipeline
    assert lead_ids(api, p, funnel=p["f1"]["id"]) == names(p, "ivan", "big")
    assert lead_ids(api, p, stage=stage_by_name(p["f1"], "Переговоры")["id"]) == names(p, "big")
    assert lead_ids(api, p, owner=p["manager"]["id"]) == names(p, "big")
    assert lead_ids(api, p, contact=p["c1"]["id"]) == names(p, "ivan", "small")
    assert lead_ids(api, p, contact=p["c1"]["id"], funnel=p["f2"]["id"]) == names(p, "small")


def test_given_leads_when_filtering_by_status_and_source_then_matching(
    api: Api, pipeline: Any
) -> None:
    p = pipeline
    assert lead_ids(api, p, status="lost") == names(p, "lost")
    assert lead_ids(api, p, status="converted") == names(p, "converted")
    assert lead_ids(api, p, status="open") == names(p, "ivan", "big", "small")
    assert lead_ids(api, p, source=f"сайт-{p['tag']}") == names(p, "ivan")


def test_given_leads_when_filtering_by_created_at_range_then_inclusive(
    api: Api, pipeline: Any
) -> None:
    p = pipeline
    day = date.fromisoformat(p["ivan"]["created_at"][:10])
    assert lead_ids(
        api,
        p,
        funnel=p["f1"]["id"],
        created_at_after=day.isoformat(),
        created_at_before=day.isoformat(),
    ) == names(p, "ivan", "big")
    assert (
        lead_ids(
            api, p, funnel=p["f1"]["id"], created_at_after=(day + timedelta(days=1)).isoformat()
        )
        == set()
    )
    assert (
        lead_ids(
            api, p, funnel=p["f1"]["id"], created_at_before=(day - timedelta(days=1)).isoformat()
        )
        == set()
    )


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("funnel", "abc"),
        ("stage", "1"),
        ("owner", "me"),
        ("contact", "x-y"),
        ("status", "won"),
        ("created_at_after", "2026-02-30"),
        ("created_at_before", "soon"),
    ],
)
def test_given_a_lead_filter_value_of_the_wrong_form_then_400_naming_it(
    api: Api, param: str, value: str
) -> None:
    bad_param(api.get("leads/", params={param: value}), param)


def test_given_leads_when_searching_then_title_description_and_contact_match(
    api: Api, pipeline: Any
) -> None:
    p = pipeline
    # title of one, description of another, and [rev 2] the contact's name of the third
    assert lead_ids(api, p, search="иван") == names(p, "ivan", "big", "small")
    assert lead_ids(api, p, search="МЕЛОЧЬ") == names(p, "small")
    # every word must match some field
    assert lead_ids(api, p, search="иван кухня") == names(p, "ivan")
    assert lead_ids(api, p, search="мелочь иван") == names(p, "small")


def test_given_leads_when_ordering_by_estimated_value_and_title_then_sorted(
    api: Api, pipeline: Any
) -> None:
    p = pipeline
    asc = [
        lead["estimated_value"]
        for lead in api.list("leads", funnel=p["f1"]["id"], ordering="estimated_value")["results"]
    ]
    assert asc == ["300.00", "1000.00"]
    values = [
        lead["estimated_value"]
        for lead in api.list("leads", funnel=p["f2"]["id"], ordering="-estimated_value")["results"]
    ]
    assert values == ["70.00", "50.00", "5.50"]
    titles = [
        lead["title"]
        for lead in api.list("leads", funnel=p["f2"]["id"], ordering="title")["results"]
    ]
    assert titles == sorted(titles) and len(titles) == 3
    bad_param(api.get("leads/", params={"ordering": "-probability"}), "ordering")
