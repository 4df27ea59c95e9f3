"""Reads a Wazzup webhook delivery (messages, statuses, channel updates) into the core's items."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from crm_core.inbox import (
    ChannelItem,
    DeliveryError,
    InboundItem,
    IncomingItem,
    ItemError,
    ReadDelivery,
    StatusItem,
)
from crm_core.messaging import ChatType, MessageStatus, MessageType

# Wazzup's message types to the CRM's; any other (`unsupported`, `unknown`, ...) is unsupported.
MESSAGE_TYPES = {
    "text": MessageType.TEXT,
    "image": MessageType.IMAGE,
    "audio": MessageType.AUDIO,
    "video": MessageType.VIDEO,
    "document": MessageType.DOCUMENT,
    "vcard": MessageType.CONTACT,
    "geo": MessageType.LOCATION,
    "missing_call": MessageType.MISSED_CALL,
    "wapi_template": MessageType.TEMPLATE,
}

DELIVERY_STATUSES = {
    "sent": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "read": MessageStatus.READ,
    "error": MessageStatus.FAILED,
}

# A status that says the text changed in the messenger, not how far the message got.
EDITED = "edited"


class _Unreadable(ValueError):
    """An item that cannot be read; its words go into the delivery's ItemError."""


def read_delivery(body: object, received_at: datetime) -> ReadDelivery:
    """The items of one delivery; an item that cannot be read is an ItemError and the rest is
    read. A body that is not a JSON object raises ValueError (the sender is answered 400)."""
    if not isinstance(body, Mapping):
        raise ValueError("A Wazzup delivery is a JSON object.")
    if body.get("test") is True:
        return ReadDelivery(is_test=True)
    received_at = _utc(received_at)
    readers: dict[str, Callable[[Mapping[str, Any], str], InboundItem | None]] = {
        "messages": lambda raw, place: _message(raw, place, received_at),
        "statuses": _status,
        "channelsUpdates": _channel_update,
    }
    items: list[InboundItem] = []
    errors: list[ItemError] = []
    for key, reader in readers.items():
        entries = body.get(key)
        if entries is None:
            continue
        if not isinstance(entries, list):
            errors.append(ItemError(key, f"`{key}` is not a list."))
            continue
        for index, raw in enumerate(entries):
            place = f"{key}[{index}]"
            try:
                if not isinstance(raw, Mapping):
                    raise _Unreadable("The item is not an object.")
                item = reader(raw, place)
            except _Unreadable as unreadable:
                errors.append(ItemError(place, str(unreadable)))
                continue
            if item is not None:
                items.append(item)
    return ReadDelivery(items=tuple(items), errors=tuple(errors))


def _message(raw: Mapping[str, Any], place: str, received_at: datetime) -> IncomingItem:
    contact = raw.get("contact")
    if not isinstance(contact, Mapping):
        contact = {}
    status, error = _message_status(raw)
    sent_at = raw.get("dateTime")
    return IncomingItem(
        provider_message_id=_required(raw, "messageId"),
        chat_type=_chat_type(raw.get("chatType")),
        chat_id=_chat_id(raw.get("chatId")),
        is_echo=_flag(raw.get("isEcho")),
        timestamp=received_at if sent_at is None else _moment(sent_at, "dateTime"),
        message_type=_message_type(raw),
        text=_string(raw.get("text")),
        media_url=_string(raw.get("contentUri")),
        contact_name=_string(contact.get("name")),
        contact_phone=_string(contact.get("phone")),
        contact_username=_string(contact.get("username")),
        author_name=_string(raw.get("authorName")),
        is_edited=_flag(raw.get("isEdited")),
        is_deleted=_flag(raw.get("isDeleted")),
        status=status,
        error=error,
        crm_message_id=_string(raw.get("crmMessageId")),
        channel_id=_string(raw.get("channelId")),
        place=place,
    )


def _status(raw: Mapping[str, Any], place: str) -> StatusItem | None:
    message_id = _required(raw, "messageId")
    name = _string(raw.get("status")).strip().lower()
    if name == EDITED:
        return None
    status = DELIVERY_STATUSES.get(name)
    if status is None:
        raise _Unreadable(f"The status {raw.get('status')!r} is not one Wazzup reports.")
    try:
        timestamp = _moment(raw.get("timestamp"), "timestamp")
    except _Unreadable:
        timestamp = None  # the status still counts; only its time is unknown
    return StatusItem(
        provider_message_id=message_id,
        status=status,
        error=_delivery_error(raw.get("error")) if status is MessageStatus.FAILED else None,
        timestamp=timestamp,
        place=place,
    )


def _channel_update(raw: Mapping[str, Any], place: str) -> ChannelItem:
    return ChannelItem(
        channel_id=_required(raw, "channelId"), state=_required(raw, "state"), place=place
    )


# --- fields ------------------------------------------------------------------------------------


def _required(raw: Mapping[str, Any], name: str) -> str:
    value = _string(raw.get(name))
    if not value.strip():
        raise _Unreadable(f"`{name}` is missing or empty.")
    return value


def _chat_type(value: object) -> ChatType:
    if not isinstance(value, str) or not value:
        raise _Unreadable("`chatType` is missing.")
    try:
        return ChatType(value.lower())
    except ValueError:
        raise _Unreadable(
            f"The chat type {value!r} is not supported (group chats are not)."
        ) from None


def _chat_id(value: object) -> str:
    """The chat id verbatim (a number, as Telegram's may come, kept as its digits)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value
    raise _Unreadable("`chatId` is missing or empty.")


def _message_type(raw: Mapping[str, Any]) -> MessageType:
    name = raw.get("type")
    if name is None:  # no type: plain text when there is text
        return MessageType.TEXT if _string(raw.get("text")) else MessageType.UNSUPPORTED
    return MESSAGE_TYPES.get(_string(name).lower(), MessageType.UNSUPPORTED)


def _message_status(raw: Mapping[str, Any]) -> tuple[MessageStatus | None, DeliveryError | None]:
    """An echo's status and error; an incoming message (`inbound`) has none, and an unknown
    status leaves the message without one rather than losing the message."""
    status = DELIVERY_STATUSES.get(_string(raw.get("status")).strip().lower())
    if status is MessageStatus.FAILED:
        return status, _delivery_error(raw.get("error"))
    return status, None


def _delivery_error(value: object) -> DeliveryError:
    if isinstance(value, Mapping):
        code = _string(value.get("error")) or _string(value.get("code"))
        description = _string(value.get("description")) or _string(value.get("message"))
    else:
        code, description = _string(value), ""
    return DeliveryError(code or "UNKNOWN_ERROR", description)


def _moment(value: object, name: str) -> datetime:
    """A UTC time from an ISO-8601 string (with or without `Z`, a fraction, an offset; no
    offset means UTC) or from integer milliseconds since the epoch (as channel updates give)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value / 1000, UTC)
        except (OverflowError, OSError, ValueError):
            raise _Unreadable(f"`{name}` {value!r} is not a time.") from None
    if isinstance(value, str):
        try:
            return _utc(datetime.fromisoformat(value.strip()))
        except ValueError:
            pass
    raise _Unreadable(f"`{name}` {value!r} is not a time.")


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _string(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return ""


def _flag(value: object) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")
