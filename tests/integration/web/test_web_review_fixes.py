"""Fixes from the web app's review, as the server renders them: filter errors in Russian, the
amount a card's edit form starts from, the panel page's way back to its board, a stage change
shown once in the timeline, and the top bar's current section."""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal

import pytest
from flask import Flask

from crm_adapters.sql.migrate import upgrade
from crm_core.ports import Resource
from crm_core.values import DealId, StageId
from crm_http.container import Container
from tests.integration.web.conftest import make_app
from tests.integration.web.test_panel import Company, sign_in

HTMX_LIST = {"HX-Request": "true", "HX-Target": "list-results"}
ENGLISH = ("Not a valid", "Must be", "Unknown ordering", "greater than", "one of:")


@pytest.fixture(scope="module")
def container(module_database_url: str) -> Container:
    return Container()


@pytest.fixture(scope="module")
def app(
    module_database_url: str, tmp_path_factory: pytest.TempPathFactory, container: Container
) -> Iterator[Flask]:
    upgrade(module_database_url)
    yield make_app(module_database_url, tmp_path_factory.mktemp("var"), container)
    container.engine().dispose()


@pytest.fixture(scope="module")
def company(app: Flask, container: Container) -> Company:
    return sign_in(app, container)


def stage_of(company: Company, name: str) -> StageId:
    row = company.container.read_model().detail(
        Resource.FUNNELS, company.actor.company_id, company.funnel
    )
    return StageId(next(stage["id"] for stage in row["stages"] if stage["name"] == name))


def amount_of(company: Company, deal: DealId) -> Decimal:
    row = company.container.read_model().detail(Resource.DEALS, company.actor.company_id, deal)
    return Decimal(row["amount"])


def page(company: Company, path: str, **headers: str) -> str:
    answer = company.client.get(path, headers=headers)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_data(as_text=True)


def _error_lines(html: str) -> list[str]:
    """The lines of the page's filter error box."""
    box = re.search(r'<div class="form-errors" role="alert">(.*?)</div>', html, re.S)
    assert box is not None, html
    return [re.sub(r"\s+", " ", line).strip() for line in re.findall(r"<li>(.*?)</li>", box[1])]


# --- filter errors in Russian ---------------------------------------------------------------


def test_given_a_bad_period_when_statistics_are_asked_then_the_error_is_in_russian(
    company: Company,
) -> None:
    answer = company.client.get(
        f"/app/funnels/{company.funnel}/statistics?created_at_after=вчера&owner=кто-то"
    )
    html = answer.get_data(as_text=True)

    assert answer.status_code == 400
    lines = _error_lines(html)
    assert lines == [
        "Созданы с (created_at_after): неверная дата, введите её в виде ГГГГ-ММ-ДД.",
        "Ответственный (owner): выберите значение из списка.",
    ]
    assert not any(english in html for english in ENGLISH)


@pytest.mark.parametrize(
    ("path", "line"),
    [
        ("/app/leads?stage=nonsense", "Стадия (stage): выберите значение из списка."),
        ("/app/leads?status=closed", "Статус (status): выберите значение из списка."),
        ("/app/deals?is_won=maybe", "Выиграна (is_won): выберите «Да», «Нет» или «Все»."),
        ("/app/deals?page=0", "Страница (page): нужно целое число не меньше 1."),
        (
            "/app/deals?page_size=много",
            "Строк на странице (page_size): нужно целое число не меньше 1.",
        ),
        ("/app/contacts?ordering=phone", "Сортировка (ordering): по этому полю не сортируют."),
        ("/app/contacts?phone=abc", "Телефон (phone): в номере должны быть цифры."),
        (
            "/app/deals?created_at_after=31.12.2026",
            "Созданы с (created_at_after): неверная дата, введите её в виде ГГГГ-ММ-ДД.",
        ),
    ],
)
def test_given_a_bad_filter_when_a_list_is_asked_then_the_error_is_in_russian(
    company: Company, path: str, line: str
) -> None:
    for headers in ({}, HTMX_LIST):
        answer = company.client.get(path, headers=headers)
        html = answer.get_data(as_text=True)

        assert answer.status_code == 400
        assert _error_lines(html) == [line]
        assert not any(english in html for english in ENGLISH)


