"""Runners of background jobs, in process and as real `crm worker` processes.

In process: a migrated database per module and backend (emptied of jobs before each test),
a `FixedClock`, and `JobRunner` over `SqlJobStore`. As processes: `crm worker` started in a
process group of its own and always killed by group, brokers (Redis, RabbitMQ) on their
usual local ports with a database number or virtual host of each test's own, and the jobs
and touch tables read directly to see what ran and how often.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete, func, select

from crm_adapters.sql import tables
from crm_adapters.sql.engine import create_database_engine
from crm_adapters.sql.migrate import upgrade
from crm_adapters.sql.unit_of_work import SqlUnitOfWork
from crm_core.jobs import TOUCH, NewJob
from tests.integration.conftest import POSTGRES_URL, fresh_postgres_database
from tests.integration.http_contract.conftest import CRM_BIN, crm_env, run_crm

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
RABBIT_HOST, RABBIT_PORT = "127.0.0.1", 5672
WORKER_START_TIMEOUT = 30.0

# ----------------------------------------------------------------------------- services


def answers(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def xdist_index() -> int:
    """0 for gw0 (or no xdist), 1 for gw1, ...: keeps parallel tests on separate brokers."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    digits = "".join(ch for ch in name if ch.isdigit())
    return int(digits or 0)


def redis_command(db: int, *args: str) -> str:
    """One Redis command in the RESP protocol over a plain socket (no client needed)."""
    parts = ["SELECT", str(db)], list(args)
    payload = b"".join(
        f"*{len(p)}\r\n".encode() + b"".join(f"${len(a)}\r\n{a}\r\n".encode() for a in p)
        for p in parts
    )
    with socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=5) as s:
        s.sendall(payload)
        data = b""
        deadline = time.monotonic() + 5
        while data.count(b"\r\n") < 2 and time.monotonic() < deadline:
            data += s.recv(4096)
    replies = data.decode(errors="replace").split("\r\n")
    assert replies[0] == "+OK", f"redis SELECT {db}: {replies}"
    return replies[1]


def redis_url(module_base: int) -> str:
    """A Redis database of this module and xdist worker, flushed: nobody else's messages."""
    db = module_base + xdist_index() % 2
    assert redis_command(db, "FLUSHDB") == "+OK"
    return f"redis://{REDIS_HOST}:{REDIS_PORT}/{db}"


