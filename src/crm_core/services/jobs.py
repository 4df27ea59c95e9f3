"""Running jobs: claim, hand to the kind's handler, finish under the lease; and the core's
own kinds (pruning done jobs, and `touch`, which only records that it ran)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import timedelta

import attrs

from crm_core.jobs import (
    DONE_RETENTION,
    PRUNE_EVERY,
    PRUNE_JOBS,
    TOUCH,
    Backoff,
    Dead,
    Done,
    Job,
    JobHandler,
    NewJob,
    Outcome,
    periodic_key,
    settle,
)
from crm_core.ports import Clock, JobStore, UnitOfWork

log = logging.getLogger("crm.jobs")

DEFAULT_LEASE = timedelta(seconds=30)


class JobRunner:
    """Runs claimed jobs; any number of these may run at once, in any process."""

    def __init__(
        self,
        uow: Callable[[], UnitOfWork],
        store: JobStore,
        handlers: Mapping[str, JobHandler],
        clock: Clock,
        *,
        lease: timedelta = DEFAULT_LEASE,
        backoff: Backoff | None = None,
    ) -> None:
        self.uow = uow
        self.store = store
        self.handlers = handlers
        self.clock = clock
        self.lease = lease
        self.backoff = backoff or Backoff()
        # The jobs running in this process now: their leases are renewed while they run,
        # and a stopping worker hands back those it cannot wait for.
        self._held: dict[object, Job] = {}
        self._lock = threading.Lock()

    def run_due(self, limit: int = 1) -> int:
        """Claims up to `limit` due jobs and runs them; returns how many ran."""
        jobs = self.store.claim(self.clock.now(), self.lease, limit)
        for job in jobs:
            self.run(job)
        return len(jobs)

    def run_one(self, job_id: object) -> bool:
        """Runs this job if it is due and free (a broker's delivery; a repeat is a no-op)."""
        jobs = self.store.claim(self.clock.now(), self.lease, 1, job_id=job_id)
        for job in jobs:
            self.run(job)
        return bool(jobs)

    def run(self, job: Job) -> Outcome:
        """Runs a claimed job: its handler's writes and its finish commit together, or not at
        all when the lease was lost meanwhile."""
        with self._lock:
            self._held[job.id] = job
        try:
            return self._run(job)
        finally:
            with self._lock:
                self._held.pop(job.id, None)

    def _run(self, job: Job) -> Outcome:
        handler = self.handlers.get(job.kind)
        with self.uow() as uow:
            if handler is None:
                outcome: Outcome = Dead(f"no handler for the job kind {job.kind!r}")
            else:
                try:
                    outcome = handler(job, uow)
                except Exception as error:  # a handler's fault must not stop the worker
                    uow.rollback()
                    outcome = self.backoff.retry_at(job, self.clock.now(), repr(error))
            outcome = settle(job, outcome)
            if not isinstance(outcome, Done):
                log.warning(
                    "job %s (%s) attempt %s/%s: %s",
                    job.id,
                    job.kind,
                    job.attempts,
                    job.max_attempts,
                    outcome,
                )
            if uow.jobs.finish(job, outcome, self.clock.now()):
                uow.commit()
            else:
                uow.rollback()
                log.warning("job %s (%s): lease lost, its result dropped", job.id, job.kind)
        return outcome

    # --- the jobs held here -----------------------------------------------------------------

    def held_count(self) -> int:
        with self._lock:
            return len(self._held)

    def renew_leases(self) -> None:
        """Extends the lease of every job still running here: a lease bounds how long a dead
        worker's job waits, not how long a live worker's job may take."""
        with self._lock:
            held = list(self._held.values())
        try:
            self.store.extend(held, self.clock.now(), self.lease)
        except Exception:  # the database is down: the leases may lapse, the finish decides
            log.warning("could not renew the leases of %s jobs", len(held), exc_info=True)

    def keep_leases(self, stopping: threading.Event) -> None:
        """Renews the leases every third of a lease until `stopping` is set."""
        every = max(0.1, self.lease.total_seconds() / 3)
        while not stopping.wait(every):
            self.renew_leases()

    def release_held(self) -> int:
        """Hands every job still running here back to the table (due at once, the attempt not
        counted); a handler that finishes later finds its lease gone and changes nothing."""
        with self._lock:
            held = list(self._held.values())
        released = 0
        for job in held:
            try:
                released += self.store.release(job, self.clock.now())
            except Exception:  # the database may be what is failing: the lease then expires
                log.warning("job %s (%s): could not be released", job.id, job.kind, exc_info=True)
        return released


class Touch:
    """The `touch` job: records that it ran, one row per run (tests and operators count them
    to see that a job runs exactly once). Its payload can make it slow (`seconds`), fail its
    first attempts (`fail_first`) or give up (`dead`): enough to see leases, retries and
    death from outside."""

    def __init__(self, clock: Clock, sleep: Callable[[float], None] = time.sleep) -> None:
        self.clock = clock
        self.sleep = sleep

    def __call__(self, job: Job, uow: UnitOfWork) -> Outcome:
        if job.payload.get("dead"):
            return Dead("asked to give up")
        if job.attempts <= int(job.payload.get("fail_first", 0)):
            raise RuntimeError(f"touch fails its attempt {job.attempts}, as asked")
        self.sleep(float(job.payload.get("seconds", 0)))
        uow.touches.record(job.id, self.clock.now())
        return Done()


class PruneJobs:
    """The periodic job that deletes done jobs past their retention."""

    def __init__(self, store: JobStore, clock: Clock, retention: timedelta = DONE_RETENTION):
        self.store = store
        self.clock = clock
        self.retention = retention

    def __call__(self, job: Job, uow: UnitOfWork) -> Outcome:
        pruned = self.store.prune(self.clock.now() - self.retention)
        log.info("pruned %s done jobs", pruned)
        return Done()


def next_prune(clock: Clock) -> NewJob:
    """This hour's prune run: whoever enqueues it first wins, the others are no-ops."""
    now = clock.now()
    return NewJob(PRUNE_JOBS, periodic_key(PRUNE_JOBS, now, PRUNE_EVERY), max_attempts=3)


def core_handlers(store: JobStore, clock: Clock) -> dict[str, JobHandler]:
    """The kinds the core defines; features add their own to the runner's handlers."""
    return {PRUNE_JOBS: PruneJobs(store, clock), TOUCH: Touch(clock)}


def enqueue_touches(
    uow: Callable[[], UnitOfWork], clock: Clock, count: int, seconds: float = 0.0
) -> list[object]:
    """`count` touch jobs in one unit of work (operators check the background path end to
    end with them); returns their ids."""
    now = clock.now()
    payload = {"seconds": seconds} if seconds else {}
    jobs = [NewJob(TOUCH, "", payload) for _ in range(count)]
    with uow() as unit:
        for job in jobs:
            unit.jobs.add(attrs.evolve(job, dedupe_key=f"{TOUCH}:{job.id}"), now)
        unit.commit()
    return [job.id for job in jobs]
