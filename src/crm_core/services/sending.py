"""Sending messages: stored before the provider is called, never lost, settled whatever
the order in which the answer, the echo and the statuses arrive; and reading them."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime

import attrs

from crm_core.activity import Activity, ActivityType, Links
from crm_core.contact import Contact
from crm_core.errors import (
    MessageNotSent,
    NotFound,
    ProviderFailed,
    ProviderRefused,
    ProviderTimedOut,
    ProviderUnreachable,
    ValidationFailed,
)
from crm_core.jobs import Done, Job, NewJob, Outcome
from crm_core.messaging import (
    IDEMPOTENCY_WINDOW,
    REPEATED_SEND_CODE,
    SEND_SETTLE_AFTER,
    TIMEOUT_CODE,
    ChatType,
    Message,
    MessageStatus,
    MessageType,
    MessagingAccount,
    Recipient,
    check_outgoing,
    failure_of,
)
from crm_core.ports import (
    Clock,
    MessagingGateway,
    OutgoingMessage,
    ProviderConnection,
    SecretBox,
    UnitOfWork,
)
from crm_core.services.base import UnitOfWorkFactory, UseCases, referenced
from crm_core.services.messaging_accounts import Connections
from crm_core.services.senders import find_sender
from crm_core.tenancy import Actor
from crm_core.values import AccountId, CompanyId, ContactId, DealId, LeadId, MessageId, UserId

SETTLE_SEND = "settle_send"


@attrs.frozen
class _Outbound:
    """A stored message about to be handed to the provider."""

    message_id: MessageId
    outgoing: OutgoingMessage
    connection: ProviderConnection


def message_activity(
    uow: UnitOfWork,
    message: Message,
    now: datetime,
    user: UserId | None = None,
    links: Links | None = None,
    description: str | None = None,
) -> None:
    """The one `message` activity of a message row, on its contact (and the lead or deal the
    message is about)."""
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


def apply_early_statuses(
    uow: UnitOfWork, account: MessagingAccount, message: Message, now: datetime
) -> bool:
    """Statuses of this message that came before it was known, applied now (a status names
    no account: it may have been kept under any account on the same key)."""
    if message.provider_message_id is None:
        return False
    siblings = uow.accounts.sharing_key(account.company_id, account.api_key_fingerprint)
    accounts = {account.id, *(sibling.id for sibling in siblings)}
    changed = False
    for item in uow.early_statuses.take(accounts, [message.provider_message_id]):
        error = item.error.as_dict() if item.error else None
        changed |= message.apply_status(item.status, error, now)
    return changed


class SendingUseCases(UseCases):
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        gateway: MessagingGateway,
        secrets: SecretBox,
        check: Callable[[CompanyId, AccountId], object],
    ) -> None:
        super().__init__(uow, clock)
        self.gateway = gateway
        self.connections = Connections(secrets)
        self.check = check  # the accounts' check_connection, before a first send

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
        cannot send (Conflict). Otherwise the message is stored `pending` and committed (with
        a job that settles it should this process die before the answer), then handed to the
        provider with its own id as the provider's CRM message id: accepted, it is `sent`;
        refused or unreachable, it stays as a `failed` row and MessageNotSent names it.

        A media message with text is two rows, the media and then the text, as the provider
        has no captions; the media row's id is returned, and the text is sent only when the
        media was accepted (otherwise it is kept `failed`, retryable).

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
            kind = check_outgoing(account, message_type, text, media_url)
            needs_check = account.needs_channel_check
        if needs_check:
            self.check(company, account_id)
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
            connection = self.connections.of(account)
            for row in rows:
                row.contact_id = contact.id
                row.lead_id = lead.id if lead else None
                row.metadata["sent_by"] = str(actor.user_id)
                uow.messages.save(row)
                self._settle_later(uow, row, now)
                message_activity(
                    uow,
                    row,
                    now,
                    actor.user_id,
                    links,
                    description=row.text or row.media_url,
                )
            if recipient.chat_id:
                self._own_chat(uow, account, recipient.chat_id, contact.id)
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
            self.check(company, message.account_id)
        with self.uow() as uow:
            now = self.clock.now()
            message = uow.messages.get(company, message_id)
            account = uow.accounts.get(company, message.account_id)
            account.ensure_connected()
            message.sending(now)
            recipient = Recipient.stored_as(message.chat_type, message.chat_id)
            outbound = _Outbound(
                message.id,
                self._outgoing(account, message, recipient),
                self.connections.of(account),
            )
            uow.messages.save(message)
            self._settle_later(uow, message, now)
            uow.commit()
        self._deliver(company, outbound, retry=True)

    @staticmethod
    def _settle_later(uow: UnitOfWork, message: Message, now: datetime) -> None:
        """A job that settles the message should its send never record an answer."""
        attempt = message.send_attempted_at or now
        uow.jobs.add(
            NewJob(
                SETTLE_SEND,
                f"{SETTLE_SEND}:{message.id}:{attempt.isoformat()}",
                {"company": str(message.company_id), "message": str(message.id)},
                run_after=attempt + SEND_SETTLE_AFTER,
                max_attempts=5,
            ),
            now,
        )

    @staticmethod
    def _own_chat(
        uow: UnitOfWork, account: MessagingAccount, chat_id: str, contact_id: ContactId
    ) -> None:
        """A chat the CRM writes to first belongs to the contact it wrote to."""
        if uow.chats.claim(account.company_id, account.id, [chat_id]).get(chat_id) is None:
            uow.chats.assign(account.id, {chat_id: contact_id})

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
            cause: ProviderFailed
            if code == TIMEOUT_CODE:
                cause = ProviderTimedOut(description)
            elif message.outcome_unknown:
                cause = ProviderUnreachable(description, dropped=True)
            else:
                cause = ProviderRefused(code, description)
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
            found = uow.contacts.with_phones(company, [recipient.phone])
            return found[0] if found else None
        if recipient.chat_id and not chat_type.is_phone_based:
            known = uow.chats.claim(company, account.id, [recipient.chat_id])[recipient.chat_id]
            if known is not None:
                try:
                    return uow.contacts.get(company, known)
                except NotFound:
                    pass
        address = recipient.username or recipient.chat_id or ""
        return find_sender(uow, company, chat_type, address, region)

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

    def _deliver(self, company: CompanyId, outbound: _Outbound, retry: bool = False) -> None:
        """Hands a stored message to the provider and records the outcome."""
        try:
            sent = self.gateway.send(outbound.connection, outbound.outgoing)
        except ProviderFailed as failure:
            repeated = isinstance(failure, ProviderRefused) and failure.is_code(REPEATED_SEND_CODE)
            with self.uow() as uow:
                message = uow.messages.get(company, outbound.message_id)
                now = self.clock.now()
                if repeated and retry:
                    # The provider has this message already: a resend that says so was sent.
                    message.already_sent(now)
                else:
                    code, description = failure_of(failure)
                    message.fail(code, description, now, outcome_unknown=failure.outcome_unknown)
                uow.messages.save(message)
                uow.commit()
            if repeated and retry:
                return
            # A lost answer is reported as lost (502/504) even when an echo already settled
            # the row as sent: the answer's body carries the message as it now stands.
            raise MessageNotSent.of(outbound.message_id, failure) from failure
        with self.uow() as uow:
            message = uow.messages.get(company, outbound.message_id)
            now = self.clock.now()
            # An echo stored before this answer, that matched nothing of ours, is the same
            # message: it is merged into ours so that one row remains.
            taken = False
            for twin in uow.messages.by_provider_ids(
                company, [message.account_id], [sent.provider_message_id]
            ):
                if twin.id == message.id:
                    continue
                if twin.send_attempted_at is not None:
                    taken = True  # another send of ours holds the id: never lose that row
                    continue
                message.apply_status(twin.status, twin.error, now)
                uow.messages.delete(twin)
            if taken:
                message.advance_status(MessageStatus.SENT, now)
            else:
                message.accepted(sent.provider_message_id, now, sent.chat_id)
            account = uow.accounts.get(company, message.account_id)
            apply_early_statuses(uow, account, message, now)
            if sent.chat_id and message.contact_id is not None:
                self._learn_chat(uow, message, sent.chat_id, now)
            uow.messages.save(message)
            uow.commit()

    @staticmethod
    def _learn_chat(uow: UnitOfWork, message: Message, chat_id: str, now: datetime) -> None:
        """The chat id the provider answered with (a telegram send by username or phone)
        finds this contact when the reply comes."""
        assert message.contact_id is not None
        if message.chat_type == ChatType.TELEGRAM:
            contact = uow.contacts.get(message.company_id, message.contact_id)
            if contact.learn_telegram_chat(chat_id, now):
                uow.contacts.save(contact)
        known = uow.chats.claim(message.company_id, message.account_id, [chat_id])
        if known.get(chat_id) is None:
            uow.chats.assign(message.account_id, {chat_id: message.contact_id})

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


class SettleSend:
    """The job that settles a send whose answer was never recorded (the process died
    between storing the message and recording the answer): failed, outcome unknown, so that
    an echo or status can still settle it and a retry is allowed."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def __call__(self, job: Job, uow: UnitOfWork) -> Outcome:
        company = CompanyId(uuid.UUID(job.payload["company"]))
        try:
            message = uow.messages.get(company, MessageId(uuid.UUID(job.payload["message"])))
        except NotFound:
            return Done()
        if message.settle_unanswered(self.clock.now()):
            uow.messages.save(message)
        return Done()
