"""What a provider adapter reads out of a webhook delivery, in the domain's words."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import attrs

from crm_core.messaging import ChatType, MessageStatus, MessageType
from crm_core.values import AccountId, DeliveryId, new_id

# How many skipped items a delivery keeps the reasons of (a body of garbage stays small).
KEPT_ITEM_ERRORS = 20


@attrs.define(slots=False, eq=False)
class Delivery:
    """A webhook delivery as received: stored before it is read, processed later (by a job,
    `sync_messages` or `crm wazzup reprocess`); `error` names the items that were skipped."""

    account_id: AccountId
    body: str
    received_at: datetime
    processed_at: datetime | None = None
    error: str | None = None
    id: DeliveryId = attrs.field(factory=lambda: DeliveryId(new_id()))

    def processed(self, skipped: Sequence[ItemError], now: datetime) -> None:
        self.processed_at = now
        kept = [f"{item.place}: {item.detail}" for item in skipped[:KEPT_ITEM_ERRORS]]
        if len(skipped) > KEPT_ITEM_ERRORS:
            kept.append(f"... and {len(skipped) - KEPT_ITEM_ERRORS} more")
        self.error = "\n".join(kept) or None


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
    before the send's answer is stored). `channel_id` routes the item to the account with
    that channel. `place` says where in the delivery it stood (`messages[3]`).
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
    contact_username: str = ""
    author_name: str = ""
    is_edited: bool = False
    is_deleted: bool = False
    status: MessageStatus | None = None
    error: DeliveryError | None = None
    crm_message_id: str = ""
    channel_id: str = ""
    place: str = ""


@attrs.frozen
class StatusItem:
    """A new status of an outgoing message, known only by the provider's id."""

    provider_message_id: str
    status: MessageStatus
    error: DeliveryError | None = None
    timestamp: datetime | None = None
    place: str = ""


@attrs.frozen
class ChannelItem:
    """A channel's new state (`active`, `qr`, ...)."""

    channel_id: str
    state: str
    place: str = ""


InboundItem = IncomingItem | StatusItem | ChannelItem


@attrs.frozen
class ItemError:
    """An item that could not be read or applied and was skipped: where it stood in the
    delivery (`messages[3]`), and why."""

    place: str
    detail: str


@attrs.frozen
class ReadDelivery:
    """A webhook body as the provider adapter read it: the items it understood, those it
    could not read, and whether it was only the provider's test of the address."""

    items: tuple[InboundItem, ...] = ()
    errors: tuple[ItemError, ...] = ()
    is_test: bool = False


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
