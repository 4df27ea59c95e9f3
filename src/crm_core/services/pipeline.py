"""Leads and deals moving through funnels: create, edit, move, convert, win, lose, reopen."""

from __future__ import annotations

from datetime import date, datetime

import attrs

from crm_core.activity import Activity, ActivityType, Links
from crm_core.commands import UNSET, Maybe
from crm_core.deal import Deal
from crm_core.errors import ValidationFailed
from crm_core.funnel import Funnel, Stage
from crm_core.lead import Lead
from crm_core.ports import UnitOfWork
from crm_core.services.base import UseCases, check_owner, referenced, require
from crm_core.tenancy import Actor
from crm_core.values import (
    ContactId,
    DealId,
    FunnelId,
    LeadId,
    Money,
    Probability,
    StageId,
    UserId,
)


@attrs.frozen(kw_only=True)
class ChangeLead:
    """A PATCH names some fields; a PUT all of them (the edge fills in the defaults)."""

    contact_id: Maybe[ContactId] = UNSET
    funnel_id: Maybe[FunnelId] = UNSET
    stage_id: Maybe[StageId | None] = UNSET
    title: Maybe[str] = UNSET
    owner_id: Maybe[UserId | None] = UNSET
    description: Maybe[str] = UNSET
    estimated_value: Maybe[Money] = UNSET
    probability: Maybe[Probability] = UNSET
    source: Maybe[str] = UNSET


@attrs.frozen(kw_only=True)
class CreateLead(ChangeLead):
    """A new lead: contact, funnel and title are required; the rest as `ChangeLead`, an
    unset owner being the caller."""

    contact_id: ContactId
    funnel_id: FunnelId
    title: str
    stage_id: StageId | None = None  # the funnel's first stage


@attrs.frozen(kw_only=True)
class ChangeDeal:
    contact_id: Maybe[ContactId] = UNSET
    funnel_id: Maybe[FunnelId] = UNSET
    stage_id: Maybe[StageId | None] = UNSET
    title: Maybe[str] = UNSET
    owner_id: Maybe[UserId | None] = UNSET
    description: Maybe[str] = UNSET
    amount: Maybe[Money] = UNSET
    probability: Maybe[Probability] = UNSET
    expected_close_date: Maybe[date | None] = UNSET


@attrs.frozen(kw_only=True)
class CreateDeal(ChangeDeal):
    """A new deal; one naming a lead is that lead's conversion."""

    contact_id: ContactId
    funnel_id: FunnelId
    title: str
    stage_id: StageId | None = None
    lead_id: LeadId | None = None


@attrs.frozen(kw_only=True)
class ConvertLead:
    title: str | None = None  # the lead's
    amount: Money | None = None  # the lead's estimated value
    stage_id: StageId | None = None  # the lead's stage


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
    activity = Activity.system(
        company_id=actor.company_id,
        activity_type=ActivityType.STAGE_CHANGE,
        title=f"Смена стадии: {source} → {target}",
        description=f"{source} → {target}",
        links=_links(subject),
        now=now,
        user_id=actor.user_id,
    )
    uow.activities.save(activity)


def _links(subject: Lead | Deal) -> Links:
    if isinstance(subject, Lead):
        return Links(lead_id=subject.id, lead_contact_id=subject.contact_id)
    return Links(deal_id=subject.id, deal_contact_id=subject.contact_id)


