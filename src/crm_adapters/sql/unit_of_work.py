"""The unit of work over a SQLAlchemy session, with one repository per aggregate root."""

from __future__ import annotations

import functools
import os
import random
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from types import TracebackType
from typing import Any, Generic, NamedTuple, Self, TypeVar

from sqlalchemy import (
    BigInteger,
    Connection,
    Engine,
    Table,
    Uuid,
    bindparam,
    delete,
    event,
    exists,
    func,
    insert,
    inspect,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, joinedload, make_transient_to_detached, sessionmaker
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.sql import Select

from crm_adapters.sql import tables
from crm_adapters.sql.jobs import SqlJobs, SqlTouches
from crm_adapters.sql.mapping import start_mappers
from crm_adapters.sql.read_model import detail_key, detail_of_written, rows_of
from crm_adapters.sql.reads import ReadConnections
from crm_core.activity import Activity
from crm_core.contact import Contact
from crm_core.deal import Deal
from crm_core.errors import Conflict, DomainError, NotFound
from crm_core.funnel import Funnel, Stage
from crm_core.history import StageTransition
from crm_core.inbox import Delivery, DeliveryError, StatusItem
from crm_core.lead import Lead, LeadStatus
from crm_core.messaging import (
    IDEMPOTENCY_WINDOW,
    ChatType,
    Message,
    MessageStatus,
    MessagingAccount,
)
from crm_core.ports import (
    AccountRepository,
    ActivityRepository,
    BranchRepository,
    ChatRegistry,
    CompanyRepository,
    ContactRepository,
    DealRepository,
    DeliveryInbox,
    EarlyStatuses,
    FailedLoginRepository,
    FunnelRepository,
    IdempotencyKeyRepository,
    JobQueue,
    LeadRepository,
    MessageRepository,
    Occupancy,
    Resource,
    Row,
    TokenRepository,
    TouchLog,
    UserRepository,
)
from crm_core.tenancy import ApiToken, Branch, Company, User
from crm_core.values import (
    AccountId,
    CompanyId,
    ContactId,
    DeliveryId,
    FunnelId,
    MessageId,
    PhoneNumber,
    StageId,
    UserId,
)

T = TypeVar("T")


def _core(session: Session) -> Connection:
    """The session's connection (its transaction begun), for Core statements that load no
    entities: run there, they skip the ORM's execution layer, which a create's three such
    statements paid about 0.1 ms of CPU for."""
    return session.connection()


class _Repository(Generic[T]):
    """get/save/delete of one aggregate root, always within a company."""

    def __init__(self, session: Session, cls: type[T], table: Any, kind: str) -> None:
        self.session = session
        self._cls = cls
        self._table = table
        self._kind = kind

    def get(self, company_id: Any, object_id: Any) -> T:
        found = (
            self.session.get(self._cls, object_id, options=self._load_options())
            if object_id is not None
            else None
        )
        if found is None or getattr(found, "company_id", None) != company_id:
            raise NotFound(self._kind)
        return found

    def _load_options(self) -> list[Any]:
        """How `get` loads the aggregate's parts (the mappers are configured by then)."""
        return []

    def _first(self, statement: Any) -> T | None:
        found: T | None = self.session.scalars(statement.limit(1)).first()
        return found

    def save(self, entity: T) -> None:
        self.session.add(entity)

    def delete(self, entity: T) -> None:
        self.session.delete(entity)


class SqlCompanies(_Repository[Company]):
    def get(self, company_id: Any, object_id: Any = None) -> Company:
        found = self.session.get(Company, company_id)
        if found is None:
            raise NotFound("Company")
        return found

    def by_name(self, name: str) -> Company | None:
        return self._first(select(Company).where(tables.companies.c.name == name))

    def any(self) -> bool:
        return bool(self.session.scalar(select(exists().select_from(tables.companies))))


class SqlUsers(_Repository[User]):
    def by_email(self, email: str) -> User | None:
        return self._first(select(User).where(tables.users.c.email == email))

    def find(self, user_id: UserId) -> User | None:
        return self.session.get(User, user_id)


class SqlTokens(_Repository[ApiToken]):
    def by_hash(self, token_hash: str) -> ApiToken | None:
        return self._first(select(ApiToken).where(tables.api_tokens.c.token_hash == token_hash))

    def of_user(self, user_id: UserId) -> list[ApiToken]:
        tokens = tables.api_tokens
        return list(
            self.session.scalars(
                select(ApiToken).where(tokens.c.user_id == user_id, tokens.c.revoked_at.is_(None))
            )
        )


class SqlFunnels(_Repository[Funnel]):
    """Funnels, with a reader/writer lock on PostgreSQL that keeps stage flags still.

    A move reads its target stage's `is_final`/`is_success` from the funnel it loads, then
    commits later; if a stage's flags changed in between, a deal could stand in a success
    stage without being won. So loading a funnel holds a shared lock on it until the unit of
    work ends, and changing or removing a stage (`with_stage`) takes it exclusively before
    its occupancy check. Moves do not wait for each other. SQLite needs none of this: it
    runs one writer at a time and refuses to commit a transaction that read stale data.

    `get` reads the funnel and its stages in one statement (a join) after taking the lock.
    `read` takes the lock and reads the funnel's `layout` number in one round trip, and hands
    out the funnel the process holds for that number (`FunnelLayouts`), loading it only when
    the number has moved: every lead or deal written consults its funnel, and building the
    funnel's objects cost about as much as the rest of such a write.
    """

    def __init__(self, session: Session, layouts: FunnelLayouts) -> None:
        super().__init__(session, Funnel, tables.funnels, "Funnel")
        self._layouts = layouts

    def _load_options(self) -> list[Any]:
        return [joinedload(Funnel.stages)]  # type: ignore[arg-type]

    def get(self, company_id: Any, object_id: Any) -> Funnel:
        self._lock(object_id, exclusive=False)
        if object_id is None:
            raise NotFound(self._kind)
        # By a statement built once, where session.get builds and keys a new one each time
        # (unless it holds the funnel).
        found = self._held(object_id) or self._load(object_id)
        if found is None or found.company_id != company_id:
            raise NotFound(self._kind)
        return found

    def read(self, company_id: CompanyId, funnel_id: FunnelId) -> Funnel:
        if funnel_id is None or self._held(funnel_id) is not None:
            return self.get(company_id, funnel_id)  # this unit of work's own, as it changed it
        layout = self._locked_layout(company_id, funnel_id)
        if layout is None:
            raise NotFound(self._kind)
        found = self._layouts.get(funnel_id, layout)
        if found is None:
            # Loaded after the number was read: at least as new as the number says, so the
            # pair never claims an older funnel is current.
            found = self._load(funnel_id)
            if found is None:
                raise NotFound(self._kind)
            self.session.expunge(found)  # and its stages: no session owns a shared funnel
            self._layouts.keep(funnel_id, layout, found)
        return found

    def _locked_layout(self, company_id: CompanyId, funnel_id: FunnelId) -> int | None:
        """The funnel's layout number, read after its shared lock is taken (so it tells every
        change committed before the lock was granted): on PostgreSQL in one round trip, by the
        function `crm_funnel_layout` (migration 0010), whose statements each take a snapshot
        of their own. A number the process holds a funnel for means nothing changed since."""
        values = {"funnel_id": funnel_id, "company_id": company_id}
        if not self._locks():
            found: int | None = _core(self.session).execute(_LAYOUT, values).scalar_one_or_none()
            return found
        locked: int | None = (
            _core(self.session)
            .execute(_LOCKED_LAYOUT, {**values, "key": _lock_key(funnel_id)})
            .scalar()
        )
        return locked

    def _locks(self) -> bool:
        return self.session.get_bind().dialect.name == "postgresql"

    def _held(self, funnel_id: Any) -> Funnel | None:
        found: Funnel | None = self.session.identity_map.get(
            self.session.identity_key(Funnel, funnel_id)
        )
        return found

    def _load(self, funnel_id: Any) -> Funnel | None:
        found: Funnel | None = (
            self.session.execute(_funnel_query(), {"funnel_id": funnel_id})
            .unique()
            .scalar_one_or_none()
        )
        return found

    def with_stage(self, company_id: CompanyId, stage_id: StageId) -> Funnel:
        funnels, stages = tables.funnels, tables.stages
        funnel_id = self.session.scalar(
            select(funnels.c.id)
            .join(stages, stages.c.funnel_id == funnels.c.id)
            .where(funnels.c.company_id == company_id, stages.c.id == stage_id)
        )
        if funnel_id is None:
            raise NotFound("Stage")
        self._lock(funnel_id, exclusive=True)
        # Loaded after the lock, so the occupancy check that follows sees every committed move.
        return super().get(company_id, funnel_id)

    def _lock(self, funnel_id: Any, *, exclusive: bool) -> None:
        if funnel_id is None or not self._locks():
            return
        _core(self.session).execute(_FUNNEL_LOCKS[exclusive], {"key": _lock_key(funnel_id)})


def _lock_key(funnel_id: Any) -> int:
    """A funnel's advisory lock: a signed 64-bit key drawn from its id."""
    return uuid.UUID(str(funnel_id)).int & 0x7FFF_FFFF_FFFF_FFFF


@functools.cache
def _funnel_query() -> Any:
    """A funnel and its stages in one statement (built once the mappers are configured)."""
    return (
        select(Funnel)
        .options(joinedload(Funnel.stages))  # type: ignore[arg-type]
        .where(tables.funnels.c.id == bindparam("funnel_id"))
    )


_LAYOUT = select(tables.funnels.c.layout).where(
    tables.funnels.c.id == bindparam("funnel_id"),
    tables.funnels.c.company_id == bindparam("company_id"),
)
_LOCKED_LAYOUT = select(
    func.crm_funnel_layout(
        bindparam("funnel_id", type_=Uuid),
        bindparam("company_id", type_=Uuid),
        bindparam("key", type_=BigInteger),
    )
)


class FunnelLayouts:
    """The funnels a process read last for `SqlFunnels.read`, each with the `layout` number it
    was read under: one per unit-of-work factory, shared by its units of work and threads.

    A funnel is put here detached from its session and is never changed afterwards (`read`'s
    callers only consult it), so any thread may read it. A funnel whose number moved is read
    again and replaces its entry; when the entries reach LIMIT, they are all dropped (a
    company has a few funnels, and one read brings an entry back).
    """

    LIMIT = 4096

    def __init__(self) -> None:
        self._held: dict[FunnelId, tuple[int, Funnel]] = {}

    def get(self, funnel_id: FunnelId, layout: int) -> Funnel | None:
        held = self._held.get(funnel_id)
        return held[1] if held is not None and held[0] == layout else None

    def keep(self, funnel_id: FunnelId, layout: int, funnel: Funnel) -> None:
        if len(self._held) >= self.LIMIT:
            self._held.clear()
        self._held[funnel_id] = (layout, funnel)


# Built once (every write to a funnel's leads or deals takes one): exclusive, shared.
_FUNNEL_LOCKS = {
    exclusive: select(lock(bindparam("key", type_=BigInteger)))
    for exclusive, lock in (
        (True, func.pg_advisory_xact_lock),
        (False, func.pg_advisory_xact_lock_shared),
    )
}


class SqlContacts(_Repository[Contact]):
    _EXISTS = select(tables.contacts.c.id).where(
        tables.contacts.c.id == bindparam("contact_id"),
        tables.contacts.c.company_id == bindparam("company_id"),
    )

    def exists(self, company_id: CompanyId, contact_id: ContactId) -> bool:
        found = (
            _core(self.session)
            .execute(self._EXISTS, {"contact_id": contact_id, "company_id": company_id})
            .first()
        )
        return found is not None

    def get_many(self, company_id: CompanyId, contact_ids: Collection[ContactId]) -> list[Contact]:
        if not contact_ids:
            return []
        c = tables.contacts
        return list(
            self.session.scalars(
                select(Contact).where(c.c.company_id == company_id, c.c.id.in_(list(contact_ids)))
            )
        )

    def with_phones(self, company_id: CompanyId, phones: Collection[PhoneNumber]) -> list[Contact]:
        c = tables.contacts
        wanted = list(phones)
        return list(
            self.session.scalars(
                select(Contact)
                .where(
                    c.c.company_id == company_id,
                    or_(
                        c.c.phone.in_(wanted),
                        c.c.whatsapp.in_(wanted),
                        c.c.phone_secondary.in_(wanted),
                    ),
                )
                .order_by(c.c.created_at, c.c.id)
            )
        )

    def with_handles(
        self, company_id: CompanyId, chat_type: ChatType, handles: Collection[str]
    ) -> list[Contact]:
        # SQL narrows to contacts that carry a handle anywhere; which field counts for a chat
        # type is the domain's rule (Contact.handles_for), applied to the candidates.
        c = tables.contacts
        wanted = set(handles)
        numbers = ["+" + handle for handle in wanted if handle.isdigit()]
        candidates = [
            c.c.instagram.in_(wanted),
            c.c.telegram.in_(wanted),
            c.c.telegram_chat_id.in_(wanted),
        ]
        if numbers:
            candidates += [c.c.phone.in_(numbers), c.c.whatsapp.in_(numbers)]
        found = self.session.scalars(
            select(Contact)
            .where(c.c.company_id == company_id, or_(*candidates))
            .order_by(c.c.created_at, c.c.id)
        )
        return [contact for contact in found if contact.handles_for(chat_type) & wanted]


_COLUMNS: dict[type, list[tuple[str, str]]] = {}


def _columns_of(cls: type) -> list[tuple[str, str]]:
    """The mapped class's attributes and the columns they are stored in (once mapped)."""
    if cls not in _COLUMNS:
        attributes: Any = inspect(cls).column_attrs
        _COLUMNS[cls] = [(prop.key, prop.columns[0].key) for prop in attributes]
    return _COLUMNS[cls]


_NEW_TRACKED = "new_stage_tracked"  # session.info: new leads and deals, kept out of the ORM


class _StageTrackedRepository(_Repository[T]):
    """Leads and deals. A new one waits for the commit outside the ORM's unit of work: when it
    is all the commit writes (creating a lead or a deal), it goes in one INSERT for its row
    and one for its stage history, and is tracked like a loaded one afterwards.

    Queued in the session instead, each new lead cost the ORM's flush more than the rest of
    its creation (its dependency sort, per-row bookkeeping and version handling). Alongside
    other changes, the new ones join the session and the ORM orders the whole flush.
    """

    def save(self, entity: T) -> None:
        if inspect(entity).transient:
            _new_tracked(self.session)[id(entity)] = entity
        else:
            self.session.add(entity)


def _new_tracked(session: Session) -> dict[int, Any]:
    found: dict[int, Any] = session.info.setdefault(_NEW_TRACKED, {})
    return found


def _flush(session: Session) -> None:
    """The session's flush, the new leads and deals in it."""
    session.add_all(session.info.pop(_NEW_TRACKED, {}).values())
    with translated_errors(session):
        session.flush()


def _insert_new_tracked(session: Session) -> tuple[list[Any], list[_Row]]:
    """At commit: the new leads and deals to insert directly, when they are all there is to
    write, and their rows (`_track` attaches them once the commit has succeeded)."""
    new = session.info.pop(_NEW_TRACKED, {})
    if not new:
        return [], []
    if session.new or session.dirty or session.deleted:
        session.add_all(new.values())  # the ORM orders their rows among the others
        return [], []
    # Leads before deals: a deal may name a lead created with it.
    inserted = sorted(new.values(), key=lambda entity: isinstance(entity, Deal))
    rows = []
    for entity in inserted:
        row = {column: getattr(entity, key) for key, column in _columns_of(type(entity))}
        rows.append(_Row(inspect(entity).mapper.local_table, row))
        rows += [_Row(tables.stage_transitions, stay) for stay in _stays(entity)]
        session.info.setdefault(_CHANGED_FUNNELS, set()).add(entity.funnel_id)
    return inserted, rows


def _stays(entity: Lead | Deal) -> list[dict[str, Any]]:
    """The rows of a new lead's or deal's stage history, naming it as their subject."""
    lead_id, deal_id = _subject(entity)
    subject = {"lead_id": lead_id, "deal_id": deal_id}
    return [
        {column: getattr(stay, key, None) for key, column in _columns_of(StageTransition)} | subject
        for stay in entity.history
    ]


def _subject(entity: Lead | Deal) -> tuple[Any, Any]:
    """The lead id and deal id a stay of `entity` names (one of them None)."""
    return (entity.id, None) if isinstance(entity, Lead) else (None, entity.id)


def _track(session: Session, inserted: list[Any]) -> None:
    """Committed rows written outside the ORM: their objects are persistent from here (later
    changes are UPDATEs against the version written). A failed commit leaves them new."""
    for entity in inserted:
        lead_id, deal_id = _subject(entity)
        for stay in entity.history:
            stay.lead_id, stay.deal_id = lead_id, deal_id
            make_transient_to_detached(stay)
        make_transient_to_detached(entity)
        session.add(entity)


class SqlLeads(_StageTrackedRepository[Lead]):
    def open_for_contact(self, company_id: CompanyId, contact_id: ContactId) -> Lead | None:
        lead = tables.leads
        return self._first(
            select(Lead)
            .where(
                lead.c.company_id == company_id,
                lead.c.contact_id == contact_id,
                lead.c.status == LeadStatus.OPEN,
            )
            .order_by(lead.c.created_at, lead.c.id)
        )

    def open_for_contacts(
        self, company_id: CompanyId, contact_ids: Collection[ContactId]
    ) -> dict[ContactId, Lead]:
        lead = tables.leads
        if not contact_ids:
            return {}
        found: dict[ContactId, Lead] = {}
        for row in self.session.scalars(
            select(Lead)
            .where(
                lead.c.company_id == company_id,
                lead.c.contact_id.in_(list(contact_ids)),
                lead.c.status == LeadStatus.OPEN,
            )
            .order_by(lead.c.created_at.desc(), lead.c.id.desc())
        ):
            found[row.contact_id] = row  # the oldest comes last and wins
        return found


class SqlAccounts(_Repository[MessagingAccount]):
    def find(self, account_id: AccountId) -> MessagingAccount | None:
        return self.session.get(MessagingAccount, account_id)

    def all_active(self) -> list[MessagingAccount]:
        a = tables.messaging_accounts
        return list(
            self.session.scalars(
                select(MessagingAccount).where(a.c.is_active).order_by(a.c.created_at, a.c.id)
            )
        )

    def sharing_key(self, company_id: CompanyId, fingerprint: str) -> list[MessagingAccount]:
        a = tables.messaging_accounts
        if not fingerprint:
            return []
        return list(
            self.session.scalars(
                select(MessagingAccount)
                .where(a.c.company_id == company_id, a.c.api_key_fingerprint == fingerprint)
                .order_by(a.c.created_at, a.c.id)
            )
        )


class SqlMessages(_Repository[Message]):
    def by_provider_id(
        self, company_id: CompanyId, account_id: AccountId, provider_message_id: str
    ) -> Message | None:
        m = tables.messages
        return self._first(
            select(Message).where(
                m.c.company_id == company_id,
                m.c.account_id == account_id,
                m.c.provider_message_id == provider_message_id,
            )
        )

    def by_provider_ids(
        self,
        company_id: CompanyId,
        account_ids: Collection[AccountId],
        provider_message_ids: Collection[str],
    ) -> list[Message]:
        m = tables.messages
        if not account_ids or not provider_message_ids:
            return []
        return list(
            self.session.scalars(
                select(Message).where(
                    m.c.company_id == company_id,
                    m.c.account_id.in_(list(account_ids)),
                    m.c.provider_message_id.in_(list(provider_message_ids)),
                )
            )
        )

    def awaiting_echo(
        self, company_id: CompanyId, account_id: AccountId, since: datetime
    ) -> list[Message]:
        m = tables.messages
        return list(
            self.session.scalars(
                select(Message).where(
                    m.c.company_id == company_id,
                    m.c.account_id == account_id,
                    ~m.c.is_incoming,
                    m.c.provider_message_id.is_(None),
                    m.c.send_attempted_at >= since,
                    or_(m.c.status == MessageStatus.PENDING, m.c.outcome_unknown),
                )
            )
        )

    def received_since(self, account_id: AccountId, since: datetime | None) -> int:
        m = tables.messages
        query = select(func.count()).where(m.c.account_id == account_id, m.c.is_incoming)
        if since is not None:
            query = query.where(m.c.created_at > since)
        return int(self.session.scalar(query) or 0)

    def unread_from(self, company_id: CompanyId, contact_id: ContactId) -> list[Message]:
        m = tables.messages
        return list(
            self.session.scalars(
                select(Message)
                .where(
                    m.c.company_id == company_id,
                    m.c.contact_id == contact_id,
                    m.c.is_incoming,
                    ~m.c.is_read,
                )
                .order_by(m.c.timestamp, m.c.id)
            )
        )

    def delete(self, message: Message) -> None:
        # Flushed at once: a flush issues UPDATEs before DELETEs, so a row that takes this
        # one's provider id later in the unit of work would clash with it otherwise.
        self.session.delete(message)
        _flush(self.session)


class SqlChats:
    """The chats table: claimed with INSERT ... ON CONFLICT DO NOTHING, then held with
    SELECT ... FOR UPDATE in a fixed order (PostgreSQL; SQLite has one writer at a time)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def claim(
        self, company_id: CompanyId, account_id: AccountId, chat_ids: Collection[str]
    ) -> dict[str, ContactId | None]:
        wanted = sorted(set(chat_ids))
        if not wanted:
            return {}
        c = tables.chats
        dialect = self.session.get_bind().dialect.name
        insert_chats = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(c)
        self.session.execute(
            insert_chats.on_conflict_do_nothing(index_elements=["account_id", "chat_id"]),
            [
                {"account_id": account_id, "chat_id": chat_id, "company_id": company_id}
                for chat_id in wanted
            ],
        )
        query = (
            select(c.c.chat_id, c.c.contact_id)
            .where(c.c.account_id == account_id, c.c.chat_id.in_(wanted))
            .order_by(c.c.chat_id)
        )
        if dialect == "postgresql":
            query = query.with_for_update()
        return {row.chat_id: row.contact_id for row in self.session.execute(query)}

    def assign(self, account_id: AccountId, contacts: Mapping[str, ContactId]) -> None:
        if not contacts:
            return
        # The contacts may be new in this unit of work: they must exist first.
        _flush(self.session)
        c = tables.chats
        self.session.execute(
            update(c)
            .where(c.c.account_id == bindparam("a"), c.c.chat_id == bindparam("c"))
            .values(contact_id=bindparam("contact")),
            [
                {"a": account_id, "c": chat_id, "contact": contact_id}
                for chat_id, contact_id in sorted(contacts.items())
            ],
        )


class SqlDeliveries:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, delivery_id: DeliveryId) -> Delivery:
        delivery = self.session.get(Delivery, delivery_id)
        if delivery is None:
            raise NotFound("Delivery")
        return delivery

    def unprocessed(self, account_ids: Collection[AccountId] | None, limit: int) -> list[Delivery]:
        d = tables.webhook_deliveries
        query = select(Delivery).where(d.c.processed_at.is_(None))
        if account_ids is not None:
            query = query.where(d.c.account_id.in_(list(account_ids)))
        return list(self.session.scalars(query.order_by(d.c.received_at, d.c.id).limit(limit)))

    def save(self, delivery: Delivery) -> None:
        self.session.add(delivery)


class SqlEarlyStatuses:
    def __init__(self, session: Session) -> None:
        self.session = session

    def keep(
        self,
        delivery_id: DeliveryId,
        account_ids: Collection[AccountId],
        items: Sequence[StatusItem],
    ) -> None:
        # A status names no account: it is kept under the first of the key's accounts and
        # taken by any of them.
        account_id = sorted(account_ids, key=str)[0]
        self.session.execute(
            insert(tables.early_statuses),
            [
                {
                    "id": uuid.uuid4(),
                    "account_id": account_id,
                    "delivery_id": delivery_id,
                    "provider_message_id": item.provider_message_id,
                    "status": item.status,
                    "error": item.error.as_dict() if item.error else None,
                    "reported_at": item.timestamp,
                }
                for item in items
            ],
        )

    def take(
        self, account_ids: Collection[AccountId], provider_message_ids: Collection[str]
    ) -> list[StatusItem]:
        e = tables.early_statuses
        if not account_ids or not provider_message_ids:
            return []
        where = (
            e.c.account_id.in_(list(account_ids)),
            e.c.provider_message_id.in_(list(provider_message_ids)),
        )
        rows = self.session.execute(select(e).where(*where).order_by(e.c.reported_at)).all()
        if not rows:
            return []
        self.session.execute(delete(e).where(*where))
        return [
            StatusItem(
                provider_message_id=row.provider_message_id,
                status=row.status,
                error=DeliveryError(row.error.get("code", ""), row.error.get("description", ""))
                if row.error
                else None,
                timestamp=row.reported_at,
            )
            for row in rows
        ]


class SqlIdempotencyKeys:
    """The keys of `send_message` calls, as rows of `idempotency_keys` (no aggregate)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def message_for(self, company_id: CompanyId, key: str, since: datetime) -> MessageId | None:
        k = tables.idempotency_keys
        response = self.session.scalar(
            select(k.c.response).where(
                k.c.company_id == company_id, k.c.key == key, k.c.created_at >= since
            )
        )
        if response is None:
            return None
        return MessageId(uuid.UUID(response["message_id"]))

    def remember(
        self, company_id: CompanyId, key: str, message_id: MessageId, now: datetime
    ) -> None:
        # Only an expired record gives way: a live one, committed by a concurrent repeat after
        # this call looked, makes the insert fail (a Conflict) rather than being replaced.
        k = tables.idempotency_keys
        with translated_errors(self.session):
            self.session.execute(
                delete(k).where(
                    k.c.company_id == company_id,
                    k.c.key == key,
                    k.c.created_at < now - IDEMPOTENCY_WINDOW,
                )
            )
            self.session.execute(
                insert(k).values(
                    company_id=company_id,
                    key=key,
                    response={"message_id": str(message_id)},
                    created_at=now,
                )
            )


class SqlFailedLogins:
    """Failed sign-ins as rows of `failed_logins` (no aggregate: the throttle reads times)."""

    # Old rows are pruned a batch at a time, skipping rows another transaction is pruning:
    # concurrent sign-ins never wait on each other for this housekeeping.
    PRUNE_BATCH = 100

    def __init__(self, session: Session) -> None:
        self.session = session

    def _times(self, column: Any, value: str, since: datetime, newest: int) -> list[datetime]:
        f = tables.failed_logins
        return list(
            self.session.scalars(
                select(f.c.attempted_at)
                .where(column == value, f.c.attempted_at > since)
                .order_by(f.c.attempted_at.desc())
                .limit(newest)
            )
        )

    def times_for_email(self, email: str, since: datetime, newest: int) -> list[datetime]:
        return self._times(tables.failed_logins.c.email, email, since, newest)

    def times_from_address(self, address: str, since: datetime, newest: int) -> list[datetime]:
        return self._times(tables.failed_logins.c.address, address, since, newest)

    def add(self, email: str, address: str, at: datetime, forget_before: datetime) -> None:
        f = tables.failed_logins
        old = (
            select(f.c.id)
            .where(f.c.attempted_at < forget_before)
            .limit(self.PRUNE_BATCH)
            .with_for_update(skip_locked=True)
        )
        with translated_errors(self.session):
            self.session.execute(delete(f).where(f.c.id.in_(old)))
            self.session.execute(
                insert(f).values(id=uuid.uuid4(), email=email, address=address, attempted_at=at)
            )

    def clear_email(self, email: str) -> None:
        f = tables.failed_logins
        with translated_errors(self.session):
            self.session.execute(delete(f).where(f.c.email == email))


class SqlOccupancy:
    def __init__(self, session: Session) -> None:
        self.session = session

    def _any(self, column: str, company_id: CompanyId, value: object) -> bool:
        # Sessions do not autoflush (a flush failing inside a read would escape untranslated),
        # so what this unit of work moved so far is flushed here, where it matters.
        _flush(self.session)
        standing = union_all(
            *(
                select(table.c.id).where(table.c.company_id == company_id, table.c[column] == value)
                for table in (tables.leads, tables.deals)
            )
        ).subquery()
        return bool(self.session.scalar(select(exists().select_from(standing))))

    def funnel_is_occupied(self, company_id: CompanyId, funnel_id: FunnelId) -> bool:
        return self._any("funnel_id", company_id, funnel_id)

    def stage_is_occupied(self, company_id: CompanyId, stage_id: StageId) -> bool:
        return self._any("stage_id", company_id, stage_id)

    def contact_is_occupied(self, company_id: CompanyId, contact_id: ContactId) -> bool:
        return self._any("contact_id", company_id, contact_id)


# --- translating the database's refusals into the domain's errors --------------------------

# constraint name (PostgreSQL) and the text SQLite puts in its message -> the domain error
_CONSTRAINT_ERRORS: tuple[tuple[str, str, Callable[[], DomainError]], ...] = (
    (
        "uq_stages_funnel_id_order",
        "stages.funnel_id, stages.order",
        # The Funnel refuses a taken order itself (a 400 on `order`); the database refuses
        # only the race of two requests taking the same free order at once.
        lambda: Conflict(
            "Another stage took this order in the funnel meanwhile: reload and try again."
        ),
    ),
    (
        "uq_deals_lead_id",
        "deals.lead_id",
        lambda: Conflict("The lead has already been converted to a deal."),
    ),
    (
        "uq_messages_account_id_provider_message_id",
        "messages.account_id, messages.provider_message_id",
        lambda: Conflict("A message with this provider id already exists for the account."),
    ),
    (
        "uq_users_email",
        "users.email",
        lambda: Conflict("A user with this email already exists."),
    ),
    (
        "pk_idempotency_keys",
        "idempotency_keys.company_id, idempotency_keys.key",
        lambda: Conflict("A request with this idempotency key was made meanwhile."),
    ),
)


def translate_integrity_error(error: IntegrityError) -> DomainError:
    original = error.orig
    name = getattr(getattr(original, "diag", None), "constraint_name", None) or ""
    text = str(original)
    for constraint, sqlite_text, make in _CONSTRAINT_ERRORS:
        if name == constraint or sqlite_text in text:
            return make()
    return Conflict("The change conflicts with data changed meanwhile or with related records.")


def _is_concurrency_failure(error: OperationalError) -> bool:
    """A serialization failure, a deadlock or a locked SQLite file: someone else won the race."""
    code = getattr(error.orig, "sqlstate", None)
    return code in ("40001", "40P01") or "database is locked" in str(error.orig)


@contextmanager
def translated_errors(session: Session) -> Iterator[None]:
    """Runs a flush or commit; the database's refusals leave as domain errors, rolled back."""
    try:
        yield
    except IntegrityError as error:
        session.rollback()
        raise translate_integrity_error(error) from error
    except StaleDataError as error:
        session.rollback()
        raise Conflict("The object was changed meanwhile: reload it and try again.") from error
    except OperationalError as error:
        session.rollback()
        if _is_concurrency_failure(error):
            raise Conflict("The object was changed meanwhile: try again.") from error
        raise


class SqlUnitOfWork:
    """One session, one transaction: rolled back on leaving the block unless committed."""

    session: Session
    # Typed as the ports (Protocol members are invariant): mypy checks every repository
    # against its port where it is assigned, and the class against UnitOfWork.
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

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        wake: Callable[[list[object]], None],
        layouts: FunnelLayouts,
        reads: ReadConnections | None = None,
    ) -> None:
        self._session_factory = session_factory
        self._wake = wake
        self._layouts = layouts
        self._reads = reads

    def __enter__(self) -> Self:
        self.session = session = self._session_factory()
        self.companies = SqlCompanies(session, Company, tables.companies, "Company")
        self.users = SqlUsers(session, User, tables.users, "User")
        self.tokens = SqlTokens(session, ApiToken, tables.api_tokens, "Token")
        self.branches = _Repository(session, Branch, tables.branches, "Branch")
        self.funnels = SqlFunnels(session, self._layouts)
        self.contacts = SqlContacts(session, Contact, tables.contacts, "Contact")
        self.leads = SqlLeads(session, Lead, tables.leads, "Lead")
        self.deals = _StageTrackedRepository(session, Deal, tables.deals, "Deal")
        self.activities = _Repository(session, Activity, tables.activities, "Activity")
        self.accounts = SqlAccounts(session, MessagingAccount, tables.messaging_accounts, "Account")
        self.messages = SqlMessages(session, Message, tables.messages, "Message")
        self.chats = SqlChats(session)
        self.deliveries = SqlDeliveries(session)
        self.early_statuses = SqlEarlyStatuses(session)
        self.idempotency_keys = SqlIdempotencyKeys(session)
        self.failed_logins = SqlFailedLogins(session)
        self.jobs = self._jobs = SqlJobs(session)
        self.touches = SqlTouches(session)
        self.occupancy = SqlOccupancy(session)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # close() rolls back what was not committed but, unlike rollback(), leaves the loaded
        # objects readable after the block (callers keep a funnel to look its stages up).
        self.session.close()

    def commit(self) -> None:
        with translated_errors(self.session):
            inserted, rows = _insert_new_tracked(self.session)
            self.session.flush()
            # A detail read back is for a read in this scope: outside one, nobody takes it.
            keeps = self._reads is not None and self._reads.in_scope()
            answer = _answered(inserted) if keeps else None
            detail = _write(self.session, rows, _revision_bumps(self.session), answer)
            self.session.commit()
        _track(self.session, inserted)
        if self._reads is not None:
            written = None
            if answer is not None and detail is not None:
                entity = inserted[0]
                written = (detail_key(answer, entity.company_id, entity.id), detail)
            self._reads.committed(written)
        enqueued, self._jobs.enqueued = self._jobs.enqueued, []
        if enqueued:  # only now do the rows exist for a worker to see
            self._wake(enqueued)

    def rollback(self) -> None:
        self.session.rollback()
        self.session.info.pop(_NEW_TRACKED, None)
        self._jobs.enqueued = []


