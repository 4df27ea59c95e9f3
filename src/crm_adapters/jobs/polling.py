"""`CRM_JOBS=db`: worker threads that poll the jobs table (one machine, nothing else needed)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from crm_adapters.jobs.running import offer_periodic_jobs
from crm_core.ports import UnitOfWork
from crm_core.services.jobs import JobRunner

log = logging.getLogger("crm.jobs")


class PollingWorker:
    """N threads, each claiming one due job at a time and sleeping `poll` seconds whenever
    nothing was due; one more thread offers the periodic jobs every `sweep` seconds."""

    def __init__(
        self,
        runner: JobRunner,
        uow: Callable[[], UnitOfWork],
        *,
        threads: int = 4,
        poll: float = 1.0,
        sweep: float = 5.0,
    ) -> None:
        self.runner = runner
        self.uow = uow
        self.poll = poll
        self.sweep = sweep
        self._stopping = threading.Event()
        self._leaving = threading.Event()
        self._threads = [
            threading.Thread(target=self._work, name=f"crm-jobs-{n}", daemon=True)
            for n in range(threads)
        ]
        self._threads.append(
            threading.Thread(target=self._offer, name="crm-jobs-periodic", daemon=True)
        )

    def start(self) -> None:
        offer_periodic_jobs(self.uow, self.runner)
        for thread in self._threads:
            thread.start()
        # Renews leases until the process ends (also through the grace after a stop).
        threading.Thread(
            target=self.runner.keep_leases,
            args=(self._leaving,),
            name="crm-jobs-leases",
            daemon=True,
        ).start()

    def _work(self) -> None:
        while not self._stopping.is_set():
            try:
                ran = self.runner.run_due(1)
            except Exception:  # the database went away: wait, and try again
                log.warning("could not claim a job", exc_info=True)
                ran = 0
            if not ran:
                self._stopping.wait(self.poll)

    def _offer(self) -> None:
        while not self._stopping.wait(self.sweep):
            offer_periodic_jobs(self.uow, self.runner)

    def stop(self, grace: float) -> int:
        """Takes no new jobs, waits up to `grace` seconds for running ones, releases the
        rest; returns how many were released."""
        self._stopping.set()
        deadline = time.monotonic() + grace
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._leaving.set()
        return self.runner.release_held()
