"""The jobs table: enqueue and finish inside a unit of work; claim, release and the
operators' views in short transactions of their own (crm_core.ports.JobStore).

Claims are one conditional UPDATE: on PostgreSQL over rows picked `FOR UPDATE SKIP LOCKED`,
so that workers never queue behind each other; on SQLite (one writer at a time) the same
statement without the lock clause. A finish names the lease token it was claimed with, so
a worker whose lease expired and was taken over changes nothing.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from crm_adapters.sql import tables
from crm_core.jobs import Dead, Done, Job, JobStatus, NewJob, Outcome, RetryAt
from crm_core.ports import Row
from crm_core.values import new_id

j = tables.jobs


def _job(row: Any) -> Job:
    return Job(
        id=row.id,
        kind=row.kind,
        dedupe_key=row.dedupe_key,
        payload=row.payload or {},
        attempts=row.attempts,
        max_attempts=row.max_attempts,
        lease_token=row.lease_token or "",
    )


def _is_due(now: datetime) -> Any:
    return or_(
        and_(j.c.status == JobStatus.PENDING, j.c.run_after <= now),
        and_(j.c.status == JobStatus.RUNNING, j.c.lease_until < now),
    )


class SqlJobs:
    """crm_core.ports.JobQueue on the unit of work's session; remembers what it enqueued so
    that the unit of work can wake workers once the transaction commits."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.enqueued: list[object] = []

    def add(self, job: NewJob, now: datetime) -> bool:
        values = {
            "id": job.id,
            "kind": job.kind,
            "dedupe_key": job.dedupe_key,
            "payload": dict(job.payload),
            "status": JobStatus.PENDING,
            "attempts": 0,
            "max_attempts": job.max_attempts,
            "run_after": job.run_after or now,
            "created_at": now,
            "updated_at": now,
        }
        dialect = self.session.get_bind().dialect.name
        statement = (postgresql.insert(j) if dialect == "postgresql" else sqlite.insert(j)).values(
            values
        )
        # RETURNING, not rowcount: psycopg may report -1 for an INSERT ... ON CONFLICT.
        result = self.session.execute(
            statement.on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(j.c.id)
        )
        added = result.first() is not None
        if added:
            self.enqueued.append(job.id)
        return added

    def finish(self, job: Job, outcome: Outcome, now: datetime) -> bool:
        changes: dict[str, Any] = {"updated_at": now, "lease_until": None, "lease_token": None}
        if isinstance(outcome, Done):
            changes.update(status=JobStatus.DONE, last_error=None)
        elif isinstance(outcome, RetryAt):
            changes.update(status=JobStatus.PENDING, run_after=outcome.when, last_error=outcome.why)
        elif isinstance(outcome, Dead):
            changes.update(status=JobStatus.DEAD, last_error=outcome.why)
        result = self.session.execute(
            update(j)
            .where(
                j.c.id == job.id,
                j.c.lease_token == job.lease_token,
                j.c.status == JobStatus.RUNNING,
            )
            .values(changes)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


class SqlTouches:
    def __init__(self, session: Session) -> None:
        self.session = session

    def record(self, job_id: object, now: datetime) -> None:
        self.session.execute(
            insert(tables.job_touches).values(id=new_id(), job_id=job_id, touched_at=now)
        )


class SqlJobStore:
    """crm_core.ports.JobStore over an engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.locks = engine.dialect.name == "postgresql"

    def claim(
        self, now: datetime, lease: timedelta, limit: int = 1, job_id: object | None = None
    ) -> list[Job]:
        picked = select(j.c.id).where(_is_due(now))
        if job_id is not None:
            picked = picked.where(j.c.id == job_id)
        picked = picked.order_by(j.c.run_after).limit(limit)
        if self.locks:
            picked = picked.with_for_update(skip_locked=True)
        token = secrets.token_hex(16)
        statement = (
            update(j)
            .where(j.c.id.in_(picked.scalar_subquery()), _is_due(now))
            .values(
                status=JobStatus.RUNNING,
                lease_token=token,
                lease_until=now + lease,
                attempts=j.c.attempts + 1,
                updated_at=now,
            )
            .returning(*j.c)
        )
        with self.engine.begin() as connection:
            return [_job(row) for row in connection.execute(statement)]

    def release(self, job: Job, now: datetime) -> bool:
        with self.engine.begin() as connection:
            result = connection.execute(
                update(j)
                .where(j.c.id == job.id, j.c.lease_token == job.lease_token)
                .values(
                    status=JobStatus.PENDING,
                    run_after=now,
                    lease_until=None,
                    lease_token=None,
                    attempts=j.c.attempts - 1,
                    updated_at=now,
                )
            )
        return bool(result.rowcount)

    def extend(self, jobs: list[Job], now: datetime, lease: timedelta) -> int:
        """Renews the leases of jobs still held under their tokens; returns how many held."""
        if not jobs:
            return 0
        renewed = 0
        with self.engine.begin() as connection:
            for job in jobs:
                result = connection.execute(
                    update(j)
                    .where(
                        j.c.id == job.id,
                        j.c.lease_token == job.lease_token,
                        j.c.status == JobStatus.RUNNING,
                    )
                    .values(lease_until=now + lease)
                )
                renewed += int(result.rowcount)
        return renewed

    def due(self, now: datetime, limit: int) -> list[object]:
        with self.engine.connect() as connection:
            return list(
                connection.scalars(
                    select(j.c.id).where(_is_due(now)).order_by(j.c.run_after).limit(limit)
                )
            )

    def listing(self, status: str | None, kind: str | None, limit: int) -> list[Row]:
        statement = select(j).order_by(j.c.created_at.desc(), j.c.id).limit(limit)
        if status:
            statement = statement.where(j.c.status == status)
        if kind:
            statement = statement.where(j.c.kind == kind)
        with self.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(statement)]

    def retry(self, job_id: object, now: datetime) -> bool:
        with self.engine.begin() as connection:
            result = connection.execute(
                update(j)
                .where(j.c.id == job_id, j.c.status.in_([JobStatus.DEAD, JobStatus.DONE]))
                .values(
                    status=JobStatus.PENDING,
                    attempts=0,
                    run_after=now,
                    lease_until=None,
                    lease_token=None,
                    updated_at=now,
                )
            )
        return bool(result.rowcount)

    def prune(self, before: datetime) -> int:
        with self.engine.begin() as connection:
            result = connection.execute(
                delete(j).where(j.c.status == JobStatus.DONE, j.c.updated_at < before)
            )
        return int(result.rowcount)

    def backlog(self, now: datetime) -> tuple[int, int]:
        with self.engine.connect() as connection:
            due = connection.scalar(select(func.count()).select_from(j).where(_is_due(now)))
            dead = connection.scalar(
                select(func.count()).select_from(j).where(j.c.status == JobStatus.DEAD)
            )
        return int(due or 0), int(dead or 0)
