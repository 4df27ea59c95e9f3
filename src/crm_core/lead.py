"""The Lead aggregate: an opportunity moving through a funnel until it is converted or lost."""

from __future__ import annotations

import enum
from datetime import date, datetime

import attrs

from crm_core.commands import UNSET, Maybe
from crm_core.deal import Deal
from crm_core.errors import Conflict, FieldErrors, InvalidValue, Rule, ValidationFailed
from crm_core.funnel import Funnel, Stage
from crm_core.history import StageTracked, StageTransition, Subject
from crm_core.values import (
    REASON_LENGTH,
    SHORT_LENGTH,
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
    bounded_text,
    new_id,
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
        owner_id: Maybe[UserId | None] = UNSET,
        description: Maybe[str] = UNSET,
        estimated_value: Maybe[Money | str | int] = UNSET,
        probability: Maybe[Probability | int] = UNSET,
        source: Maybe[str] = UNSET,
    ) -> Lead:
        """A new open lead in `stage_id` (not a final one), or in the funnel's first stage;
        owned by `actor` unless an owner is named."""
        stage = funnel.entry_stage(stage_id)
        lead = cls(
            company_id=company_id,
            contact_id=contact_id,
            funnel_id=funnel.id,
            stage_id=stage.id,
            stage_changed_at=now,
            title="",
            owner_id=actor,
            created_at=now,
            updated_at=now,
        )
        lead.change_details(
            now,
            title=title,
            owner_id=owner_id,
            description=description,
            estimated_value=estimated_value,
            probability=probability,
            source=source,
        )
        lead._check_placement(stage)
        lead._enter_first_stage(stage, now, actor)
        return lead

    def change_details(
        self,
        now: datetime,
        *,
        title: Maybe[str] = UNSET,
        owner_id: Maybe[UserId | None] = UNSET,
        description: Maybe[str] = UNSET,
        estimated_value: Maybe[Money | str | int] = UNSET,
        probability: Maybe[Probability | int] = UNSET,
        source: Maybe[str] = UNSET,
    ) -> None:
        """The fields no stage rule guards: they may change whatever the lead's status.

        Every value is checked first; nothing changes when one is refused.
        """
        errors = FieldErrors()
        apply_shared = self._check_shared_details(errors, title, owner_id, description, probability)
        with errors.field("estimated_value"):
            estimated_value = (
                estimated_value if estimated_value is UNSET else as_money(estimated_value)
            )
        with errors.field("source"):
            source = source if source is UNSET else bounded_text(source, SHORT_LENGTH)
        errors.raise_if_any()
        apply_shared()
        if estimated_value is not UNSET:
            self.estimated_value = estimated_value
        if source is not UNSET:
            self.source = source
        self.updated_at = now

    def change_contact(self, contact_id: ContactId, now: datetime) -> None:
        """Another person for an open lead; a converted or lost one keeps its history."""
        if contact_id == self.contact_id:
            return
        self._ensure_open("given another contact")
        self.contact_id = contact_id
        self.updated_at = now

    @property
    def is_open(self) -> bool:
        return self.status == LeadStatus.OPEN

    def _ensure_open(self, action: str) -> None:
        if self.status == LeadStatus.CONVERTED:
            raise Conflict(f"A converted lead cannot be {action}.", Rule.LEAD_CONVERTED)
        if self.status == LeadStatus.LOST:
            raise Conflict(f"A lost lead cannot be {action}.", Rule.LEAD_LOST)

    # --- what a move means for a lead (the movement itself is StageTracked's) ---------------

    def _ensure_movable(self) -> None:
        self._ensure_open("moved")

    def _check_entry(self, stage: Stage) -> None:
        if stage.is_final and stage.is_success:
            raise Conflict(
                "A lead cannot be moved into a success stage: convert it to a deal instead.",
                Rule.LEAD_INTO_SUCCESS,
            )

    def _check_placement(self, stage: Stage) -> None:
        if stage.is_final:
            raise ValidationFailed.on(
                "stage",
                "An open lead stands in a non-final stage: use mark_lost or convert_to_deal.",
            )

    def _settle_in(self, stage: Stage, now: datetime) -> None:
        if stage.is_failure:
            self._close_lost("", now)

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
        stage_field: str = "stage_id",
        expected_close_date: date | None = None,
    ) -> Deal:
        """The deal this lead becomes; the lead is then `converted` and never moves again.
        A `stage_id` outside the funnel is an error on `stage_field`, the name the caller's
        body gave it (`stage_id` of convert_to_deal, `stage` of a new deal)."""
        if self.status == LeadStatus.CONVERTED:
            raise Conflict("The lead has already been converted to a deal.", Rule.LEAD_CONVERTED)
        if self.status == LeadStatus.LOST:
            raise Conflict("A lost lead cannot be converted to a deal.", Rule.LEAD_LOST)
        if funnel.id != self.funnel_id:
            raise ValueError("convert_to_deal needs the lead's own funnel")
        deal = Deal.open(
            company_id=self.company_id,
            contact_id=self.contact_id,
            funnel=funnel,
            stage_id=stage_id or self.stage_id,
            stage_field=stage_field,
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

    def mark_lost(
        self, funnel: Funnel, reason: str, now: datetime, actor: UserId | None = None
    ) -> StageId | None:
        """Loses the lead and moves it to the funnel's failure stage, if it has one.

        Returns the stage left by that move (None when it did not move). Marking a lost lead
        lost again changes nothing.
        """
        try:
            reason = bounded_text(reason, REASON_LENGTH)
        except InvalidValue as error:
            raise ValidationFailed.on("reason", error.detail) from None
        if self.status == LeadStatus.CONVERTED:
            raise Conflict("A converted lead cannot be marked lost.", Rule.LEAD_CONVERTED)
        if self.status == LeadStatus.LOST:
            return None
        self._close_lost(reason, now)
        target = funnel.failure_stage
        if target is None or target.id == self.stage_id:
            return None
        return self._change_stage(target, now, actor)

    def reopen(self, stage: Stage, now: datetime, actor: UserId | None = None) -> None:
        """Brings a lost lead back into an open (non-final) stage of its funnel; a converted
        lead stays converted (its deal goes on instead)."""
        if self.status == LeadStatus.CONVERTED:
            raise Conflict(
                "A converted lead cannot be reopened: its deal goes on instead.",
                Rule.LEAD_CONVERTED,
            )
        if self.status == LeadStatus.OPEN:
            raise Conflict("Only a lost lead can be reopened.", Rule.LEAD_OPEN)
        if stage.funnel_id != self.funnel_id:
            raise ValidationFailed.on("stage_id", "This stage belongs to another funnel.")
        if stage.is_final:
            raise ValidationFailed.on("stage_id", "A lead can only be reopened into an open stage.")
        if stage.id != self.stage_id:
            self._change_stage(stage, now, actor)
        self.status = LeadStatus.OPEN
        self.lost_reason = ""
        self.closed_at = None
        self.updated_at = now

    def _close_lost(self, reason: str, now: datetime) -> None:
        self.status = LeadStatus.LOST
        self.lost_reason = reason
        self.closed_at = now
        self.updated_at = now
