"""What every worker process shares: the jobs it holds right now (so that a stopping worker
hands back the ones it could not finish) and the periodic jobs it offers to enqueue."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from crm_core.jobs import Job
from crm_core.ports import UnitOfWork
from crm_core.services.jobs import JobRunner, next_prune

log = logging.getLogger("crm.jobs")


class HeldJobs:
    """Claims and runs jobs as `JobRunner.run_due` / `run_one` do, remembering each job while
    it runs: `release_all` hands back what is still running when the worker must stop."""

    def __init__(self, runner: JobRunner) -> None:
        self.runner = runner
        self._held: dict[object, Job] = {}
        self._lock = threading.Lock()

    def run_due(self, limit: int = 1) -> int:
        """Claims up to `limit` due jobs and runs them; returns how many ran."""
        return self._run(self._claim(limit, None))

    def run_one(self, job_id: object) -> bool:
        """Runs this job if it is due and free (a repeated delivery is a no-op)."""
        return bool(self._run(self._claim(1, job_id)))

    def _claim(self, limit: int, job_id: object | None) -> list[Job]:
        runner = self.runner
        return runner.store.claim(runner.clock.now(), runner.lease, limit, job_id=job_id)

    def _run(self, jobs: list[Job]) -> int:
        for job in jobs:
            with self._lock:
                self._held[job.id] = job
            try:
                self.runner.run(job)
            finally:
                with self._lock:
                    self._held.pop(job.id, None)
        return len(jobs)

    def renew_leases(self) -> None:
        """Extends the lease of every job still running here: a lease bounds how long a dead
        worker's job waits, not how long a live worker's job may take."""
        with self._lock:
            held = list(self._held.values())
        runner = self.runner
        try:
            runner.store.extend(held, runner.clock.now(), runner.lease)
        except Exception:  # the database is down: the leases may lapse, the finish decides
            log.warning("could not renew the leases of %s jobs", len(held), exc_info=True)

    def keep_leases(self, stopping: threading.Event) -> None:
        """Renews the leases every third of a lease until `stopping` is set."""
        every = max(0.1, self.runner.lease.total_seconds() / 3)
        while not stopping.wait(every):
            self.renew_leases()

    def count(self) -> int:
        with self._lock:
            return len(self._held)

    def release_all(self) -> int:
        """Hands every job still running back to the table (due at once, the attempt not
        counted); a handler that finishes later finds its lease gone and changes nothing."""
        with self._lock:
            held = list(self._held.values())
        released = 0
        for job in held:
            try:
                released += self.runner.store.release(job, self.runner.clock.now())
            except Exception:  # the database may be what is failing: the lease then expires
                log.warning("job %s (%s): could not be released", job.id, job.kind, exc_info=True)
        return released


def offer_periodic_jobs(uow: Callable[[], UnitOfWork], runner: JobRunner) -> None:
    """Enqueues this hour's prune run (every worker offers it; its key lets one row exist)."""
    try:
        with uow() as unit:
            unit.jobs.add(next_prune(runner.clock), runner.clock.now())
            unit.commit()
    except Exception:  # a database hiccup must not stop the worker; the next sweep retries
        log.warning("could not enqueue the periodic jobs", exc_info=True)
