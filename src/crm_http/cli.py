"""The `crm` command: serve, worker, jobs, db upgrade, create-user, create-token, demo."""

from __future__ import annotations

import argparse
import logging
import re
import signal
import sys
import threading
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from crm_core.errors import DomainError
from crm_core.tenancy import Role
from crm_http.config import Settings, SettingsError
from crm_http.container import Container, configure

log = logging.getLogger("crm")


def _container(settings: Settings) -> Container:
    container = Container()
    configure(container, settings)
    return container


def _ensure_migrated(settings: Settings) -> None:
    from crm_adapters.sql.migrate import is_up_to_date

    if not is_up_to_date(settings.database_url):
        raise SystemExit("The database is not migrated (or is behind): run `crm db upgrade` first.")


def cmd_db_upgrade(settings: Settings, args: argparse.Namespace) -> int:
    from crm_adapters.sql.migrate import upgrade

    upgrade(settings.database_url)
    print("The database is up to date.", file=sys.stderr)
    return 0


def cmd_create_user(settings: Settings, args: argparse.Namespace) -> int:
    _ensure_migrated(settings)
    access = _container(settings).access()
    _, token = access.create_user(
        args.company, args.email, args.password, Role(args.role), args.full_name or ""
    )
    print(f"Created {args.role} {args.email} in company «{args.company}». API token:")
    print(token)
    return 0


def cmd_create_token(settings: Settings, args: argparse.Namespace) -> int:
    _ensure_migrated(settings)
    print(_container(settings).access().issue_token(args.email))
    return 0


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from crm_http.demo import DEMO_ADMIN, DEMO_PASSWORD, load_demo

    _ensure_migrated(settings)
    container = _container(settings)
    with container.uow()() as uow:
        empty = not uow.companies.any()
        has_demo_admin = uow.users.by_email(DEMO_ADMIN) is not None
    if empty:
        token = load_demo(container)
        print(f"Demo data loaded. Sign in as {DEMO_ADMIN} / {DEMO_PASSWORD}.", file=sys.stderr)
    elif has_demo_admin:
        token = container.access().issue_token(DEMO_ADMIN)
        print("The database is not empty: a new token for the demo admin.", file=sys.stderr)
    else:
        # Someone's own data: leave it alone, and let `make run` go on to serve it.
        print(
            "The database holds data and no demo company: no demo loaded. "
            "Make a token with `crm create-token --email ...`.",
            file=sys.stderr,
        )
        return 0
    base = f"http://{args.host}:{args.port}"
    print(f'curl -H "Authorization: Bearer {token}" {base}/api/crm/funnels/')
    print(token)
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    from crm_http.server import serve

    _ensure_migrated(settings)
    serve(settings, args.host, args.port, workers=args.workers, threads=args.threads)
    return 0


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    """Runs jobs until SIGTERM or SIGINT: then takes no new ones, lets running ones finish
    for up to CRM_JOB_GRACE_SECONDS, hands back those still running, and exits 0."""
    from crm_adapters.jobs.broker import DramatiqWorker
    from crm_adapters.jobs.polling import PollingWorker

    if settings.jobs == "inline":
        print(
            "crm: CRM_JOBS=inline runs each job right after the commit that enqueues it, "
            "in that process: inline needs no worker (set CRM_JOBS=db or dramatiq).",
            file=sys.stderr,
        )
        return 2
    _ensure_migrated(settings)
    container = _container(settings)
    stopping = threading.Event()

    def stop(signum: int, _: Any) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    # SqlUnitOfWork names its concrete `jobs` (it reads what they enqueued), which a Protocol's
    # mutable attribute does not accept: typed loosely here, as the views do.
    uow = container.uow()
    worker: PollingWorker | DramatiqWorker
    if settings.jobs == "dramatiq":
        assert settings.broker_url  # Settings refuses dramatiq without one
        worker = DramatiqWorker(
            container.job_runner(),
            uow,
            settings.broker_url,
            threads=args.threads,
            sweep=settings.job_sweep_seconds,
        )
    else:
        worker = PollingWorker(
            container.job_runner(),
            uow,
            threads=args.threads,
            poll=settings.job_poll_seconds,
            sweep=settings.job_sweep_seconds,
        )
    worker.start()
    print(f"worker ready ({settings.jobs}, {args.threads} threads)", file=sys.stderr, flush=True)
    while not stopping.wait(0.5):
        pass
    print("worker stopping: no new jobs taken", file=sys.stderr, flush=True)
    released = worker.stop(settings.job_grace_seconds)
    print(f"worker stopped ({released} unfinished jobs released)", file=sys.stderr, flush=True)
    container.engine().dispose()
    return 0


