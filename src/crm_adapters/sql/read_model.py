"""The read side: lists, details, the contact timeline and funnel statistics as plain rows.

Every list is one declarative `ListSpec` (fields, filters, search, orderings) run by one generic
function; related names come from joins, so a page costs the same statements at any size.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from types import SimpleNamespace
from typing import Any

import attrs
from sqlalchemy import (
    Connection,
    Engine,
    FromClause,
    Select,
    Table,
    bindparam,
    func,
    literal,
    or_,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.sql import visitors
from sqlalchemy.sql.elements import ColumnClause, ColumnElement

from crm_adapters.sql import tables
from crm_adapters.sql.reads import ReadConnections
from crm_adapters.sql.statistics import StatisticsCache, funnel_statistics
from crm_adapters.sql.types import (
    ColorType,
    MoneyAmount,
    MoneyType,
    PhoneType,
    ProbabilityType,
    StrEnumType,
    folded_contains,
    from_day,
    russian_order,
    through_day,
)
from crm_core.activity import ActivityType
from crm_core.contact import Contact
from crm_core.errors import NotFound, ValidationFailed
from crm_core.listing import LISTINGS, PHONE, By
from crm_core.messaging import ChatType, MessageStatus, MessageType
from crm_core.ports import ListQuery, Page, Resource, Row, StatisticsFilter
from crm_core.values import (
    CompanyId,
    ContactId,
    FunnelId,
    phone_query_digits,
    split_search,
)

Column = ColumnElement[Any]
Filter = Callable[[Any], ColumnElement[bool]]
# Page statements kept per shape of list (filters named, ordering) in each read model: the
# shapes are the declared filters' combinations, few in use, but bounded all the same.
MAX_SHAPES = 512


@attrs.frozen
class Computed:
    """A row field computed in Python from selected columns (names joined from parts, labels)."""

    inputs: tuple[Column, ...]
    compute: Callable[..., Any]


Field = Column | Computed
RowList = list[dict[str, Any]]
_VALUE_TYPES = (MoneyType, ProbabilityType, PhoneType, ColorType, StrEnumType)


@attrs.frozen
class ListSpec:
    """How a list declared in `crm_core.listing` is read from the tables.

    `filter_columns` back the declared filters by name (each filter's operations follow from
    its kind), and `ordering_columns` the declared orderings. Filters use columns of `table`
    only, so that counting needs no joins; a search may reach joined tables (a lead's
    contact), and is then counted over `source`.
    """

    resource: Resource
    kind: str  # the NotFound kind of a detail
    table: Table
    source: FromClause  # `table` with the joins that name related objects
    company: Column
    fields: Mapping[str, Field]
    filter_columns: Mapping[str, Column]
    search: tuple[Column, ...]
    ordering_columns: Mapping[str, Column]
    # The digits of the phones a phone-like search word is looked for in.
    search_phones: tuple[Column, ...] = ()
    filters: Mapping[str, Filter] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        listing = LISTINGS[self.resource]
        if set(self.filter_columns) != set(listing.filters):
            raise ValueError(f"{self.resource}: filter columns differ from the declared filters")
        if set(self.ordering_columns) != set(listing.orderings):
            raise ValueError(f"{self.resource}: ordering columns differ from the declared ones")
        filters = {
            parameter: _filter(spec.by, parameter, self.filter_columns[name])
            for parameter, name, spec in listing.parameters()
        }
        object.__setattr__(self, "filters", filters)

    @property
    def default_ordering(self) -> tuple[tuple[str, bool], ...]:
        return LISTINGS[self.resource].default_ordering


# --- filters -------------------------------------------------------------------------------


def _filter(by: By, parameter: str, column: Column) -> Filter:
    """The condition a declared filter's query parameter puts on its column."""
    if parameter.endswith("_after") and by in (By.DAYS, By.DATE):
        return (lambda day: from_day(column, day)) if by is By.DAYS else (lambda d: column >= d)
    if parameter.endswith("_before") and by in (By.DAYS, By.DATE):
        return (lambda day: through_day(column, day)) if by is By.DAYS else (lambda d: column <= d)
    if by is By.TEXT:
        return lambda value: folded_contains(column, str(value))
    if by is By.PHONE:  # the value is already the digits looked for (see `_conditions`)
        return lambda digits: digits_within(column, str(digits))
    return _Equals(column)


@attrs.frozen
class _Equals:
    """A filter on the value itself: its statement can be built before the value is known
    (`SqlReadModel._page_statements`)."""

    column: Column

    def __call__(self, value: Any) -> ColumnElement[bool]:
        condition: ColumnElement[bool] = self.column == value
        return condition


