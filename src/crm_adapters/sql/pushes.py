"""What the CRM pushes to the messaging provider, read straight from the tables."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from crm_adapters.sql import tables as t
from crm_core.ports import (
    ChatAddress,
    PushedContact,
    PushedDeal,
    PushedPipeline,
    PushedStage,
    PushedUser,
)
from crm_core.services.messaging_accounts import CONTACT_CHAT_TYPES, contact_chats
from crm_core.values import CompanyId


class SqlPushSource:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def users(self, company_id: CompanyId) -> list[PushedUser]:
        u = t.users
        query = (
            select(u.c.id, u.c.full_name, u.c.email)
            .where(u.c.company_id == company_id, u.c.is_active)
            .order_by(u.c.created_at, u.c.id)
        )
        with self.engine.connect() as connection:
            return [
                # A user without a full name is pushed under their e-mail.
                PushedUser(str(row.id), row.full_name or row.email)
                for row in connection.execute(query)
            ]

    def contacts(self, company_id: CompanyId, public_url: str) -> list[PushedContact]:
        c = t.contacts
        query = select(c).where(c.c.company_id == company_id).order_by(c.c.created_at, c.c.id)
        owners = self._default_owner(company_id)
        pushed = []
        with self.engine.connect() as connection:
            for row in connection.execute(query):
                chats = _chats(row)
                if not chats or owners is None:
                    continue
                name = " ".join(p for p in (row.last_name, row.first_name) if p) or row.first_name
                pushed.append(
                    PushedContact(
                        id=str(row.id),
                        responsible_user_id=str(row.owner_id or owners),
                        name=name[:200],
                        chats=tuple(chats),
                        uri=f"{public_url.rstrip('/')}/api/crm/contacts/{row.id}/"[:200],
                    )
                )
        return pushed

    def pipelines(self, company_id: CompanyId) -> list[PushedPipeline]:
        f, s = t.funnels, t.stages
        with self.engine.connect() as connection:
            funnels = connection.execute(
                select(f.c.id, f.c.name).where(f.c.company_id == company_id).order_by(f.c.id)
            ).all()
            stages = connection.execute(
                select(s.c.id, s.c.funnel_id, s.c.name)
                .where(s.c.funnel_id.in_([row.id for row in funnels]))
                .order_by(s.c.funnel_id, s.c.order)
            ).all()
        return [
            PushedPipeline(
                str(funnel.id),
                funnel.name[:100],
                tuple(
                    PushedStage(str(stage.id), stage.name[:100])
                    for stage in stages
                    if stage.funnel_id == funnel.id
                ),
            )
            for funnel in funnels
        ]

    def deals(self, company_id: CompanyId, public_url: str) -> list[PushedDeal]:
        d = t.deals
        owner = self._default_owner(company_id)
        pushable = {contact.id for contact in self.contacts(company_id, public_url)}
        query = (
            select(d.c.id, d.c.title, d.c.contact_id, d.c.owner_id)
            .where(d.c.company_id == company_id, ~d.c.is_won, ~d.c.is_lost)
            .order_by(d.c.created_at, d.c.id)
        )
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        return [
            PushedDeal(
                id=str(row.id),
                responsible_user_id=str(row.owner_id or owner),
                name=row.title[:200],
                contacts=(str(row.contact_id),),
                uri=f"{public_url.rstrip('/')}/api/crm/deals/{row.id}/"[:200],
                closed=False,
            )
            for row in rows
            if str(row.contact_id) in pushable
        ]

    def _default_owner(self, company_id: CompanyId) -> str | None:
        """Whom a contact or deal without an owner is shown to: the company's first admin."""
        u = t.users
        with self.engine.connect() as connection:
            found = connection.scalar(
                select(u.c.id)
                .where(u.c.company_id == company_id, u.c.is_active)
                .order_by(u.c.role, u.c.created_at)
                .limit(1)
            )
        return str(found) if found else None


def _chats(row: Any) -> list[ChatAddress]:
    """The chats a contact row really has (a phone alone is no telegram chat to push)."""
    return [
        chat
        for chat_type in CONTACT_CHAT_TYPES
        for chat in contact_chats(row, chat_type, telegram_by_phone=False)
    ]
