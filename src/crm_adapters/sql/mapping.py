"""Imperative ORM mapping of the attrs aggregates onto the tables (the domain never sees it)."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, registry, relationship

from crm_adapters.sql import tables
from crm_core.activity import Activity
from crm_core.contact import Contact
from crm_core.deal import Deal
from crm_core.funnel import Funnel, Stage
from crm_core.history import StageTransition, Subject
from crm_core.inbox import Delivery
from crm_core.lead import Lead
from crm_core.messaging import Message, MessagingAccount
from crm_core.tenancy import ApiToken, Branch, Company, User

mapper_registry = registry(metadata=tables.metadata)

_started = False
_lock = threading.Lock()


def start_mappers() -> None:
    """Maps the aggregates; safe to call more than once (each composition root calls it)."""
    global _started
    with _lock:
        if _started:
            return
        _map()
        _started = True


def _history(owner: Any, subject_column: Any) -> Any:
    # The transitions' own foreign key (lead_id or deal_id) is set by the relationship; the
    # database cascades too (passive_deletes), for deletes that reach it only there.
    return relationship(
        StageTransition,
        primaryjoin=owner.c.id == subject_column,
        foreign_keys=[subject_column],
        order_by=tables.stage_transitions.c.seq,
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="selectin",
    )


def _map() -> None:
    m = mapper_registry.map_imperatively
    m(Company, tables.companies)
    m(User, tables.users)
    m(ApiToken, tables.api_tokens)
    m(Branch, tables.branches)
    m(
        Stage,
        tables.stages,
    )
    m(
        Funnel,
        tables.funnels,
        properties={
            "stages": relationship(
                Stage,
                order_by=tables.stages.c.order,
                cascade="all, delete-orphan",
                passive_deletes=True,
                lazy="selectin",
            )
        },
        # The unit of work's own bookkeeping (`SqlFunnels.read`), not the domain's.
        exclude_properties=["layout"],
    )
    m(
        Contact,
        tables.contacts,
        # `phone_digits` is a property of the domain class; the column is mapped under a
        # private name and fed from that property before every flush.
        properties={"_phone_digits": tables.contacts.c.phone_digits},
    )
    transitions = tables.stage_transitions
    m(StageTransition, transitions)
    m(
        Lead,
        tables.leads,
        properties={"history": _history(tables.leads, transitions.c.lead_id)},
        version_id_col=tables.leads.c.version,
    )
    m(
        Deal,
        tables.deals,
        properties={"history": _history(tables.deals, transitions.c.deal_id)},
        version_id_col=tables.deals.c.version,
    )
    m(Activity, tables.activities)
    m(MessagingAccount, tables.messaging_accounts)
    m(Message, tables.messages)
    m(Delivery, tables.webhook_deliveries)

    event.listen(StageTransition, "load", _restore_subject_id)
    event.listen(Session, "before_flush", _sync_derived_columns)


def _restore_subject_id(transition: StageTransition, _context: Any) -> None:
    """The domain's `subject_id` is stored as whichever foreign key the subject uses."""
    state: Any = transition
    transition.subject_id = state.lead_id if transition.subject is Subject.LEAD else state.deal_id


def _sync_derived_columns(session: Session, _context: Any, _instances: Any) -> None:
    for instance in (*session.new, *session.dirty):
        if isinstance(instance, Contact):
            state: Any = instance
            if state._phone_digits != instance.phone_digits:
                state._phone_digits = instance.phone_digits
