"""Funnels and their stages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from crm_core.funnel import Funnel, StageSpec
from crm_core.services.base import UseCases, referenced
from crm_core.tenancy import Actor
from crm_core.values import FunnelId, StageId

FUNNEL_FIELDS = ("name", "description", "is_active")


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
                actor.company_id, name, stages, description=description, is_active=is_active
            )
            now = self.clock.now()
            funnel.created_at = funnel.updated_at = now
            for stage in funnel.stages:
                stage.created_at = stage.updated_at = now
            uow.funnels.save(funnel)
            uow.commit()
            return funnel.id

    def update_funnel(self, actor: Actor, funnel_id: FunnelId, changes: Mapping[str, Any]) -> None:
        with self.uow() as uow:
            funnel = uow.funnels.get(actor.company_id, funnel_id)
            funnel.change_details(
                self.clock.now(),
                **{name: changes[name] for name in FUNNEL_FIELDS if name in changes},
            )
            uow.funnels.save(funnel)
            uow.commit()

    def delete_funnel(self, actor: Actor, funnel_id: FunnelId) -> None:
        with self.uow() as uow:
            funnel = uow.funnels.get(actor.company_id, funnel_id)
            funnel.ensure_deletable(uow.occupancy.funnel_is_occupied(actor.company_id, funnel_id))
            uow.funnels.delete(funnel)
            uow.commit()

    def create_stage(
        self, actor: Actor, funnel_id: FunnelId, changes: Mapping[str, Any]
    ) -> StageId:
        with self.uow() as uow:
            funnel = referenced("funnel", lambda: uow.funnels.get(actor.company_id, funnel_id))
            stage = funnel.add_stage(StageSpec.from_fields(changes))
            stage.created_at = stage.updated_at = self.clock.now()
            uow.funnels.save(funnel)
            uow.commit()
            return stage.id

    def update_stage(self, actor: Actor, stage_id: StageId, changes: Mapping[str, Any]) -> None:
        with self.uow() as uow:
            funnel = uow.funnels.with_stage(actor.company_id, stage_id)
            stage = funnel.stage(stage_id)
            spec = StageSpec.from_fields(changes, stage)
            occupied = uow.occupancy.stage_is_occupied(actor.company_id, stage_id)
            funnel.change_stage(stage_id, spec, occupied).updated_at = self.clock.now()
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
