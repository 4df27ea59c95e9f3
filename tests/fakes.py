"""In-memory fakes of the ports. They deep-copy on the way in and out, so a use case that
forgets to `save` what it changed fails its test, as it would lose the change in production."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

import attrs

from crm_core.errors import Conflict, NotFound, ProviderFailed
from crm_core.inbox import Delivery, StatusItem
from crm_core.jobs import Job, JobHandler, NewJob, Outcome, RetryAt
from crm_core.messaging import ChatType, Message, MessageStatus, MessagingAccount
from crm_core.ports import (
    PUSH_BATCH,
    Channel,
    ChatAddress,
    OutgoingMessage,
    ProviderConnection,
    PushedContact,
    PushedDeal,
    PushedPipeline,
    PushedStage,
    PushedUser,
    Sent,
    WebhookSettings,
)
from crm_core.tenancy import ApiToken, Company, User
from crm_core.values import PhoneNumber, new_id

T = TypeVar("T")


class FixedClock:
    """A clock that stands still until the test moves it."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 11, 24, 10, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> datetime:
        self.current += timedelta(**delta)
        return self.current


class PlainHasher:
    """Not a password hash: a reversible marker, enough to test the rules around it."""

    def hash(self, password: str) -> str:
        return "plain$" + password

    def verify(self, password_hash: str, password: str) -> bool:
        return password_hash == "plain$" + password


class Table(Generic[T]):
    """The committed rows of one aggregate, by id."""

    def __init__(self) -> None:
        self.rows: dict[Any, T] = {}


class FakeRepository(Generic[T]):
    def __init__(self, table: dict[Any, T], kind: str, pending: dict[Any, T | None]) -> None:
        self._table = table
        self._pending = pending
        self._kind = kind

    def _current(self) -> dict[Any, T]:
        merged = {**self._table, **{k: v for k, v in self._pending.items() if v is not None}}
        for key, value in self._pending.items():
            if value is None:
                merged.pop(key, None)
        return merged

    def _find(self, predicate: Callable[[T], bool]) -> list[T]:
        return [copy.deepcopy(row) for row in self._current().values() if predicate(row)]

    def get(self, company_id: Any, object_id: Any) -> T:
        row = self._current().get(object_id)
        if row is None or getattr(row, "company_id", company_id) != company_id:
            raise NotFound(self._kind)
        return copy.deepcopy(row)

    def save(self, entity: T) -> None:
        self._pending[entity.id] = copy.deepcopy(entity)  # type: ignore[attr-defined]

    def delete(self, entity: T) -> None:
        self._pending[entity.id] = None  # type: ignore[attr-defined]


class FakeCompanies(FakeRepository[Company]):
    def get(self, company_id: Any, object_id: Any = None) -> Company:  # type: ignore[override]
        return super().get(company_id, company_id)

    def by_name(self, name: str) -> Company | None:
        found = self._find(lambda company: company.name == name)
        return found[0] if found else None

    def any(self) -> bool:
        return bool(self._current())


class FakeUsers(FakeRepository[User]):
    def by_email(self, email: str) -> User | None:
        found = self._find(lambda user: user.email == email)
        return found[0] if found else None

    def find(self, user_id: Any) -> User | None:
        row = self._current().get(user_id)
        return copy.deepcopy(row) if row else None


class FakeTokens(FakeRepository[ApiToken]):
    def by_hash(self, token_hash: str) -> ApiToken | None:
        found = self._find(lambda token: token.token_hash == token_hash)
        return found[0] if found else None

    def of_user(self, user_id: Any) -> list[ApiToken]:
        return self._find(lambda token: token.user_id == user_id and token.is_active)


