"""Activities (`/api/crm/activities/`): calls, meetings, notes, tasks, stage changes."""

from __future__ import annotations

from typing import Any

from marshmallow import fields, post_dump, validate

from crm_core.activity import ActivityType
from crm_core.ports import Resource
from crm_core.services.activities import ChangeActivity, CreateActivity
from crm_http.container import Container
from crm_http.crud import Crud, crud_blueprint
from crm_http.fields import Reference, StrictBoolean, Timestamp, UtcDateTime
from crm_http.schemas import Body, RowSchema
from crm_http.smorest import Blueprint

TYPES = [kind.value for kind in ActivityType]


class ActivityRow(RowSchema):
    company = fields.UUID()
    user = fields.UUID(allow_none=True)
    user_name = fields.String(allow_none=True)
    contact = fields.UUID(allow_none=True)
    contact_name = fields.String(allow_none=True)
    lead = fields.UUID(allow_none=True)
    lead_title = fields.String(allow_none=True)
    deal = fields.UUID(allow_none=True)
    deal_title = fields.String(allow_none=True)
    activity_type = fields.String(metadata={"enum": TYPES})
    activity_type_display = fields.String()
    title = fields.String()
    description = fields.String()
    activity_date = Timestamp()
    due_date = fields.Date(allow_none=True)
    is_done = fields.Boolean()

    @post_dump(pass_original=True)
    def _label(self, data: dict[str, Any], row: Any, **_: Any) -> dict[str, Any]:
        data["activity_type_display"] = ActivityType(row["activity_type"]).label
        return data


class ActivityBody(Body):
    RESET = {
        "contact_id": None,
        "lead_id": None,
        "deal_id": None,
        "description": "",
        "due_date": None,
        "is_done": False,
    }
    contact_id = Reference("contact", allow_none=True)
    lead_id = Reference("lead", allow_none=True)
    deal_id = Reference("deal", allow_none=True)
    activity_type = fields.String(required=True, validate=validate.OneOf(TYPES))
    title = fields.String(required=True, validate=validate.Length(min=1, max=255))
    description = fields.String()
    activity_date = UtcDateTime()
    due_date = fields.Date(allow_none=True)
    is_done = StrictBoolean()


def activities_blueprint(container: Container) -> Blueprint:
    use_cases: Any = container.activities
    return crud_blueprint(
        Crud(
            resource=Resource.ACTIVITIES,
            name="Activity",
            row=ActivityRow,
            body=ActivityBody,
            read_model=container.read_model,
            create=lambda actor, body: use_cases().create_activity(actor, CreateActivity(**body)),
            update=lambda actor, activity_id, body: use_cases().update_activity(
                actor, activity_id, ChangeActivity(**body)
            ),
            delete=lambda actor, activity_id: use_cases().delete_activity(actor, activity_id),
            description="What happened with a contact, lead or deal.",
        )
    )
