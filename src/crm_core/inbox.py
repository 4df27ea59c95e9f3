"""What a provider adapter reads out of a webhook delivery, in the domain's words."""

from __future__ import annotations

from datetime import datetime

import attrs

from crm_core.messaging import ChatType, MessageStatus, MessageType


@attrs.frozen
class DeliveryError:
    """The provider's error on a message: its code and its words."""

    code: str
    description: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "description": self.description}


@attrs.frozen
class IncomingItem:
    """A message the provider reports: new, edited, deleted, or the echo of an outgoing one.

    `chat_id` as the provider gives it (for phone chats the number; `contact_phone` is only a
    fallback when it is not one). `status` and `error` come with echoes only. `crm_message_id`
    is our own id when the provider echoes a message the CRM sent (it finds that row even
    before the send's answer is stored); `channel_id`, when given, must be the account's.
    """

    provider_message_id: str
    chat_type: ChatType
    chat_id: str
    is_echo: bool
    timestamp: datetime
    message_type: MessageType = MessageType.TEXT
    text: str = ""
    media_url: str = ""
    contact_name: str = ""
    contact_phone: str = ""
    author_name: str = ""
    is_edited: bool = False
    is_deleted: bool = False
    status: MessageStatus | None = None
    error: DeliveryError | None = None
    crm_message_id: str = ""
    channel_id: str = ""


@attrs.frozen
class StatusItem:
    """A new status of an outgoing message, known only by the provider's id."""

    provider_message_id: str
    status: MessageStatus
    error: DeliveryError | None = None


@attrs.frozen
class ChannelItem:
    """A channel's new state (`active`, `qr`, ...)."""

    channel_id: str
    state: str


InboundItem = IncomingItem | StatusItem | ChannelItem


@attrs.frozen
class ItemError:
    """An item that could not be applied and was skipped: its place in the delivery, and why."""

    index: int
    detail: str


@attrs.frozen
class ReceiveReport:
    """What one delivery did.

    `pending` are statuses of messages not known yet (a send's status can arrive before its
    answer is stored): the caller keeps them (on the inbox row) and offers them again later;
    `errors` are the items skipped, the rest having been applied.
    """

    created: int = 0
    updated: int = 0
    pending: tuple[StatusItem, ...] = ()
    errors: tuple[ItemError, ...] = ()

    @property
    def is_complete(self) -> bool:
        """Nothing left to apply later (skipped items are final: they cannot be read)."""
        return not self.pending
