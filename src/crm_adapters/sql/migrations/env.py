"""Alembic environment: runs on the connection that crm_adapters.sql.migrate hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from crm_adapters.sql.tables import metadata


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things: batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "Run migrations through crm_adapters.sql.migrate (or `crm db upgrade`), "
        "which passes the database connection."
    )
run_migrations(connection)
