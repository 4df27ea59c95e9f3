"""The board of a funnel (crm_core.ports.BoardReader): columns with their open totals, and the
newest cards of each, in three statements whatever the number of leads and deals."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from typing import Any

import attrs
from sqlalchemy import (
    Connection,
    Engine,
    FromClause,
    Select,
    and_,
    false,
    func,
    literal,
    select,
    tuple_,
)
from sqlalchemy.sql.elements import ColumnElement

from crm_adapters.sql import tables as t
from crm_adapters.sql.read_model import person_name
from crm_adapters.sql.reads import ReadConnections
from crm_adapters.sql.statistics import exact_sum, exact_total
from crm_core.activity import ActivityType
from crm_core.errors import NotFound
from crm_core.lead import LeadStatus
from crm_core.ports import BoardKind, CardsAfter, Row
from crm_core.values import CompanyId, FunnelId, StageId


@attrs.frozen
class _Items:
    """What the board needs of one kind of item: its table, amount, the test of being open,
    and how its tasks name it."""

    table: Any
    amount: Any
    task_link: Any

    def open_in(self, company_id: CompanyId) -> list[ColumnElement[bool]]:
        table = self.table
        if table is t.leads:
            is_open = table.c.status == LeadStatus.OPEN
        else:
            is_open = and_(table.c.is_won == false(), table.c.is_lost == false())
        return [table.c.company_id == company_id, is_open]


ITEMS = {
    BoardKind.LEADS: _Items(t.leads, t.leads.c.estimated_value, t.activities.c.lead_id),
    BoardKind.DEALS: _Items(t.deals, t.deals.c.amount, t.activities.c.deal_id),
}


def _unread(company_id: CompanyId) -> FromClause:
    """Unread incoming messages per contact (few: the rest are read)."""
    m = t.messages
    return (
        select(
            m.c.contact_id,
            func.count().label("unread"),
            func.max(m.c.updated_at).label("changed"),
        )
        .where(
            m.c.company_id == company_id,
            m.c.is_incoming.is_(True),
            m.c.is_read.is_(False),
            m.c.contact_id.is_not(None),
        )
        .group_by(m.c.contact_id)
        .subquery("unread")
    )


def _tasks(company_id: CompanyId, items: _Items) -> FromClause:
    """Open tasks per lead or deal: the earliest due day, and when any of them last changed."""
    a = t.activities
    return (
        select(
            items.task_link.label("item_id"),
            func.min(a.c.due_date).label("due"),
            func.count().label("tasks"),
            func.max(a.c.updated_at).label("changed"),
        )
        .where(
            a.c.company_id == company_id,
            a.c.activity_type == ActivityType.TASK,
            a.c.is_done.is_(False),
            items.task_link.is_not(None),
        )
        .group_by(items.task_link)
        .subquery("tasks")
    )


def _facts(company_id: CompanyId, funnel_id: FunnelId, items: _Items) -> FromClause:
    """Per stage: the open items' count and sum, and what makes the column's version."""
    table = items.table
    unread, tasks = _unread(company_id), _tasks(company_id, items)
    return (
        select(
            table.c.stage_id,
            func.count().label("open_count"),
            exact_sum(items.amount).label("open_amount"),
            func.sum(table.c.version).label("versions"),
            func.max(table.c.updated_at).label("changed"),
            func.coalesce(func.sum(unread.c.unread), 0).label("unread"),
            func.max(unread.c.changed).label("unread_changed"),
            func.coalesce(func.sum(tasks.c.tasks), 0).label("tasks"),
            func.max(tasks.c.changed).label("tasks_changed"),
        )
        .select_from(
            table.outerjoin(unread, unread.c.contact_id == table.c.contact_id).outerjoin(
                tasks, tasks.c.item_id == table.c.id
            )
        )
        .where(table.c.funnel_id == funnel_id, *items.open_in(company_id))
        .group_by(table.c.stage_id)
        .subquery("facts")
    )


def _columns_statement(company_id: CompanyId, funnel_id: FunnelId, items: _Items) -> Select[Any]:
    """The funnel, each of its stages, and the stage's facts; no row outside the company."""
    f, s = t.funnels, t.stages
    facts = _facts(company_id, funnel_id, items)
    return (
        select(
            f.c.name.label("funnel_name"),
            s.c.id,
            s.c.name,
            s.c.color,
            s.c.order,
            s.c.is_final,
            s.c.is_success,
            facts.c.open_count,
            facts.c.open_amount,
            facts.c.versions,
            facts.c.changed,
            facts.c.unread,
            facts.c.unread_changed,
            facts.c.tasks,
            facts.c.tasks_changed,
        )
        .select_from(
            f.outerjoin(s, s.c.funnel_id == f.c.id).outerjoin(facts, facts.c.stage_id == s.c.id)
        )
        .where(f.c.id == funnel_id, f.c.company_id == company_id)
        .order_by(s.c.order)
    )


