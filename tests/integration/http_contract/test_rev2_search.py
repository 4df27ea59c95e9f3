"""[rev 2] Section 1, Lists, and section 3: search that finds Russian names as people type
them (ё = е, several words, case), lead and deal search over the contact, phone-like words,
the phone filter in the national form, and Russian ordering on PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any, cast

import pytest

from .conftest import Api

PHONE = "+79991234567"
UNRELATED = "+79161112233"


@pytest.fixture(scope="module")
def people(api: Api) -> dict[str, Any]:
    tag = f"метка{uuid.uuid4().hex[:6]}"  # never a phone-like word
    funnel = api.funnel()
    yo = api.contact(first_name="Антон", last_name="Ёжиков")
    ye = api.contact(first_name="Борис", last_name="Ежиков")
    sergey = api.contact(
        first_name="Сергей",
        last_name="Васильев",
        middle_name="Андреевич",
        phone=PHONE,
    )
    petr = api.contact(first_name="Пётр", last_name="Сидоров", phone=UNRELATED)
    zhukov = api.contact(first_name="Глеб", last_name="Жуков")
    lead = api.lead(sergey, funnel, title=f"Поставка окон {tag}", description="пластик")
    other_lead = api.lead(petr, funnel, title=f"Поставка дверей {tag}", description="дерево")
    deal = api.deal(yo, funnel, title=f"Монтаж {tag}")
    other_deal = api.deal(petr, funnel, title=f"Монтаж {tag}")
    sergey_deal = api.deal(sergey, funnel, title=f"Ремонт {tag}")
    return {
        "tag": tag,
        "yo": yo,
        "ye": ye,
        "sergey": sergey,
        "petr": petr,
        "zhukov": zhukov,
        "lead": lead,
        "other_lead": other_lead,
        "deal": deal,
        "other_deal": other_deal,
        "sergey_deal": sergey_deal,
    }


CONTACTS = ("yo", "ye", "sergey", "petr", "zhukov")
LEADS = ("lead", "other_lead")
DEALS = ("deal", "other_deal", "sergey_deal")


def found(api: Api, people: dict[str, Any], resource: str, **params: Any) -> set[str]:
    """Which of this module's objects of `resource` the list answers, by their keys."""
    keys = {"contacts": CONTACTS, "leads": LEADS, "deals": DEALS}[resource]
    mine = {people[k]["id"]: k for k in keys}
    ids = cast("list[str]", api.ids(resource, **params))
    return {mine[i] for i in ids if i in mine}


# ----------------------------------------------------------------------------- ё and е


@pytest.mark.parametrize("query", ["ежиков", "ёжиков", "Ежиков", "Ёжиков", "ЁЖИКОВ", "ЕЖИК"])
def test_given_yo_and_ye_when_searching_contacts_then_they_are_the_same_letter(
    api: Api, people: dict[str, Any], query: str
) -> None:
    assert found(api, people, "contacts", search=query) == {"yo", "ye"}


@pytest.mark.parametrize("query", ["петр", "пётр", "ПЁТР", "ПЕТР"])
def test_given_a_yo_in_a_first_name_when_searching_with_e_or_yo_then_found(
    api: Api, people: dict[str, Any], query: str
) -> None:
    assert found(api, people, "contacts", search=query) == {"petr"}


# ----------------------------------------------------------------------------- several words


@pytest.mark.parametrize(
    "query", ["Васильев Сергей", "Сергей Васильев", "васильев  сергей", "ВАСИЛЬЕВ СЕРГЕЙ"]
)
def test_given_several_words_when_each_matches_a_field_then_the_contact_is_found(
    api: Api, people: dict[str, Any], query: str
) -> None:
    assert found(api, people, "contacts", search=query) == {"sergey"}


def test_given_several_words_when_one_matches_nothing_of_a_contact_then_it_is_not_found(
    api: Api, people: dict[str, Any]
) -> None:
    assert found(api, people, "contacts", search="Васильев Пётр") == set()
    assert found(api, people, "contacts", search="Сидоров Сергей") == set()


def test_given_words_over_name_and_middle_name_then_found(api: Api, people: dict[str, Any]) -> None:
    assert found(api, people, "contacts", search="Сергей Андреевич") == {"sergey"}


@pytest.mark.parametrize("query", ["васильев", "ВАСИЛЬЕВ", "ВаСиЛьЕв", "сергей"])
def test_given_cyrillic_in_any_case_when_searching_then_found(
    api: Api, people: dict[str, Any], query: str
) -> None:
    assert found(api, people, "contacts", search=query) == {"sergey"}


# ----------------------------------------------------------------------------- phone-like words