class FakeFunnels(FakeRepository[Any]):
    """`read` remembers what it handed out: the SQL adapter may hand the same funnel to other
    units of work, so a use case that changed one would change theirs. `check_reads` (at
    commit) fails the test that does."""

    def __init__(self, table: dict[Any, Any], kind: str, pending: dict[Any, Any | None]) -> None:
        super().__init__(table, kind, pending)
        self._read: list[tuple[Any, dict[str, Any]]] = []

    def read(self, company_id: Any, funnel_id: Any) -> Any:
        funnel = self.get(company_id, funnel_id)
        self._read.append((funnel, attrs.asdict(funnel)))
        return funnel

    def check_reads(self) -> None:
        for funnel, as_read in self._read:
            assert attrs.asdict(funnel) == as_read, f"funnel {funnel.id} was changed after read"

    def with_stage(self, company_id: Any, stage_id: Any) -> Any:
        found = self._find(
            lambda funnel: (
                funnel.company_id == company_id
                and any(stage.id == stage_id for stage in funnel.stages)
            )
        )
        if not found:
            raise NotFound("Stage")
        return found[0]


class FakeContacts(FakeRepository[Any]):
    def exists(self, company_id: Any, contact_id: Any) -> bool:
        row = self._current().get(contact_id)
        return row is not None and row.company_id == company_id

    def get_many(self, company_id: Any, contact_ids: Collection[Any]) -> list[Any]:
        wanted = set(contact_ids)
        return self._find(lambda contact: contact.company_id == company_id and contact.id in wanted)

    def with_phones(self, company_id: Any, phones: Collection[PhoneNumber]) -> list[Any]:
        wanted = set(phones)
        found = self._find(
            lambda contact: contact.company_id == company_id and bool(wanted & set(contact.phones))
        )
        return sorted(found, key=_age)

    def with_handles(
        self, company_id: Any, chat_type: ChatType, handles: Collection[str]
    ) -> list[Any]:
        wanted = set(handles)
        found = self._find(
            lambda contact: (
                contact.company_id == company_id
                and bool(contact.handles_for(chat_type.value) & wanted)
            )
        )
        return sorted(found, key=_age)


def _age(row: Any) -> tuple[datetime, str]:
    """Oldest first, then by id, as the SQL repositories order."""
    return (row.created_at or datetime.max.replace(tzinfo=UTC), str(row.id))


class FakeLeads(FakeRepository[Any]):
    def open_for_contact(self, company_id: Any, contact_id: Any) -> Any:
        return self.open_for_contacts(company_id, [contact_id]).get(contact_id)

    def open_for_contacts(self, company_id: Any, contact_ids: Collection[Any]) -> dict[Any, Any]:
        wanted = set(contact_ids)
        found: dict[Any, Any] = {}
        for lead in sorted(
            self._find(
                lambda lead: (
                    lead.company_id == company_id and lead.contact_id in wanted and lead.is_open
                )
            ),
            key=_age,
        ):
            found.setdefault(lead.contact_id, lead)
        return found


class FakeAccounts(FakeRepository[MessagingAccount]):
    def find(self, account_id: Any) -> MessagingAccount | None:
        row = self._current().get(account_id)
        return copy.deepcopy(row) if row else None

    def all_active(self) -> list[MessagingAccount]:
        return sorted(self._find(lambda account: account.is_active), key=_age)

    def sharing_key(self, company_id: Any, fingerprint: str) -> list[MessagingAccount]:
        if not fingerprint:
            return []
        found = self._find(
            lambda account: (
                account.company_id == company_id and account.api_key_fingerprint == fingerprint
            )
        )
        return sorted(found, key=_age)


class FakeMessages(FakeRepository[Message]):
    def by_provider_id(self, company_id: Any, account_id: Any, provider_id: str) -> Any:
        found = self.by_provider_ids(company_id, [account_id], [provider_id])
        return found[0] if found else None

    def by_provider_ids(
        self, company_id: Any, account_ids: Collection[Any], provider_ids: Collection[str]
    ) -> list[Message]:
        accounts, wanted = set(account_ids), set(provider_ids)
        return self._find(
            lambda message: (
                message.company_id == company_id
                and message.account_id in accounts
                and message.provider_message_id in wanted
            )
        )

    def awaiting_echo(self, company_id: Any, account_id: Any, since: datetime) -> list[Message]:
        return self._find(
            lambda message: (
                message.company_id == company_id
                and message.account_id == account_id
                and not message.is_incoming
                and message.provider_message_id is None
                and message.send_attempted_at is not None
                and message.send_attempted_at >= since
                and (message.status == MessageStatus.PENDING or message.outcome_unknown)
            )
        )

    def received_since(self, account_id: Any, since: datetime | None) -> int:
        return len(
            self._find(
                lambda message: (
                    message.account_id == account_id
                    and message.is_incoming
                    and (since is None or (message.created_at or since) > since)
                )
            )
        )

    def unread_from(self, company_id: Any, contact_id: Any) -> list[Message]:
        found = self._find(
            lambda message: (
                message.company_id == company_id
                and message.contact_id == contact_id
                and message.is_incoming
                and not message.is_read
            )
        )
        return sorted(found, key=lambda message: (message.timestamp, str(message.id)))