def digits_within(column: Column, digits: str) -> Any:
    """The column's digits contain `digits`, written into the statement as a literal when
    they are ASCII digits (nothing in them can be read as SQL or as a pattern).

    Bound as a parameter, the pattern is unknown to a prepared statement's generic plan:
    PostgreSQL guesses that dozens of rows match and, to give a newest-first page, walks the
    company's contacts in date order testing each, five times slower than scanning them and
    sorting the one or two that match. Known, the pattern plans as the scan and sort."""
    if digits.isascii() and digits.isdigit():
        return column.like(literal(f"%{digits}%", literal_execute=True))
    return column.contains(digits, autoescape=True)


# --- fields ----------------------------------------------------------------------------------


def person_name(last: str | None, first: str | None, middle: str | None) -> str | None:
    if first is None:  # no contact joined
        return None
    # The domain's own definition, applied to the selected parts.
    parts = SimpleNamespace(last_name=last or "", first_name=first, middle_name=middle or "")
    name: str = Contact.full_name.fget(parts)  # type: ignore[attr-defined]
    return name


def full_name(contact: FromClause) -> Computed:
    c = contact.c
    return Computed((c.last_name, c.first_name, c.middle_name), person_name)


def user_name(user: FromClause) -> Computed:
    """A user's full name, or the e-mail when the name is empty; None without a user."""
    return Computed((user.c.full_name, user.c.email), lambda name, email: name or email)


def label_of(column: Column, labels: type[Any]) -> Computed:
    """The display label of an enum value (`activity_type_display` and the like)."""
    return Computed((column,), lambda value: None if value is None else labels(value).label)


def _plain(column: Column) -> Column:
    """The column as its database type: reads hand out Decimal, int and str, not value objects
    (building a Money only to unwrap it again would cost more than the query on a page)."""
    if isinstance(column.type, MoneyType):
        return type_coerce(column, MoneyAmount())
    if isinstance(column.type, _VALUE_TYPES):
        return type_coerce(column, column.type.impl_instance)
    return column


def _audit(table: Table) -> dict[str, Column]:
    return {"created_at": table.c.created_at, "updated_at": table.c.updated_at}


# --- the specs -------------------------------------------------------------------------------

t = tables
_owner = t.users.alias("owner")
_contact = t.contacts.alias("contact")
_funnel = t.funnels.alias("funnel")
_stage = t.stages.alias("stage")
_company = t.companies.alias("company")


def _named_owner(table: Table, source: FromClause) -> FromClause:
    return source.outerjoin(_owner, _owner.c.id == table.c.owner_id)


def _pipeline_source(table: Table) -> FromClause:
    source = table.join(_contact, _contact.c.id == table.c.contact_id)
    source = source.join(_funnel, _funnel.c.id == table.c.funnel_id)
    source = source.join(_stage, _stage.c.id == table.c.stage_id)
    return _named_owner(table, source)


def _pipeline_fields(table: Table) -> dict[str, Field]:
    return {
        "id": table.c.id,
        "company": table.c.company_id,
        "contact": table.c.contact_id,
        "contact_name": full_name(_contact),
        "funnel": table.c.funnel_id,
        "funnel_name": _funnel.c.name,
        "stage": table.c.stage_id,
        "stage_name": _stage.c.name,
        "owner": table.c.owner_id,
        "owner_name": user_name(_owner),
        "title": table.c.title,
        "description": table.c.description,
    }


def _pipeline_filters(table: Table) -> dict[str, Column]:
    return {
        "title": table.c.title,
        "funnel": table.c.funnel_id,
        "stage": table.c.stage_id,
        "owner": table.c.owner_id,
        "contact": table.c.contact_id,
        "created_at": table.c.created_at,
    }


_contact_names = (_contact.c.first_name, _contact.c.last_name, _contact.c.middle_name)
_lead_of_deal = t.leads.alias("lead_of_deal")
_activity_lead = t.leads.alias("activity_lead")
_activity_deal = t.deals.alias("activity_deal")
_author = t.users.alias("author")
_message_account = t.messaging_accounts.alias("message_account")


def _stage_fields(stages: Table) -> dict[str, Field]:
    return {
        "id": stages.c.id,
        "funnel": stages.c.funnel_id,
        "name": stages.c.name,
        "order": stages.c.order,
        "color": stages.c.color,
        "is_final": stages.c.is_final,
        "is_success": stages.c.is_success,
        **_audit(stages),
    }


DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"


