"""`crm jobs touch` and `crm worker` as processes, in `db` mode on SQLite: the worker runs what
was enqueued, and SIGTERM ends it with 0, handing back a job it could not finish."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from crm_adapters.sql.migrate import upgrade
from tests.integration.http_contract.conftest import CRM_BIN, crm_env, run_crm


def start_worker(env: dict[str, str], workdir: Path) -> tuple[subprocess.Popen[str], list[str]]:
    process = subprocess.Popen(
        [str(CRM_BIN), "worker", "--threads", "2"],
        env=env,
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            if "worker ready" in line:
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(60):
        process.kill()
        raise AssertionError("no 'worker ready':\n" + "".join(lines))
    return process, lines


def wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def statuses(env: dict[str, str], workdir: Path) -> dict[str, str]:
    done = run_crm(["jobs", "list", "--kind", "touch"], env, workdir)
    assert done.returncode == 0, done.stderr
    return {line.split()[0]: line.split()[2] for line in done.stdout.splitlines() if line.strip()}


def test_given_touch_jobs_when_a_db_worker_runs_then_all_are_done_and_sigterm_exits_0(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'crm.sqlite3'}"
    upgrade(url)
    env = {**crm_env(url), "CRM_JOBS": "db", "CRM_JOB_POLL_SECONDS": "0.2"}
    touched = run_crm(["jobs", "touch", "--count", "5"], env, tmp_path)
    ids = touched.stdout.split()
    assert touched.returncode == 0 and len(ids) == 5, touched.stderr

    worker, lines = start_worker(env, tmp_path)
    try:
        assert wait_for(lambda: statuses(env, tmp_path) == dict.fromkeys(ids, "done"), 60)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0, "".join(lines)
    finally:
        worker.kill()


def test_given_a_slow_job_when_sigterm_outlasts_the_grace_then_it_is_pending_again(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'crm.sqlite3'}"
    upgrade(url)
    env = {
        **crm_env(url),
        "CRM_JOBS": "db",
        "CRM_JOB_POLL_SECONDS": "0.2",
        "CRM_JOB_GRACE_SECONDS": "1",
    }
    worker, lines = start_worker(env, tmp_path)
    try:
        (job_id,) = run_crm(["jobs", "touch", "--seconds", "30"], env, tmp_path).stdout.split()
        assert wait_for(lambda: statuses(env, tmp_path).get(job_id) == "running", 30)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0, "".join(lines)
    finally:
        worker.kill()

    listed = run_crm(["jobs", "list", "--kind", "touch"], env, tmp_path).stdout.split()
    assert listed[:4] == [job_id, "touch", "pending", "0/10"]


def test_inline_mode_needs_no_worker(tmp_path: Path) -> None:
    env = {**crm_env(f"sqlite:///{tmp_path / 'crm.sqlite3'}"), "CRM_JOBS": "inline"}

    done = run_crm(["worker"], env, tmp_path)

    assert done.returncode == 2
    assert "inline" in done.stderr
