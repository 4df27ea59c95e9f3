"""The ports: what the domain needs from the outside world, as small Protocols."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Collection, Mapping, Sequence
from datetime import date, datetime, timedelta
from types import TracebackType
from typing import Any, Protocol, Self

import attrs

from crm_core.activity import Activity
from crm_core.contact import Contact
from crm_core.deal import Deal
from crm_core.funnel import Funnel
from crm_core.inbox import Delivery, StatusItem
from crm_core.jobs import Job, NewJob, Outcome
from crm_core.lead import Lead
from crm_core.messaging import ChatType, Message, MessagingAccount
from crm_core.tenancy import ApiToken, Branch, Company, Credential, User
from crm_core.values import (
    AccountId,
    ActivityId,
    BranchId,
    CompanyId,
    ContactId,
    DealId,
    DeliveryId,
    FunnelId,
    LeadId,
    MessageId,
    PhoneNumber,
    StageId,
    UserId,
)


class Clock(Protocol):
    def now(self) -> datetime: ...


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str: ...

    def verify(self, password_hash: str, password: str) -> bool: ...


class SecretBox(Protocol):
    """Encrypts provider API keys at rest."""

    def encrypt(self, plain: str) -> str: ...

    def decrypt(self, token: str) -> str:
        """Raises ValueError when `token` was sealed with another key."""
        ...


class CompanyRepository(Protocol):
    def get(self, company_id: CompanyId) -> Company: ...

    def by_name(self, name: str) -> Company | None: ...

    def save(self, company: Company) -> None: ...

    def any(self) -> bool: ...


class UserRepository(Protocol):
    def get(self, company_id: CompanyId, user_id: UserId) -> User: ...

    def by_email(self, email: str) -> User | None:
        """Login looks a user up before it knows the company; e-mails are unique."""
        ...

    def find(self, user_id: UserId) -> User | None:
        """The user a token names, before the company is known."""
        ...

    def save(self, user: User) -> None: ...


class TokenRepository(Protocol):
    def by_hash(self, token_hash: str) -> ApiToken | None: ...

    def of_user(self, user_id: UserId) -> list[ApiToken]:
        """The user's tokens that are not revoked."""
        ...

    def save(self, token: ApiToken) -> None: ...


class CredentialReader(Protocol):
    """Reads a token with its user (authentication runs on every request: one read)."""

    def credential(self, token_hash: str) -> Credential | None: ...


class BranchRepository(Protocol):
    def get(self, company_id: CompanyId, branch_id: BranchId) -> Branch: ...

    def save(self, branch: Branch) -> None: ...

    def delete(self, branch: Branch) -> None: ...


class FunnelRepository(Protocol):
    def get(self, company_id: CompanyId, funnel_id: FunnelId) -> Funnel: ...

    def read(self, company_id: CompanyId, funnel_id: FunnelId) -> Funnel:
        """The funnel as committed, to consult and never to change: the stages a lead or deal
        is placed in or moved by. It holds still until the unit of work ends, as `get`'s does;
        an adapter may hand the same object to other units of work, so a change made to it
        would reach them and never the database. To change a funnel, `get` it."""
        ...

    def with_stage(self, company_id: CompanyId, stage_id: StageId) -> Funnel: ...

    def save(self, funnel: Funnel) -> None: ...

    def delete(self, funnel: Funnel) -> None: ...


class ContactRepository(Protocol):
    def get(self, company_id: CompanyId, contact_id: ContactId) -> Contact: ...

    def exists(self, company_id: CompanyId, contact_id: ContactId) -> bool:
        """Whether the company has this contact: a reference checked without loading it."""
        ...

    def get_many(self, company_id: CompanyId, contact_ids: Collection[ContactId]) -> list[Contact]:
        """The company's contacts of these ids that exist (one query)."""
        ...

    def with_phones(self, company_id: CompanyId, phones: Collection[PhoneNumber]) -> list[Contact]:
        """Contacts whose phone, whatsapp or phone_secondary is exactly one of `phones`,
        oldest first."""
        ...

    def with_handles(
        self, company_id: CompanyId, chat_type: ChatType, handles: Collection[str]
    ) -> list[Contact]:
        """Contacts that have one of `handles` as an address on the chat type
        (`Contact.handles_for`), oldest first."""
        ...

    def save(self, contact: Contact) -> None: ...

    def delete(self, contact: Contact) -> None: ...