def _record_note(
    uow: UnitOfWork,
    actor: Actor,
    subject: Lead | Deal,
    title: str,
    now: datetime,
    description: str = "",
) -> None:
    uow.activities.save(
        Activity.system(
            company_id=actor.company_id,
            activity_type=ActivityType.NOTE,
            title=title,
            description=description,
            links=_links(subject),
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


def _relocate(
    uow: UnitOfWork,
    actor: Actor,
    subject: Lead | Deal,
    funnel_id: Maybe[FunnelId],
    stage_id: Maybe[StageId | None],
    now: datetime,
) -> bool:
    """A PUT or PATCH that names a funnel or stage: a move, recorded like `move_to_stage`.
    Returns whether it moved."""
    company = actor.company_id
    target_funnel = subject.funnel_id if funnel_id is UNSET else funnel_id
    target_stage = None if stage_id is UNSET else stage_id
    if target_funnel == subject.funnel_id and target_stage in (None, subject.stage_id):
        return False
    funnel = referenced("funnel", lambda: uow.funnels.read(company, target_funnel))
    left = (
        funnel
        if target_funnel == subject.funnel_id
        else uow.funnels.read(company, subject.funnel_id)
    )
    previous = subject.relocate(funnel, target_stage, now, actor.user_id)
    _record_stage_change(uow, actor, funnel, previous, subject, now, left)
    return previous is not None


def _change_contact(
    uow: UnitOfWork, actor: Actor, subject: Lead | Deal, contact_id: Maybe[ContactId], now: datetime
) -> None:
    if contact_id is UNSET:
        return
    require("contact", uow.contacts.exists(actor.company_id, contact_id))
    subject.change_contact(contact_id, now)


class LeadUseCases(UseCases):
    def create_lead(self, actor: Actor, command: CreateLead) -> LeadId:
        with self.uow() as uow:
            company = actor.company_id
            require("contact", uow.contacts.exists(company, command.contact_id))
            funnel = referenced("funnel", lambda: uow.funnels.read(company, command.funnel_id))
            check_owner(uow, actor, command.owner_id)
            lead = Lead.open(
                company_id=company,
                contact_id=command.contact_id,
                funnel=funnel,
                title=command.title,
                now=self.clock.now(),
                stage_id=command.stage_id,
                actor=actor.user_id,
                owner_id=command.owner_id,
                description=command.description,
                estimated_value=command.estimated_value,
                probability=command.probability,
                source=command.source,
            )
            uow.leads.save(lead)
            uow.commit()
            return lead.id

    def update_lead(self, actor: Actor, lead_id: LeadId, command: ChangeLead) -> None:
        with self.uow() as uow:
            lead = uow.leads.get(actor.company_id, lead_id)
            now = self.clock.now()
            check_owner(uow, actor, command.owner_id)
            lead.change_details(
                now,
                title=command.title,
                owner_id=command.owner_id,
                description=command.description,
                estimated_value=command.estimated_value,
                probability=command.probability,
                source=command.source,
            )
            _change_contact(uow, actor, lead, command.contact_id, now)
            _relocate(uow, actor, lead, command.funnel_id, command.stage_id, now)
            uow.leads.save(lead)
            uow.commit()

    def delete_lead(self, actor: Actor, lead_id: LeadId) -> None:
        with self.uow() as uow:
            uow.leads.delete(uow.leads.get(actor.company_id, lead_id))
            uow.commit()

    def move_lead(self, actor: Actor, lead_id: LeadId, stage_id: StageId) -> None:
        """Moves an open lead; a final non-success stage loses it (a success stage is 409)."""
        with self.uow() as uow:
            lead = uow.leads.get(actor.company_id, lead_id)
            funnel = uow.funnels.read(actor.company_id, lead.funnel_id)
            stage = _stage_of(funnel, stage_id)
            now = self.clock.now()
            previous = lead.move_to(stage, now, actor.user_id)
            if previous is None:
                return
            _record_stage_change(uow, actor, funnel, previous, lead, now)
            uow.leads.save(lead)
            uow.commit()

    def convert_lead(
        self, actor: Actor, lead_id: LeadId, command: ConvertLead | None = None
    ) -> DealId:
        command = command or ConvertLead()
        with self.uow() as uow:
            lead = uow.leads.get(actor.company_id, lead_id)
            funnel = uow.funnels.read(actor.company_id, lead.funnel_id)
            deal = lead.convert_to_deal(
                self.clock.now(),
                funnel=funnel,
                actor=actor.user_id,
                title=command.title,
                amount=command.amount,
                stage_id=command.stage_id,
            )
            uow.leads.save(lead)
            uow.deals.save(deal)
            _settle_contact(uow, deal)
            uow.commit()
            return deal.id

    def mark_lead_lost(self, actor: Actor, lead_id: LeadId, reason: str = "") -> None:
        """Loses the lead and moves it to the funnel's failure stage (a recorded move)."""
        with self.uow() as uow:
            lead = uow.leads.get(actor.company_id, lead_id)
            funnel = uow.funnels.read(actor.company_id, lead.funnel_id)
            now = self.clock.now()
            previous = lead.mark_lost(funnel, reason, now, actor.user_id)
            _record_stage_change(uow, actor, funnel, previous, lead, now)
            uow.leads.save(lead)
            uow.commit()

    def reopen_lead(self, actor: Actor, lead_id: LeadId, stage_id: StageId) -> None:
        """A lost lead back into an open stage (the board's undo of «Провалено»)."""
        with self.uow() as uow:
            lead = uow.leads.get(actor.company_id, lead_id)
            funnel = uow.funnels.read(actor.company_id, lead.funnel_id)
            stage = _stage_of(funnel, stage_id)
            now = self.clock.now()
            lead.reopen(stage, now, actor.user_id)
            _record_note(uow, actor, lead, f"Лид переоткрыт: {stage.name}", now)
            uow.leads.save(lead)
            uow.commit()


class DealUseCases(UseCases):
    def create_deal(self, actor: Actor, command: CreateDeal) -> DealId:
        """A deal; one that names a lead is that lead's conversion, and the lead closes."""
        with self.uow() as uow:
            company, now = actor.company_id, self.clock.now()
            require("contact", uow.contacts.exists(company, command.contact_id))
            funnel = referenced("funnel", lambda: uow.funnels.read(company, command.funnel_id))
            check_owner(uow, actor, command.owner_id)
            lead_id = command.lead_id
            if lead_id is not None:
                lead = referenced("lead", lambda: uow.leads.get(company, lead_id))
                lead.check_named_by_deal(command.contact_id, funnel.id)
                deal = lead.convert_to_deal(
                    now,
                    funnel=funnel,
                    actor=actor.user_id,
                    title=command.title,
                    amount=None,  # the command's amount, if any, is set below
                    stage_id=command.stage_id,
                    stage_field="stage",
                )
                uow.leads.save(lead)
            else:
                deal = Deal.open(
                    company_id=company,
                    contact_id=command.contact_id,
                    funnel=funnel,
                    title=command.title,
                    now=now,
                    stage_id=command.stage_id,
                    actor=actor.user_id,
                )
            deal.change_details(
                now,
                owner_id=command.owner_id,
                description=command.description,
                amount=command.amount,
                probability=command.probability,
                expected_close_date=command.expected_close_date,
            )
            uow.deals.save(deal)
            _settle_contact(uow, deal)
            uow.commit()
            return deal.id

    def update_deal(self, actor: Actor, deal_id: DealId, command: ChangeDeal) -> None:
        with self.uow() as uow:
            deal = uow.deals.get(actor.company_id, deal_id)
            now = self.clock.now()
            check_owner(uow, actor, command.owner_id)
            deal.change_details(
                now,
                title=command.title,
                owner_id=command.owner_id,
                description=command.description,
                amount=command.amount,
                probability=command.probability,
                expected_close_date=command.expected_close_date,
            )
            _change_contact(uow, actor, deal, command.contact_id, now)
            if _relocate(uow, actor, deal, command.funnel_id, command.stage_id, now):
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
            funnel = uow.funnels.read(actor.company_id, deal.funnel_id)
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
            funnel = uow.funnels.read(actor.company_id, deal.funnel_id)
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
            funnel = uow.funnels.read(actor.company_id, deal.funnel_id)
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
            funnel = uow.funnels.read(actor.company_id, deal.funnel_id)
            stage = _stage_of(funnel, stage_id)
            now = self.clock.now()
            deal.reopen(stage, now, actor.user_id)
            _record_note(uow, actor, deal, f"Сделка переоткрыта: {stage.name}", now)
            uow.deals.save(deal)
            uow.commit()
