"""Bulk data for the benchmarks: one company with 200,000 leads, 50,000 deals and 600,000 stage
transitions (or a `Size` of it), written with COPY (the ORM would take minutes and measure
itself, not the reads)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import psycopg

LEADS = 200_000
DEALS = 50_000
CONTACTS = 50_000
USERS = 5
FUNNELS = 5
MEASURED_FUNNEL_LEADS = 40_000  # the first funnel holds this many; the rest share the others
STAGES = ("Новый лид", "Квалификация", "Предложение", "Переговоры", "Успех", "Провал")
EPOCH = datetime(2025, 1, 1, tzinfo=UTC)


@attrs.frozen
class Size:
    leads: int
    deals: int
    contacts: int
    measured_funnel_leads: int  # the first funnel holds this many; the rest share the others


FULL = Size(LEADS, DEALS, CONTACTS, MEASURED_FUNNEL_LEADS)


@attrs.frozen
class Generated:
    company_id: uuid.UUID
    funnel_id: uuid.UUID  # the funnel of `Size.measured_funnel_leads` leads
    stage_ids: tuple[uuid.UUID, ...]  # its stages, by order
    funnel_ids: tuple[uuid.UUID, ...]  # every funnel, the measured one first


def _copy(
    connection: psycopg.Connection[Any], table: str, columns: str, rows: Iterator[tuple[Any, ...]]
) -> None:
    with connection.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def generate(dsn: str, seed: int = 7, size: Size = FULL) -> Generated:
    """Fills the (migrated, empty) database at `dsn`; a libpq URL, without a driver suffix.
    Contact `i` has the phone +7999 followed by `i` in seven digits; user `i` is
    user{i}@bench.example."""
    chance = random.Random(seed)
    company = uuid.uuid4()
    users = [uuid.uuid4() for _ in range(USERS)]
    funnels = [uuid.uuid4() for _ in range(FUNNELS)]
    stages = {funnel: [uuid.uuid4() for _ in STAGES] for funnel in funnels}
    contacts = [uuid.uuid4() for _ in range(size.contacts)]

    def moment() -> datetime:
        return EPOCH + timedelta(seconds=chance.randrange(365 * 86400))

    with psycopg.connect(dsn) as connection:
        connection.execute(
            "INSERT INTO companies (id, name, default_region, created_at)"
            " VALUES (%s, %s, 'RU', %s)",
            (company, "Бенчмарк", EPOCH),
        )
        _copy(
            connection,
            "users",
            "id, company_id, email, role, full_name, created_at",
            (
                (u, company, f"user{i}@bench.example", "manager", f"Менеджер {i}", EPOCH)
                for i, u in enumerate(users)
            ),
        )
        _copy(
            connection,
            "funnels",
            "id, company_id, name, created_at",
            ((f, company, f"Воронка {i}", EPOCH) for i, f in enumerate(funnels)),
        )
        _copy(
            connection,
            "stages",
            'id, funnel_id, name, "order", color, is_final, is_success',
            (
                (s, f, STAGES[k], k + 1, "#3498db", k >= 4, k == 4)
                for f in funnels
                for k, s in enumerate(stages[f])
            ),
        )
        _copy(
            connection,
            "contacts",
            (
                "id, company_id, first_name, last_name, phone, phone_digits, tags, "
                "owner_id, created_at"
            ),
            (
                (
                    c,
                    company,
                    f"Имя{i}",
                    f"Фамилия{i}",
                    f"+7999{i:07d}",
                    f"7999{i:07d}",
                    "[]",
                    users[i % USERS],
                    moment(),
                )
                for i, c in enumerate(contacts)
            ),
        )

        lead_rows = []
        for index in range(size.leads):
            measured = index < size.measured_funnel_leads
            funnel = funnels[0] if measured else funnels[1 + index % (FUNNELS - 1)]
            stage_index = chance.randrange(6)
            lead_rows.append((uuid.uuid4(), funnel, stage_index, moment()))
        converted = {row[0] for row in chance.sample(lead_rows, size.deals)}
        deal_rows = []
        for lead_id, funnel, _, created in lead_rows:
            if lead_id in converted:
                deal_rows.append(
                    (
                        uuid.uuid4(),
                        lead_id,
                        funnel,
                        chance.randrange(6),
                        created + timedelta(days=chance.randrange(1, 30)),
                    )
                )
        _copy(
            connection,
            "leads",
            (
                "id, company_id, contact_id, funnel_id, stage_id, owner_id, title, "
                "estimated_value, probability, status, stage_changed_at, created_at, "
                "updated_at, version"
            ),
            (
                (
                    lead,
                    company,
                    contacts[i % size.contacts],
                    funnel,
                    stages[funnel][k],
                    users[i % USERS],
                    f"Лид {i}",
                    chance.randrange(100, 1_000_000),
                    chance.randrange(101),
                    "converted" if lead in converted else ("lost" if k == 5 else "open"),
                    created,
                    created,
                    created,
                    1,
                )
                for i, (lead, funnel, k, created) in enumerate(lead_rows)
            ),
        )
        _copy(
            connection,
            "deals",
            (
                "id, company_id, lead_id, contact_id, funnel_id, stage_id, owner_id, "
                "title, amount, probability, is_won, is_lost, closed_at, "
                "stage_changed_at, created_at, updated_at, version"
            ),
            (
                (
                    deal,
                    company,
                    lead,
                    contacts[i % size.contacts],
                    funnel,
                    stages[funnel][k],
                    users[i % USERS],
                    f"Сделка {i}",
                    chance.randrange(100, 1_000_000),
                    chance.randrange(101),
                    k == 4,
                    k == 5,
                    created + timedelta(days=chance.randrange(1, 60)) if k >= 4 else None,
                    created,
                    created,
                    created,
                    1,
                )
                for i, (deal, lead, funnel, k, created) in enumerate(deal_rows)
            ),
        )
        connection.execute(
            "UPDATE leads SET deal_id = d.id, closed_at = d.created_at"
            " FROM deals d WHERE d.lead_id = leads.id"
        )

        def transitions() -> Iterator[tuple[Any, ...]]:
            # Two stays per lead (400,000) and four per deal (200,000).
            for lead, funnel, k, created in lead_rows:
                path = stages[funnel]
                middle = created + timedelta(days=chance.randrange(1, 20))
                yield (uuid.uuid4(), "lead", lead, None, None, path[0], created, middle, 0)
                yield (uuid.uuid4(), "lead", lead, None, path[0], path[max(k, 1)], middle, None, 1)
            for deal, _, funnel, k, created in deal_rows:
                path = stages[funnel]
                steps = [path[0], path[1], path[2], path[k]]
                moments = [created + timedelta(days=3 * n) for n in range(4)]
                for n in range(4):
                    left = moments[n + 1] if n < 3 else None
                    previous = steps[n - 1] if n else None
                    yield (
                        uuid.uuid4(),
                        "deal",
                        None,
                        deal,
                        previous,
                        steps[n],
                        moments[n],
                        left,
                        n,
                    )

        _copy(
            connection,
            "stage_transitions",
            ("id, subject, lead_id, deal_id, from_stage_id, to_stage_id, entered_at, left_at, seq"),
            (
                (t_id, subject, lead, None, previous, target, entered, left, seq)
                if subject == "lead"
                else (t_id, subject, None, deal, previous, target, entered, left, seq)
                for t_id, subject, lead, deal, previous, target, entered, left, seq in transitions()
            ),
        )
        connection.commit()
        connection.autocommit = True
        connection.execute("VACUUM ANALYZE")
    return Generated(company, funnels[0], tuple(stages[funnels[0]]), tuple(funnels))