@attrs.define
class _Chat:
    id: tuple[Any, str]  # (account, chat id)
    company_id: Any
    contact_id: Any = None


class FakeChats(FakeRepository[_Chat]):
    """The chat registry; `assign` of a chat this unit of work did not claim fails loudly
    (the SQL adapter would silently change nothing)."""

    def __init__(self, table: dict[Any, _Chat], kind: str, pending: dict[Any, Any]) -> None:
        super().__init__(table, kind, pending)
        self.claimed: set[tuple[Any, str]] = set()

    def claim(self, company_id: Any, account_id: Any, chat_ids: Collection[str]) -> dict[str, Any]:
        rows = self._current()
        owners = {}
        for chat_id in sorted(set(chat_ids)):
            key = (account_id, chat_id)
            if key not in rows:
                self.save(_Chat(key, company_id))
            self.claimed.add(key)
            owners[chat_id] = rows[key].contact_id if key in rows else None
        return owners

    def assign(self, account_id: Any, contacts: Mapping[str, Any]) -> None:
        rows = self._current()
        for chat_id, contact_id in contacts.items():
            key = (account_id, chat_id)
            assert key in self.claimed, f"chat {chat_id} assigned without being claimed"
            self.save(attrs.evolve(rows[key], contact_id=contact_id))

    def owner(self, account_id: Any, chat_id: str) -> Any:
        row = self._current().get((account_id, chat_id))
        return row.contact_id if row else None


class FakeDeliveries(FakeRepository[Delivery]):
    def get(self, delivery_id: Any, object_id: Any = None) -> Delivery:  # type: ignore[override]
        row = self._current().get(delivery_id)
        if row is None:
            raise NotFound(self._kind)
        return copy.deepcopy(row)

    def unprocessed(self, account_ids: Collection[Any] | None, limit: int) -> list[Delivery]:
        wanted = None if account_ids is None else set(account_ids)
        found = self._find(
            lambda delivery: (
                delivery.processed_at is None and (wanted is None or delivery.account_id in wanted)
            )
        )
        return sorted(found, key=lambda delivery: (delivery.received_at, str(delivery.id)))[:limit]


@attrs.define
class _EarlyStatus:
    id: Any
    account_id: Any
    delivery_id: Any
    item: StatusItem


class FakeEarlyStatuses(FakeRepository[_EarlyStatus]):
    """As the SQL adapter: a status is kept under the first (by id) of the accounts it may
    belong to, and taken by that account."""

    def keep(
        self, delivery_id: Any, account_ids: Collection[Any], items: Sequence[StatusItem]
    ) -> None:
        account_id = sorted(account_ids, key=str)[0]
        for item in items:
            self.save(_EarlyStatus(uuid.uuid4(), account_id, delivery_id, item))

    def take(self, account_ids: Collection[Any], provider_ids: Collection[str]) -> list[StatusItem]:
        accounts, wanted = set(account_ids), set(provider_ids)
        found = self._find(
            lambda row: row.account_id in accounts and row.item.provider_message_id in wanted
        )
        for row in found:
            self.delete(row)
        found.sort(key=lambda row: (row.item.timestamp is not None, row.item.timestamp or 0))
        return [row.item for row in found]

    def kept(self) -> list[StatusItem]:
        return [row.item for row in self._current().values()]


@attrs.define
class _KeyRecord:
    id: tuple[Any, str]
    message_id: Any
    created_at: datetime


class FakeIdempotencyKeys(FakeRepository[_KeyRecord]):
    def message_for(self, company_id: Any, key: str, since: datetime) -> Any:
        record = self._current().get((company_id, key))
        return record.message_id if record and record.created_at >= since else None

    def remember(self, company_id: Any, key: str, message_id: Any, now: datetime) -> None:
        self.save(_KeyRecord((company_id, key), message_id, now))


