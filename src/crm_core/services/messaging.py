"""Messaging: provider accounts, sending (stored first, never lost), and what webhooks report."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs

from crm_core.activity import Activity, ActivityType, Links
from crm_core.contact import Contact
from crm_core.errors import (
    DomainError,
    MessageNotSent,
    NotFound,
    ProviderFailed,
    ProviderRefused,
    ProviderRejectedKey,
    ProviderTimedOut,
    ValidationFailed,
)
from crm_core.inbox import (
    ChannelItem,
    InboundItem,
    IncomingItem,
    ItemError,
    ReceiveReport,
    StatusItem,
)
from crm_core.lead import Lead
from crm_core.messaging import (
    IDEMPOTENCY_WINDOW,
    TIMEOUT_CODE,
    ChatType,
    Message,
    MessageStatus,
    MessageType,
    MessagingAccount,
    Recipient,
    api_key_hint,
    check_outgoing,
    contact_for_chat,
    failure_of,
    normalize_chat_id,
    sender_phone,
)
from crm_core.ports import (
    Channel,
    Clock,
    MessagingGateway,
    OutgoingMessage,
    ProviderConnection,
    SecretBox,
    UnitOfWork,
)
from crm_core.services.base import UnitOfWorkFactory, UseCases, referenced
from crm_core.services.senders import find_sender
from crm_core.tenancy import Actor
from crm_core.values import AccountId, CompanyId, ContactId, DealId, LeadId, MessageId, UserId

ACCOUNT_FIELDS = frozenset(
    {
        "name",
        "api_key",
        "api_url",
        "instance_id",
        "chat_type",
        "is_active",
        "metadata",
        "default_funnel_id",
        "auto_create_leads",
    }
)
WEBHOOK_SECRET_BYTES = 32
ACTIVE = "active"

# What to do about a channel that is not active, by its state (lower-cased).
STATE_ADVICE = {
    "qr": "scan the QR code in the provider",
    "qridle": "scan the QR code in the provider",
    "unauthorized": "authorise the channel again in the provider",
    "waitforpassword": "enter the two-factor password in the provider",
    "notenoughmoney": "pay for the channel in the provider",
    "phoneunavailable": "bring the phone online",
    "openelsewhere": "close the channel where it is open elsewhere",
    "init": "wait until the channel has started",
}


@attrs.frozen
class ConnectionReport:
    """What `check_connection` found; `error` names the cause (`401`, `not found`, a state)."""

    is_connected: bool
    state: str | None
    channel: Channel | None
    channels: tuple[Channel, ...]
    error: str | None
    last_sync: datetime


@attrs.frozen
class _Outbound:
    """A stored message about to be handed to the provider."""

    message_id: MessageId
    outgoing: OutgoingMessage
    connection: ProviderConnection


def _advice(state: str) -> str:
    return STATE_ADVICE.get(state.lower(), "fix the channel in the provider")


def _assess(
    account: MessagingAccount, channels: Sequence[Channel]
) -> tuple[Channel | None, str | None]:
    """The account's channel among the key's channels, and what is wrong (None: connected)."""
    label = account.chat_type.label
    fitting = [c for c in channels if c.chat_type == account.chat_type.value]
    if not account.instance_id:
        if len(fitting) == 1:
            return fitting[0], _channel_error(account, fitting[0])
        if not fitting:
            return None, f"no {label} channel found for this API key (not found)"
        return None, f"several {label} channels: set instance_id to one of them"
    channel = next((c for c in channels if c.channel_id == account.instance_id), None)
    if channel is None:
        return None, f"channel {account.instance_id} not found for this API key"
    return channel, _channel_error(account, channel)


def _channel_error(account: MessagingAccount, channel: Channel) -> str | None:
    if channel.chat_type != account.chat_type.value:
        return (
            f"channel {channel.channel_id} is a {channel.chat_type} channel, "
            f"not {account.chat_type.value}"
        )
    if channel.state.lower() != ACTIVE:
        return f"channel state is {channel.state}: {_advice(channel.state)}"
    return None


def _provider_error_words(error: ProviderFailed) -> str:
    if isinstance(error, ProviderRejectedKey):
        return error.detail
    if isinstance(error, ProviderRefused):
        return f"the provider refused ({error.status or ''} {error.code}): {error.description}"
    return error.detail


def _message_activity(
    uow: UnitOfWork,
    message: Message,
    now: datetime,
    user: UserId | None = None,
    links: Links | None = None,
    description: str | None = None,
) -> None:
    """The `message` activity on the contact (and the lead or deal the message is about)."""
    if message.contact_id is None:
        return
    direction = "входящее" if message.is_incoming else "исходящее"
    if links is None:
        links = Links(
            contact_id=message.contact_id,
            lead_id=message.lead_id,
            lead_contact_id=message.contact_id if message.lead_id else None,
        )
    uow.activities.save(
        Activity.system(
            company_id=message.company_id,
            activity_type=ActivityType.MESSAGE,
            title=f"{message.chat_type.label}: {direction} сообщение",
            description=message.text or message.media_url if description is None else description,
            links=links,
            now=now,
            user_id=user,
        )
    )


class MessagingUseCases(UseCases):
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        gateway: MessagingGateway,
        secrets: SecretBox,
    ) -> None:
        super().__init__(uow, clock)
        self.gateway = gateway
        self.secrets = secrets

    # --- accounts -------------------------------------------------------------------------

    def create_account(self, actor: Actor, fields: Mapping[str, Any]) -> AccountId:
        """An admin's new account: the key stored encrypted, a random webhook secret."""
        actor.require_admin("manage messaging accounts")
        _check_fields(fields)
        api_key = str(fields.get("api_key") or "").strip()
        if not api_key:
            raise ValidationFailed.on("api_key", "This field is required.")
        name = str(fields.get("name") or "").strip()
        if not name:
            raise ValidationFailed.on("name", "This field may not be blank.")
        with self.uow() as uow:
            now = self.clock.now()
            account = MessagingAccount(
                company_id=actor.company_id,
                name=name,
                api_key_encrypted=self.secrets.encrypt(api_key),
                api_key_hint=api_key_hint(api_key),
                webhook_secret=secrets.token_urlsafe(WEBHOOK_SECRET_BYTES),
                api_url=str(fields.get("api_url") or ""),
                instance_id=str(fields.get("instance_id") or "").strip(),
                chat_type=_chat_type(fields.get("chat_type", ChatType.WHATSAPP)),
                is_active=bool(fields.get("is_active", True)),
                metadata=dict(fields.get("metadata") or {}),
                auto_create_leads=bool(fields.get("auto_create_leads", True)),
                created_at=now,
                updated_at=now,
            )
            account.default_funnel_id = self._default_funnel(uow, actor, fields)
            uow.accounts.save(account)
            uow.commit()
            return account.id

    def update_account(
        self, actor: Actor, account_id: AccountId, fields: Mapping[str, Any]
    ) -> None:
        """An admin's change; a new key, URL, channel or chat type forgets the channel state."""
        actor.require_admin("manage messaging accounts")
        _check_fields(fields)
        with self.uow() as uow:
            account = uow.accounts.get(actor.company_id, account_id)
            now = self.clock.now()
            if "name" in fields:
                name = str(fields["name"] or "").strip()
                if not name:
                    raise ValidationFailed.on("name", "This field may not be blank.")
                account.name = name
            api_key = str(fields.get("api_key") or "").strip()
            account.change_connection(
                now,
                api_key_encrypted=self.secrets.encrypt(api_key) if api_key else None,
                api_key_hint=api_key_hint(api_key) if api_key else None,
                api_url=str(fields["api_url"] or "") if "api_url" in fields else None,
                instance_id=str(fields["instance_id"] or "").strip()
                if "instance_id" in fields
                else None,
                chat_type=_chat_type(fields["chat_type"]) if "chat_type" in fields else None,
            )
            if "default_funnel_id" in fields:
                account.default_funnel_id = self._default_funnel(uow, actor, fields)
            for flag in ("is_active", "auto_create_leads"):
                if flag in fields:
                    setattr(account, flag, bool(fields[flag]))
            if "metadata" in fields:
                account.metadata = dict(fields["metadata"] or {})
            uow.accounts.save(account)
            uow.commit()

    def delete_account(self, actor: Actor, account_id: AccountId) -> None:
        actor.require_admin("manage messaging accounts")
        with self.uow() as uow:
            uow.accounts.delete(uow.accounts.get(actor.company_id, account_id))
            uow.commit()

    @staticmethod
    def _default_funnel(uow: UnitOfWork, actor: Actor, fields: Mapping[str, Any]) -> Any:
        funnel_id = fields.get("default_funnel_id")
        if funnel_id is None:
            return None
        return referenced("default_funnel", lambda: uow.funnels.get(actor.company_id, funnel_id)).id

    def check_connection(self, actor: Actor, account_id: AccountId) -> ConnectionReport:
        """Asks the provider for the key's channels; saves what it learnt (admins and
        managers: it changes nothing but the account's view of its channel)."""
        return self._check(actor.company_id, account_id)

    def _check(self, company_id: CompanyId, account_id: AccountId) -> ConnectionReport:
        with self.uow() as uow:
            connection = self._connection(uow.accounts.get(company_id, account_id))
        channels: list[Channel] = []
        failure: ProviderFailed | None = None
        try:
            channels = self.gateway.channels(connection)
        except ProviderFailed as refused:
            failure = refused
        with self.uow() as uow:
            account = uow.accounts.get(company_id, account_id)
            if failure is None:
                channel, error = _assess(account, channels)
            else:
                channel, error = None, _provider_error_words(failure)
            if channel is not None and not account.instance_id:
                account.instance_id = channel.channel_id
            now = self.clock.now()
            state = channel.state if channel else ""
            if state.lower() == ACTIVE:
                state = ACTIVE
            account.record_channel_state(state, error or "", now)
            account.last_sync = now
            uow.accounts.save(account)
            uow.commit()
            return ConnectionReport(
                is_connected=account.is_connected,
                state=state or None,
                channel=channel,
                channels=tuple(channels),
                error=error,
                last_sync=now,
            )

    def _connection(self, account: MessagingAccount) -> ProviderConnection:
        return ProviderConnection(
            api_url=account.api_url, api_key=self.secrets.decrypt(account.api_key_encrypted)
        )

    # --- sending ----------------------------------------------------------------------------

    def send_message(
        self,
        actor: Actor,
        account_id: AccountId,
        *,
        to: str | None = None,
        contact_id: ContactId | None = None,
        text: str = "",
        message_type: MessageType | str = MessageType.TEXT,
        media_url: str = "",
        lead_id: LeadId | None = None,
        deal_id: DealId | None = None,
        idempotency_key: str | None = None,
    ) -> MessageId:
        """Sends a message; returns the stored message's id.

        Refused before anything is stored: bad input (ValidationFailed), an account that
        cannot send (Conflict). Otherwise the message is stored `pending` and committed, then
        handed to the provider with its own id as the provider's CRM message id: accepted, it
        is `sent`; refused or unreachable, it stays as a `failed` row and MessageNotSent (a
        ProviderFailed; MessageSendTimedOut for a timeout) names it.

        A media message with text is two rows, the media and then the text, as the provider
        has no captions: each row is one provider message with its own id, statuses and
        echo. The media row's id is returned; the text row names it in
        `metadata["caption_of"]` and the media row the text in `metadata["caption"]`. The
        text is sent only when the media was accepted; otherwise it is kept `failed`
        (retryable).

        `idempotency_key`: a repeat within 24 h (per company) sends nothing and ends as the
        first call did: the first message's id, or its failure raised again.
        """
        company = actor.company_id
        with self.uow() as uow:
            account = uow.accounts.get(company, account_id)
            if idempotency_key:
                first = self._first_with_key(uow, company, idempotency_key)
                if first is not None:
                    return first
            kind = check_outgoing(account.chat_type, message_type, text, media_url)
            needs_check = account.needs_channel_check
        if needs_check:
            self._check(company, account_id)
        with self.uow() as uow:
            now = self.clock.now()
            account = uow.accounts.get(company, account_id)
            account.ensure_connected()
            region = uow.companies.get(company).default_region
            lead = referenced("lead", lambda: uow.leads.get(company, lead_id)) if lead_id else None
            deal = referenced("deal", lambda: uow.deals.get(company, deal_id)) if deal_id else None
            owner = lead or deal
            if contact_id is None and owner is not None:
                contact_id = owner.contact_id
            contact, recipient = self._recipient(uow, account, to, contact_id, region, now)
            if lead is None:
                lead = uow.leads.open_for_contact(company, contact.id)
            links = Links(
                contact_id=contact.id,
                lead_id=lead.id if lead else None,
                lead_contact_id=lead.contact_id if lead else None,
                deal_id=deal.id if deal else None,
                deal_contact_id=deal.contact_id if deal else None,
                deal_lead_id=deal.lead_id if deal else None,
            )
            links.resolved_contact()  # a lead or deal of another contact is refused
            rows = self._outgoing_rows(account, recipient, kind, text, media_url, now)
            connection = self._connection(account)
            for row in rows:
                row.contact_id = contact.id
                row.lead_id = lead.id if lead else None
                row.metadata["sent_by"] = str(actor.user_id)
                uow.messages.save(row)
            _message_activity(
                uow,
                rows[0],
                now,
                actor.user_id,
                links,
                description="\n".join(part for part in (media_url, text) if part),
            )
            if idempotency_key:
                uow.idempotency_keys.remember(company, idempotency_key, rows[0].id, now)
            uow.commit()
            outbound = [
                _Outbound(row.id, self._outgoing(account, row, recipient), connection)
                for row in rows
            ]
        try:
            self._deliver(company, outbound[0])
        except MessageNotSent:
            for caption in outbound[1:]:
                self._keep_unsent(company, caption.message_id)
            raise
        for caption in outbound[1:]:
            self._deliver(company, caption)
        return outbound[0].message_id

    def retry_message(self, actor: Actor, message_id: MessageId) -> None:
        """Sends a failed outgoing message again, under the same id (others: Conflict)."""
        company = actor.company_id
        with self.uow() as uow:
            message = uow.messages.get(company, message_id)
            message.ensure_retryable()
            needs_check = uow.accounts.get(company, message.account_id).needs_channel_check
        if needs_check:
            self._check(company, message.account_id)
        with self.uow() as uow:
            message = uow.messages.get(company, message_id)
            account = uow.accounts.get(company, message.account_id)
            account.ensure_connected()
            message.ensure_retryable()
            message.updated_at = self.clock.now()
            recipient = Recipient.stored_as(message.chat_type, message.chat_id)
            outbound = _Outbound(
                message.id, self._outgoing(account, message, recipient), self._connection(account)
            )
            uow.messages.save(message)
            uow.commit()
        self._deliver(company, outbound)

    def _first_with_key(self, uow: UnitOfWork, company: CompanyId, key: str) -> MessageId | None:
        """The first call's outcome again: its message, or its failure raised again."""
        since = self.clock.now() - IDEMPOTENCY_WINDOW
        message_id = uow.idempotency_keys.message_for(company, key, since)
        if message_id is None:
            return None
        message = uow.messages.get(company, message_id)
        if message.status == MessageStatus.FAILED:
            error = message.error or {}
            code, description = error.get("code", ""), error.get("description", "")
            cause: ProviderFailed = (
                ProviderTimedOut(description)
                if code == TIMEOUT_CODE
                else ProviderRefused(code, description)
            )
            raise MessageNotSent.of(message.id, cause)
        return message.id

    def _recipient(
        self,
        uow: UnitOfWork,
        account: MessagingAccount,
        to: str | None,
        contact_id: ContactId | None,
        region: str,
        now: datetime,
    ) -> tuple[Contact, Recipient]:
        """Whom to send to, and the contact the message belongs to: the given one, else the
        one the address matches exactly (the oldest), else a new one named by the address."""
        company, chat_type = account.company_id, account.chat_type
        contact: Contact | None = None
        if contact_id is not None:
            contact = referenced("contact", lambda: uow.contacts.get(company, contact_id))
        if to:
            recipient = Recipient.parse(chat_type, to, region)
        elif contact is not None:
            recipient = Recipient.of_contact(chat_type, contact)
        else:
            raise ValidationFailed.on("to", "Give `to` or a contact.")
        if contact is None:
            contact = self._contact_of(uow, account, recipient, region)
        if contact is None:
            contact = recipient.new_contact(company, chat_type, now)
            uow.contacts.save(contact)
        return contact, recipient

    @staticmethod
    def _contact_of(
        uow: UnitOfWork, account: MessagingAccount, recipient: Recipient, region: str
    ) -> Contact | None:
        company, chat_type = account.company_id, account.chat_type
        if recipient.phone is not None:
            found = uow.contacts.with_phone(company, recipient.phone)
            return found[0] if found else None
        contact = find_sender(uow, company, chat_type, recipient.stored, region)
        if contact is None and recipient.username is not None:
            contact = find_sender(uow, company, chat_type, recipient.username, region)
        if contact is None and not chat_type.is_phone_based:
            contact = _contact_in_chat(uow, account, recipient.stored)
        return contact

    @staticmethod
    def _outgoing_rows(
        account: MessagingAccount,
        recipient: Recipient,
        kind: MessageType,
        text: str,
        media_url: str,
        now: datetime,
    ) -> list[Message]:
        chat_id = recipient.stored
        if kind == MessageType.TEXT:
            return [Message.outgoing(account=account, chat_id=chat_id, text=text, now=now)]
        media = Message.outgoing(
            account=account,
            chat_id=chat_id,
            text="",
            now=now,
            message_type=kind,
            media_url=media_url,
        )
        if not text.strip():
            return [media]
        caption = Message.outgoing(account=account, chat_id=chat_id, text=text, now=now)
        media.caption = text
        media.metadata["caption"] = str(caption.id)
        caption.metadata["caption_of"] = str(media.id)
        return [media, caption]

    @staticmethod
    def _outgoing(
        account: MessagingAccount, message: Message, recipient: Recipient
    ) -> OutgoingMessage:
        return OutgoingMessage(
            crm_message_id=str(message.id),
            channel_id=account.instance_id,
            chat_type=account.chat_type,
            chat_id=recipient.chat_id,
            phone=recipient.phone.digits if recipient.phone else None,
            username=recipient.username,
            text=message.text if message.message_type == MessageType.TEXT else None,
            content_uri=message.media_url if message.message_type != MessageType.TEXT else None,
        )

    def _keep_unsent(self, company: CompanyId, message_id: MessageId) -> None:
        """A caption whose media failed: kept failed, unsent (a retry sends it)."""
        with self.uow() as uow:
            message = uow.messages.get(company, message_id)
            message.fail("NOT_SENT", "Not sent: its media message failed.", self.clock.now())
            uow.messages.save(message)
            uow.commit()

    def _deliver(self, company: CompanyId, outbound: _Outbound) -> None:
        """Hands a stored message to the provider and records the outcome."""
        try:
            provider_id = self.gateway.send(outbound.connection, outbound.outgoing)
        except ProviderFailed as failure:
            with self.uow() as uow:
                message = uow.messages.get(company, outbound.message_id)
                message.fail(*failure_of(failure), self.clock.now())
                uow.messages.save(message)
                uow.commit()
            raise MessageNotSent.of(outbound.message_id, failure) from failure
        with self.uow() as uow:
            message = uow.messages.get(company, outbound.message_id)
            now = self.clock.now()
            # An echo stored before this answer, that did not name our id, is the same message:
            # it is merged into ours so that one row remains.
            twin = uow.messages.by_provider_id(company, message.account_id, provider_id)
            if twin is not None and twin.id != message.id:
                message.absorb(twin, now)
                if message.contact_id is None:
                    message.contact_id = twin.contact_id
                uow.messages.delete(twin)
            message.accepted(provider_id, now)
            uow.messages.save(message)
            uow.commit()

    # --- reading ------------------------------------------------------------------------------

    def mark_read(
        self,
        actor: Actor,
        *,
        message_ids: Sequence[MessageId] = (),
        contact_id: ContactId | None = None,
    ) -> int:
        """Incoming messages become read: the ones named, or all of a contact's. Returns how
        many changed (outgoing and already read ones do not count)."""
        company = actor.company_id
        with self.uow() as uow:
            now = self.clock.now()
            messages = [uow.messages.get(company, message_id) for message_id in message_ids]
            if contact_id is not None:
                referenced("contact", lambda: uow.contacts.get(company, contact_id))
                messages += uow.messages.unread_from(company, contact_id)
            changed = [message for message in messages if message.mark_read(now)]
            for message in changed:
                uow.messages.save(message)
            uow.commit()
            return len({message.id for message in changed})

    # --- webhooks ---------------------------------------------------------------------------

    def receive(self, account_id: AccountId, items: Sequence[InboundItem]) -> ReceiveReport:
        """Applies what a webhook delivery reports; a delivery applied twice changes nothing.

        No actor: the webhook's secret was checked on the account. Messages come first, then
        statuses (which may be about those messages), then channel states. Each item is its
        own unit of work: an item that cannot be applied is skipped and named in the
        report, and the rest is applied.
        """
        with self.uow() as uow:
            if uow.accounts.find(account_id) is None:
                raise NotFound("Account")
        order = {IncomingItem: 0, StatusItem: 1, ChannelItem: 2}
        created = updated = 0
        pending: list[StatusItem] = []
        errors: list[ItemError] = []
        for index, item in sorted(enumerate(items), key=lambda pair: order[type(pair[1])]):
            try:
                if isinstance(item, IncomingItem):
                    outcome = self._receive_message(account_id, item)
                elif isinstance(item, StatusItem):
                    outcome = self._receive_status(account_id, item)
                else:
                    outcome = self._receive_channel(account_id, item)
            except DomainError as error:
                errors.append(ItemError(index, error.detail))
                continue
            if outcome == "created":
                created += 1
            elif outcome == "updated":
                updated += 1
            elif outcome == "pending" and isinstance(item, StatusItem):
                pending.append(item)
        return ReceiveReport(created, updated, tuple(pending), tuple(sorted(errors, key=_index)))

    def _receive_message(self, account_id: AccountId, item: IncomingItem) -> str:
        if not item.provider_message_id.strip():
            raise ValidationFailed.on("provider_message_id", "This field may not be blank.")
        with self.uow() as uow:
            account = _account(uow, account_id)
            if item.channel_id and account.instance_id and item.channel_id != account.instance_id:
                raise ValidationFailed.on(
                    "channel_id", f"A message of channel {item.channel_id}, not of this account."
                )
            if item.chat_type != account.chat_type:
                raise ValidationFailed.on(
                    "chat_type", f"A {item.chat_type} message on a {account.chat_type} account."
                )
            now = self.clock.now()
            message = uow.messages.by_provider_id(
                account.company_id, account.id, item.provider_message_id
            ) or _own_send(uow, account, item)
            if message is not None:
                if not _apply(message, item, now):
                    return "unchanged"
                uow.messages.save(message)
                uow.commit()
                return "updated"
            self._store_new(uow, account, item, now)
            uow.commit()
            return "created"

    def _store_new(
        self, uow: UnitOfWork, account: MessagingAccount, item: IncomingItem, now: datetime
    ) -> None:
        region = uow.companies.get(account.company_id).default_region
        chat_id = _chat_id(account.chat_type, item)
        message = Message.delivered(
            account=account,
            provider_message_id=item.provider_message_id,
            chat_id=chat_id,
            is_incoming=not item.is_echo,
            timestamp=item.timestamp,
            now=now,
            message_type=item.message_type,
            text=item.text,
            media_url=item.media_url,
            author_name=item.author_name,
            status=item.status,
            error=_error(item),
        )
        message.is_edited, message.is_deleted = item.is_edited, item.is_deleted
        contact = find_sender(uow, account.company_id, account.chat_type, chat_id, region)
        if contact is None and (
            not account.chat_type.is_phone_based
            or sender_phone(account.chat_type, chat_id, region) is None
        ):
            contact = _contact_in_chat(uow, account, chat_id)
        if contact is None:
            phone = sender_phone(account.chat_type, chat_id, region)
            contact = contact_for_chat(
                account.company_id, account.chat_type, chat_id, item.contact_name, now, phone
            )
            uow.contacts.save(contact)
        lead = uow.leads.open_for_contact(account.company_id, contact.id)
        if lead is None and message.is_incoming:
            lead = self._auto_lead(uow, account, contact, now)
        message.contact_id = contact.id
        message.lead_id = lead.id if lead else None
        uow.messages.save(message)
        _message_activity(uow, message, now)

    @staticmethod
    def _auto_lead(
        uow: UnitOfWork, account: MessagingAccount, contact: Contact, now: datetime
    ) -> Lead | None:
        """A new chat becomes a lead in the account's default funnel, when it has one and
        creates leads."""
        if account.default_funnel_id is None or not account.auto_create_leads:
            return None
        try:
            funnel = uow.funnels.get(account.company_id, account.default_funnel_id)
        except NotFound:
            return None
        if funnel.first_stage is None:
            return None
        lead = Lead.open(
            company_id=account.company_id,
            contact_id=contact.id,
            funnel=funnel,
            title=f"{account.chat_type.label}: {contact.full_name or contact.first_name}",
            now=now,
            source=account.chat_type.value,
        )
        uow.leads.save(lead)
        return lead

    def _receive_status(self, account_id: AccountId, item: StatusItem) -> str:
        with self.uow() as uow:
            account = _account(uow, account_id)
            message = uow.messages.by_provider_id(
                account.company_id, account.id, item.provider_message_id
            )
            if message is None:
                return "pending"
            error = item.error.as_dict() if item.error else None
            if not message.apply_status(item.status, error, self.clock.now()):
                return "unchanged"
            uow.messages.save(message)
            uow.commit()
            return "updated"

    def _receive_channel(self, account_id: AccountId, item: ChannelItem) -> str:
        """Only the account's own channel counts (one key may have several)."""
        with self.uow() as uow:
            account = _account(uow, account_id)
            if item.channel_id != account.instance_id:
                return "unchanged"
            state = ACTIVE if item.state.lower() == ACTIVE else item.state
            error = "" if state == ACTIVE else f"channel state is {state}: {_advice(state)}"
            account.record_channel_state(state, error, self.clock.now())
            uow.accounts.save(account)
            uow.commit()
            return "updated"


