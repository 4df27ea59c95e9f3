"""Activities written by people: calls, meetings, e-mails, notes and tasks."""

from __future__ import annotations

from datetime import date, datetime

import attrs

from crm_core.activity import Activity, ActivityType, Links
from crm_core.commands import UNSET, Maybe
from crm_core.errors import ValidationFailed
from crm_core.ports import UnitOfWork
from crm_core.services.base import UseCases, referenced, require
from crm_core.tenancy import Actor
from crm_core.values import ActivityId, ContactId, DealId, LeadId


@attrs.frozen(kw_only=True)
class ChangeActivity:
    """A PATCH names some fields, a PUT all; a link left out keeps its value, except the
    contact when a new lead or deal is named: then it follows theirs."""

    activity_type: Maybe[ActivityType | str] = UNSET
    title: Maybe[str] = UNSET
    contact_id: Maybe[ContactId | None] = UNSET
    lead_id: Maybe[LeadId | None] = UNSET
    deal_id: Maybe[DealId | None] = UNSET
    description: Maybe[str] = UNSET
    activity_date: Maybe[datetime | None] = UNSET
    due_date: Maybe[date | None] = UNSET
    is_done: Maybe[bool] = UNSET


@attrs.frozen(kw_only=True)
class CreateActivity:
    activity_type: ActivityType | str
    title: str
    contact_id: ContactId | None = None
    lead_id: LeadId | None = None
    deal_id: DealId | None = None
    description: str = ""
    activity_date: datetime | None = None  # now
    due_date: date | None = None
    is_done: bool = False


def _links(
    uow: UnitOfWork,
    actor: Actor,
    contact_id: ContactId | None,
    lead_id: LeadId | None,
    deal_id: DealId | None,
) -> Links:
    """Loads what the activity names, so that the links can be checked to agree."""
    company = actor.company_id
    lead = referenced("lead", lambda: uow.leads.get(company, lead_id)) if lead_id else None
    deal = referenced("deal", lambda: uow.deals.get(company, deal_id)) if deal_id else None
    if contact_id:
        require("contact", uow.contacts.exists(company, contact_id))
    return Links(
        contact_id=contact_id,
        lead_id=lead_id,
        lead_contact_id=lead.contact_id if lead else None,
        deal_id=deal_id,
        deal_contact_id=deal.contact_id if deal else None,
        deal_lead_id=deal.lead_id if deal else None,
    )


def _activity_type(value: object) -> ActivityType:
    try:
        return ActivityType(str(value))
    except ValueError:
        raise ValidationFailed.on("activity_type", f"{value!r} is not a valid choice.") from None


class ActivityUseCases(UseCases):
    def create_activity(self, actor: Actor, command: CreateActivity) -> ActivityId:
        with self.uow() as uow:
            activity = Activity.record(
                company_id=actor.company_id,
                activity_type=_activity_type(command.activity_type),
                title=command.title,
                links=_links(uow, actor, command.contact_id, command.lead_id, command.deal_id),
                now=self.clock.now(),
                user_id=actor.user_id,
                activity_date=command.activity_date,
                description=command.description,
                due_date=command.due_date,
                is_done=command.is_done,
            )
            uow.activities.save(activity)
            uow.commit()
            return activity.id

    def update_activity(
        self, actor: Actor, activity_id: ActivityId, command: ChangeActivity
    ) -> None:
        with self.uow() as uow:
            activity = uow.activities.get(actor.company_id, activity_id)
            now = self.clock.now()
            if command.activity_type is not UNSET:
                activity.change_type(_activity_type(command.activity_type))
            links = (command.contact_id, command.lead_id, command.deal_id)
            if any(link is not UNSET for link in links):
                lead_id = activity.lead_id if command.lead_id is UNSET else command.lead_id
                deal_id = activity.deal_id if command.deal_id is UNSET else command.deal_id
                contact_id = activity.contact_id
                if command.contact_id is not UNSET:
                    contact_id = command.contact_id
                elif command.lead_id or command.deal_id:
                    contact_id = None  # it follows the newly named lead's or deal's
                activity.relink(_links(uow, actor, contact_id, lead_id, deal_id), now)
            activity.change_details(
                now,
                title=command.title,
                description=command.description,
                activity_date=command.activity_date,
                due_date=command.due_date,
                is_done=command.is_done,
            )
            uow.activities.save(activity)
            uow.commit()

    def delete_activity(self, actor: Actor, activity_id: ActivityId) -> None:
        with self.uow() as uow:
            uow.activities.delete(uow.activities.get(actor.company_id, activity_id))
            uow.commit()
