"""Funnel statistics (CONTRACT section 5): four grouped statements, whatever the funnel's size,
and one while nothing they depend on has changed (see `StatisticsCache`)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import (
    Connection,
    Float,
    Table,
    and_,
    bindparam,
    case,
    func,
    literal,
    or_,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.sql.elements import ColumnElement

from crm_adapters.sql import tables as t
from crm_adapters.sql.types import MoneyAmount, days_between, from_day, through_day
from crm_core.errors import NotFound
from crm_core.lead import LeadStatus
from crm_core.ports import StatisticsFilter
from crm_core.values import CompanyId, FunnelId

_CENT = Decimal("0.01")


def exact_total(value: Any) -> Decimal:
    """A sum as answered: exact, two places, no upper bound (not Money: a funnel's total may
    pass twelve digits)."""
    return Decimal(value or 0).quantize(_CENT, rounding=ROUND_HALF_UP)


def _ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def _mean(total: float | None, count: int) -> float | None:
    return round(float(total or 0) / count, 4) if count else None


def exact_sum(expression: Any) -> ColumnElement[Any]:
    """An exact sum of amounts (or of amounts times a whole number) on either database."""
    return type_coerce(func.coalesce(func.sum(expression), 0), MoneyAmount())


def _when(condition: Any, value: Any) -> Any:
    return case((condition, value), else_=None)


def _period(table: Table, period: StatisticsFilter) -> list[Any]:
    """The subject's own filters: created in the period (whole UTC days), of the owner."""
    conditions = []
    if period.created_after is not None:
        conditions.append(from_day(table.c.created_at, period.created_after))
    if period.created_before is not None:
        conditions.append(through_day(table.c.created_at, period.created_before))
    if period.owner_id is not None:
        conditions.append(table.c.owner_id == period.owner_id)
    return conditions


# The funnel, its stages and its revision: the cache key, read by every request (built once).
_REVISION = (
    select(func.coalesce(func.sum(t.funnel_revision_slots.c.revision), 0))
    .where(t.funnel_revision_slots.c.funnel_id == bindparam("funnel_id"))
    .scalar_subquery()
)
_FUNNEL_AND_STAGES = (
    select(
        t.funnels.c.name.label("funnel_name"),
        _REVISION.label("revision"),
        t.stages.c.id,
        t.stages.c.name,
        t.stages.c.order,
        t.stages.c.color,
        t.stages.c.is_final,
        t.stages.c.is_success,
    )
    .select_from(t.funnels.outerjoin(t.stages, t.stages.c.funnel_id == t.funnels.c.id))
    .where(
        t.funnels.c.id == bindparam("funnel_id"), t.funnels.c.company_id == bindparam("company_id")
    )
    .order_by(t.stages.c.order)
)


