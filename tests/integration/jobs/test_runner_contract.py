"""One contract for every runner of background jobs (JOBS.md, "What must be shown").

Backends: `db` on SQLite, `db` on PostgreSQL, and `dramatiq` on Redis and on RabbitMQ.

In process (the runner's rules, on a clock the test moves): `JobRunner` over `SqlJobStore`
on each database: the same work enqueued twice runs once; a rolled-back unit of work leaves
no job and wakes nobody; a retry waits for its time; `Dead` stops retrying and counts as
dead; a second claim or delivery of a job is a no-op; a lease that expired lets another
runner take the job over and the first runner's finish then changes nothing.

As processes (the same promises kept by a real `crm worker` in each mode, on the real
clock): jobs from `crm jobs touch` each run once; the same key enqueued twice runs once; a
rollback leaves nothing to run; a job due later is not run before then, however often it
is delivered; a failing job is retried and runs once; a dead job is left dead; a repeated
broker delivery of a job, done or not yet, is a no-op.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from crm_adapters.sql.jobs import SqlJobStore
from crm_adapters.sql.unit_of_work import SqlUnitOfWork, unit_of_work_factory
from crm_adapters.system import SystemClock
from crm_core.jobs import Backoff, Done, JobStatus, RetryAt
from crm_core.services.jobs import JobRunner, core_handlers
from tests.fakes import FixedClock
from tests.integration.http_contract.conftest import run_crm
from tests.integration.jobs.conftest import (
    RABBIT_HOST,
    RABBIT_PORT,
    REDIS_HOST,
    REDIS_PORT,
    Deliveries,
    Worker,
    answers,
    crm_touch,
    empty_jobs,
    engine_for,
    enqueue,
    job_row,
    jobs_env,
    migrated_database,
    rabbit_vhost,
    redis_url,
    start_worker,
    status_counts,
    touch_counts,
    touches_of,
    wait_until,
)
from tests.integration.sql.conftest import START

DB_BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]

# ============================================================================ in process


@dataclass
class Runners:
    """Two runners (two workers, say) over one database, on one clock the test moves."""

    engine: Engine
    clock: FixedClock
    store: SqlJobStore
    woken: list[object]
    uow: Callable[[], SqlUnitOfWork]

    def runner(self, lease: timedelta = timedelta(seconds=30)) -> JobRunner:
        # The longest back-off of its ceiling (no jitter): a retry's time is known exactly.
        backoff = Backoff(base=timedelta(seconds=2), jitter=lambda low, high: high)
        handlers = core_handlers(self.store, self.clock)
        return JobRunner(self.uow, self.store, handlers, self.clock, lease=lease, backoff=backoff)

    def add(self, payload: dict[str, Any] | None = None, **options: Any) -> tuple[object, bool]:
        return enqueue(self.uow, self.clock.now(), payload, **options)

    def status(self, job_id: object) -> str:
        row = job_row(self.engine, job_id)
        assert row is not None, f"job {job_id} is gone"
        return str(row["status"])


@pytest.fixture(scope="module", params=DB_BACKENDS)
def jobs_engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    with migrated_database(request.param, tmp_path_factory.mktemp("jobs")) as url:
        engine = engine_for(url)
        yield engine
        engine.dispose()


@pytest.fixture
def runners(jobs_engine: Engine) -> Runners:
    empty_jobs(jobs_engine)
    woken: list[object] = []
    uow = unit_of_work_factory(jobs_engine, wake=woken.extend)
    return Runners(jobs_engine, FixedClock(START), SqlJobStore(jobs_engine), woken, uow)


def test_the_same_work_enqueued_twice_is_one_job_and_runs_once(runners: Runners) -> None:
    key = f"touch:{uuid.uuid4().hex}"
    first, added = runners.add(key=key)
    second, added_again = runners.add(key=key)

    assert (added, added_again) == (True, False)
    assert runners.woken == [first], "only the job that was added wakes a worker"
    runner = runners.runner()
    assert runner.run_due(limit=10) == 1
    assert runner.run_due(limit=10) == 0
    assert touches_of(runners.engine, first) == 1
    assert touches_of(runners.engine, second) == 0
    assert runners.status(first) == JobStatus.DONE
    # Once done, the key still holds: the same work asked for again is not run again.
    assert runners.add(key=key)[1] is False
    assert runner.run_due(limit=10) == 0
    assert touch_counts(runners.engine) == {str(first): 1}


def test_a_rolled_back_unit_of_work_leaves_no_job_and_wakes_nobody(runners: Runners) -> None:
    job_id, added = runners.add(commit=False)

    assert added  # it was there inside the transaction ...
    assert job_row(runners.engine, job_id) is None  # ... and went with it
    assert runners.woken == []
    assert runners.runner().run_due(limit=10) == 0
    assert runners.runner().run_one(job_id) is False
    assert touch_counts(runners.engine) == {}
    assert runners.store.backlog(runners.clock.now()) == (0, 0)


def test_a_job_due_later_is_not_run_before_its_time(runners: Runners) -> None:
    job_id, _ = runners.add(run_after=runners.clock.now() + timedelta(minutes=5))
    runner = runners.runner()

    assert runners.store.backlog(runners.clock.now()) == (0, 0)
    assert runner.run_due(limit=10) == 0
    assert runner.run_one(job_id) is False  # a broker's early delivery changes nothing
    runners.clock.advance(minutes=5, seconds=1)
    assert runners.store.backlog(runners.clock.now()) == (1, 0)
    assert runner.run_one(job_id) is True
    assert touches_of(runners.engine, job_id) == 1


def test_a_retry_waits_for_its_time_then_runs_once(runners: Runners) -> None:
    job_id, _ = runners.add({"fail_first": 1})
    runner = runners.runner()
    start = runners.clock.now()

    assert runner.run_due() == 1  # the first attempt raises
    row = job_row(runners.engine, job_id)
    assert row is not None
    assert (row["status"], row["attempts"]) == (JobStatus.PENDING, 1)
    assert "fails its attempt 1" in row["last_error"]
    assert row["lease_token"] is None and row["lease_until"] is None
    retry_at = start + timedelta(seconds=4)  # base 2 s x 2^1, the jitter at its ceiling
    assert row["run_after"] == retry_at
    assert touches_of(runners.engine, job_id) == 0, "a failed attempt's writes roll back"

    runners.clock.advance(seconds=3.9)
    assert runner.run_due(limit=10) == 0
    assert runner.run_one(job_id) is False
    assert runners.store.backlog(runners.clock.now()) == (0, 0)

    runners.clock.advance(seconds=0.2)
    assert runners.store.backlog(runners.clock.now()) == (1, 0)
    assert runner.run_due(limit=10) == 1
    row = job_row(runners.engine, job_id)
    assert row is not None
    assert (row["status"], row["attempts"], row["last_error"]) == (JobStatus.DONE, 2, None)
    assert touch_counts(runners.engine) == {str(job_id): 1}


def test_dead_stops_retrying_and_counts_as_dead(runners: Runners) -> None:
    asked, _ = runners.add({"dead": True})
    runner = runners.runner()

    assert runner.run_due(limit=10) == 1
    assert runners.status(asked) == JobStatus.DEAD
    assert runners.store.backlog(runners.clock.now()) == (0, 1)
    runners.clock.advance(days=1)
    assert runner.run_due(limit=10) == 0
    assert runner.run_one(asked) is False
    assert touches_of(runners.engine, asked) == 0


def test_failing_past_max_attempts_is_dead(runners: Runners) -> None:
    job_id, _ = runners.add({"fail_first": 5}, max_attempts=3)
    runner = runners.runner()

    for attempt in (1, 2, 3):
        assert runner.run_due(limit=10) == 1, f"attempt {attempt} did not run"
        runners.clock.advance(hours=1)  # past any back-off
    row = job_row(runners.engine, job_id)
    assert row is not None
    assert (row["status"], row["attempts"]) == (JobStatus.DEAD, 3)
    assert "gave up after 3 attempts" in row["last_error"]
    assert runners.store.backlog(runners.clock.now()) == (0, 1)
    runners.clock.advance(days=1)
    assert runner.run_due(limit=10) == 0
    assert touches_of(runners.engine, job_id) == 0

    # An operator revives it: attempts start over, and it runs (fail_first counts attempts).
    assert runners.store.retry(job_id, runners.clock.now()) is True
    assert runners.store.backlog(runners.clock.now()) == (1, 0)
    assert runner.run_due(limit=10) == 1
    assert runners.status(job_id) == JobStatus.PENDING  # attempt 1 of 5 failing ones


def test_a_claimed_job_cannot_be_claimed_again_and_a_done_one_not_rerun(runners: Runners) -> None:
    job_id, _ = runners.add()
    runner = runners.runner()
    claimed = runners.store.claim(runners.clock.now(), runner.lease, 1, job_id=job_id)

    assert [job.id for job in claimed] == [job_id]
    # A duplicate delivery while it runs: no second claim, by id or among the due.
    assert runners.store.claim(runners.clock.now(), runner.lease, 1, job_id=job_id) == []
    assert runner.run_one(job_id) is False
    assert runner.run_due(limit=10) == 0
    assert runner.run(claimed[0]) == Done()
    # A duplicate delivery after it ran: nothing.
    assert runner.run_one(job_id) is False
    assert runners.runner().run_one(job_id) is False
    runners.clock.advance(hours=1)
    assert runner.run_one(job_id) is False
    assert touch_counts(runners.engine) == {str(job_id): 1}
    row = job_row(runners.engine, job_id)
    assert row is not None and row["attempts"] == 1


def test_an_expired_lease_is_taken_over_and_the_first_finish_changes_nothing(
    runners: Runners,
) -> None:
    lease = timedelta(seconds=30)
    first, second = runners.runner(lease), runners.runner(lease)
    job_id, _ = runners.add()
    slow = runners.store.claim(runners.clock.now(), lease, 1)

    assert [job.id for job in slow] == [job_id]
    runners.clock.advance(seconds=29)
    assert second.run_due(limit=10) == 0, "the lease still holds"
    runners.clock.advance(seconds=2)
    assert runners.store.backlog(runners.clock.now()) == (1, 0)
    taken = runners.store.claim(runners.clock.now(), lease, 1)
    assert [job.id for job in taken] == [job_id]
    assert taken[0].lease_token != slow[0].lease_token
    assert taken[0].attempts == 2

    # The first runner wakes up and finishes: its touch and its outcome roll back.
    first.run(slow[0])
    assert touches_of(runners.engine, job_id) == 0
    assert runners.status(job_id) == JobStatus.RUNNING
    assert first.run_one(job_id) is False  # and it cannot take the job back

    assert second.run(taken[0]) == Done()
    assert touch_counts(runners.engine) == {str(job_id): 1}
    assert runners.status(job_id) == JobStatus.DONE

    # The other order: the runner that took over finishes first, the old one after it.
    other, _ = runners.add()
    old = runners.store.claim(runners.clock.now(), lease, 1)
    runners.clock.advance(seconds=31)
    new = runners.store.claim(runners.clock.now(), lease, 1)
    assert [job.id for job in old] == [job.id for job in new] == [other]
    assert second.run(new[0]) == Done()
    first.run(old[0])
    assert touches_of(runners.engine, other) == 1
    assert runners.status(other) == JobStatus.DONE


def test_a_released_job_is_due_again_without_counting_the_attempt(runners: Runners) -> None:
    job_id, _ = runners.add({"fail_first": 1})
    runner = runners.runner()
    claimed = runners.store.claim(runners.clock.now(), runner.lease, 1)

    assert runners.store.release(claimed[0], runners.clock.now()) is True
    assert runners.store.release(claimed[0], runners.clock.now()) is False  # not twice
    row = job_row(runners.engine, job_id)
    assert row is not None
    assert (row["status"], row["attempts"], row["lease_token"]) == (JobStatus.PENDING, 0, None)
    # The released claim, run anyway, cannot finish: the job is still pending, untouched ...
    assert isinstance(runner.run(claimed[0]), RetryAt)
    assert touches_of(runners.engine, job_id) == 0
    assert runners.status(job_id) == JobStatus.PENDING
    # ... and the next claim is attempt 1 again (fail_first=1 fails it, as a first attempt).
    assert runner.run_due() == 1
    row = job_row(runners.engine, job_id)
    assert row is not None and row["attempts"] == 1


def test_concurrent_runners_run_every_job_exactly_once(runners: Runners) -> None:
    ids = {str(runners.add()[0]) for _ in range(120)}
    errors: list[BaseException] = []

    def work() -> None:
        runner = runners.runner()
        try:
            while runner.run_due(limit=3):
                pass
        except BaseException as error:  # reported below, not lost in the thread
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a runner is stuck"
    assert errors == []
    assert touch_counts(runners.engine) == dict.fromkeys(ids, 1)
    assert status_counts(runners.engine) == {JobStatus.DONE: 120}


# ============================================================================ as processes

WORKER_BACKENDS = [
    pytest.param(("db", "sqlite"), id="db-sqlite"),
    pytest.param(("db", "postgres"), id="db-postgres", marks=pytest.mark.postgres),
    pytest.param(("dramatiq", "redis"), id="dramatiq-redis"),
    pytest.param(("dramatiq", "rabbitmq"), id="dramatiq-rabbitmq"),
]
SWEEP, POLL = 1, 0.2  # seconds: the worker's sweeper (dramatiq) and polling (db)
SETTLE = 10.0  # seconds a woken job may take to be done, on a busy machine


@dataclass
class Live:
    """A `crm worker` in one mode over a database of its own; the test enqueues into the same
    database (committed rows, no waker: in `dramatiq` mode the sweeper must find them)."""

    mode: str
    engine: Engine
    uow: Callable[[], SqlUnitOfWork]
    env: dict[str, str]
    workdir: Path
    worker: Worker
    deliveries: Any  # Deliveries in `dramatiq` mode, else None

    def now(self) -> datetime:
        return datetime.now(UTC)

    def add(self, payload: dict[str, Any] | None = None, **options: Any) -> tuple[object, bool]:
        return enqueue(self.uow, self.now(), payload, **options)

    def wait_status(self, job_id: object, status: str, timeout: float = SETTLE) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            row = job_row(self.engine, job_id)
            return row if row is not None and row["status"] == status else None

        try:
            return wait_until(reached, timeout, f"job {job_id} to be {status}")  # type: ignore[no-any-return]
        except AssertionError as error:
            raise AssertionError(
                f"{error}; it is {job_row(self.engine, job_id)}\n{self.worker.log()}"
            ) from None


@pytest.fixture(scope="module", params=WORKER_BACKENDS)
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Live]:
    mode, backend = request.param
    workdir = tmp_path_factory.mktemp("worker")
    with ExitStack() as stack:
        broker_url = ""
        if backend == "redis":
            assert answers(REDIS_HOST, REDIS_PORT), "Redis does not answer on 127.0.0.1:6379"
            broker_url = redis_url(module_base=6)
        elif backend == "rabbitmq":
            if not answers(RABBIT_HOST, RABBIT_PORT):
                pytest.skip("RabbitMQ does not answer on 127.0.0.1:5672")
            broker_url = stack.enter_context(rabbit_vhost())
        database = "postgres" if backend == "postgres" else "sqlite"
        url = stack.enter_context(migrated_database(database, workdir))
        engine = engine_for(url)
        stack.callback(engine.dispose)
        env = jobs_env(url, mode, broker_url, job_sweep_seconds=SWEEP, job_poll_seconds=POLL)
        deliveries = None
        if mode == "dramatiq":
            deliveries = Deliveries(broker_url)
            stack.callback(deliveries.close)
        worker = start_worker(env, workdir, "--threads", "4")
        stack.callback(worker.kill)
        yield Live(mode, engine, unit_of_work_factory(engine), env, workdir, worker, deliveries)


def test_worker_runs_each_touched_job_once(live: Live) -> None:
    ids = crm_touch(live.env, live.workdir, 25)

    for job_id in ids:
        live.wait_status(job_id, JobStatus.DONE)
    counts = touch_counts(live.engine)
    assert {job_id: counts.get(job_id, 0) for job_id in ids} == dict.fromkeys(ids, 1)


def test_worker_runs_the_same_work_enqueued_twice_once(live: Live) -> None:
    key = f"touch:{uuid.uuid4().hex}"
    first, _ = live.add(key=key)
    second, _ = live.add(key=key)

    live.wait_status(first, JobStatus.DONE)
    if live.deliveries is not None:  # a waker would have sent both ids
        live.deliveries.send(first)
        live.deliveries.send(second)
    assert job_row(live.engine, second) is None
    # A job enqueued after them is done, so the worker had every chance to run them twice.
    after, _ = live.add()
    live.wait_status(after, JobStatus.DONE)
    assert touches_of(live.engine, first) == 1
    assert touches_of(live.engine, second) == 0


def test_worker_finds_nothing_of_a_rolled_back_job(live: Live) -> None:
    gone, _ = live.add(commit=False)
    if live.deliveries is not None:  # a waker that sent before the rollback
        live.deliveries.send(gone)
    later, _ = live.add()

    live.wait_status(later, JobStatus.DONE)
    assert job_row(live.engine, gone) is None
    assert touches_of(live.engine, gone) == 0


def test_worker_does_not_run_a_job_before_its_time(live: Live) -> None:
    wait = timedelta(seconds=3)
    job_id, _ = live.add(run_after=live.now() + wait)
    row = job_row(live.engine, job_id)
    assert row is not None
    run_after = row["run_after"]
    if live.deliveries is not None:  # delivered early, and more than once
        live.deliveries.send(job_id, times=3)

    wait_until(lambda: live.now() > run_after - timedelta(seconds=0.5), 10, "the job's time")
    assert touches_of(live.engine, job_id) == 0
    assert job_row(live.engine, job_id)["status"] == JobStatus.PENDING  # type: ignore[index]
    live.wait_status(job_id, JobStatus.DONE)
    touched = wait_until(lambda: touch_counts(live.engine).get(str(job_id)), 5, "its touch")
    assert touched == 1


def test_worker_retries_a_failing_job_and_runs_it_once(live: Live) -> None:
    job_id, _ = live.add({"fail_first": 1})

    row = live.wait_status(job_id, JobStatus.DONE, timeout=SETTLE + 4)  # back-off up to 4 s
    assert row["attempts"] == 2
    assert touches_of(live.engine, job_id) == 1


def test_worker_leaves_a_dead_job_dead(live: Live) -> None:
    asked, _ = live.add({"dead": True})
    exhausted, _ = live.add({"fail_first": 9}, max_attempts=1)

    for job_id in (asked, exhausted):
        row = live.wait_status(job_id, JobStatus.DEAD)
        assert row["attempts"] == 1
    if live.deliveries is not None:
        live.deliveries.send(asked, times=2)
    later, _ = live.add()
    live.wait_status(later, JobStatus.DONE)
    for job_id in (asked, exhausted):
        row = job_row(live.engine, job_id)
        assert row is not None
        assert (row["status"], row["attempts"]) == (JobStatus.DEAD, 1)
        assert touches_of(live.engine, job_id) == 0
    listed = run_crm(["jobs", "list", "--status", "dead", "--limit", "100"], live.env, live.workdir)
    assert listed.returncode == 0, listed.stderr
    assert str(asked) in listed.stdout and str(exhausted) in listed.stdout


def test_a_repeated_delivery_is_a_no_op(live: Live) -> None:
    (slow,) = crm_touch(live.env, live.workdir, 1, seconds=1.5)
    (quick,) = crm_touch(live.env, live.workdir, 1)

    if live.deliveries is not None:  # delivered again while it runs, and after
        live.deliveries.send(slow, times=3)
        live.deliveries.send(quick, times=3)
    for job_id in (slow, quick):
        live.wait_status(job_id, JobStatus.DONE)
    if live.deliveries is not None:
        live.deliveries.send(slow, times=2)
        live.deliveries.send(quick, times=2)
    else:  # the polling worker has no broker: a second runner's delivery of a done job
        store = SqlJobStore(live.engine)
        runner = JobRunner(live.uow, store, core_handlers(store, SystemClock()), SystemClock())
        assert runner.run_one(uuid.UUID(slow)) is False
        assert runner.run_one(uuid.UUID(quick)) is False
    later, _ = live.add()
    live.wait_status(later, JobStatus.DONE)
    for job_id in (slow, quick):
        assert touches_of(live.engine, job_id) == 1
        row = job_row(live.engine, job_id)
        assert row is not None and row["attempts"] == 1
