"""Messaging over Wazzup: accounts (`/api/crm/wazzupp-accounts/`), messages
(`/api/crm/wazzupp-messages/`) and the public webhook (`/api/crm/wazzupp/webhook/<id>/`)."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response, request
from marshmallow import Schema, fields, validate, validates_schema
from marshmallow.exceptions import ValidationError

from crm_core.errors import MessageNotSent
from crm_core.messaging import ChatType, MessageType
from crm_core.ports import ReadModel, Resource, Row
from crm_core.services.messaging_accounts import ChangeAccount, CreateAccount
from crm_core.values import AccountId, ContactId, MessageId
from crm_http import problems
from crm_http.auth import current_actor, public
from crm_http.container import Container
from crm_http.crud import Crud, crud_blueprint
from crm_http.fields import Reference, StrictBoolean, Timestamp
from crm_http.schemas import Body, RowSchema
from crm_http.smorest import Blueprint

CHAT_TYPES = [chat_type.value for chat_type in ChatType]
IDEMPOTENCY_KEY = validate.Length(min=1, max=255)


class AccountRow(RowSchema):
    company = fields.UUID()
    company_name = fields.String()
    name = fields.String()
    api_key_hint = fields.String()
    api_url = fields.String()
    instance_id = fields.String()
    integration_type = fields.String(metadata={"enum": CHAT_TYPES})
    integration_type_display = fields.String()
    is_active = fields.Boolean()
    is_connected = fields.Boolean()
    channel_state = fields.String()
    last_sync = Timestamp(allow_none=True)
    last_error = fields.String()
    metadata = fields.Dict()
    webhook_url = fields.String(
        metadata={"description": "the address Wazzup must call; it carries a secret"}
    )
    default_funnel = fields.UUID(allow_none=True)
    auto_create_leads = fields.Boolean()


class AccountBody(Body):
    RESET = {
        "api_url": "",
        "instance_id": "",
        "chat_type": ChatType.WHATSAPP,
        "is_active": True,
        "metadata": {},
        "default_funnel_id": None,
        "auto_create_leads": True,
    }
    name = fields.String(required=True, validate=validate.Length(min=1, max=255))
    api_key = fields.String(required=True, load_only=True, validate=validate.Length(min=1, max=500))
    api_url = fields.String(validate=validate.Length(max=500))
    instance_id = fields.String(validate=validate.Length(max=255))
    chat_type = fields.Enum(ChatType, by_value=True, data_key="integration_type")
    is_active = StrictBoolean()
    metadata = fields.Dict()
    default_funnel_id = Reference("default_funnel", allow_none=True)
    auto_create_leads = StrictBoolean()


class AccountChangeBody(AccountBody):
    """On a change the key may be left out: the stored one is kept."""

    api_key = fields.String(load_only=True, validate=validate.Length(min=1, max=500))


class MessageRow(RowSchema):
    account = fields.UUID()
    account_info = fields.String()
    contact = fields.UUID(allow_none=True)
    contact_name = fields.String(allow_none=True)
    lead = fields.UUID(allow_none=True)
    message_id = fields.String(allow_none=True)
    chat_type = fields.String(metadata={"enum": CHAT_TYPES})
    chat_id = fields.String()
    from_number = fields.String()
    to_number = fields.String()
    message_type = fields.String(metadata={"enum": [t.value for t in MessageType]})
    message_type_display = fields.String()
    text = fields.String()
    media_url = fields.String()
    caption = fields.String()
    is_incoming = fields.Boolean()
    is_read = fields.Boolean()
    status = fields.String(metadata={"enum": ["pending", "sent", "delivered", "read", "failed"]})
    status_display = fields.String()
    error = fields.Dict(allow_none=True)
    author_name = fields.String()
    is_edited = fields.Boolean()
    is_deleted = fields.Boolean()
    metadata = fields.Dict()
    timestamp = Timestamp()


class CheckAnswer(Schema):
    is_connected = fields.Boolean()
    state = fields.String(allow_none=True)
    channel = fields.Dict(allow_none=True)
    channels = fields.List(fields.Dict())
    error = fields.String(allow_none=True)
    last_sync = Timestamp()


class SyncAnswer(Schema):
    synced_count = fields.Integer()
    webhook_registered = fields.Boolean()
    webhook_url = fields.String()
    is_connected = fields.Boolean()
    pushed = fields.Dict(keys=fields.String(), values=fields.Integer())
    errors = fields.List(fields.String())
    last_sync = Timestamp()


class SendBody(Body):
    to = fields.String(validate=validate.Length(min=1, max=255))
    message = fields.String(load_default="", validate=validate.Length(max=20_000))
    message_type = fields.Enum(MessageType, by_value=True, load_default=MessageType.TEXT)
    media_url = fields.String(load_default="", validate=validate.Length(max=2000))
    contact_id = Reference("contact", allow_none=True)
    lead_id = Reference("lead", allow_none=True)
    deal_id = Reference("deal", allow_none=True)

    @validates_schema
    def _addressed(self, data: dict[str, Any], **_: Any) -> None:
        if not data.get("to") and not data.get("contact_id"):
            raise ValidationError("Give `to` or `contact`.", field_name="to")


class SendHeaders(Schema):
    class Meta:
        unknown = "exclude"

    idempotency_key = fields.String(data_key="Idempotency-Key", validate=IDEMPOTENCY_KEY)


class ChatWindowArgs(Schema):
    class Meta:
        unknown = "exclude"

    contact = fields.UUID(load_default=None, allow_none=True)


class ChatWindowAnswer(Schema):
    url = fields.String()


class MarkReadBody(Body):
    contact = fields.UUID(allow_none=True)
    ids = fields.List(fields.UUID(), validate=validate.Length(max=1000))

    @validates_schema
    def _something(self, data: dict[str, Any], **_: Any) -> None:
        if not data.get("contact") and not data.get("ids"):
            raise ValidationError("Give `contact` or `ids`.", field_name="non_field_errors")


class MarkReadAnswer(Schema):
    marked = fields.Integer()


class WebhookArgs(Schema):
    class Meta:
        unknown = "exclude"

    token = fields.String(load_default="")


class WebhookAnswer(Schema):
    ok = fields.Boolean()


def _channel(channel: Any) -> dict[str, Any] | None:
    return (
        None
        if channel is None
        else dict(channel.raw)
        or {
            "channelId": channel.channel_id,
            "transport": channel.transport,
            "plainId": channel.plain_id,
            "state": channel.state,
        }
    )


def accounts_blueprint(container: Container) -> Blueprint:
    accounts: Any = container.messaging_accounts
    sending: Any = container.sending
    read_model: Any = container.read_model

    blp = crud_blueprint(
        Crud(
            resource=Resource.ACCOUNTS,
            name="WazzuppAccount",
            row=AccountRow,
            body=AccountBody,
            update_body=AccountChangeBody,
            read_model=read_model,
            create=lambda actor, body: accounts().create_account(actor, CreateAccount(**body)),
            update=lambda actor, account_id, body: accounts().update_account(
                actor, account_id, ChangeAccount(**body)
            ),
            delete=lambda actor, account_id: accounts().delete_account(actor, account_id),
            description="Wazzup accounts: a key and a channel (admins change them).",
        )
    )

    @blp.route("/<uuid:object_id>/check_connection/", methods=["POST"])
    @blp.response(200, CheckAnswer)
    def check_connection(object_id: uuid.UUID) -> dict[str, Any]:
        """Asks Wazzup for the key's channels; answers 200 whenever the check ran."""
        report = accounts().check_connection(current_actor(), AccountId(object_id))
        return {
            "is_connected": report.is_connected,
            "state": report.state,
            "channel": _channel(report.channel),
            "channels": [_channel(channel) for channel in report.channels],
            "error": report.error,
            "last_sync": report.last_sync,
        }

    @blp.route("/<uuid:object_id>/send_message/", methods=["POST"])
    @blp.arguments(SendBody)
    @blp.arguments(SendHeaders, location="headers")
    @blp.response(201, MessageRow)
    @blp.alt_response(502, description="Wazzup refused or failed; the body carries `message`.")
    @blp.alt_response(504, description="Wazzup did not answer in time; the body carries `message`.")
    def send_message(body: dict[str, Any], headers: dict[str, Any], object_id: uuid.UUID) -> Row:
        """Stores the message, then sends it (201: accepted by Wazzup; 502/504 carry the
        stored message); an `Idempotency-Key` repeat returns the first answer."""
        actor = current_actor()
        message_id = sending().send_message(
            actor,
            AccountId(object_id),
            to=body.get("to"),
            contact_id=body.get("contact_id"),
            text=body["message"],
            message_type=body["message_type"],
            media_url=body["media_url"],
            lead_id=body.get("lead_id"),
            deal_id=body.get("deal_id"),
            idempotency_key=headers.get("idempotency_key"),
        )
        model: ReadModel = read_model()
        return model.detail(Resource.MESSAGES, actor.company_id, message_id)

    @blp.route("/<uuid:object_id>/sync_messages/", methods=["POST"])
    @blp.response(200, SyncAnswer)
    def sync_messages(object_id: uuid.UUID) -> Any:
        """Registers the webhook, refreshes the channel, pushes users, contacts, pipelines
        and deals to Wazzup, and processes stored deliveries."""
        return accounts().sync_messages(current_actor(), AccountId(object_id))

    @blp.route("/<uuid:object_id>/chat_window/", methods=["GET"])
    @blp.arguments(ChatWindowArgs, location="query")
    @blp.response(200, ChatWindowAnswer)
    @blp.alt_response(409, description="The account's key or the contact's address is missing.")
    @blp.alt_response(502, description="Wazzup refused or failed.")
    def chat_window(args: dict[str, Any], object_id: uuid.UUID) -> dict[str, str]:
        """Wazzup's chat window for the caller (the contact's chats, or all)."""
        contact = args.get("contact")
        url = accounts().chat_window(
            current_actor(), AccountId(object_id), ContactId(contact) if contact else None
        )
        return {"url": url}

    @blp.app_errorhandler(MessageNotSent)
    def not_sent(error: MessageNotSent) -> Response:
        """The stored message goes with the 502/504, so the client sees what is kept."""
        model: ReadModel = read_model()
        row = model.detail(Resource.MESSAGES, current_actor().company_id, error.message_id)
        error.extra = {"message": MessageRow().dump(row)}  # type: ignore[attr-defined]
        return problems.from_domain_error(error)

    return blp