class LeadRepository(Protocol):
    def get(self, company_id: CompanyId, lead_id: LeadId) -> Lead: ...

    def open_for_contact(self, company_id: CompanyId, contact_id: ContactId) -> Lead | None: ...

    def open_for_contacts(
        self, company_id: CompanyId, contact_ids: Collection[ContactId]
    ) -> dict[ContactId, Lead]:
        """The oldest open lead of each of the contacts that has one."""
        ...

    def save(self, lead: Lead) -> None: ...

    def delete(self, lead: Lead) -> None: ...


class DealRepository(Protocol):
    def get(self, company_id: CompanyId, deal_id: DealId) -> Deal: ...

    def save(self, deal: Deal) -> None: ...

    def delete(self, deal: Deal) -> None: ...


class ActivityRepository(Protocol):
    def get(self, company_id: CompanyId, activity_id: ActivityId) -> Activity: ...

    def save(self, activity: Activity) -> None: ...

    def delete(self, activity: Activity) -> None: ...


class AccountRepository(Protocol):
    def get(self, company_id: CompanyId, account_id: AccountId) -> MessagingAccount: ...

    def find(self, account_id: AccountId) -> MessagingAccount | None:
        """The account a webhook names, before the company is known (its secret is checked
        on the account)."""
        ...

    def all_active(self) -> list[MessagingAccount]:
        """Every company's active accounts (operators check them all)."""
        ...

    def sharing_key(self, company_id: CompanyId, fingerprint: str) -> list[MessagingAccount]:
        """The company's accounts on one provider key (by the key's fingerprint)."""
        ...

    def save(self, account: MessagingAccount) -> None: ...

    def delete(self, account: MessagingAccount) -> None: ...


class MessageRepository(Protocol):
    def get(self, company_id: CompanyId, message_id: MessageId) -> Message: ...

    def by_provider_id(
        self, company_id: CompanyId, account_id: AccountId, provider_message_id: str
    ) -> Message | None: ...

    def by_provider_ids(
        self,
        company_id: CompanyId,
        account_ids: Collection[AccountId],
        provider_message_ids: Collection[str],
    ) -> list[Message]:
        """The messages of these accounts with these provider ids (one query)."""
        ...

    def awaiting_echo(
        self, company_id: CompanyId, account_id: AccountId, since: datetime
    ) -> list[Message]:
        """The account's own outgoing messages an echo may still settle: pending, or failed
        with their outcome unknown, whose send was attempted at or after `since`."""
        ...

    def received_since(self, account_id: AccountId, since: datetime | None) -> int:
        """How many incoming messages the account stored after `since` (all when None)."""
        ...

    def unread_from(self, company_id: CompanyId, contact_id: ContactId) -> list[Message]:
        """The contact's incoming messages that are not read yet."""
        ...

    def save(self, message: Message) -> None: ...

    def delete(self, message: Message) -> None:
        """Removes a second row of one provider message (merged into the CRM's own row). It
        must take effect before a later save in the same unit of work gives another row that
        provider id (the account + provider id pair is unique)."""
        ...


class ChatRegistry(Protocol):
    """Whom each chat of an account belongs to: one row per account and chat id."""

    def claim(
        self, company_id: CompanyId, account_id: AccountId, chat_ids: Collection[str]
    ) -> dict[str, ContactId | None]:
        """Makes sure each chat has its row and holds those rows until the unit of work ends,
        so that deliveries for one chat are applied one after the other (two first messages
        from a new number make one contact). Returns each chat's contact (None: not known)."""
        ...

    def assign(self, account_id: AccountId, contacts: Mapping[str, ContactId]) -> None:
        """Records whose the claimed chats are."""
        ...


class DeliveryInbox(Protocol):
    """Webhook deliveries, stored as received before anything reads them."""

    def get(self, delivery_id: DeliveryId) -> Delivery: ...

    def unprocessed(self, account_ids: Collection[AccountId] | None, limit: int) -> list[Delivery]:
        """Deliveries not processed yet, oldest first (of these accounts; of all when None)."""
        ...

    def save(self, delivery: Delivery) -> None: ...


class EarlyStatuses(Protocol):
    """Statuses of messages not stored yet (a send's status may come before its answer)."""

    def keep(
        self,
        delivery_id: DeliveryId,
        account_ids: Collection[AccountId],
        items: Sequence[StatusItem],
    ) -> None: ...

    def take(
        self, account_ids: Collection[AccountId], provider_message_ids: Collection[str]
    ) -> list[StatusItem]:
        """The kept statuses of these messages, removed from what is kept."""
        ...


