"""Scale-out on this machine (JOBS.md): two `crm serve` on different ports and two `crm worker`
in `dramatiq` mode, on PostgreSQL and Redis. 10,000 touch jobs are enqueued over HTTP through
both servers in turn; one worker is SIGKILLed when about half are done; every job is still
done exactly once (one `job_touches` row per job id, 10,000 in all), none lost.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from crm_core.jobs import JobStatus
from tests.integration.http_contract.conftest import (
    CRM_BIN,
    free_port,
    run_crm,
    stop,
    token_from,
    wait_healthy,
)
from tests.integration.jobs.conftest import (
    REDIS_HOST,
    REDIS_PORT,
    answers,
    engine_for,
    jobs_env,
    migrated_database,
    redis_url,
    start_worker,
    status_counts,
    touch_counts,
)

pytestmark = pytest.mark.postgres

TOTAL, BATCH = 10_000, 1000
# Seconds for the whole run, enqueue to the last job done: about 70 s on a quiet 2-core
# machine, over 140 s when other test processes share the cores; a bound, not a speed test.
DEADLINE = 300.0


@contextmanager
def crm_serve(env: dict[str, str], workdir: Path) -> Iterator[str]:
    port = free_port()
    log_path = workdir / f"serve-{port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(CRM_BIN), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            env=env,
            cwd=workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base_url, process, log_path)
        yield base_url
    finally:
        stop(process)


def test_two_servers_and_two_workers_do_every_job_exactly_once(tmp_path: Path) -> None:
    assert answers(REDIS_HOST, REDIS_PORT), "Redis does not answer on 127.0.0.1:6379"
    broker = redis_url(module_base=10)
    with migrated_database("postgres", tmp_path) as url:
        engine = engine_for(url)
        env = jobs_env(url, "dramatiq", broker, job_lease_seconds=10, job_sweep_seconds=2)
        made = run_crm(
            [
                "create-user",
                "--company",
                f"Scale {uuid.uuid4().hex[:6]}",
                "--email",
                f"admin-{uuid.uuid4().hex[:6]}@example.com",
                "--password",
                "pw-scale-0ut!",
                "--role",
                "admin",
            ],
            env,
            tmp_path,
        )
        token = token_from(made)
        workers = []
        try:
            with crm_serve(env, tmp_path) as first, crm_serve(env, tmp_path) as second:
                workers = [
                    start_worker(env, tmp_path, "--threads", "4", name=f"w{n}") for n in (1, 2)
                ]
                started = time.monotonic()
                ids: list[str] = []
                headers = {"Authorization": f"Bearer {token}"}
                with httpx.Client(timeout=60, headers=headers) as client:
                    for n in range(TOTAL // BATCH):
                        base = (first, second)[n % 2]
                        r = client.post(
                            f"{base}/api/crm/jobs/touch/", json={"count": BATCH, "seconds": 0}
                        )
                        assert r.status_code == 202, f"{base} -> {r.status_code}: {r.text[:500]}"
                        ids += r.json()["ids"]
                enqueued = time.monotonic() - started
                assert len(set(ids)) == TOTAL

                killed_at = None
                while time.monotonic() - started < DEADLINE:
                    done = status_counts(engine).get(JobStatus.DONE, 0)
                    if killed_at is None and done >= TOTAL // 2:
                        workers[0].kill()
                        killed_at = done
                    if done >= TOTAL:
                        break
                    time.sleep(0.2)
                took = time.monotonic() - started
                statuses = status_counts(engine)
                assert killed_at is not None, f"never half done: {statuses}"
                assert statuses.get(JobStatus.DONE, 0) == TOTAL, (
                    f"after {took:.0f}s: {statuses}\n{workers[1].log()}"
                )
                counts = touch_counts(engine)
                assert set(counts) == set(ids), "a job ran that was not enqueued, or one was lost"
                twice = {job_id: n for job_id, n in counts.items() if n != 1}
                assert twice == {}, f"{len(twice)} jobs ran more than once"
                assert sum(counts.values()) == TOTAL
                print(
                    f"FIGURE scale-out dramatiq-redis postgres: {TOTAL} jobs through 2 servers, "
                    f"enqueued in {enqueued:.1f} s, all done once in {took:.1f} s "
                    f"({TOTAL / took:.0f} jobs/s), one of 2 workers killed at {killed_at} done"
                )
        finally:
            for worker in workers:
                worker.kill()
            engine.dispose()
