"""Alembic migrations driven from code: `crm db upgrade` and the server's start-up check."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

from crm_adapters.sql.engine import create_database_engine

# Resolved from the installed package, so migrations run from any working directory.
SCRIPT_LOCATION = "crm_adapters.sql:migrations"


def _config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    # env.py runs on this connection: the engine's SQLite pragmas and functions apply.
    config.attributes["connection"] = connection
    return config


@contextmanager
def _connected(url: str | Engine) -> Iterator[Connection]:
    # A migration may wait for locks and run long: no bound on its waits.
    engine = url if isinstance(url, Engine) else create_database_engine(url, max_wait=None)
    try:
        with engine.begin() as connection:
            yield connection
    finally:
        if not isinstance(url, Engine):
            engine.dispose()


def upgrade(url: str | Engine, revision: str = "head") -> None:
    with _connected(url) as connection:
        command.upgrade(_config(connection), revision)


def downgrade(url: str | Engine, revision: str = "base") -> None:
    with _connected(url) as connection:
        command.downgrade(_config(connection), revision)


def current_revision(url: str | Engine) -> str | None:
    with _connected(url) as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    return ScriptDirectory.from_config(config).get_current_head()


def is_up_to_date(url: str | Engine) -> bool:
    """Whether the database stands at the newest migration (the server refuses otherwise)."""
    return current_revision(url) == head_revision()
