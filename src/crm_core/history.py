"""Stage history: every stay of a lead or deal in a stage, kept as a transition."""

from __future__ import annotations

import enum
from datetime import datetime

import attrs

from crm_core.errors import ValidationFailed
from crm_core.funnel import Stage
from crm_core.values import StageId, UserId, new_id


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
    """Behaviour shared by Lead and Deal: the current stage and the history that led to it.

    The host class declares `id`, `stage_id`, `stage_changed_at` and `history`.
    """

    id: object
    stage_id: StageId
    stage_changed_at: datetime
    history: list[StageTransition]
    subject: Subject

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
