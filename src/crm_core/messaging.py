"""Messaging accounts and messages, provider-neutral: chat types, statuses, sender matching."""

from __future__ import annotations

import enum
import hmac
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

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
    bounded_text,
    new_id,
)

if TYPE_CHECKING:
    from crm_core.inbox import IncomingItem

# How long a send remembers its Idempotency-Key: a repeat within it sends nothing.
IDEMPOTENCY_WINDOW = timedelta(hours=24)
# How long after a send an echo that does not name our id may still be matched to it by
# chat and text (the provider echoes within seconds; its answer may come later or never).
ECHO_WINDOW = timedelta(minutes=1)
# A message still `pending` this long after its send began was never settled (the process
# died between storing it and recording the answer): the jobs layer settles it.
SEND_SETTLE_AFTER = timedelta(minutes=2)

DEFAULT_API_URL = "https://api.wazzup24.com"
ACTIVE = "active"
WABA_TRANSPORT = "wapi"
WABA_TEXT_LIMIT = 1_024
REPEATED_SEND_CODE = "REPEATED_CRM_MESSAGE_ID"

# What to do about a channel that is not active, by its state (lower-cased).
STATE_ADVICE = {
    "qr": "scan the QR code in Wazzup",
    "qridle": "scan the QR code in Wazzup",
    "unauthorized": "authorise the channel again in Wazzup",
    "waitforpassword": "enter the two-factor password in Wazzup",
    "notenoughmoney": "pay for the channel in Wazzup",
    "phoneunavailable": "bring the phone online",
    "openelsewhere": "close the channel where it is open elsewhere",
    "init": "wait until the channel has started",
}


def state_advice(state: str) -> str:
    return STATE_ADVICE.get(state.lower(), "fix the channel in Wazzup")


