"""What the provider tells us: webhook deliveries stored as received, then applied as a
whole: messages become rows (one per provider id), chats become contacts and leads,
statuses move messages on, channel updates move accounts."""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import Any

from crm_core.contact import Contact
from crm_core.errors import DomainError, NotAuthenticated, NotFound, ValidationFailed
from crm_core.funnel import Funnel
from crm_core.inbox import (
    ChannelItem,
    Delivery,
    IncomingItem,
    ItemError,
    ReadDelivery,
    ReceiveReport,
    StatusItem,
)
from crm_core.jobs import Done, Job, NewJob, Outcome
from crm_core.lead import Lead
from crm_core.messaging import (
    ECHO_WINDOW,
    ChatType,
    Message,
    MessagingAccount,
    contact_for_chat,
    normalize_chat_id,
    sender_phone,
)
from crm_core.ports import Clock, UnitOfWork
from crm_core.services.base import UnitOfWorkFactory, UseCases
from crm_core.services.senders import find_senders
from crm_core.services.sending import message_activity
from crm_core.values import AccountId, ContactId, DeliveryId

PROCESS_DELIVERY = "process_delivery"

DeliveryReader = Callable[[object, datetime], ReadDelivery]


class InboundUseCases(UseCases):
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, read: DeliveryReader) -> None:
        super().__init__(uow, clock)
        self.read = read

    def accept(self, account_id: Any, secret: str, body_text: str) -> DeliveryId | None:
        """A webhook call: the raw delivery and the job that processes it, stored in one
        transaction (the provider is answered only after that). The provider's test of the
        address stores nothing (None). A wrong secret or unknown account is refused
        (NotAuthenticated) and nothing is stored; a body that is no JSON object, 400."""
        try:
            key = uuid.UUID(str(account_id))
        except ValueError:
            raise NotAuthenticated("Unknown webhook address.") from None
        with self.uow() as uow:
            account = uow.accounts.find(AccountId(key))
            if account is None or not account.accepts_webhook(secret):
                raise NotAuthenticated("Unknown webhook address.")
            try:
                body = json.loads(body_text)
            except ValueError:
                body = None
            if not isinstance(body, dict):
                raise ValidationFailed.on("body", "Expected a JSON object.")
            if body.get("test") is True and len(body) == 1:
                return None
            now = self.clock.now()
            delivery = Delivery(account_id=account.id, body=body_text, received_at=now)
            uow.deliveries.save(delivery)
            uow.jobs.add(
                NewJob(PROCESS_DELIVERY, f"{PROCESS_DELIVERY}:{delivery.id}", _payload(delivery)),
                now,
            )
            uow.commit()
            return delivery.id

    def process_job(self, job: Job, uow: UnitOfWork) -> Outcome:
        """The job: applies its delivery (a failure leaves it unprocessed, retried later)."""
        delivery = uow.deliveries.get(DeliveryId(uuid.UUID(job.payload["delivery"])))
        self.apply(uow, delivery)
        return Done()

    def process_stored(
        self, account_ids: Sequence[AccountId] | None = None, limit: int = 1000
    ) -> int:
        """Applies the deliveries stored but not processed yet (of these accounts), each in
        its own unit of work; returns how many were processed. A delivery that fails again
        stays unprocessed."""
        with self.uow() as uow:
            waiting = [d.id for d in uow.deliveries.unprocessed(account_ids, limit)]
        done = 0
        for delivery_id in waiting:
            try:
                with self.uow() as uow:
                    delivery = uow.deliveries.get(delivery_id)
                    if delivery.processed_at is None:
                        self.apply(uow, delivery)
                        uow.commit()
                        done += 1
            except DomainError:
                continue
        return done

    def apply(self, uow: UnitOfWork, delivery: Delivery) -> ReceiveReport:
        """Applies a stored delivery within `uow` and marks it processed."""
        if delivery.processed_at is not None:
            return ReceiveReport()
        read = self.read(json.loads(delivery.body), delivery.received_at)
        receiving = uow.accounts.find(delivery.account_id)
        if receiving is None:
            raise NotFound("Account")
        report = Receiving(uow, self.clock.now(), receiving).apply(delivery.id, read)
        delivery.processed(report.errors, self.clock.now())
        uow.deliveries.save(delivery)
        return report


def _payload(delivery: Delivery) -> dict[str, str]:
    return {"delivery": str(delivery.id)}


