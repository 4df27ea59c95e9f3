"""A worker SIGKILLed in the middle of a job (JOBS.md, "What must be shown").

Per backend (`db` on SQLite, `db` on PostgreSQL, `dramatiq` on Redis): a worker with a short
lease takes a slow touch job and is killed with SIGKILL while it runs; another worker then
finishes the job, once (one row in `job_touches`), within lease + sweep + the job's own time
and a margin. The time from the kill to done is printed as a FIGURE line.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from crm_core.jobs import JobStatus
from tests.integration.jobs.conftest import (
    REDIS_HOST,
    REDIS_PORT,
    answers,
    crm_touch,
    engine_for,
    job_row,
    jobs_env,
    migrated_database,
    redis_url,
    start_worker,
    touch_counts,
    wait_until,
)

LEASE, SWEEP, POLL, JOB_SECONDS = 3, 1, 0.2, 5
MARGIN = 12.0  # a second worker's start, and a busy machine

BACKENDS = [
    pytest.param(("db", "sqlite"), id="db-sqlite"),
    pytest.param(("db", "postgres"), id="db-postgres", marks=pytest.mark.postgres),
    pytest.param(("dramatiq", "postgres"), id="dramatiq-redis", marks=pytest.mark.postgres),
]


@pytest.mark.parametrize("mode_database", BACKENDS)
def test_a_killed_workers_job_is_done_once_by_another(
    mode_database: tuple[str, str], tmp_path: Path
) -> None:
    mode, database = mode_database
    broker_url = ""
    if mode == "dramatiq":
        assert answers(REDIS_HOST, REDIS_PORT), "Redis does not answer on 127.0.0.1:6379"
        broker_url = redis_url(module_base=8)
    with migrated_database(database, tmp_path) as url:
        engine = engine_for(url)
        env = jobs_env(
            url,
            mode,
            broker_url,
            job_lease_seconds=LEASE,
            job_sweep_seconds=SWEEP,
            job_poll_seconds=POLL,
        )
        first = start_worker(env, tmp_path, "--threads", "2", name="first")
        second = None
        try:
            (job_id,) = crm_touch(env, tmp_path, 1, seconds=JOB_SECONDS)
            running = wait_until(
                lambda: (row := job_row(engine, job_id)) and row["status"] == JobStatus.RUNNING,
                15,
                "the job to be running",
                every=0.05,
            )
            assert running
            time.sleep(0.5)  # well inside the job's 5 s
            first.kill()
            killed = time.monotonic()
            assert job_row(engine, job_id)["status"] == JobStatus.RUNNING  # type: ignore[index]

            second = start_worker(env, tmp_path, "--threads", "2", name="second")
            started = time.monotonic() - killed
            bound = LEASE + SWEEP + JOB_SECONDS + MARGIN
            try:
                wait_until(
                    lambda: (row := job_row(engine, job_id)) and row["status"] == JobStatus.DONE,
                    bound - (time.monotonic() - killed),
                    f"the job to be done within {bound:.0f}s of the kill",
                    every=0.05,
                )
            except AssertionError as error:
                raise AssertionError(
                    f"{error}: {job_row(engine, job_id)}\n{second.log()}"
                ) from None
            recovered = time.monotonic() - killed
            row = job_row(engine, job_id)
            assert row is not None
            assert row["attempts"] == 2, "the killed attempt and the one that finished"
            time.sleep(SWEEP + POLL + 0.5)  # any stray second run would show by now
            assert touch_counts(engine) == {job_id: 1}
            print(
                f"FIGURE crash {mode}-{'redis' if mode == 'dramatiq' else database}: "
                f"kill to done {recovered:.1f} s (second worker ready after {started:.1f} s; "
                f"lease {LEASE} s, sweep {SWEEP} s, job {JOB_SECONDS} s)"
            )
        finally:
            first.kill()
            if second is not None:
                second.kill()
            engine.dispose()
