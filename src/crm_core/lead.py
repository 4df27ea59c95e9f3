"""The Lead aggregate: an opportunity moving through a funnel until it is converted or lost."""

from __future__ import annotations

import enum
from datetime import datetime

import attrs

from crm_core.deal import Deal
from crm_core.errors import Conflict, ValidationFailed, checked_details
from crm_core.funnel import Funnel, Stage
from crm_core.history import StageTracked, StageTransition, Subject
from crm_core.values import (
    CompanyId,
    ContactId,
    DealId,
    FunnelId,
    LeadId,
    Money,
    Probability,
    StageId,
    UserId,
    as_money,
    as_probability,
    new_id,
    required_text,
)


class LeadStatus(enum.StrEnum):
    OPEN = "open"
    CONVERTED = "converted"
    LOST = "lost"


@attrs.define(slots=False, eq=False)
class Lead(StageTracked):
    company_id: CompanyId
    contact_id: ContactId
    funnel_id: FunnelId
    stage_id: StageId
    stage_changed_at: datetime
    title: str
    owner_id: UserId | None = None
    description: str = ""
    estimated_value: Money = attrs.field(factory=Money.zero)
    probability: Probability = attrs.field(factory=lambda: Probability(0))
    source: str = ""
    status: LeadStatus = LeadStatus.OPEN
    deal_id: DealId | None = None
    lost_reason: str = ""
    closed_at: datetime | None = None
    history: list[StageTransition] = attrs.field(factory=list)
    id: LeadId = attrs.field(factory=lambda: LeadId(new_id()))
    created_at: datetime | None = None
    updated_at: datetime | None = None
    version: int = 1

    subject = Subject.LEAD

    @classmethod
    def open(
        cls,
        *,
        company_id: CompanyId,
        contact_id: ContactId,
        funnel: Funnel,
        title: str,
        now: datetime,
        stage_id: StageId | None = None,
        actor: UserId | None = None,
        **details: object,
    ) -> Lead:
        """A new open lead in `stage_id`, or in the funnel's first stage."""
        stage = funnel.entry_stage(stage_id)
        lead = cls(
            company_id=company_id,
            contact_id=contact_id,
            funnel_id=funnel.id,
            stage_id=stage.id,
            stage_changed_at=now,
            title=title,
            owner_id=actor,
            created_at=now,
            updated_at=now,
        )
        lead.change_details(title=title, **details)
        lead._enter_first_stage(stage, now, actor)
        return lead

    def change_details(self, **details: object) -> None:
        """Plain fields that no rule guards: title, description, value, probability, ...

        Values are checked (and typed) first; nothing changes when one is refused.
        """
        allowed = {"title", "description", "estimated_value", "probability", "source", "owner_id"}
        unknown = set(details) - allowed
        if unknown:
            raise ValueError(f"not a plain lead field: {sorted(unknown)}")
        values = checked_details(
            details,
            {"title": required_text, "estimated_value": as_money, "probability": as_probability},
        )
        for name, value in values.items():
            setattr(self, name, value)

    @property
    def is_open(self) -> bool:
        return self.status == LeadStatus.OPEN

    def _ensure_open(self, action: str) -> None:
        if self.status == LeadStatus.CONVERTED:
            raise Conflict(f"A converted lead cannot be {action}.")
        if self.status == LeadStatus.LOST:
            raise Conflict(f"A lost lead cannot be {action}.")

    def move_to(self, stage: Stage, now: datetime, actor: UserId | None = None) -> StageId | None:
        """Moves the lead within its funnel; returns the stage left, or None when already there."""
        if stage.funnel_id != self.funnel_id:
            raise ValidationFailed.on("stage_id", "This stage belongs to another funnel.")
        self._ensure_open("moved")
        if stage.id == self.stage_id:
            return None
        previous = self._change_stage(stage, now, actor)
        self.updated_at = now
        return previous

    def transfer_to(
        self, funnel: Funnel, stage_id: StageId | None, now: datetime, actor: UserId | None = None
    ) -> StageId | None:
        """Moves the lead into another funnel (its first stage unless one is named).

        Within its own funnel this is `move_to` (no stage named: nothing changes).
        Returns the stage left, or None when nothing moved.
        """
        if funnel.id == self.funnel_id:
            return self.move_to(funnel.entry_stage(stage_id), now, actor) if stage_id else None
        stage = funnel.entry_stage(stage_id)
        self._ensure_open("moved")
        previous = self._change_stage(stage, now, actor)
        self.funnel_id = funnel.id
        self.updated_at = now
        return previous

    def check_named_by_deal(self, contact_id: ContactId, funnel_id: FunnelId) -> None:
        """A deal created naming this lead must agree with it, and the lead must be open."""
        if self.contact_id != contact_id:
            raise ValidationFailed.on("lead", "This lead belongs to another contact.")
        if self.funnel_id != funnel_id:
            raise ValidationFailed.on("lead", "This lead is in another funnel.")
        if not self.is_open:
            raise ValidationFailed.on("lead", f"This lead is {self.status}, not open.")

    def convert_to_deal(
        self,
        now: datetime,
        *,
        funnel: Funnel,
        actor: UserId | None = None,
        title: str | None = None,
        amount: Money | None = None,
        stage_id: StageId | None = None,
        expected_close_date: object = None,
    ) -> Deal:
        """The deal this lead becomes; the lead is then `converted` and never moves again."""
        if self.status == LeadStatus.CONVERTED:
            raise Conflict("The lead has already been converted to a deal.")
        if self.status == LeadStatus.LOST:
            raise Conflict("A lost lead cannot be converted to a deal.")
        if funnel.id != self.funnel_id:
            raise ValueError("convert_to_deal needs the lead's own funnel")
        deal = Deal.open(
            company_id=self.company_id,
            contact_id=self.contact_id,
            funnel=funnel,
            stage_id=stage_id or self.stage_id,
            stage_field="stage_id",
            title=title or self.title,
            now=now,
            actor=actor,
            lead_id=self.id,
            owner_id=self.owner_id,
            description=self.description,
            amount=self.estimated_value if amount is None else amount,
            probability=self.probability,
            expected_close_date=expected_close_date,
        )
        self.status = LeadStatus.CONVERTED
        self.deal_id = deal.id
        self.closed_at = now
        self.updated_at = now
        return deal

    def mark_lost(self, reason: str, now: datetime) -> None:
        if self.status == LeadStatus.CONVERTED:
            raise Conflict("A converted lead cannot be marked lost.")
        if self.status == LeadStatus.LOST:
            return
        self.status = LeadStatus.LOST
        self.lost_reason = reason
        self.closed_at = now
        self.updated_at = now
