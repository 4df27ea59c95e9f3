"""Migrations from an empty database to head and back to base, on each backend."""

from __future__ import annotations

from sqlalchemy import inspect

from crm_adapters.sql.engine import create_database_engine
from crm_adapters.sql.migrate import downgrade, is_up_to_date, upgrade
from crm_adapters.sql.tables import metadata


def table_names(url: str) -> set[str]:
    engine = create_database_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_to_head_and_downgrade_to_base(database_url: str) -> None:
    assert not is_up_to_date(database_url)

    upgrade(database_url)
    assert is_up_to_date(database_url)
    assert table_names(database_url) == set(metadata.tables) | {"alembic_version"}
    upgrade(database_url)  # nothing left to do
    assert is_up_to_date(database_url)

    downgrade(database_url)
    assert not is_up_to_date(database_url)
    assert table_names(database_url) <= {"alembic_version"}

    upgrade(database_url)
    assert is_up_to_date(database_url)


def test_the_migrated_schema_matches_the_tables(database_url: str) -> None:
    """Autogenerate finds nothing to add: the migration and tables.py agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    upgrade(database_url)
    engine = create_database_engine(database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": False})
            differences = compare_metadata(context, metadata)
    finally:
        engine.dispose()
    # SQLite cannot report deferrable foreign keys and names them differently; the tables
    # and indexes are what matter.
    relevant = [
        d
        for d in differences
        if d[0]
        in ("add_table", "remove_table", "add_column", "remove_column", "add_index", "remove_index")
    ]
    assert relevant == []
