"""`crm worker` in `dramatiq` mode on the machine's Redis and RabbitMQ: jobs woken through the
broker run, and jobs nobody woke (enqueued in `db` mode) are found by the sweeper."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import pytest

from crm_adapters.sql.migrate import upgrade
from tests.integration.http_contract.conftest import crm_env, run_crm
from tests.integration.jobs_wiring.test_worker_process import start_worker, statuses, wait_for

BROKERS = {
    "redis": ("127.0.0.1", 6379, "redis://127.0.0.1:6379/15"),
    "rabbitmq": ("127.0.0.1", 5672, "amqp://guest:guest@127.0.0.1:5672/"),
}


def answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@pytest.mark.parametrize("broker", sorted(BROKERS))
def test_given_woken_and_unwoken_jobs_when_a_dramatiq_worker_runs_then_all_are_done(
    tmp_path: Path, broker: str
) -> None:
    host, port, broker_url = BROKERS[broker]
    if not answers(host, port):
        pytest.skip(f"no {broker} on {host}:{port}")
    if broker == "redis":
        import redis

        redis.Redis.from_url(broker_url).flushdb()
    url = f"sqlite:///{tmp_path / 'crm.sqlite3'}"
    upgrade(url)
    env = {
        **crm_env(url),
        "CRM_JOBS": "dramatiq",
        "CRM_BROKER_URL": broker_url,
        "CRM_JOB_SWEEP_SECONDS": "1",
    }
    unwoken = run_crm(["jobs", "touch", "--count", "3"], {**env, "CRM_JOBS": "db"}, tmp_path)
    assert unwoken.returncode == 0, unwoken.stderr

    worker, lines = start_worker(env, tmp_path)
    try:
        woken = run_crm(["jobs", "touch", "--count", "3"], env, tmp_path)
        assert woken.returncode == 0, woken.stderr
        ids = unwoken.stdout.split() + woken.stdout.split()
        assert wait_for(lambda: statuses(env, tmp_path) == dict.fromkeys(ids, "done"), 60)
        assert run_crm(["jobs", "list", "--status", "dead"], env, tmp_path).stdout == ""
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0, "".join(lines)
    finally:
        worker.kill()