def _version(row: Any) -> str:
    parts = (
        row.open_count,
        row.open_amount,
        row.versions,
        row.changed,
        row.unread,
        row.unread_changed,
        row.tasks,
        row.tasks_changed,
    )
    return hashlib.blake2s(repr(parts).encode(), digest_size=8).hexdigest()


def _stages_version(rows: Iterable[Any]) -> str:
    parts = [(row.id, row.name, str(row.color), row.order, row.is_final) for row in rows]
    return hashlib.blake2s(repr(parts).encode(), digest_size=8).hexdigest()


def _columns(
    connection: Connection, company_id: CompanyId, funnel_id: FunnelId, items: _Items
) -> tuple[list[dict[str, Any]], str, str]:
    """The funnel's columns in order (without cards), the version of its stages, and its
    name; NotFound outside the company."""
    rows = connection.execute(_columns_statement(company_id, funnel_id, items)).all()
    if not rows:
        raise NotFound("Funnel")
    stages = [row for row in rows if row.id is not None]  # a funnel without stages: none
    columns = [
        {
            "id": row.id,
            "name": row.name,
            "color": str(row.color),
            "order": row.order,
            "is_final": row.is_final,
            "is_success": row.is_success,
            "open_count": int(row.open_count or 0),
            "open_amount": exact_total(row.open_amount),
            "version": _version(row),
        }
        for row in stages
    ]
    return columns, _stages_version(stages), rows[0].funnel_name


def _card_fields(company_id: CompanyId, items: _Items, ranked: FromClause) -> Select[Any]:
    """The cards' own fields, their contact and owner, unread messages and open tasks, for
    the few items already chosen in `ranked`."""
    c, u, m = t.contacts, t.users, t.messages
    unread = (
        select(func.count())
        .where(
            m.c.company_id == company_id,
            m.c.contact_id == ranked.c.contact_id,
            m.c.is_incoming.is_(True),
            m.c.is_read.is_(False),
        )
        .scalar_subquery()
    )
    a = t.activities
    task_due = (
        select(func.min(a.c.due_date))
        .where(
            a.c.company_id == company_id,
            items.task_link == ranked.c.id,
            a.c.activity_type == ActivityType.TASK,
            a.c.is_done.is_(False),
        )
        .scalar_subquery()
    )
    return select(
        ranked.c.id,
        ranked.c.stage_id,
        ranked.c.title,
        ranked.c.amount,
        ranked.c.stage_changed_at,
        ranked.c.contact_id,
        c.c.last_name,
        c.c.first_name,
        c.c.middle_name,
        u.c.full_name.label("owner_full_name"),
        u.c.email.label("owner_email"),
        unread.label("unread"),
        task_due.label("task_due"),
    ).select_from(
        ranked.join(c, c.c.id == ranked.c.contact_id).outerjoin(u, u.c.id == ranked.c.owner_id)
    )


def _ranked_columns(items: _Items) -> list[Any]:
    table = items.table
    return [
        table.c.id,
        table.c.stage_id,
        table.c.title,
        items.amount.label("amount"),
        table.c.stage_changed_at,
        table.c.contact_id,
        table.c.owner_id,
    ]


def _newest_first(items: _Items) -> list[Any]:
    return [items.table.c.stage_changed_at.desc(), items.table.c.id.desc()]


def _card(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "stage_id": row.stage_id,
        "title": row.title,
        "amount": row.amount.amount,
        "stage_changed_at": row.stage_changed_at,
        "contact_id": row.contact_id,
        "contact_name": person_name(row.last_name, row.first_name, row.middle_name),
        "owner_name": row.owner_full_name or row.owner_email,
        "unread": int(row.unread or 0),
        "task_due": row.task_due,
    }