class Receiving:
    """One delivery applied in one unit of work, in a few set-based steps per account: hold
    the chats, find what exists, make what is new (contacts, leads, messages, activities)."""

    def __init__(self, uow: UnitOfWork, now: datetime, receiving: MessagingAccount) -> None:
        self.uow = uow
        self.now = now
        self.receiving = receiving
        self.company = receiving.company_id
        self.created = 0
        self.updated = 0
        self.errors: list[ItemError] = []
        self._funnels: dict[Any, Funnel | None] = {}
        # Messages that got their provider id in this delivery: statuses that came before
        # them are looked up once, at the end of each account's items.
        self._fresh: list[Message] = []
        self.accounts: list[MessagingAccount] = [receiving]
        # Every message this delivery touched or made, by provider id: statuses later in the
        # same delivery find them before they are written.
        self._seen: dict[str | None, Message] = {}

    def apply(self, delivery_id: DeliveryId, read: ReadDelivery) -> ReceiveReport:
        self.errors = list(read.errors)
        accounts = self.uow.accounts.sharing_key(self.company, self.receiving.api_key_fingerprint)
        if not any(a.id == self.receiving.id for a in accounts):
            accounts.append(self.receiving)
        self.accounts = accounts
        by_account: dict[AccountId, list[IncomingItem]] = defaultdict(list)
        statuses: list[StatusItem] = []
        for item in read.items:
            if isinstance(item, IncomingItem):
                account = self._route(accounts, item.channel_id, item.place)
                if account is not None:
                    by_account[account.id].append(item)
            elif isinstance(item, StatusItem):
                statuses.append(item)
            elif isinstance(item, ChannelItem):
                self._channel(accounts, item)
        region = self.uow.companies.get(self.company).default_region
        for account in accounts:
            if by_account.get(account.id):
                self._messages(account, by_account[account.id], region)
        pending = self._statuses(accounts, statuses)
        if pending:
            self.uow.early_statuses.keep(delivery_id, [a.id for a in accounts], pending)
        return ReceiveReport(
            self.created,
            self.updated,
            tuple(pending),
            tuple(sorted(self.errors, key=lambda error: error.place)),
        )

    def _route(
        self, accounts: list[MessagingAccount], channel_id: str, place: str
    ) -> MessagingAccount | None:
        """The account an item belongs to: the one with its channel among the accounts on
        the key; without a channel, the account whose address received it."""
        if not channel_id:
            return self.receiving
        for account in accounts:
            if account.serves(channel_id):
                return account
        if not self.receiving.instance_id:
            return self.receiving
        self.errors.append(ItemError(place, f"channel {channel_id} belongs to no account"))
        return None

    def _channel(self, accounts: list[MessagingAccount], item: ChannelItem) -> None:
        for account in accounts:
            if account.follow_channel(item.channel_id, item.state, self.now):
                self.uow.accounts.save(account)
                self.updated += 1

    # --- messages -------------------------------------------------------------------------

    def _messages(self, account: MessagingAccount, items: list[IncomingItem], region: str) -> None:
        chats: dict[IncomingItem, str] = {}
        for item in items:
            try:
                chats[item] = self._chat_id(account, item)
            except DomainError as error:
                self.errors.append(ItemError(item.place, error.detail))
        if not chats:
            return
        owners = self.uow.chats.claim(self.company, account.id, sorted(set(chats.values())))
        known = {
            m.provider_message_id: m
            for m in self.uow.messages.by_provider_ids(
                self.company, [account.id], {item.provider_message_id for item in chats}
            )
        }
        awaiting: list[Message] | None = None
        new: list[tuple[IncomingItem, str]] = []
        for item, chat_id in chats.items():
            message = known.get(item.provider_message_id) or self._own_send(account, item)
            if message is None and item.is_echo:
                if awaiting is None:
                    awaiting = self.uow.messages.awaiting_echo(
                        self.company, account.id, self.now - ECHO_WINDOW
                    )
                message = _echo_of(awaiting, item, chat_id, self.now)
            if message is None:
                new.append((item, chat_id))
                continue
            if message.provider_message_id is None:
                self._fresh.append(message)
            changed = message.apply_item(item, self.now)
            known[item.provider_message_id] = message
            self._seen[item.provider_message_id] = message
            if changed:
                self.uow.messages.save(message)
                self.updated += 1
        if new:
            self._new_messages(account, new, owners, region, known)
        self._apply_early_statuses(account)

    def _apply_early_statuses(self, account: MessagingAccount) -> None:
        """Statuses kept for the messages this delivery made known, applied in one go."""
        fresh = {m.provider_message_id: m for m in self._fresh if m.provider_message_id}
        self._fresh = []
        if not fresh:
            return
        for status in self.uow.early_statuses.take([a.id for a in self.accounts], list(fresh)):
            message = fresh[status.provider_message_id]
            error = status.error.as_dict() if status.error else None
            if message.apply_status(status.status, error, self.now):
                self.uow.messages.save(message)

    def _chat_id(self, account: MessagingAccount, item: IncomingItem) -> str:
        if not item.provider_message_id.strip():
            raise ValidationFailed.on("messageId", "This field may not be blank.")
        if item.chat_type != account.chat_type:
            raise ValidationFailed.on(
                "chatType", f"A {item.chat_type} message on a {account.chat_type} account."
            )
        for raw in (item.chat_id, item.contact_phone):
            if raw and raw.strip():
                try:
                    chat_id = normalize_chat_id(account.chat_type, raw)
                except DomainError:
                    continue
                if chat_id:
                    return chat_id
        raise ValidationFailed.on("chatId", "A message needs a chat id.")

    def _own_send(self, account: MessagingAccount, item: IncomingItem) -> Message | None:
        """The CRM's own message an echo names by our id."""
        if not item.is_echo or not item.crm_message_id:
            return None
        try:
            message = self.uow.messages.get(self.company, uuid.UUID(item.crm_message_id))  # type: ignore[arg-type]
        except (ValueError, NotFound):
            return None  # another system's id on the same provider account
        if message.account_id != account.id or message.is_incoming:
            return None
        if message.provider_message_id not in (None, item.provider_message_id):
            return None
        return message

    def _new_messages(
        self,
        account: MessagingAccount,
        new: list[tuple[IncomingItem, str]],
        owners: dict[str, ContactId | None],
        region: str,
        known: dict[str | None, Message],
    ) -> None:
        contacts = self._contacts(account, new, owners, region)
        by_id = {contact.id: contact for contact in contacts.values()}
        leads = self.uow.leads.open_for_contacts(self.company, set(by_id))
        # Only an incoming message makes a lead (sends and echoes never do).
        writing = {contacts[chat].id for item, chat in new if not item.is_echo}
        for contact_id in sorted(writing - set(leads), key=str):
            lead = self._auto_lead(account, by_id[contact_id])
            if lead is not None:
                leads[contact_id] = lead
        for item, chat_id in new:
            twin = known.get(item.provider_message_id)
            if twin is not None:  # the same message twice in one delivery
                if twin.apply_item(item, self.now):
                    self.uow.messages.save(twin)
                continue
            contact = contacts[chat_id]
            lead = leads.get(contact.id)
            message = Message.delivered(
                account=account,
                provider_message_id=item.provider_message_id,
                chat_id=chat_id,
                is_incoming=not item.is_echo,
                timestamp=item.timestamp,
                now=self.now,
                message_type=item.message_type,
                text=item.text,
                media_url=item.media_url,
                author_name=item.author_name,
                status=item.status,
                error=item.error.as_dict() if item.error else None,
            )
            message.is_edited, message.is_deleted = item.is_edited, item.is_deleted
            message.contact_id = contact.id
            message.lead_id = lead.id if lead else None
            self._fresh.append(message)
            self.uow.messages.save(message)
            message_activity(self.uow, message, self.now)
            known[item.provider_message_id] = message
            self._seen[item.provider_message_id] = message
            self.created += 1

    def _contacts(
        self,
        account: MessagingAccount,
        new: list[tuple[IncomingItem, str]],
        owners: dict[str, ContactId | None],
        region: str,
    ) -> dict[str, Contact]:
        """The contact of each chat: the chat's own, else the one its number or handle
        matches (the oldest), else a new one; the chats remember whose they are."""
        chats = {chat for _, chat in new}
        owned = {owner for chat in chats if (owner := owners.get(chat)) is not None}
        found = {c.id: c for c in self.uow.contacts.get_many(self.company, owned)}
        contacts = {
            chat: found[contact_id]
            for chat, contact_id in owners.items()
            if chat in chats and contact_id in found
        }
        unknown = sorted(chats - set(contacts))
        if not unknown:
            return contacts
        matched = find_senders(self.uow, self.company, account.chat_type, unknown, region)
        if account.chat_type == ChatType.TELEGRAM:
            self._by_username(new, unknown, matched, region)
        names = {chat: item.contact_name for item, chat in reversed(new)}
        assigned: dict[str, ContactId] = {}
        for chat_id in unknown:
            contact = matched.get(chat_id)
            if contact is None:
                contact = contact_for_chat(
                    self.company,
                    account.chat_type,
                    chat_id,
                    names.get(chat_id, ""),
                    self.now,
                    sender_phone(account.chat_type, chat_id, region),
                )
                self.uow.contacts.save(contact)
            contacts[chat_id] = contact
            assigned[chat_id] = contact.id
        self.uow.chats.assign(account.id, assigned)
        return contacts

    def _by_username(
        self,
        new: list[tuple[IncomingItem, str]],
        unknown: list[str],
        matched: dict[str, Contact],
        region: str,
    ) -> None:
        """A telegram chat nobody has yet may be a contact saved by its username: it is
        theirs, and they learn its chat id."""
        usernames = {
            chat: item.contact_username.strip().removeprefix("@")
            for item, chat in new
            if chat in unknown and chat not in matched and item.contact_username.strip()
        }
        if not usernames:
            return
        found = find_senders(
            self.uow, self.company, ChatType.TELEGRAM, set(usernames.values()), region
        )
        for chat, username in usernames.items():
            contact = found.get(username)
            if contact is not None:
                matched[chat] = contact
                if contact.learn_telegram_chat(chat, self.now):
                    self.uow.contacts.save(contact)

    def _auto_lead(self, account: MessagingAccount, contact: Contact) -> Lead | None:
        """A new chat becomes a lead in the account's default funnel, when it has one and
        creates leads."""
        if account.default_funnel_id is None or not account.auto_create_leads:
            return None
        funnel_id = account.default_funnel_id
        if funnel_id not in self._funnels:
            try:
                self._funnels[funnel_id] = self.uow.funnels.read(self.company, funnel_id)
            except NotFound:
                self._funnels[funnel_id] = None
        funnel = self._funnels[funnel_id]
        if funnel is None:
            return None
        if funnel.first_stage is None:
            return None
        lead = Lead.open(
            company_id=self.company,
            contact_id=contact.id,
            funnel=funnel,
            title=f"{account.chat_type.label}: {contact.full_name or contact.first_name}",
            now=self.now,
            source=account.chat_type.value,
        )
        self.uow.leads.save(lead)
        return lead

    # --- statuses -----------------------------------------------------------------------------

    def _statuses(
        self, accounts: Collection[MessagingAccount], items: list[StatusItem]
    ) -> list[StatusItem]:
        """Applies the statuses of known messages; returns those of unknown ones."""
        if not items:
            return []
        wanted = {i.provider_message_id for i in items} - set(self._seen)
        messages = dict(self._seen)
        if wanted:
            for m in self.uow.messages.by_provider_ids(
                self.company, [a.id for a in accounts], wanted
            ):
                messages[m.provider_message_id] = m
        pending = []
        for item in items:
            message = messages.get(item.provider_message_id)
            if message is None:
                pending.append(item)
                continue
            error = item.error.as_dict() if item.error else None
            if message.apply_status(item.status, error, self.now):
                self.uow.messages.save(message)
                self.updated += 1
        return pending


