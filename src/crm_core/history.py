"""Stage history: every stay of a lead or deal in a stage, kept as a transition."""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import datetime

import attrs

from crm_core.commands import UNSET, Maybe
from crm_core.errors import FieldErrors, ValidationFailed
from crm_core.funnel import Funnel, Stage
from crm_core.values import (
    FunnelId,
    Probability,
    StageId,
    UserId,
    as_probability,
    bounded_text,
    new_id,
    required_text,
)


class Subject(enum.StrEnum):
    LEAD = "lead"
    DEAL = "deal"


@attrs.define(slots=False, eq=False)
class StageTransition:
    """A move into `to_stage_id`; `left_at` is set when the stay there ends."""

    subject: Subject
    subject_id: object
    from_stage_id: StageId | None
    to_stage_id: StageId
    entered_at: datetime
    seq: int = 0
    actor_id: UserId | None = None
    left_at: datetime | None = None
    id: object = attrs.field(factory=new_id)


class StageTracked:
    """Stage movement, written once for Lead and Deal: the current stage and its history.

    The host class declares `id`, `funnel_id`, `stage_id`, `stage_changed_at`, `updated_at`
    and `history`, and says what its kind does around a move: whether it may move at all
    (`_ensure_movable`), whether it may enter a stage (`_check_entry`) and how standing in a
    stage settles it (`_settle_in`: a deal is won or lost, a lead lost).
    """

    id: object
    funnel_id: FunnelId
    stage_id: StageId
    stage_changed_at: datetime
    updated_at: datetime | None
    history: list[StageTransition]
    subject: Subject

    # --- what each kind says ----------------------------------------------------------------

    def _ensure_movable(self) -> None:
        raise NotImplementedError

    def _check_entry(self, stage: Stage) -> None:
        """Refuses a stage this kind may not be moved into (a Conflict)."""

    def _check_placement(self, stage: Stage) -> None:
        """Refuses a stage this kind may not be created or edited into (a field error)."""

    def _settle_in(self, stage: Stage, now: datetime) -> None:
        """What standing in `stage` means for the kind's status."""

    # --- the details leads and deals share ---------------------------------------------------

    title: str
    owner_id: UserId | None
    description: str
    probability: Probability

    def _check_shared_details(
        self,
        errors: FieldErrors,
        title: Maybe[str],
        owner_id: Maybe[UserId | None],
        description: Maybe[str],
        probability: Maybe[Probability | int],
    ) -> Callable[[], None]:
        """Checks the shared details into `errors`; returns what applies them once the kind's
        own details are checked too (nothing changes when one is refused)."""
        with errors.field("title"):
            title = title if title is UNSET else required_text(title)
        with errors.field("description"):
            description = description if description is UNSET else bounded_text(description)
        with errors.field("probability"):
            probability = probability if probability is UNSET else as_probability(probability)

        def apply() -> None:
            if title is not UNSET:
                self.title = title
            if owner_id is not UNSET:
                self.owner_id = owner_id
            if description is not UNSET:
                self.description = description
            if probability is not UNSET:
                self.probability = Probability(int(probability))

        return apply

    # --- movement -------------------------------------------------------------------------

    def move_to(self, stage: Stage, now: datetime, actor: UserId | None = None) -> StageId | None:
        """Moves within the funnel. Returns the stage left, or None when already there."""
        if stage.funnel_id != self.funnel_id:
            raise ValidationFailed.on("stage_id", "This stage belongs to another funnel.")
        self._ensure_movable()
        if stage.id == self.stage_id:
            return None
        return self._enter(stage, now, actor)

    def transfer_to(
        self, funnel: Funnel, stage_id: StageId | None, now: datetime, actor: UserId | None = None
    ) -> StageId | None:
        """Moves into another funnel (its first stage unless one is named).

        Within its own funnel this is `move_to` (no stage named: nothing changes).
        Returns the stage left, or None when nothing moved.
        """
        if funnel.id == self.funnel_id:
            return self.move_to(funnel.entry_stage(stage_id), now, actor) if stage_id else None
        stage = funnel.entry_stage(stage_id)
        self._ensure_movable()
        return self._enter(stage, now, actor, funnel_id=funnel.id)

    def relocate(
        self, funnel: Funnel, stage_id: StageId | None, now: datetime, actor: UserId | None = None
    ) -> StageId | None:
        """A move asked for by editing the funnel or stage fields: as `transfer_to`, but a stage
        the kind may not be placed in by hand is a field error on `stage`."""
        if funnel.id == self.funnel_id and not stage_id:
            return None
        target = funnel.entry_stage(stage_id, "stage")
        if target.id == self.stage_id:
            return None
        self._ensure_movable()
        self._check_placement(target)
        return self.transfer_to(funnel, target.id, now, actor)

    def _enter(
        self,
        stage: Stage,
        now: datetime,
        actor: UserId | None,
        funnel_id: FunnelId | None = None,
    ) -> StageId:
        self._check_entry(stage)
        previous = self._change_stage(stage, now, actor)
        if funnel_id is not None:
            self.funnel_id = funnel_id
        self._settle_in(stage, now)
        self.updated_at = now
        return previous

    # --- the history ----------------------------------------------------------------------

    def _enter_first_stage(self, stage: Stage, now: datetime, actor: UserId | None) -> None:
        self.stage_id = stage.id
        self.stage_changed_at = now
        self._record(None, stage.id, now, actor)

    def _change_stage(self, stage: Stage, now: datetime, actor: UserId | None) -> StageId:
        """Ends the current stay and starts one in `stage`; returns the stage left."""
        current = self.current_stay
        if current is not None and now < current.entered_at:
            raise ValidationFailed.on("now", "Time cannot go backwards in the stage history.")
        if current is not None:
            current.left_at = now
        previous = self.stage_id
        self.stage_id = stage.id
        self.stage_changed_at = now
        self._record(previous, stage.id, now, actor)
        return previous

    def _record(
        self, previous: StageId | None, target: StageId, now: datetime, actor: UserId | None
    ) -> None:
        seq = len(self.history)
        self.history.append(
            StageTransition(self.subject, self.id, previous, target, now, seq, actor_id=actor)
        )

    @property
    def current_stay(self) -> StageTransition | None:
        return max(self.history, key=lambda transition: transition.seq, default=None)