def _one_line(value: object) -> str:
    return " ".join(str(value).split()) if value is not None else "-"


def cmd_jobs_list(settings: Settings, args: argparse.Namespace) -> int:
    _ensure_migrated(settings)
    for job in _container(settings).job_store().listing(args.status, args.kind, args.limit):
        run_after = job["run_after"].isoformat(timespec="seconds")
        attempts = f"{job['attempts']}/{job['max_attempts']}"
        fields = (job["id"], job["kind"], job["status"], attempts, run_after, job["last_error"])
        print("  ".join(_one_line(field) for field in fields))
    return 0


def cmd_jobs_retry(settings: Settings, args: argparse.Namespace) -> int:
    _ensure_migrated(settings)
    try:
        job_id = uuid.UUID(args.id)
    except ValueError:
        print(f"crm: {args.id!r} is not a job id", file=sys.stderr)
        return 1
    container = _container(settings)
    if not container.job_store().retry(job_id, container.clock().now()):
        print(f"crm: job {job_id} is not dead or done (or does not exist)", file=sys.stderr)
        return 1
    container.waker()([job_id])  # a broker's workers hear of it now, not at the next sweep
    print(f"job {job_id} is pending again", file=sys.stderr)
    return 0


DURATION = re.compile(r"^(\d+)([dhm])$")
UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def _duration(text: str) -> timedelta:
    matched = DURATION.match(text.strip())
    if not matched:
        raise argparse.ArgumentTypeError(f"{text!r}: say 7d, 12h or 30m")
    return timedelta(**{UNITS[matched[2]]: int(matched[1])})


def cmd_jobs_prune(settings: Settings, args: argparse.Namespace) -> int:
    _ensure_migrated(settings)
    container = _container(settings)
    print(container.job_store().prune(container.clock().now() - args.older_than))
    return 0


def cmd_jobs_touch(settings: Settings, args: argparse.Namespace) -> int:
    from crm_core.services.jobs import enqueue_touches

    _ensure_migrated(settings)
    container = _container(settings)
    uow = container.uow()
    for job_id in enqueue_touches(uow, container.clock(), args.count, args.seconds):
        print(job_id, flush=True)
    return 0


def cmd_wazzup_reprocess(settings: Settings, args: argparse.Namespace) -> int:
    """Processes the stored webhook deliveries not processed yet; prints how many."""
    _ensure_migrated(settings)
    print(_container(settings).inbound().process_stored(None, args.limit))
    return 0