@attrs.define
class _FailedLogin:
    id: Any
    email: str
    address: str
    at: datetime


class FakeFailedLogins(FakeRepository[_FailedLogin]):
    def _times(
        self, matches: Callable[[_FailedLogin], bool], since: datetime, newest: int
    ) -> list[datetime]:
        found = [row.at for row in self._current().values() if matches(row) and row.at > since]
        return sorted(found, reverse=True)[:newest]

    def times_for_email(self, email: str, since: datetime, newest: int) -> list[datetime]:
        return self._times(lambda row: row.email == email, since, newest)

    def times_from_address(self, address: str, since: datetime, newest: int) -> list[datetime]:
        return self._times(lambda row: row.address == address, since, newest)

    def add(self, email: str, address: str, at: datetime, forget_before: datetime) -> None:
        for row in self._find(lambda row: row.at < forget_before):
            self.delete(row)
        self.save(_FailedLogin(uuid.uuid4(), email, address, at))

    def clear_email(self, email: str) -> None:
        for row in self._find(lambda row: row.email == email):
            self.delete(row)


class FakeOccupancy:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow

    def _standing(self) -> list[Any]:
        return [*self._uow.leads._current().values(), *self._uow.deals._current().values()]

    def funnel_is_occupied(self, company_id: Any, funnel_id: Any) -> bool:
        return any(item.funnel_id == funnel_id for item in self._standing())

    def stage_is_occupied(self, company_id: Any, stage_id: Any) -> bool:
        return any(item.stage_id == stage_id for item in self._standing())

    def contact_is_occupied(self, company_id: Any, contact_id: Any) -> bool:
        return any(item.contact_id == contact_id for item in self._standing())


class FakeJobs:
    """Jobs by dedupe key; a finish records the outcome (runners are tested on SQL, and
    `FakeDatabase.run_jobs` is a worker in miniature)."""

    def __init__(self, table: dict[Any, Any], kind: str, pending: dict[Any, Any]) -> None:
        self._table, self._pending = table, pending

    def add(self, job: NewJob, now: datetime) -> bool:
        if job.dedupe_key in self._table or job.dedupe_key in self._pending:
            return False
        self._pending[job.dedupe_key] = copy.deepcopy(job)
        return True

    def finish(self, job: Job, outcome: Outcome, now: datetime) -> bool:
        self._pending[("outcome", job.id)] = outcome
        return True


class FakeTouches:
    def __init__(self, table: dict[Any, Any], kind: str, pending: dict[Any, Any]) -> None:
        self._pending = pending

    def record(self, job_id: Any, now: Any) -> None:
        self._pending[new_id()] = (job_id, now)