@contextmanager
def rabbit_vhost() -> Iterator[str]:
    """A RabbitMQ virtual host of this test's own (queues of the same name never meet),
    deleted afterwards; the default host when rabbitmqctl cannot make one."""
    name = f"crm-test-{uuid.uuid4().hex[:8]}"

    def ctl(*args: str) -> bool:
        try:
            done = subprocess.run(
                ["rabbitmqctl", *args], capture_output=True, text=True, timeout=30, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            return False
        return done.returncode == 0

    made = ctl("add_vhost", name) and ctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    try:
        yield f"amqp://guest:guest@{RABBIT_HOST}:{RABBIT_PORT}/{name if made else ''}"
    finally:
        if made:
            ctl("delete_vhost", name)


# ----------------------------------------------------------------------------- databases


@contextmanager
def migrated_database(backend: str, workdir: Path) -> Iterator[str]:
    if backend == "sqlite":
        url = f"sqlite:///{workdir / f'jobs-{uuid.uuid4().hex[:8]}.sqlite3'}"
        upgrade(url)
        yield url
        return
    with fresh_postgres_database() as url:
        upgrade(url)
        yield url


def empty_jobs(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(delete(tables.job_touches))
        connection.execute(delete(tables.jobs))


def touch_counts(engine: Engine) -> dict[str, int]:
    """Job id (as text) -> how many times the touch job ran."""
    t = tables.job_touches
    with engine.connect() as connection:
        rows = connection.execute(select(t.c.job_id, func.count()).group_by(t.c.job_id))
        return {str(job_id): int(n) for job_id, n in rows}


def touches_of(engine: Engine, job_id: object) -> int:
    t = tables.job_touches
    with engine.connect() as connection:
        return int(
            connection.scalar(
                select(func.count()).select_from(t).where(t.c.job_id == uuid.UUID(str(job_id)))
            )
            or 0
        )


def job_row(engine: Engine, job_id: object) -> dict[str, Any] | None:
    j = tables.jobs
    with engine.connect() as connection:
        row = connection.execute(select(j).where(j.c.id == uuid.UUID(str(job_id)))).first()
    return dict(row._mapping) if row is not None else None


def status_counts(engine: Engine, kind: str = TOUCH) -> dict[str, int]:
    """Status -> how many jobs of `kind` (the touch jobs tests make; workers add others)."""
    j = tables.jobs
    with engine.connect() as connection:
        rows = connection.execute(
            select(j.c.status, func.count()).where(j.c.kind == kind).group_by(j.c.status)
        )
        return {str(status): int(n) for status, n in rows}


def enqueue(
    uow: Callable[[], SqlUnitOfWork],
    now: datetime,
    payload: dict[str, Any] | None = None,
    *,
    key: str | None = None,
    run_after: datetime | None = None,
    max_attempts: int = 10,
    commit: bool = True,
) -> tuple[object, bool]:
    """A touch job enqueued in a unit of work of its own: (its id, whether it was added)."""
    job = NewJob(
        TOUCH,
        key or f"touch:{uuid.uuid4().hex}",
        payload or {},
        run_after=run_after,
        max_attempts=max_attempts,
    )
    with uow() as unit:
        added = unit.jobs.add(job, now)
        if commit:
            unit.commit()
    return job.id, added


def wait_until(condition: Callable[[], Any], timeout: float, what: str, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


# ----------------------------------------------------------------------------- processes


def crm_available(*command: str) -> bool:
    """Whether this build's `crm` has the command (`crm worker --help` exits 0)."""
    try:
        done = subprocess.run(
            [str(CRM_BIN), *command, "--help"], capture_output=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def jobs_env(database_url: str, mode: str, broker_url: str = "", **settings: Any) -> dict[str, str]:
    env = crm_env(database_url)
    env["CRM_JOBS"] = mode
    if broker_url:
        env["CRM_BROKER_URL"] = broker_url
    env.update({f"CRM_{name.upper()}": str(value) for name, value in settings.items()})
    return env


def kill_group(process: subprocess.Popen[Any], sig: int = signal.SIGKILL) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


@dataclass
class Worker:
    """A running `crm worker`; its stderr is collected by a thread (read it with `.log()`)."""

    process: subprocess.Popen[bytes]
    name: str
    lines: list[str] = field(default_factory=list)
    ready: threading.Event = field(default_factory=threading.Event)

    def _read(self) -> None:
        assert self.process.stderr is not None
        for raw in self.process.stderr:
            line = raw.decode(errors="replace").rstrip("\n")
            self.lines.append(line)
            if "worker ready" in line:
                self.ready.set()

    def log(self) -> str:
        return "\n".join(self.lines[-80:])

    def kill(self) -> None:
        kill_group(self.process, signal.SIGKILL)

    def terminate(self, timeout: float) -> int:
        """SIGTERM to the worker itself; waits `timeout` for it to end, then returns its code."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        finally:
            kill_group(self.process)


def start_worker(env: dict[str, str], workdir: Path, *extra: str, name: str = "worker") -> Worker:
    process = subprocess.Popen(
        [str(CRM_BIN), "worker", *extra],
        env=env,
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    worker = Worker(process, name)
    threading.Thread(target=worker._read, daemon=True).start()
    try:
        deadline = time.monotonic() + WORKER_START_TIMEOUT
        while not worker.ready.wait(0.1):
            if process.poll() is not None:
                time.sleep(0.2)  # let the reader collect the last lines
                raise RuntimeError(f"crm worker exited with {process.returncode}:\n{worker.log()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"crm worker did not say 'worker ready':\n{worker.log()}")
    except BaseException:
        worker.kill()
        raise
    return worker


@contextmanager
def workers_running(
    env: dict[str, str], workdir: Path, count: int = 1, *extra: str
) -> Iterator[list[Worker]]:
    started: list[Worker] = []
    try:
        for n in range(count):
            started.append(start_worker(env, workdir, *extra, name=f"worker-{n}"))
        yield started
    finally:
        for worker in started:
            worker.kill()


def crm_touch(env: dict[str, str], workdir: Path, count: int, seconds: float = 0) -> list[str]:
    done = run_crm(
        ["jobs", "touch", "--count", str(count), "--seconds", str(seconds)], env, workdir, 60
    )
    assert done.returncode == 0, f"crm jobs touch failed:\n{done.stdout}\n{done.stderr}"
    ids = [line.strip() for line in done.stdout.splitlines() if line.strip()]
    assert len(ids) == count, f"crm jobs touch printed {len(ids)} ids, not {count}:\n{done.stdout}"
    return [str(uuid.UUID(i)) for i in ids]


def engine_for(url: str) -> Engine:
    return create_database_engine(url)


def postgres_configured() -> bool:
    return bool(POSTGRES_URL)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


# ----------------------------------------------------------------------------- deliveries


class Deliveries:
    """Sends `run_job(id)` straight through Dramatiq's broker API, as a waker or a broker's
    redelivery would: the queue and actor that JOBS.md names, nothing of the project's."""

    QUEUE, ACTOR = "default", "run_job"

    def __init__(self, broker_url: str) -> None:
        if broker_url.startswith("redis"):
            from dramatiq.brokers.redis import RedisBroker

            self.broker: Any = RedisBroker(url=broker_url)
        else:
            from dramatiq.brokers.rabbitmq import RabbitmqBroker

            self.broker = RabbitmqBroker(url=broker_url)
        self.broker.declare_queue(self.QUEUE)

    def send(self, job_id: object, times: int = 1) -> None:
        import dramatiq

        for _ in range(times):
            message: Any = dramatiq.Message(
                queue_name=self.QUEUE,
                actor_name=self.ACTOR,
                args=(str(job_id),),
                kwargs={},
                options={},
            )
            self.broker.enqueue(message)

    def close(self) -> None:
        self.broker.close()
