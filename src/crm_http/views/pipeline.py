"""Leads and deals (`/api/crm/leads/`, `/api/crm/deals/`) and their stage actions."""

from __future__ import annotations

import uuid
from typing import Any

from marshmallow import fields, validate

from crm_core.lead import LeadStatus
from crm_core.ports import ReadModel, Resource, Row
from crm_core.services.pipeline import ChangeDeal, ChangeLead, ConvertLead, CreateDeal, CreateLead
from crm_core.values import REASON_LENGTH, Money, Probability
from crm_http.auth import current_actor
from crm_http.container import Container
from crm_http.crud import Crud, crud_blueprint, detail
from crm_http.fields import MoneyField, ProbabilityField, Reference, Timestamp
from crm_http.schemas import Body, RowSchema
from crm_http.smorest import Blueprint

TITLE = validate.Length(min=1, max=255)


class PipelineRow(RowSchema):
    """What leads and deals share."""

    company = fields.UUID()
    contact = fields.UUID()
    contact_name = fields.String(allow_none=True)
    funnel = fields.UUID()
    funnel_name = fields.String(allow_none=True)
    stage = fields.UUID()
    stage_name = fields.String(allow_none=True)
    owner = fields.UUID(allow_none=True)
    owner_name = fields.String(allow_none=True)
    title = fields.String()
    description = fields.String()
    probability = fields.Integer()
    stage_changed_at = Timestamp(allow_none=True)
    closed_at = Timestamp(allow_none=True)


class LeadRow(PipelineRow):
    estimated_value = MoneyField()
    source = fields.String()
    status = fields.String(metadata={"enum": [status.value for status in LeadStatus]})
    deal = fields.UUID(allow_none=True)
    lost_reason = fields.String()


class DealRow(PipelineRow):
    lead = fields.UUID(allow_none=True)
    lead_title = fields.String(allow_none=True)
    amount = MoneyField()
    expected_close_date = fields.Date(allow_none=True)
    is_won = fields.Boolean()
    is_lost = fields.Boolean()
    lost_reason = fields.String()


class PipelineBody(Body):
    contact_id = Reference("contact", required=True)
    funnel_id = Reference("funnel", required=True)
    stage_id = Reference("stage", allow_none=True)
    owner_id = Reference("owner", allow_none=True)
    title = fields.String(required=True, validate=TITLE)
    description = fields.String()
    probability = ProbabilityField()


class LeadBody(PipelineBody):
    RESET = {
        "description": "",
        "probability": Probability(0),
        "estimated_value": Money.zero(),
        "source": "",
    }
    estimated_value = MoneyField()
    source = fields.String(validate=validate.Length(max=64))


class DealChange(PipelineBody):
    RESET = {
        "description": "",
        "probability": Probability(0),
        "amount": Money.zero(),
        "expected_close_date": None,
    }
    amount = MoneyField()
    expected_close_date = fields.Date(allow_none=True)


class DealBody(DealChange):
    lead_id = Reference("lead", allow_none=True)


class StageTarget(Body):
    stage_id = fields.UUID(required=True)


class LostReason(Body):
    reason = fields.String(load_default="", validate=validate.Length(max=REASON_LENGTH))


class Conversion(Body):
    title = fields.String(validate=TITLE)
    amount = MoneyField()
    stage_id = fields.UUID(allow_none=True)