def normal_state(state: str) -> str:
    """States compared without case (`active` and `Active` are one state)."""
    return ACTIVE if state.lower() == ACTIVE else state


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
    api_key_encrypted: str = attrs.field(repr=False)
    api_key_hint: str
    webhook_secret: str = attrs.field(repr=False)
    api_url: str = DEFAULT_API_URL
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
    # The channel's transport as the provider names it (`wapi` is WhatsApp Business API,
    # with its own text limit); learnt from the channel list.
    transport: str = ""
    # Which accounts share one provider key (the provider keeps one webhook per key): a
    # digest of the key, never the key.
    api_key_fingerprint: str = ""
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
        self.channel_state = normal_state(state)
        self.is_connected = self.channel_state == ACTIVE and not error
        self.last_error = error
        self.updated_at = now

    @property
    def text_limit(self) -> int:
        """The longest text the channel takes (a WABA channel takes less than WhatsApp)."""
        if self.transport == WABA_TRANSPORT:
            return WABA_TEXT_LIMIT
        return self.chat_type.text_limit

    def assess(self, channels: Sequence[ChannelView]) -> tuple[ChannelView | None, str | None]:
        """The account's channel among the key's channels, and what is wrong with it (None:
        connected). Without `instance_id`, the one channel of the chat type is taken."""
        label = self.chat_type.label
        if not self.instance_id:
            fitting = [c for c in channels if c.chat_type == self.chat_type.value]
            if len(fitting) == 1:
                return fitting[0], self._channel_error(fitting[0])
            if not fitting:
                return None, f"no {label} channel found for this API key (not found)"
            return None, f"several {label} channels: set instance_id to one of them"
        channel = next((c for c in channels if c.channel_id == self.instance_id), None)
        if channel is None:
            return None, f"channel {self.instance_id} not found for this API key"
        return channel, self._channel_error(channel)

    def _channel_error(self, channel: ChannelView) -> str | None:
        if channel.chat_type != self.chat_type.value:
            return (
                f"channel {channel.channel_id} is a {channel.chat_type} channel, "
                f"not {self.chat_type.value}"
            )
        if normal_state(channel.state) != ACTIVE:
            return f"channel state is {channel.state}: {state_advice(channel.state)}"
        return None

    def record_check(self, channel: ChannelView | None, error: str | None, now: datetime) -> None:
        """What a check of the key's channels found: the channel taken (when none was set),
        its transport and state, and the error."""
        if channel is not None:
            if not self.instance_id:
                self.instance_id = channel.channel_id
            self.transport = channel.transport
        self.record_channel_state(channel.state if channel else "", error or "", now)
        self.last_sync = now

    def follow_channel(self, channel_id: str, state: str, now: datetime) -> bool:
        """A channel's new state as the provider reports it; only the account's own channel
        counts (one key may have several). Returns whether it was this account's."""
        if not channel_id or channel_id != self.instance_id:
            return False
        state = normal_state(state)
        error = "" if state == ACTIVE else f"channel state is {state}: {state_advice(state)}"
        self.record_channel_state(state, error, now)
        return True

    def serves(self, channel_id: str) -> bool:
        """Whether an item of this channel belongs to this account."""
        return bool(channel_id) and channel_id == self.instance_id

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

    @classmethod
    def create(
        cls,
        *,
        company_id: CompanyId,
        name: str,
        api_key_encrypted: str,
        api_key_hint: str,
        api_key_fingerprint: str,
        webhook_secret: str,
        now: datetime,
    ) -> MessagingAccount:
        return cls(
            company_id=company_id,
            name=_account_name(name),
            api_key_encrypted=api_key_encrypted,
            api_key_hint=api_key_hint,
            api_key_fingerprint=api_key_fingerprint,
            webhook_secret=webhook_secret,
            created_at=now,
            updated_at=now,
        )

    def change(self, now: datetime, **fields: Any) -> None:
        """An admin's change. A new key, address, channel or chat type forgets the channel's
        state (the next send checks it again)."""
        unknown = set(fields) - _ACCOUNT_FIELDS
        if unknown:
            raise ValueError(f"not an account field: {sorted(unknown)}")
        if "name" in fields:
            fields["name"] = _account_name(fields["name"])
        if "api_url" in fields:
            fields["api_url"] = _api_url(fields["api_url"])
        if "chat_type" in fields:
            try:
                fields["chat_type"] = ChatType(fields["chat_type"])
            except ValueError:
                raise ValidationFailed.on("integration_type", "Not a valid choice.") from None
        if "instance_id" in fields:
            fields["instance_id"] = _field_text("instance_id", fields["instance_id"] or "", 255)
        if "metadata" in fields:
            fields["metadata"] = dict(fields["metadata"] or {})
        reconnect = any(
            name in _CONNECTION_FIELDS and value != getattr(self, name)
            for name, value in fields.items()
        )
        for name, value in fields.items():
            setattr(self, name, value)
        if reconnect:
            self.channel_state, self.is_connected, self.last_error = "", False, ""
            self.transport = ""
        self.updated_at = now

    def accepts_webhook(self, secret: str) -> bool:
        """Whether a webhook call carries this account's secret (compared in constant time)."""
        return bool(secret) and hmac.compare_digest(secret.encode(), self.webhook_secret.encode())


_CONNECTION_FIELDS = frozenset(
    {"api_key_encrypted", "api_key_fingerprint", "api_url", "instance_id", "chat_type"}
)
_ACCOUNT_FIELDS = _CONNECTION_FIELDS | {
    "name",
    "api_key_hint",
    "is_active",
    "metadata",
    "default_funnel_id",
    "auto_create_leads",
}


def _field_text(field: str, raw: object, max_length: int) -> str:
    try:
        return bounded_text(raw, max_length).strip()
    except InvalidValue as error:
        raise ValidationFailed.on(field, error.detail) from None


def _account_name(raw: object) -> str:
    name = _field_text("name", raw, 255)
    if not name:
        raise ValidationFailed.on("name", "This field may not be blank.")
    return name


