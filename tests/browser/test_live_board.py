"""What others do shows on an open board, the side panel opens from a card, and the board
fits a phone."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import (
    PHONE,
    SEEN_WITHIN_MS,
    Company,
    Contexts,
    column,
    deals_in,
    sign_in,
)


def test_a_second_user_sees_a_move_within_ten_seconds_without_reloading(
    contexts: Contexts, company: Company
) -> None:
    funnel = company.funnel()
    first, second = funnel.stage("Новый лид"), funnel.stage("Квалификация")
    (deal,) = deals_in(company, funnel, "1200")
    mover, watcher = contexts.page(), contexts.page()
    sign_in(mover, company.admin, funnel.board())
    sign_in(watcher, company.manager, funnel.board())
    watcher.evaluate("window.sameDocument = true")

    mover.locator(f"#card-{deal['id']}").drag_to(column(mover, second).locator(".cards"))
    expect(column(mover, second).locator("[data-count]")).to_have_text("1")  # confirmed

    expect(column(watcher, second).locator(f"#card-{deal['id']}")).to_be_visible(
        timeout=SEEN_WITHIN_MS
    )
    expect(column(watcher, first).locator(".card")).to_have_count(0)
    expect(column(watcher, first).locator("[data-count]")).to_have_text("0")
    expect(column(watcher, second).locator("[data-count]")).to_have_text("1")
    assert watcher.evaluate("window.sameDocument") is True


def test_a_cards_title_opens_the_panel_and_escape_closes_it(page: Page, company: Company) -> None:
    funnel = company.funnel()
    (deal,) = deals_in(company, funnel, "4300")
    sign_in(page, company.manager, funnel.board())
    title = page.locator(f"#card-{deal['id']}").get_by_role("link", name="Поставка 1")

    title.click()

    panel = page.get_by_role("complementary", name="Карточка")
    expect(panel).to_be_visible()
    heading = panel.get_by_role("heading", name="Поставка 1")
    expect(heading).to_be_focused()
    expect(panel).to_contain_text("Новый лид")
    expect(panel).to_contain_text("4\u00a0300\u00a0₽")
    assert page.url.endswith(funnel.board())  # the board stays where it was
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(title).to_be_focused()


def test_an_activity_added_in_the_panel_shows_in_its_timeline(page: Page, company: Company) -> None:
    funnel = company.funnel()
    (deal,) = deals_in(company, funnel, "100")
    sign_in(page, company.manager, funnel.board())
    page.locator(f"#card-{deal['id']}").get_by_role("link").click()
    panel = page.get_by_role("complementary", name="Карточка")

    panel.get_by_label("Тип").select_option("call")
    panel.get_by_label("Заголовок").fill("Позвонить клиенту")
    panel.get_by_role("button", name="Добавить").click()

    expect(panel.get_by_role("status")).to_have_text("Событие добавлено в историю.")
    expect(panel.locator("#panel-timeline")).to_contain_text("Позвонить клиенту")
    expect(panel.get_by_label("Заголовок")).to_have_value("")
    calls = company.admin.api.list("activities", deal=deal["id"], activity_type="call")
    assert [call["title"] for call in calls["results"]] == ["Позвонить клиенту"]


def test_on_a_phone_the_columns_scroll_sideways_and_the_page_does_not(
    contexts: Contexts, company: Company
) -> None:
    funnel = company.funnel()
    deals_in(company, funnel, "100", "200")
    page = contexts.page(PHONE)
    sign_in(page, company.manager, funnel.board())
    columns = page.locator("[data-columns]")
    expect(columns.locator(".column")).to_have_count(4)

    sizes = columns.evaluate("el => [el.scrollWidth, el.clientWidth]")
    assert sizes[0] > sizes[1], f"the columns do not overflow their strip: {sizes}"
    columns.evaluate("el => el.scrollBy(600, 0)")
    assert columns.evaluate("el => el.scrollLeft") > 0
    last = column(page, funnel.stage("Переговоры"))
    last.scroll_into_view_if_needed()
    expect(last).to_be_in_viewport()

    page_width = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.body.scrollWidth,"
        " document.documentElement.clientWidth]"
    )
    assert max(page_width[:2]) <= page_width[2], f"the page itself overflows: {page_width}"
    page.evaluate("window.scrollTo(500, 0)")
    assert page.evaluate("window.scrollX") == 0