_CHANGED_FUNNELS = "changed_funnels"
_DELETED_FUNNELS = "deleted_funnels"


def _note_changed_funnels(session: Session, _context: Any, _instances: Any) -> None:
    """Before each flush: the funnels whose stages, leads or deals this transaction writes."""
    changed: set[FunnelId] = session.info.setdefault(_CHANGED_FUNNELS, set())
    deleted: set[FunnelId] = session.info.setdefault(_DELETED_FUNNELS, set())
    for entity in (*session.new, *session.dirty, *session.deleted):
        if isinstance(entity, Lead | Deal | Stage):
            changed.add(entity.funnel_id)
            changed.update(inspect(entity).attrs.funnel_id.history.deleted)  # moved out of one
        elif isinstance(entity, Funnel):
            changed.add(entity.id)
    deleted.update(entity.id for entity in session.deleted if isinstance(entity, Funnel))


def _revision_bumps(session: Session) -> list[_Row]:
    """One more on a random slot of the revision of each funnel the transaction wrote (in the
    order of their ids, so that two transactions never wait on each other's rows in turn)."""
    changed = session.info.pop(_CHANGED_FUNNELS, set()) - session.info.pop(_DELETED_FUNNELS, set())
    return [
        _Row(
            tables.funnel_revision_slots,
            {"funnel_id": funnel, "slot": _slots.randrange(tables.REVISION_SLOTS)},
        )
        for funnel in sorted(changed)
    ]


