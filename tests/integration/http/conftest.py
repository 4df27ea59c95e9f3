"""An in-process app on a migrated database, for tests of the HTTP machinery itself."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from crm_adapters.sql.migrate import upgrade
from crm_core.tenancy import Role
from crm_http.app import create_app
from crm_http.config import Settings
from crm_http.container import Container


@pytest.fixture(scope="module")
def settings(module_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    upgrade(module_database_url)
    var_dir = tmp_path_factory.mktemp("var")
    return Settings(database_url=module_database_url, secret_key="test-secret", var_dir=var_dir)


@pytest.fixture(scope="module")
def container(settings: Settings) -> Container:
    # Depends on `settings`, so that each backend's module run gets its own container.
    return Container()


@pytest.fixture(scope="module")
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
    """An admin of a company of their own, new for each test."""
    tag = uuid.uuid4().hex[:8]
    _, secret = container.access().create_user(
        f"Ромашка {tag}", f"admin-{tag}@example.com", None, Role.ADMIN
    )
    return secret


@pytest.fixture
def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
