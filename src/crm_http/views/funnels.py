"""Funnels and their stages (`/api/crm/funnels/`, `/api/crm/funnel-stages/`)."""

from __future__ import annotations

import uuid
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from crm_core.funnel import StageSpec
from crm_core.ports import ReadModel, Resource, Row, StatisticsFilter
from crm_core.services.funnels import ChangeFunnel, ChangeStage, FunnelUseCases
from crm_core.values import DEFAULT_STAGE_COLOR, FunnelId
from crm_http.auth import current_actor
from crm_http.container import Container
from crm_http.crud import Crud, crud_blueprint
from crm_http.fields import ColorField, Reference, StrictBoolean, SumField
from crm_http.schemas import Body, RowSchema
from crm_http.smorest import Blueprint

MAX_ORDER = 2**31 - 1  # the database column is a 32-bit integer


class StageRow(RowSchema):
    funnel = fields.UUID()
    name = fields.String()
    order = fields.Integer()
    color = fields.String()
    is_final = fields.Boolean()
    is_success = fields.Boolean()


class FunnelRow(RowSchema):
    company = fields.UUID()
    company_name = fields.String()
    name = fields.String()
    description = fields.String()
    is_active = fields.Boolean()
    stages = fields.List(fields.Nested(StageRow))


class StageFields(Body):
    name = fields.String(required=True, validate=validate.Length(min=1, max=255))
    order = fields.Integer(strict=True, validate=validate.Range(min=0, max=MAX_ORDER))
    color = ColorField()
    is_final = StrictBoolean()
    is_success = StrictBoolean()


class FunnelBody(Body):
    name = fields.String(required=True, validate=validate.Length(min=1, max=255))
    description = fields.String()
    is_active = StrictBoolean()
    stages = fields.List(
        fields.Nested(StageFields),
        metadata={"description": "Stages to create; without this key, the six default stages."},
    )


def _no_stages(_: Any) -> None:
    raise ValidationError("Stages are managed at /api/crm/funnel-stages/.")


class FunnelChange(Body):
    RESET = {"description": "", "is_active": True}
    name = fields.String(required=True, validate=validate.Length(min=1, max=255))
    description = fields.String()
    is_active = StrictBoolean()
    stages = fields.Raw(validate=_no_stages, metadata={"description": "Not allowed here."})


class StageBody(StageFields):
    funnel_id = Reference("funnel", required=True)


class StageChange(StageFields):
    RESET = {"color": DEFAULT_STAGE_COLOR, "is_final": False, "is_success": False}


class StatisticsArgs(Schema):
    class Meta:
        unknown = "exclude"

    created_at_after = fields.Date()
    created_at_before = fields.Date()
    owner = fields.UUID()


class StageStatistics(Schema):
    class Meta:
        ordered = True

    stage_id = fields.UUID()
    stage_name = fields.String()
    order = fields.Integer()
    color = fields.String()
    is_final = fields.Boolean()
    is_success = fields.Boolean()
    leads_count = fields.Integer()
    leads_value = SumField()
    deals_count = fields.Integer()
    deals_amount = SumField()
    open_count = fields.Integer(
        metadata={"description": "open leads and open deals standing in the stage now"}
    )
    open_amount = SumField(
        metadata={"description": "their estimated values and amounts, what a board column shows"}
    )
    reached_count = fields.Integer(
        metadata={
            "description": "opportunities that ever stood in this stage or a later one; a "
            "converted lead and its deal count once"
        }
    )
    conversion_from_previous = fields.Float(allow_none=True)
    avg_days_in_stage = fields.Float(allow_none=True)


class FunnelStatistics(Schema):
    class Meta:
        ordered = True

    funnel_id = fields.UUID()
    funnel_name = fields.String()
    leads_count = fields.Integer()
    deals_count = fields.Integer()
    open_deals = fields.Integer()
    won_deals = fields.Integer()
    lost_deals = fields.Integer()
    total_amount = SumField()
    won_amount = SumField()
    lost_amount = SumField()
    pipeline_amount = SumField()
    weighted_pipeline_amount = SumField()
    win_rate = fields.Float(allow_none=True)
    lead_to_deal_rate = fields.Float(allow_none=True)
    avg_days_to_win = fields.Float(allow_none=True)
    stages_statistics = fields.List(fields.Nested(StageStatistics))


def funnels_blueprint(container: Container) -> Blueprint:
    use_cases: Any = container.funnels
    read_model: Any = container.read_model

    def create(actor: Any, body: dict[str, Any]) -> uuid.UUID:
        stages = body.get("stages")
        funnels: FunnelUseCases = use_cases()
        return funnels.create_funnel(
            actor,
            body["name"],
            description=body.get("description", ""),
            is_active=body.get("is_active", True),
            stages=None if stages is None else [StageSpec.from_fields(stage) for stage in stages],
        )

    blp = crud_blueprint(
        Crud(
            resource=Resource.FUNNELS,
            name="Funnel",
            row=FunnelRow,
            body=FunnelBody,
            update_body=FunnelChange,
            read_model=read_model,
            create=create,
            update=lambda actor, funnel_id, body: use_cases().update_funnel(
                actor, funnel_id, ChangeFunnel(**{k: v for k, v in body.items() if k != "stages"})
            ),
            delete=lambda actor, funnel_id: use_cases().delete_funnel(actor, funnel_id),
            description="Sales funnels with their ordered stages.",
        )
    )

    @blp.route("/<uuid:object_id>/statistics/", methods=["GET"])
    @blp.arguments(StatisticsArgs, location="query")
    @blp.response(200, FunnelStatistics)
    def statistics(args: dict[str, Any], object_id: uuid.UUID) -> Row:
        """Funnel statistics: totals, rates and per-stage figures (CONTRACT section 5)."""
        period = StatisticsFilter(
            created_after=args.get("created_at_after"),
            created_before=args.get("created_at_before"),
            owner_id=args.get("owner"),
        )
        model: ReadModel = read_model()
        return model.funnel_statistics(current_actor().company_id, FunnelId(object_id), period)

    return blp


def stages_blueprint(container: Container) -> Blueprint:
    use_cases: Any = container.funnels

    return crud_blueprint(
        Crud(
            resource=Resource.STAGES,
            name="FunnelStage",
            row=StageRow,
            body=StageBody,
            update_body=StageChange,
            read_model=container.read_model,
            create=lambda actor, body: use_cases().create_stage(
                actor, body.pop("funnel_id"), ChangeStage(**body)
            ),
            update=lambda actor, stage_id, body: use_cases().update_stage(
                actor, stage_id, ChangeStage(**body)
            ),
            delete=lambda actor, stage_id: use_cases().delete_stage(actor, stage_id),
            description="The stages of funnels; `order` is unique within a funnel.",
        )
    )