class _Row(NamedTuple):
    """A row written directly: inserted, or in the funnel revision slots, added to (one more
    on its revision)."""

    table: Table
    values: dict[str, Any]


def _answered(inserted: list[Any]) -> Resource | None:
    """Whose detail the write reads back: a lone new lead's or deal's (a use case creating
    one answers with it)."""
    if len(inserted) != 1:
        return None
    return Resource.LEADS if isinstance(inserted[0], Lead) else Resource.DEALS


def _write(
    session: Session, inserts: list[_Row], bumps: list[_Row], answer: Resource | None = None
) -> Row | None:
    """Rows inserted directly, then the revision bumps, in order. PostgreSQL takes up to
    ROWS_A_STATEMENT inserts and the first bump in one statement: all but the last as
    data-modifying WITH clauses of the last. Its foreign keys are deferred to the commit, so a
    stay may name the lead beside it. A new lead, its first stay and its funnel's revision
    are one round trip where they were three. Further bumps follow in one executemany: in one
    statement PostgreSQL runs WITH clauses in no set order, and the bumps keep the order of
    their funnels' ids.

    With `answer` (the first row being a new lead or deal), PostgreSQL's first statement
    returns that row's detail, as the read model gives it: the request answers its create
    from there, without a statement of its own (elsewhere the detail is read afterwards)."""
    dialect = session.get_bind().dialect.name
    step = ROWS_A_STATEMENT if dialect == "postgresql" else 1
    answer = answer if dialect == "postgresql" else None
    detail = None
    together = [*inserts, *bumps[:1]]
    for start in range(0, len(together), step):
        chunk = together[start : start + step]
        shapes = tuple((row.table, tuple(row.values)) for row in chunk)
        values = {f"w{n}_{key}": v for n, row in enumerate(chunk) for key, v in row.values.items()}
        returns = answer if start == 0 else None
        result = _core(session).execute(_statement_of(dialect, shapes, returns), values)
        if returns is not None:
            # No row when another transaction deleted the contact, funnel or stage after this
            # one checked them: the commit's foreign key check then refuses the lead.
            detail = next(iter(rows_of(returns, result)), None)
    if bumps[1:]:
        shape = (bumps[1].table, tuple(bumps[1].values))
        _core(session).execute(
            _statement_of(dialect, (shape,)),
            [{f"w0_{key}": v for key, v in bump.values.items()} for bump in bumps[1:]],
        )
    return detail