def webhook_url_field(public_url: str) -> Computed:
    """The address the provider must call for an account: its id and secret under the
    server's public address."""
    base = public_url.rstrip("/")
    return Computed(
        (t.messaging_accounts.c.id, t.messaging_accounts.c.webhook_secret),
        lambda account_id, secret: f"{base}/api/crm/wazzupp/webhook/{account_id}/?token={secret}",
    )


LIST_SPECS: dict[Resource, ListSpec] = {
    Resource.FUNNELS: ListSpec(
        resource=Resource.FUNNELS,
        kind="Funnel",
        table=t.funnels,
        source=t.funnels.join(_company, _company.c.id == t.funnels.c.company_id),
        company=t.funnels.c.company_id,
        fields={
            "id": t.funnels.c.id,
            "company": t.funnels.c.company_id,
            "company_name": _company.c.name,
            "name": t.funnels.c.name,
            "description": t.funnels.c.description,
            "is_active": t.funnels.c.is_active,
            **_audit(t.funnels),
        },
        filter_columns={"is_active": t.funnels.c.is_active},
        search=(t.funnels.c.name, t.funnels.c.description),
        ordering_columns={
            "created_at": t.funnels.c.created_at,
            "name": russian_order(t.funnels.c.name),
        },
    ),
    Resource.STAGES: ListSpec(
        resource=Resource.STAGES,
        kind="Stage",
        table=t.stages,
        source=t.stages.join(t.funnels, t.funnels.c.id == t.stages.c.funnel_id),
        company=t.funnels.c.company_id,
        fields=_stage_fields(t.stages),
        filter_columns={"funnel": t.stages.c.funnel_id},
        search=(t.stages.c.name,),
        ordering_columns={
            "funnel": t.stages.c.funnel_id,
            "order": t.stages.c.order,
            "name": russian_order(t.stages.c.name),
            "created_at": t.stages.c.created_at,
        },
    ),
    Resource.CONTACTS: ListSpec(
        resource=Resource.CONTACTS,
        kind="Contact",
        table=t.contacts,
        source=_named_owner(
            t.contacts,
            t.contacts.outerjoin(t.branches, t.branches.c.id == t.contacts.c.branch_id),
        ),
        company=t.contacts.c.company_id,
        fields={
            "id": t.contacts.c.id,
            "company": t.contacts.c.company_id,
            "branch": t.contacts.c.branch_id,
            "branch_name": t.branches.c.name,
            "owner": t.contacts.c.owner_id,
            "owner_name": user_name(_owner),
            "first_name": t.contacts.c.first_name,
            "last_name": t.contacts.c.last_name,
            "middle_name": t.contacts.c.middle_name,
            "full_name": full_name(t.contacts),
            **{
                name: t.contacts.c[name]
                for name in (
                    "phone",
                    "phone_secondary",
                    "email",
                    "whatsapp",
                    "instagram",
                    "telegram",
                    "telegram_chat_id",
                    "company_name",
                    "position",
                    "address",
                    "notes",
                    "tags",
                    "source",
                    "is_active",
                    "is_client",
                )
            },
            **_audit(t.contacts),
        },
        filter_columns={
            "phone": t.contacts.c.phone_digits,
            **{
                name: t.contacts.c[name]
                for name in ("email", "first_name", "last_name", "is_active", "is_client")
            },
            "source": t.contacts.c.source,
            "owner": t.contacts.c.owner_id,
            "branch": t.contacts.c.branch_id,
            "created_at": t.contacts.c.created_at,
        },
        search=tuple(
            t.contacts.c[name]
            for name in (
                "first_name",
                "last_name",
                "middle_name",
                "phone",
                "email",
                "company_name",
            )
        ),
        ordering_columns={
            "created_at": t.contacts.c.created_at,
            "first_name": russian_order(t.contacts.c.first_name),
            "last_name": russian_order(t.contacts.c.last_name),
        },
        search_phones=(t.contacts.c.phone_digits,),
    ),
    Resource.LEADS: ListSpec(
        resource=Resource.LEADS,
        kind="Lead",
        table=t.leads,
        source=_pipeline_source(t.leads),
        company=t.leads.c.company_id,
        fields={
            **_pipeline_fields(t.leads),
            "estimated_value": t.leads.c.estimated_value,
            "probability": t.leads.c.probability,
            "source": t.leads.c.source,
            "status": t.leads.c.status,
            "deal": t.leads.c.deal_id,
            "lost_reason": t.leads.c.lost_reason,
            "stage_changed_at": t.leads.c.stage_changed_at,
            "closed_at": t.leads.c.closed_at,
            **_audit(t.leads),
        },
        filter_columns={
            **_pipeline_filters(t.leads),
            "source": t.leads.c.source,
            "status": t.leads.c.status,
        },
        search=(t.leads.c.title, t.leads.c.description, *_contact_names),
        search_phones=(_contact.c.phone_digits,),
        ordering_columns={
            "created_at": t.leads.c.created_at,
            "estimated_value": t.leads.c.estimated_value,
            "title": russian_order(t.leads.c.title),
        },
    ),
    Resource.DEALS: ListSpec(
        resource=Resource.DEALS,
        kind="Deal",
        table=t.deals,
        source=_pipeline_source(t.deals).outerjoin(
            _lead_of_deal, _lead_of_deal.c.id == t.deals.c.lead_id
        ),
        company=t.deals.c.company_id,
        fields={
            **_pipeline_fields(t.deals),
            "lead": t.deals.c.lead_id,
            "lead_title": _lead_of_deal.c.title,
            "amount": t.deals.c.amount,
            "probability": t.deals.c.probability,
            "is_won": t.deals.c.is_won,
            "is_lost": t.deals.c.is_lost,
            "lost_reason": t.deals.c.lost_reason,
            "expected_close_date": t.deals.c.expected_close_date,
            "closed_at": t.deals.c.closed_at,
            "stage_changed_at": t.deals.c.stage_changed_at,
            **_audit(t.deals),
        },
        filter_columns={
            **_pipeline_filters(t.deals),
            "lead": t.deals.c.lead_id,
            "is_won": t.deals.c.is_won,
            "is_lost": t.deals.c.is_lost,
            "expected_close_date": t.deals.c.expected_close_date,
        },
        search=(t.deals.c.title, t.deals.c.description, *_contact_names),
        search_phones=(_contact.c.phone_digits,),
        ordering_columns={
            "created_at": t.deals.c.created_at,
            "amount": t.deals.c.amount,
            "expected_close_date": t.deals.c.expected_close_date,
            "title": russian_order(t.deals.c.title),
        },
    ),
    Resource.ACTIVITIES: ListSpec(
        resource=Resource.ACTIVITIES,
        kind="Activity",
        table=t.activities,
        source=t.activities.outerjoin(_author, _author.c.id == t.activities.c.user_id)
        .outerjoin(_contact, _contact.c.id == t.activities.c.contact_id)
        .outerjoin(_activity_lead, _activity_lead.c.id == t.activities.c.lead_id)
        .outerjoin(_activity_deal, _activity_deal.c.id == t.activities.c.deal_id),
        company=t.activities.c.company_id,
        fields={
            "id": t.activities.c.id,
            "company": t.activities.c.company_id,
            "user": t.activities.c.user_id,
            "user_name": user_name(_author),
            "contact": t.activities.c.contact_id,
            "contact_name": full_name(_contact),
            "lead": t.activities.c.lead_id,
            "lead_title": _activity_lead.c.title,
            "deal": t.activities.c.deal_id,
            "deal_title": _activity_deal.c.title,
            "activity_type": t.activities.c.activity_type,
            "activity_type_display": label_of(t.activities.c.activity_type, ActivityType),
            "title": t.activities.c.title,
            "description": t.activities.c.description,
            "activity_date": t.activities.c.activity_date,
            "due_date": t.activities.c.due_date,
            "is_done": t.activities.c.is_done,
            **_audit(t.activities),
        },
        filter_columns={
            "contact": t.activities.c.contact_id,
            "lead": t.activities.c.lead_id,
            "deal": t.activities.c.deal_id,
            "activity_type": t.activities.c.activity_type,
            "user": t.activities.c.user_id,
            "is_done": t.activities.c.is_done,
            "activity_date": t.activities.c.activity_date,
        },
        search=(t.activities.c.title, t.activities.c.description),
        ordering_columns={
            "activity_date": t.activities.c.activity_date,
            "created_at": t.activities.c.created_at,
        },
    ),
    Resource.USERS: ListSpec(
        resource=Resource.USERS,
        kind="User",
        table=t.users,
        source=t.users,
        company=t.users.c.company_id,
        fields={
            "id": t.users.c.id,
            "email": t.users.c.email,
            "full_name": t.users.c.full_name,
            "role": t.users.c.role,
            "is_active": t.users.c.is_active,
            "created_at": t.users.c.created_at,
            "updated_at": t.users.c.updated_at,
        },
        filter_columns={"is_active": t.users.c.is_active, "role": t.users.c.role},
        search=(t.users.c.email, t.users.c.full_name),
        ordering_columns={
            "created_at": t.users.c.created_at,
            "email": t.users.c.email,
            "full_name": russian_order(t.users.c.full_name),
        },
    ),
    Resource.BRANCHES: ListSpec(
        resource=Resource.BRANCHES,
        kind="Branch",
        table=t.branches,
        source=t.branches,
        company=t.branches.c.company_id,
        fields={
            "id": t.branches.c.id,
            "company": t.branches.c.company_id,
            "name": t.branches.c.name,
            "address": t.branches.c.address,
            "is_active": t.branches.c.is_active,
            **_audit(t.branches),
        },
        filter_columns={"is_active": t.branches.c.is_active},
        search=(t.branches.c.name, t.branches.c.address),
        ordering_columns={
            "created_at": t.branches.c.created_at,
            "name": russian_order(t.branches.c.name),
        },
    ),
    Resource.ACCOUNTS: ListSpec(
        resource=Resource.ACCOUNTS,
        kind="Account",
        table=t.messaging_accounts,
        source=t.messaging_accounts.join(
            _company, _company.c.id == t.messaging_accounts.c.company_id
        ),
        company=t.messaging_accounts.c.company_id,
        # Never the API key; the webhook secret only inside webhook_url (SqlReadModel puts the
        # server's public address in front of it).
        fields={
            "webhook_url": webhook_url_field(DEFAULT_PUBLIC_URL),
            "id": t.messaging_accounts.c.id,
            "company": t.messaging_accounts.c.company_id,
            "company_name": _company.c.name,
            "name": t.messaging_accounts.c.name,
            "api_key_hint": t.messaging_accounts.c.api_key_hint,
            "api_url": t.messaging_accounts.c.api_url,
            "instance_id": t.messaging_accounts.c.instance_id,
            "integration_type": t.messaging_accounts.c.chat_type,
            "integration_type_display": label_of(t.messaging_accounts.c.chat_type, ChatType),
            "is_active": t.messaging_accounts.c.is_active,
            "is_connected": t.messaging_accounts.c.is_connected,
            "channel_state": t.messaging_accounts.c.channel_state,
            "last_sync": t.messaging_accounts.c.last_sync,
            "last_error": t.messaging_accounts.c.last_error,
            "metadata": t.messaging_accounts.c["metadata"],
            "default_funnel": t.messaging_accounts.c.default_funnel_id,
            "auto_create_leads": t.messaging_accounts.c.auto_create_leads,
            **_audit(t.messaging_accounts),
        },
        filter_columns={
            "integration_type": t.messaging_accounts.c.chat_type,
            "is_active": t.messaging_accounts.c.is_active,
            "is_connected": t.messaging_accounts.c.is_connected,
        },
        search=(t.messaging_accounts.c.name,),
        ordering_columns={
            "created_at": t.messaging_accounts.c.created_at,
            "name": russian_order(t.messaging_accounts.c.name),
        },
    ),
    Resource.MESSAGES: ListSpec(
        resource=Resource.MESSAGES,
        kind="Message",
        table=t.messages,
        source=t.messages.join(
            _message_account, _message_account.c.id == t.messages.c.account_id
        ).outerjoin(_contact, _contact.c.id == t.messages.c.contact_id),
        company=t.messages.c.company_id,
        fields={
            "id": t.messages.c.id,
            "account": t.messages.c.account_id,
            "account_info": _message_account.c.instance_id,
            "contact": t.messages.c.contact_id,
            "contact_name": full_name(_contact),
            "lead": t.messages.c.lead_id,
            "message_id": t.messages.c.provider_message_id,
            "chat_type": t.messages.c.chat_type,
            "chat_id": t.messages.c.chat_id,
            "from_number": t.messages.c.from_number,
            "to_number": t.messages.c.to_number,
            "message_type": t.messages.c.message_type,
            "message_type_display": label_of(t.messages.c.message_type, MessageType),
            "text": t.messages.c.text,
            "media_url": t.messages.c.media_url,
            "caption": t.messages.c.caption,
            "is_incoming": t.messages.c.is_incoming,
            "is_read": t.messages.c.is_read,
            "status": t.messages.c.status,
            "status_display": label_of(t.messages.c.status, MessageStatus),
            "error": t.messages.c.error,
            "author_name": t.messages.c.author_name,
            "is_edited": t.messages.c.is_edited,
            "is_deleted": t.messages.c.is_deleted,
            "metadata": t.messages.c["metadata"],
            "timestamp": t.messages.c.timestamp,
            **_audit(t.messages),
        },
        filter_columns={
            **{name: t.messages.c[f"{name}_id"] for name in ("account", "contact", "lead")},
            **{
                name: t.messages.c[name]
                for name in ("is_incoming", "is_read", "message_type", "status", "chat_id")
            },
            "timestamp": t.messages.c.timestamp,
        },
        search=(t.messages.c.text, t.messages.c.from_number, t.messages.c.to_number),
        ordering_columns={
            "timestamp": t.messages.c.timestamp,
            "created_at": t.messages.c.created_at,
        },
    ),
}

