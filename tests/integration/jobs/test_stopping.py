"""SIGTERM to a `crm worker` in the middle of a slow job (`db` mode, SQLite and PostgreSQL).

The worker exits 0 within its grace; the job is then either done (once) or handed back
pending (released, its attempt not counted), and the next worker does it: never lost,
never run twice. Both ends are reached: a job shorter than the grace finishes, a longer
one is released.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from crm_core.jobs import JobStatus
from tests.integration.jobs.conftest import (
    crm_touch,
    engine_for,
    job_row,
    jobs_env,
    migrated_database,
    start_worker,
    touch_counts,
    wait_until,
)

DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
EXIT_MARGIN = 5.0  # seconds past the grace for the process to be gone


@pytest.mark.parametrize("database", DATABASES)
@pytest.mark.parametrize(
    ("job_seconds", "grace", "expected"),
    [
        pytest.param(2, 10, JobStatus.DONE, id="finishes-within-grace"),
        pytest.param(8, 2, JobStatus.PENDING, id="released-past-grace"),
    ],
)
def test_sigterm_finishes_or_releases_the_job_and_never_loses_it(
    database: str, job_seconds: float, grace: float, expected: str, tmp_path: Path
) -> None:
    with migrated_database(database, tmp_path) as url:
        engine = engine_for(url)
        env = jobs_env(url, "db", job_poll_seconds=0.2, job_grace_seconds=grace)
        first = start_worker(env, tmp_path, "--threads", "2", name="first")
        second = None
        try:
            (job_id,) = crm_touch(env, tmp_path, 1, seconds=job_seconds)
            wait_until(
                lambda: (row := job_row(engine, job_id)) and row["status"] == JobStatus.RUNNING,
                15,
                "the job to be running",
                every=0.05,
            )
            time.sleep(0.3)
            asked = time.monotonic()
            code = first.terminate(timeout=grace + EXIT_MARGIN)
            took = time.monotonic() - asked
            assert code == 0, f"crm worker exited with {code}:\n{first.log()}"
            assert took <= grace + EXIT_MARGIN

            row = job_row(engine, job_id)
            assert row is not None, "the job was lost"
            touched = touch_counts(engine).get(job_id, 0)
            assert (row["status"], touched) in (
                (JobStatus.DONE, 1),
                (JobStatus.PENDING, 0),
            ), f"after SIGTERM: {row['status']} with {touched} touches\n{first.log()}"
            assert row["status"] == expected, f"{row}\n{first.log()}"
            if row["status"] == JobStatus.PENDING:
                assert row["attempts"] == 0, "a released job's attempt is not counted"
                assert row["lease_token"] is None

            print(
                f"FIGURE stopping db-{database} job {job_seconds}s grace {grace}s: "
                f"exit after {took:.1f} s, job {row['status']}"
            )
            second = start_worker(env, tmp_path, "--threads", "2", name="second")
            wait_until(
                lambda: (row := job_row(engine, job_id)) and row["status"] == JobStatus.DONE,
                job_seconds + 15,
                "the job to be done by the next worker",
            )
            assert touch_counts(engine) == {job_id: 1}
        finally:
            first.kill()
            if second is not None:
                second.kill()
            engine.dispose()
