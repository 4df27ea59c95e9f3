"""Times funnel statistics and one filtered page on PostgreSQL over generated data, in a fresh
database that is dropped afterwards. `make bench` runs it; the server comes from
CRM_BENCH_POSTGRES_URL (or CRM_TEST_POSTGRES_URL), e.g. postgresql+psycopg://postgres@host/db."""

from __future__ import annotations

import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
from sqlalchemy import event

from bench.generate import DEALS, LEADS, MEASURED_FUNNEL_LEADS, generate
from crm_adapters.sql.engine import create_database_engine
from crm_adapters.sql.migrate import upgrade
from crm_adapters.sql.read_model import SqlReadModel
from crm_adapters.sql.statistics import funnel_statistics
from crm_core.ports import ListQuery, Resource, StatisticsFilter
from crm_core.values import CompanyId, FunnelId

COMPUTED, CACHED = "funnel_statistics, computed", "funnel_statistics, unchanged funnel (cache)"
PAGE = "leads page (stage filter, 50 rows)"
AIMS_MS = {COMPUTED: 150.0, CACHED: 10.0, PAGE: 10.0}


def _median_ms(action: Callable[[], Any], runs: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        action()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _statements(engine: Any, action: Callable[[], Any]) -> int:
    """How many SQL statements one call of `action` sends."""
    sent = []

    def count(*_: Any) -> None:
        sent.append(1)

    event.listen(engine, "before_cursor_execute", count)
    try:
        action()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return len(sent)


def main() -> int:
    server = os.environ.get("CRM_BENCH_POSTGRES_URL") or os.environ.get("CRM_TEST_POSTGRES_URL")
    if not server:
        print("Set CRM_BENCH_POSTGRES_URL to a PostgreSQL server (postgresql+psycopg://...).")
        return 2
    admin_dsn = server.replace("postgresql+psycopg://", "postgresql://", 1)
    name = f"crm_bench_{uuid.uuid4().hex[:8]}"
    base = server.rpartition("/")[0]
    url = f"{base}/{name}"
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        upgrade(url)
        started = time.perf_counter()
        data = generate(url.replace("postgresql+psycopg://", "postgresql://", 1))
        print(
            f"generated {LEADS} leads, {DEALS} deals, 600000 transitions "
            f"in {time.perf_counter() - started:.0f} s"
        )
        engine = create_database_engine(url)
        read_model = SqlReadModel(engine=engine)
        stage = data.stage_ids[1]
        company, funnel = CompanyId(data.company_id), FunnelId(data.funnel_id)

        def computed() -> Any:  # what a read of a funnel written since the last one costs
            with engine.connect() as connection:
                return funnel_statistics(connection, company, funnel, StatisticsFilter())

        def cached() -> Any:  # a read model keeps the answers of unchanged funnels
            return read_model.funnel_statistics(company, funnel, StatisticsFilter())

        figures = {
            COMPUTED: _median_ms(computed, runs=21),
            CACHED: _median_ms(cached, runs=51),
            PAGE: _median_ms(
                lambda: read_model.list(
                    Resource.LEADS,
                    company,
                    ListQuery(filters={"stage": stage}, page_size=50),
                ),
                runs=51,
            ),
        }
        statements = {COMPUTED: _statements(engine, computed), CACHED: _statements(engine, cached)}
        engine.dispose()
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    # The figures mean little on a loaded machine: say how loaded it was.
    print(
        f"funnel of {MEASURED_FUNNEL_LEADS} leads; load average {os.getloadavg()[0]:.1f}; medians:"
    )
    for label, median in figures.items():
        verdict = "ok" if median < AIMS_MS[label] else "over the aim"
        sent = f", {statements[label]} SQL statements" if label in statements else ""
        print(f"  {label}: {median:.1f} ms (aim < {AIMS_MS[label]:.0f} ms: {verdict}){sent}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