# The stages nested in a funnel row, fetched for a whole page in one statement.
_NESTED_STAGE_FIELDS = _stage_fields(t.stages)


# --- the generic machinery -----------------------------------------------------------------


def _select_fields(fields: Mapping[str, Field]) -> list[Column]:
    """The columns to select, in the order `_build_rows` reads them back."""
    columns: list[Column] = []
    for name, field in fields.items():
        if isinstance(field, Computed):
            columns += [_plain(part).label(f"{name}__{i}") for i, part in enumerate(field.inputs)]
        else:
            columns.append(_plain(field).label(name))
    return columns


def _build_rows(fields: Mapping[str, Field], result: Iterable[Any]) -> RowList:
    plan: list[tuple[str, int, Computed | None]] = []
    position = 0
    for name, field in fields.items():
        if isinstance(field, Computed):
            plan.append((name, position, field))
            position += len(field.inputs)
        else:
            plan.append((name, position, None))
            position += 1
    rows = []
    for record in result:
        row: dict[str, Any] = {}
        for name, at, computed in plan:
            if computed is None:
                row[name] = record[at]
            else:
                row[name] = computed.compute(*record[at : at + len(computed.inputs)])
        rows.append(row)
    return rows


def detail_of_written(resource: Resource, written: FromClause) -> Select[Any]:
    """The detail of `resource`, its row read from `written` in place of its table: for a row
    that a statement inserts and returns whole (a CTE of `INSERT … RETURNING`), which the
    statement's own snapshot of the table does not hold yet. Read by `rows_of`. For leads
    and deals, whose fields the read model takes from LIST_SPECS unchanged."""
    spec = LIST_SPECS[resource]

    def swap(element: Any, **_: Any) -> Any:
        if element is spec.table:
            return written
        if isinstance(element, ColumnClause) and element.table is spec.table:
            return written.c[element.key]
        return None

    swapped: Select[Any] = visitors.replacement_traverse(_row_columns(spec), {}, swap)
    return swapped


