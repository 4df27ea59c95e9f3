"""Figures for background jobs: jobs per second for trivial touch jobs (`db` on SQLite, `db` on
PostgreSQL, `dramatiq` on Redis with PostgreSQL; 1 and 2 workers), and enqueue-to-start
latency p50/p99 (touched_at - created_at) for `dramatiq` against `db` polling.

    .venv/bin/python -m bench.jobs        (PostgreSQL from CRM_BENCH_POSTGRES_URL or
                                           CRM_TEST_POSTGRES_URL; Redis on 127.0.0.1:6379/13)
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from crm_adapters.jobs.broker import DramatiqWaker
from crm_adapters.sql import tables
from crm_adapters.sql.unit_of_work import unit_of_work_factory
from tests.integration.jobs.conftest import (
    crm_touch,
    engine_for,
    enqueue,
    jobs_env,
    migrated_database,
    redis_command,
    start_worker,
    wait_until,
)

JOBS = 2000
LATENCY_SAMPLES = 100
REDIS_DB = 13


def _touches(engine: Any) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(tables.job_touches)) or 0)


def _broker() -> str:
    assert redis_command(REDIS_DB, "FLUSHDB") == "+OK"
    return f"redis://127.0.0.1:6379/{REDIS_DB}"


def throughput(mode: str, database: str, workers: int, workdir: Path) -> float:
    broker = _broker() if mode == "dramatiq" else ""
    with migrated_database(database, workdir) as url:
        engine = engine_for(url)
        env = jobs_env(url, mode, broker, job_poll_seconds=0.2, job_sweep_seconds=2)
        crm_touch(env, workdir, JOBS)
        started = [start_worker(env, workdir, "--threads", "4") for _ in range(workers)]
        try:
            t = tables.job_touches
            wait_until(lambda: _touches(engine) >= JOBS, 300, "all jobs done", every=0.2)
            with engine.connect() as c:
                first, last = c.execute(
                    select(func.min(t.c.touched_at), func.max(t.c.touched_at))
                ).one()
            return JOBS / max((last - first).total_seconds(), 1e-3)
        finally:
            for worker in started:
                worker.kill()
            engine.dispose()


def latency(mode: str, workdir: Path) -> tuple[float, float]:
    broker = _broker() if mode == "dramatiq" else ""
    with migrated_database("postgres", workdir) as url:
        engine = engine_for(url)
        env = jobs_env(url, mode, broker, job_poll_seconds=1.0, job_sweep_seconds=5)
        wake = DramatiqWaker(broker) if mode == "dramatiq" else (lambda ids: None)
        uow = unit_of_work_factory(engine, wake=wake)
        worker = start_worker(env, workdir, "--threads", "4")
        try:
            for _ in range(LATENCY_SAMPLES):
                enqueue(uow, datetime.now(UTC))
                time.sleep(0.05)
            j, t = tables.jobs, tables.job_touches
            wait_until(
                lambda: _touches(engine) >= LATENCY_SAMPLES,
                60,
                "all jobs done",
            )
            with engine.connect() as c:
                rows = c.execute(
                    select(j.c.created_at, t.c.touched_at).join(t, t.c.job_id == j.c.id)
                ).all()
            ms = sorted((touched - created).total_seconds() * 1000 for created, touched in rows)
            return statistics.median(ms), ms[min(len(ms) - 1, int(len(ms) * 0.99))]
        finally:
            worker.kill()
            engine.dispose()


def main() -> int:
    if not os.environ.get("CRM_TEST_POSTGRES_URL"):
        os.environ["CRM_TEST_POSTGRES_URL"] = os.environ.get(
            "CRM_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        )
    rows = []
    with tempfile.TemporaryDirectory(prefix="crm-bench-jobs-") as tmp:
        workdir = Path(tmp)
        for mode, database in (("db", "sqlite"), ("db", "postgres"), ("dramatiq", "postgres")):
            for workers in (1, 2):
                rate = throughput(mode, database, workers, workdir)
                name = f"{mode} ({'redis + ' if mode == 'dramatiq' else ''}{database})"
                rows.append((name, workers, rate))
                print(f"{name:28} {workers} worker(s): {rate:8.0f} jobs/s", flush=True)
        lat = {mode: latency(mode, workdir) for mode in ("db", "dramatiq")}
    print("\n| runner | workers | jobs/s |\n| --- | --- | --- |")
    for name, workers, rate in rows:
        print(f"| {name} | {workers} | {rate:.0f} |")
    print("\n| runner (postgres) | enqueue-to-start p50 ms | p99 ms |\n| --- | --- | --- |")
    for mode, (p50, p99) in lat.items():
        print(f"| {mode}{' (poll 1 s)' if mode == 'db' else ' (redis)'} | {p50:.0f} | {p99:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
