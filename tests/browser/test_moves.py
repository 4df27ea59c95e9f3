"""Moving cards on the board: by drag, by the keyboard menu, onto «Успешно» and «Провалено»
with undo, and a move the server refuses."""

from __future__ import annotations

from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import (
    Company,
    card_ids,
    column,
    deals_in,
    expect_header,
    sign_in,
)


def drag_onto_outcome(page: Page, card: Locator, outcome: str) -> None:
    """«Успешно» and «Провалено» appear only while a card is dragged."""
    card.hover()  # its middle: its link and button are not handles
    page.mouse.down()
    box = card.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] / 2 + 40, box["y"] + box["height"], steps=5)
    zone = page.locator(f'.drop-list[data-outcome="{outcome}"]')
    expect(zone).to_be_visible()
    target = zone.bounding_box()
    assert target is not None
    page.mouse.move(target["x"] + target["width"] / 2, target["y"] + target["height"] / 2, steps=10)
    page.mouse.up()


def test_a_dragged_card_moves_and_both_columns_and_the_server_agree(
    page: Page, company: Company
) -> None:
    funnel = company.funnel()
    first, second = funnel.stage("Новый лид"), funnel.stage("Квалификация")
    _, moved, _ = deals_in(company, funnel, "1000", "2500.50", "300")
    sign_in(page, company.manager, funnel.board())
    expect_header(page, first, 3, "3800.50")
    expect_header(page, second, 0, "0")

    page.locator(f"#card-{moved['id']}").drag_to(column(page, second).locator(".cards"))

    expect(column(page, second).locator(f"#card-{moved['id']}")).to_be_visible()
    expect_header(page, first, 2, "1300")
    expect_header(page, second, 1, "2500.50")
    assert company.admin.api.fetch("deals", moved["id"])["stage"] == second
    assert company.admin.api.ids("deals", stage=second) == [moved["id"]]
    page.reload()
    expect_header(page, first, 2, "1300")
    expect_header(page, second, 1, "2500.50")
    assert card_ids(page, second) == [moved["id"]]


def test_the_keyboard_menu_moves_a_card(page: Page, company: Company) -> None:
    funnel = company.funnel()
    first, third = funnel.stage("Новый лид"), funnel.stage("Предложение")
    (deal,) = deals_in(company, funnel, "700")
    sign_in(page, company.manager, funnel.board())
    card = page.locator(f"#card-{deal['id']}")

    card.get_by_role("link").focus()
    page.keyboard.press("Tab")
    expect(card.get_by_role("button", name="Переместить в…")).to_be_focused()
    page.keyboard.press("Enter")
    menu = card.get_by_role("menu")
    expect(menu.get_by_role("menuitem", name="Квалификация")).to_be_focused()
    expect(menu.get_by_role("menuitem", name="Новый лид")).to_have_count(0)  # where it is
    page.keyboard.press("ArrowDown")
    expect(menu.get_by_role("menuitem", name="Предложение")).to_be_focused()
    page.keyboard.press("Enter")

    moved = column(page, third).locator(f"#card-{deal['id']}")
    expect(moved).to_be_visible()
    expect(moved.get_by_role("link")).to_be_focused()  # focus follows the card
    expect(page.get_by_role("menu")).to_have_count(0)
    expect_header(page, first, 0, "0")
    expect_header(page, third, 1, "700")
    assert company.admin.api.fetch("deals", deal["id"])["stage"] == third


def test_a_deal_dropped_on_won_is_won_and_undo_brings_it_back(page: Page, company: Company) -> None:
    funnel = company.funnel()
    first = funnel.stage("Новый лид")
    won, _ = deals_in(company, funnel, "5000", "100")
    sign_in(page, company.manager, funnel.board())

    drag_onto_outcome(page, page.locator(f"#card-{won['id']}"), "won")

    toast = page.locator("[data-toast]")
    expect(toast).to_contain_text("Сделка выиграна.")
    expect(page.locator(f"#card-{won['id']}")).to_have_count(0)
    expect_header(page, first, 1, "100")
    row = company.admin.api.fetch("deals", won["id"])
    assert (row["is_won"], row["stage"]) == (True, funnel.stage("Закрыта успешно"))

    toast.get_by_role("button", name="Отменить").click()

    expect(column(page, first).locator(f"#card-{won['id']}")).to_be_visible()
    expect(toast).to_be_hidden()
    expect_header(page, first, 2, "5100")
    row = company.admin.api.fetch("deals", won["id"])
    assert (row["is_won"], row["stage"]) == (False, first)