def leads_blueprint(container: Container) -> Blueprint:
    leads: Any = container.leads
    read_model: Any = container.read_model

    crud = Crud(
        resource=Resource.LEADS,
        name="Lead",
        row=LeadRow,
        body=LeadBody,
        read_model=read_model,
        create=lambda actor, body: leads().create_lead(actor, CreateLead(**body)),
        update=lambda actor, lead_id, body: leads().update_lead(actor, lead_id, ChangeLead(**body)),
        delete=lambda actor, lead_id: leads().delete_lead(actor, lead_id),
        description="Leads: open until converted to a deal or lost.",
    )
    blp = crud_blueprint(crud)

    @blp.route("/<uuid:object_id>/move_to_stage/", methods=["POST"])
    @blp.arguments(StageTarget)
    @blp.response(200, LeadRow)
    def move_to_stage(body: dict[str, Any], object_id: uuid.UUID) -> Row:
        """Moves the lead to another stage of its funnel (writes a stage_change activity)."""
        leads().move_lead(current_actor(), object_id, body["stage_id"])
        return detail(crud, object_id)

    @blp.route("/<uuid:object_id>/convert_to_deal/", methods=["POST"])
    @blp.arguments(Conversion, required=False)
    @blp.response(201, DealRow)
    def convert_to_deal(body: dict[str, Any], object_id: uuid.UUID) -> Row:
        """Converts the lead into its one deal; the lead becomes `converted`."""
        deal_id = leads().convert_lead(current_actor(), object_id, ConvertLead(**body))
        model: ReadModel = read_model()
        return model.detail(Resource.DEALS, current_actor().company_id, deal_id)

    @blp.route("/<uuid:object_id>/mark_lost/", methods=["POST"])
    @blp.arguments(LostReason, required=False)
    @blp.response(200, LeadRow)
    def mark_lost(body: dict[str, Any], object_id: uuid.UUID) -> Row:
        """Marks the lead lost, with an optional reason."""
        leads().mark_lead_lost(current_actor(), object_id, body.get("reason", ""))
        return detail(crud, object_id)

    @blp.route("/<uuid:object_id>/reopen/", methods=["POST"])
    @blp.arguments(StageTarget)
    @blp.response(200, LeadRow)
    def reopen(body: dict[str, Any], object_id: uuid.UUID) -> Row:
        """Brings a lost lead back into an open stage (a converted lead: 409)."""
        leads().reopen_lead(current_actor(), object_id, body["stage_id"])
        return detail(crud, object_id)

    return blp


def deals_blueprint(container: Container) -> Blueprint:
    deals: Any = container.deals
    read_model: Any = container.read_model

    crud = Crud(
        resource=Resource.DEALS,
        name="Deal",
        row=DealRow,
        body=DealBody,
        update_body=DealChange,
        read_model=read_model,
        create=lambda actor, body: deals().create_deal(actor, CreateDeal(**body)),
        update=lambda actor, deal_id, body: deals().update_deal(actor, deal_id, ChangeDeal(**body)),
        delete=lambda actor, deal_id: deals().delete_deal(actor, deal_id),
        description="Deals: won exactly in a success stage or when marked won.",
    )
    blp = crud_blueprint(crud)

    @blp.route("/<uuid:object_id>/move_to_stage/", methods=["POST"])
    @blp.arguments(StageTarget)
    @blp.response(200, DealRow)
    def move_to_stage(body: dict[str, Any], object_id: uuid.UUID) -> Row:
        """Moves the deal; a final stage wins or loses it. A closed deal must be reopened."""
        deals().move_deal(current_actor(), object_id, body["stage_id"])
        return detail(crud, object_id)

    @blp.route("/<uuid:object_id>/mark_won/", methods=["POST"])
    @blp.response(200, DealRow)
    def mark_won(object_id: uuid.UUID) -> Row:
        """Wins the deal and moves it to the funnel's success stage."""
        deals().mark_won(current_actor(), object_id)
        return detail(crud, object_id)

    @blp.route("/<uuid:object_id>/mark_lost/", methods=["POST"])
    @blp.arguments(LostReason, required=False)
    @blp.response(200, DealRow)
    def mark_lost(body: dict[str, Any], object_id: uuid.UUID) -> Row:
        """Loses the deal (optional reason) and moves it to the failure stage."""
        deals().mark_lost(current_actor(), object_id, body.get("reason", ""))
        return detail(crud, object_id)

    @blp.route("/<uuid:object_id>/reopen/", methods=["POST"])
    @blp.arguments(StageTarget)
    @blp.response(200, DealRow)
    def reopen(body: dict[str, Any], object_id: uuid.UUID) -> Row:
        """Brings a won or lost deal back into an open stage."""
        deals().reopen(current_actor(), object_id, body["stage_id"])
        return detail(crud, object_id)

    return blp