def _row_columns(spec: ListSpec) -> Any:
    """A resource's row columns over its joins: a statement adds its conditions."""
    return select(*_select_fields(spec.fields)).select_from(spec.source)


def detail_key(resource: Resource, company_id: CompanyId, object_id: object) -> Hashable:
    """What a detail read back by a write is kept under (crm_adapters.sql.reads), and found
    by: the company is part of it, so that no other company's read is answered with it."""
    return (resource, company_id, object_id)


def rows_of(resource: Resource, result: Iterable[Any]) -> RowList:
    """The rows of `resource` from what `detail_of_written`'s statement returned."""
    return _build_rows(LIST_SPECS[resource].fields, result)


def _conditions(
    spec: ListSpec, company_id: CompanyId, query: ListQuery, region: Callable[[], str]
) -> list[Any]:
    conditions: list[Any] = [spec.company == company_id]
    for name, value in query.filters.items():
        make = spec.filters.get(name)
        # Unknown names are ignored as the contract ignores unknown query parameters.
        if make is None or value is None:
            continue
        if LISTINGS[spec.resource].filters.get(name) == PHONE:
            # read as the company's region writes numbers
            value = phone_query_digits(str(value), region())
        conditions.append(make(value))
    if query.search:
        conditions += _search(spec, query.search, region)
    return conditions


