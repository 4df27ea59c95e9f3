"""Figures for messaging on PostgreSQL: webhook ingestion in messages per second from delivery
to processed (deliveries of 100 messages, half of them from new numbers), the SQL statements
one delivery costs, and the latency of `send_message` against the fake Wazzup (p50, p99).

    .venv/bin/python -m bench.messaging   (PostgreSQL from CRM_BENCH_POSTGRES_URL or
                                           CRM_TEST_POSTGRES_URL)
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event
from werkzeug.serving import make_server

from crm_adapters.sql.migrate import upgrade
from crm_core.tenancy import Role
from crm_http.app import create_app
from crm_http.config import Settings
from crm_http.container import Container

DELIVERIES = 60
PER_DELIVERY = 100
KNOWN_NUMBERS = 1000
SENDS = 200
CONCURRENCY = 4


def _postgres_url() -> str:
    url = os.environ.get("CRM_BENCH_POSTGRES_URL") or os.environ.get("CRM_TEST_POSTGRES_URL")
    os.environ["CRM_TEST_POSTGRES_URL"] = url or "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    return os.environ["CRM_TEST_POSTGRES_URL"]


class Live:
    """The CRM in this process on a threaded loopback server, in a given jobs mode."""

    def __init__(self, database_url: str, var_dir: Path, jobs: str) -> None:
        from tests.integration.http_contract.conftest import SECRET_KEY

        holder: dict[str, Any] = {}
        self.server = make_server("127.0.0.1", 0, lambda e, s: holder["app"](e, s), threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.settings = Settings(
            database_url=database_url,
            public_url=self.url,
            secret_key=SECRET_KEY,
            var_dir=var_dir,
            jobs=jobs,
        )
        self.container = Container()
        holder["app"] = create_app(self.settings, self.container)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.container.engine().dispose()


def _deliveries(channel_id: str, rng: random.Random, wazzup: Any) -> list[list[dict[str, Any]]]:
    """Deliveries of 100 messages, half from known numbers and half from new ones."""
    known = [f"7900{index:07d}" for index in range(KNOWN_NUMBERS)]
    new = iter(f"7922{index:07d}" for index in range(10**6))
    batches = []
    for _ in range(DELIVERIES):
        items = []
        for index in range(PER_DELIVERY):
            number = rng.choice(known) if index % 2 else next(new)
            items.append(wazzup.incoming(channel_id, number, text=f"привет {uuid.uuid4().hex[:8]}"))
        batches.append(items)
    return batches


def _setup(live: Live, wazzup: Any) -> tuple[httpx.Client, dict[str, Any], str]:
    _, token = live.container.access().create_user(
        f"Bench {uuid.uuid4().hex[:6]}",
        f"bench-{uuid.uuid4().hex[:6]}@example.com",
        None,
        Role.ADMIN,
    )
    client = httpx.Client(
        base_url=live.url, headers={"Authorization": f"Bearer {token}"}, timeout=120
    )
    funnel = client.post("/api/crm/funnels/", json={"name": "Входящие"}).json()
    channel_id = wazzup.add_channel()
    account = client.post(
        "/api/crm/wazzupp-accounts/",
        json={
            "name": "Bench",
            "api_key": wazzup.api_key,
            "api_url": wazzup.url,
            "instance_id": channel_id,
            "default_funnel": funnel["id"],
        },
    ).json()
    return client, account, channel_id


def _store(account: dict[str, Any], deliveries: list[list[dict[str, Any]]]) -> None:
    for items in deliveries:
        answer = httpx.post(account["webhook_url"], json={"messages": items})
        assert answer.status_code == 200, answer.text


def _known_contacts(live: Live, client: httpx.Client) -> None:
    with ThreadPoolExecutor(4) as pool:
        list(
            pool.map(
                lambda n: client.post(
                    "/api/crm/contacts/",
                    json={"first_name": "Клиент", "phone": f"+7900{n:07d}"},
                ),
                range(KNOWN_NUMBERS),
            )
        )


def ingestion(database_url: str, var_dir: Path) -> dict[str, float]:
    from tests.wazzup_server import FakeWazzup

    rng = random.Random(7)
    results: dict[str, float] = {}
    with FakeWazzup() as wazzup:
        # 1. Stored first (CRM_JOBS=db, no worker), then processed by one process: the cost
        #    of applying deliveries, and the statements each one takes.
        live = Live(database_url, var_dir, "db")
        try:
            client, account, channel_id = _setup(live, wazzup)
            _known_contacts(live, client)
            for items in _deliveries(channel_id, rng, wazzup):
                assert (
                    httpx.post(account["webhook_url"], json={"messages": items}).status_code == 200
                )
            engine = live.container.engine()
            statements: list[int] = []
            event.listen(engine, "before_cursor_execute", lambda *_: statements.append(1))
            inbound = live.container.inbound()
            started = time.perf_counter()
            processed = inbound.process_stored()
            took = time.perf_counter() - started
            assert processed == DELIVERIES, processed
            results["processing, 1 process (msg/s)"] = DELIVERIES * PER_DELIVERY / took
            results["SQL statements per delivery of 100"] = len(statements) / DELIVERIES
        finally:
            live.close()
        # 2. Stored first, then processed by two `crm worker` processes (CRM_JOBS=db), as
        #    a deployment runs them: the figure of this 2-core machine.
        live = Live(database_url, var_dir, "db")
        try:
            client, account, channel_id = _setup(live, wazzup)
            for items in _deliveries(channel_id, rng, wazzup):
                assert (
                    httpx.post(account["webhook_url"], json={"messages": items}).status_code == 200
                )
            results["processing, 2 worker processes (msg/s)"] = _with_workers(
                live, database_url, var_dir
            )
        finally:
            live.close()
        # 3. End to end over HTTP: the webhook stores and processes (CRM_JOBS=inline), with
        #    several deliveries at once.
        live = Live(database_url, var_dir, "inline")
        try:
            client, account, channel_id = _setup(live, wazzup)
            batches = _deliveries(channel_id, rng, wazzup)
            started = time.perf_counter()
            with ThreadPoolExecutor(CONCURRENCY) as pool:
                codes = list(
                    pool.map(
                        lambda items: (
                            httpx.post(
                                account["webhook_url"], json={"messages": items}, timeout=120
                            ).status_code
                        ),
                        batches,
                    )
                )
            took = time.perf_counter() - started
            assert codes == [200] * DELIVERIES
            results[f"delivery to processed, HTTP, c={CONCURRENCY} (msg/s)"] = (
                DELIVERIES * PER_DELIVERY / took
            )
        finally:
            live.close()
    return results


def _with_workers(live: Live, database_url: str, workdir: Path) -> float:
    from sqlalchemy import text

    from tests.integration.jobs.conftest import jobs_env, start_worker

    def left() -> int:
        with live.container.engine().connect() as connection:
            return int(
                connection.scalar(
                    text("SELECT count(*) FROM webhook_deliveries WHERE processed_at IS NULL")
                )
                or 0
            )

    env = jobs_env(database_url, "db", job_poll_seconds=0.05)
    workers = [start_worker(env, workdir, "--threads", "2") for _ in range(2)]
    try:
        # Timed from when both are ready (the first starts working while the second starts).
        started, waiting = time.perf_counter(), left()
        while left():
            time.sleep(0.02)
        took = time.perf_counter() - started
    finally:
        for worker in workers:
            worker.kill()
    return waiting * PER_DELIVERY / took


def sending(database_url: str, var_dir: Path) -> dict[str, float]:
    from tests.wazzup_server import FakeWazzup

    with FakeWazzup() as wazzup:
        live = Live(database_url, var_dir, "inline")
        try:
            client, account, _ = _setup(live, wazzup)
            send = f"/api/crm/wazzupp-accounts/{account['id']}/send_message/"
            times = []
            for index in range(SENDS):
                started = time.perf_counter()
                answer = client.post(
                    send, json={"to": f"+7933{index:07d}", "message": "Добрый день"}
                )
                times.append((time.perf_counter() - started) * 1000)
                assert answer.status_code == 201, answer.text
            wazzup.wait_for_deliveries()
        finally:
            live.close()
    times.sort()
    return {
        "send_message p50 (ms)": statistics.median(times),
        "send_message p99 (ms)": times[int(len(times) * 0.99) - 1],
    }


def main() -> int:
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    _postgres_url()
    from tests.integration.conftest import fresh_postgres_database

    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="crm-bench-messaging-") as tmp:
        for measure in (ingestion, sending):
            with fresh_postgres_database() as url:
                upgrade(url)
                figures.update(measure(url, Path(tmp)))
    print("\n| messaging on PostgreSQL | figure |\n| --- | --- |")
    for name, value in figures.items():
        print(f"| {name} | {value:,.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
