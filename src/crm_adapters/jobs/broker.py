"""`CRM_JOBS=dramatiq`: a broker (Redis or RabbitMQ) only wakes workers; the jobs table stays
the truth. One actor, `run_job(job_id)`, with no retries of its own (retries live in the
table); a sweeper thread per worker process re-sends due and lease-expired jobs, so that a
message lost with a broker, or never sent after a commit, delays a job but never loses it.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from crm_adapters.jobs.running import offer_periodic_jobs
from crm_core.ports import UnitOfWork
from crm_core.services.jobs import JobRunner

log = logging.getLogger("crm.jobs")

QUEUE = "default"  # Dramatiq's own default: any Dramatiq client can wake a worker
ACTOR = "run_job"
CHECK_TIMEOUT = 2.0  # seconds: how long health waits for the broker
SWEEP_LIMIT = 500  # ids re-sent per sweep and process: a backlog drains over a few sweeps


def _is_redis(url: str) -> bool:
    return urlsplit(url).scheme in ("redis", "rediss")


def _with_query(url: str, **params: object) -> str:
    extra = "&".join(f"{name}={value}" for name, value in params.items())
    return f"{url}{'&' if '?' in url else '?'}{extra}"


def create_broker(url: str) -> Any:
    """A Dramatiq broker from `CRM_BROKER_URL`: `redis://` or `amqp://`, with short socket
    timeouts, so that a broker that is down costs a request seconds, not minutes."""
    if _is_redis(url):
        import redis
        from dramatiq.brokers.redis import RedisBroker

        client = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=CHECK_TIMEOUT)
        return RedisBroker(client=client)  # type: ignore[no-untyped-call]
    from dramatiq.brokers.rabbitmq import RabbitmqBroker

    return RabbitmqBroker(
        url=_with_query(url, socket_timeout=CHECK_TIMEOUT, connection_attempts=1, heartbeat=30)
    )


def declare_run_job(broker: Any, run: Callable[[str], object]) -> Any:
    """The one actor on `broker`. `run` takes a job id as text; `max_retries=0` because a
    job's retries are the table's business, and a failed delivery is re-sent by a sweeper."""
    from dramatiq import Actor

    return Actor(
        run,
        broker=broker,
        actor_name=ACTOR,
        queue_name=QUEUE,
        priority=0,
        options={"max_retries": 0},
    )


def _not_here(job_id: str) -> None:
    raise RuntimeError("run_job runs in `crm worker`, not in the process that sends it")


class DramatiqWaker:
    """The unit of work's waker in `dramatiq` mode: one `run_job` message per enqueued job.
    The broker is connected on first use. A send that fails is only logged: the job is
    committed already, and a worker's sweeper sends it again."""

    def __init__(self, broker_url: str) -> None:
        self.broker_url = broker_url
        self._actor: Any = None
        self._lock = threading.Lock()

    def actor(self) -> Any:
        with self._lock:
            if self._actor is None:
                self._actor = declare_run_job(create_broker(self.broker_url), _not_here)
            return self._actor

    def __call__(self, job_ids: list[object]) -> None:
        try:
            actor = self.actor()
            for job_id in job_ids:
                actor.send(str(job_id))
        except Exception as error:  # the rows are committed: the sweepers will wake them
            log.warning("could not wake workers for %s jobs: %s", len(job_ids), error)


class DramatiqWorker:
    """`crm worker` in `dramatiq` mode: Dramatiq's own Worker with N threads consuming
    `run_job`, and a sweeper thread that re-sends due jobs every `sweep` seconds."""

    def __init__(
        self,
        runner: JobRunner,
        uow: Callable[[], UnitOfWork],
        broker_url: str,
        *,
        threads: int = 4,
        sweep: float = 5.0,
    ) -> None:
        self.runner = runner
        self.uow = uow
        self.threads = threads
        self.sweep = sweep
        self.broker = create_broker(broker_url)
        self.actor = declare_run_job(self.broker, self.run_job)
        self._worker: Any = None
        self._stopping = threading.Event()
        self._leaving = threading.Event()
        self._sweeper = threading.Thread(target=self._sweep, name="crm-jobs-sweeper", daemon=True)

    def run_job(self, job_id: str) -> None:
        if self._stopping.is_set():
            return  # stopping: the sweeper of a worker still running sends it again
        try:
            parsed = uuid.UUID(str(job_id))
        except ValueError:
            log.warning("run_job: %r is not a job id; message dropped", job_id)
            return
        try:
            self.runner.run_one(parsed)
        except Exception as error:  # the database is down: the row stays, a sweep re-sends
            log.warning("run_job %s: could not claim it: %s", parsed, error)

    def start(self) -> None:
        from dramatiq import Worker

        offer_periodic_jobs(self.uow, self.runner)
        self._worker = Worker(self.broker, worker_threads=self.threads, worker_timeout=1000)
        self._worker.start()
        self.sweep_once()
        self._sweeper.start()
        threading.Thread(
            target=self.runner.keep_leases,
            args=(self._leaving,),
            name="crm-jobs-leases",
            daemon=True,
        ).start()

    def sweep_once(self) -> int:
        """Sends `run_job` for every job that is due now or whose lease expired; returns how
        many (a job already woken is then delivered twice, and the second is a no-op)."""
        offer_periodic_jobs(self.uow, self.runner)
        try:
            due = self.runner.store.due(self.runner.clock.now(), SWEEP_LIMIT)
            for job_id in due:
                self.actor.send(str(job_id))
        except Exception as error:  # the database or the broker is down: next sweep
            log.warning("sweep failed: %s", error)
            return 0
        return len(due)

    def _sweep(self) -> None:
        while not self._stopping.wait(self.sweep):
            self.sweep_once()

    def stop(self, grace: float) -> int:
        """Takes no new messages, lets running jobs finish for up to `grace` seconds, then
        releases those still running; returns how many were released."""
        self._stopping.set()
        deadline = time.monotonic() + grace
        if self._worker is not None:
            # Dramatiq's stop may wait on its consumers' connections past any timeout given:
            # it runs aside, and the process leaves without it once the grace is over.
            stopping = threading.Thread(
                target=self._worker.stop, args=(int(grace * 1000),), daemon=True
            )
            stopping.start()
            stopping.join(grace)
        while self.runner.held_count() and time.monotonic() < deadline:
            time.sleep(0.05)
        self._leaving.set()
        return self.runner.release_held()


def broker_check(url: str) -> Callable[[], bool]:
    """Whether the broker answers within ~2 s: a Redis PING, or a RabbitMQ connection."""

    def check() -> bool:
        try:
            if _is_redis(url):
                import redis

                client = redis.Redis.from_url(
                    url, socket_timeout=CHECK_TIMEOUT, socket_connect_timeout=CHECK_TIMEOUT
                )
                try:
                    return bool(client.ping())
                finally:
                    client.close()
            import pika

            parameters = pika.URLParameters(
                _with_query(
                    url,
                    socket_timeout=CHECK_TIMEOUT,
                    connection_attempts=1,
                    blocked_connection_timeout=CHECK_TIMEOUT,
                    stack_timeout=CHECK_TIMEOUT,
                )
            )
            pika.BlockingConnection(parameters).close()
        except Exception:  # whatever the client raises, the broker does not answer
            return False
        return True

    return check
