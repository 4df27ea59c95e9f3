"""Activities written by people: calls, meetings, e-mails, notes and tasks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crm_core.activity import Activity, ActivityType, Links
from crm_core.errors import ValidationFailed
from crm_core.ports import UnitOfWork
from crm_core.services.base import UseCases, referenced
from crm_core.tenancy import Actor
from crm_core.values import ActivityId

PLAIN_FIELDS = ("title", "description", "activity_date", "due_date", "is_done")
LINK_FIELDS = ("contact_id", "lead_id", "deal_id")


def _links(uow: UnitOfWork, actor: Actor, fields: Mapping[str, Any]) -> Links:
    """Loads what the activity names, so that the links can be checked to agree."""
    company = actor.company_id
    contact_id, lead_id, deal_id = (fields.get(name) for name in LINK_FIELDS)
    lead = referenced("lead", lambda: uow.leads.get(company, lead_id)) if lead_id else None
    deal = referenced("deal", lambda: uow.deals.get(company, deal_id)) if deal_id else None
    if contact_id:
        referenced("contact", lambda: uow.contacts.get(company, contact_id))
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
    def create_activity(self, actor: Actor, fields: Mapping[str, Any]) -> ActivityId:
        with self.uow() as uow:
            activity = Activity.record(
                company_id=actor.company_id,
                activity_type=_activity_type(fields["activity_type"]),
                title=fields["title"],
                links=_links(uow, actor, fields),
                now=self.clock.now(),
                user_id=actor.user_id,
                activity_date=fields.get("activity_date"),
                description=fields.get("description", ""),
                due_date=fields.get("due_date"),
                is_done=fields.get("is_done", False),
            )
            uow.activities.save(activity)
            uow.commit()
            return activity.id

    def update_activity(
        self, actor: Actor, activity_id: ActivityId, fields: Mapping[str, Any]
    ) -> None:
        with self.uow() as uow:
            activity = uow.activities.get(actor.company_id, activity_id)
            if "activity_type" in fields:
                activity.change_type(_activity_type(fields["activity_type"]))
            if any(name in fields for name in LINK_FIELDS):
                current = {
                    "contact_id": activity.contact_id,
                    "lead_id": activity.lead_id,
                    "deal_id": activity.deal_id,
                }
                # A link the body leaves out keeps its value, except the contact when the
                # body names a new lead or deal: then it follows theirs.
                names_new_subject = fields.get("lead_id") or fields.get("deal_id")
                if "contact_id" not in fields and names_new_subject:
                    current["contact_id"] = None
                merged = {**current, **{k: v for k, v in fields.items() if k in LINK_FIELDS}}
                activity.relink(_links(uow, actor, merged), self.clock.now())
            activity.change_details(
                self.clock.now(), **{name: fields[name] for name in PLAIN_FIELDS if name in fields}
            )
            uow.activities.save(activity)
            uow.commit()

    def delete_activity(self, actor: Actor, activity_id: ActivityId) -> None:
        with self.uow() as uow:
            uow.activities.delete(uow.activities.get(actor.company_id, activity_id))
            uow.commit()
