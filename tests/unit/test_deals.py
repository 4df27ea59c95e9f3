"""Deals: won exactly in a success stage or when marked won, lost likewise, never both."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

from crm_core import (
    ActivityType,
    Actor,
    Conflict,
    Deal,
    Funnel,
    LeadStatus,
    Money,
    NotFound,
    StageSpec,
    ValidationFailed,
)
from crm_core.services.pipeline import ChangeDeal, CreateDeal, CreateLead
from crm_core.values import CompanyId, ContactId, DealId, new_id
from tests.unit.conftest import Crm

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def read_deal(crm: Crm, actor: Actor, deal_id: DealId) -> Deal:
    with crm.read() as uow:
        return uow.deals.get(actor.company_id, deal_id)


def is_client(crm: Crm, actor: Actor, deal_id: DealId) -> bool:
    with crm.read() as uow:
        deal = uow.deals.get(actor.company_id, deal_id)
        return uow.contacts.get(actor.company_id, deal.contact_id).is_client


def open_deal(crm: Crm, actor: Actor, funnel: Funnel, **fields: Any) -> DealId:
    values = {"contact_id": crm.contact(actor), "funnel_id": funnel.id, "title": "Сделка", **fields}
    return crm.deals.create_deal(actor, CreateDeal(**values))


def assert_settled(deal: Deal, funnel: Funnel) -> None:
    """The deal invariant."""
    stage = funnel.stage(deal.stage_id)
    assert not (deal.is_won and deal.is_lost)
    assert deal.is_won or not (stage.is_final and stage.is_success)
    assert deal.is_lost or not stage.is_failure
    assert (deal.closed_at is not None) == deal.is_closed


# --- creating ---------------------------------------------------------------------------------


def test_given_a_funnel_when_a_deal_is_created_then_it_is_open_in_the_first_stage(
    crm: Crm, anna: Actor
) -> None:
    funnel = crm.funnel(anna)

    deal = read_deal(crm, anna, open_deal(crm, anna, funnel, amount=Money("99.90")))

    assert (deal.stage_id, deal.is_won, deal.is_lost, deal.closed_at) == (
        funnel.ordered_stages[0].id,
        False,
        False,
        None,
    )
    assert (str(deal.amount), deal.lead_id) == ("99.90", None)


def test_given_a_success_stage_when_a_deal_is_created_there_then_it_is_born_won_and_client(
    crm: Crm, anna: Actor
) -> None:
    funnel = crm.funnel(anna)
    assert funnel.success_stage and funnel.failure_stage

    won = open_deal(crm, anna, funnel, stage_id=funnel.success_stage.id)
    lost = open_deal(crm, anna, funnel, stage_id=funnel.failure_stage.id)

    assert (read_deal(crm, anna, won).is_won, is_client(crm, anna, won)) == (True, True)
    assert (read_deal(crm, anna, lost).is_lost, is_client(crm, anna, lost)) == (True, False)
    for deal_id in (won, lost):
        assert_settled(read_deal(crm, anna, deal_id), funnel)


# --- moving -------------------------------------------------------------------------------------


def test_given_an_open_deal_when_moved_into_the_success_stage_then_it_is_won(
    crm: Crm, anna: Actor
) -> None:
    funnel = crm.funnel(anna)
    assert funnel.success_stage is not None
    deal_id = open_deal(crm, anna, funnel)
    won_at = crm.clock.advance(days=3)

    crm.deals.move_deal(anna, deal_id, funnel.success_stage.id)

    deal = read_deal(crm, anna, deal_id)
    assert (deal.is_won, deal.closed_at, deal.stage_id) == (
        True,
        won_at,
        funnel.success_stage.id,
    )
    assert deal.history[0].left_at == won_at  # winning by a move ends the previous stay
    assert is_client(crm, anna, deal_id)
    [activity] = crm.activities_about(deal_id)
    assert activity.activity_type is ActivityType.STAGE_CHANGE
    assert activity.description == "Новый лид → Закрыта успешно"
    assert_settled(deal, funnel)


def test_given_an_open_deal_when_moved_into_the_failure_stage_then_it_is_lost(
    crm: Crm, anna: Actor
) -> None:
    funnel = crm.funnel(anna)
    assert funnel.failure_stage is not None
    deal_id = open_deal(crm, anna, funnel)

    crm.deals.move_deal(anna, deal_id, funnel.failure_stage.id)

    deal = read_deal(crm, anna, deal_id)
    assert (deal.is_lost, deal.is_won, deal.closed_at) == (True, False, crm.clock.now())
    assert not is_client(crm, anna, deal_id)
    assert_settled(deal, funnel)


@pytest.mark.parametrize("close", ["won", "lost"])
def test_given_a_closed_deal_when_moved_then_409_until_reopened(
    crm: Crm, anna: Actor, close: str
) -> None:
    funnel = crm.funnel(anna)
    deal_id = open_deal(crm, anna, funnel)
    if close == "won":
        crm.deals.mark_won(anna, deal_id)
    else:
        crm.deals.mark_lost(anna, deal_id, "")
    before = read_deal(crm, anna, deal_id)

    for stage in (funnel.ordered_stages[1], funnel.stage(before.stage_id)):
        with pytest.raises(Conflict):
            crm.deals.move_deal(anna, deal_id, stage.id)
    with pytest.raises(Conflict):
        crm.deals.update_deal(anna, deal_id, ChangeDeal(stage_id=funnel.ordered_stages[1].id))

    after = read_deal(crm, anna, deal_id)
    assert (after.stage_id, len(after.history)) == (before.stage_id, len(before.history))


def test_given_a_deal_when_moved_to_a_stage_of_another_funnel_then_400_on_stage_id(
    crm: Crm, anna: Actor
) -> None:
    funnel, other = crm.funnel(anna), crm.funnel(anna)
    deal_id = open_deal(crm, anna, funnel)

    with pytest.raises(ValidationFailed) as refused:
        crm.deals.move_deal(anna, deal_id, other.ordered_stages[4].id)

    assert list(refused.value.errors) == ["stage_id"]
    assert not read_deal(crm, anna, deal_id).is_won


def test_given_a_deal_when_moved_to_its_own_stage_then_nothing_is_written(
    crm: Crm, anna: Actor
) -> None:
    funnel = crm.funnel(anna)
    deal_id = open_deal(crm, anna, funnel)

    crm.deals.move_deal(anna, deal_id, funnel.ordered_stages[0].id)

    assert (len(read_deal(crm, anna, deal_id).history), crm.activities_about(deal_id)) == (1, [])


# --- winning ------------------------------------------------------------------------------------


def test_given_an_open_deal_when_marked_won_then_it_goes_to_the_lowest_success_stage(
    crm: Crm, anna: Actor
) -> None:
    funnel = crm.funnel(
        anna,
        stages=[
            StageSpec("Open", 1),
            StageSpec("Won big", 9, is_final=True, is_success=True),
            StageSpec("Won", 5, is_final=True, is_success=True),
        ],
    )
    deal_id = open_deal(crm, anna, funnel)
    won_at = crm.clock.advance(days=1)

    crm.deals.mark_won(anna, deal_id)

    deal = read_deal(crm, anna, deal_id)
    assert (funnel.stage(deal.stage_id).name, deal.is_won, deal.closed_at) == ("Won", True, won_at)
    assert is_client(crm, anna, deal_id)
    [note] = crm.activities_about(deal_id)
    assert (note.activity_type, note.activity_date) == (ActivityType.NOTE, won_at)


def test_given_a_won_deal_when_marked_won_again_then_nothing_changes(crm: Crm, anna: Actor) -> None:
    funnel = crm.funnel(anna)
    deal_id = open_deal(crm, anna, funnel)
    crm.deals.mark_won(anna, deal_id)
    before = read_deal(crm, anna, deal_id)
    crm.clock.advance(days=1)

    crm.deals.mark_won(anna, deal_id)

    after = read_deal(crm, anna, deal_id)
    assert (after.closed_at, after.updated_at, len(after.history)) == (
        before.closed_at,
        before.updated_at,
        len(before.history),
    )
    assert len(crm.activities_about(deal_id)) == 1


def test_given_a_funnel_without_success_stage_when_won_then_the_deal_stays_put(
    crm: Crm, anna: Actor
) -> None:
    funnel = crm.funnel(anna, stages=[StageSpec("Open", 1), StageSpec("Lost", 2, is_final=True)])
    deal_id = open_deal(crm, anna, funnel)

    crm.deals.mark_won(anna, deal_id)

    deal = read_deal(crm, anna, deal_id)
    assert (deal.is_won, deal.stage_id, len(deal.history)) == (
        True,
        funnel.stage(deal.stage_id).id,
        1,
    )
    assert funnel.stage(deal.stage_id).name == "Open"


def test_given_a_lost_deal_when_marked_won_then_409(crm: Crm, anna: Actor) -> None:
    funnel = crm.funnel(anna)
    deal_id = open_deal(crm, anna, funnel)
    crm.deals.mark_lost(anna, deal_id, "дорого")

    with pytest.raises(Conflict):
        crm.deals.mark_won(anna, deal_id)

    deal = read_deal(crm, anna, deal_id)
    assert (deal.is_lost, deal.is_won, deal.lost_reason) == (True, False, "дорого")


# --- losing --------------------------------------------------------------------------------------


def test_given_an_open_deal_when_marked_lost_then_it_goes_to_the_failure_stage(
    crm: Crm, anna: Actor
) -> None:
    funnel = crm.funnel(anna)
    deal_id = open_deal(crm, anna, funnel)
    lost_at = crm.clock.advance(days=1)

    crm.deals.mark_lost(anna, deal_id, "Выбрали конкурента")

    deal = read_deal(crm, anna, deal_id)
    assert (funnel.stage(deal.stage_id).name, deal.lost_reason, deal.closed_at) == (
        "Закрыта неудачно",
        "Выбрали конкурента",
        lost_at,
    )
    [note] = crm.activities_about(deal_id)
    assert note.activity_type is ActivityType.NOTE and note.title == "Сделка проиграна"
    assert note.description == "Выбрали конкурента"
    assert_settled(deal, funnel)


def test_given_a_lost_deal_when_marked_lost_again_then_nothing_changes(
    crm: Crm, anna: Actor
) -> None:
    funnel = crm.funnel(anna)
    deal_id = open_deal(crm, anna, funnel)
    crm.deals.mark_lost(anna, deal_id, "first")
    crm.clock.advance(days=1)

    crm.deals.mark_lost(anna, deal_id, "second")

    deal = read_deal(crm, anna, deal_id)
    assert (deal.lost_reason, len(crm.activities_about(deal_id))) == ("first", 1)


def test_given_a_reason_over_1000_chars_when_a_deal_is_lost_then_400_on_reason(
    crm: Crm, anna: Actor
) -> None:
    funnel = crm.funnel(anna)
    deal_id = open_deal(crm, anna, funnel)

    crm.deals.mark_lost(anna, open_deal(crm, anna, funnel), "x" * 1000)
    with pytest.raises(ValidationFailed) as refused:
        crm.deals.mark_lost(anna, deal_id, "x" * 1001)

    assert list(refused.value.errors) == ["reason"]
    assert not read_deal(crm, anna, deal_id).is_lost


def test_given_a_won_deal_when_marked_lost_then_409(crm: Crm, anna: Actor) -> None:
    funnel = crm.funnel(anna)
    deal_id = open_deal(crm, anna, funnel)
    crm.deals.mark_won(anna, deal_id)

    with pytest.raises(Conflict):
        crm.deals.mark_lost(anna, deal_id, "")

    assert read_deal(crm, anna, deal_id).is_won


# --- reopening -----------------------------------------------------------------------------------


@pytest.mark.parametrize("close", ["won", "lost"])
def test_given_a_closed_deal_when_reopened_then_flags_reason_and_closed_at_are_cleared(
    crm: Crm, anna: Actor, close: str
) -> None:
    funnel = crm.funnel(anna)
    deal_id = open_deal(crm, anna, funnel)
    if close == "won":
        crm.deals.mark_won(anna, deal_id)
    else:
        crm.deals.mark_lost(anna, deal_id, "дорого")
    reopened = crm.clock.advance(days=1)
    target = funnel.ordered_stages[3]

    crm.deals.reopen(anna, deal_id, target.id)

    deal = read_deal(crm, anna, deal_id)
    assert (deal.is_won, deal.is_lost, deal.lost_reason, deal.closed_at) == (False, False, "", None)
    assert (deal.stage_id, deal.stage_changed_at, deal.updated_at) == (
        target.id,
        reopened,
        reopened,
    )
    assert crm.activities_about(deal_id)[-1].title == "Сделка переоткрыта: Переговоры"
    crm.deals.move_deal(anna, deal_id, funnel.ordered_stages[0].id)  # it moves again
    assert_settled(read_deal(crm, anna, deal_id), funnel)


def test_given_an_open_deal_when_reopened_then_409(crm: Crm, anna: Actor) -> None:
    funnel = crm.funnel(anna)
    deal_id = open_deal(crm, anna, funnel)

    with pytest.raises(Conflict):
        crm.deals.reopen(anna, deal_id, funnel.ordered_stages[1].id)

    assert len(read_deal(crm, anna, deal_id).history) == 1


def test_given_a_closed_deal_when_reopened_into_a_final_or_foreign_stage_then_400(
    crm: Crm, anna: Actor
) -> None:
    funnel, other = crm.funnel(anna), crm.funnel(anna)
    deal_id = open_deal(crm, anna, funnel)
    crm.deals.mark_won(anna, deal_id)

    for stage in (funnel.ordered_stages[5], other.ordered_stages[0]):
        with pytest.raises(ValidationFailed) as refused:
            crm.deals.reopen(anna, deal_id, stage.id)
        assert list(refused.value.errors) == ["stage_id"]

    assert read_deal(crm, anna, deal_id).is_won


# --- editing and tenancy -----------------------------------------------------------------------


def test_given_a_deal_when_patched_into_another_funnels_success_stage_then_it_is_won(
    crm: Crm, anna: Actor
) -> None:
    funnel = crm.funnel(anna)
    other = crm.funnel(
        anna, stages=[StageSpec("A", 1), StageSpec("Won", 2, is_final=True, is_success=True)]
    )
    deal_id = open_deal(crm, anna, funnel)
    moved = crm.clock.advance(hours=2)

    crm.deals.update_deal(
        anna, deal_id, ChangeDeal(funnel_id=other.id, stage_id=other.ordered_stages[1].id)
    )

    deal = read_deal(crm, anna, deal_id)
    assert (deal.funnel_id, deal.is_won, deal.closed_at, deal.updated_at) == (
        other.id,
        True,
        moved,
        moved,
    )
    assert is_client(crm, anna, deal_id)
    [activity] = crm.activities_about(deal_id)
    assert activity.description == "Новый лид → Won"
    assert_settled(deal, other)


def test_given_another_companys_deal_then_every_action_is_not_found(
    crm: Crm, anna: Actor, boris: Actor
) -> None:
    funnel = crm.funnel(anna)
    deal_id = open_deal(crm, anna, funnel)
    stage = funnel.ordered_stages[1].id

    for action in (
        lambda: crm.deals.move_deal(boris, deal_id, stage),
        lambda: crm.deals.mark_won(boris, deal_id),
        lambda: crm.deals.mark_lost(boris, deal_id, ""),
        lambda: crm.deals.reopen(boris, deal_id, stage),
        lambda: crm.deals.update_deal(boris, deal_id, ChangeDeal(title="x")),
        lambda: crm.deals.delete_deal(boris, deal_id),
    ):
        with pytest.raises(NotFound):
            action()

    assert not read_deal(crm, anna, deal_id).is_closed


def test_given_references_of_another_company_when_a_deal_is_created_then_400_on_each(
    crm: Crm, anna: Actor, boris: Actor
) -> None:
    funnel, foreign_funnel = crm.funnel(anna), crm.funnel(boris)
    foreign_lead = crm.leads.create_lead(
        boris, CreateLead(contact_id=crm.contact(boris), funnel_id=foreign_funnel.id, title="l")
    )
    base = CreateDeal(contact_id=crm.contact(anna), funnel_id=funnel.id, title="x")

    for field, value, error in [
        ("contact_id", crm.contact(boris), "contact"),
        ("funnel_id", foreign_funnel.id, "funnel"),
        ("owner_id", boris.user_id, "owner"),
        ("lead_id", foreign_lead, "lead"),
    ]:
        with pytest.raises(ValidationFailed) as refused:
            crm.deals.create_deal(anna, attrs.evolve(base, **{field: value}))
        assert list(refused.value.errors) == [error]


def test_given_a_deal_made_from_a_lead_when_its_contact_is_changed_then_400_on_contact(
    crm: Crm, anna: Actor
) -> None:
    funnel = crm.funnel(anna)
    contact = crm.contact(anna)
    lead_id = crm.leads.create_lead(
        anna, CreateLead(contact_id=contact, funnel_id=funnel.id, title="Лид")
    )
    deal_id = crm.leads.convert_lead(anna, lead_id)
    other = crm.contact(anna, phone="89160000000")

    crm.deals.update_deal(anna, deal_id, ChangeDeal(contact_id=contact, title="Тот же"))
    with pytest.raises(ValidationFailed) as refused:
        crm.deals.update_deal(anna, deal_id, ChangeDeal(contact_id=other, title="Другой"))

    assert list(refused.value.errors) == ["contact"]
    deal = read_deal(crm, anna, deal_id)
    assert (deal.contact_id, deal.title) == (contact, "Тот же")
    with crm.read() as uow:
        lead = uow.leads.get(anna.company_id, lead_id)
    assert (lead.contact_id, lead.status) == (contact, LeadStatus.CONVERTED)


def test_given_a_deal_without_a_lead_when_its_contact_is_changed_then_it_changes(
    crm: Crm, anna: Actor
) -> None:
    funnel = crm.funnel(anna)
    deal_id = open_deal(crm, anna, funnel)
    other = crm.contact(anna, phone="89160000000")
    edited = crm.clock.advance(hours=1)

    crm.deals.update_deal(anna, deal_id, ChangeDeal(contact_id=other))

    deal = read_deal(crm, anna, deal_id)
    assert (deal.contact_id, deal.updated_at) == (other, edited)


def test_given_a_title_over_255_chars_when_a_deal_is_created_or_edited_then_400_on_title(
    crm: Crm, anna: Actor
) -> None:
    funnel = crm.funnel(anna)
    deal_id = open_deal(crm, anna, funnel, title="я" * 255)

    with pytest.raises(ValidationFailed) as created:
        open_deal(crm, anna, funnel, title="я" * 256)
    with pytest.raises(ValidationFailed) as edited:
        crm.deals.update_deal(anna, deal_id, ChangeDeal(title="я" * 256))

    assert (list(created.value.errors), list(edited.value.errors)) == (["title"], ["title"])
    assert read_deal(crm, anna, deal_id).title == "я" * 255


# --- the aggregate alone -----------------------------------------------------------------------


def a_deal(funnel: Funnel) -> Deal:
    return Deal.open(
        company_id=funnel.company_id,
        contact_id=ContactId(new_id()),
        funnel=funnel,
        title="t",
        now=NOW,
    )


def test_given_a_deal_when_transferred_then_updated_at_follows_and_same_funnel_is_a_move() -> None:
    company = CompanyId(new_id())
    funnel, other = (
        Funnel.with_default_stages(company, "a"),
        Funnel.with_default_stages(company, "b"),
    )
    deal = a_deal(funnel)
    later = NOW + timedelta(hours=1)

    assert deal.transfer_to(other, None, later) == funnel.ordered_stages[0].id
    assert (deal.funnel_id, deal.updated_at, deal.is_closed) == (other.id, later, False)

    assert deal.transfer_to(other, None, later) is None
    assert deal.transfer_to(other, other.ordered_stages[0].id, later) is None
    assert deal.transfer_to(other, other.ordered_stages[5].id, later) == other.ordered_stages[0].id
    assert (deal.is_lost, deal.closed_at) == (True, later)
    with pytest.raises(ValidationFailed):
        deal.transfer_to(other, funnel.ordered_stages[1].id, later)
    with pytest.raises(Conflict):
        deal.transfer_to(funnel, None, later)


def test_given_bad_details_then_the_deal_refuses_them_all_and_keeps_its_values() -> None:
    deal = a_deal(Funnel.with_default_stages(CompanyId(new_id()), "a"))

    with pytest.raises(ValidationFailed) as refused:
        deal.change_details(
            NOW,
            title="",
            amount="-1",
            probability="x",  # type: ignore[arg-type]
            description="new",
        )

    assert set(refused.value.errors) == {"title", "amount", "probability"}
    assert (deal.title, deal.description) == ("t", "")
