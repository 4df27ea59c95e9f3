"""The board's reads on SQL: columns and their open totals, the newest cards, keyset paging
that neither loses nor repeats cards, versions that change with what a column shows, tenancy,
and a number of statements that does not grow with the funnel."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine

from crm_adapters.sql.board import SqlBoard
from crm_adapters.sql.unit_of_work import SqlUnitOfWork
from crm_core import Money, NotFound
from crm_core.messaging import ChatType, Message, MessagingAccount
from crm_core.ports import BoardKind, CardsAfter
from crm_core.services.activities import CreateActivity
from crm_core.services.funnels import ChangeStage
from crm_core.services.pipeline import ChangeDeal, CreateDeal
from tests.integration.sql.conftest import World, new_world, sent_by


@pytest.fixture(scope="module")
def board(engine: Engine) -> SqlBoard:
    return SqlBoard(engine)


def deal(world: World, funnel_id: uuid.UUID, title: str, amount: str, **fields: Any) -> uuid.UUID:
    contact = world.contact("Пётр", last_name="Иванов")
    command = CreateDeal(
        contact_id=contact, funnel_id=funnel_id, title=title, amount=Money(amount), **fields
    )
    return world.deals.create_deal(world.admin, command)


def ids(cards: Any) -> list[uuid.UUID]:
    return [card["id"] for card in cards]


def test_columns_show_open_totals_and_the_newest_cards_first(
    uow: Callable[[], SqlUnitOfWork], board: SqlBoard
) -> None:
    world = new_world(uow)
    funnel = world.funnels.create_funnel(world.admin, "Продажи")
    first, second, *_ = world.stages(funnel)
    older = deal(world, funnel, "Старая", "100.50")
    world.clock.advance(hours=1)
    newer = deal(world, funnel, "Новая", "200.25")
    world.clock.advance(hours=1)
    moved = deal(world, funnel, "Дальше", "1000")
    world.deals.move_deal(world.admin, moved, second)
    won = deal(world, funnel, "Выиграна", "5000")
    world.deals.mark_won(world.admin, won)

    shown = board.board(world.company_id, funnel, BoardKind.DEALS, per_column=20)

    columns = {column["id"]: column for column in shown["columns"]}
    assert [column["order"] for column in shown["columns"]] == sorted(
        column["order"] for column in shown["columns"]
    )
    assert (columns[first]["open_count"], columns[first]["open_amount"]) == (2, Decimal("300.75"))
    assert ids(columns[first]["cards"]) == [newer, older]
    assert (columns[second]["open_count"], ids(columns[second]["cards"])) == (1, [moved])
    success = next(column for column in shown["columns"] if column["is_success"])
    assert (success["open_count"], success["cards"]) == (0, [])  # closed deals are not open
    card = columns[first]["cards"][0]
    assert (card["title"], card["contact_name"], card["amount"]) == (
        "Новая",
        "Иванов Пётр",
        Decimal("200.25"),
    )
    assert shown["name"] == "Продажи"
    assert [f["id"] for f in shown["funnels"]] == [funnel]


def test_a_board_of_leads_counts_open_leads_by_estimated_value(
    uow: Callable[[], SqlUnitOfWork], board: SqlBoard
) -> None:
    world = new_world(uow)
    funnel = world.funnels.create_funnel(world.admin, "Заявки")
    first = world.stages(funnel)[0]
    kept = world.lead(world.contact(), funnel, "Открытый", estimated_value=Money("70"))
    lost = world.lead(world.contact(), funnel, "Потерянный", estimated_value=Money("30"))
    world.leads.mark_lead_lost(world.admin, lost)

    column = board.board(world.company_id, funnel, BoardKind.LEADS, 20)["columns"][0]

    assert column["id"] == first
    assert (column["open_count"], column["open_amount"], ids(column["cards"])) == (
        1,
        Decimal("70.00"),
        [kept],
    )
    assert board.card(world.company_id, BoardKind.LEADS, lost) is None


def test_pages_of_a_column_neither_lose_nor_repeat_cards_while_others_move(
    uow: Callable[[], SqlUnitOfWork], board: SqlBoard
) -> None:
    world = new_world(uow)
    funnel = world.funnels.create_funnel(world.admin, "Много")
    first, second, *_ = world.stages(funnel)
    made = []
    for number in range(45):
        made.append(deal(world, funnel, f"Сделка {number}", "10"))
        if number % 3:  # several cards arrive in the same second: the id settles the order
            world.clock.advance(seconds=1)

    column = board.board(world.company_id, funnel, BoardKind.DEALS, 20)["columns"][0]
    seen = ids(column["cards"])
    assert column["has_more"] and len(seen) == 20
    # Someone moves a card already shown and one not yet shown out of the column.
    world.deals.move_deal(world.admin, seen[3], second)
    unseen = next(card for card in reversed(made) if card not in seen)
    world.deals.move_deal(world.admin, unseen, second)
    last = column["cards"][-1]
    more, has_more = board.cards(
        world.company_id,
        first,
        BoardKind.DEALS,
        CardsAfter(last["stage_changed_at"], last["id"]),
        20,
    )
    seen += ids(more)
    assert has_more
    last = more[-1]
    rest, has_more = board.cards(
        world.company_id,
        first,
        BoardKind.DEALS,
        CardsAfter(last["stage_changed_at"], last["id"]),
        20,
    )
    seen += ids(rest)

    assert not has_more
    assert len(seen) == len(set(seen))  # nothing repeated
    assert set(seen) == set(made) - {unseen}  # nothing lost that is still there


def test_versions_change_only_for_the_columns_whose_cards_changed(
    uow: Callable[[], SqlUnitOfWork], board: SqlBoard
) -> None:
    world = new_world(uow)
    funnel = world.funnels.create_funnel(world.admin, "Версии")
    first, second, third, *_ = world.stages(funnel)
    one = deal(world, funnel, "Первая", "10")
    two = deal(world, funnel, "Вторая", "20", stage_id=third)

    def versions() -> dict[str, str]:
        found: dict[str, str] = board.versions(world.company_id, funnel, BoardKind.DEALS)["columns"]
        return found

    before = versions()
    world.clock.advance(minutes=1)
    world.deals.move_deal(world.admin, one, second)
    after_move = versions()
    assert {stage for stage in before if before[stage] != after_move[stage]} == {
        str(first),
        str(second),
    }

    world.deals.update_deal(world.admin, two, ChangeDeal(title="Вторая, дороже"))
    after_edit = versions()
    assert {stage for stage in before if after_move[stage] != after_edit[stage]} == {str(third)}

    world.activities.create_activity(
        world.admin,
        CreateActivity(activity_type="task", title="Позвонить", deal_id=two, due_date=date.today()),
    )
    after_task = versions()
    assert {stage for stage in before if after_edit[stage] != after_task[stage]} == {str(third)}
    card = board.card(world.company_id, BoardKind.DEALS, two)
    assert card is not None and card["task_due"] == date.today()

    contact = board.card(world.company_id, BoardKind.DEALS, one)
    assert contact is not None
    account = MessagingAccount(world.company_id, "WA", "enc", "…1", "s", instance_id="c")
    incoming = Message(
        world.company_id,
        account.id,
        ChatType.WHATSAPP,
        "79990000000",
        True,
        world.clock.now(),
        text="Есть вопрос",
        contact_id=contact["contact_id"],
    )
    with uow() as unit:
        unit.accounts.save(account)
        unit.messages.save(incoming)
        unit.commit()
    after_message = versions()
    assert {stage for stage in before if after_task[stage] != after_message[stage]} == {str(second)}
    card = board.card(world.company_id, BoardKind.DEALS, one)
    assert card is not None and card["unread"] == 1
    stages = board.versions(world.company_id, funnel, BoardKind.DEALS)["stages"]
    world.funnels.update_stage(world.admin, second, ChangeStage(name="Переименована"))
    assert board.versions(world.company_id, funnel, BoardKind.DEALS)["stages"] != stages


def test_another_companys_funnel_is_not_found_and_its_cards_are_not_shown(
    uow: Callable[[], SqlUnitOfWork], board: SqlBoard
) -> None:
    owner, stranger = new_world(uow), new_world(uow)
    funnel = owner.funnels.create_funnel(owner.admin, "Чужая")
    first = owner.stages(funnel)[0]
    made = deal(owner, funnel, "Секрет", "1")

    with pytest.raises(NotFound):
        board.board(stranger.company_id, funnel, BoardKind.DEALS, 20)
    with pytest.raises(NotFound):
        board.versions(stranger.company_id, funnel, BoardKind.DEALS)
    assert board.cards(stranger.company_id, first, BoardKind.DEALS, None, 20) == ([], False)
    assert board.card(stranger.company_id, BoardKind.DEALS, made) is None


def test_the_number_of_statements_does_not_grow_with_the_funnel(
    uow: Callable[[], SqlUnitOfWork], board: SqlBoard, engine: Engine
) -> None:
    world = new_world(uow)
    funnel = world.funnels.create_funnel(world.admin, "Рост")
    stages = world.stages(funnel)
    deal(world, funnel, "Одна", "1")

    def read() -> None:
        board.board(world.company_id, funnel, BoardKind.DEALS, 20)

    few = len(sent_by(engine, read))
    for number in range(60):
        made = deal(world, funnel, f"Ещё {number}", "5", stage_id=stages[number % 4])
        if number % 5 == 0:
            world.activities.create_activity(
                world.admin,
                CreateActivity(
                    activity_type="task",
                    title="Задача",
                    deal_id=made,
                    due_date=date.today() - timedelta(days=1),
                ),
            )

    assert len(sent_by(engine, read)) == few == 3
    assert (
        len(sent_by(engine, lambda: board.versions(world.company_id, funnel, BoardKind.DEALS))) == 1
    )


def test_one_column_again_keeps_as_many_cards_as_its_viewer_had_opened(
    uow: Callable[[], SqlUnitOfWork], board: SqlBoard, engine: Engine
) -> None:
    world = new_world(uow)
    funnel = world.funnels.create_funnel(world.admin, "Колонка")
    first, second, *_ = world.stages(funnel)
    for number in range(25):
        deal(world, funnel, f"Сделка {number}", "2")
        world.clock.advance(seconds=1)

    def read() -> Any:
        return board.column(world.company_id, funnel, first, BoardKind.DEALS, 22)

    column = read()

    assert (column["open_count"], column["open_amount"]) == (25, Decimal("50.00"))
    assert (len(column["cards"]), column["has_more"]) == (22, True)
    assert (
        column["version"]
        == board.versions(world.company_id, funnel, BoardKind.DEALS)["columns"][str(first)]
    )
    assert len(sent_by(engine, read)) == 2
    other = new_world(uow)
    with pytest.raises(NotFound):
        board.column(other.company_id, funnel, first, BoardKind.DEALS, 20)
    elsewhere = other.funnels.create_funnel(other.admin, "Своя")
    with pytest.raises(NotFound):  # a stage of another funnel
        board.column(other.company_id, elsewhere, second, BoardKind.DEALS, 20)