def _index(error: ItemError) -> int:
    return error.index


def _check_fields(fields: Mapping[str, Any]) -> None:
    unknown = set(fields) - ACCOUNT_FIELDS
    if unknown:
        raise ValueError(f"not an account field: {sorted(unknown)}")


def _chat_type(value: object) -> ChatType:
    try:
        return ChatType(str(value))
    except ValueError:
        raise ValidationFailed.on("integration_type", "Not a valid choice.") from None


def _account(uow: UnitOfWork, account_id: AccountId) -> MessagingAccount:
    account = uow.accounts.find(account_id)
    if account is None:
        raise NotFound("Account")
    return account


def _contact_in_chat(uow: UnitOfWork, account: MessagingAccount, chat_id: str) -> Contact | None:
    contact_id = uow.messages.contact_in_chat(account.company_id, account.id, chat_id)
    if contact_id is None:
        return None
    try:
        return uow.contacts.get(account.company_id, contact_id)
    except NotFound:
        return None


def _chat_id(chat_type: ChatType, item: IncomingItem) -> str:
    """The chat as stored: for phone chats the number's digits (the provider's contact phone
    only when the chat id holds none), else the chat id as it came."""
    for raw in (item.chat_id, item.contact_phone):
        if raw and raw.strip():
            try:
                chat_id = normalize_chat_id(chat_type, raw)
            except DomainError:
                continue
            if chat_id:
                return chat_id
    raise ValidationFailed.on("chat_id", "A message needs a chat id.")


