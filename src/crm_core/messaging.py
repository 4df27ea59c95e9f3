"""Messaging accounts and messages, provider-neutral: chat types, statuses, sender matching."""

from __future__ import annotations

import enum
import hmac
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import attrs

from crm_core.contact import Contact
from crm_core.errors import (
    Conflict,
    InvalidValue,
    ProviderFailed,
    ProviderRefused,
    ProviderTimedOut,
    ValidationFailed,
)
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

# How long a send remembers its Idempotency-Key: a repeat within it sends nothing.
IDEMPOTENCY_WINDOW = timedelta(hours=24)


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

    @property
    def needs_channel_check(self) -> bool:
        """A channel whose state was never learnt (or could not be): check it before sending."""
        return bool(self.instance_id) and not self.channel_state

    def ensure_connected(self) -> None:
        """`ensure_can_send`, and the last check found nothing wrong (a known key, the right
        transport): a channel can be `active` and still unusable for this account."""
        self.ensure_can_send()
        if not self.channel_state or not self.is_connected:
            cause = self.last_error or "the channel has not been checked"
            raise Conflict(
                f"The account is not connected ({cause}): fix it, then run check_connection."
            )

    def change_connection(
        self,
        now: datetime,
        *,
        api_key_encrypted: str | None = None,
        api_key_hint: str | None = None,
        api_url: str | None = None,
        instance_id: str | None = None,
        chat_type: ChatType | None = None,
    ) -> None:
        """Changes what the account connects with; a change forgets the channel's state, so the
        next send checks it again."""
        changes = {
            "api_key_encrypted": api_key_encrypted,
            "api_key_hint": api_key_hint,
            "api_url": api_url,
            "instance_id": instance_id,
            "chat_type": chat_type,
        }
        changed = False
        for name, value in changes.items():
            if value is not None and value != getattr(self, name):
                setattr(self, name, value)
                changed = True
        if changed:
            self.channel_state, self.is_connected, self.last_error = "", False, ""
        self.updated_at = now

    def accepts_webhook(self, secret: str) -> bool:
        """Whether a webhook call carries this account's secret (compared in constant time)."""
        return bool(secret) and hmac.compare_digest(secret.encode(), self.webhook_secret.encode())


def api_key_hint(api_key: str) -> str:
    """What is shown of a key: `…` and its last 4 characters."""
    return "…" + api_key.strip()[-4:]


def check_outgoing(
    chat_type: ChatType, message_type: MessageType | str, text: str, media_url: str
) -> MessageType:
    """The checks a message passes before anything is stored or sent: a known type, text for a
    text message, media for a media message, and the chat type's length limit."""
    try:
        message_type = MessageType(message_type)
    except ValueError:
        raise ValidationFailed.on("message_type", "Not a valid message type.") from None
    if message_type == MessageType.TEXT and not text.strip():
        raise ValidationFailed.on("message", "This field may not be blank.")
    if len(text) > chat_type.text_limit:
        raise ValidationFailed.on(
            "message", f"Ensure this field has no more than {chat_type.text_limit} characters."
        )
    if message_type != MessageType.TEXT and not media_url:
        raise ValidationFailed.on("media_url", "A media message needs media_url.")
    return message_type


# --- what the provider gateway raises, and what a send raises -------------------------------


TIMEOUT_CODE = "TIMEOUT"
PROVIDER_FAILED_CODE = "PROVIDER_FAILED"


def failure_of(error: ProviderFailed) -> tuple[str, str]:
    """The (code, description) a failed message keeps for a provider error."""
    if isinstance(error, ProviderRefused):
        return error.code, error.description or error.detail
    if isinstance(error, ProviderTimedOut):
        return TIMEOUT_CODE, error.detail
    return PROVIDER_FAILED_CODE, error.detail


# --- whom an outgoing message goes to --------------------------------------------------------

_USERNAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{2,}$")


