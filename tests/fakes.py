"""In-memory fakes of the ports. They deep-copy on the way in and out, so a use case that
forgets to `save` what it changed fails its test, as it would lose the change in production."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

import attrs

from crm_core.errors import NotFound, ProviderFailed
from crm_core.messaging import ChatType, Message, MessagingAccount
from crm_core.ports import Channel, OutgoingMessage, ProviderConnection, Row
from crm_core.tenancy import ApiToken, Company, User
from crm_core.values import new_id

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
    def with_phone(self, company_id: Any, phone: Any) -> list[Any]:
        found = self._find(
            lambda contact: contact.company_id == company_id and phone in contact.phones
        )
        return sorted(found, key=lambda contact: contact.created_at)

    def with_handle(self, company_id: Any, chat_type: ChatType, handle: str) -> list[Any]:
        found = self._find(
            lambda contact: (
                contact.company_id == company_id and contact.handle_for(chat_type) == handle
            )
        )
        return sorted(found, key=lambda contact: contact.created_at)


class FakeLeads(FakeRepository[Any]):
    def open_for_contact(self, company_id: Any, contact_id: Any) -> Any:
        found = self._find(
            lambda lead: (
                lead.company_id == company_id and lead.contact_id == contact_id and lead.is_open
            )
        )
        return min(found, key=lambda lead: lead.created_at) if found else None


class FakeAccounts(FakeRepository[MessagingAccount]):
    def find(self, account_id: Any) -> MessagingAccount | None:
        row = self._current().get(account_id)
        return copy.deepcopy(row) if row else None


class FakeMessages(FakeRepository[Message]):
    def by_provider_id(self, company_id: Any, account_id: Any, provider_id: str) -> Any:
        found = self._find(
            lambda message: (
                message.company_id == company_id
                and message.account_id == account_id
                and message.provider_message_id == provider_id
            )
        )
        return found[0] if found else None

    def contact_in_chat(self, company_id: Any, account_id: Any, chat_id: str) -> Any:
        found = self._find(
            lambda message: (
                message.company_id == company_id
                and message.account_id == account_id
                and message.chat_id == chat_id
                and message.contact_id is not None
            )
        )
        latest = max(found, key=lambda message: message.timestamp, default=None)
        return latest.contact_id if latest else None

    def unread_from(self, company_id: Any, contact_id: Any) -> list[Message]:
        return self._find(
            lambda message: (
                message.company_id == company_id
                and message.contact_id == contact_id
                and message.is_incoming
                and not message.is_read
            )
        )


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
    """Jobs by dedupe key; a finish records the outcome (runners are tested on SQL)."""

    def __init__(self, table: dict[Any, Any], kind: str, pending: dict[Any, Any]) -> None:
        self._table, self._pending = table, pending

    def add(self, job: Any, now: Any) -> bool:
        if job.dedupe_key in self._table or job.dedupe_key in self._pending:
            return False
        self._pending[job.dedupe_key] = copy.deepcopy(job)
        return True

    def finish(self, job: Any, outcome: Any, now: Any) -> bool:
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
        for name, pending in self._pending.items():
            table = self.database.table(name)
            for key, value in pending.items():
                if value is None:
                    table.pop(key, None)
                else:
                    table[key] = value
            pending.clear()
        self.database.commits += 1

    def rollback(self) -> None:
        for pending in self._pending.values():
            pending.clear()


class FakeSecretBox:
    """Not encryption: a marked, reversible wrapping, enough to see that keys are not stored
    in the clear."""

    def encrypt(self, plain: str) -> str:
        return "sealed:" + plain[::-1]

    def decrypt(self, token: str) -> str:
        return token.removeprefix("sealed:")[::-1]


class FakeGateway:
    """A messaging provider in memory: one active WhatsApp channel, sends that are recorded
    and answered with new ids, and failures on demand."""

    def __init__(self) -> None:
        self.channel_list = [Channel("channel-1", "whatsapp", "79865784457", "active")]
        self.attempts: list[OutgoingMessage] = []
        self.sent: list[OutgoingMessage] = []
        self.connections: list[ProviderConnection] = []
        self.channel_checks = 0
        self.send_failure: ProviderFailed | None = None
        self.fail_sends_after: int | None = None
        self.channels_failure: ProviderFailed | None = None
        # Runs inside `send`, before the answer: a webhook arriving while the send is in flight.
        self.during_send: Callable[[OutgoingMessage, str], None] | None = None
        self._ids = 0

    def channel(
        self, state: str = "active", channel_id: str = "channel-1", chat_type: str = "whatsapp"
    ) -> None:
        """Replaces the key's channels with one."""
        self.channel_list = [Channel(channel_id, chat_type, "79865784457", state)]

    def channels(self, connection: ProviderConnection) -> list[Channel]:
        self.channel_checks += 1
        self.connections.append(connection)
        if self.channels_failure is not None:
            raise self.channels_failure
        return list(self.channel_list)

    def send(self, connection: ProviderConnection, message: OutgoingMessage) -> str:
        self.connections.append(connection)
        self.attempts.append(message)
        if self.send_failure is not None and (
            self.fail_sends_after is None or len(self.sent) >= self.fail_sends_after
        ):
            raise self.send_failure
        self.sent.append(message)
        self._ids += 1
        provider_id = f"provider-{self._ids}"
        if self.during_send is not None:
            self.during_send(message, provider_id)
        return provider_id

    def register_webhook(self, connection: ProviderConnection, url: str) -> bool:
        return True

    def push_users(self, connection: ProviderConnection, users: Sequence[Row]) -> int:
        return len(users)

    def push_contacts(self, connection: ProviderConnection, contacts: Sequence[Row]) -> int:
        return len(contacts)

    def push_pipelines(self, connection: ProviderConnection, pipelines: Sequence[Row]) -> int:
        return len(pipelines)

    def push_deals(self, connection: ProviderConnection, deals: Sequence[Row]) -> int:
        return len(deals)

    def chat_window(self, connection: ProviderConnection, user: Row, contact: Row | None) -> str:
        return "https://chat.example/window"
