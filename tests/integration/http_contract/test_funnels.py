"""Section 3, Funnels and Funnel stages."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from .checks import DEFAULT_STAGES, bad_param, problem, stage_by_name
from .conftest import Api

# ----------------------------------------------------------------------------- funnels: create


def test_given_no_stages_key_when_creating_a_funnel_then_the_six_default_stages_exist(
    api: Api, tenants: Any
) -> None:
    r = api.post("funnels/", json={"name": "Продажи услуг"})
    assert r.status_code == 201, r.text
    funnel = r.json()
    assert r.headers["location"].endswith(f"/api/crm/funnels/{funnel['id']}/")
    got = [(s["name"], s["order"], s["is_final"], s["is_success"]) for s in funnel["stages"]]
    assert got == DEFAULT_STAGES
    assert funnel["name"] == "Продажи услуг"
    assert funnel["is_active"] is True
    assert funnel["company_name"] == tenants.a.company
    for stage in funnel["stages"]:
        assert stage["funnel"] == funnel["id"]
        assert stage["color"].startswith("#") and stage["color"] == stage["color"].lower()
    # the stages are real objects at /funnel-stages/
    listed = api.list("funnel-stages", funnel=funnel["id"])
    assert [s["name"] for s in listed["results"]] == [s[0] for s in DEFAULT_STAGES]
    assert api.fetch("funnels", funnel["id"]) == funnel


def test_given_an_empty_stages_list_when_creating_a_funnel_then_it_has_no_stages(api: Api) -> None:
    funnel = api.funnel(stages=[])
    assert funnel["stages"] == []
    assert api.list("funnel-stages", funnel=funnel["id"])["count"] == 0


def test_given_custom_stages_when_creating_a_funnel_then_they_are_returned_by_order(
    api: Api,
) -> None:
    funnel = api.funnel(
        stages=[
            {
                "name": "Третья",
                "order": 30,
                "color": "#AABBCC",
                "is_final": True,
                "is_success": True,
            },
            {"name": "Первая", "order": 10},
            {
                "name": "Вторая",
                "order": 20,
                "color": "#00ff00",
                "is_final": True,
                "is_success": False,
            },
        ]
    )
    stages = funnel["stages"]
    assert [s["name"] for s in stages] == ["Первая", "Вторая", "Третья"]
    assert [s["order"] for s in stages] == [10, 20, 30]
    assert stages[2]["color"] == "#aabbcc"
    assert stages[1]["color"] == "#00ff00"
    assert stages[0]["color"] == "#3498db"
    assert (stages[0]["is_final"], stages[0]["is_success"]) == (False, False)
    assert (stages[1]["is_final"], stages[1]["is_success"]) == (True, False)
    assert (stages[2]["is_final"], stages[2]["is_success"]) == (True, True)


@pytest.mark.parametrize(
    ("stages", "key"),
    [
        (
            [
                {"name": "a", "order": 1},
                {"name": "b", "order": 2},
                {"name": "c", "order": 3, "color": "red"},
            ],
            "stages.2.color",
        ),
        ([{"name": "a", "order": 1}, {"name": "", "order": 2}], "stages.1.name"),
        ([{"name": "a", "order": -1}], "stages.0.order"),
        ([{"name": "a", "order": 1, "color": "#12345"}], "stages.0.color"),
    ],
)
def test_given_an_invalid_stage_when_creating_a_funnel_then_400_with_a_dotted_path(
    api: Api, stages: list[dict[str, Any]], key: str
) -> None:
    name = f"bad-stages-{uuid.uuid4().hex[:8]}"
    problem(api.post("funnels/", json={"name": name, "stages": stages}), 400, key)
    assert api.list("funnels", search=name)["count"] == 0


def test_given_two_stages_with_the_same_order_when_creating_a_funnel_then_400(api: Api) -> None:
    name = f"clash-{uuid.uuid4().hex[:8]}"
    body = problem(
        api.post(
            "funnels/",
            json={"name": name, "stages": [{"name": "a", "order": 1}, {"name": "b", "order": 1}]},
        ),
        400,
    )
    assert any(k.startswith("stages") for k in body["errors"]), body
    assert api.list("funnels", search=name)["count"] == 0


def test_given_a_success_stage_that_is_not_final_when_creating_a_funnel_then_400(api: Api) -> None:
    body = problem(
        api.post(
            "funnels/",
            json={"name": "x", "stages": [{"name": "a", "order": 1, "is_success": True}]},
        ),
        400,
    )
    assert any(k.startswith("stages") for k in body["errors"]), body


def test_given_stages_that_is_not_a_list_when_creating_a_funnel_then_400(api: Api) -> None:
    problem(api.post("funnels/", json={"name": "x", "stages": "many"}), 400, "stages")


@pytest.mark.parametrize(
    "body", [{}, {"name": ""}, {"name": None}, {"name": "я" * 256}, {"description": "x"}]
)
def test_given_no_valid_name_when_creating_a_funnel_then_400_naming_name(
    api: Api, body: dict[str, Any]
) -> None:
    problem(api.post("funnels/", json=body), 400, "name")


def test_given_a_255_character_name_when_creating_a_funnel_then_it_is_kept(api: Api) -> None:
    name = "ё" * 255
    assert api.funnel(name=name)["name"] == name


# ----------------------------------------------------------------------------- funnels: update


def test_given_a_funnel_when_put_without_name_then_400(api: Api) -> None:
    funnel = api.funnel()
    problem(api.put(f"funnels/{funnel['id']}/", json={"description": "без имени"}), 400, "name")
    assert api.fetch("funnels", funnel["id"])["name"] == funnel["name"]


def test_given_a_funnel_when_put_with_all_fields_then_200_and_stages_kept(api: Api) -> None:
    funnel = api.funnel(description="старое")
    r = api.put(
        f"funnels/{funnel['id']}/",
        json={"name": "Новое имя", "description": "новое", "is_active": False},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["name"], body["description"], body["is_active"]) == ("Новое имя", "новое", False)
    assert [s["id"] for s in body["stages"]] == [s["id"] for s in funnel["stages"]]
    assert api.fetch("funnels", funnel["id"])["name"] == "Новое имя"


def test_given_a_funnel_when_patching_one_field_then_the_others_stay(api: Api) -> None:
    funnel = api.funnel(description="описание")
    body = api.ok("PATCH", f"funnels/{funnel['id']}/", json={"is_active": False})
    assert body["is_active"] is False
    assert body["name"] == funnel["name"]
    assert body["description"] == "описание"
    assert body["updated_at"] >= funnel["updated_at"]


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
@pytest.mark.parametrize("stages", [[], [{"name": "x", "order": 1}]])
def test_given_stages_in_a_funnel_update_then_400(api: Api, method: str, stages: list[Any]) -> None:
    funnel = api.funnel()
    body = problem(
        api.request(method, f"funnels/{funnel['id']}/", json={"name": "x", "stages": stages}), 400
    )
    assert any(k.startswith("stages") for k in body["errors"]), body
    after = api.fetch("funnels", funnel["id"])
    assert after["name"] == funnel["name"]
    assert len(after["stages"]) == 6


# ----------------------------------------------------------------------------- funnels: delete


def test_given_an_empty_funnel_when_deleted_then_204_and_its_stages_go(api: Api) -> None:
    funnel = api.funnel()
    r = api.delete(f"funnels/{funnel['id']}/")
    assert r.status_code == 204
    assert r.content == b""
    problem(api.get(f"funnels/{funnel['id']}/"), 404)
    problem(api.get(f"funnel-stages/{funnel['stages'][0]['id']}/"), 404)
    assert api.list("funnel-stages", funnel=funnel["id"])["count"] == 0
    problem(api.delete(f"funnels/{funnel['id']}/"), 404)


@pytest.mark.parametrize("occupant", ["lead", "deal", "converted_lead"])
def test_given_a_funnel_with_a_lead_or_deal_when_deleted_then_409_and_kept(
    api: Api, occupant: str
) -> None:
    funnel = api.funnel()
    contact = api.contact()
    if occupant == "deal":
        api.deal(contact, funnel)
    else:
        lead = api.lead(contact, funnel)
        if occupant == "converted_lead":
            deal = api.action("leads", lead["id"], "convert_to_deal", status=201)
            api.ok("DELETE", f"deals/{deal['id']}/", 204)
    body = problem(api.delete(f"funnels/{funnel['id']}/"), 409)
    assert body["detail"]
    assert api.fetch("funnels", funnel["id"])["id"] == funnel["id"]


# ----------------------------------------------------------------------------- funnels: list


def test_given_funnels_when_filtering_by_is_active_then_only_matching(api: Api) -> None:
    tag = uuid.uuid4().hex[:8]
    active = api.funnel(name=f"Актив {tag}")
    inactive = api.funnel(name=f"Архив {tag}", is_active=False)
    for value in ("false", "0"):
        assert api.ids("funnels", is_active=value, search=tag) == [inactive["id"]]
    for value in ("true", "1"):
        assert api.ids("funnels", is_active=value, search=tag) == [active["id"]]


@pytest.mark.parametrize("value", ["maybe", "2", "yes-no"])
def test_given_a_wrong_boolean_when_filtering_funnels_then_400_naming_is_active(
    api: Api, value: str
) -> None:
    bad_param(api.get("funnels/", params={"is_active": value}), "is_active")


def test_given_funnels_when_searching_then_name_and_description_match_case_insensitively(
    api: Api,
) -> None:
    tag = uuid.uuid4().hex[:8]
    by_name = api.funnel(name=f"Иван Продажи {tag}")
    by_description = api.funnel(name=f"Другое {tag}", description=f"Для ИВАНА {tag}")
    api.funnel(name=f"Прочее {tag}")
    found = set(api.ids("funnels", search="иван"))
    assert {by_name["id"], by_description["id"]} <= found
    assert set(api.ids("funnels", search=f"ПРОДАЖИ {tag}")) == {by_name["id"]}
    assert set(api.ids("funnels", search=f"для ивана {tag}")) == {by_description["id"]}


def test_given_funnels_when_ordering_by_name_then_sorted_both_ways(api: Api) -> None:
    tag = uuid.uuid4().hex[:8]
    names = [f"{tag} В", f"{tag} А", f"{tag} Б"]
    for n in names:
        api.funnel(name=n)
    asc = [f["name"] for f in api.list("funnels", search=tag, ordering="name")["results"]]
    assert asc == [f"{tag} А", f"{tag} Б", f"{tag} В"]
    desc = [f["name"] for f in api.list("funnels", search=tag, ordering="-name")["results"]]
    assert desc == list(reversed(asc))


def test_given_funnels_when_ordering_by_created_at_then_oldest_first_and_default_newest_first(
    api: Api,
) -> None:
    tag = uuid.uuid4().hex[:8]
    made = [api.funnel(name=f"{tag} {i}")["id"] for i in range(3)]
    assert api.ids("funnels", search=tag, ordering="created_at") == made
    assert api.ids("funnels", search=tag, ordering="-created_at") == list(reversed(made))
    assert api.ids("funnels", search=tag) == list(reversed(made))


def test_given_funnels_when_ordering_by_two_fields_then_accepted(api: Api) -> None:
    tag = uuid.uuid4().hex[:8]
    a1 = api.funnel(name=f"{tag}", description="1")["id"]
    a2 = api.funnel(name=f"{tag}", description="2")["id"]
    assert api.ids("funnels", search=tag, ordering="name,created_at") == [a1, a2]
    assert api.ids("funnels", search=tag, ordering="name,-created_at") == [a2, a1]
    bad_param(api.get("funnels/", params={"ordering": "name,bogus"}), "ordering")


# ----------------------------------------------------------------------------- stages


@pytest.fixture()
def funnel(api: Api) -> dict[str, Any]:
    return api.funnel()


def test_given_a_funnel_when_adding_a_stage_with_defaults_then_after_the_last_with_default_colour(
    api: Api, funnel: dict[str, Any]
) -> None:
    r = api.post("funnel-stages/", json={"funnel": funnel["id"], "name": "Доп. стадия"})
    assert r.status_code == 201, r.text
    stage = r.json()
    assert r.headers["location"].endswith(f"/api/crm/funnel-stages/{stage['id']}/")
    assert stage["order"] > 6
    assert stage["color"] == "#3498db"
    assert stage["is_final"] is False
    assert stage["is_success"] is False
    assert stage["funnel"] == funnel["id"]
    stages = api.fetch("funnels", funnel["id"])["stages"]
    assert stages[-1]["id"] == stage["id"]
    assert len(stages) == 7


def test_given_an_empty_funnel_when_adding_a_stage_without_order_then_it_gets_an_order(
    api: Api,
) -> None:
    empty = api.funnel(stages=[])
    first = api.create("funnel-stages", {"funnel": empty["id"], "name": "Одна"})
    second = api.create("funnel-stages", {"funnel": empty["id"], "name": "Две"})
    assert first["order"] >= 0
    assert second["order"] > first["order"]


@pytest.mark.parametrize("body", [{"name": "x"}, {"funnel": None, "name": "x"}])
def test_given_no_funnel_when_creating_a_stage_then_400_naming_funnel(
    api: Api, body: dict[str, Any]
) -> None:
    problem(api.post("funnel-stages/", json=body), 400, "funnel")


def test_given_no_name_when_creating_a_stage_then_400_naming_name(
    api: Api, funnel: dict[str, Any]
) -> None:
    problem(api.post("funnel-stages/", json={"funnel": funnel["id"]}), 400, "name")


def test_given_a_funnel_id_that_is_not_a_uuid_when_creating_a_stage_then_400(api: Api) -> None:
    problem(api.post("funnel-stages/", json={"funnel": "abc", "name": "x"}), 400, "funnel")


@pytest.mark.parametrize(
    ("given", "returned"), [("#ABCDEF", "#abcdef"), ("#abcdef", "#abcdef"), ("#A1b2C3", "#a1b2c3")]
)
def test_given_a_colour_in_either_case_then_it_is_returned_lower_case(
    api: Api, funnel: dict[str, Any], given: str, returned: str
) -> None:
    stage = api.create("funnel-stages", {"funnel": funnel["id"], "name": "Цвет", "color": given})
    assert stage["color"] == returned
    assert api.fetch("funnel-stages", stage["id"])["color"] == returned
    patched = api.ok("PATCH", f"funnel-stages/{stage['id']}/", json={"color": "#FF0000"})
    assert patched["color"] == "#ff0000"


@pytest.mark.parametrize("color", ["red", "#12345", "#1234567", "123456", "#GGGGGG", ""])
def test_given_a_colour_that_is_not_rrggbb_then_400_naming_color(
    api: Api, funnel: dict[str, Any], color: str
) -> None:
    problem(
        api.post("funnel-stages/", json={"funnel": funnel["id"], "name": "x", "color": color}),
        400,
        "color",
    )


def test_given_an_order_that_clashes_when_creating_a_stage_then_400_naming_order(
    api: Api, funnel: dict[str, Any]
) -> None:
    problem(
        api.post("funnel-stages/", json={"funnel": funnel["id"], "name": "Дубль", "order": 3}),
        400,
        "order",
    )
    assert len(api.fetch("funnels", funnel["id"])["stages"]) == 6


def test_given_an_order_that_clashes_when_patching_a_stage_then_400_naming_order(
    api: Api, funnel: dict[str, Any]
) -> None:
    stage = funnel["stages"][0]
    problem(api.patch(f"funnel-stages/{stage['id']}/", json={"order": 2}), 400, "order")
    assert api.fetch("funnel-stages", stage["id"])["order"] == 1


def test_given_the_same_order_in_another_funnel_then_no_clash(
    api: Api, funnel: dict[str, Any]
) -> None:
    empty = api.funnel(stages=[])
    assert (
        api.create("funnel-stages", {"funnel": empty["id"], "name": "x", "order": 1})["order"] == 1
    )


@pytest.mark.parametrize("order", [-1, "abc", 1.5])
def test_given_an_invalid_order_then_400_naming_order(
    api: Api, funnel: dict[str, Any], order: Any
) -> None:
    problem(
        api.post("funnel-stages/", json={"funnel": funnel["id"], "name": "x", "order": order}),
        400,
        "order",
    )


def test_given_order_zero_then_accepted(api: Api) -> None:
    empty = api.funnel(stages=[])
    assert (
        api.create("funnel-stages", {"funnel": empty["id"], "name": "x", "order": 0})["order"] == 0
    )


def test_given_is_success_without_is_final_then_400(api: Api, funnel: dict[str, Any]) -> None:
    problem(
        api.post("funnel-stages/", json={"funnel": funnel["id"], "name": "x", "is_success": True}),
        400,
    )
    problem(
        api.post(
            "funnel-stages/",
            json={"funnel": funnel["id"], "name": "x", "is_success": True, "is_final": False},
        ),
        400,
    )
    success = stage_by_name(funnel, "Закрыта успешно")
    problem(api.patch(f"funnel-stages/{success['id']}/", json={"is_final": False}), 400)
    plain = stage_by_name(funnel, "Квалификация")
    problem(api.patch(f"funnel-stages/{plain['id']}/", json={"is_success": True}), 400)
    assert api.fetch("funnel-stages", success["id"])["is_final"] is True
    assert api.fetch("funnel-stages", plain["id"])["is_success"] is False


def test_given_a_final_success_stage_when_created_then_accepted(
    api: Api, funnel: dict[str, Any]
) -> None:
    stage = api.create(
        "funnel-stages",
        {"funnel": funnel["id"], "name": "Ура", "is_final": True, "is_success": True},
    )
    assert (stage["is_final"], stage["is_success"]) == (True, True)


def test_given_a_stage_when_patching_its_funnel_then_the_funnel_is_kept(
    api: Api, funnel: dict[str, Any]
) -> None:
    other = api.funnel(stages=[])
    stage = funnel["stages"][1]
    r = api.patch(
        f"funnel-stages/{stage['id']}/", json={"funnel": other["id"], "name": "Переименована"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["funnel"] == funnel["id"]
    assert r.json()["name"] == "Переименована"
    assert api.list("funnel-stages", funnel=other["id"])["count"] == 0


def test_given_a_stage_when_put_without_funnel_then_200(api: Api, funnel: dict[str, Any]) -> None:
    stage = funnel["stages"][1]
    body = {
        "name": "Полная",
        "order": 20,
        "color": "#123ABC",
        "is_final": False,
        "is_success": False,
    }
    r = api.put(f"funnel-stages/{stage['id']}/", json=body)
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["name"], got["order"], got["color"], got["funnel"]) == (
        "Полная",
        20,
        "#123abc",
        funnel["id"],
    )
    assert [s["id"] for s in api.fetch("funnels", funnel["id"])["stages"]][-1] == stage["id"]


def test_given_a_stage_when_put_without_name_then_400(api: Api, funnel: dict[str, Any]) -> None:
    stage = funnel["stages"][1]
    problem(api.put(f"funnel-stages/{stage['id']}/", json={"order": 40}), 400, "name")


def test_given_stages_when_filtering_by_funnel_then_only_its_stages_by_order(
    api: Api, funnel: dict[str, Any]
) -> None:
    api.funnel()
    listed = api.list("funnel-stages", funnel=funnel["id"])
    assert listed["count"] == 6
    assert [s["order"] for s in listed["results"]] == [1, 2, 3, 4, 5, 6]
    assert {s["funnel"] for s in listed["results"]} == {funnel["id"]}


def test_given_stages_of_two_funnels_then_default_ordering_is_funnel_then_order(api: Api) -> None:
    everything = api.list("funnel-stages", page_size=500)["results"]
    keys = [(s["funnel"], s["order"]) for s in everything]
    # grouped by funnel, ascending order inside each group
    seen: list[str] = []
    for funnel_id, _ in keys:
        if not seen or seen[-1] != funnel_id:
            assert funnel_id not in seen, "stages of one funnel are not together"
            seen.append(funnel_id)
    for funnel_id in seen:
        orders = [o for f, o in keys if f == funnel_id]
        assert orders == sorted(orders)


@pytest.mark.parametrize("value", ["abc", "123", "not-a-uuid"])
def test_given_a_wrong_funnel_id_when_filtering_stages_then_400_naming_funnel(
    api: Api, value: str
) -> None:
    bad_param(api.get("funnel-stages/", params={"funnel": value}), "funnel")


def test_given_an_empty_stage_when_deleted_then_204_and_gone(
    api: Api, funnel: dict[str, Any]
) -> None:
    stage = funnel["stages"][2]
    assert api.delete(f"funnel-stages/{stage['id']}/").status_code == 204
    problem(api.get(f"funnel-stages/{stage['id']}/"), 404)
    assert stage["id"] not in [s["id"] for s in api.fetch("funnels", funnel["id"])["stages"]]


@pytest.mark.parametrize("occupant", ["lead", "deal"])
def test_given_a_stage_with_a_lead_or_deal_when_deleted_then_409(
    api: Api, funnel: dict[str, Any], occupant: str
) -> None:
    stage = funnel["stages"][1]
    contact = api.contact()
    if occupant == "lead":
        api.lead(contact, funnel, stage=stage["id"])
    else:
        api.deal(contact, funnel, stage=stage["id"])
    problem(api.delete(f"funnel-stages/{stage['id']}/"), 409)
    assert api.fetch("funnel-stages", stage["id"])["id"] == stage["id"]
