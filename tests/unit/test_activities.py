"""Activities: typed, linked to agreeing objects, stage changes written by the system alone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from crm_core import Activity, ActivityType, Actor, Links, NotFound, ValidationFailed
from crm_core.activity import ACTIVITY_LABELS
from crm_core.services.activities import ChangeActivity, CreateActivity
from crm_core.services.pipeline import CreateLead
from crm_core.values import ActivityId, CompanyId, ContactId, LeadId, new_id
from tests.unit.conftest import Crm


def read_activity(crm: Crm, actor: Actor, activity_id: ActivityId) -> Activity:
    with crm.read() as uow:
        return uow.activities.get(actor.company_id, activity_id)


def a_lead(crm: Crm, actor: Actor, **contact: str) -> LeadId:
    funnel = crm.funnel(actor)
    return crm.leads.create_lead(
        actor, CreateLead(contact_id=crm.contact(actor, **contact), funnel_id=funnel.id, title="l")
    )


def test_the_types_carry_the_russian_labels_of_the_seed() -> None:
    assert {t.value: t.label for t in ActivityType} == {
        "call": "Звонок",
        "meeting": "Встреча",
        "email": "Email",
        "message": "Сообщение",
        "note": "Заметка",
        "task": "Задача",
        "stage_change": "Смена стадии",
    }
    assert set(ACTIVITY_LABELS) == set(ActivityType)


def test_given_a_lead_when_an_activity_names_it_then_its_contact_is_filled_in(
    crm: Crm, anna: Actor
) -> None:
    lead_id = a_lead(crm, anna)
    crm.clock.advance(hours=1)

    activity_id = crm.activities.create_activity(
        anna, CreateActivity(activity_type="call", title="Звонок клиенту", lead_id=lead_id)
    )

    activity = read_activity(crm, anna, activity_id)
    with crm.read() as uow:
        lead = uow.leads.get(anna.company_id, lead_id)
    assert (activity.contact_id, activity.lead_id, activity.user_id) == (
        lead.contact_id,
        lead_id,
        anna.user_id,
    )
    assert activity.activity_type.label == "Звонок"
    assert activity.activity_date == crm.clock.now()


def test_given_no_link_when_an_activity_is_created_then_400(crm: Crm, anna: Actor) -> None:
    with pytest.raises(ValidationFailed) as refused:
        crm.activities.create_activity(anna, CreateActivity(activity_type="note", title="x"))

    assert list(refused.value.errors) == ["non_field_errors"]


def test_given_a_lead_and_another_contact_when_an_activity_names_both_then_400_on_lead(
    crm: Crm, anna: Actor
) -> None:
    lead_id = a_lead(crm, anna)
    stranger = crm.contact(anna, phone="89160000000")

    with pytest.raises(ValidationFailed) as refused:
        crm.activities.create_activity(
            anna,
            CreateActivity(activity_type="note", title="x", lead_id=lead_id, contact_id=stranger),
        )

    assert list(refused.value.errors) == ["lead"]


def test_given_a_deal_of_another_lead_when_an_activity_names_both_then_400_on_deal(
    crm: Crm, anna: Actor
) -> None:
    lead_id, other_lead = a_lead(crm, anna), a_lead(crm, anna)
    deal_id = crm.leads.convert_lead(anna, other_lead)

    with pytest.raises(ValidationFailed) as refused:
        crm.activities.create_activity(
            anna, CreateActivity(activity_type="note", title="x", lead_id=lead_id, deal_id=deal_id)
        )

    assert list(refused.value.errors) == ["deal"]


def test_given_a_stage_change_by_hand_then_400_on_activity_type(crm: Crm, anna: Actor) -> None:
    contact = crm.contact(anna)

    for bad_type in ("stage_change", "party"):
        with pytest.raises(ValidationFailed) as refused:
            crm.activities.create_activity(
                anna, CreateActivity(activity_type=bad_type, title="x", contact_id=contact)
            )
        assert list(refused.value.errors) == ["activity_type"]


def test_given_a_task_then_it_keeps_due_date_and_is_done(crm: Crm, anna: Actor) -> None:
    contact = crm.contact(anna)
    activity_id = crm.activities.create_activity(
        anna,
        CreateActivity(
            activity_type="task",
            title="Перезвонить",
            contact_id=contact,
            due_date=date(2026, 12, 1),
        ),
    )
    crm.clock.advance(days=1)

    crm.activities.update_activity(anna, activity_id, ChangeActivity(is_done=True))

    task = read_activity(crm, anna, activity_id)
    assert (task.due_date, task.is_done, task.updated_at) == (
        date(2026, 12, 1),
        True,
        crm.clock.now(),
    )


def test_given_an_activity_when_its_deal_link_is_removed_then_its_contact_stays(
    crm: Crm, anna: Actor
) -> None:
    deal_id = crm.leads.convert_lead(anna, a_lead(crm, anna))
    activity_id = crm.activities.create_activity(
        anna, CreateActivity(activity_type="meeting", title="Встреча", deal_id=deal_id)
    )
    contact = read_activity(crm, anna, activity_id).contact_id

    crm.activities.update_activity(anna, activity_id, ChangeActivity(deal_id=None))

    activity = read_activity(crm, anna, activity_id)
    assert (activity.contact_id, activity.deal_id) == (contact, None)


def test_given_an_activity_when_it_names_another_lead_then_the_contact_follows(
    crm: Crm, anna: Actor
) -> None:
    first, second = a_lead(crm, anna), a_lead(crm, anna, phone="89160000000")
    activity_id = crm.activities.create_activity(
        anna, CreateActivity(activity_type="note", title="n", lead_id=first)
    )

    crm.activities.update_activity(anna, activity_id, ChangeActivity(lead_id=second))

    with crm.read() as uow:
        expected = uow.leads.get(anna.company_id, second).contact_id
    assert read_activity(crm, anna, activity_id).contact_id == expected


def test_given_an_activity_when_its_title_is_blanked_or_made_a_stage_change_then_400(
    crm: Crm, anna: Actor
) -> None:
    activity_id = crm.activities.create_activity(
        anna, CreateActivity(activity_type="note", title="n", contact_id=crm.contact(anna))
    )

    with pytest.raises(ValidationFailed) as blank:
        crm.activities.update_activity(anna, activity_id, ChangeActivity(title=" "))
    with pytest.raises(ValidationFailed) as system:
        crm.activities.update_activity(
            anna, activity_id, ChangeActivity(activity_type="stage_change")
        )

    assert (list(blank.value.errors), list(system.value.errors)) == (["title"], ["activity_type"])
    assert read_activity(crm, anna, activity_id).title == "n"


def test_given_a_system_stage_change_when_retyped_by_hand_then_400(crm: Crm, anna: Actor) -> None:
    funnel = crm.funnel(anna)
    lead_id = crm.leads.create_lead(
        anna, CreateLead(contact_id=crm.contact(anna), funnel_id=funnel.id, title="l")
    )
    crm.leads.move_lead(anna, lead_id, funnel.ordered_stages[1].id)
    [stage_change] = crm.activities_about(lead_id)

    with pytest.raises(ValidationFailed):
        crm.activities.update_activity(anna, stage_change.id, ChangeActivity(activity_type="note"))


def test_given_references_of_another_company_then_400_and_its_activities_not_found(
    crm: Crm, anna: Actor, boris: Actor
) -> None:
    foreign_lead = a_lead(crm, boris)
    mine = crm.activities.create_activity(
        anna, CreateActivity(activity_type="note", title="n", contact_id=crm.contact(anna))
    )

    with pytest.raises(ValidationFailed) as refused:
        crm.activities.create_activity(
            anna, CreateActivity(activity_type="note", title="n", lead_id=foreign_lead)
        )
    assert list(refused.value.errors) == ["lead"]
    with pytest.raises(NotFound):
        crm.activities.update_activity(boris, mine, ChangeActivity(title="x"))
    with pytest.raises(NotFound):
        crm.activities.delete_activity(boris, mine)

    crm.activities.delete_activity(anna, mine)
    with pytest.raises(NotFound):
        read_activity(crm, anna, mine)


def test_given_an_activity_date_then_it_is_kept_apart_from_created_at(
    crm: Crm, anna: Actor
) -> None:
    earlier = crm.clock.now() - timedelta(days=3)

    activity_id = crm.activities.create_activity(
        anna,
        CreateActivity(
            activity_type="call",
            title="c",
            contact_id=crm.contact(anna),
            activity_date=earlier,
        ),
    )

    activity = read_activity(crm, anna, activity_id)
    assert (activity.activity_date, activity.created_at) == (earlier, crm.clock.now())


def test_given_the_type_as_text_then_the_aggregate_still_keeps_stage_changes_to_itself() -> None:
    links = Links(contact_id=ContactId(new_id()))
    now = datetime(2026, 11, 24, tzinfo=UTC)

    with pytest.raises(ValidationFailed):
        Activity.record(
            company_id=CompanyId(new_id()),
            activity_type="stage_change",  # type: ignore[arg-type]
            title="x",
            links=links,
            now=now,
            user_id=None,
        )
    note = Activity.record(
        company_id=CompanyId(new_id()),
        activity_type="note",  # type: ignore[arg-type]
        title="x",
        links=links,
        now=now,
        user_id=None,
    )
    assert note.activity_type is ActivityType.NOTE


def test_given_a_title_over_255_chars_when_an_activity_is_written_then_400_on_title(
    crm: Crm, anna: Actor
) -> None:
    contact = crm.contact(anna)
    activity_id = crm.activities.create_activity(
        anna, CreateActivity(activity_type="note", title="я" * 255, contact_id=contact)
    )

    with pytest.raises(ValidationFailed) as created:
        crm.activities.create_activity(
            anna, CreateActivity(activity_type="note", title="я" * 256, contact_id=contact)
        )
    with pytest.raises(ValidationFailed) as edited:
        crm.activities.update_activity(anna, activity_id, ChangeActivity(title="я" * 256))

    assert (list(created.value.errors), list(edited.value.errors)) == (["title"], ["title"])
    assert [a.title for a in crm.activities_about(contact)] == ["я" * 255]