def _search(spec: ListSpec, text: str, region: Callable[[], str]) -> list[Any]:
    """Every word must match some searched field. A phone-like run (`8 999 123-45`) matches
    as the phone filter does, over the digits of the phones, or as text like any word."""
    words, phones = split_search(text)

    def as_text(word: str) -> Any:
        return or_(*(folded_contains(column, word) for column in spec.search))

    conditions: list[Any] = [as_text(word) for word in words]
    for run in phones:
        digits = phone_query_digits(run, region())
        as_phone = [digits_within(column, digits) for column in spec.search_phones if digits]
        conditions.append(or_(*as_phone, as_text(run)))
    return conditions


def _order_by(spec: ListSpec, ordering: Sequence[tuple[str, bool]]) -> list[Any]:
    clauses = []
    for name, descending in ordering or spec.default_ordering:
        column = spec.ordering_columns.get(name)
        if column is None:
            raise ValidationFailed.on("ordering", f"Unknown ordering field {name!r}.")
        # Nulls sort as the largest value on both databases (PostgreSQL's own default).
        clauses.append(column.desc().nulls_first() if descending else column.asc().nulls_last())
    last_descending = (ordering or spec.default_ordering)[-1][1]
    # The id settles ties, so that pages never overlap or skip.
    clauses.append(spec.table.c.id.desc() if last_descending else spec.table.c.id.asc())
    return clauses