class IdempotencyKeyRepository(Protocol):
    """Keys of `send_message` calls: a repeat within a day returns the first message."""

    def message_for(self, company_id: CompanyId, key: str, since: datetime) -> MessageId | None:
        """The message first sent with `key`, when that was at or after `since`."""
        ...

    def remember(
        self, company_id: CompanyId, key: str, message_id: MessageId, now: datetime
    ) -> None:
        """Records the key (replacing an expired record of it); a second live record of the
        same key in the company is refused when committed (two concurrent repeats)."""
        ...


class Occupancy(Protocol):
    """Whether anything stands in a funnel or stage (the guard of deletes and flag changes)."""

    def funnel_is_occupied(self, company_id: CompanyId, funnel_id: FunnelId) -> bool: ...

    def stage_is_occupied(self, company_id: CompanyId, stage_id: StageId) -> bool: ...

    def contact_is_occupied(self, company_id: CompanyId, contact_id: ContactId) -> bool:
        """Whether any lead or deal belongs to the contact."""
        ...


class FailedLoginRepository(Protocol):
    """Failed sign-ins of the last minutes, kept where every worker process and host sees
    them: the memory of the login throttle (`crm_core.tenancy.LoginThrottle`)."""

    def times_for_email(self, email: str, since: datetime, newest: int) -> list[datetime]:
        """When the email's failures after `since` happened: the `newest` latest, newest first."""
        ...

    def times_from_address(self, address: str, since: datetime, newest: int) -> list[datetime]:
        """When the client address's failures after `since` happened, as `times_for_email`."""
        ...

    def add(self, email: str, address: str, at: datetime, forget_before: datetime) -> None:
        """Records a failure; failures before `forget_before` count no more and go."""
        ...

    def clear_email(self, email: str) -> None:
        """Forgets the email's failures (it signed in)."""
        ...


class JobQueue(Protocol):
    """Jobs within the unit of work: enqueued with the change that needs them, finished with
    the handler's own writes."""

    def add(self, job: NewJob, now: datetime) -> bool:
        """Enqueues `job` in this transaction, due at `now` unless it says when; False when a
        job with its key exists already (the same work asked for twice runs once)."""
        ...

    def finish(self, job: Job, outcome: Outcome, now: datetime) -> bool:
        """Records the outcome in this transaction while `job`'s lease still holds; False when
        another worker has taken it over (then nothing of this transaction may commit)."""
        ...


class TouchLog(Protocol):
    """What the `touch` job leaves behind: one row per run, to see that jobs run once."""

    def record(self, job_id: object, now: datetime) -> None: ...


class JobStore(Protocol):
    """The jobs table as workers and operators see it: each call is its own short
    transaction, never held across a handler's work."""

    def claim(
        self, now: datetime, lease: timedelta, limit: int = 1, job_id: object | None = None
    ) -> list[Job]:
        """Takes up to `limit` jobs that are due, or whose lease expired (only `job_id`, when
        given), under a new lease; each claim counts an attempt."""
        ...

    def release(self, job: Job, now: datetime) -> bool:
        """Hands a claimed job back untouched (a worker stopping): due again at once, and the
        attempt not counted."""
        ...

    def extend(self, jobs: list[Job], now: datetime, lease: timedelta) -> int:
        """Renews the leases of running jobs still held under their tokens (a worker's
        heartbeat, so that a job longer than the lease is not taken over); returns how many."""
        ...

    def due(self, now: datetime, limit: int) -> list[object]:
        """Ids of jobs a worker should take now: pending and due, or with an expired lease."""
        ...

    def listing(self, status: str | None, kind: str | None, limit: int) -> list[Row]: ...

    def retry(self, job_id: object, now: datetime) -> bool:
        """A dead (or done) job pending again, with its attempts reset."""
        ...

    def prune(self, before: datetime) -> int:
        """Deletes done jobs finished before `before`; returns how many."""
        ...

    def backlog(self, now: datetime) -> tuple[int, int]:
        """(due, dead): jobs waiting to run now, and jobs that gave up."""
        ...


