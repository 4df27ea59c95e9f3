"""Background work: jobs written with the change that needs them, run later by a worker.

A job is a row in the same database as the domain, written in the same transaction as the
change that asks for it and deduplicated by its key; a worker claims it with a lease and
finishes it only while it holds that lease. Handlers are application services that answer
what became of the job: `Done`, `RetryAt` or `Dead`. What decides retries and back-off is
here; how rows are claimed, and who wakes the workers, is the adapters'.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

import attrs

from crm_core.values import new_id

JobId = Any  # a UUID; kept loose so that adapters may hand back their own id type


class JobStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    DEAD = "dead"


@attrs.frozen
class Job:
    """A claimed job as a handler sees it (its lease token identifies this claim)."""

    id: JobId
    kind: str
    dedupe_key: str
    payload: Mapping[str, Any]
    attempts: int  # this run included
    max_attempts: int
    lease_token: str = ""


@attrs.frozen
class Done:
    """The job did what it was for."""


@attrs.frozen
class RetryAt:
    """Try again at `when` (not before); `why` is kept as the job's last error."""

    when: datetime
    why: str


@attrs.frozen
class Dead:
    """Give up: retrying cannot help (`why` is kept, and `crm jobs retry` can revive it)."""

    why: str


Outcome = Done | RetryAt | Dead


class JobHandler(Protocol):
    """What runs one kind of job. It may write through the unit of work it is given: those
    writes commit together with the job's finish, and only while the lease still holds, so
    a worker that lost its lease changes nothing. Network calls come before the writes."""

    def __call__(self, job: Job, uow: Any) -> Outcome: ...


@attrs.frozen
class Backoff:
    """When to try a failed job again: base × 2^attempt with full jitter, capped."""

    base: timedelta = timedelta(seconds=2)
    cap: timedelta = timedelta(minutes=30)
    jitter: Callable[[float, float], float] = random.uniform

    def retry_at(
        self, job: Job, now: datetime, why: str, at_least: timedelta | None = None
    ) -> RetryAt:
        ceiling = min(self.cap, self.base * (2 ** min(job.attempts, 30)))
        delay = timedelta(seconds=self.jitter(0.0, ceiling.total_seconds()))
        if at_least is not None:
            delay = max(delay, at_least)
        return RetryAt(now + delay, why)


RATE_LIMITED_WAIT = timedelta(seconds=5)  # a provider's 429 waits at least this long


def settle(job: Job, outcome: Outcome) -> Outcome:
    """What the store records: a retry past the job's attempts is death."""
    if isinstance(outcome, RetryAt) and job.attempts >= job.max_attempts:
        return Dead(f"gave up after {job.attempts} attempts: {outcome.why}")
    return outcome


@attrs.frozen
class NewJob:
    """A job to enqueue: `dedupe_key` makes a second enqueue of the same work a no-op."""

    kind: str
    dedupe_key: str
    payload: Mapping[str, Any] = attrs.field(factory=dict)
    run_after: datetime | None = None  # None: now
    max_attempts: int = 10
    id: JobId = attrs.field(factory=new_id)


def periodic_key(kind: str, now: datetime, every: timedelta, scope: str = "") -> str:
    """The dedupe key of a periodic job's run in the bucket of `now`: any process may enqueue
    it, and the unique key lets exactly one of them win (no single "beat" process)."""
    bucket = int(now.timestamp() // every.total_seconds())
    return f"{kind}:{scope}:{bucket}" if scope else f"{kind}:{bucket}"


# --- the job kinds the core itself defines --------------------------------------------------

PRUNE_JOBS = "prune_jobs"
TOUCH = "touch"
DONE_RETENTION = timedelta(days=7)
PRUNE_EVERY = timedelta(hours=1)