def _error(item: IncomingItem) -> dict[str, str] | None:
    return item.error.as_dict() if item.error else None


def _own_send(uow: UnitOfWork, account: MessagingAccount, item: IncomingItem) -> Message | None:
    """The CRM's own message an echo names by our id, when its answer is not stored yet."""
    if not item.is_echo or not item.crm_message_id:
        return None
    try:
        message_id = MessageId(uuid.UUID(item.crm_message_id))
        message = uow.messages.get(account.company_id, message_id)
    except (ValueError, NotFound):
        return None  # another system's id on the same provider account
    if message.account_id != account.id or message.is_incoming:
        return None
    if message.provider_message_id not in (None, item.provider_message_id):
        return None
    return message


def _apply(message: Message, item: IncomingItem, now: datetime) -> bool:
    """What a repeated, edited, deleted or echoed delivery changes on the existing row."""
    changed = False
    if message.provider_message_id is None:
        message.provider_message_id = item.provider_message_id
        changed = True
    if item.is_edited and (item.text != message.text or not message.is_edited):
        message.edit(item.text, now)
        changed = True
    if item.is_deleted and not message.is_deleted:
        message.delete(now)
        changed = True
    if item.is_echo and not message.is_incoming:
        changed |= message.apply_status(item.status or MessageStatus.SENT, _error(item), now)
    return changed
