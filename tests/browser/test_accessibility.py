"""axe-core on the web app's pages, at a desktop's and a phone's size: no serious or critical
violation."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, ViewportSize, expect

from tests.browser.conftest import (
    DESKTOP,
    PHONE,
    Company,
    Contexts,
    Funnel,
    axe_violations,
    column,
    deals_in,
    readable,
    sign_in,
)

SIZES = [pytest.param(DESKTOP, id="1280x800"), pytest.param(PHONE, id="390x844")]


def assert_accessible(page: Page, what: str) -> None:
    violations = axe_violations(page)
    assert not violations, f"{what}: axe finds\n{readable(violations)}"


@pytest.fixture
def filled(company: Company) -> Funnel:
    """A board with amounts, an overdue task and one due today (the cards' badges)."""
    funnel = company.funnel()
    overdue, due_today, _ = deals_in(company, funnel, "125000", "990.50", "0")
    today = datetime.now(UTC).date()  # the server's day: cards' badges are UTC
    for deal, due in ((overdue, today - timedelta(days=3)), (due_today, today)):
        company.admin.api.create(
            "activities",
            {
                "deal": deal["id"],
                "activity_type": "task",
                "title": "Перезвонить",
                "due_date": due.isoformat(),
            },
        )
    return funnel


@pytest.mark.parametrize("viewport", SIZES)
def test_the_login_page(contexts: Contexts, viewport: ViewportSize) -> None:
    page = contexts.page(viewport)
    page.goto("/app/login")
    assert_accessible(page, "the login page")
    page.get_by_label("E-mail").fill("nobody@example.com")
    page.get_by_label("Пароль").fill("not the password")
    page.get_by_role("button", name="Войти").click()
    expect(page.get_by_role("alert")).to_have_text("Неверный e-mail или пароль.")
    assert_accessible(page, "the login page with its error")


@pytest.mark.parametrize("viewport", SIZES)
def test_the_board(
    contexts: Contexts, company: Company, filled: Funnel, viewport: ViewportSize
) -> None:
    page = contexts.page(viewport)
    sign_in(page, company.manager, filled.board())
    expect(page.locator(".badge.overdue")).to_have_count(1)
    assert_accessible(page, "the board")
    page.get_by_role("button", name="Переместить в…").first.click()
    menu = page.get_by_role("menu")
    expect(menu).to_be_visible()
    assert_accessible(page, "the board with a card's menu open")
    menu.get_by_role("menuitem", name="Провалено").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    assert_accessible(page, "the board asking why a deal is lost")
    dialog.get_by_role("button", name="Провалено").click()
    expect(page.locator("[data-toast]")).to_be_visible()
    assert_accessible(page, "the board offering to undo")


@pytest.mark.parametrize("viewport", SIZES)
def test_the_open_panel(
    contexts: Contexts, company: Company, filled: Funnel, viewport: ViewportSize
) -> None:
    page = contexts.page(viewport)
    sign_in(page, company.manager, filled.board())
    page.locator(".card").first.get_by_role("link").click()
    expect(page.get_by_role("complementary", name="Карточка")).to_be_visible()
    assert_accessible(page, "the board with the panel open")


def test_a_columns_count_is_named_by_words_in_the_page_not_by_an_aria_label(
    page: Page, company: Company, filled: Funnel
) -> None:
    first, second = filled.stage("Новый лид"), filled.stage("Квалификация")
    sign_in(page, company.manager, filled.board())
    totals = column(page, first).locator(".totals")
    expect(totals).to_match_aria_snapshot(r"- paragraph: /^Открытых:\s3 · /")
    expect(totals.locator(".visually-hidden")).to_have_text("Открытых:")
    expect(totals.locator(".visually-hidden")).to_have_css("position", "absolute")

    card = column(page, first).locator(".card").first
    card.get_by_role("button", name="Переместить в…").click()
    page.get_by_role("menuitem", name="Квалификация").click()

    expect(column(page, second).locator("[data-count]")).to_have_text("1")  # after the move
    for stage, count in ((first, 2), (second, 1)):
        totals = column(page, stage).locator(".totals")
        expect(totals).to_match_aria_snapshot(rf"- paragraph: /^Открытых:\s{count} · /")
    labelled = page.locator("[data-count][aria-label]")
    expect(labelled).to_have_count(0)


def test_the_panels_close_button_is_named_by_the_word_it_shows(
    page: Page, company: Company, filled: Funnel
) -> None:
    sign_in(page, company.manager, filled.board())
    opener = page.locator(".card").first.get_by_role("link")
    opener.click()
    panel = page.get_by_role("complementary", name="Карточка")
    close = panel.get_by_role("button", name="Закрыть", exact=True)
    expect(close).to_be_visible()
    expect(close).not_to_have_attribute("aria-label", re.compile(".*"))
    assert "Закрыть" in close.inner_text()  # the name is the word it shows

    close.click()
    expect(panel).to_be_hidden()
    expect(opener).to_be_focused()


@pytest.mark.parametrize("viewport", SIZES)
def test_the_statistics_page(
    contexts: Contexts, company: Company, filled: Funnel, viewport: ViewportSize
) -> None:
    page = contexts.page(viewport)
    sign_in(page, company.manager, filled.board())
    link = page.get_by_role("link", name="Статистика")
    expect(link).to_be_visible()
    link.click()
    page.wait_for_url(f"**/app/funnels/{filled.id}/statistics**")
    assert_accessible(page, "the statistics page")


@pytest.mark.parametrize("viewport", SIZES)
def test_the_error_page(contexts: Contexts, company: Company, viewport: ViewportSize) -> None:
    page = contexts.page(viewport)
    sign_in(page, company.manager)
    answer = page.goto("/app/funnels/00000000-0000-4000-8000-000000000000/board")
    assert answer is not None and answer.status == 404
    assert_accessible(page, "the error page")
