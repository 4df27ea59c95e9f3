"""Real databases for the integration tests: SQLite always, PostgreSQL when
CRM_TEST_POSTGRES_URL names a server. Each request for a database gets a fresh, empty one."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

POSTGRES_URL = os.environ.get("CRM_TEST_POSTGRES_URL", "")

BACKENDS = [
    "sqlite",
    pytest.param(
        "postgres",
        marks=[
            pytest.mark.postgres,
            pytest.mark.skipif(not POSTGRES_URL, reason="CRM_TEST_POSTGRES_URL is not set"),
        ],
    ),
]


def _postgres_admin_dsn() -> str:
    """psycopg speaks plain libpq URLs, without SQLAlchemy's driver suffix."""
    return POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://", 1)


def _with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """An empty PostgreSQL database of its own, dropped afterwards (usable at any scope)."""
    import psycopg

    name = f"crm_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_postgres_admin_dsn(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(POSTGRES_URL, name)
    finally:
        with psycopg.connect(_postgres_admin_dsn(), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def fresh_postgres() -> Iterator[str]:
    with fresh_postgres_database() as url:
        yield url


def make_database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'crm.sqlite3'}"
    return str(request.getfixturevalue("fresh_postgres"))


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database (not migrated) on each backend in turn."""
    return make_database_url(request.param, tmp_path, request)
