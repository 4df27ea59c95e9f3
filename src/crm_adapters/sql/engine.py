"""Engines for SQLite (the default file database) and PostgreSQL (psycopg 3)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any, overload

import psycopg
from psycopg import Column
from psycopg.pq import ExecStatus
from psycopg.pq.abc import PGresult
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError

DEFAULT_SQLITE_PATH = Path("var") / "crm.sqlite3"
# A request never waits on the database for more than a few seconds (then it answers 503):
# connecting, taking a pooled connection, waiting for a lock and running one statement are
# each bounded by this. Migrations pass `max_wait=None`: a long ALTER is not a stuck server.
MAX_WAIT_SECONDS = 5.0
POOL_SIZE = 16
IDLE_PING_SECONDS = 10.0
# How much longer than `max_wait` a client waits for a silent server (see _BoundedConnection).
CLIENT_GRACE_SECONDS = 1.0


def default_database_url() -> str:
    """The SQLite file `var/crm.sqlite3` in the working directory."""
    return f"sqlite:///{DEFAULT_SQLITE_PATH}"


def create_database_engine(
    url: str | None = None, *, max_wait: float | None = MAX_WAIT_SECONDS, **options: Any
) -> Engine:
    """An engine for `url` (default: the SQLite file), configured for the CRM's needs.

    `max_wait` bounds, in seconds, every wait on the database (None: no bound); a wait
    over it raises `OperationalError`, or `sqlalchemy.exc.TimeoutError` for the pool.
    """
    parsed = make_url(url or default_database_url())
    backend = parsed.get_backend_name()

    if backend == "sqlite":
        return _sqlite_engine(parsed, max_wait, options)
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        connect_args = {
            **_postgres_bounds(max_wait, parsed.query),
            "cursor_factory": _Cursor,
            **options.pop("connect_args", {}),
        }
        if max_wait is not None:
            options.setdefault("pool_timeout", max_wait)
        _pool_size(options)
        # hide_parameters: a failing statement's log line must not carry contacts' data or hashes.
        engine = create_engine(parsed, hide_parameters=True, connect_args=connect_args, **options)
        _ping_when_idle(engine)
        if max_wait is not None:
            _bound_client_waits(engine, max_wait + CLIENT_GRACE_SECONDS)
        return engine
    raise ValueError(f"unsupported database: {parsed.drivername}")


def _postgres_bounds(max_wait: float | None, query: Mapping[str, Any]) -> dict[str, Any]:
    """libpq connection parameters; bounds the URL names itself (`?connect_timeout=2`) win."""
    # Aware UTC comes back whatever the server's default zone is.
    settings = ["timezone=UTC"]
    bounds: dict[str, Any] = {}
    if max_wait is not None:
        wait_ms = round(max_wait * 1000)
        # The server cancels a statement (QueryCanceled) or a lock wait (LockNotAvailable)
        # over the bound: a lock wait is cut short first, as the commoner way to get stuck.
        settings += [f"statement_timeout={wait_ms}", f"lock_timeout={max(wait_ms * 3 // 5, 1)}"]
        bounds = {
            # libpq counts whole seconds, at least 2.
            "connect_timeout": max(2, round(max_wait)),
            # A server gone silent mid-connection (sent data not acknowledged): give up.
            "tcp_user_timeout": wait_ms,
        }
    bounds["options"] = " ".join(f"-c {setting}" for setting in settings)
    return {name: value for name, value in bounds.items() if name == "options" or name not in query}


class _Description(Sequence[Column]):
    """A result's `Cursor.description`, its columns built when first read (and the result let
    go of then)."""

    __slots__ = ("_columns", "_count", "_cursor", "_result")

    def __init__(self, cursor: psycopg.Cursor[Any], result: PGresult) -> None:
        self._cursor: psycopg.Cursor[Any] | None = cursor
        self._result: PGresult | None = result
        self._count = result.nfields
        self._columns: list[Column] | None = None

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> Column: ...
    @overload
    def __getitem__(self, index: slice) -> list[Column]: ...
    def __getitem__(self, index: int | slice) -> Column | list[Column]:
        return self._built()[index]

    def _built(self) -> list[Column]:
        if self._columns is None:
            assert self._cursor is not None
            # What psycopg's Column reads from a cursor, for this result: the cursor's own
            # result is its latest statement's.
            source: Any = SimpleNamespace(
                pgresult=self._result,
                adapters=self._cursor.adapters,
                _encoding=self._cursor.connection.info.encoding,
            )
            self._columns = [Column(source, field) for field in range(self._count)]
            self._cursor = self._result = None
        return self._columns

    def __eq__(self, other: object) -> bool:
        return list(self) == other if isinstance(other, Sequence) else NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self._built())


_ROWS = (ExecStatus.TUPLES_OK, ExecStatus.SINGLE_TUPLE, ExecStatus.TUPLES_CHUNK)


class _Cursor(psycopg.Cursor[Any]):
    """psycopg's cursor, its `description`'s columns built when read.

    psycopg builds a Column object per field whenever `description` is asked for. SQLAlchemy
    asks after every statement, but for a compiled statement reads the columns only the first
    time it runs (it keeps the result's metadata after; `text()` and driver SQL are described
    each time): otherwise it only tells a result with rows from one without. The columns
    rely on psycopg's Column reading `pgresult`, `adapters` and `_encoding` from what it is
    given (tests/integration/sql/test_cursor_description.py compares them with psycopg's).
    """

    @property
    def description(self) -> Sequence[Column] | None:  # type: ignore[override]
        result = self.pgresult
        if result is None or not (result.nfields or result.status in _ROWS):
            return None
        return _Description(self, result)


class _BoundedConnection(psycopg.Connection[Any]):
    """A psycopg connection that waits for the server for `bound` seconds at most.

    The server-side bounds (statement and lock timeouts) need a server that runs; one that
    stops answering (frozen, or its host gone) while its sockets stay open would keep a
    pooled connection waiting for ever, since the kernel still acknowledges what is sent.
    Over the bound, the connection is closed (its state is unknown) and the wait raises
    OperationalError: the pool drops it and the request answers 503.
    """

    bound: float = MAX_WAIT_SECONDS + 1.0

    def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
        try:
            return super().wait(gen, interval, self.bound if timeout is None else timeout)
        except _WAIT_TIMEOUT as error:
            self.pgconn.finish()
            raise psycopg.OperationalError(
                f"the database did not answer within {self.bound:g} s"
            ) from error


# psycopg raises this (an OperationalError) when `wait` runs out of its timeout.
_WAIT_TIMEOUT: type[Exception] = getattr(psycopg.errors, "_WaitTimeout", psycopg.OperationalError)


def _bound_client_waits(engine: Engine, bound: float) -> None:
    """Connects through `_BoundedConnection` with `bound`: a second more than the server's own
    statement timeout, which acts first while the server runs (keeping the connection)."""
    connection_class: type[_BoundedConnection] = type(
        "BoundedConnection", (_BoundedConnection,), {"bound": bound}
    )

    @event.listens_for(engine, "do_connect")
    def _connect(_dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        return connection_class.connect(*cargs, **cparams)


def _ping_when_idle(engine: Engine) -> None:
    """Checks a pooled connection before use only when it has lain idle for a while (the
    server may have restarted or dropped it meanwhile): a busy server pays no ping per
    request. A dead one is replaced by a new connection, up to the pool's three tries; a
    connection that dies in use fails that request alone, and the pool then drops the
    connections older than the failure."""

    @event.listens_for(engine, "checkin")
    def _idle_from(_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.pop("idle_since", None)
        if idle_since is None or time.monotonic() - idle_since < IDLE_PING_SECONDS:
            return
        try:
            cursor = connection.cursor()
            try:
                cursor.execute("SELECT 1")
            finally:
                cursor.close()
            # The driver may have opened a transaction for the ping: a connection leaves the
            # pool idle, or it could not be switched to autocommit for a read.
            connection.rollback()
        except Exception as error:  # whatever the driver says, this connection is gone
            raise DisconnectionError("a pooled connection did not answer") from error


def _pool_size(options: dict[str, Any]) -> None:
    """A request may hold two connections at once (its reads' and its unit of work's), on
    each of a worker's threads."""
    options.setdefault("pool_size", POOL_SIZE)
    options.setdefault("max_overflow", POOL_SIZE)


def _casefold(value: str | None) -> str | None:
    return value.casefold() if isinstance(value, str) else value


def _sqlite_engine(url: Any, max_wait: float | None, options: dict[str, Any]) -> Engine:
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    # How long a write waits for another's lock on the file ("database is locked" after).
    busy_timeout_ms = round((max_wait if max_wait is not None else 30.0) * 1000)
    if max_wait is not None and database and database != ":memory:" and "file:" not in database:
        # A file database has a queue of connections (memory ones have one per thread).
        options.setdefault("pool_timeout", max_wait)
        _pool_size(options)
    connect_args = {
        "timeout": busy_timeout_ms / 1000,
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
            cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    return engine