# --- the amount the edit form starts from ---------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "shown"), [("180000", "180000"), ("180000.5", "180000,50"), ("0", "0")]
)
def test_given_a_deal_when_its_edit_form_is_shown_then_the_amount_is_written_for_people(
    company: Company, amount: str, shown: str
) -> None:
    deal = company.deal(amount=amount)

    html = page(company, f"/app/deals/{deal}", **{"HX-Request": "true"})

    assert f'name="amount" value="{shown}"' in html


def test_given_the_edit_form_unchanged_when_it_is_sent_then_the_amount_stays(
    company: Company,
) -> None:
    for amount in ("180000", "180000.50"):
        deal = company.deal(amount=amount)
        html = page(company, f"/app/deals/{deal}", **{"HX-Request": "true"})
        shown = re.search(r'name="amount" value="([^"]*)"', html)
        assert shown is not None

        answer = company.post(
            f"/app/deals/{deal}/details",
            {"csrf_token": company.csrf, "title": "Поставка окон", "amount": shown[1], "owner": ""},
        )

        assert answer.status_code == 200, answer.get_data(as_text=True)
        assert amount_of(company, deal) == Decimal(amount)


def test_given_a_lead_when_its_edit_form_is_shown_then_the_estimate_is_written_for_people(
    company: Company,
) -> None:
    lead = company.lead(value="75000")

    html = page(company, f"/app/leads/{lead}", **{"HX-Request": "true"})

    assert 'name="estimated_value" value="75000"' in html


# --- «К доске» from a panel page ------------------------------------------------------------


@pytest.mark.parametrize("kind", ["leads", "deals"])
def test_given_a_card_page_when_it_links_back_then_it_is_to_its_funnels_board_of_its_kind(
    company: Company, kind: str
) -> None:
    card = company.lead() if kind == "leads" else company.deal()

    html = page(company, f"/app/{kind}/{card}")

    board = f"/app/funnels/{company.funnel}/board?kind={kind}"
    assert re.search(rf'<a class="panel-back" href="{re.escape(board)}">К доске</a>', html)


# --- a stage change in the timeline ---------------------------------------------------------


def test_given_a_moved_deal_when_its_timeline_is_shown_then_the_change_is_said_once(
    company: Company,
) -> None:
    deal = company.deal(title="Двери на склад")
    company.container.deals().move_deal(company.actor, deal, stage_of(company, "Квалификация"))

    html = page(company, f"/app/deals/{deal}", **{"HX-Request": "true"})

    timeline = html[html.index('id="panel-timeline"') :]
    entry = re.search(r'<li class="entry entry-activity type-stage_change".*?</li>', timeline, re.S)
    assert entry is not None
    text = re.sub(r"<[^>]+>", " ", entry[0])
    assert text.count("Смена стадии") == 1
    assert text.count("Новый лид → Квалификация") == 1


# --- the top bar's current section ----------------------------------------------------------


def _current_sections(html: str) -> list[str]:
    nav = re.search(r'<nav aria-label="Разделы">(.*?)</nav>', html, re.S)
    assert nav is not None
    return re.findall(r'<a [^>]*aria-current="page"[^>]*>([^<]+)</a>', nav[1])


def test_given_a_board_when_it_is_shown_then_the_top_bar_marks_the_board(
    company: Company,
) -> None:
    for kind in ("deals", "leads"):
        html = page(company, f"/app/funnels/{company.funnel}/board?kind={kind}")
        assert _current_sections(html) == ["Доска"]
    assert _current_sections(page(company, "/app/contacts")) == ["Контакты"]
    assert _current_sections(page(company, "/app/leads")) == ["Лиды"]
    assert _current_sections(page(company, "/app/deals")) == ["Сделки"]
    assert _current_sections(page(company, f"/app/funnels/{company.funnel}/statistics")) == []


# --- the card's owner and days --------------------------------------------------------------


def test_given_a_card_with_an_owner_when_the_board_is_shown_then_a_silent_dot_parts_the_two(
    company: Company,
) -> None:
    deal = company.deal(title="Стеллажи")

    html = page(company, f"/app/funnels/{company.funnel}/board?kind=deals")

    card = re.search(rf'<li class="card" id="card-{deal}".*?</li>', html, re.S)
    assert card is not None
    meta = re.search(r'<p class="card-meta">(.*?)</p>', card[0], re.S)
    assert meta is not None
    assert re.fullmatch(
        r'\s*<span class="owner">Анна Смирнова</span><span class="sep" aria-hidden="true">·</span>'
        r'\s*<span class="days"[^>]*>в стадии: сегодня</span>\s*',
        meta[1],
    ), meta[1]
