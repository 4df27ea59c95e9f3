"""`CRM_JOBS=inline`: each job enqueued by a commit runs right after it, in the same thread
(tests and one-off scripts; nothing runs what a clock moves into the future by itself)."""

from __future__ import annotations

from collections.abc import Callable

from crm_core.services.jobs import JobRunner


class InlineWaker:
    """The unit of work's waker that runs the jobs itself. The runner is looked up per call:
    it needs the unit of work factory this waker is part of."""

    def __init__(self, runner: Callable[[], JobRunner]) -> None:
        self.runner = runner

    def __call__(self, job_ids: list[object]) -> None:
        runner = self.runner()
        for job_id in job_ids:
            runner.run_one(job_id)
