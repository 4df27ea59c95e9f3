"""The Deal aggregate: won exactly in a success stage or when marked won, and likewise for lost."""

from __future__ import annotations

from datetime import date, datetime

import attrs

from crm_core.commands import UNSET, Maybe
from crm_core.errors import Conflict, FieldErrors, InvalidValue, Rule, ValidationFailed
from crm_core.funnel import Funnel, Stage
from crm_core.history import StageTracked, StageTransition, Subject
from crm_core.values import (
    REASON_LENGTH,
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


@attrs.define(slots=False, eq=False)
class Deal(StageTracked):
    company_id: CompanyId
    contact_id: ContactId
    funnel_id: FunnelId
    stage_id: StageId
    stage_changed_at: datetime
    title: str
    lead_id: LeadId | None = None
    owner_id: UserId | None = None
    description: str = ""
    amount: Money = attrs.field(factory=Money.zero)
    probability: Probability = attrs.field(factory=lambda: Probability(0))
    expected_close_date: date | None = None
    is_won: bool = False
    is_lost: bool = False
    lost_reason: str = ""
    closed_at: datetime | None = None
    history: list[StageTransition] = attrs.field(factory=list)
    id: DealId = attrs.field(factory=lambda: DealId(new_id()))
    created_at: datetime | None = None
    updated_at: datetime | None = None
    version: int = 1

    subject = Subject.DEAL

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
        stage_field: str = "stage",
        actor: UserId | None = None,
        lead_id: LeadId | None = None,
        owner_id: Maybe[UserId | None] = UNSET,
        description: Maybe[str] = UNSET,
        amount: Maybe[Money | str | int] = UNSET,
        probability: Maybe[Probability | int] = UNSET,
        expected_close_date: Maybe[date | None] = UNSET,
    ) -> Deal:
        """A new deal; one created straight into a final stage is born won or lost."""
        stage = funnel.entry_stage(stage_id, stage_field)
        deal = cls(
            company_id=company_id,
            contact_id=contact_id,
            funnel_id=funnel.id,
            stage_id=stage.id,
            stage_changed_at=now,
            title="",
            lead_id=lead_id,
            owner_id=actor,
            created_at=now,
            updated_at=now,
        )
        deal.change_details(
            now,
            title=title,
            owner_id=owner_id,
            description=description,
            amount=amount,
            probability=probability,
            expected_close_date=expected_close_date,
        )
        deal._enter_first_stage(stage, now, actor)
        deal._settle_in(stage, now)
        return deal

    def change_details(
        self,
        now: datetime,
        *,
        title: Maybe[str] = UNSET,
        owner_id: Maybe[UserId | None] = UNSET,
        description: Maybe[str] = UNSET,
        amount: Maybe[Money | str | int] = UNSET,
        probability: Maybe[Probability | int] = UNSET,
        expected_close_date: Maybe[date | None] = UNSET,
    ) -> None:
        """The fields no stage rule guards; every value is checked before anything changes."""
        errors = FieldErrors()
        apply_shared = self._check_shared_details(errors, title, owner_id, description, probability)
        with errors.field("amount"):
            amount = amount if amount is UNSET else as_money(amount)
        errors.raise_if_any()
        apply_shared()
        if amount is not UNSET:
            self.amount = amount
        if expected_close_date is not UNSET:
            self.expected_close_date = expected_close_date
        self.updated_at = now

    def change_contact(self, contact_id: ContactId, now: datetime) -> None:
        """Another person for the deal; while it has a lead, its contact is the lead's."""
        if contact_id == self.contact_id:
            return
        if self.lead_id is not None:
            raise ValidationFailed.on(
                "contact", "A deal made from a lead keeps the lead's contact."
            )
        self.contact_id = contact_id
        self.updated_at = now

    @property
    def is_closed(self) -> bool:
        return self.is_won or self.is_lost

    # --- what a move means for a deal (the movement itself is StageTracked's) ---------------

    def _ensure_movable(self) -> None:
        if self.is_closed:
            rule = Rule.DEAL_WON if self.is_won else Rule.DEAL_LOST
            raise Conflict("A closed deal cannot be moved: reopen it first.", rule)

    def _settle_in(self, stage: Stage, now: datetime) -> None:
        if stage.is_final:
            self._close(now, won=stage.is_success)

    def mark_won(self, funnel: Funnel, now: datetime, actor: UserId | None = None) -> bool:
        """Wins the deal and moves it to the success stage; False when it was already won."""
        if self.is_lost:
            raise Conflict("A lost deal cannot be marked won: reopen it first.", Rule.DEAL_LOST)
        if self.is_won:
            return False
        target = funnel.success_stage
        if target is not None and target.id != self.stage_id:
            self._change_stage(target, now, actor)
        self._close(now, won=True)
        return True

    def mark_lost(
        self, funnel: Funnel, reason: str, now: datetime, actor: UserId | None = None
    ) -> bool:
        """Loses the deal and moves it to the failure stage; False when it was already lost."""
        try:
            reason = bounded_text(reason, REASON_LENGTH)
        except InvalidValue as error:
            raise ValidationFailed.on("reason", error.detail) from None
        if self.is_won:
            raise Conflict("A won deal cannot be marked lost: reopen it first.", Rule.DEAL_WON)
        if self.is_lost:
            return False
        target = funnel.failure_stage
        if target is not None and target.id != self.stage_id:
            self._change_stage(target, now, actor)
        self._close(now, won=False, reason=reason)
        return True

    def reopen(self, stage: Stage, now: datetime, actor: UserId | None = None) -> None:
        """Brings a closed deal back into an open (non-final) stage of its funnel."""
        if not self.is_closed:
            raise Conflict("Only a won or lost deal can be reopened.", Rule.DEAL_OPEN)
        if stage.funnel_id != self.funnel_id:
            raise ValidationFailed.on("stage_id", "This stage belongs to another funnel.")
        if stage.is_final:
            raise ValidationFailed.on("stage_id", "A deal can only be reopened into an open stage.")
        if stage.id != self.stage_id:
            self._change_stage(stage, now, actor)
        self.is_won = self.is_lost = False
        self.lost_reason = ""
        self.closed_at = None
        self.updated_at = now

    def _close(self, now: datetime, *, won: bool, reason: str = "") -> None:
        self.is_won, self.is_lost = won, not won
        self.lost_reason = "" if won else reason
        self.closed_at = now
        self.updated_at = now
