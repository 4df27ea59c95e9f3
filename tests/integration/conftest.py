"""Real databases for the integration tests: SQLite always, PostgreSQL when
CRM_TEST_POSTGRES_URL names a server. Each request for a database gets a fresh, empty one."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

POSTGRES_URL = os.environ.get("CRM_TEST_POSTGRES_URL", "")

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


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
        for attempt in range(10):
            try:
                admin.execute(f'CREATE DATABASE "{name}"')
                break
            except psycopg.errors.ObjectInUse:
                # Another worker is creating a database from the same template right now.
                time.sleep(0.2 * (attempt + 1))
        else:
            raise RuntimeError("could not create a test database: template1 stays busy")
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


@pytest.fixture(scope="module", params=BACKENDS)
def module_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """An empty database shared by one test module, on each backend in turn."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'crm.sqlite3'}"
        return
    with fresh_postgres_database() as url:
        yield url