class FakeDatabase:
    """What the fakes share between units of work: the committed state."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[Any, Any]] = {}
        self.commits = 0

    def table(self, name: str) -> dict[Any, Any]:
        return self.tables.setdefault(name, {})

    def unit_of_work(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self)

    def rows(self, table: str) -> list[Any]:
        """Copies of every committed row of a table (what a list query would read)."""
        return [copy.deepcopy(row) for row in self.table(table).values()]

    def jobs(self, kind: str | None = None) -> list[NewJob]:
        """The committed jobs (of one kind), in the order they were enqueued."""
        return [
            copy.deepcopy(job)
            for key, job in self.table("jobs").items()
            if isinstance(key, str) and (kind is None or job.kind == kind)
        ]

    def outcome(self, job: NewJob) -> Outcome | None:
        return self.table("jobs").get(("outcome", job.id))

    def run_jobs(self, kind: str, handler: JobHandler, now: datetime) -> list[Outcome]:
        """Runs each job of `kind` that is due at `now` and not finished (a RetryAt is due
        again at its time), each in a unit of work of its own that commits the handler's
        writes with the outcome, as the worker does. Returns the outcomes."""
        outcomes = []
        for new in self.jobs(kind):
            previous = self.outcome(new)
            due = new.run_after or now
            if isinstance(previous, RetryAt):
                due = previous.when
            elif previous is not None:
                continue
            if due > now:
                continue
            job = Job(new.id, new.kind, new.dedupe_key, new.payload, 1, new.max_attempts)
            with self.unit_of_work() as uow:
                outcome = handler(job, uow)
                uow.jobs.finish(job, outcome, now)
                uow.commit()
            outcomes.append(outcome)
        return outcomes


# Committed rows that the database keeps unique: (table, the key of a row or None).
UNIQUE: dict[str, Callable[[Any], Any]] = {
    "messages": lambda message: (
        (message.account_id, message.provider_message_id)
        if message.provider_message_id is not None
        else None
    ),
}


class FakeUnitOfWork:
    def __init__(self, database: FakeDatabase) -> None:
        self.database = database
        self._pending: dict[str, dict[Any, Any]] = {}
        make = self._repository
        self.companies = make(FakeCompanies, "companies", "Company")
        self.users = make(FakeUsers, "users", "User")
        self.tokens = make(FakeTokens, "tokens", "Token")
        self.branches = make(FakeRepository, "branches", "Branch")
        self.funnels = make(FakeFunnels, "funnels", "Funnel")
        self.contacts = make(FakeContacts, "contacts", "Contact")
        self.leads = make(FakeLeads, "leads", "Lead")
        self.deals = make(FakeRepository, "deals", "Deal")
        self.activities = make(FakeRepository, "activities", "Activity")
        self.accounts = make(FakeAccounts, "accounts", "Account")
        self.messages = make(FakeMessages, "messages", "Message")
        self.chats = make(FakeChats, "chats", "Chat")
        self.deliveries = make(FakeDeliveries, "deliveries", "Delivery")
        self.early_statuses = make(FakeEarlyStatuses, "early_statuses", "Early status")
        self.idempotency_keys = make(FakeIdempotencyKeys, "idempotency_keys", "Key")
        self.failed_logins = make(FakeFailedLogins, "failed_logins", "Failed login")
        self.jobs = make(FakeJobs, "jobs", "Job")
        self.touches = make(FakeTouches, "job_touches", "Touch")
        self.occupancy = FakeOccupancy(self)

    def _repository(self, cls: type[Any], table: str, kind: str) -> Any:
        return cls(self.database.table(table), kind, self._pending.setdefault(table, {}))

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.rollback()

    def commit(self) -> None:
        self.funnels.check_reads()
        merged = {name: dict(self.database.table(name)) for name in self._pending}
        for name, pending in self._pending.items():
            for key, value in pending.items():
                if value is None:
                    merged[name].pop(key, None)
                else:
                    merged[name][key] = value
        for name, key_of in UNIQUE.items():
            keys = [key_of(row) for row in merged.get(name, {}).values()]
            taken = [key for key in keys if key is not None]
            if len(taken) != len(set(taken)):
                self.rollback()
                raise Conflict(f"Two {name} rows share one unique key.")
        for name, rows in merged.items():
            table = self.database.table(name)
            table.clear()
            table.update(rows)
        for pending in self._pending.values():
            pending.clear()
        self.chats.claimed.clear()
        self.database.commits += 1

    def rollback(self) -> None:
        for pending in self._pending.values():
            pending.clear()
        self.chats.claimed.clear()


class FakeSecretBox:
    """Not encryption: a marked, reversible wrapping under a named key, enough to see that
    keys are not stored in the clear and that a changed server key cannot read them."""

    def __init__(self, key: str = "key-1") -> None:
        self.key = key

    def encrypt(self, plain: str) -> str:
        return f"sealed:{self.key}:" + plain[::-1]

    def decrypt(self, token: str) -> str:
        prefix = f"sealed:{self.key}:"
        if not token.startswith(prefix):
            raise ValueError("the secret was encrypted with another key")
        return token.removeprefix(prefix)[::-1]


@attrs.frozen
class AnswerLost:
    """A send the provider takes (it makes the message and its id) whose answer the CRM never
    hears: `failure` is raised instead (a timeout, a dropped connection)."""

    failure: ProviderFailed


SendOutcome = ProviderFailed | AnswerLost | None


def a_channel(
    channel_id: str = "channel-1",
    chat_type: str = "whatsapp",
    state: str = "active",
    transport: str | None = None,
    plain_id: str = "79865784457",
) -> Channel:
    """A channel as the provider lists it; its transport is its chat type unless given
    (`wapi` is a WhatsApp Business API channel of the chat type whatsapp)."""
    return Channel(channel_id, transport or chat_type, chat_type, plain_id, state)


class FakeGateway:
    """A messaging provider in memory: one active WhatsApp channel, sends that are recorded
    and answered with new ids (a telegram send by username or phone with the numeric chat id
    the provider will use from then on), one webhook address, pushes recorded batch by batch,
    and failures on demand: for every call, or call by call."""

    def __init__(self) -> None:
        self.channel_list = [a_channel()]
        self.attempts: list[OutgoingMessage] = []
        self.sent: list[OutgoingMessage] = []
        self.connections: list[ProviderConnection] = []
        self.channel_checks = 0
        # Each send takes the first outcome left here (None: it goes through); when none is
        # left, `send_failure` holds for every send after the first `fail_sends_after` ones.
        self.send_outcomes: list[SendOutcome] = []
        self.send_failure: SendOutcome = None
        self.fail_sends_after: int | None = None
        self.channels_failure: ProviderFailed | None = None
        # Runs inside `send` once the provider has the message, before the answer: a webhook
        # arriving while the send is in flight.
        self.during_send: Callable[[OutgoingMessage, str], None] | None = None
        # The numeric chat id of a telegram username or phone (made up when not given).
        self.telegram_chat_ids: dict[str, str] = {}
        self.webhook_url = ""
        self.registered: list[str] = []
        # Another integration on the same key that takes the webhook back at once.
        self.foreign_webhook = ""
        self.webhook_failure: ProviderFailed | None = None
        self.pushed: dict[str, list[list[Any]]] = {
            "users": [],
            "contacts": [],
            "pipelines": [],
            "deals": [],
        }
        self.push_failure: ProviderFailed | None = None
        self.chat_windows: list[tuple[PushedUser, tuple[ChatAddress, ...]]] = []
        self._ids = 0

    def channel(
        self,
        state: str = "active",
        channel_id: str = "channel-1",
        chat_type: str = "whatsapp",
        transport: str | None = None,
    ) -> None:
        """Replaces the key's channels with one."""
        self.channel_list = [a_channel(channel_id, chat_type, state, transport)]

    def channels(self, connection: ProviderConnection) -> list[Channel]:
        self.channel_checks += 1
        self.connections.append(connection)
        if self.channels_failure is not None:
            raise self.channels_failure
        return list(self.channel_list)

    def _outcome(self) -> SendOutcome:
        if self.send_outcomes:
            return self.send_outcomes.pop(0)
        if self.fail_sends_after is not None and len(self.sent) < self.fail_sends_after:
            return None
        return self.send_failure

    def send(self, connection: ProviderConnection, message: OutgoingMessage) -> Sent:
        self.connections.append(connection)
        self.attempts.append(message)
        outcome = self._outcome()
        if isinstance(outcome, ProviderFailed):
            raise outcome
        self.sent.append(message)
        self._ids += 1
        provider_id = f"provider-{self._ids}"
        if self.during_send is not None:
            self.during_send(message, provider_id)
        if isinstance(outcome, AnswerLost):
            raise outcome.failure
        return Sent(provider_id, self.chat_of(message))

    def chat_of(self, message: OutgoingMessage) -> str | None:
        """The chat id the provider answers a send with: the one given, or for a telegram
        username or phone the numeric id of that account."""
        if message.chat_id:
            return message.chat_id
        address = message.username or message.phone or ""
        if address not in self.telegram_chat_ids:
            self.telegram_chat_ids[address] = str(500_000_000 + len(self.telegram_chat_ids) + 1)
        return self.telegram_chat_ids[address]

    def register_webhook(self, connection: ProviderConnection, url: str) -> None:
        self.connections.append(connection)
        if self.webhook_failure is not None:
            raise self.webhook_failure
        self.registered.append(url)
        self.webhook_url = self.foreign_webhook or url

    def webhook(self, connection: ProviderConnection) -> WebhookSettings:
        if self.webhook_failure is not None:
            raise self.webhook_failure
        return WebhookSettings(self.webhook_url, bool(self.webhook_url), bool(self.webhook_url))

    def _push(self, kind: str, connection: ProviderConnection, batch: Sequence[Any]) -> None:
        self.connections.append(connection)
        if self.push_failure is not None:
            raise self.push_failure
        assert len(batch) <= PUSH_BATCH, f"{len(batch)} {kind} in one push"
        self.pushed[kind].append(list(batch))

    def push_users(self, connection: ProviderConnection, users: Sequence[PushedUser]) -> None:
        self._push("users", connection, users)

    def push_contacts(
        self, connection: ProviderConnection, contacts: Sequence[PushedContact]
    ) -> None:
        self._push("contacts", connection, contacts)

    def push_pipelines(
        self, connection: ProviderConnection, pipelines: Sequence[PushedPipeline]
    ) -> None:
        self._push("pipelines", connection, pipelines)

    def push_deals(self, connection: ProviderConnection, deals: Sequence[PushedDeal]) -> None:
        self._push("deals", connection, deals)

    def chat_window(
        self, connection: ProviderConnection, user: PushedUser, chats: Sequence[ChatAddress]
    ) -> str:
        self.connections.append(connection)
        self.chat_windows.append((user, tuple(chats)))
        return f"https://chat.example/window?user={user.id}"


