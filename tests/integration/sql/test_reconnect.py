"""Pooled PostgreSQL connections the server dropped: no ping per checkout, yet an idle pool
heals before use, and a connection that dies in use fails one read and no more."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from crm_adapters.sql import engine as engines
from crm_adapters.sql.engine import create_database_engine
from crm_adapters.sql.reads import ReadConnections
from tests.integration.conftest import POSTGRES_URL, fresh_postgres_database
from tests.integration.sql.conftest import sent_by

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not POSTGRES_URL, reason="CRM_TEST_POSTGRES_URL is not set"),
]


@pytest.fixture
def engine() -> Iterator[Engine]:
    with fresh_postgres_database() as url:
        engine = create_database_engine(url)
        yield engine
        engine.dispose()


def drop_connections(engine: Engine) -> int:
    """Ends every server session on the engine's database, as a restart would."""
    name = engine.url.database
    dsn = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(dsn, autocommit=True) as admin:
        ended = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        ).fetchone()
    return int(ended[0]) if ended else 0


def read(reads: ReadConnections) -> int:
    with reads.connect() as connection:
        return int(connection.scalar(text("SELECT 1")) or 0)


def test_an_idle_pool_whose_connections_were_dropped_answers_the_next_read(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = ReadConnections(engine)
    assert read(reads) == 1
    assert drop_connections(engine) >= 1
    monkeypatch.setattr(engines, "IDLE_PING_SECONDS", 0.0)  # every pooled connection is idle

    assert read(reads) == 1


def test_an_idle_connection_that_answers_its_ping_serves_an_autocommit_read(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = ReadConnections(engine)
    assert read(reads) == 1
    monkeypatch.setattr(engines, "IDLE_PING_SECONDS", 0.0)

    # The ping must not leave the driver in a transaction: a read switches to autocommit.
    assert read(reads) == 1
    assert read(reads) == 1


def test_a_busy_pool_sends_no_ping_and_one_dead_connection_fails_one_read_only(
    engine: Engine,
) -> None:
    reads = ReadConnections(engine)
    read(reads)
    assert sent_by(engine, lambda: read(reads)) == ["SELECT 1"]  # the read alone: no BEGIN, no ping
    drop_connections(engine)

    with pytest.raises(OperationalError):
        read(reads)  # used within the idle bound, so not pinged: this read sees the loss

    assert read(reads) == 1  # the pool dropped the dead connection: the next read works