class SqlBoard:
    """crm_core.ports.BoardReader on SQL: its statements run in autocommit, on the connection of
    the request's scope when there is one (see crm_adapters.sql.reads)."""

    def __init__(self, engine: Engine, reads: ReadConnections | None = None) -> None:
        self.reads = reads or ReadConnections(engine)

    def board(
        self, company_id: CompanyId, funnel_id: FunnelId, kind: BoardKind, per_column: int
    ) -> Row:
        items = ITEMS[kind]
        table = items.table
        ranked = (
            select(
                *_ranked_columns(items),
                func.row_number()
                .over(partition_by=table.c.stage_id, order_by=_newest_first(items))
                .label("place"),
            )
            .where(table.c.funnel_id == funnel_id, *items.open_in(company_id))
            .subquery("ranked")
        )
        # One more than shown tells whether «Показать ещё» is needed.
        cards_statement = (
            _card_fields(company_id, items, ranked)
            .where(ranked.c.place <= per_column + 1)
            .order_by(ranked.c.stage_id, ranked.c.place)
        )
        f = t.funnels
        with self.reads.connect() as connection:
            columns, stages_version, funnel_name = _columns(
                connection, company_id, funnel_id, items
            )
            cards: dict[Any, list[Row]] = {column["id"]: [] for column in columns}
            for card in connection.execute(cards_statement):
                cards[card.stage_id].append(_card(card))
            funnels = connection.execute(
                select(f.c.id, f.c.name)
                .where(
                    f.c.company_id == company_id, f.c.is_active.is_(True) | (f.c.id == funnel_id)
                )
                .order_by(f.c.name, f.c.id)
            ).all()
        for column in columns:
            shown = cards[column["id"]]
            column["cards"], column["has_more"] = shown[:per_column], len(shown) > per_column
        return {
            "id": funnel_id,
            "name": funnel_name,
            "funnels": [{"id": funnel.id, "name": funnel.name} for funnel in funnels],
            "columns": columns,
            "stages_version": stages_version,
        }

    def column(
        self,
        company_id: CompanyId,
        funnel_id: FunnelId,
        stage_id: StageId,
        kind: BoardKind,
        limit: int,
    ) -> Row:
        items = ITEMS[kind]
        with self.reads.connect() as connection:
            columns, _, _ = _columns(connection, company_id, funnel_id, items)
            found = next((column for column in columns if column["id"] == stage_id), None)
            if found is None:
                raise NotFound("Stage")
            found["cards"], found["has_more"] = self._cards(
                connection, company_id, stage_id, items, None, limit
            )
        return found

    def cards(
        self,
        company_id: CompanyId,
        stage_id: StageId,
        kind: BoardKind,
        after: CardsAfter | None,
        limit: int,
    ) -> tuple[list[Row], bool]:
        with self.reads.connect() as connection:
            return self._cards(connection, company_id, stage_id, ITEMS[kind], after, limit)

    @staticmethod
    def _cards(
        connection: Connection,
        company_id: CompanyId,
        stage_id: StageId,
        items: _Items,
        after: CardsAfter | None,
        limit: int,
    ) -> tuple[list[Row], bool]:
        table = items.table
        conditions = [table.c.stage_id == stage_id, *items.open_in(company_id)]
        if after is not None:
            key = tuple_(table.c.stage_changed_at, table.c.id)
            since = literal(after.stage_changed_at, type_=table.c.stage_changed_at.type)
            conditions.append(key < tuple_(since, literal(after.id, type_=table.c.id.type)))
        ranked = (
            select(*_ranked_columns(items))
            .where(*conditions)
            .order_by(*_newest_first(items))
            .limit(limit + 1)
            .subquery("ranked")
        )
        statement = _card_fields(company_id, items, ranked).order_by(
            ranked.c.stage_changed_at.desc(), ranked.c.id.desc()
        )
        rows: list[Row] = [_card(row) for row in connection.execute(statement)]
        return rows[:limit], len(rows) > limit

    def card(self, company_id: CompanyId, kind: BoardKind, item_id: uuid.UUID) -> Row | None:
        items = ITEMS[kind]
        chosen = (
            select(*_ranked_columns(items))
            .where(items.table.c.id == item_id, *items.open_in(company_id))
            .subquery("ranked")
        )
        with self.reads.connect() as connection:
            row = connection.execute(_card_fields(company_id, items, chosen)).first()
        return None if row is None else _card(row)

    def versions(self, company_id: CompanyId, funnel_id: FunnelId, kind: BoardKind) -> Row:
        with self.reads.connect() as connection:
            columns, stages_version, _ = _columns(connection, company_id, funnel_id, ITEMS[kind])
        return {
            "stages": stages_version,
            "columns": {str(column["id"]): column["version"] for column in columns},
            "headers": {
                str(column["id"]): {
                    "open_count": column["open_count"],
                    "open_amount": str(column["open_amount"]),
                }
                for column in columns
            },
        }


__all__ = ["ITEMS", "SqlBoard"]
