"""Messaging accounts and messages, provider-neutral: chat types, statuses, sender matching."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from datetime import UTC, datetime

import attrs

from crm_core.contact import Contact
from crm_core.errors import Conflict, InvalidValue, ValidationFailed
from crm_core.values import (
    AccountId,
    CompanyId,
    ContactId,
    FunnelId,
    LeadId,
    MessageId,
    PhoneNumber,
    new_id,
)


class ChatType(enum.StrEnum):
    WHATSAPP = "whatsapp"
    INSTAGRAM = "instagram"
    TELEGRAM = "telegram"
    VIBER = "viber"
    VK = "vk"
    AVITO = "avito"
    MAX = "max"

    @property
    def label(self) -> str:
        return CHAT_TYPE_LABELS[self]

    @property
    def is_phone_based(self) -> bool:
        return self in (ChatType.WHATSAPP, ChatType.VIBER)

    @property
    def text_limit(self) -> int:
        return {ChatType.WHATSAPP: 10_000, ChatType.TELEGRAM: 4_096}.get(self, 1_000)


CHAT_TYPE_LABELS = {
    ChatType.WHATSAPP: "WhatsApp",
    ChatType.INSTAGRAM: "Instagram",
    ChatType.TELEGRAM: "Telegram",
    ChatType.VIBER: "Viber",
    ChatType.VK: "ВКонтакте",
    ChatType.AVITO: "Авито",
    ChatType.MAX: "MAX",
}


class MessageStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"

    @property
    def label(self) -> str:
        return STATUS_LABELS[self]


STATUS_LABELS = {
    MessageStatus.PENDING: "Ожидает отправки",
    MessageStatus.SENT: "Отправлено",
    MessageStatus.DELIVERED: "Доставлено",
    MessageStatus.READ: "Прочитано",
    MessageStatus.FAILED: "Ошибка",
}

_STATUS_RANK = {
    MessageStatus.PENDING: 0,
    MessageStatus.SENT: 1,
    MessageStatus.DELIVERED: 2,
    MessageStatus.READ: 3,
}


class MessageType(enum.StrEnum):
    TEXT = "text"
    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    DOCUMENT = "document"
    CONTACT = "contact"
    LOCATION = "location"
    MISSED_CALL = "missed_call"
    TEMPLATE = "template"
    UNSUPPORTED = "unsupported"

    @property
    def label(self) -> str:
        return MESSAGE_TYPE_LABELS[self]


MESSAGE_TYPE_LABELS = {
    MessageType.TEXT: "Текст",
    MessageType.IMAGE: "Изображение",
    MessageType.VIDEO: "Видео",
    MessageType.AUDIO: "Аудио",
    MessageType.DOCUMENT: "Документ",
    MessageType.CONTACT: "Контакт",
    MessageType.LOCATION: "Геолокация",
    MessageType.MISSED_CALL: "Пропущенный звонок",
    MessageType.TEMPLATE: "Шаблон",
    MessageType.UNSUPPORTED: "Не поддерживается",
}


@attrs.define(slots=False, eq=False)
class MessagingAccount:
    """A company's link to a messaging provider's channel."""

    company_id: CompanyId
    name: str
    api_key_encrypted: str
    api_key_hint: str
    webhook_secret: str
    api_url: str = ""
    instance_id: str = ""
    chat_type: ChatType = ChatType.WHATSAPP
    is_active: bool = True
    is_connected: bool = False
    channel_state: str = ""
    last_sync: datetime | None = None
    last_error: str = ""
    metadata: dict[str, object] = attrs.field(factory=dict)
    default_funnel_id: FunnelId | None = None
    auto_create_leads: bool = True
    id: AccountId = attrs.field(factory=lambda: AccountId(new_id()))
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def ensure_can_send(self) -> None:
        """Providers may accept a send on a broken channel and drop it, so we refuse first."""
        if not self.is_active:
            raise Conflict("The account is inactive: activate it before sending.")
        if not self.instance_id:
            raise Conflict("The account has no channel: set instance_id or run check_connection.")
        if self.channel_state and self.channel_state != "active":
            raise Conflict(
                f"The channel state is {self.channel_state}: fix the channel in the provider, "
                "then run check_connection."
            )

    def record_channel_state(self, state: str, error: str, now: datetime) -> None:
        self.channel_state = state
        self.is_connected = state == "active" and not error
        self.last_error = error
        self.updated_at = now


def normalize_chat_id(chat_type: ChatType, raw: str) -> str:
    """The provider's chat id as stored: digits for phone chats, the raw handle otherwise."""
    text = raw.strip()
    if chat_type.is_phone_based:
        digits = re.sub(r"\D", "", text)
        if not digits:
            raise InvalidValue("A phone chat id must contain digits.")
        return digits
    if chat_type == ChatType.INSTAGRAM:
        return text.removeprefix("@")
    return text