@functools.cache
def _written(dialect: str, table: Table, columns: tuple[str, ...], prefix: str) -> Any:
    """The statement that writes one row of `columns` into `table`, its values bound as
    `prefix` + column (built once per shape: constructing one costs more than running it)."""
    values = {column: bindparam(prefix + column, type_=table.c[column].type) for column in columns}
    if table is not tables.funnel_revision_slots:
        return insert(table).values(values)
    return (
        _UPSERTS[dialect](table)
        .values(**values, revision=1)
        .on_conflict_do_update(
            index_elements=["funnel_id", "slot"], set_={"revision": table.c.revision + 1}
        )
    )


@functools.lru_cache(maxsize=256)
def _statement_of(
    dialect: str,
    shapes: tuple[tuple[Table, tuple[str, ...]], ...],
    answer: Resource | None = None,
) -> Any:
    """Rows of these shapes in one statement, the values of the n-th bound with prefix `wn_`;
    with `answer`, the statement returns the first row's detail (all the writes its WITH
    clauses, the first returning its row whole)."""
    steps = [_written(dialect, *shape, f"w{n}_") for n, shape in enumerate(shapes)]
    if answer is not None:
        steps[0] = steps[0].returning(*shapes[0][0].c)
        clauses = [step.cte(f"write_{n}") for n, step in enumerate(steps)]
        detail: Select[Any] = detail_of_written(answer, clauses[0]).add_cte(*clauses)
        return detail
    *first, last = steps
    return (
        last.add_cte(*(step.cte(f"write_{n}") for n, step in enumerate(first))) if first else last
    )


