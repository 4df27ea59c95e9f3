"""The `crm` command: serve, db upgrade, create-user, create-token, demo."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any

from crm_core.errors import DomainError
from crm_core.tenancy import Role
from crm_http.config import Settings
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


def _prepare_sqlite_dir(url: str) -> None:
    """`sqlite:///var/crm.sqlite3` needs `var/` to exist before SQLite can create the file."""
    from pathlib import Path

    prefix = "sqlite:///"
    if url.startswith(prefix) and url != "sqlite:///:memory:":
        Path(url[len(prefix) :]).parent.mkdir(parents=True, exist_ok=True)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="crm", description="The sales-funnel CRM.")
    commands = root.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the HTTP API (gunicorn)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=2)
    serve.add_argument("--threads", type=int, default=8)
    serve.set_defaults(run=cmd_serve)

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
    settings = Settings.from_env()
    logging.basicConfig(level=settings.log_level, format="%(message)s")
    # Alembic narrates every plugin it loads at INFO; only its warnings matter here.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.root.level))
    _prepare_sqlite_dir(settings.database_url)
    try:
        result: int = args.run(settings, args)
    except DomainError as error:
        print(f"crm: {error.detail}", file=sys.stderr)
        return 1
    return result


if __name__ == "__main__":
    sys.exit(main())