def _echo_of(
    awaiting: list[Message], item: IncomingItem, chat_id: str, now: datetime
) -> Message | None:
    """The CRM's own send an echo without our id stands for: same text or media, still
    awaiting its echo, and the same chat; or a telegram send by username or phone (its chat
    id not known yet) that the echo's username or phone names, or, when the echo names
    neither, the only such send. The oldest wins; an ambiguous echo matches nothing (it is
    kept as a row of its own, merged when the send's answer names it)."""
    waiting = sorted(
        (
            m
            for m in awaiting
            if m.awaits_echo(now) and m.provider_message_id is None and _same_content(m, item)
        ),
        key=lambda m: (m.send_attempted_at or now, str(m.id)),
    )
    same_chat = [m for m in waiting if m.chat_id == chat_id]
    named = [m for m in waiting if _names(m.chat_id, item) is True]
    unnamed = [m for m in waiting if _names(m.chat_id, item) is None]
    candidates = same_chat or named or (unnamed if len(unnamed) == 1 else [])
    if not candidates:
        return None
    awaiting.remove(candidates[0])
    return candidates[0]


def _same_content(message: Message, item: IncomingItem) -> bool:
    # The provider echoes media under its own storage address: a media message is matched
    # by its type.
    return (message.text or "") == (item.text or "") and (
        message.media_url == item.media_url
        or (bool(message.media_url) and message.message_type == item.message_type)
    )


def _names(address: str, item: IncomingItem) -> bool | None:
    """Whether the echo names the person a send addressed by `@username` or `+phone` went
    to: True or False when it carries a username or phone, None when it says nothing (or
    the send had its chat id)."""
    if address.startswith("@"):
        username = item.contact_username.strip().removeprefix("@")
        return username.lower() == address[1:].lower() if username else None
    if address.startswith("+"):
        phone = "".join(ch for ch in item.contact_phone if ch.isdigit())
        return phone == address[1:] if phone else None
    return False