def messages_blueprint(container: Container) -> Blueprint:
    sending: Any = container.sending
    read_model: Any = container.read_model
    blp = crud_blueprint(
        Crud(
            resource=Resource.MESSAGES,
            name="WazzuppMessage",
            row=MessageRow,
            body=Body,
            read_model=read_model,
            description="Messages sent and received over Wazzup (read-only, plus actions).",
        )
    )

    @blp.route("/<uuid:object_id>/retry/", methods=["POST"])
    @blp.response(200, MessageRow)
    @blp.alt_response(502, description="Wazzup refused or failed; the body carries `message`.")
    @blp.alt_response(504, description="Wazzup did not answer in time; the body carries `message`.")
    def retry(object_id: uuid.UUID) -> Row:
        """Sends a failed outgoing message again under the same id (others: 409)."""
        actor = current_actor()
        sending().retry_message(actor, MessageId(object_id))
        model: ReadModel = read_model()
        return model.detail(Resource.MESSAGES, actor.company_id, object_id)

    @blp.route("/<uuid:object_id>/mark_read/", methods=["POST"])
    @blp.response(200, MarkReadAnswer)
    def mark_read(object_id: uuid.UUID) -> dict[str, int]:
        """An incoming message becomes read."""
        marked = sending().mark_read(current_actor(), message_ids=[MessageId(object_id)])
        return {"marked": marked}

    @blp.route("/mark_read/", methods=["POST"])
    @blp.arguments(MarkReadBody)
    @blp.response(200, MarkReadAnswer)
    @blp.alt_response(404, description="One of the `ids` is no message of the caller's company.")
    def mark_read_bulk(body: dict[str, Any]) -> dict[str, int]:
        """Incoming messages become read: the `ids`, or all of a `contact`'s."""
        contact = body.get("contact")
        marked = sending().mark_read(
            current_actor(),
            message_ids=[MessageId(i) for i in body.get("ids") or []],
            contact_id=ContactId(contact) if contact else None,
        )
        return {"marked": marked}

    return blp


def webhook_blueprint(container: Container) -> Blueprint:
    inbound: Any = container.inbound
    blp = Blueprint(
        "wazzupp-webhook",
        __name__,
        url_prefix="/api/crm/wazzupp",
        description="Where Wazzup delivers messages, statuses and channel updates.",
    )

    @blp.route("/webhook/<account_id>/", methods=["POST"])
    @blp.arguments(WebhookArgs, location="query")
    @blp.response(200, WebhookAnswer)
    @blp.alt_response(401, description="A wrong or missing secret, or an unknown account.")
    @blp.doc(security=[])
    @public
    def webhook(args: dict[str, Any], account_id: str) -> dict[str, bool]:
        """Stores the delivery and its processing job, then answers exactly 200. The secret
        in the address is the credential; an `Authorization` header is ignored."""
        body = request.get_data(cache=False, as_text=True)
        inbound().accept(account_id, args["token"], body)
        return {"ok": True}

    return blp
