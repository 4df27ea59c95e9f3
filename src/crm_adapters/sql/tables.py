"""The database schema as Core tables: the single source for the mapping, the reads and Alembic."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.ext.mutable import MutableDict, MutableList

from crm_adapters.sql.types import (
    ColorType,
    MoneyType,
    PhoneType,
    ProbabilityType,
    StrEnumType,
    UtcDateTime,
)
from crm_core.activity import ActivityType
from crm_core.history import Subject
from crm_core.jobs import JobStatus
from crm_core.lead import LeadStatus
from crm_core.messaging import ChatType, MessageStatus, MessageType
from crm_core.tenancy import Role

# Stable constraint names: the unit of work recognises clashes by them (see errors.py), and
# Alembic can drop what it created.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _ref(target: str, ondelete: str | None = None) -> ForeignKey:
    """A reference checked at commit: the ORM orders inserts only along relationships, and the
    aggregates reference one another by id alone, so a transaction may write in any order."""
    return ForeignKey(target, ondelete=ondelete, deferrable=True, initially="DEFERRED")


def _id() -> Column[object]:
    return Column("id", Uuid, primary_key=True)


def _company() -> Column[object]:
    return Column("company_id", Uuid, _ref("companies.id"), nullable=False)


def _created() -> Column[object]:
    return Column("created_at", UtcDateTime, nullable=True)


def _updated() -> Column[object]:
    return Column("updated_at", UtcDateTime, nullable=True)


def _text(name: str, length: int | None = None) -> Column[object]:
    kind = Text if length is None else String(length)
    return Column(name, kind, nullable=False, server_default="")


def _flag(name: str, default: bool) -> Column[object]:
    return Column(name, Boolean, nullable=False, server_default="1" if default else "0")


def _user(name: str) -> Column[object]:
    return Column(name, Uuid, _ref("users.id", "SET NULL"), nullable=True)


companies = Table(
    "companies",
    metadata,
    _id(),
    Column("name", String(255), nullable=False, unique=True),
    Column("default_region", String(2), nullable=False, server_default="RU"),
    _created(),
)

users = Table(
    "users",
    metadata,
    _id(),
    _company(),
    Column("email", String(254), nullable=False, unique=True),
    _text("password_hash", 255),
    Column("role", StrEnumType(Role), nullable=False),
    _text("full_name", 255),
    _flag("is_active", True),
    _created(),
    _updated(),
    Index(None, "company_id", "created_at", "id"),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    _id(),
    Column("user_id", Uuid, _ref("users.id", "CASCADE"), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime, nullable=True),
    Index(None, "user_id"),
)

branches = Table(
    "branches",
    metadata,
    _id(),
    _company(),
    Column("name", String(255), nullable=False),
    _text("address"),
    _flag("is_active", True),
    _created(),
    _updated(),
    Index(None, "company_id", "created_at", "id"),
    Index(None, "company_id", "name"),
)

funnels = Table(
    "funnels",
    metadata,
    _id(),
    _company(),
    Column("name", String(255), nullable=False),
    _text("description"),
    _flag("is_active", True),
    _created(),
    _updated(),
    # One more on every change to the funnel's row or its stages (not its leads or deals),
    # whoever writes them: the database's triggers add it (migration 0010). A process that
    # keeps the funnel as it last read it knows, by this one column, whether it still holds.
    Column("layout", Integer, nullable=False, server_default="1"),
    Index(None, "company_id", "created_at", "id"),
    Index(None, "company_id", "name"),
)

# A funnel's revision: the sum of its slots, one more on every commit that writes its
# stages, leads or deals (the unit of work bumps one slot, picked at random), so that a read
# can tell in one indexed range whether anything it computed from them may have changed (the
# statistics cache). Slots never go down, so two reads that sum the same saw the same commits;
# and commits that write one funnel rarely wait on each other's row lock (held until their
# commit is flushed), as they would all do on a single row.
REVISION_SLOTS = 32

funnel_revision_slots = Table(
    "funnel_revision_slots",
    metadata,
    Column("funnel_id", Uuid, _ref("funnels.id", "CASCADE"), primary_key=True),
    Column("slot", SmallInteger, primary_key=True, autoincrement=False),
    Column("revision", BigInteger, nullable=False),
)

stages = Table(
    "stages",
    metadata,
    _id(),
    Column("funnel_id", Uuid, _ref("funnels.id", "CASCADE"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("order", Integer, nullable=False),
    Column("color", ColorType, nullable=False, server_default="#3498db"),
    _flag("is_final", False),
    _flag("is_success", False),
    _created(),
    _updated(),
    UniqueConstraint("funnel_id", "order"),
    CheckConstraint('"order" >= 0', name="order_not_negative"),
    CheckConstraint("is_final OR NOT is_success", name="success_is_final"),
)

contacts = Table(
    "contacts",
    metadata,
    _id(),
    _company(),
    Column("branch_id", Uuid, _ref("branches.id", "SET NULL"), nullable=True),
    _user("owner_id"),
    Column("first_name", String(255), nullable=False),
    _text("last_name", 255),
    _text("middle_name", 255),
    Column("phone", PhoneType, nullable=True),
    Column("phone_secondary", PhoneType, nullable=True),
    Column("whatsapp", PhoneType, nullable=True),
    # The digits of every phone, kept in step by the mapping: the `phone` filter is a digits
    # substring, which cannot be answered from the E.164 columns without a function per row.
    _text("phone_digits", 64),
    _text("email", 254),
    _text("instagram", 64),
    _text("telegram", 64),
    _text("telegram_chat_id", 64),
    _text("company_name", 255),
    _text("position", 255),
    _text("address"),
    _text("notes"),
    Column("tags", MutableList.as_mutable(JSON()), nullable=False),
    _text("source", 64),
    _flag("is_active", True),
    _flag("is_client", False),
    _created(),
    _updated(),
    Index(None, "company_id", "created_at", "id"),
    Index(None, "company_id", "first_name"),
    Index(None, "company_id", "last_name"),
    Index(None, "company_id", "owner_id"),
    Index(None, "company_id", "branch_id"),
    Index(None, "company_id", "phone_digits"),
    Index(None, "company_id", "phone"),
    Index(None, "company_id", "whatsapp"),
    Index(None, "company_id", "phone_secondary"),
    Index(None, "company_id", "email"),
)

leads = Table(
    "leads",
    metadata,
    _id(),
    _company(),
    Column("contact_id", Uuid, _ref("contacts.id", "CASCADE"), nullable=False),
    Column("funnel_id", Uuid, _ref("funnels.id"), nullable=False),
    Column("stage_id", Uuid, _ref("stages.id"), nullable=False),
    _user("owner_id"),
    Column("title", String(255), nullable=False),
    _text("description"),
    Column("estimated_value", MoneyType, nullable=False, server_default="0"),
    Column("probability", ProbabilityType, nullable=False, server_default="0"),
    _text("source", 64),
    Column("status", StrEnumType(LeadStatus), nullable=False),
    # A cycle with deals.lead_id: use_alter so that the tables can be created at all.
    Column(
        "deal_id",
        Uuid,
        ForeignKey(
            "deals.id",
            ondelete="SET NULL",
            use_alter=True,
            deferrable=True,
            initially="DEFERRED",
        ),
        nullable=True,
    ),
    _text("lost_reason"),
    Column("stage_changed_at", UtcDateTime, nullable=False),
    Column("closed_at", UtcDateTime, nullable=True),
    _created(),
    _updated(),
    Column("version", Integer, nullable=False),
    CheckConstraint("estimated_value >= 0", name="estimated_value_not_negative"),
    CheckConstraint("probability BETWEEN 0 AND 100", name="probability_range"),
    Index(None, "company_id", "created_at", "id"),
    Index(None, "company_id", "funnel_id", "created_at", "id"),
    Index(None, "company_id", "stage_id", "created_at", "id"),
    Index(None, "company_id", "owner_id", "created_at"),
    Index(None, "company_id", "contact_id", "status"),
    Index(None, "company_id", "status", "created_at"),
    Index(None, "company_id", "estimated_value"),
    Index(None, "company_id", "title"),
    # The statistics read one funnel's leads grouped by stage from this index alone.
    Index(
        None,
        "company_id",
        "funnel_id",
        "stage_id",
        postgresql_include=["status", "estimated_value", "owner_id", "created_at"],
    ),
)

deals = Table(
    "deals",
    metadata,
    _id(),
    _company(),
    Column(
        "lead_id",
        Uuid,
        _ref("leads.id", "SET NULL"),
        nullable=True,
        unique=True,  # exactly one deal per lead, even under concurrent conversions
    ),
    Column("contact_id", Uuid, _ref("contacts.id", "CASCADE"), nullable=False),
    Column("funnel_id", Uuid, _ref("funnels.id"), nullable=False),
    Column("stage_id", Uuid, _ref("stages.id"), nullable=False),
    _user("owner_id"),
    Column("title", String(255), nullable=False),
    _text("description"),
    Column("amount", MoneyType, nullable=False, server_default="0"),
    Column("probability", ProbabilityType, nullable=False, server_default="0"),
    Column("expected_close_date", Date, nullable=True),
    _flag("is_won", False),
    _flag("is_lost", False),
    _text("lost_reason"),
    Column("stage_changed_at", UtcDateTime, nullable=False),
    Column("closed_at", UtcDateTime, nullable=True),
    _created(),
    _updated(),
    Column("version", Integer, nullable=False),
    CheckConstraint("amount >= 0", name="amount_not_negative"),
    CheckConstraint("probability BETWEEN 0 AND 100", name="probability_range"),
    CheckConstraint("NOT (is_won AND is_lost)", name="not_won_and_lost"),
    CheckConstraint("(closed_at IS NOT NULL) = (is_won OR is_lost)", name="closed_when_settled"),
    Index(None, "company_id", "created_at", "id"),
    Index(None, "company_id", "funnel_id", "created_at", "id"),
    Index(None, "company_id", "stage_id", "created_at", "id"),
    Index(None, "company_id", "owner_id", "created_at"),
    Index(None, "company_id", "contact_id"),
    Index(None, "company_id", "is_won", "is_lost"),
    Index(None, "company_id", "expected_close_date"),
    Index(None, "company_id", "amount"),
    Index(None, "company_id", "title"),
    Index(
        None,
        "company_id",
        "funnel_id",
        "stage_id",
        postgresql_include=[
            "amount",
            "probability",
            "is_won",
            "is_lost",
            "owner_id",
            "created_at",
            "closed_at",
        ],
    ),
)

# One table for the history of leads and deals. Two nullable foreign keys rather than one
# polymorphic id, so that the database cascades a deleted lead's or deal's history itself
# (a contact's delete reaches its leads and deals only in the database).
stage_transitions = Table(
    "stage_transitions",
    metadata,
    _id(),
    Column("subject", StrEnumType(Subject), nullable=False),
    Column("lead_id", Uuid, _ref("leads.id", "CASCADE"), nullable=True),
    Column("deal_id", Uuid, _ref("deals.id", "CASCADE"), nullable=True),
    Column("from_stage_id", Uuid, _ref("stages.id", "SET NULL"), nullable=True),
    Column("to_stage_id", Uuid, _ref("stages.id", "SET NULL"), nullable=True),
    Column("entered_at", UtcDateTime, nullable=False),
    Column("left_at", UtcDateTime, nullable=True),
    Column("seq", Integer, nullable=False),
    _user("actor_id"),
    CheckConstraint(
        "(subject = 'lead' AND lead_id IS NOT NULL AND deal_id IS NULL)"
        " OR (subject = 'deal' AND deal_id IS NOT NULL AND lead_id IS NULL)",
        name="one_subject",
    ),
    Index(None, "lead_id", "seq"),
    Index(None, "deal_id", "seq"),
    # The statistics scan one funnel's stays by stage.
    Index(None, "to_stage_id", "lead_id", "deal_id", "entered_at", "left_at"),
    Index(None, "from_stage_id"),
)

activities = Table(
    "activities",
    metadata,
    _id(),
    _company(),
    Column("activity_type", StrEnumType(ActivityType), nullable=False),
    # Text, not String(255): the system writes titles that quote stage names and loss reasons.
    Column("title", Text, nullable=False),
    _text("description"),
    Column("activity_date", UtcDateTime, nullable=False),
    Column("contact_id", Uuid, _ref("contacts.id", "CASCADE"), nullable=True),
    Column("lead_id", Uuid, _ref("leads.id", "SET NULL"), nullable=True),
    Column("deal_id", Uuid, _ref("deals.id", "SET NULL"), nullable=True),
    _user("user_id"),
    Column("due_date", Date, nullable=True),
    _flag("is_done", False),
    _created(),
    _updated(),
    Index(None, "company_id", "activity_date", "id"),
    Index(None, "company_id", "created_at", "id"),
    Index(None, "company_id", "contact_id", "activity_date"),
    Index(None, "company_id", "lead_id"),
    Index(None, "company_id", "deal_id"),
    Index(None, "company_id", "user_id"),
    Index(None, "company_id", "activity_type"),
)

messaging_accounts = Table(
    "messaging_accounts",
    metadata,
    _id(),
    _company(),
    Column("name", String(255), nullable=False),
    Column("api_key_encrypted", Text, nullable=False),
    Column("api_key_hint", String(16), nullable=False),
    Column("webhook_secret", String(128), nullable=False),
    _text("api_url", 500),
    _text("instance_id", 255),
    Column("chat_type", StrEnumType(ChatType), nullable=False),
    _text("transport", 32),
    _text("api_key_fingerprint", 64),
    _flag("is_active", True),
    _flag("is_connected", False),
    _text("channel_state", 64),
    Column("last_sync", UtcDateTime, nullable=True),
    _text("last_error"),
    Column("metadata", MutableDict.as_mutable(JSON()), nullable=False),
    Column("default_funnel_id", Uuid, _ref("funnels.id", "SET NULL"), nullable=True),
    _flag("auto_create_leads", True),
    _created(),
    _updated(),
    Index(None, "company_id", "created_at", "id"),
    Index(None, "company_id", "chat_type"),
    Index(None, "company_id", "api_key_fingerprint"),
)

messages = Table(
    "messages",
    metadata,
    _id(),
    _company(),
    Column(
        "account_id",
        Uuid,
        _ref("messaging_accounts.id", "CASCADE"),
        nullable=False,
    ),
    Column("chat_type", StrEnumType(ChatType), nullable=False),
    Column("chat_id", String(255), nullable=False),
    Column("is_incoming", Boolean, nullable=False),
    Column("timestamp", UtcDateTime, nullable=False),
    Column("message_type", StrEnumType(MessageType), nullable=False),
    _text("text"),
    _text("media_url", 2000),
    _text("caption"),
    # Unique per account, not globally: one tenant's ids must never block another's.
    Column("provider_message_id", String(255), nullable=True),
    Column("contact_id", Uuid, _ref("contacts.id", "SET NULL"), nullable=True),
    Column("lead_id", Uuid, _ref("leads.id", "SET NULL"), nullable=True),
    _text("from_number", 255),
    _text("to_number", 255),
    Column("status", StrEnumType(MessageStatus), nullable=False),
    _flag("is_read", False),
    Column("error", JSON(none_as_null=True), nullable=True),
    _text("author_name", 255),
    _flag("is_edited", False),
    _flag("is_deleted", False),
    Column("metadata", MutableDict.as_mutable(JSON()), nullable=False),
    Column("send_attempted_at", UtcDateTime, nullable=True),
    _flag("outcome_unknown", False),
    _created(),
    _updated(),
    UniqueConstraint("account_id", "provider_message_id"),
    Index(None, "company_id", "timestamp", "id"),
    Index(None, "company_id", "contact_id", "timestamp"),
    Index(None, "company_id", "account_id", "timestamp"),
    Index(None, "company_id", "lead_id"),
    Index(None, "company_id", "chat_id"),
    Index(None, "company_id", "status"),
    # A chat's messages, newest first (the timeline and the chat panel).
    Index(None, "account_id", "chat_id", "timestamp"),
)

# The messaging inbox: every webhook delivery is stored before it is processed.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    _id(),
    Column(
        "account_id",
        Uuid,
        _ref("messaging_accounts.id", "CASCADE"),
        nullable=False,
    ),
    Column("body", Text, nullable=False),  # the raw JSON text as received
    Column("received_at", UtcDateTime, nullable=False),
    Column("processed_at", UtcDateTime, nullable=True),
    Column("error", Text, nullable=True),
    Index(None, "account_id", "processed_at", "received_at"),
)

# Whom each chat of an account belongs to. A delivery holds its chats' rows while it is
# applied, so concurrent first messages from one new number make one contact.
chats = Table(
    "chats",
    metadata,
    Column(
        "account_id",
        Uuid,
        _ref("messaging_accounts.id", "CASCADE"),
        primary_key=True,
    ),
    Column("chat_id", String(255), primary_key=True),
    _company(),
    Column("contact_id", Uuid, _ref("contacts.id", "SET NULL"), nullable=True),
    Index(None, "company_id", "contact_id"),
)

# Statuses of messages not stored yet, kept until their message appears.
early_statuses = Table(
    "early_statuses",
    metadata,
    _id(),
    Column(
        "account_id",
        Uuid,
        _ref("messaging_accounts.id", "CASCADE"),
        nullable=False,
    ),
    Column("delivery_id", Uuid, _ref("webhook_deliveries.id", "CASCADE"), nullable=True),
    Column("provider_message_id", String(255), nullable=False),
    Column("status", StrEnumType(MessageStatus), nullable=False),
    Column("error", JSON(none_as_null=True), nullable=True),
    Column("reported_at", UtcDateTime, nullable=True),
    Index(None, "account_id", "provider_message_id"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("company_id", Uuid, _ref("companies.id"), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("response", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index(None, "created_at"),
)

# Failed sign-ins of the last minutes: what the login throttle counts (no aggregate). Rows
# older than the throttle's window are deleted as new failures come in.
failed_logins = Table(
    "failed_logins",
    metadata,
    _id(),
    Column("email", String(254), nullable=False),
    Column("address", String(64), nullable=False),
    Column("attempted_at", UtcDateTime, nullable=False),
    Index(None, "email", "attempted_at"),
    Index(None, "address", "attempted_at"),
    Index(None, "attempted_at"),
)

# Background work (crm_core.jobs): the table is the truth, a broker only wakes workers.
jobs = Table(
    "jobs",
    metadata,
    _id(),
    Column("kind", String(64), nullable=False),
    Column("dedupe_key", String(255), nullable=False, unique=True),
    Column("payload", JSON, nullable=False),
    Column("status", StrEnumType(JobStatus, 16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("max_attempts", Integer, nullable=False, server_default="10"),
    Column("run_after", UtcDateTime, nullable=False),
    Column("lease_until", UtcDateTime, nullable=True),
    Column("lease_token", String(64), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index(None, "status", "run_after"),
    Index(None, "status", "lease_until"),
    Index(None, "kind", "status"),
)

# What the `touch` job leaves: one row per run (no key: a second run would show as a twin).
job_touches = Table(
    "job_touches",
    metadata,
    _id(),
    Column("job_id", Uuid, nullable=False),
    Column("touched_at", UtcDateTime, nullable=False),
    Index(None, "job_id"),
)
