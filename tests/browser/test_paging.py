"""«Показать ещё»: a column of 45 cards pages by 20 in place, and keyset paging neither loses
nor repeats a card when others move cards of that column between the clicks."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import (
    SEEN_WITHIN_MS,
    Company,
    Funnel,
    card_ids,
    column,
    sign_in,
)

CARDS = 45


@pytest.fixture
def crowded(company: Company) -> tuple[Funnel, list[str]]:
    """A funnel whose first stage holds 45 deals; their ids newest first, as the board shows."""
    funnel = company.funnel()
    contact = company.contact()
    made: list[dict[str, Any]] = [
        company.admin.api.deal(contact, funnel.row, title=f"Сделка {n:02}", amount="100")
        for n in range(CARDS)
    ]
    return funnel, [deal["id"] for deal in reversed(made)]


def show_more(page: Page, stage_id: str) -> None:
    column(page, stage_id).get_by_role("button", name="Показать ещё").click()


def stays_on_the_page(page: Page) -> list[str]:
    """The main frame's navigations from now on (none expected)."""
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    page.evaluate("window.sameDocument = true")
    return navigations


def test_show_more_adds_twenty_cards_at_a_time_without_reloading(
    page: Page, company: Company, crowded: tuple[Funnel, list[str]]
) -> None:
    funnel, newest_first = crowded
    first = funnel.stage("Новый лид")
    sign_in(page, company.manager, funnel.board())
    navigations = stays_on_the_page(page)
    cards = column(page, first).locator(".card")
    expect(cards).to_have_count(20)
    expect(column(page, first).locator("[data-count]")).to_have_text(str(CARDS))

    show_more(page, first)
    expect(cards).to_have_count(40)
    show_more(page, first)
    expect(cards).to_have_count(45)

    assert card_ids(page, first) == newest_first
    expect(column(page, first).get_by_role("button", name="Показать ещё")).to_have_count(0)
    assert navigations == []
    assert page.evaluate("window.sameDocument") is True


def test_paging_neither_loses_nor_repeats_cards_others_move_between_clicks(
    page: Page, company: Company, crowded: tuple[Funnel, list[str]]
) -> None:
    funnel, newest_first = crowded
    first, second = funnel.stage("Новый лид"), funnel.stage("Квалификация")
    sign_in(page, company.manager, funnel.board())
    navigations = stays_on_the_page(page)
    # Paging alone first: the page re-renders changed columns only once polling is let back.
    page.route("**/board/versions*", lambda route: route.abort())
    show_more(page, first)
    expect(column(page, first).locator(".card")).to_have_count(40)

    # Another user moves away the last card shown (the page's cursor) and one not shown yet.
    cursor, unseen = newest_first[39], newest_first[41]
    for moved in (cursor, unseen):
        company.admin.api.action("deals", moved, "move_to_stage", {"stage_id": second})
    show_more(page, first)

    expect(column(page, first).locator(".card")).to_have_count(44)  # the cursor card is stale
    shown = card_ids(page, first)
    assert len(shown) == len(set(shown)), "a card is shown twice"
    remaining = company.admin.api.ids("deals", stage=first)
    assert set(remaining) <= set(shown), "a card of the column is missing"
    assert unseen not in shown

    page.unroute("**/board/versions*")
    expected = [card for card in newest_first if card not in (cursor, unseen)]
    expect(column(page, first).locator(".card")).to_have_count(43, timeout=SEEN_WITHIN_MS)
    assert card_ids(page, first) == expected
    # A poll refreshes changed columns one after another: the second may come a moment later.
    expect(column(page, second).locator(".card")).to_have_count(2, timeout=SEEN_WITHIN_MS)
    assert sorted(card_ids(page, second)) == sorted([cursor, unseen])
    expect(column(page, first).locator("[data-count]")).to_have_text("43")
    assert navigations == []
