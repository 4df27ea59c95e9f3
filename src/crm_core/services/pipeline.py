"""Leads and deals moving through funnels: create, edit, move, convert, win, lose, reopen."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from crm_core.activity import Activity, ActivityType, Links
from crm_core.deal import Deal
from crm_core.errors import ValidationFailed
from crm_core.funnel import Funnel, Stage
from crm_core.lead import Lead
from crm_core.ports import UnitOfWork
from crm_core.services.base import UseCases, referenced
from crm_core.tenancy import Actor
from crm_core.values import ContactId, DealId, FunnelId, LeadId, Money, StageId

# Fields no rule guards; `title` is required on create and so passed on its own there.
LEAD_DETAILS = ("description", "estimated_value", "probability", "source", "owner_id")
DEAL_DETAILS = ("description", "amount", "probability", "expected_close_date", "owner_id")


def _record_stage_change(
    uow: UnitOfWork,
    actor: Actor,
    funnel: Funnel,
    previous: StageId | None,
    subject: Lead | Deal,
    now: datetime,
    from_funnel: Funnel | None = None,
) -> None:
    """The `stage_change` activity that every move writes, naming both stages.

    `from_funnel` is the funnel left when the move was a transfer to `funnel`.
    """
    if previous is None:
        return
    left = from_funnel or funnel
    source = left.stage(previous).name if left.has_stage(previous) else "—"
    target = funnel.stage(subject.stage_id).name
    links = (
        Links(lead_id=subject.id, lead_contact_id=subject.contact_id)
        if isinstance(subject, Lead)
        else Links(deal_id=subject.id, deal_contact_id=subject.contact_id)
    )
    activity = Activity.system(
        company_id=actor.company_id,
        activity_type=ActivityType.STAGE_CHANGE,
        title=f"Смена стадии: {source} → {target}",
        description=f"{source} → {target}",
        links=links,
        now=now,
        user_id=actor.user_id,
    )
    uow.activities.save(activity)


def _record_note(
    uow: UnitOfWork, actor: Actor, deal: Deal, title: str, now: datetime, description: str = ""
) -> None:
    links = Links(deal_id=deal.id, deal_contact_id=deal.contact_id)
    uow.activities.save(
        Activity.system(
            company_id=actor.company_id,
            activity_type=ActivityType.NOTE,
            title=title,
            description=description,
            links=links,
            now=now,
            user_id=actor.user_id,
        )
    )


def _stage_of(funnel: Funnel, stage_id: StageId) -> Stage:
    """A stage named in an action body: one outside the funnel is a field error."""
    if not funnel.has_stage(stage_id):
        raise ValidationFailed.on("stage_id", "This stage does not belong to the funnel.")
    return funnel.stage(stage_id)


def _settle_contact(uow: UnitOfWork, deal: Deal) -> None:
    """Winning a deal makes its contact a client (the rule is the contact's)."""
    if deal.is_won:  # only a win can change the contact: spare the load otherwise
        contact = uow.contacts.get(deal.company_id, deal.contact_id)
        if contact.note_deal_outcome(deal):
            uow.contacts.save(contact)


def _check_owner(uow: UnitOfWork, actor: Actor, fields: Mapping[str, Any]) -> None:
    if fields.get("owner_id") is not None:
        referenced("owner", lambda: uow.users.get(actor.company_id, fields["owner_id"]))


def _edit(
    uow: UnitOfWork,
    actor: Actor,
    subject: Lead | Deal,
    fields: Mapping[str, Any],
    details: tuple[str, ...],
    now: datetime,
) -> bool:
    """A PUT or PATCH of a lead or deal: its plain fields, and a recorded move when the body
    changes its funnel or stage. Returns whether it moved."""
    company = actor.company_id
    if "contact_id" in fields:
        referenced("contact", lambda: uow.contacts.get(company, fields["contact_id"]))
        subject.contact_id = fields["contact_id"]
    _check_owner(uow, actor, fields)
    subject.change_details(**{name: fields[name] for name in details if name in fields})
    subject.updated_at = now
    funnel_id: FunnelId = fields.get("funnel_id", subject.funnel_id)
    stage_id: StageId | None = fields.get("stage_id")
    if funnel_id == subject.funnel_id and (not stage_id or stage_id == subject.stage_id):
        return False
    funnel = referenced("funnel", lambda: uow.funnels.get(company, funnel_id))
    left = uow.funnels.get(company, subject.funnel_id)
    previous = subject.transfer_to(funnel, stage_id, now, actor.user_id)
    _record_stage_change(uow, actor, funnel, previous, subject, now, left)
    return True


class LeadUseCases(UseCases):
    def create_lead(self, actor: Actor, fields: Mapping[str, Any]) -> LeadId:
        with self.uow() as uow:
            company = actor.company_id
            referenced("contact", lambda: uow.contacts.get(company, fields["contact_id"]))
            funnel = referenced("funnel", lambda: uow.funnels.get(company, fields["funnel_id"]))
            _check_owner(uow, actor, fields)
            lead = Lead.open(
                company_id=company,
                contact_id=fields["contact_id"],
                funnel=funnel,
                title=fields["title"],
                now=self.clock.now(),
                stage_id=fields.get("stage_id"),
                actor=actor.user_id,
                **{name: fields[name] for name in LEAD_DETAILS if name in fields},
            )
            uow.leads.save(lead)
            uow.commit()
            return lead.id

    def update_lead(self, actor: Actor, lead_id: LeadId, fields: Mapping[str, Any]) -> None:
        with self.uow() as uow:
            lead = uow.leads.get(actor.company_id, lead_id)
            _edit(uow, actor, lead, fields, (*LEAD_DETAILS, "title"), self.clock.now())
            uow.leads.save(lead)
            uow.commit()

    def delete_lead(self, actor: Actor, lead_id: LeadId) -> None:
        with self.uow() as uow:
            uow.leads.delete(uow.leads.get(actor.company_id, lead_id))
            uow.commit()

    def move_lead(self, actor: Actor, lead_id: LeadId, stage_id: StageId) -> None:
        with self.uow() as uow:
            lead = uow.leads.get(actor.company_id, lead_id)
            funnel = uow.funnels.get(actor.company_id, lead.funnel_id)
            stage = _stage_of(funnel, stage_id)
            now = self.clock.now()
            previous = lead.move_to(stage, now, actor.user_id)
            if previous is None:
                return
            _record_stage_change(uow, actor, funnel, previous, lead, now)
            uow.leads.save(lead)
            uow.commit()

    def convert_lead(
        self,
        actor: Actor,
        lead_id: LeadId,
        *,
        title: str | None = None,
        amount: Money | None = None,
        stage_id: StageId | None = None,
    ) -> DealId:
        with self.uow() as uow:
            lead = uow.leads.get(actor.company_id, lead_id)
            funnel = uow.funnels.get(actor.company_id, lead.funnel_id)
            deal = lead.convert_to_deal(
                self.clock.now(),
                funnel=funnel,
                actor=actor.user_id,
                title=title,
                amount=amount,
                stage_id=stage_id,
            )
            uow.leads.save(lead)
            uow.deals.save(deal)
            _settle_contact(uow, deal)
            uow.commit()
            return deal.id

    def mark_lead_lost(self, actor: Actor, lead_id: LeadId, reason: str) -> None:
        with self.uow() as uow:
            lead = uow.leads.get(actor.company_id, lead_id)
            lead.mark_lost(reason, self.clock.now())
            uow.leads.save(lead)
            uow.commit()


class DealUseCases(UseCases):
    def create_deal(self, actor: Actor, fields: Mapping[str, Any]) -> DealId:
        """A deal; one that names a lead is that lead's conversion, and the lead closes."""
        with self.uow() as uow:
            company, now = actor.company_id, self.clock.now()
            contact_id: ContactId = fields["contact_id"]
            referenced("contact", lambda: uow.contacts.get(company, contact_id))
            funnel = referenced("funnel", lambda: uow.funnels.get(company, fields["funnel_id"]))
            _check_owner(uow, actor, fields)
            details = {name: fields[name] for name in DEAL_DETAILS if name in fields}
            if fields.get("lead_id") is not None:
                lead = referenced("lead", lambda: uow.leads.get(company, fields["lead_id"]))
                deal = self._deal_from_lead(lead, funnel, contact_id, fields, now, actor)
                deal.change_details(**details)
                uow.leads.save(lead)
            else:
                deal = Deal.open(
                    company_id=company,
                    contact_id=contact_id,
                    funnel=funnel,
                    title=fields["title"],
                    now=now,
                    stage_id=fields.get("stage_id"),
                    actor=actor.user_id,
                    **details,
                )
            uow.deals.save(deal)
            _settle_contact(uow, deal)
            uow.commit()
            return deal.id

    @staticmethod
    def _deal_from_lead(
        lead: Lead,
        funnel: Funnel,
        contact_id: ContactId,
        fields: Mapping[str, Any],
        now: datetime,
        actor: Actor,
    ) -> Deal:
        lead.check_named_by_deal(contact_id, funnel.id)
        return lead.convert_to_deal(
            now,
            funnel=funnel,
            actor=actor.user_id,
            title=fields["title"],
            amount=fields.get("amount"),
            stage_id=fields.get("stage_id"),
        )

    def update_deal(self, actor: Actor, deal_id: DealId, fields: Mapping[str, Any]) -> None:
        with self.uow() as uow:
            deal = uow.deals.get(actor.company_id, deal_id)
            if _edit(uow, actor, deal, fields, (*DEAL_DETAILS, "title"), self.clock.now()):
                _settle_contact(uow, deal)
            uow.deals.save(deal)
            uow.commit()

    def delete_deal(self, actor: Actor, deal_id: DealId) -> None:
        with self.uow() as uow:
            uow.deals.delete(uow.deals.get(actor.company_id, deal_id))
            uow.commit()

    def move_deal(self, actor: Actor, deal_id: DealId, stage_id: StageId) -> None:
        with self.uow() as uow:
            deal = uow.deals.get(actor.company_id, deal_id)
            funnel = uow.funnels.get(actor.company_id, deal.funnel_id)
            stage = _stage_of(funnel, stage_id)
            now = self.clock.now()
            previous = deal.move_to(stage, now, actor.user_id)
            if previous is None:
                return
            _record_stage_change(uow, actor, funnel, previous, deal, now)
            _settle_contact(uow, deal)
            uow.deals.save(deal)
            uow.commit()

    def mark_won(self, actor: Actor, deal_id: DealId) -> None:
        with self.uow() as uow:
            deal = uow.deals.get(actor.company_id, deal_id)
            funnel = uow.funnels.get(actor.company_id, deal.funnel_id)
            now = self.clock.now()
            if not deal.mark_won(funnel, now, actor.user_id):
                return
            _record_note(uow, actor, deal, "Сделка выиграна", now)
            _settle_contact(uow, deal)
            uow.deals.save(deal)
            uow.commit()

    def mark_lost(self, actor: Actor, deal_id: DealId, reason: str) -> None:
        with self.uow() as uow:
            deal = uow.deals.get(actor.company_id, deal_id)
            funnel = uow.funnels.get(actor.company_id, deal.funnel_id)
            now = self.clock.now()
            if not deal.mark_lost(funnel, reason, now, actor.user_id):
                return
            # The reason may be long: it is the note's text, not its title.
            _record_note(uow, actor, deal, "Сделка проиграна", now, description=reason)
            uow.deals.save(deal)
            uow.commit()

    def reopen(self, actor: Actor, deal_id: DealId, stage_id: StageId) -> None:
        with self.uow() as uow:
            deal = uow.deals.get(actor.company_id, deal_id)
            funnel = uow.funnels.get(actor.company_id, deal.funnel_id)
            stage = _stage_of(funnel, stage_id)
            now = self.clock.now()
            deal.reopen(stage, now, actor.user_id)
            _record_note(uow, actor, deal, f"Сделка переоткрыта: {stage.name}", now)
            uow.deals.save(deal)
            uow.commit()