class FakePushSource:
    """What the CRM shows the provider, read from the fake database's committed rows (the
    SQL adapter's rules in small: a user without a full name goes by e-mail; contacts with a
    chat; open deals of such contacts)."""

    def __init__(self, database: FakeDatabase) -> None:
        self.database = database

    def _of(self, table: str, company_id: Any) -> list[Any]:
        return sorted(
            (row for row in self.database.rows(table) if row.company_id == company_id), key=_age
        )

    def _owner(self, company_id: Any) -> str:
        users = [user for user in self._of("users", company_id) if user.is_active]
        return str(users[0].id) if users else ""

    def users(self, company_id: Any) -> list[PushedUser]:
        return [
            PushedUser(str(user.id), user.full_name or user.email)
            for user in self._of("users", company_id)
            if user.is_active
        ]

    def contacts(self, company_id: Any, public_url: str) -> list[PushedContact]:
        owner = self._owner(company_id)
        pushed = []
        for contact in self._of("contacts", company_id):
            chats = _chats(contact)
            if chats:
                pushed.append(
                    PushedContact(
                        str(contact.id),
                        str(contact.owner_id or owner),
                        contact.full_name or contact.first_name,
                        chats,
                        f"{public_url}/api/crm/contacts/{contact.id}/",
                    )
                )
        return pushed

    def pipelines(self, company_id: Any) -> list[PushedPipeline]:
        return [
            PushedPipeline(
                str(funnel.id),
                funnel.name,
                tuple(PushedStage(str(stage.id), stage.name) for stage in funnel.ordered_stages),
            )
            for funnel in self._of("funnels", company_id)
        ]

    def deals(self, company_id: Any, public_url: str) -> list[PushedDeal]:
        owner = self._owner(company_id)
        chatty = {contact.id for contact in self.contacts(company_id, public_url)}
        return [
            PushedDeal(
                str(deal.id),
                str(deal.owner_id or owner),
                deal.title,
                (str(deal.contact_id),),
                f"{public_url}/api/crm/deals/{deal.id}/",
                closed=False,
            )
            for deal in self._of("deals", company_id)
            if not (deal.is_won or deal.is_lost) and str(deal.contact_id) in chatty
        ]


def _chats(contact: Any) -> tuple[ChatAddress, ...]:
    """A contact's chats as the SQL push source finds them (whatsapp: the number's digits;
    telegram: the learnt chat id, else the username; instagram: the handle)."""
    chats = []
    number = contact.whatsapp or contact.phone
    if number:
        chats.append(ChatAddress("whatsapp", chat_id=number.digits))
    if contact.telegram_chat_id:
        chats.append(ChatAddress("telegram", chat_id=contact.telegram_chat_id))
    elif contact.telegram:
        chats.append(ChatAddress("telegram", username=contact.telegram))
    if contact.instagram:
        chats.append(ChatAddress("instagram", chat_id=contact.instagram))
    return tuple(chats)
