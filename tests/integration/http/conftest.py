"""An in-process app on a migrated database, for tests of the HTTP machinery itself."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from crm_adapters.sql.migrate import upgrade
from crm_core.tenancy import Role
from crm_http.app import create_app
from crm_http.config import Settings
from crm_http.container import Container


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    upgrade(database_url)
    return Settings(database_url=database_url, secret_key="test-secret", var_dir=tmp_path)


@pytest.fixture
def container() -> Container:
    return Container()


@pytest.fixture
def app(settings: Settings, container: Container) -> Iterator[Flask]:
    app = create_app(settings, container)
    app.config["TESTING"] = True
    yield app
    container.engine().dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def token(app: Flask, container: Container) -> str:
    _, secret = container.access().create_user("Ромашка", "admin@example.com", "pw", Role.ADMIN)
    return secret


@pytest.fixture
def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
