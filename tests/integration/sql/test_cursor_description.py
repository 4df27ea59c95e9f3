"""The PostgreSQL engine's cursors describe a result's columns only when they are read, and
describe that result's, whatever the cursor ran since."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, text

from crm_adapters.sql.engine import create_database_engine
from tests.integration.conftest import POSTGRES_URL, fresh_postgres_database

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not POSTGRES_URL, reason="CRM_TEST_POSTGRES_URL is not set"),
]

TWO_COLUMNS = "SELECT 1::int AS number, 'a'::varchar(3) AS word"


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    with fresh_postgres_database() as url:
        engine = create_database_engine(url)
        yield engine
        engine.dispose()


def described(description: Any) -> list[tuple[Any, ...]]:
    return [tuple(column) for column in description]


def psycopgs_own(statement: str) -> list[tuple[Any, ...]]:
    dsn = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(dsn) as connection, connection.cursor() as cursor:
        cursor.execute(statement)
        return described(cursor.description)


def test_a_description_is_psycopgs_own(engine: Engine) -> None:
    with engine.connect() as connection:
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        cursor.execute(TWO_COLUMNS)
        description = cursor.description
        assert len(description) == 2
        assert described(description) == psycopgs_own(TWO_COLUMNS)
        assert [column.name for column in description[:1]] == ["number"]


def test_a_description_keeps_to_its_result(engine: Engine) -> None:
    with engine.connect() as connection:
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        cursor.execute(TWO_COLUMNS)
        first = cursor.description
        cursor.execute("SELECT now() AS at")
        assert [column.name for column in first] == ["number", "word"]
        assert [column.name for column in cursor.description] == ["at"]


def test_no_rows_no_description(engine: Engine) -> None:
    with engine.connect() as connection:
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        cursor.execute("SET LOCAL statement_timeout = 1000")
        assert cursor.description is None
        cursor.execute("SELECT")  # rows of no columns: described, and empty
        assert cursor.description == []


def test_results_read_through_sqlalchemy(engine: Engine) -> None:
    with engine.connect() as connection:
        result = connection.execute(text(TWO_COLUMNS))
        assert list(result.keys()) == ["number", "word"]
        assert result.one() == (1, "a")