@pytest.mark.parametrize(
    "query", ["89991234567", "8(999)123-45-67", "+79991234567", "+7(999)123-45-67", "9991234567"]
)
def test_given_a_phone_like_word_when_searching_contacts_then_matched_like_the_phone_filter(
    api: Api, people: dict[str, Any], query: str
) -> None:
    assert found(api, people, "contacts", search=query) == {"sergey"}


def test_given_a_phone_like_word_and_a_name_when_searching_then_both_must_match(
    api: Api, people: dict[str, Any]
) -> None:
    assert found(api, people, "contacts", search="Васильев 89991234567") == {"sergey"}
    assert found(api, people, "contacts", search="Сидоров 89991234567") == set()


# ----------------------------------------------------------------------------- leads and deals


@pytest.mark.parametrize("query", ["Васильев", "сергей", "Васильев Сергей", "ВАСИЛЬЕВ"])
def test_given_a_contact_name_when_searching_leads_then_its_leads_are_found(
    api: Api, people: dict[str, Any], query: str
) -> None:
    assert found(api, people, "leads", search=query) == {"lead"}


@pytest.mark.parametrize("query", ["89991234567", "+79991234567", "9991234567"])
def test_given_a_contact_phone_when_searching_leads_then_its_leads_are_found(
    api: Api, people: dict[str, Any], query: str
) -> None:
    assert found(api, people, "leads", search=query) == {"lead"}


def test_given_words_over_title_and_contact_when_searching_leads_then_all_must_match(
    api: Api, people: dict[str, Any]
) -> None:
    tag = people["tag"]
    assert found(api, people, "leads", search=f"Поставка {tag}") == {"lead", "other_lead"}
    assert found(api, people, "leads", search=f"Поставка {tag} Васильев") == {"lead"}
    assert found(api, people, "leads", search=f"пётр дверей {tag}") == {"other_lead"}
    assert found(api, people, "leads", search=f"окон {tag} Сидоров") == set()


@pytest.mark.parametrize("query", ["ежиков", "ёжиков", "Антон Ёжиков", "антон ежиков"])
def test_given_a_contact_name_when_searching_deals_then_its_deals_are_found(
    api: Api, people: dict[str, Any], query: str
) -> None:
    assert found(api, people, "deals", search=query) == {"deal"}


@pytest.mark.parametrize("query", ["89991234567", "+79991234567", "9991234567"])
def test_given_a_contact_phone_when_searching_deals_then_its_deals_are_found(
    api: Api, people: dict[str, Any], query: str
) -> None:
    assert found(api, people, "deals", search=query) == {"sergey_deal"}


def test_given_words_over_title_and_contact_when_searching_deals_then_all_must_match(
    api: Api, people: dict[str, Any]
) -> None:
    tag = people["tag"]
    assert found(api, people, "deals", search=f"Монтаж {tag}") == {"deal", "other_deal"}
    assert found(api, people, "deals", search=f"Монтаж {tag} Сидоров") == {"other_deal"}
    assert found(api, people, "deals", search=f"Ремонт {tag} Ёжиков") == set()


# ----------------------------------------------------------------------------- the phone filter


@pytest.mark.parametrize(
    "value",
    ["8 999 123-45-67", "89991234567", "8 (999) 123", "+7 999 123", "999 123", "9991234"],
)
def test_given_the_phone_filter_in_any_form_then_the_number_is_found_and_no_other(
    api: Api, people: dict[str, Any], value: str
) -> None:
    assert found(api, people, "contacts", phone=value) == {"sergey"}


def test_given_the_phone_filter_with_the_other_number_then_only_that_one(
    api: Api, people: dict[str, Any]
) -> None:
    assert found(api, people, "contacts", phone="8 916 111-22-33") == {"petr"}


# ----------------------------------------------------------------------------- Russian ordering


def test_given_russian_last_names_when_ordering_on_postgres_then_yo_sorts_after_v_before_zh(
    api: Api, backend: str
) -> None:
    if backend != "postgres":
        pytest.skip("Russian alphabetical ordering is promised on PostgreSQL only")
    tag = f"Порядок{uuid.uuid4().hex[:8]}"
    for last_name in ("Жуков", "Ёлкин", "Васильев"):
        api.contact(first_name=tag, last_name=last_name)
    asc = [
        c["last_name"]
        for c in api.list("contacts", first_name=tag, ordering="last_name")["results"]
    ]
    assert asc == ["Васильев", "Ёлкин", "Жуков"]
    desc = [
        c["last_name"]
        for c in api.list("contacts", first_name=tag, ordering="-last_name")["results"]
    ]
    assert desc == ["Жуков", "Ёлкин", "Васильев"]
