"""The Deal aggregate: won exactly in a success stage or when marked won, and likewise for lost."""

from __future__ import annotations

from datetime import date, datetime

import attrs

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

MAX_LOST_REASON = 1000


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
        **details: object,
    ) -> Deal:
        """A new deal; one created straight into a final stage is born won or lost."""
        stage = funnel.entry_stage(stage_id, stage_field)
        deal = cls(
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
        deal.change_details(title=title, **details)
        deal._enter_first_stage(stage, now, actor)
        deal._settle_by_stage(stage, now)
        return deal

    def change_details(self, **details: object) -> None:
        """Plain fields that no rule guards; nothing changes when one is refused."""
        allowed = {
            "title",
            "description",
            "amount",
            "probability",
            "expected_close_date",
            "owner_id",
            "lead_id",
        }
        unknown = set(details) - allowed
        if unknown:
            raise ValueError(f"not a plain deal field: {sorted(unknown)}")
        values = checked_details(
            details, {"title": required_text, "amount": as_money, "probability": as_probability}
        )
        for name, value in values.items():
            setattr(self, name, value)

    @property
    def is_closed(self) -> bool:
        return self.is_won or self.is_lost

    def move_to(self, stage: Stage, now: datetime, actor: UserId | None = None) -> StageId | None:
        """Moves the deal; a final stage wins or loses it. Returns the stage left, or None."""
        if stage.funnel_id != self.funnel_id:
            raise ValidationFailed.on("stage_id", "This stage belongs to another funnel.")
        self._ensure_open()
        if stage.id == self.stage_id:
            return None
        previous = self._change_stage(stage, now, actor)
        self._settle_by_stage(stage, now)
        self.updated_at = now
        return previous

    def transfer_to(
        self, funnel: Funnel, stage_id: StageId | None, now: datetime, actor: UserId | None = None
    ) -> StageId | None:
        """Moves the deal into another funnel (its first stage unless one is named).

        Within its own funnel this is `move_to` (no stage named: nothing changes); into a
        final stage it wins or loses the deal. Returns the stage left, or None.
        """
        if funnel.id == self.funnel_id:
            return self.move_to(funnel.entry_stage(stage_id), now, actor) if stage_id else None
        stage = funnel.entry_stage(stage_id)
        self._ensure_open()
        previous = self._change_stage(stage, now, actor)
        self.funnel_id = funnel.id
        self._settle_by_stage(stage, now)
        self.updated_at = now
        return previous

    def _ensure_open(self) -> None:
        if self.is_closed:
            raise Conflict("A closed deal cannot be moved: reopen it first.")

    def mark_won(self, funnel: Funnel, now: datetime, actor: UserId | None = None) -> bool:
        """Wins the deal and moves it to the success stage; False when it was already won."""
        if self.is_lost:
            raise Conflict("A lost deal cannot be marked won: reopen it first.")
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
        if len(reason) > MAX_LOST_REASON:
            raise ValidationFailed.on(
                "reason", f"Ensure this field has no more than {MAX_LOST_REASON} characters."
            )
        if self.is_won:
            raise Conflict("A won deal cannot be marked lost: reopen it first.")
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
            raise Conflict("Only a won or lost deal can be reopened.")
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

    def _settle_by_stage(self, stage: Stage, now: datetime) -> None:
        if stage.is_final:
            self._close(now, won=stage.is_success)

    def _close(self, now: datetime, *, won: bool, reason: str = "") -> None:
        self.is_won, self.is_lost = won, not won
        self.lost_reason = "" if won else reason
        self.closed_at = now
        self.updated_at = now