def _api_url(raw: object) -> str:
    """The provider's address; blank is the default one."""
    url = _field_text("api_url", raw or "", 500)
    if not url:
        return DEFAULT_API_URL
    if not _HTTP_URL.match(url):
        raise ValidationFailed.on("api_url", "Enter an http(s) URL.")
    return url


def api_key_hint(api_key: str) -> str:
    """What is shown of a key: `…` and its last 4 characters."""
    return "…" + api_key.strip()[-4:]


def check_outgoing(
    account: MessagingAccount, message_type: MessageType | str, text: str, media_url: str
) -> MessageType:
    """The checks a message passes before anything is stored or sent: a known type, text for a
    text message, an http(s) address for a media message, and the channel's length limit."""
    try:
        message_type = MessageType(message_type)
    except ValueError:
        raise ValidationFailed.on("message_type", "Not a valid message type.") from None
    if message_type == MessageType.TEXT and not text.strip():
        raise ValidationFailed.on("message", "This field may not be blank.")
    if len(text) > account.text_limit:
        raise ValidationFailed.on(
            "message", f"Ensure this field has no more than {account.text_limit} characters."
        )
    if message_type != MessageType.TEXT:
        if not media_url:
            raise ValidationFailed.on("media_url", "A media message needs media_url.")
        if not _HTTP_URL.match(media_url):
            raise ValidationFailed.on("media_url", "Enter an http(s) URL.")
    return message_type


_HTTP_URL = re.compile(r"^https?://[^\s/?#]+[^\s]*$", re.IGNORECASE)


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


class ChannelView(Protocol):
    """What the account's rules read of a provider channel (the gateway's `Channel`)."""

    @property
    def channel_id(self) -> str: ...

    @property
    def transport(self) -> str: ...

    @property
    def chat_type(self) -> str: ...

    @property
    def state(self) -> str: ...


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
        contact.telegram = chat_id.removeprefix("@")
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
    return handle is not None and handle in contact.handles_for(chat_type)


def choose_sender(
    candidates: Iterable[Contact], chat_type: ChatType, chat_id: str, region: str
) -> Contact | None:
    """The contact a message came from: of those that match, the oldest (then by id)."""
    return match_senders(candidates, chat_type, [chat_id], region).get(chat_id)