class UnitOfWork(Protocol):
    """One transaction: rolled back on leaving the block unless `commit()` was called."""

    companies: CompanyRepository
    users: UserRepository
    tokens: TokenRepository
    branches: BranchRepository
    funnels: FunnelRepository
    contacts: ContactRepository
    leads: LeadRepository
    deals: DealRepository
    activities: ActivityRepository
    accounts: AccountRepository
    messages: MessageRepository
    chats: ChatRegistry
    deliveries: DeliveryInbox
    early_statuses: EarlyStatuses
    idempotency_keys: IdempotencyKeyRepository
    failed_logins: FailedLoginRepository
    jobs: JobQueue
    touches: TouchLog
    occupancy: Occupancy

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...


# --- the read side: lists, details and statistics as plain rows --------------------------


class Resource(enum.StrEnum):
    FUNNELS = "funnels"
    STAGES = "funnel-stages"
    CONTACTS = "contacts"
    LEADS = "leads"
    DEALS = "deals"
    ACTIVITIES = "activities"
    USERS = "users"
    BRANCHES = "branches"
    ACCOUNTS = "wazzupp-accounts"
    MESSAGES = "wazzupp-messages"


Row = Mapping[str, Any]


@attrs.frozen
class ListQuery:
    """A validated list request: filters by name, search text, ordering and the page."""

    filters: Mapping[str, Any] = attrs.field(factory=dict)
    search: str | None = None
    ordering: Sequence[tuple[str, bool]] = ()  # (field, descending)
    page: int = 1
    page_size: int = 50

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size


@attrs.frozen
class Page:
    count: int
    rows: Sequence[Row]


@attrs.frozen
class StatisticsFilter:
    created_after: date | None = None
    created_before: date | None = None
    owner_id: UserId | None = None


class ReadModel(Protocol):
    def list(self, resource: Resource, company_id: CompanyId, query: ListQuery) -> Page: ...

    def detail(self, resource: Resource, company_id: CompanyId, object_id: object) -> Row:
        """One row as the list shows it; raises NotFound outside the company."""
        ...

    def funnel_statistics(
        self, company_id: CompanyId, funnel_id: FunnelId, period: StatisticsFilter
    ) -> Row: ...

    def contact_timeline(
        self, company_id: CompanyId, contact_id: ContactId, page: int, page_size: int
    ) -> Page: ...


class BoardKind(enum.StrEnum):
    """What a board shows: the funnel's open leads, or its open deals."""

    LEADS = "leads"
    DEALS = "deals"


@attrs.frozen
class CardsAfter:
    """Where a column's next cards start: after this card (columns are ordered newest arrival
    first, by `stage_changed_at` then id), so a page never skips or repeats a card when
    others move meanwhile."""

    stage_changed_at: datetime
    id: uuid.UUID


class BoardReader(Protocol):
    """The board of a funnel as plain rows: a fixed number of statements per call, whatever
    the number of leads or deals."""

    def board(
        self, company_id: CompanyId, funnel_id: FunnelId, kind: BoardKind, per_column: int
    ) -> Row:
        """The funnel (`id`, `name`), the company's funnels (`funnels`), and `columns`: one
        per stage in order with `open_count`, `open_amount`, `version` and, for the
        non-final stages, up to `per_column` `cards` and `has_more`. NotFound outside the
        company."""
        ...

    def column(
        self,
        company_id: CompanyId,
        funnel_id: FunnelId,
        stage_id: StageId,
        kind: BoardKind,
        limit: int,
    ) -> Row:
        """One column as `board` gives it, with its `limit` newest cards."""
        ...

    def cards(
        self,
        company_id: CompanyId,
        stage_id: StageId,
        kind: BoardKind,
        after: CardsAfter | None,
        limit: int,
    ) -> tuple[list[Row], bool]:
        """A column's cards after `after` (from the top without it), and whether more follow."""
        ...

    def card(self, company_id: CompanyId, kind: BoardKind, item_id: uuid.UUID) -> Row | None:
        """One card as its column shows it; None when the lead or deal is not open."""
        ...

    def versions(self, company_id: CompanyId, funnel_id: FunnelId, kind: BoardKind) -> Row:
        """Per stage id, a text that changes whenever anything its column shows changes
        (cards coming or going, their fields, unread messages, open tasks); with `stages`,
        which changes when the funnel's stages do. One statement."""
        ...


# --- the messaging provider ----------------------------------------------------------------


