"""Engines for SQLite (the default file database) and PostgreSQL (psycopg 3)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

DEFAULT_SQLITE_PATH = Path("var") / "crm.sqlite3"
SQLITE_BUSY_TIMEOUT_MS = 10_000


def default_database_url() -> str:
    """The SQLite file `var/crm.sqlite3` in the working directory."""
    return f"sqlite:///{DEFAULT_SQLITE_PATH}"


def create_database_engine(url: str | None = None, **options: Any) -> Engine:
    """An engine for `url` (default: the SQLite file), configured for the CRM's needs."""
    parsed = make_url(url or default_database_url())
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed, options)
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        # Aware UTC comes back whatever the server's default zone is.
        connect_args = {"options": "-c timezone=UTC", **options.pop("connect_args", {})}
        # hide_parameters: a failing statement's log line must not carry contacts' data or hashes.
        return create_engine(
            parsed,
            pool_pre_ping=True,
            hide_parameters=True,
            connect_args=connect_args,
            **options,
        )
    raise ValueError(f"unsupported database: {parsed.drivername}")


def _casefold(value: str | None) -> str | None:
    return value.casefold() if isinstance(value, str) else value


def _sqlite_engine(url: Any, options: dict[str, Any]) -> Engine:
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    connect_args = {
        "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
        # The server answers from several threads; the pool hands each its own connection.
        "check_same_thread": False,
        **options.pop("connect_args", {}),
    }
    engine = create_engine(url, hide_parameters=True, connect_args=connect_args, **options)

    @event.listens_for(engine, "connect")
    def _configure(connection: sqlite3.Connection, _record: Any) -> None:
        # SQLite's LIKE and lower() fold ASCII only; filters fold through Python instead.
        connection.create_function("crm_casefold", 1, _casefold, deterministic=True)
        cursor = connection.cursor()
        try:
            if database not in ("", ":memory:"):
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    return engine