class StatisticsCache:
    """The last answers of each process, keyed by what they were computed from: the funnel
    and its stages as read, and the funnel's revision (the sum of its slots), which every
    commit that writes its stages, leads or deals bumps (see the unit of work). The statistics
    are a function of those rows alone (no clock: a period is whole days), and the key is read
    before them, so an answer found under the same key is the one the database would give now."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._answers: OrderedDict[Hashable, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        with self._lock:
            answer = self._answers.get(key)
            if answer is not None:
                self._answers.move_to_end(key)
        if answer is None:
            answer = compute()
            with self._lock:
                self._answers[key] = answer
                while len(self._answers) > self.size:
                    self._answers.popitem(last=False)
        # Callers may change theirs; the values themselves are immutable.
        return {**answer, "stages_statistics": [dict(row) for row in answer["stages_statistics"]]}


def funnel_statistics(
    connection: Connection,
    company_id: CompanyId,
    funnel_id: FunnelId,
    period: StatisticsFilter,
    cache: StatisticsCache | None = None,
) -> dict[str, Any]:
    funnel_rows = connection.execute(
        _FUNNEL_AND_STAGES, {"company_id": company_id, "funnel_id": funnel_id}
    ).all()
    if not funnel_rows:
        raise NotFound("Funnel")

    def compute() -> dict[str, Any]:
        return _computed(connection, company_id, funnel_id, period, funnel_rows)

    if cache is None:
        return compute()
    key = (company_id, funnel_id, period, tuple(tuple(row) for row in funnel_rows))
    return cache.get(key, compute)


def _computed(
    connection: Connection,
    company_id: CompanyId,
    funnel_id: FunnelId,
    period: StatisticsFilter,
    funnel_rows: Any,
) -> dict[str, Any]:
    leads, deals = t.leads, t.deals
    lead_open = leads.c.status == LeadStatus.OPEN
    lead_groups = {
        row.stage_id: row
        for row in connection.execute(
            select(
                leads.c.stage_id,
                func.count().label("n"),
                exact_sum(leads.c.estimated_value).label("value"),
                func.count(_when(leads.c.status == LeadStatus.CONVERTED, 1)).label("converted"),
                func.count(_when(lead_open, 1)).label("open"),
                exact_sum(_when(lead_open, leads.c.estimated_value)).label("open_value"),
            )
            .where(
                leads.c.funnel_id == funnel_id,
                leads.c.company_id == company_id,
                *_period(leads, period),
            )
            .group_by(leads.c.stage_id)
        )
    }

    is_open = ~(deals.c.is_won | deals.c.is_lost)
    deal_groups = {
        row.stage_id: row
        for row in connection.execute(
            select(
                deals.c.stage_id,
                func.count().label("n"),
                exact_sum(deals.c.amount).label("amount"),
                func.count(_when(is_open, 1)).label("open"),
                func.count(_when(deals.c.is_won, 1)).label("won"),
                func.count(_when(deals.c.is_lost, 1)).label("lost"),
                exact_sum(_when(deals.c.is_won, deals.c.amount)).label("won_amount"),
                exact_sum(_when(deals.c.is_lost, deals.c.amount)).label("lost_amount"),
                exact_sum(_when(is_open, deals.c.amount)).label("pipeline"),
                exact_sum(_when(is_open, deals.c.amount * deals.c.probability)).label("weighted"),
                func.sum(
                    _when(deals.c.is_won, days_between(deals.c.created_at, deals.c.closed_at))
                ).label("days_to_win"),
            )
            .where(
                deals.c.funnel_id == funnel_id,
                deals.c.company_id == company_id,
                *_period(deals, period),
            )
            .group_by(deals.c.stage_id)
        )
    }

    reached_top, stays = _history(connection, funnel_id, period)

    stage_rows = [row for row in funnel_rows if row.id is not None]
    stages_statistics = []
    previous_reached: int | None = None
    for stage in stage_rows:
        lead_group = lead_groups.get(stage.id)
        deal_group = deal_groups.get(stage.id)
        reached = sum(count for top, count in reached_top.items() if top >= stage.order)
        stay_count, stay_days = stays.get(stage.order, (0, None))
        stages_statistics.append(
            {
                "stage_id": stage.id,
                "stage_name": stage.name,
                "order": stage.order,
                "color": stage.color.hex,
                "is_final": bool(stage.is_final),
                "is_success": bool(stage.is_success),
                "leads_count": lead_group.n if lead_group else 0,
                "leads_value": exact_total(lead_group.value if lead_group else 0),
                "deals_count": deal_group.n if deal_group else 0,
                "deals_amount": exact_total(deal_group.amount if deal_group else 0),
                "open_count": (lead_group.open if lead_group else 0)
                + (deal_group.open if deal_group else 0),
                "open_amount": exact_total(lead_group.open_value if lead_group else 0)
                + exact_total(deal_group.pipeline if deal_group else 0),
                "reached_count": reached,
                "conversion_from_previous": (
                    None if previous_reached is None else _ratio(reached, previous_reached)
                ),
                "avg_days_in_stage": _mean(stay_days, stay_count),
            }
        )
        previous_reached = reached

    def total(groups: Iterable[Any], name: str) -> Any:
        return sum((getattr(group, name) or 0 for group in groups), start=0)

    leads_count = total(lead_groups.values(), "n")
    converted = total(lead_groups.values(), "converted")
    deal_values = list(deal_groups.values())
    won, lost = total(deal_values, "won"), total(deal_values, "lost")
    won_amount = exact_total(total(deal_values, "won_amount"))
    weighted = exact_total(total(deal_values, "weighted")) / 100
    return {
        "funnel_id": funnel_id,
        "funnel_name": funnel_rows[0].funnel_name,
        "leads_count": leads_count,
        "deals_count": total(deal_values, "n"),
        "open_deals": total(deal_values, "open"),
        "won_deals": won,
        "lost_deals": lost,
        "total_amount": won_amount,
        "won_amount": won_amount,
        "lost_amount": exact_total(total(deal_values, "lost_amount")),
        "pipeline_amount": exact_total(total(deal_values, "pipeline")),
        "weighted_pipeline_amount": exact_total(weighted),
        "win_rate": _ratio(won, won + lost),
        "lead_to_deal_rate": _ratio(converted, leads_count),
        "avg_days_to_win": _mean(total(deal_values, "days_to_win"), won),
        "stages_statistics": stages_statistics,
    }


def _stays(funnel_id: FunnelId, period: StatisticsFilter) -> Any:
    """Every stay in the funnel's stages (lead or deal, stage order, entered, left), of the
    leads and deals that pass the period and owner filters (joined only then)."""
    transitions, stages, leads, deals = t.stage_transitions, t.stages, t.leads, t.deals
    statement = (
        select(
            transitions.c.lead_id,
            transitions.c.deal_id,
            stages.c.order.label("stage_order"),
            transitions.c.entered_at,
            transitions.c.left_at,
        )
        .select_from(transitions.join(stages, stages.c.id == transitions.c.to_stage_id))
        .where(stages.c.funnel_id == funnel_id)
    )
    lead_conditions, deal_conditions = _period(leads, period), _period(deals, period)
    if lead_conditions:
        statement = (
            statement.outerjoin(leads, leads.c.id == transitions.c.lead_id)
            .outerjoin(deals, deals.c.id == transitions.c.deal_id)
            .where(
                or_(
                    and_(transitions.c.lead_id.is_not(None), *lead_conditions),
                    and_(transitions.c.deal_id.is_not(None), *deal_conditions),
                )
            )
        )
    return statement


def _history(
    connection: Connection, funnel_id: FunnelId, period: StatisticsFilter
) -> tuple[dict[int, int], dict[int, tuple[int, float | None]]]:
    """From the stage history, in one statement: how many opportunities got at most as far as each
    stage order, and the count and total length of the finished stays in each stage."""
    # Two independent subqueries rather than one CTE: PostgreSQL would materialise a CTE read
    # twice, and each part reads only the index on stage_transitions anyway.
    # How far each lead and each deal got, then per opportunity: a deal made from a lead
    # counts with it (an opportunity is a lead, a deal, or a lead with the deal it became).
    # Grouping before the join keeps the join to one row per lead or deal, not per stay.
    reach = _stays(funnel_id, period).subquery("reach")
    per_subject = (
        select(reach.c.lead_id, reach.c.deal_id, func.max(reach.c.stage_order).label("top"))
        .group_by(reach.c.lead_id, reach.c.deal_id)
        .subquery("per_subject")
    )
    deal_of = t.deals.alias("deal_of")
    opportunity = func.coalesce(per_subject.c.lead_id, deal_of.c.lead_id, per_subject.c.deal_id)
    furthest = (
        select(func.max(per_subject.c.top).label("top"))
        .select_from(per_subject.outerjoin(deal_of, deal_of.c.id == per_subject.c.deal_id))
        .group_by(opportunity)
        .subquery("furthest")
    )
    finished = _stays(funnel_id, period).subquery("finished")
    statement = union_all(
        select(
            literal("reached").label("part"),
            furthest.c.top.label("stage_order"),
            func.count().label("n"),
            literal(None, Float).label("days"),
        ).group_by(furthest.c.top),
        select(
            literal("stay").label("part"),
            finished.c.stage_order,
            func.count().label("n"),
            func.sum(days_between(finished.c.entered_at, finished.c.left_at)),
        )
        .where(finished.c.left_at.is_not(None))
        .group_by(finished.c.stage_order),
    )
    reached_top: dict[int, int] = {}
    stays: dict[int, tuple[int, float | None]] = {}
    for row in connection.execute(statement):
        if row.part == "reached":
            reached_top[row.stage_order] = row.n
        else:
            stays[row.stage_order] = (row.n, row.days)
    return reached_top, stays