# Rows in one statement at the most: a new lead writes three. The bound keeps the statements
# few in shape (each is built once) and far below the protocol's 65,535 parameters.
ROWS_A_STATEMENT = 16
_UPSERTS: dict[str, Any] = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
_slots = random.Random()  # which slot a commit bumps: any will do, only spread matters
# Imported before gunicorn forks its workers: each draws its own slots, not its siblings'.
os.register_at_fork(after_in_child=_slots.seed)


def _no_waking(_: list[object]) -> None:
    """Workers that poll the table need no waking."""


def unit_of_work_factory(
    engine: Engine,
    wake: Callable[[list[object]], None] = _no_waking,
    reads: ReadConnections | None = None,
) -> Callable[[], SqlUnitOfWork]:
    """What the use cases take as `uow`: a new SqlUnitOfWork per call, on `engine`; `wake`
    is told the ids of the jobs each commit enqueued (a broker's waker, or the inline
    runner). With `reads`, the detail a new lead's or deal's write read back is kept in the
    reads' scope, for the read model to answer the create with (see `_write`)."""
    start_mappers()
    # expire_on_commit=False: use cases read ids and fields after commit without a reload.
    # autoflush=False: every flush happens in commit() or the occupancy checks, where the
    # database's refusals are translated into domain errors.
    sessions = sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)
    event.listen(sessions, "before_flush", _note_changed_funnels)
    layouts = FunnelLayouts()

    def make() -> SqlUnitOfWork:
        return SqlUnitOfWork(sessions, wake, layouts, reads)

    return make