def cmd_wazzup_check(settings: Settings, args: argparse.Namespace) -> int:
    """Checks every active account's channel and webhook; exits 1 when one is not right."""
    _ensure_migrated(settings)
    healthy = True
    for check in _container(settings).messaging_accounts().check_all():
        webhook = {True: "webhook ours", False: "webhook NOT ours", None: "webhook unknown"}
        state = "connected" if check.is_connected else "NOT connected"
        print(
            "  ".join(
                _one_line(part)
                for part in (
                    check.account_id,
                    check.name,
                    state,
                    webhook[check.webhook_is_ours],
                    check.error or "",
                )
            )
        )
        healthy &= check.is_connected and check.webhook_is_ours is True
    return 0 if healthy else 1


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _not_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def _prepare_sqlite_dir(url: str) -> None:
    """`sqlite:///var/crm.sqlite3` needs `var/` to exist before SQLite can create the file."""
    from pathlib import Path

    prefix = "sqlite:///"
    if url.startswith(prefix) and url != "sqlite:///:memory:":
        Path(url[len(prefix) :]).parent.mkdir(parents=True, exist_ok=True)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="crm", description="The sales-funnel CRM.")
    commands = root.add_subparsers(dest="command", required=True)

    serve = commands.add_parser(
        "serve", help="serve the HTTP API (gunicorn worker processes serving with waitress)"
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=_positive, default=2, help="worker processes")
    serve.add_argument(
        "--threads", type=_positive, default=8, help="threads running requests, per worker"
    )
    serve.set_defaults(run=cmd_serve)

    worker = commands.add_parser("worker", help="run background jobs (CRM_JOBS=db or dramatiq)")
    worker.add_argument("--threads", type=_positive, default=4)
    worker.set_defaults(run=cmd_worker)

    jobs = commands.add_parser("jobs", help="look at and manage background jobs")
    jobs_commands = jobs.add_subparsers(dest="jobs_command", required=True)
    listing = jobs_commands.add_parser("list", help="the newest jobs, one line each")
    listing.add_argument("--status", choices=["pending", "running", "done", "dead"])
    listing.add_argument("--kind")
    listing.add_argument("--limit", type=_positive, default=50)
    listing.set_defaults(run=cmd_jobs_list)
    retry = jobs_commands.add_parser("retry", help="run a dead (or done) job again")
    retry.add_argument("id")
    retry.set_defaults(run=cmd_jobs_retry)
    prune = jobs_commands.add_parser("prune", help="delete done jobs; prints how many")
    prune.add_argument("--older-than", type=_duration, default=_duration("7d"), help="7d, 12h, 30m")
    prune.set_defaults(run=cmd_jobs_prune)
    touch = jobs_commands.add_parser("touch", help="enqueue touch jobs; prints their ids")
    touch.add_argument("--count", type=_positive, default=1)
    touch.add_argument("--seconds", type=_not_negative, default=0.0)
    touch.set_defaults(run=cmd_jobs_touch)

    wazzup = commands.add_parser("wazzup", help="the link with Wazzup")
    wazzup_commands = wazzup.add_subparsers(dest="wazzup_command", required=True)
    reprocess = wazzup_commands.add_parser(
        "reprocess", help="process stored webhook deliveries not processed yet; prints how many"
    )
    reprocess.add_argument("--limit", type=_positive, default=10_000)
    reprocess.set_defaults(run=cmd_wazzup_reprocess)
    wazzup_commands.add_parser(
        "check", help="check every active account's channel and webhook (exit 1 if one is off)"
    ).set_defaults(run=cmd_wazzup_check)

    db = commands.add_parser("db", help="database migrations")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", help="apply every migration").set_defaults(run=cmd_db_upgrade)

    user = commands.add_parser("create-user", help="create a user (and the company if new)")
    user.add_argument("--company", required=True)
    user.add_argument("--email", required=True)
    user.add_argument("--password")
    user.add_argument("--role", choices=[role.value for role in Role], default="manager")
    user.add_argument("--full-name")
    user.set_defaults(run=cmd_create_user)

    token = commands.add_parser("create-token", help="a new API token for an existing user")
    token.add_argument("--email", required=True)
    token.set_defaults(run=cmd_create_token)

    demo = commands.add_parser("demo", help="load the demo company into an empty database")
    demo.add_argument("--host", default="127.0.0.1", help="for the printed curl line")
    demo.add_argument("--port", type=int, default=8000, help="for the printed curl line")
    demo.set_defaults(run=cmd_demo)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args: Any = parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        print(f"crm: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level, format="%(message)s")
    # Alembic narrates every plugin it loads at INFO; only its warnings matter here.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.root.level))
    # pika (RabbitMQ) narrates every connection step at INFO.
    logging.getLogger("pika").setLevel(max(logging.WARNING, logging.root.level))
    _prepare_sqlite_dir(settings.database_url)
    try:
        result: int = args.run(settings, args)
    except DomainError as error:
        print(f"crm: {error.detail}", file=sys.stderr)
        return 1
    return result


if __name__ == "__main__":
    sys.exit(main())
