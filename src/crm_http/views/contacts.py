"""Contacts (`/api/crm/contacts/`) and their timeline."""

from __future__ import annotations

import uuid
from typing import Any

from marshmallow import Schema, fields, validate

from crm_core.ports import Page, ReadModel, Resource
from crm_core.services.contacts import ChangeContact, CreateContact
from crm_core.values import ContactId
from crm_http.auth import current_actor
from crm_http.container import Container
from crm_http.crud import Crud, crud_blueprint
from crm_http.fields import Reference, StrictBoolean
from crm_http.listing import envelope, list_query
from crm_http.schemas import Body, RowSchema
from crm_http.smorest import Blueprint

TEXT = validate.Length(max=255)
SHORT = validate.Length(max=64)  # handles and sources: the columns hold 64


class ContactRow(RowSchema):
    company = fields.UUID()
    branch = fields.UUID(allow_none=True)
    branch_name = fields.String(allow_none=True)
    owner = fields.UUID(allow_none=True)
    owner_name = fields.String(allow_none=True)
    first_name = fields.String()
    last_name = fields.String()
    middle_name = fields.String()
    full_name = fields.String()
    phone = fields.String(allow_none=True)
    phone_secondary = fields.String(allow_none=True)
    email = fields.String()
    whatsapp = fields.String(allow_none=True)
    instagram = fields.String()
    telegram = fields.String()
    telegram_chat_id = fields.String(
        metadata={"description": "the chat id Wazzup gave for this telegram (read-only)"}
    )
    company_name = fields.String()
    position = fields.String()
    address = fields.String()
    notes = fields.String()
    tags = fields.List(fields.String())
    source = fields.String()
    is_active = fields.Boolean()
    is_client = fields.Boolean()


class ContactBody(Body):
    RESET = {
        **dict.fromkeys(("last_name", "middle_name", "email", "instagram", "telegram"), ""),
        **dict.fromkeys(("company_name", "position", "address", "notes", "source"), ""),
        **dict.fromkeys(("phone", "phone_secondary", "whatsapp", "branch_id"), None),
        "tags": [],
        "is_active": True,
        "is_client": False,
    }
    first_name = fields.String(required=True, validate=validate.Length(min=1, max=255))
    last_name = fields.String(validate=TEXT)
    middle_name = fields.String(validate=TEXT)
    phone = fields.String(allow_none=True, validate=TEXT)
    phone_secondary = fields.String(allow_none=True, validate=TEXT)
    email = fields.String(allow_none=True, validate=validate.Length(max=254))
    whatsapp = fields.String(allow_none=True, validate=TEXT)
    instagram = fields.String(allow_none=True, validate=SHORT)
    telegram = fields.String(validate=SHORT)
    company_name = fields.String(validate=TEXT)
    position = fields.String(validate=TEXT)
    address = fields.String(validate=validate.Length(max=1000))
    notes = fields.String(validate=validate.Length(max=10_000))
    tags = fields.List(fields.String(validate=validate.Length(min=1, max=100)))
    source = fields.String(validate=SHORT)
    is_active = StrictBoolean()
    is_client = StrictBoolean()
    branch_id = Reference("branch", allow_none=True)
    owner_id = Reference("owner", allow_none=True)


class TimelineArgs(Schema):
    class Meta:
        unknown = "exclude"

    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    page_size = fields.Integer(load_default=50, validate=validate.Range(min=1))


class TimelinePage(Schema):
    count = fields.Integer()
    next = fields.String(allow_none=True)
    previous = fields.String(allow_none=True)
    results = fields.List(fields.Dict())


def contacts_blueprint(container: Container) -> Blueprint:
    use_cases: Any = container.contacts
    read_model: Any = container.read_model

    blp = crud_blueprint(
        Crud(
            resource=Resource.CONTACTS,
            name="Contact",
            row=ContactRow,
            body=ContactBody,
            read_model=read_model,
            create=lambda actor, body: use_cases().create_contact(actor, CreateContact(**body)),
            update=lambda actor, contact_id, body: use_cases().update_contact(
                actor, contact_id, ChangeContact(**body)
            ),
            delete=lambda actor, contact_id: use_cases().delete_contact(actor, contact_id),
            description="People the team sells to; phones are stored in E.164.",
        )
    )

    @blp.route("/<uuid:object_id>/timeline/", methods=["GET"])
    @blp.arguments(TimelineArgs, location="query")
    @blp.response(200, TimelinePage)
    def timeline(args: dict[str, Any], object_id: uuid.UUID) -> dict[str, Any]:
        """The contact's activities and messages, newest first (items carry `kind`)."""
        query = list_query({**args, "page_size": args["page_size"]})
        model: ReadModel = read_model()
        page: Page = model.contact_timeline(
            current_actor().company_id, ContactId(object_id), query.page, query.page_size
        )
        return envelope(page, query)

    return blp