@attrs.frozen
class Recipient:
    """Whom a message goes to, in the one form the chat type addresses them by: a chat id
    (whatsapp and viber: the number's digits), or for telegram a phone or a username."""

    chat_id: str | None = None
    phone: PhoneNumber | None = None
    username: str | None = None

    @property
    def stored(self) -> str:
        """The message's `chat_id` as stored: `@name` for a username, `+digits` for a phone,
        so that a retry addresses the recipient the same way."""
        if self.username is not None:
            return "@" + self.username
        if self.phone is not None:
            return self.phone.e164
        return self.chat_id or ""

    @classmethod
    def parse(cls, chat_type: ChatType, text: str, region: str) -> Recipient:
        """`to` as a user writes it; refused (a field error on `to`) when it fits no form."""
        text = text.strip()
        if not text:
            raise ValidationFailed.on("to", "This field may not be blank.")
        if chat_type.is_phone_based:
            phone = sender_phone(chat_type, text, region)
            if phone is None:
                raise ValidationFailed.on("to", "Not a valid phone number.")
            return cls(chat_id=phone.digits)
        if chat_type == ChatType.TELEGRAM:
            return cls._telegram(text, region)
        handle = normalize_chat_id(chat_type, text)
        if not handle:
            raise ValidationFailed.on("to", "This field may not be blank.")
        return cls(chat_id=handle)

    @classmethod
    def _telegram(cls, text: str, region: str) -> Recipient:
        # A phone never goes to the chat id: the provider takes it there and the message fails.
        if text.startswith("+"):
            try:
                return cls(phone=PhoneNumber.parse(text, region))
            except InvalidValue as error:
                raise ValidationFailed.on("to", error.detail) from None
        if text.isdigit():
            return cls(chat_id=text)
        name = text.removeprefix("@")
        if not _USERNAME.match(name):
            raise ValidationFailed.on("to", "Not a Telegram username, phone or chat id.")
        return cls(username=name)

    @classmethod
    def stored_as(cls, chat_type: ChatType, chat_id: str) -> Recipient:
        """The recipient of a stored message (the inverse of `stored`)."""
        if chat_type == ChatType.TELEGRAM and chat_id.startswith("@"):
            return cls(username=chat_id[1:])
        if chat_type == ChatType.TELEGRAM and chat_id.startswith("+"):
            return cls(phone=PhoneNumber(chat_id))
        return cls(chat_id=chat_id)

    @classmethod
    def of_contact(cls, chat_type: ChatType, contact: Contact) -> Recipient:
        """The contact's address on the chat type: for whatsapp and viber its `whatsapp`
        number, else its `phone`; for telegram its handle (username or chat id), else its
        phone; for instagram its handle."""
        if chat_type == ChatType.TELEGRAM:
            handle = contact.telegram.strip()
            if handle:
                return (
                    cls(chat_id=handle)
                    if handle.isdigit()
                    else cls(username=handle[1:] if handle.startswith("@") else handle)
                )
            if contact.phone is not None:
                return cls(phone=contact.phone)
        else:
            address = contact.handle_for(chat_type)
            if address:
                return cls(chat_id=address)
        raise ValidationFailed.on("contact", f"This contact has no {chat_type.label} address.")

    def new_contact(self, company_id: CompanyId, chat_type: ChatType, now: datetime) -> Contact:
        """A contact for a recipient nobody matched: named by the number or handle, `source`
        the chat type."""
        return contact_for_chat(
            company_id, chat_type, self.stored, "", now, phone=self._number(chat_type)
        )

    def _number(self, chat_type: ChatType) -> PhoneNumber | None:
        if self.phone is not None:
            return self.phone
        if chat_type.is_phone_based and self.chat_id:
            return PhoneNumber("+" + self.chat_id)
        return None


def contact_for_chat(
    company_id: CompanyId,
    chat_type: ChatType,
    chat_id: str,
    name: str,
    now: datetime,
    phone: PhoneNumber | None = None,
) -> Contact:
    """A contact made for a chat that matched nobody: named `name`, else by its number or
    handle; the address is stored where the sender matching looks for it; `source` is the
    chat type.

    Built directly: a Telegram, VK or Avito chat is a channel of its own, which the
    hand-entered contact's "one of phone, email, whatsapp, instagram" rule does not know.
    """
    contact = Contact(
        company_id=company_id,
        first_name=name.strip() or (phone.e164 if phone else chat_id),
        source=chat_type.value,
        created_at=now,
        updated_at=now,
    )
    if phone is not None:
        contact.phone = phone
        if chat_type == ChatType.WHATSAPP:
            contact.whatsapp = phone
    elif chat_type == ChatType.INSTAGRAM:
        contact.instagram = chat_id
    elif chat_type == ChatType.TELEGRAM:
        contact.telegram = chat_id
    return contact


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
        message_type = check_outgoing(account.chat_type, message_type, text, media_url)
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

    @classmethod
    def delivered(
        cls,
        *,
        account: MessagingAccount,
        provider_message_id: str,
        chat_id: str,
        is_incoming: bool,
        timestamp: datetime,
        now: datetime,
        message_type: MessageType = MessageType.TEXT,
        text: str = "",
        media_url: str = "",
        author_name: str = "",
        status: MessageStatus | None = None,
        error: dict[str, str] | None = None,
    ) -> Message:
        """A message the provider tells us about: incoming (delivered, unread), or outgoing
        but written elsewhere (in the provider's own window), with the status it reports."""
        own = account.instance_id
        return cls(
            company_id=account.company_id,
            account_id=account.id,
            chat_type=account.chat_type,
            chat_id=chat_id,
            is_incoming=is_incoming,
            timestamp=timestamp,
            message_type=message_type,
            text=text,
            media_url=media_url,
            provider_message_id=provider_message_id,
            from_number=chat_id if is_incoming else own,
            to_number=own if is_incoming else chat_id,
            status=MessageStatus.DELIVERED if is_incoming else (status or MessageStatus.SENT),
            author_name="" if is_incoming else author_name,
            error=error if status == MessageStatus.FAILED and not is_incoming else None,
            created_at=now,
            updated_at=now,
        )

    def apply_status(
        self, status: MessageStatus, error: dict[str, str] | None, now: datetime
    ) -> bool:
        """A reported status: forward only, `failed` final with its error. Returns whether
        anything changed."""
        if status == MessageStatus.FAILED:
            if self.status == MessageStatus.FAILED:
                return False
            error = error or {}
            self.fail(error.get("code", "UNKNOWN_ERROR"), error.get("description", ""), now)
            return True
        return self.advance_status(status, now)

    def absorb(self, duplicate: Message, now: datetime) -> None:
        """Takes over what a second row of the same provider message learnt (an echo stored
        before the send's answer): its status, and an edit or deletion."""
        self.apply_status(duplicate.status, duplicate.error, now)
        if duplicate.is_edited:
            self.edit(duplicate.text, now)
        if duplicate.is_deleted:
            self.delete(now)

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