@attrs.frozen
class Channel:
    """One of the provider account's channels: `transport` as the provider names it
    (`whatsapp`, `wapi`, `tgapi`, ...), `chat_type` the chats it serves (`whatsapp` for
    `wapi`), and its `state` (only `active` sends)."""

    channel_id: str
    transport: str
    chat_type: str
    plain_id: str
    state: str
    raw: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class OutgoingMessage:
    """What is handed to the provider: exactly one of `chat_id`, `phone` (digits, telegram),
    `username` (without `@`, telegram) addresses it, and one of `text`, `content_uri`."""

    crm_message_id: str
    channel_id: str
    chat_type: ChatType
    chat_id: str | None = None
    phone: str | None = None
    username: str | None = None
    text: str | None = None
    content_uri: str | None = None


@attrs.frozen
class Sent:
    """The provider took a message: its id, and the chat id it will use from now on (for a
    telegram send by username or phone, the numeric chat id; None when it did not say)."""

    provider_message_id: str
    chat_id: str | None = None


@attrs.frozen
class ProviderConnection:
    """Where and with which key to call the provider; the key never shows in a repr."""

    api_url: str
    api_key: str = attrs.field(repr=False)


@attrs.frozen
class WebhookSettings:
    """What the provider has registered as its webhook: the address (empty: none) and
    whether messages-and-statuses and channel updates are on."""

    url: str
    messages: bool
    channels: bool


@attrs.frozen
class ChatAddress:
    """A chat of a contact as the provider addresses it (telegram: `chat_id`, else `username`
    or `phone`)."""

    chat_type: str
    chat_id: str | None = None
    username: str | None = None
    phone: str | None = None


@attrs.frozen
class PushedUser:
    id: str
    name: str


@attrs.frozen
class PushedContact:
    id: str
    responsible_user_id: str
    name: str
    chats: tuple[ChatAddress, ...]
    uri: str


@attrs.frozen
class PushedStage:
    id: str
    name: str


@attrs.frozen
class PushedPipeline:
    id: str
    name: str
    stages: tuple[PushedStage, ...]


@attrs.frozen
class PushedDeal:
    id: str
    responsible_user_id: str
    name: str
    contacts: tuple[str, ...]
    uri: str
    closed: bool


PUSH_BATCH = 100  # the provider takes at most this many entities in one upsert


class PushSource(Protocol):
    """What the CRM shows the provider so that its chat window names people and deals
    (`uri`s are built from `public_url`)."""

    def users(self, company_id: CompanyId) -> list[PushedUser]: ...

    def contacts(self, company_id: CompanyId, public_url: str) -> list[PushedContact]:
        """Contacts with an address on a chat type, each with its chats."""
        ...

    def pipelines(self, company_id: CompanyId) -> list[PushedPipeline]: ...

    def deals(self, company_id: CompanyId, public_url: str) -> list[PushedDeal]:
        """Open deals whose contact has a chat."""
        ...


class MessagingGateway(Protocol):
    """A messaging provider (Wazzup is the first adapter).

    Every call raises a ProviderFailed when it does not succeed: ProviderRejectedKey (the key
    is refused), ProviderRefused (any other refusal, with the provider's code),
    ProviderRateLimited (still rate limited after the adapter's own retries),
    ProviderTimedOut (no answer in time) or ProviderUnreachable.
    """

    def channels(self, connection: ProviderConnection) -> list[Channel]: ...

    def send(self, connection: ProviderConnection, message: OutgoingMessage) -> Sent:
        """Sends one message, retrying 429 and 5xx answers with the same CRM message id; a
        timeout or a dropped connection is not retried (the provider may have the message)."""
        ...

    def register_webhook(self, connection: ProviderConnection, url: str) -> None:
        """Points the provider's webhook at `url`, with messages-and-statuses and channel
        updates on and the other subscriptions off."""
        ...

    def webhook(self, connection: ProviderConnection) -> WebhookSettings: ...

    def push_users(self, connection: ProviderConnection, users: Sequence[PushedUser]) -> None:
        """Upserts at most PUSH_BATCH users (so for the contacts, pipelines and deals)."""
        ...

    def push_contacts(
        self, connection: ProviderConnection, contacts: Sequence[PushedContact]
    ) -> None: ...

    def push_pipelines(
        self, connection: ProviderConnection, pipelines: Sequence[PushedPipeline]
    ) -> None: ...

    def push_deals(self, connection: ProviderConnection, deals: Sequence[PushedDeal]) -> None: ...

    def chat_window(
        self, connection: ProviderConnection, user: PushedUser, chats: Sequence[ChatAddress]
    ) -> str:
        """The address of the provider's chat window for `user`: the given chats (a card), or
        every chat the user may see when `chats` is empty."""
        ...