def _as_uuid(value: object) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


class SqlReadModel:
    """crm_core.ports.ReadModel on SQL: its statements run in autocommit, on the connection of
    the request's scope when there is one (see crm_adapters.sql.reads)."""

    def __init__(
        self,
        engine: Engine,
        public_url: str = DEFAULT_PUBLIC_URL,
        reads: ReadConnections | None = None,
    ) -> None:
        self.reads = reads or ReadConnections(engine)
        self._regions: dict[CompanyId, str] = {}
        self._statistics = StatisticsCache()
        self._shapes: dict[Hashable, tuple[Select[Any], Select[Any]]] = {}
        accounts = LIST_SPECS[Resource.ACCOUNTS]
        self.specs = {
            **LIST_SPECS,
            Resource.ACCOUNTS: attrs.evolve(
                accounts, fields={**accounts.fields, "webhook_url": webhook_url_field(public_url)}
            ),
        }
        # Each resource's row columns over its joins, built once: a request adds its conditions.
        self._rows_from = {resource: _row_columns(spec) for resource, spec in self.specs.items()}
        # And the whole statement of a detail, which takes only parameters.
        self._detail = {
            resource: self._rows_from[resource].where(
                spec.company == bindparam("company"), spec.table.c.id == bindparam("key")
            )
            for resource, spec in self.specs.items()
        }

    def list(self, resource: Resource, company_id: CompanyId, query: ListQuery) -> Page:
        """The page, then the count: counted by a statement of its own only when the page
        does not tell it. A page short of its size is the last, so the count is the rows
        before it and on it (a search by phone answering a contact or two reads the contacts
        once, not twice); an empty first page counts none."""
        spec = self.specs[resource]
        with self.reads.connect() as connection:
            page, count, parameters = self._page_statements(
                spec, company_id, query, lambda: self._region(connection, company_id)
            )
            rows = self._rows(connection, resource, spec, page, **parameters)
            if len(rows) < query.page_size and (rows or query.offset == 0):
                return Page(count=query.offset + len(rows), rows=rows)
            total = connection.scalar(count, parameters)
        return Page(count=int(total or 0), rows=rows)

    def _page_statements(
        self, spec: ListSpec, company_id: CompanyId, query: ListQuery, region: Callable[[], str]
    ) -> tuple[Select[Any], Select[Any], dict[str, Any]]:
        """A list's page and count statements, and their parameters. A list narrowed by
        equality filters alone (the common case: a stage, an owner, a status) takes the
        statements built for its shape (which filters, which ordering) with every value
        bound; building and keying a fresh statement of thirty columns costs as much as
        running it. Any other list is built for its values."""
        # Unknown names are ignored, as `_conditions` ignores them.
        filters = {
            name: value
            for name, value in query.filters.items()
            if value is not None and name in spec.filters
        }
        ordering = tuple(query.ordering)
        paging = {"limit": query.page_size, "offset": query.offset}
        if not query.search and all(isinstance(spec.filters[name], _Equals) for name in filters):
            shape = (spec.resource, tuple(filters), ordering)
            built = self._shapes.get(shape)
            if built is None:
                conditions = [spec.company == bindparam("company")]
                conditions += [spec.filters[name](bindparam(f"filter_{name}")) for name in filters]
                built = self._page_and_count(spec, conditions, ordering)
                if len(self._shapes) < MAX_SHAPES:
                    self._shapes[shape] = built
            values = {f"filter_{name}": value for name, value in filters.items()}
            return (*built, {**paging, "company": company_id, **values})
        conditions = _conditions(spec, company_id, query, region)
        built = self._page_and_count(spec, conditions, ordering, searching=bool(query.search))
        return (*built, paging)

    def _page_and_count(
        self,
        spec: ListSpec,
        conditions: Sequence[Any],
        ordering: Sequence[tuple[str, bool]],
        *,
        searching: bool = False,
    ) -> tuple[Select[Any], Select[Any]]:
        """The page (its size and offset bound as `limit` and `offset`) and the count."""
        count_from: FromClause = spec.table
        if spec.company.table is not spec.table or searching:
            count_from = spec.source
        page = (
            self._rows_from[spec.resource]
            .where(*conditions)
            .order_by(*_order_by(spec, ordering))
            .limit(bindparam("limit"))
            .offset(bindparam("offset"))
        )
        return page, select(func.count()).select_from(count_from).where(*conditions)

    def _region(self, connection: Connection, company_id: CompanyId) -> str:
        """The company's phone region (fixed once the company exists, so kept)."""
        region = self._regions.get(company_id)
        if region is None:
            region = connection.scalar(
                select(t.companies.c.default_region).where(t.companies.c.id == company_id)
            )
            region = self._regions[company_id] = region or "RU"
        return region

    def detail(self, resource: Resource, company_id: CompanyId, object_id: object) -> Row:
        spec = self.specs[resource]
        key = _as_uuid(object_id)
        if key is None:
            raise NotFound(spec.kind)
        written = self.reads.take_written(detail_key(resource, company_id, key))
        if written is not None:  # as this request's own write just read it back
            return written
        with self.reads.connect() as connection:
            rows = self._rows(
                connection, resource, spec, self._detail[resource], company=company_id, key=key
            )
        if not rows:
            raise NotFound(spec.kind)
        return rows[0]

    def _rows(
        self,
        connection: Connection,
        resource: Resource,
        spec: ListSpec,
        statement: Select[Any],
        **parameters: Any,
    ) -> RowList:
        rows = _build_rows(spec.fields, connection.execute(statement, parameters))
        if resource is Resource.FUNNELS:
            self._attach_stages(connection, rows)
        return rows

    @staticmethod
    def _attach_stages(connection: Connection, funnels: RowList) -> None:
        by_funnel: dict[Any, list[dict[str, Any]]] = {row["id"]: [] for row in funnels}
        if by_funnel:
            stages = connection.execute(
                select(*_select_fields(_NESTED_STAGE_FIELDS))
                .where(t.stages.c.funnel_id.in_(list(by_funnel)))
                .order_by(t.stages.c.funnel_id, t.stages.c.order)
            )
            for stage in _build_rows(_NESTED_STAGE_FIELDS, stages):
                by_funnel[stage["funnel"]].append(stage)
        for row in funnels:
            row["stages"] = by_funnel[row["id"]]

    def funnel_statistics(
        self, company_id: CompanyId, funnel_id: FunnelId, period: StatisticsFilter
    ) -> Row:
        with self.reads.connect() as connection:
            return funnel_statistics(
                connection, company_id, funnel_id, period, cache=self._statistics
            )

    def contact_timeline(
        self, company_id: CompanyId, contact_id: ContactId, page: int, page_size: int
    ) -> Page:
        """Activities and messages of a contact, newest first: one merged, paginated index,
        then the rows of that page by kind."""
        activities, messages = t.activities, t.messages
        merged = union_all(
            select(
                activities.c.id,
                activities.c.activity_date.label("moment"),
                literal("activity").label("kind"),
            ).where(activities.c.company_id == company_id, activities.c.contact_id == contact_id),
            select(
                messages.c.id,
                messages.c.timestamp.label("moment"),
                literal("message").label("kind"),
            ).where(messages.c.company_id == company_id, messages.c.contact_id == contact_id),
        ).subquery("timeline")
        with self.reads.connect() as connection:
            contact_exists = connection.scalar(
                select(t.contacts.c.id).where(
                    t.contacts.c.company_id == company_id, t.contacts.c.id == contact_id
                )
            )
            if contact_exists is None:
                raise NotFound("Contact")
            count = connection.scalar(select(func.count()).select_from(merged)) or 0
            entries = connection.execute(
                select(merged.c.id, merged.c.kind)
                .order_by(merged.c.moment.desc(), merged.c.kind, merged.c.id.desc())
                .limit(page_size)
                .offset((page - 1) * page_size)
            ).all()
            found: dict[Any, dict[str, Any]] = {}
            for kind, resource in (
                ("activity", Resource.ACTIVITIES),
                ("message", Resource.MESSAGES),
            ):
                ids = [entry.id for entry in entries if entry.kind == kind]
                if not ids:
                    continue
                spec = self.specs[resource]
                statement = self._rows_from[resource].where(
                    spec.company == company_id, spec.table.c.id.in_(ids)
                )
                for row in self._rows(connection, resource, spec, statement):
                    found[row["id"]] = {**row, "kind": kind}
        return Page(count=int(count), rows=[found[entry.id] for entry in entries])


__all__ = ["LIST_SPECS", "ListSpec", "SqlReadModel"]
