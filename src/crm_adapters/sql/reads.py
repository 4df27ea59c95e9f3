"""Connections for reads, and the token read that authenticates every request.

A read needs no transaction of its own: under READ COMMITTED each statement sees the data
committed before it began whether or not a BEGIN came first. So reads run in autocommit mode,
which spares the BEGIN and ROLLBACK round trips; and within a scope (one HTTP request), every
read uses the same pooled connection, taken at the first read and given back at the end.

A scope also keeps the row its latest commit read back (`committed`): on PostgreSQL the
statement that inserts a new lead or deal reads back its detail too, and the detail read that
follows in the same request (the 201's body) takes that row instead of asking again.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import attrs
from sqlalchemy import Connection, Engine, bindparam, select

from crm_adapters.sql import tables as t
from crm_core.ports import Row
from crm_core.tenancy import Credential


@attrs.define
class _Scope:
    connection: Connection | None = None
    written: tuple[Hashable, Row] | None = None  # the latest commit's row, under its key


class ReadConnections:
    """Where reads get their connection: the scope's (see `scope`), or a new one per read."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._scope: ContextVar[_Scope | None] = ContextVar(f"reads_{id(self)}", default=None)

    def _open(self) -> Connection:
        return self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        scope = self._scope.get()
        if scope is None:
            with self._open() as connection:
                yield connection
            return
        if scope.connection is None:
            scope.connection = self._open()
        yield scope.connection

    def in_scope(self) -> bool:
        """Whether this context is in a scope: only then is a row read back by a commit
        taken by a later read."""
        return self._scope.get() is not None

    def committed(self, written: tuple[Hashable, Row] | None) -> None:
        """A commit in this scope: the row it read back, under its key, or None. Either way
        it replaces the row an earlier commit kept, which may be stale now."""
        scope = self._scope.get()
        if scope is not None:
            scope.written = written

    def take_written(self, key: Hashable) -> Row | None:
        """The row the scope's latest commit read back under `key`, once: a later read asks
        the database."""
        scope = self._scope.get()
        if scope is None or scope.written is None or scope.written[0] != key:
            return None
        row, scope.written = scope.written[1], None
        return row

    def begin_scope(self) -> object:
        """Starts a scope in this context (no connection is taken until a read needs one);
        `end_scope` with the returned token gives the connection back."""
        return self._scope.set(_Scope())

    def end_scope(self, token: object) -> None:
        scope = self._scope.get()
        self._scope.reset(token)  # type: ignore[arg-type]
        if scope is not None and scope.connection is not None:
            scope.connection.close()

    @contextmanager
    def scope(self) -> Iterator[None]:
        token = self.begin_scope()
        try:
            yield
        finally:
            self.end_scope(token)


# Built once: every request runs it.
_CREDENTIAL = (
    select(
        t.users.c.id,
        t.users.c.company_id,
        t.users.c.role,
        t.users.c.is_active,
        t.api_tokens.c.revoked_at,
    )
    .join_from(t.api_tokens, t.users, t.users.c.id == t.api_tokens.c.user_id)
    .where(t.api_tokens.c.token_hash == bindparam("token_hash"))
)


class SqlCredentials:
    """crm_core.ports.CredentialReader: the token and its user in one statement."""

    def __init__(self, reads: ReadConnections) -> None:
        self.reads = reads

    def credential(self, token_hash: str) -> Credential | None:
        with self.reads.connect() as connection:
            row = connection.execute(_CREDENTIAL, {"token_hash": token_hash}).first()
        if row is None:
            return None
        return Credential(
            user_id=row.id,
            company_id=row.company_id,
            role=row.role,
            user_is_active=row.is_active,
            revoked_at=row.revoked_at,
        )


__all__ = ["ReadConnections", "SqlCredentials"]
