"""The board's endpoints over HTTP, signed in as a browser is: a card's days in its stage,
refused changes explained in Russian, and what one move costs in SQL statements."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from dependency_injector import providers
from flask import Flask
from sqlalchemy import event
from werkzeug.test import TestResponse

from crm_adapters.sql.migrate import upgrade
from crm_core.values import DealId, StageId
from crm_http.container import Container
from tests.fakes import FixedClock
from tests.integration.web.conftest import Browser, make_app, signed_in
from tests.integration.web.test_security import Company, container_of, new_company

NBSP = "\u00a0"


@pytest.fixture(scope="module")
def clock() -> FixedClock:
    return FixedClock(datetime.now(UTC))


@pytest.fixture(scope="module")
def app(
    module_database_url: str, tmp_path_factory: pytest.TempPathFactory, clock: FixedClock
) -> Iterator[Flask]:
    upgrade(module_database_url)
    app = make_app(module_database_url, tmp_path_factory.mktemp("var"))
    container_of(app).clock.override(providers.Object(clock))
    yield app
    container_of(app).engine().dispose()


@pytest.fixture
def company(app: Flask) -> Company:
    return new_company(app, "Ромашка")


@pytest.fixture
def browser(app: Flask, company: Company) -> Browser:
    return signed_in(app, company.manager_email)


def contact_of(company: Company) -> str:
    return str(company.deal["contact"])


def new_deal(company: Company, title: str = "Поставка") -> dict[str, Any]:
    fields = {"contact": contact_of(company), "funnel": company.funnel["id"], "title": title}
    deal: dict[str, Any] = company.api("POST", "deals/", fields, 201)
    return deal


def new_lead(company: Company, title: str = "Заявка") -> dict[str, Any]:
    fields = {"contact": contact_of(company), "funnel": company.funnel["id"], "title": title}
    lead: dict[str, Any] = company.api("POST", "leads/", fields, 201)
    return lead


def card_days(page: str, card_id: str) -> str:
    found = re.search(rf'id="card-{card_id}".*?<span class="days"[^>]*>([^<]*)</span>', page, re.S)
    assert found, f"no card {card_id} on the board"
    return found.group(1).replace(NBSP, " ")


def problem_of(answer: TestResponse, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.get_data(as_text=True)
    assert answer.mimetype == "application/problem+json"
    body: dict[str, Any] = answer.get_json()
    return body


def board_move(
    browser: Browser, company: Company, kind: str, item: str, stage: str
) -> TestResponse:
    return browser.post(
        f"/app/{kind}/{item}/move", stage_id=stage, funnel_id=str(company.funnel["id"])
    )


# --- days in the stage --------------------------------------------------------------------


def test_given_a_card_then_it_says_today_on_its_first_day_and_counts_days_after(
    company: Company, browser: Browser, clock: FixedClock
) -> None:
    deal = new_deal(company)
    board = f"/app/funnels/{company.funnel['id']}/board"
    start = clock.current
    try:
        assert card_days(browser.client.get(board).get_data(as_text=True), deal["id"]) == (
            "в стадии: сегодня"
        )
        for days, words in ((1, "1 день"), (2, "2 дня"), (5, "5 дней"), (21, "21 день")):
            clock.current = start + timedelta(days=days)
            page = browser.client.get(board).get_data(as_text=True)
            assert card_days(page, deal["id"]) == f"в стадии: {words}"
    finally:
        clock.current = start


# --- refusals in Russian ------------------------------------------------------------------


def test_given_a_won_deal_when_the_board_moves_it_then_the_refusal_is_in_russian(
    company: Company, browser: Browser
) -> None:
    deal = new_deal(company)
    company.api("POST", f"deals/{deal['id']}/mark_won/")

    answer = board_move(browser, company, "deals", deal["id"], company.stage("Квалификация"))

    detail = problem_of(answer, 409)["detail"]
    assert detail == "Сделка уже выиграна: чтобы переместить её, сначала верните её в работу."
    assert company.api("GET", f"deals/{deal['id']}/")["is_won"] is True


def test_given_a_stage_of_another_funnel_when_the_board_moves_a_deal_there_then_it_says_so(
    company: Company, browser: Browser
) -> None:
    deal = new_deal(company)
    other = company.api("POST", "funnels/", {"name": "Другая воронка"}, 201)
    elsewhere = str(other["stages"][1]["id"])

    answer = board_move(browser, company, "deals", deal["id"], elsewhere)

    detail = problem_of(answer, 400)["detail"]
    assert detail == "Такой стадии нет в воронке карточки: обновите страницу."
    assert company.api("GET", f"deals/{deal['id']}/")["stage"] == company.stage("Новый лид")


@pytest.mark.parametrize(
    ("before", "stage", "expected"),
    [
        (
            "converted",
            "Квалификация",
            "Лид уже конвертирован в сделку: дальше работайте со сделкой.",
        ),
        (
            "lost",
            "Квалификация",
            "Лид уже провален: чтобы переместить его, сначала верните его в работу.",
        ),
        (
            "open",
            "Закрыта успешно",
            "В успешную стадию лид не перемещают: «Успешно» конвертирует его в сделку.",
        ),
    ],
)
def test_given_a_lead_the_rules_refuse_to_move_then_the_refusal_is_in_russian(
    company: Company, browser: Browser, before: str, stage: str, expected: str
) -> None:
    lead = new_lead(company)
    if before == "converted":
        company.api("POST", f"leads/{lead['id']}/convert_to_deal/", {}, 201)
    elif before == "lost":
        company.api("POST", f"leads/{lead['id']}/mark_lost/", {"reason": "Дорого"})

    answer = board_move(browser, company, "leads", lead["id"], company.stage(stage))

    assert problem_of(answer, 409)["detail"] == expected
    assert company.api("GET", f"leads/{lead['id']}/")["status"] == before


def test_given_refused_wins_losses_and_reopenings_then_every_refusal_is_in_russian(
    company: Company, browser: Browser
) -> None:
    lost, won, open_deal = new_deal(company, "A"), new_deal(company, "B"), new_deal(company, "C")
    company.api("POST", f"deals/{lost['id']}/mark_lost/", {"reason": "Дорого"})
    company.api("POST", f"deals/{won['id']}/mark_won/")
    funnel, first = str(company.funnel["id"]), company.stage("Новый лид")

    refused = {
        "won": browser.post(f"/app/deals/{lost['id']}/won"),
        "lost": browser.post(f"/app/deals/{won['id']}/lost", reason="Дорого"),
        "reopen": browser.post(
            f"/app/deals/{open_deal['id']}/reopen", stage_id=first, funnel_id=funnel
        ),
        "long reason": browser.post(f"/app/deals/{open_deal['id']}/lost", reason="я" * 1001),
        "gone": browser.post(f"/app/deals/{uuid.uuid4()}/move", stage_id=first, funnel_id=funnel),
    }

    details = {name: answer.get_json()["detail"] for name, answer in refused.items()}
    assert details == {
        "won": "Сделка уже провалена: чтобы отметить её успешной, сначала верните её в работу.",
        "lost": "Сделка уже выиграна: чтобы отметить её проваленной, сначала верните её в работу.",
        "reopen": "Сделка уже в работе.",
        "long reason": "Причина слишком длинная: не больше 1000 символов.",
        "gone": "Сделка не найдена: возможно, её удалили.",
    }
    assert [answer.status_code for answer in refused.values()] == [409, 409, 409, 400, 404]


def test_given_a_refused_move_sent_without_scripts_then_the_error_page_is_in_russian(
    company: Company, browser: Browser
) -> None:
    deal = new_deal(company)
    company.api("POST", f"deals/{deal['id']}/mark_won/")

    page = browser.client.post(
        f"/app/deals/{deal['id']}/move",
        data={
            "stage_id": company.stage("Квалификация"),
            "funnel_id": str(company.funnel["id"]),
            "csrf_token": browser.csrf,
        },
    )

    assert page.status_code == 409 and page.mimetype == "text/html"
    assert "Сделка уже выиграна" in page.get_data(as_text=True)


def test_given_the_api_then_its_refusals_keep_the_cores_words(company: Company) -> None:
    deal = new_deal(company)
    company.api("POST", f"deals/{deal['id']}/mark_won/")
    refused = company.api(
        "POST",
        f"deals/{deal['id']}/move_to_stage/",
        {"stage_id": company.stage("Квалификация")},
        409,
    )
    # The API's clients read the core's English, word for word, not the web app's Russian.
    assert refused["detail"] == "A closed deal cannot be moved: reopen it first."


# --- one move in SQL ----------------------------------------------------------------------


@contextmanager
def counting(app: Flask) -> Iterator[list[str]]:
    sent: list[str] = []
    engine = container_of(app).engine()

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_given_a_move_from_the_board_then_the_web_adds_only_the_card_and_the_headers(
    app: Flask, company: Company, browser: Browser
) -> None:
    """One move: the session's one statement, the use case's own, then the moved card and
    the columns' headers; nothing reads the card before or after the move besides."""
    container: Container = container_of(app)
    by_use_case, by_board = new_deal(company, "A"), new_deal(company, "B")
    target = company.stage("Квалификация")
    actor = container.access().authenticate(company.token)
    assert actor is not None

    with counting(app) as use_case:
        container.deals().move_deal(
            actor, DealId(uuid.UUID(by_use_case["id"])), StageId(uuid.UUID(target))
        )
    with counting(app) as web:
        answer = board_move(browser, company, "deals", by_board["id"], target)

    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert len(web) == 1 + len(use_case) + 2, "\n".join(web)
    assert answer.get_json()["headers"][target]["open_count"] == 2
    assert f'id="card-{by_board["id"]}"' in answer.get_json()["card"]
