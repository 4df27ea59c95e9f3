"""The Funnel aggregate: a sales pipeline and its ordered stages."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import attrs

from crm_core.commands import UNSET, Maybe
from crm_core.errors import Conflict, FieldErrors, NotFound, ValidationFailed
from crm_core.values import (
    DEFAULT_STAGE_COLOR,
    NAME_LENGTH,
    Color,
    CompanyId,
    FunnelId,
    StageId,
    bounded_text,
    new_id,
    required_text,
)


@attrs.define(slots=False, eq=False)
class Stage:
    funnel_id: FunnelId
    name: str
    order: int
    color: Color = DEFAULT_STAGE_COLOR
    is_final: bool = False
    is_success: bool = False
    id: StageId = attrs.field(factory=lambda: StageId(new_id()))
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def is_failure(self) -> bool:
        return self.is_final and not self.is_success


@attrs.frozen
class StageSpec:
    """What a caller says about a stage before it exists (or when it changes)."""

    name: str
    order: int | None = None
    color: Color | str = DEFAULT_STAGE_COLOR  # text is checked with the other fields
    is_final: bool = False
    is_success: bool = False

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any], base: Stage | None = None) -> StageSpec:
        """The fields given, the rest from `base` (a stage being changed) or the defaults."""
        current = (
            cls(name="")
            if base is None
            else cls(base.name, base.order, base.color, base.is_final, base.is_success)
        )
        return attrs.evolve(
            current,
            **{
                field.name: fields[field.name]
                for field in attrs.fields(cls)
                if field.name in fields
            },
        )


DEFAULT_STAGES: tuple[StageSpec, ...] = (
    StageSpec("Новый лид", 1),
    StageSpec("Квалификация", 2),
    StageSpec("Предложение", 3),
    StageSpec("Переговоры", 4),
    StageSpec("Закрыта успешно", 5, Color("#2ecc71"), is_final=True, is_success=True),
    StageSpec("Закрыта неудачно", 6, Color("#e74c3c"), is_final=True),
)


def _color(value: Color | str) -> Color:
    return value if isinstance(value, Color) else Color(value)


MAX_STAGES = 100


def _check_stage_rules(errors: FieldErrors, prefix: str, spec: StageSpec) -> None:
    with errors.field(f"{prefix}name"):
        required_text(spec.name, NAME_LENGTH)
    with errors.field(f"{prefix}color"):
        _color(spec.color)
    if spec.order is not None and spec.order < 0:
        errors.add(f"{prefix}order", "Must be greater than or equal to 0.")
    if spec.is_success and not spec.is_final:
        errors.add(f"{prefix}is_success", "A success stage must be final (is_final).")


def _check_name(errors: FieldErrors, name: object) -> None:
    with errors.field("name"):
        required_text(name, NAME_LENGTH)


@attrs.define(slots=False, eq=False)
class Funnel:
    company_id: CompanyId
    name: str
    description: str = ""
    is_active: bool = True
    stages: list[Stage] = attrs.field(factory=list)
    id: FunnelId = attrs.field(factory=lambda: FunnelId(new_id()))
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def create(
        cls,
        company_id: CompanyId,
        name: str,
        stages: Iterable[StageSpec] | None = None,
        *,
        now: datetime | None = None,
        description: str = "",
        is_active: bool = True,
    ) -> Funnel:
        """A funnel with the given stages; `None` means the six default stages."""
        funnel = cls(
            company_id=company_id,
            name=name,
            description=description,
            is_active=is_active,
            created_at=now,
            updated_at=now,
        )
        specs = DEFAULT_STAGES if stages is None else tuple(stages)
        errors = FieldErrors()
        _check_name(errors, name)
        with errors.field("description"):
            bounded_text(description)
        if len(specs) > MAX_STAGES:
            errors.add("stages", f"A funnel has at most {MAX_STAGES} stages.")
        orders: set[int] = set()
        for index, spec in enumerate(specs):
            _check_stage_rules(errors, f"stages.{index}.", spec)
            order = spec.order if spec.order is not None else funnel._next_order(orders)
            if order in orders:
                errors.add(f"stages.{index}.order", "A stage with this order already exists.")
            orders.add(order)
            if not errors.errors:
                funnel.stages.append(funnel._stage_from(spec, order, now))
        errors.raise_if_any()
        return funnel

    def change_details(
        self,
        now: datetime,
        *,
        name: Maybe[str] = UNSET,
        description: Maybe[str] = UNSET,
        is_active: Maybe[bool] = UNSET,
    ) -> None:
        """Name, description and is_active; stages change only through their own methods."""
        errors = FieldErrors()
        if name is not UNSET:
            _check_name(errors, name)
        with errors.field("description"):
            description = description if description is UNSET else bounded_text(description)
        errors.raise_if_any()
        if name is not UNSET:
            self.name = name
        if description is not UNSET:
            self.description = description
        if is_active is not UNSET:
            self.is_active = is_active
        self.updated_at = now

    @classmethod
    def with_default_stages(cls, company_id: CompanyId, name: str) -> Funnel:
        return cls.create(company_id, name)

    def _stage_from(self, spec: StageSpec, order: int, now: datetime | None) -> Stage:
        return Stage(
            funnel_id=self.id,
            name=spec.name,
            order=order,
            color=_color(spec.color),
            is_final=spec.is_final,
            is_success=spec.is_success,
            created_at=now,
            updated_at=now,
        )

    @staticmethod
    def _next_order(taken: Iterable[int]) -> int:
        return max(taken, default=0) + 1

    @property
    def ordered_stages(self) -> list[Stage]:
        return sorted(self.stages, key=lambda stage: stage.order)

    @property
    def first_stage(self) -> Stage | None:
        return min(self.stages, key=lambda stage: stage.order, default=None)

    @property
    def success_stage(self) -> Stage | None:
        """The final success stage of lowest order, where a won deal goes."""
        return self._lowest(stage for stage in self.stages if stage.is_final and stage.is_success)

    @property
    def failure_stage(self) -> Stage | None:
        """The final non-success stage of lowest order, where a lost deal goes."""
        return self._lowest(stage for stage in self.stages if stage.is_failure)

    @staticmethod
    def _lowest(stages: Iterable[Stage]) -> Stage | None:
        return min(stages, key=lambda stage: stage.order, default=None)

    def stage(self, stage_id: StageId) -> Stage:
        for stage in self.stages:
            if stage.id == stage_id:
                return stage
        raise NotFound("Stage")

    def has_stage(self, stage_id: StageId) -> bool:
        return any(stage.id == stage_id for stage in self.stages)

    def entry_stage(self, stage_id: StageId | None, field: str = "stage") -> Stage:
        """The stage a new lead or deal starts in: the one named, or the first one."""
        if stage_id is None:
            first = self.first_stage
            if first is None:
                raise ValidationFailed.on("funnel", "This funnel has no stages.")
            return first
        if not self.has_stage(stage_id):
            raise ValidationFailed.on(field, "This stage does not belong to the funnel.")
        return self.stage(stage_id)

    def add_stage(self, spec: StageSpec, now: datetime | None = None) -> Stage:
        if len(self.stages) >= MAX_STAGES:
            raise ValidationFailed.on("funnel", f"A funnel has at most {MAX_STAGES} stages.")
        errors = FieldErrors()
        _check_stage_rules(errors, "", spec)
        order = (
            spec.order
            if spec.order is not None
            else self._next_order(stage.order for stage in self.stages)
        )
        self._check_order_free(errors, order, None)
        errors.raise_if_any()
        stage = self._stage_from(spec, order, now)
        self.stages.append(stage)
        return stage

    def change_stage(
        self, stage_id: StageId, spec: StageSpec, occupied: bool, now: datetime | None = None
    ) -> Stage:
        """Rename, reorder or recolour a stage; `occupied` says whether anything stands in it.

        A stage's final/success flags decide whether the deals in it are won or lost, so they
        may change only while no lead or deal stands in the stage.
        """
        stage = self.stage(stage_id)
        errors = FieldErrors()
        _check_stage_rules(errors, "", spec)
        order = stage.order if spec.order is None else spec.order
        self._check_order_free(errors, order, stage.id)
        errors.raise_if_any()
        flags_change = (spec.is_final, spec.is_success) != (stage.is_final, stage.is_success)
        if flags_change and occupied:
            raise Conflict(
                "is_final and is_success cannot change while leads or deals stand in the stage."
            )
        stage.name, stage.order, stage.color = spec.name, order, _color(spec.color)
        stage.is_final, stage.is_success = spec.is_final, spec.is_success
        stage.updated_at = now
        return stage

    def remove_stage(self, stage_id: StageId, occupied: bool) -> None:
        stage = self.stage(stage_id)
        if occupied:
            raise Conflict("The stage cannot be deleted while leads or deals stand in it.")
        self.stages.remove(stage)

    def ensure_deletable(self, occupied: bool) -> None:
        if occupied:
            raise Conflict("The funnel cannot be deleted while it has leads or deals.")

    def _check_order_free(self, errors: FieldErrors, order: int, own: StageId | None) -> None:
        if any(stage.order == order and stage.id != own for stage in self.stages):
            errors.add("order", "A stage with this order already exists in the funnel.")
