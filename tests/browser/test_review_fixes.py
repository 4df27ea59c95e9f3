"""Fixes from the web app's review, in a real browser: a cancelled «Провалено» leaves the card
where it was, the reason dialog names its card, the top bar marks the board, and on a phone
(375×740) the top bar, the panel, the statistics table and the toast fit the screen."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Locator, Page, ViewportSize, expect

from tests.browser.conftest import Company, Contexts, card_ids, deals_in, sign_in

SMALL_PHONE = ViewportSize(width=375, height=740)


def choose_from_menu(card: Locator, item: str) -> None:
    """«Переместить в…» on the card, then an item of its menu, from the keyboard."""
    card.get_by_role("button", name="Переместить в…").focus()
    card.page.keyboard.press("Enter")
    choice = card.get_by_role("menu").get_by_role("menuitem", name=item)
    choice.focus()
    card.page.keyboard.press("Enter")


def drag_onto_lost(page: Page, card: Locator) -> None:
    """«Провалено» appears only while a card is dragged."""
    card.hover()
    page.mouse.down()
    box = card.bounding_box()
    assert box is not None
    # Out of the card sideways, not onto the card below (which would start a reordering).
    page.mouse.move(box["x"] + box["width"] + 40, box["y"] + box["height"] / 2, steps=5)
    zone = page.locator('.drop-list[data-outcome="lost"]')
    expect(zone).to_be_visible()
    target = zone.bounding_box()
    assert target is not None
    page.mouse.move(target["x"] + target["width"] / 2, target["y"] + target["height"] / 2, steps=10)
    page.mouse.up()


def cancel_reason(page: Page) -> None:
    """«Отмена» in the reason dialog, then wait until the board has handled the dialog's
    `close` event (its listener came first; the card is put back in a microtask after it)."""
    page.evaluate(
        "() => { window.reasonClosed = new Promise(done => document.getElementById("
        "'lost-dialog').addEventListener('close', () => setTimeout(done, 0), {once: true})); }"
    )
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="Отмена").click()
    page.evaluate("() => window.reasonClosed")
    expect(dialog).to_be_hidden()


def rect(locator: Locator) -> dict[str, float]:
    found: dict[str, float] = locator.evaluate(
        "e => { const r = e.getBoundingClientRect();"
        " return {left: r.left, right: r.right, top: r.top, bottom: r.bottom,"
        " width: r.width, height: r.height}; }"
    )
    return found


def page_width(page: Page) -> Any:
    return page.evaluate("document.documentElement.scrollWidth")


# --- «Провалено» cancelled --------------------------------------------------------------------


@pytest.mark.parametrize("way", ["keyboard menu", "drag onto «Провалено»"])
def test_cancelling_lost_keeps_the_card_at_its_index_and_open(
    page: Page, company: Company, way: str
) -> None:
    funnel = company.funnel()
    first = funnel.stage("Новый лид")
    _, middle, _ = deals_in(company, funnel, "100", "200", "300")
    sign_in(page, company.manager, funnel.board())
    before = card_ids(page, first)
    assert before.index(middle["id"]) == 1  # in the middle: a wrong put-back would show
    card = page.locator(f"#card-{middle['id']}")

    if way == "keyboard menu":
        choose_from_menu(card, "Провалено")
    else:
        drag_onto_lost(page, card)
    expect(page.get_by_role("dialog")).to_be_visible()
    cancel_reason(page)

    assert card_ids(page, first) == before
    assert company.admin.api.fetch("deals", middle["id"])["is_lost"] is False


# --- the dialog names its card; the board is the current section ------------------------------


def test_the_reason_dialog_names_the_card_it_is_about(page: Page, company: Company) -> None:
    funnel = company.funnel()
    title = "Окна <b>для</b> склада"
    contact = company.contact()
    deal = company.admin.api.deal(contact, funnel.row, title=title, amount="100")
    lead = company.admin.api.lead(contact, funnel.row, title="Лид «Двери»")
    sign_in(page, company.manager, funnel.board())
    sections = page.get_by_role("navigation", name="Разделы")
    expect(sections.get_by_role("link", name="Доска")).to_have_attribute("aria-current", "page")
    expect(sections.locator("[aria-current]")).to_have_count(1)

    choose_from_menu(page.locator(f"#card-{deal['id']}"), "Провалено")

    dialog = page.get_by_role("dialog", name="Почему сделка провалена?")
    expect(dialog).to_be_visible()
    expect(dialog.locator("[data-lost-card]")).to_have_text(f"Сделка: {title}")
    expect(dialog.locator("b")).to_have_count(0)  # the title is text, not markup
    described = dialog.evaluate(
        "d => document.getElementById(d.getAttribute('aria-describedby')).textContent"
    )
    assert described == f"Сделка: {title}"
    dialog.get_by_role("button", name="Отмена").click()

    page.goto(funnel.board("leads"))
    choose_from_menu(page.locator(f"#card-{lead['id']}"), "Провалено")
    dialog = page.get_by_role("dialog", name="Почему лид провален?")
    expect(dialog.locator("[data-lost-card]")).to_have_text("Лид: Лид «Двери»")


# --- on a phone -------------------------------------------------------------------------------


def test_on_a_phone_the_top_bar_is_one_row_and_the_page_does_not_overflow(
    contexts: Contexts, company: Company
) -> None:
    page = contexts.page(SMALL_PHONE)
    funnel = company.funnel()
    deals_in(company, funnel, "100")
    sign_in(page, company.manager, funnel.board())

    bar = page.locator(".topbar")
    items = [*bar.get_by_role("link").all(), bar.get_by_role("button", name="Выйти")]
    boxes = [rect(item) for item in items]
    tops = [box["top"] for box in boxes]
    assert max(tops) - min(tops) <= 4, boxes  # one row (the current link's underline aside)
    assert all(box["left"] >= 0 and box["right"] <= SMALL_PHONE["width"] for box in boxes), boxes
    assert rect(bar)["height"] <= 56
    assert page_width(page) <= SMALL_PHONE["width"]


def test_on_a_phone_the_panels_header_stays_on_top_with_its_close_button_whole(
    contexts: Contexts, company: Company
) -> None:
    page = contexts.page(SMALL_PHONE)
    funnel = company.funnel()
    # One long word: the title must wrap, not push «Закрыть» out.
    title = "Техобслуживаниехолодильногооборудованияскладов"
    deal = company.admin.api.deal(company.contact(), funnel.row, title=title, amount="100")
    sign_in(page, company.manager, funnel.board())
    page.locator(f"#card-{deal['id']}").get_by_role("link").click()
    panel = page.locator("#panel")
    expect(panel).to_be_visible()
    close = panel.get_by_role("button", name="Закрыть")

    # Inside the panel's visible width (not under its scroll bar) and inside the screen.
    inside = panel.evaluate("p => p.getBoundingClientRect().left + p.clientWidth")
    button = rect(close)
    assert button["left"] >= 0 and button["right"] <= min(inside, SMALL_PHONE["width"]), button

    panel.evaluate("p => { p.scrollTop = p.scrollHeight; }")
    assert panel.evaluate("p => p.scrollTop") > 200  # it did scroll
    header = rect(panel.locator(".panel-header"))
    assert abs(header["top"] - rect(panel)["top"]) <= 1, header
    expect(close).to_be_in_viewport(ratio=1)
    close.click()
    expect(panel).to_be_hidden()


def test_on_a_phone_the_statistics_table_scrolls_in_its_box(
    contexts: Contexts, company: Company
) -> None:
    page = contexts.page(SMALL_PHONE)
    funnel = company.funnel()
    deals_in(company, funnel, "100")
    sign_in(page, company.manager, f"/app/funnels/{funnel.id}/statistics")

    box = page.locator(".table-scroll").filter(has=page.locator(".stages-table"))
    expect(box).to_be_visible()
    assert box.evaluate("b => getComputedStyle(b).overflowX") == "auto"
    assert box.evaluate("b => b.scrollWidth > b.clientWidth")  # the table scrolls inside
    assert rect(box)["right"] <= SMALL_PHONE["width"]
    assert page_width(page) <= SMALL_PHONE["width"]


def test_on_a_phone_the_toast_is_one_line_inside_the_screen(
    contexts: Contexts, company: Company
) -> None:
    page = contexts.page(SMALL_PHONE)
    funnel = company.funnel()
    (deal,) = deals_in(company, funnel, "100")
    sign_in(page, company.manager, funnel.board())

    choose_from_menu(page.locator(f"#card-{deal['id']}"), "Успешно")

    toast = page.locator("[data-toast]")
    expect(toast).to_contain_text("Сделка выиграна.")
    text = toast.locator("[data-toast-text]")
    lines = text.evaluate(
        "t => { const r = document.createRange(); r.selectNodeContents(t);"
        " return new Set(Array.from(r.getClientRects(), c => Math.round(c.top))).size; }"
    )
    assert lines == 1
    box = rect(toast)
    assert box["left"] >= 0 and box["right"] <= SMALL_PHONE["width"], box
    expect(toast.get_by_role("button", name="Отменить")).to_be_in_viewport(ratio=1)
