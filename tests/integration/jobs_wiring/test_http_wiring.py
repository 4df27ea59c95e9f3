"""The jobs wiring seen through HTTP: the touch endpoint, the jobs list, and health."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from crm_adapters.sql import tables
from crm_adapters.sql.migrate import upgrade
from crm_core.tenancy import Role
from crm_http.app import create_app
from crm_http.config import Settings
from crm_http.container import Container


@pytest.fixture
def served(database_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    mode = getattr(request, "param", "db")
    upgrade(database_url)
    settings = Settings(
        database_url=database_url, secret_key="test-secret", var_dir=tmp_path, jobs=mode
    )
    container = Container()
    app = create_app(settings, container)
    yield app.test_client(), container
    container.engine().dispose()


def bearer(container: Container, role: Role) -> dict[str, str]:
    tag = uuid.uuid4().hex[:8]
    _, secret = container.access().create_user(f"Co {tag}", f"{tag}@example.com", None, role)
    return {"Authorization": f"Bearer {secret}"}


def touches(container: Container) -> int:
    with container.engine().connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(tables.job_touches)) or 0)


@pytest.mark.parametrize("served", ["inline"], indirect=True)
def test_given_inline_mode_when_an_admin_posts_touch_then_the_jobs_ran_before_the_answer(
    served: tuple[FlaskClient, Container],
) -> None:
    client, container = served

    answer = client.post(
        "/api/crm/jobs/touch/", json={"count": 3}, headers=bearer(container, Role.ADMIN)
    )

    assert answer.status_code == 202, answer.get_data(as_text=True)
    ids = answer.get_json()["ids"]
    assert len(ids) == 3 and all(uuid.UUID(i) for i in ids)
    assert touches(container) == 3
    listed = client.get("/api/crm/jobs/?kind=touch", headers=bearer(container, Role.ADMIN))
    assert {row["id"]: row["status"] for row in listed.get_json()["results"]} == dict.fromkeys(
        ids, "done"
    )


def test_given_db_mode_when_touch_jobs_wait_then_health_shows_the_backlog(
    served: tuple[FlaskClient, Container],
) -> None:
    client, container = served
    admin = bearer(container, Role.ADMIN)

    client.post("/api/crm/jobs/touch/", json={"count": 2}, headers=admin)
    health = client.get("/api/health/")

    assert health.status_code == 200
    assert health.get_json() == {
        "status": "ok",
        "database": "ok",
        "jobs": {"mode": "db", "due": 2, "dead": 0},
        "broker": None,
    }
    assert touches(container) == 0


def test_a_manager_may_neither_touch_nor_list_jobs(served: tuple[FlaskClient, Container]) -> None:
    client, container = served
    manager = bearer(container, Role.MANAGER)

    assert client.post("/api/crm/jobs/touch/", json={}, headers=manager).status_code == 403
    assert client.get("/api/crm/jobs/", headers=manager).status_code == 403


@pytest.mark.parametrize("body", [{"count": 0}, {"count": 1001}, {"seconds": 61}])
def test_touch_refuses_counts_and_delays_out_of_range(
    served: tuple[FlaskClient, Container], body: dict[str, int]
) -> None:
    client, container = served

    answer = client.post("/api/crm/jobs/touch/", json=body, headers=bearer(container, Role.ADMIN))

    assert answer.status_code == 400


def test_given_a_broker_that_does_not_answer_then_health_is_a_503_problem(
    database_url: str, tmp_path: Path
) -> None:
    upgrade(database_url)
    settings = Settings(
        database_url=database_url,
        secret_key="x",
        var_dir=tmp_path,
        jobs="dramatiq",
        broker_url="redis://127.0.0.1:1/0",
    )
    container = Container()
    client = create_app(settings, container).test_client()

    health = client.get("/api/health/")

    assert health.status_code == 503
    assert health.mimetype == "application/problem+json"
    assert health.headers["Retry-After"]
    assert health.get_json()["broker"] == "unavailable"
    container.engine().dispose()