def sender_phone(chat_type: ChatType, chat_id: str, region: str) -> PhoneNumber | None:
    """The E.164 number a phone-based chat id stands for (None for handle-based chats).

    Providers send international digits; digits that are no international number are read
    as written in `region` (`89991234567`).
    """
    if not chat_type.is_phone_based:
        return None
    try:
        digits = normalize_chat_id(chat_type, chat_id)
    except InvalidValue:
        return None
    for text in ("+" + digits, digits):
        try:
            return PhoneNumber.parse(text, region)
        except InvalidValue:
            continue
    return None


def sender_handle(chat_type: ChatType, chat_id: str) -> str | None:
    """The handle a handle-based chat id stands for (None for phone chats or a blank id)."""
    if chat_type.is_phone_based:
        return None
    return normalize_chat_id(chat_type, chat_id) or None


def is_sender(contact: Contact, chat_type: ChatType, chat_id: str, region: str) -> bool:
    """Whether the contact wrote from this chat: the exact number for phone chats (never a
    "contains" match), the stored handle or chat id for the others."""
    phone = sender_phone(chat_type, chat_id, region)
    if phone is not None:
        return phone in contact.phones
    handle = sender_handle(chat_type, chat_id)
    return handle is not None and contact.handle_for(chat_type) == handle


def choose_sender(
    candidates: Iterable[Contact], chat_type: ChatType, chat_id: str, region: str
) -> Contact | None:
    """The contact a message came from: of those that match, the oldest (then by id)."""
    matching = [c for c in candidates if is_sender(c, chat_type, chat_id, region)]
    return min(matching, key=_age, default=None)


def _age(contact: Contact) -> tuple[datetime, str]:
    return (contact.created_at or datetime.max.replace(tzinfo=UTC), str(contact.id))


@attrs.define(slots=False, eq=False)
class Message:
    company_id: CompanyId
    account_id: AccountId
    chat_type: ChatType
    chat_id: str
    is_incoming: bool
    timestamp: datetime
    message_type: MessageType = MessageType.TEXT
    text: str = ""
    media_url: str = ""
    caption: str = ""
    provider_message_id: str | None = None
    contact_id: ContactId | None = None
    lead_id: LeadId | None = None
    from_number: str = ""
    to_number: str = ""
    status: MessageStatus = MessageStatus.PENDING
    is_read: bool = False
    error: dict[str, str] | None = None
    author_name: str = ""
    is_edited: bool = False
    is_deleted: bool = False
    metadata: dict[str, object] = attrs.field(factory=dict)
    id: MessageId = attrs.field(factory=lambda: MessageId(new_id()))
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def outgoing(
        cls,
        *,
        account: MessagingAccount,
        chat_id: str,
        text: str,
        now: datetime,
        message_type: MessageType = MessageType.TEXT,
        media_url: str = "",
    ) -> Message:
        """A message about to be sent: stored as pending before the provider is called."""
        try:
            message_type = MessageType(message_type)
        except ValueError:
            raise ValidationFailed.on("message_type", "Not a valid message type.") from None
        if message_type == MessageType.TEXT and not text.strip():
            raise ValidationFailed.on("message", "This field may not be blank.")
        if len(text) > account.chat_type.text_limit:
            raise ValidationFailed.on(
                "message",
                f"Ensure this field has no more than {account.chat_type.text_limit} characters.",
            )
        if message_type != MessageType.TEXT and not media_url:
            raise ValidationFailed.on("media_url", "A media message needs media_url.")
        return cls(
            company_id=account.company_id,
            account_id=account.id,
            chat_type=account.chat_type,
            chat_id=chat_id,
            is_incoming=False,
            timestamp=now,
            message_type=message_type,
            text=text,
            media_url=media_url,
            from_number=account.instance_id,
            to_number=chat_id,
            created_at=now,
            updated_at=now,
        )

    def advance_status(self, status: MessageStatus, now: datetime) -> bool:
        """Statuses only move forward; `failed` is final. Returns whether anything changed."""
        if self.status == MessageStatus.FAILED:
            return False
        if status != MessageStatus.FAILED and _STATUS_RANK[status] <= _STATUS_RANK[self.status]:
            return False
        self.status = status
        self.updated_at = now
        return True

    def fail(self, code: str, description: str, now: datetime) -> None:
        """Failed is final: the first error is kept."""
        if self.status == MessageStatus.FAILED:
            return
        self.status = MessageStatus.FAILED
        self.error = {"code": code, "description": description}
        self.updated_at = now

    def accepted(self, provider_message_id: str, now: datetime) -> None:
        """The provider took the message; a failed one stays failed with its error."""
        self.provider_message_id = provider_message_id
        self.advance_status(MessageStatus.SENT, now)

    def ensure_retryable(self) -> None:
        if self.is_incoming or self.status != MessageStatus.FAILED:
            raise Conflict("Only a failed outgoing message can be retried.")
        self.status = MessageStatus.PENDING
        self.error = None

    def mark_read(self, now: datetime) -> bool:
        if not self.is_incoming or self.is_read:
            return False
        self.is_read = True
        self.updated_at = now
        return True

    def edit(self, text: str, now: datetime) -> None:
        self.text, self.is_edited, self.updated_at = text, True, now

    def delete(self, now: datetime) -> None:
        self.is_deleted, self.updated_at = True, now