def match_senders(
    candidates: Iterable[Contact], chat_type: ChatType, chat_ids: Iterable[str], region: str
) -> dict[str, Contact]:
    """`choose_sender` for many chats at once: each chat's contact among the candidates (the
    rule of `is_sender`), for the chats that have one."""
    by_address: dict[object, list[Contact]] = {}
    for contact in candidates:
        addresses: set[object] = set(contact.phones)
        addresses |= {("handle", handle) for handle in contact.handles_for(chat_type)}
        for address in addresses:
            by_address.setdefault(address, []).append(contact)
    found = {}
    for chat_id in chat_ids:
        phone = sender_phone(chat_type, chat_id, region)
        if phone is not None:
            matching = by_address.get(phone, [])
        else:
            handle = sender_handle(chat_type, chat_id)
            matching = by_address.get(("handle", handle), []) if handle is not None else []
        if matching:
            found[chat_id] = min(matching, key=_age)
    return found


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
    # When the CRM last handed this message to the provider, and whether that attempt ended
    # without knowing if the provider took it (a timeout, a dropped connection).
    send_attempted_at: datetime | None = None
    outcome_unknown: bool = False
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
        message_type = check_outgoing(account, message_type, text, media_url)
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
            send_attempted_at=now,
        )

    def advance_status(self, status: MessageStatus, now: datetime) -> bool:
        """Statuses only move forward; `failed` is final, unless its outcome was unknown: the
        provider then says what became of it. Returns whether anything changed."""
        if self.status == MessageStatus.FAILED:
            if not self.outcome_unknown or status == MessageStatus.FAILED:
                return False
            self.error, self.outcome_unknown = None, False
        elif status != MessageStatus.FAILED and _STATUS_RANK[status] <= _STATUS_RANK[self.status]:
            return False
        self.status = status
        self.updated_at = now
        return True

    def fail(
        self, code: str, description: str, now: datetime, *, outcome_unknown: bool = False
    ) -> None:
        """Failed is final (the first error is kept), unless the outcome is unknown: a
        refusal the provider reports later replaces that."""
        if self.status == MessageStatus.FAILED and not self.outcome_unknown:
            return
        if outcome_unknown and self.status not in (MessageStatus.PENDING, MessageStatus.FAILED):
            return  # the provider's echo or a status already said it has the message
        self.status = MessageStatus.FAILED
        self.error = {"code": code, "description": description}
        self.outcome_unknown = outcome_unknown
        self.updated_at = now

    def accepted(self, provider_message_id: str, now: datetime, chat_id: str | None = None) -> None:
        """The provider took the message. `chat_id`: the chat it will use from now on (a
        telegram send by username or phone), kept as the message's chat."""
        self.provider_message_id = provider_message_id
        if chat_id and chat_id != self.chat_id:
            self.chat_id = self.to_number = chat_id
        self.advance_status(MessageStatus.SENT, now)

    def sending(self, now: datetime) -> None:
        """A (re)send begins: pending until the provider answers."""
        if self.is_incoming or self.status != MessageStatus.FAILED:
            raise Conflict("Only a failed outgoing message can be retried.")
        self.status, self.error, self.outcome_unknown = MessageStatus.PENDING, None, False
        self.send_attempted_at = self.updated_at = now

    def already_sent(self, now: datetime) -> None:
        """The provider refused a resend as a repeat of a message it already has: it is sent
        (its own id comes with the echo or a status, or never)."""
        self.error, self.outcome_unknown = None, False
        if self.status in (MessageStatus.FAILED, MessageStatus.PENDING):
            self.status = MessageStatus.SENT
        self.updated_at = now

    def settle_unanswered(self, now: datetime) -> bool:
        """A send whose answer was never recorded (its process died): failed, outcome
        unknown, so that an echo or a status can still settle it and a retry is allowed."""
        if self.status != MessageStatus.PENDING:
            return False
        self.fail(
            "NO_ANSWER",
            "The send's answer was never recorded: it may or may not have been sent.",
            now,
            outcome_unknown=True,
        )
        return True

    def awaits_echo(self, now: datetime) -> bool:
        """Whether an echo without our id may still be this message: a send of ours still
        pending, or failed with its outcome unknown, attempted within the echo window."""
        return (
            not self.is_incoming
            and (self.status == MessageStatus.PENDING or self.outcome_unknown)
            and self.send_attempted_at is not None
            and now - self.send_attempted_at <= ECHO_WINDOW
        )

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
        anything changed (an incoming message has no delivery status to change)."""
        if self.is_incoming:
            return False
        if status == MessageStatus.FAILED:
            if self.status == MessageStatus.FAILED and not self.outcome_unknown:
                return False
            error = error or {}
            self.fail(error.get("code", "UNKNOWN_ERROR"), error.get("description", ""), now)
            return True
        return self.advance_status(status, now)

    def apply_item(self, item: IncomingItem, now: datetime) -> bool:
        """What a repeated, edited, deleted or echoed delivery of this message changes.
        Returns whether anything changed."""
        changed = False
        if self.provider_message_id is None:
            self.provider_message_id = item.provider_message_id
            changed = True
        if item.is_edited and (item.text != self.text or not self.is_edited):
            self.edit(item.text, now)
            changed = True
        if item.is_deleted and not self.is_deleted:
            self.delete(now)
            changed = True
        if item.is_echo and not self.is_incoming:
            error = item.error.as_dict() if item.error else None
            changed |= self.apply_status(item.status or MessageStatus.SENT, error, now)
        return changed

    def ensure_retryable(self) -> None:
        if self.is_incoming or self.status != MessageStatus.FAILED:
            raise Conflict("Only a failed outgoing message can be retried.")

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