def test_a_deal_lost_with_a_reason_keeps_it_and_undo_brings_it_back(
    page: Page, company: Company
) -> None:
    funnel = company.funnel()
    first = funnel.stage("Новый лид")
    (lost,) = deals_in(company, funnel, "900")
    sign_in(page, company.manager, funnel.board())

    drag_onto_outcome(page, page.locator(f"#card-{lost['id']}"), "lost")
    dialog = page.get_by_role("dialog", name="Почему сделка провалена?")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Причина").fill("Выбрали конкурента")
    dialog.get_by_role("button", name="Провалено").click()

    toast = page.locator("[data-toast]")
    expect(toast).to_contain_text("Сделка провалена.")
    expect(page.locator(f"#card-{lost['id']}")).to_have_count(0)
    expect_header(page, first, 0, "0")
    row = company.admin.api.fetch("deals", lost["id"])
    assert (row["is_lost"], row["lost_reason"]) == (True, "Выбрали конкурента")

    toast.get_by_role("button", name="Отменить").click()

    expect(column(page, first).locator(f"#card-{lost['id']}")).to_be_visible()
    expect_header(page, first, 1, "900")
    row = company.admin.api.fetch("deals", lost["id"])
    assert (row["is_lost"], row["lost_reason"], row["stage"]) == (False, "", first)


def test_cancelling_the_reason_dialog_puts_the_card_back_unchanged(
    page: Page, company: Company
) -> None:
    funnel = company.funnel()
    first = funnel.stage("Новый лид")
    (kept,) = deals_in(company, funnel, "900")
    before = company.admin.api.fetch("deals", kept["id"])
    sign_in(page, company.manager, funnel.board())

    drag_onto_outcome(page, page.locator(f"#card-{kept['id']}"), "lost")
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="Отмена").click()

    expect(dialog).to_be_hidden()
    expect(column(page, first).locator(f"#card-{kept['id']}")).to_be_visible()
    expect_header(page, first, 1, "900")
    after = company.admin.api.fetch("deals", kept["id"])
    assert (after["stage"], after["is_won"], after["is_lost"], after["lost_reason"]) == (
        first,
        False,
        False,
        "",
    )
    outcome = ("stage", "stage_changed_at", "is_won", "is_lost", "lost_reason", "closed_at")
    assert {key: after[key] for key in outcome} == {key: before[key] for key in outcome}
    page.reload()  # the server's board agrees
    expect(column(page, first).locator(f"#card-{kept['id']}")).to_be_visible()
    expect_header(page, first, 1, "900")


def test_a_move_the_server_refuses_is_put_back_with_its_reason(
    page: Page, company: Company
) -> None:
    funnel = company.funnel()
    first, second = funnel.stage("Новый лид"), funnel.stage("Квалификация")
    contact = company.contact()
    api = company.admin.api
    made = [
        api.lead(contact, funnel.row, title=title, estimated_value=value)
        for title, value in (("Нижний", "10"), ("Средний", "20"), ("Верхний", "30"))
    ]
    lead = made[1]  # between two others: it must come back to its place
    sign_in(page, company.manager, funnel.board("leads"))
    # The page must not learn of the conversion by polling before the drag.
    page.route("**/board/versions*", lambda route: route.abort())
    before = card_ids(page, first)
    api.action("leads", lead["id"], "convert_to_deal", {}, status=201)  # by another user

    page.locator(f"#card-{lead['id']}").drag_to(column(page, second).locator(".cards"))

    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Перемещение отклонено")
    expect(alert).to_contain_text("Лид уже конвертирован в сделку")
    expect(column(page, first).locator(f"#card-{lead['id']}")).to_be_visible()
    assert card_ids(page, first) == before  # in its place, not only in its column
    assert card_ids(page, second) == []
    expect_header(page, second, 0, "0")
    row = api.fetch("leads", lead["id"])
    assert (row["status"], row["stage"]) == ("converted", first)
