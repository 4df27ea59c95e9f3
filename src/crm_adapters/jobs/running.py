"""What every worker process does besides running jobs: offering the periodic ones."""

from __future__ import annotations

import logging
from collections.abc import Callable

from crm_core.ports import UnitOfWork
from crm_core.services.jobs import JobRunner, next_prune

log = logging.getLogger("crm.jobs")


def offer_periodic_jobs(uow: Callable[[], UnitOfWork], runner: JobRunner) -> None:
    """Enqueues this hour's prune run (every worker offers it; its key lets one row exist)."""
    try:
        with uow() as unit:
            unit.jobs.add(next_prune(runner.clock), runner.clock.now())
            unit.commit()
    except Exception:  # a database hiccup must not stop the worker; the next sweep retries
        log.warning("could not enqueue the periodic jobs", exc_info=True)
