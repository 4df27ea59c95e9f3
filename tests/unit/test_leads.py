"""Leads: opened in a stage, moved, converted to a deal exactly once, or lost."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs
import pytest

from crm_core import (
    ActivityType,
    Actor,
    Conflict,
    Funnel,
    Lead,
    LeadStatus,
    Money,
    NotFound,
    Probability,
    Role,
    StageSpec,
    ValidationFailed,
)
from crm_core.services.pipeline import ChangeLead, ConvertLead, CreateDeal, CreateLead
from crm_core.services.tenancy import ChangeUser
from crm_core.values import CompanyId, ContactId, LeadId, UserId, new_id
from tests.unit.conftest import Crm

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def read_lead(crm: Crm, actor: Actor, lead_id: LeadId) -> Lead:
    with crm.read() as uow:
        return uow.leads.get(actor.company_id, lead_id)


def open_lead(crm: Crm, actor: Actor, funnel: Funnel, **fields: Any) -> LeadId:
    values = {"contact_id": crm.contact(actor), "funnel_id": funnel.id, "title": "Сайт", **fields}
    return crm.leads.create_lead(actor, CreateLead(**values))


# --- creating ------------------------------------------------------------------------------


def test_given_a_funnel_when_a_lead_is_created_then_it_is_open_in_the_first_stage(
    crm: Crm, anna: Actor
) -> None:
    funnel = crm.funnel(anna)

    lead = read_lead(crm, anna, open_lead(crm, anna, funnel))

    first = funnel.ordered_stages[0]
    assert (lead.status, lead.stage_id, lead.deal_id, lead.closed_at) == (
        LeadStatus.OPEN,
        first.id,
        None,
        None,
    )
    assert (str(lead.estimated_value), int(lead.probability)) == ("0.00", 0)
    assert lead.owner_id == anna.user_id and lead.stage_changed_at == crm.clock.now()
    [entry] = lead.history
    assert (entry.from_stage_id, entry.to_stage_id, entry.entered_at, entry.left_at) == (
        None,
        first.id,
        crm.clock.now(),
        None,
    )
    assert entry.actor_id == anna.user_id


def test_given_plain_values_when_a_lead_is_opened_then_they_are_typed() -> None:
    funnel = Funnel.with_default_stages(CompanyId(new_id()), "a")

    lead = a_lead(funnel, estimated_value="50000", probability=40)

    assert (lead.estimated_value, lead.probability) == (
        Money(Decimal("50000.00")),
        Probability(40),
    )


def test_given_bad_values_when_a_lead_is_opened_then_each_field_is_named() -> None:
    funnel = Funnel.with_default_stages(CompanyId(new_id()), "a")

    with pytest.raises(ValidationFailed) as refused:
        a_lead(funnel, title=" ", estimated_value="1.005", probability=101)

    assert set(refused.value.errors) == {"title", "estimated_value", "probability"}


def test_given_a_title_or_source_too_long_when_a_lead_is_created_then_400_on_each(
    crm: Crm, anna: Actor
) -> None:
    funnel = crm.funnel(anna)
    open_lead(crm, anna, funnel, title="я" * 255, source="x" * 64)

    with pytest.raises(ValidationFailed) as refused:
        open_lead(crm, anna, funnel, title="я" * 256, source="x" * 65)

    assert set(refused.value.errors) == {"title", "source"}
    assert len(crm.db.rows("leads")) == 1


def test_given_a_final_stage_when_a_lead_is_created_there_then_400_on_stage(
    crm: Crm, anna: Actor
) -> None:
    funnel = crm.funnel(anna)
    assert funnel.success_stage and funnel.failure_stage

    for final in (funnel.success_stage, funnel.failure_stage):
        with pytest.raises(ValidationFailed) as refused:
            open_lead(crm, anna, funnel, stage_id=final.id)
        assert list(refused.value.errors) == ["stage"]

    assert crm.db.rows("leads") == []


def test_given_an_inactive_owner_when_a_lead_is_created_or_edited_then_400_on_owner(
    crm: Crm, anna: Actor
) -> None:
    funnel = crm.funnel(anna)
    colleague = crm.company("ООО Ромашка", Role.MANAGER)
    lead_id = open_lead(crm, anna, funnel, owner_id=colleague.user_id)
    crm.access.update_user(anna, colleague.user_id, ChangeUser(is_active=False))

    with pytest.raises(ValidationFailed) as created:
        open_lead(crm, anna, funnel, owner_id=colleague.user_id)
    with pytest.raises(ValidationFailed) as edited:
        crm.leads.update_lead(anna, lead_id, ChangeLead(owner_id=colleague.user_id, title="x"))

    assert (list(created.value.errors), list(edited.value.errors)) == (["owner"], ["owner"])
    assert read_lead(crm, anna, lead_id).title == "Сайт"


def test_given_a_stage_of_another_funnel_when_a_lead_is_created_then_400_on_stage(
    crm: Crm, anna: Actor
) -> None:
    funnel, other = crm.funnel(anna), crm.funnel(anna)

    with pytest.raises(ValidationFailed) as refused:
        open_lead(crm, anna, funnel, stage_id=other.ordered_stages[1].id)

    assert list(refused.value.errors) == ["stage"]


def test_given_a_funnel_without_stages_when_a_lead_is_created_then_400_on_funnel(
    crm: Crm, anna: Actor
) -> None:
    empty = crm.funnel(anna, stages=[])

    with pytest.raises(ValidationFailed) as refused:
        open_lead(crm, anna, empty)

    assert list(refused.value.errors) == ["funnel"]


def test_given_references_of_another_company_then_400_on_each_field(
    crm: Crm, anna: Actor, boris: Actor
) -> None:
    funnel, foreign_funnel = crm.funnel(anna), crm.funnel(boris)
    contact, foreign_contact = crm.contact(anna), crm.contact(boris)
    base = CreateLead(contact_id=contact, funnel_id=funnel.id, title="x")

    for field, value, error in [
        ("contact_id", foreign_contact, "contact"),
        ("funnel_id", foreign_funnel.id, "funnel"),
        ("owner_id", boris.user_id, "owner"),
        ("contact_id", ContactId(new_id()), "contact"),
    ]:
        with pytest.raises(ValidationFailed) as refused:
            crm.leads.create_lead(anna, attrs.evolve(base, **{field: value}))
        assert list(refused.value.errors) == [error]


# --- moving ----------------------------------------------------------------------------------


def test_given_an_open_lead_when_moved_then_the_stay_and_a_stage_change_are_recorded(
    crm: Crm, anna: Actor
) -> None:
    funnel = crm.funnel(anna)
    first, second = funnel.ordered_stages[:2]
    lead_id = open_lead(crm, anna, funnel)
    created = crm.clock.now()
    moved = crm.clock.advance(days=2)

    crm.leads.move_lead(anna, lead_id, second.id)

    lead = read_lead(crm, anna, lead_id)
    assert (lead.stage_id, lead.stage_changed_at, lead.updated_at) == (second.id, moved, moved)
    assert [
        (t.from_stage_id, t.to_stage_id, t.entered_at, t.left_at, t.actor_id) for t in lead.history
    ] == [
        (None, first.id, created, moved, anna.user_id),
        (first.id, second.id, moved, None, anna.user_id),
    ]
    [activity] = crm.activities_about(lead_id)
    assert activity.activity_type is ActivityType.STAGE_CHANGE
    assert "Новый лид" in activity.description and "Квалификация" in activity.description
    assert (activity.user_id, activity.activity_date) == (anna.user_id, moved)


def test_given_a_lead_when_moved_to_its_own_stage_then_nothing_changes_or_is_written(
    crm: Crm, anna: Actor
) -> None:
    funnel = crm.funnel(anna)
    lead_id = open_lead(crm, anna, funnel)
    before = read_lead(crm, anna, lead_id)
    crm.clock.advance(hours=1)

    crm.leads.move_lead(anna, lead_id, funnel.ordered_stages[0].id)

    after = read_lead(crm, anna, lead_id)
    assert (len(after.history), after.updated_at) == (1, before.updated_at)
    assert crm.activities_about(lead_id) == []


def test_given_a_stage_of_another_funnel_when_a_lead_is_moved_then_400_on_stage_id(
    crm: Crm, anna: Actor
) -> None:
    funnel, other = crm.funnel(anna), crm.funnel(anna)
    lead_id = open_lead(crm, anna, funnel)

    with pytest.raises(ValidationFailed) as refused:
        crm.leads.move_lead(anna, lead_id, other.ordered_stages[1].id)

    assert list(refused.value.errors) == ["stage_id"]
    assert read_lead(crm, anna, lead_id).stage_id == funnel.ordered_stages[0].id


@pytest.mark.parametrize("close", ["convert", "lose"])
def test_given_a_closed_lead_when_moved_then_409_even_towards_its_own_stage(
    crm: Crm, anna: Actor, close: str
) -> None:
    funnel = crm.funnel(anna)
    lead_id = open_lead(crm, anna, funnel)
    if close == "convert":
        crm.leads.convert_lead(anna, lead_id)
    else:
        crm.leads.mark_lead_lost(anna, lead_id, "дорого")
    before = read_lead(crm, anna, lead_id)

    for stage in (funnel.ordered_stages[1], funnel.stage(before.stage_id)):
        with pytest.raises(Conflict):
            crm.leads.move_lead(anna, lead_id, stage.id)

    after = read_lead(crm, anna, lead_id)
    assert (after.stage_id, len(after.history)) == (before.stage_id, len(before.history))


def test_given_another_companys_lead_then_every_action_is_not_found(
    crm: Crm, anna: Actor, boris: Actor
) -> None:
    funnel = crm.funnel(anna)
    lead_id = open_lead(crm, anna, funnel)

    for action in (
        lambda: crm.leads.move_lead(boris, lead_id, funnel.ordered_stages[1].id),
        lambda: crm.leads.convert_lead(boris, lead_id),
        lambda: crm.leads.mark_lead_lost(boris, lead_id, ""),
        lambda: crm.leads.update_lead(boris, lead_id, ChangeLead(title="x")),
        lambda: crm.leads.delete_lead(boris, lead_id),
    ):
        with pytest.raises(NotFound):
            action()

    assert read_lead(crm, anna, lead_id).is_open


# --- converting and losing ---------------------------------------------------------------------


def test_given_an_open_lead_when_converted_then_a_deal_copies_it_and_the_lead_closes(
    crm: Crm, anna: Actor
) -> None:
    funnel = crm.funnel(anna)
    lead_id = open_lead(
        crm,
        anna,
        funnel,
        estimated_value=Money("1500"),
        probability=Probability(30),
        description="d",
    )
    crm.leads.move_lead(anna, lead_id, funnel.ordered_stages[2].id)
    converted = crm.clock.advance(days=1)

    deal_id = crm.leads.convert_lead(anna, lead_id)

    with crm.read() as uow:
        lead = uow.leads.get(anna.company_id, lead_id)
        deal = uow.deals.get(anna.company_id, deal_id)
    assert (lead.status, lead.deal_id, lead.closed_at) == (LeadStatus.CONVERTED, deal_id, converted)
    assert lead.history[-1].left_at is None  # a conversion does not end the stay
    assert (deal.lead_id, deal.contact_id, deal.funnel_id) == (lead_id, lead.contact_id, funnel.id)
    assert (deal.title, deal.description, str(deal.amount), int(deal.probability)) == (
        "Сайт",
        "d",
        "1500.00",
        30,
    )
    assert (deal.stage_id, deal.owner_id, deal.is_closed) == (lead.stage_id, anna.user_id, False)


def test_given_a_body_when_a_lead_is_converted_then_title_amount_and_stage_are_taken(
    crm: Crm, anna: Actor
) -> None:
    funnel = crm.funnel(anna)
    lead_id = open_lead(crm, anna, funnel)
    target = funnel.ordered_stages[3]

    deal_id = crm.leads.convert_lead(
        anna, lead_id, ConvertLead(title="Сайт+", amount=Money("10"), stage_id=target.id)
    )

    with crm.read() as uow:
        deal = uow.deals.get(anna.company_id, deal_id)
    assert (deal.title, str(deal.amount), deal.stage_id) == ("Сайт+", "10.00", target.id)


def test_given_a_converted_lead_when_converted_again_then_409_and_one_deal_stays(
    crm: Crm, anna: Actor
) -> None:
    funnel = crm.funnel(anna)
    lead_id = open_lead(crm, anna, funnel)
    deal_id = crm.leads.convert_lead(anna, lead_id)

    with pytest.raises(Conflict):
        crm.leads.convert_lead(anna, lead_id)
    with pytest.raises(ValidationFailed) as refused:
        crm.deals.create_deal(
            anna,
            CreateDeal(
                lead_id=lead_id,
                contact_id=read_lead(crm, anna, lead_id).contact_id,
                funnel_id=funnel.id,
                title="again",
            ),
        )

    assert list(refused.value.errors) == ["lead"]
    assert [d.id for d in crm.db.rows("deals") if d.lead_id == lead_id] == [deal_id]


def test_given_a_success_stage_when_a_lead_is_converted_into_it_then_the_deal_is_won_and_client(
    crm: Crm, anna: Actor
) -> None:
    funnel = crm.funnel(anna)
    success = funnel.success_stage
    assert success is not None
    lead_id = open_lead(crm, anna, funnel)

    deal_id = crm.leads.convert_lead(anna, lead_id, ConvertLead(stage_id=success.id))

    with crm.read() as uow:
        deal = uow.deals.get(anna.company_id, deal_id)
        contact = uow.contacts.get(anna.company_id, deal.contact_id)
    assert (deal.is_won, deal.closed_at, contact.is_client) == (True, crm.clock.now(), True)


def test_given_an_open_lead_when_marked_lost_then_it_is_lost_in_the_failure_stage_as_a_move(
    crm: Crm, anna: Actor
) -> None:
    funnel = crm.funnel(anna)
    first, failure = funnel.ordered_stages[0], funnel.failure_stage
    assert failure is not None
    lead_id = open_lead(crm, anna, funnel)
    lost_at = crm.clock.advance(hours=3)

    crm.leads.mark_lead_lost(anna, lead_id, "дорого")
    crm.clock.advance(hours=3)
    crm.leads.mark_lead_lost(anna, lead_id, "другая причина")

    lead = read_lead(crm, anna, lead_id)
    assert (lead.status, lead.lost_reason, lead.closed_at) == (LeadStatus.LOST, "дорого", lost_at)
    assert (lead.stage_id, lead.stage_changed_at) == (failure.id, lost_at)
    assert [(t.from_stage_id, t.to_stage_id, t.entered_at, t.left_at) for t in lead.history] == [
        (None, first.id, NOW, lost_at),
        (first.id, failure.id, lost_at, None),
    ]
    [activity] = crm.activities_about(lead_id)
    assert activity.activity_type is ActivityType.STAGE_CHANGE
    assert (activity.description, activity.activity_date) == (
        "Новый лид → Закрыта неудачно",
        lost_at,
    )
    with pytest.raises(Conflict):
        crm.leads.convert_lead(anna, lead_id)


def test_given_several_failure_stages_when_a_lead_is_lost_then_it_goes_to_the_lowest(
    crm: Crm, anna: Actor
) -> None:
    funnel = crm.funnel(
        anna,
        stages=[
            StageSpec("Open", 1),
            StageSpec("Lost late", 9, is_final=True),
            StageSpec("Lost", 5, is_final=True),
        ],
    )
    lead_id = open_lead(crm, anna, funnel)

    crm.leads.mark_lead_lost(anna, lead_id, "")

    assert funnel.stage(read_lead(crm, anna, lead_id).stage_id).name == "Lost"


def test_given_a_funnel_without_failure_stage_when_a_lead_is_lost_then_it_stays_put(
    crm: Crm, anna: Actor
) -> None:
    funnel = crm.funnel(anna, stages=[StageSpec("Open", 1), StageSpec("Next", 2)])
    lead_id = open_lead(crm, anna, funnel)

    crm.leads.mark_lead_lost(anna, lead_id, "")

    lead = read_lead(crm, anna, lead_id)
    assert (lead.status, funnel.stage(lead.stage_id).name, len(lead.history)) == (
        LeadStatus.LOST,
        "Open",
        1,
    )
    assert crm.activities_about(lead_id) == []


def test_given_a_reason_over_1000_chars_when_a_lead_is_lost_then_400_on_reason(
    crm: Crm, anna: Actor
) -> None:
    funnel = crm.funnel(anna)
    lead_id = open_lead(crm, anna, funnel)

    crm.leads.mark_lead_lost(anna, open_lead(crm, anna, funnel), "x" * 1000)
    with pytest.raises(ValidationFailed) as refused:
        crm.leads.mark_lead_lost(anna, lead_id, "x" * 1001)

    assert list(refused.value.errors) == ["reason"]
    assert read_lead(crm, anna, lead_id).is_open


def test_given_an_open_lead_when_moved_into_a_failure_stage_then_it_is_lost(
    crm: Crm, anna: Actor
) -> None:
    funnel = crm.funnel(anna)
    failure = funnel.failure_stage
    assert failure is not None
    lead_id = open_lead(crm, anna, funnel)
    moved = crm.clock.advance(days=1)

    crm.leads.move_lead(anna, lead_id, failure.id)

    lead = read_lead(crm, anna, lead_id)
    assert (lead.status, lead.stage_id, lead.closed_at, lead.lost_reason) == (
        LeadStatus.LOST,
        failure.id,
        moved,
        "",
    )
    assert len(lead.history) == 2
    [activity] = crm.activities_about(lead_id)
    assert activity.description == "Новый лид → Закрыта неудачно"


def test_given_an_open_lead_when_moved_into_a_success_stage_then_409_and_it_stays(
    crm: Crm, anna: Actor
) -> None:
    funnel = crm.funnel(anna)
    success = funnel.success_stage
    assert success is not None
    lead_id = open_lead(crm, anna, funnel)

    with pytest.raises(Conflict, match="convert"):
        crm.leads.move_lead(anna, lead_id, success.id)

    lead = read_lead(crm, anna, lead_id)
    assert (lead.status, lead.stage_id, len(lead.history)) == (
        LeadStatus.OPEN,
        funnel.ordered_stages[0].id,
        1,
    )
    assert crm.activities_about(lead_id) == []


def test_given_a_converted_lead_when_marked_lost_then_409(crm: Crm, anna: Actor) -> None:
    funnel = crm.funnel(anna)
    lead_id = open_lead(crm, anna, funnel)
    crm.leads.convert_lead(anna, lead_id)

    with pytest.raises(Conflict):
        crm.leads.mark_lead_lost(anna, lead_id, "")

    assert read_lead(crm, anna, lead_id).status is LeadStatus.CONVERTED


# --- reopening (the board's undo of «Провалено») ------------------------------------------------


def test_given_a_lost_lead_when_reopened_then_it_is_open_in_that_stage_with_a_note(
    crm: Crm, anna: Actor
) -> None:
    funnel = crm.funnel(anna)
    lead_id = open_lead(crm, anna, funnel)
    crm.leads.mark_lead_lost(anna, lead_id, "дорого")
    reopened = crm.clock.advance(minutes=1)
    target = funnel.ordered_stages[1]

    crm.leads.reopen_lead(anna, lead_id, target.id)

    lead = read_lead(crm, anna, lead_id)
    assert (lead.status, lead.lost_reason, lead.closed_at) == (LeadStatus.OPEN, "", None)
    assert (lead.stage_id, lead.stage_changed_at, lead.updated_at) == (
        target.id,
        reopened,
        reopened,
    )
    assert crm.activities_about(lead_id)[-1].title == f"Лид переоткрыт: {target.name}"
    crm.leads.move_lead(anna, lead_id, funnel.ordered_stages[0].id)  # it moves again
    assert read_lead(crm, anna, lead_id).stage_id == funnel.ordered_stages[0].id


@pytest.mark.parametrize("state", ["open", "converted"])
def test_given_an_open_or_converted_lead_when_reopened_then_409(
    crm: Crm, anna: Actor, state: str
) -> None:
    funnel = crm.funnel(anna)
    lead_id = open_lead(crm, anna, funnel)
    if state == "converted":
        crm.leads.convert_lead(anna, lead_id)
    before = read_lead(crm, anna, lead_id)

    with pytest.raises(Conflict):
        crm.leads.reopen_lead(anna, lead_id, funnel.ordered_stages[1].id)

    assert read_lead(crm, anna, lead_id).status is before.status


def test_given_a_lost_lead_when_reopened_into_a_final_or_foreign_stage_then_400(
    crm: Crm, anna: Actor
) -> None:
    funnel, other = crm.funnel(anna), crm.funnel(anna)
    lead_id = open_lead(crm, anna, funnel)
    crm.leads.mark_lead_lost(anna, lead_id, "")

    for stage in (funnel.ordered_stages[5], other.ordered_stages[0]):
        with pytest.raises(ValidationFailed) as refused:
            crm.leads.reopen_lead(anna, lead_id, stage.id)
        assert list(refused.value.errors) == ["stage_id"]

    assert read_lead(crm, anna, lead_id).status is LeadStatus.LOST


def test_given_an_open_lead_when_a_deal_names_it_then_the_lead_is_converted(
    crm: Crm, anna: Actor
) -> None:
    funnel = crm.funnel(anna)
    lead_id = open_lead(crm, anna, funnel)
    contact = read_lead(crm, anna, lead_id).contact_id

    deal_id = crm.deals.create_deal(
        anna, CreateDeal(lead_id=lead_id, contact_id=contact, funnel_id=funnel.id, title="Сделка")
    )

    lead = read_lead(crm, anna, lead_id)
    assert (lead.status, lead.deal_id) == (LeadStatus.CONVERTED, deal_id)


def test_given_a_lead_of_another_contact_when_a_deal_names_it_then_400_on_lead(
    crm: Crm, anna: Actor
) -> None:
    funnel = crm.funnel(anna)
    lead_id = open_lead(crm, anna, funnel)

    with pytest.raises(ValidationFailed) as refused:
        crm.deals.create_deal(
            anna,
            CreateDeal(
                lead_id=lead_id,
                contact_id=crm.contact(anna, phone="89160000000"),
                funnel_id=funnel.id,
                title="x",
            ),
        )

    assert list(refused.value.errors) == ["lead"]
    assert read_lead(crm, anna, lead_id).is_open


# --- editing (PUT/PATCH) ---------------------------------------------------------------------


def test_given_a_lead_when_patched_into_another_funnel_then_it_moves_and_both_stages_are_named(
    crm: Crm, anna: Actor
) -> None:
    funnel = crm.funnel(anna)
    other = crm.funnel(anna, stages=[StageSpec("Холодный", 10), StageSpec("Тёплый", 20)])
    lead_id = open_lead(crm, anna, funnel)
    moved = crm.clock.advance(days=1)

    crm.leads.update_lead(anna, lead_id, ChangeLead(funnel_id=other.id, title="Новый"))

    lead = read_lead(crm, anna, lead_id)
    assert (lead.funnel_id, lead.stage_id, lead.title) == (
        other.id,
        other.ordered_stages[0].id,
        "Новый",
    )
    assert (lead.updated_at, lead.stage_changed_at, lead.history[0].left_at) == (moved,) * 3
    [activity] = crm.activities_about(lead_id)
    assert activity.description == "Новый лид → Холодный"


def test_given_a_lead_when_patched_with_a_stage_then_it_is_a_move(crm: Crm, anna: Actor) -> None:
    funnel, other = crm.funnel(anna), crm.funnel(anna)
    lead_id = open_lead(crm, anna, funnel)

    crm.leads.update_lead(anna, lead_id, ChangeLead(stage_id=funnel.ordered_stages[1].id))
    with pytest.raises(ValidationFailed) as refused:
        crm.leads.update_lead(anna, lead_id, ChangeLead(stage_id=other.ordered_stages[2].id))

    assert list(refused.value.errors) == ["stage"]
    lead = read_lead(crm, anna, lead_id)
    assert (lead.stage_id, len(lead.history)) == (funnel.ordered_stages[1].id, 2)
    assert len(crm.activities_about(lead_id)) == 1


def test_given_a_lead_when_patched_into_a_foreign_funnel_then_400_on_funnel(
    crm: Crm, anna: Actor, boris: Actor
) -> None:
    funnel, foreign = crm.funnel(anna), crm.funnel(boris)
    lead_id = open_lead(crm, anna, funnel)

    with pytest.raises(ValidationFailed) as refused:
        crm.leads.update_lead(anna, lead_id, ChangeLead(funnel_id=foreign.id))

    assert list(refused.value.errors) == ["funnel"]


@pytest.mark.parametrize("close", ["convert", "lose"])
def test_given_a_closed_lead_when_its_contact_funnel_or_stage_is_edited_then_409_and_kept(
    crm: Crm, anna: Actor, close: str
) -> None:
    funnel, other = crm.funnel(anna), crm.funnel(anna)
    lead_id = open_lead(crm, anna, funnel)
    if close == "convert":
        crm.leads.convert_lead(anna, lead_id)
    else:
        crm.leads.mark_lead_lost(anna, lead_id, "дорого")
    before = read_lead(crm, anna, lead_id)
    stranger = crm.contact(anna, phone="89160000000")

    for change in (
        ChangeLead(stage_id=funnel.ordered_stages[1].id),
        ChangeLead(funnel_id=other.id),
        ChangeLead(contact_id=stranger),
        ChangeLead(contact_id=stranger, title="Не то"),
    ):
        with pytest.raises(Conflict):
            crm.leads.update_lead(anna, lead_id, change)

    after = read_lead(crm, anna, lead_id)
    assert (after.contact_id, after.funnel_id, after.stage_id, after.title) == (
        before.contact_id,
        funnel.id,
        before.stage_id,
        "Сайт",
    )
    assert len(after.history) == len(before.history)


@pytest.mark.parametrize("close", ["convert", "lose"])
def test_given_a_closed_lead_when_its_plain_fields_are_edited_then_they_change(
    crm: Crm, anna: Actor, close: str
) -> None:
    funnel = crm.funnel(anna)
    colleague = crm.company("ООО Ромашка", Role.MANAGER)
    lead_id = open_lead(crm, anna, funnel)
    if close == "convert":
        crm.leads.convert_lead(anna, lead_id)
    else:
        crm.leads.mark_lead_lost(anna, lead_id, "дорого")
    before = read_lead(crm, anna, lead_id)
    edited = crm.clock.advance(hours=1)

    crm.leads.update_lead(
        anna,
        lead_id,
        ChangeLead(
            title="Итог",
            description="итог",
            source="сайт",
            owner_id=colleague.user_id,
            estimated_value=Money("700"),
            # Naming the contact, funnel and stage it already has is no change.
            contact_id=before.contact_id,
            funnel_id=before.funnel_id,
            stage_id=before.stage_id,
        ),
    )

    lead = read_lead(crm, anna, lead_id)
    assert (lead.title, lead.description, lead.source, lead.owner_id) == (
        "Итог",
        "итог",
        "сайт",
        colleague.user_id,
    )
    assert (str(lead.estimated_value), lead.updated_at) == ("700.00", edited)
    assert (lead.status, lead.stage_id, lead.closed_at) == (
        before.status,
        before.stage_id,
        before.closed_at,
    )


def test_given_an_open_lead_when_its_contact_is_edited_then_it_changes(
    crm: Crm, anna: Actor
) -> None:
    funnel = crm.funnel(anna)
    lead_id = open_lead(crm, anna, funnel)
    other = crm.contact(anna, phone="89160000000")

    crm.leads.update_lead(anna, lead_id, ChangeLead(contact_id=other))
    with pytest.raises(ValidationFailed) as refused:
        crm.leads.update_lead(anna, lead_id, ChangeLead(contact_id=ContactId(new_id())))

    assert list(refused.value.errors) == ["contact"]
    assert read_lead(crm, anna, lead_id).contact_id == other


def test_given_an_open_lead_when_edited_into_a_final_stage_then_400_on_stage(
    crm: Crm, anna: Actor
) -> None:
    funnel = crm.funnel(anna)
    other = crm.funnel(anna, stages=[StageSpec("A", 1), StageSpec("Lost", 2, is_final=True)])
    lead_id = open_lead(crm, anna, funnel)
    assert funnel.success_stage and funnel.failure_stage

    for change in (
        ChangeLead(stage_id=funnel.success_stage.id),
        ChangeLead(stage_id=funnel.failure_stage.id),
        ChangeLead(funnel_id=other.id, stage_id=other.ordered_stages[1].id),
    ):
        with pytest.raises(ValidationFailed) as refused:
            crm.leads.update_lead(anna, lead_id, change)
        assert list(refused.value.errors) == ["stage"]

    lead = read_lead(crm, anna, lead_id)
    assert (lead.status, lead.funnel_id, len(lead.history)) == (LeadStatus.OPEN, funnel.id, 1)


# --- the aggregate alone ---------------------------------------------------------------------


def a_lead(funnel: Funnel, **details: Any) -> Lead:
    values = {"title": "t", **details}
    return Lead.open(
        company_id=funnel.company_id,
        contact_id=ContactId(new_id()),
        funnel=funnel,
        now=NOW,
        actor=UserId(new_id()),
        **values,
    )


def test_given_a_lead_when_transferred_then_updated_at_and_history_follow() -> None:
    company = CompanyId(new_id())
    funnel, other = (
        Funnel.with_default_stages(company, "a"),
        Funnel.with_default_stages(company, "b"),
    )
    lead = a_lead(funnel)
    later = NOW + timedelta(hours=1)

    left = lead.transfer_to(other, None, later)

    assert left == funnel.ordered_stages[0].id
    assert (lead.funnel_id, lead.stage_id, lead.updated_at) == (
        other.id,
        other.ordered_stages[0].id,
        later,
    )
    assert lead.transfer_to(other, None, later) is None  # same funnel, no stage: no move


def test_given_a_lead_when_time_runs_backwards_then_the_move_is_refused_untouched() -> None:
    funnel = Funnel.with_default_stages(CompanyId(new_id()), "a")
    lead = a_lead(funnel)

    with pytest.raises(ValidationFailed):
        lead.move_to(funnel.ordered_stages[1], NOW - timedelta(seconds=1))

    assert (lead.stage_id, len(lead.history), lead.history[0].left_at) == (
        funnel.ordered_stages[0].id,
        1,
        None,
    )
