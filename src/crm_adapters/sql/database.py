"""A database ready for the use cases, in one call: for library users, scripts and tests."""

from __future__ import annotations

from collections.abc import Callable

import attrs
from sqlalchemy import Engine
from sqlalchemy.pool import StaticPool

from crm_adapters.sql.engine import create_database_engine
from crm_adapters.sql.migrate import upgrade
from crm_adapters.sql.read_model import SqlReadModel
from crm_adapters.sql.unit_of_work import SqlUnitOfWork, unit_of_work_factory

IN_MEMORY = "sqlite://"


@attrs.frozen
class Database:
    """What the use cases take (`unit_of_work`) and what reads answer from (`read_model`)."""

    engine: Engine
    unit_of_work: Callable[[], SqlUnitOfWork]
    read_model: SqlReadModel


def open_database(url: str = IN_MEMORY) -> Database:
    """The database at `url`, migrated to the newest schema; by default a private in-memory
    SQLite database that lives as long as the returned object."""
    in_memory = url in (IN_MEMORY, "sqlite:///:memory:")
    # One shared connection: each new connection to ":memory:" would be another database.
    engine = (
        create_database_engine(url, poolclass=StaticPool)
        if in_memory
        else create_database_engine(url)
    )
    upgrade(engine)
    return Database(engine, unit_of_work_factory(engine), SqlReadModel(engine))
