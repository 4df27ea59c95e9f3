"""A database that does not answer: 503 problem+json everywhere, never a 500."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient

from crm_http.app import create_app
from crm_http.config import Settings
from crm_http.container import Container

NOBODY_LISTENS = "postgresql+psycopg://postgres@127.0.0.1:1/crm?connect_timeout=2"


@pytest.fixture
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlaskClient]:
    container = Container()
    settings = Settings(
        database_url=NOBODY_LISTENS, secret_key="x", var_dir=tmp_path_factory.mktemp("var")
    )
    yield create_app(settings, container).test_client()
    container.engine().dispose()


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("get", "/api/health/", 503),
        ("get", "/api/crm/funnels/", 503),
        ("post", "/api/auth/token/", 503),
    ],
)
def test_without_a_database_every_answer_is_a_503_problem(
    client: FlaskClient, method: str, path: str, status: int
) -> None:
    kwargs = {"json": {"email": "a@example.com", "password": "x"}} if method == "post" else {}

    response = getattr(client, method)(path, headers={"Authorization": "Bearer x"}, **kwargs)

    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    assert response.headers["Retry-After"]
    if path == "/api/health/":  # [rev 2] a problem too, saying which part does not answer
        assert response.get_json()["database"] == "unavailable"
