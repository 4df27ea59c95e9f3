"""Funnels and their stages."""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from crm_core.commands import UNSET, Maybe, set_fields
from crm_core.funnel import Funnel, StageSpec
from crm_core.services.base import UseCases, referenced
from crm_core.tenancy import Actor
from crm_core.values import Color, FunnelId, StageId


@attrs.frozen(kw_only=True)
class ChangeFunnel:
    name: Maybe[str] = UNSET
    description: Maybe[str] = UNSET
    is_active: Maybe[bool] = UNSET


@attrs.frozen(kw_only=True)
class ChangeStage:
    """A stage's fields a caller sets; on create, what is left out takes the defaults."""

    name: Maybe[str] = UNSET
    order: Maybe[int | None] = UNSET
    color: Maybe[Color | str] = UNSET
    is_final: Maybe[bool] = UNSET
    is_success: Maybe[bool] = UNSET


class FunnelUseCases(UseCases):
    def create_funnel(
        self,
        actor: Actor,
        name: str,
        *,
        description: str = "",
        is_active: bool = True,
        stages: Sequence[StageSpec] | None = None,
    ) -> FunnelId:
        with self.uow() as uow:
            funnel = Funnel.create(
                actor.company_id,
                name,
                stages,
                now=self.clock.now(),
                description=description,
                is_active=is_active,
            )
            uow.funnels.save(funnel)
            uow.commit()
            return funnel.id

    def update_funnel(self, actor: Actor, funnel_id: FunnelId, command: ChangeFunnel) -> None:
        with self.uow() as uow:
            funnel = uow.funnels.get(actor.company_id, funnel_id)
            funnel.change_details(
                self.clock.now(),
                name=command.name,
                description=command.description,
                is_active=command.is_active,
            )
            uow.funnels.save(funnel)
            uow.commit()

    def delete_funnel(self, actor: Actor, funnel_id: FunnelId) -> None:
        with self.uow() as uow:
            funnel = uow.funnels.get(actor.company_id, funnel_id)
            funnel.ensure_deletable(uow.occupancy.funnel_is_occupied(actor.company_id, funnel_id))
            uow.funnels.delete(funnel)
            uow.commit()

    def create_stage(self, actor: Actor, funnel_id: FunnelId, command: ChangeStage) -> StageId:
        with self.uow() as uow:
            funnel = referenced("funnel", lambda: uow.funnels.get(actor.company_id, funnel_id))
            stage = funnel.add_stage(StageSpec.from_fields(set_fields(command)), self.clock.now())
            uow.funnels.save(funnel)
            uow.commit()
            return stage.id

    def update_stage(self, actor: Actor, stage_id: StageId, command: ChangeStage) -> None:
        with self.uow() as uow:
            funnel = uow.funnels.with_stage(actor.company_id, stage_id)
            spec = StageSpec.from_fields(set_fields(command), funnel.stage(stage_id))
            occupied = uow.occupancy.stage_is_occupied(actor.company_id, stage_id)
            funnel.change_stage(stage_id, spec, occupied, self.clock.now())
            uow.funnels.save(funnel)
            uow.commit()

    def delete_stage(self, actor: Actor, stage_id: StageId) -> None:
        with self.uow() as uow:
            funnel = uow.funnels.with_stage(actor.company_id, stage_id)
            funnel.remove_stage(
                stage_id, uow.occupancy.stage_is_occupied(actor.company_id, stage_id)
            )
            uow.funnels.save(funnel)
            uow.commit()
