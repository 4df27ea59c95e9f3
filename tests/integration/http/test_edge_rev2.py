"""[rev 2] The edge of the API: docs served without a CDN, drf-spectacular style operationIds,
CORS for the configured origins, a bounded wait on the database, timestamps with `Z`."""

from __future__ import annotations

import re
import time
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from html.parser import HTMLParser
from typing import Any

import pytest
from dependency_injector import providers
from flask import Flask
from flask.testing import FlaskClient

from crm_adapters.sql.engine import create_database_engine
from crm_http.app import create_app
from crm_http.config import Settings
from crm_http.container import Container
from crm_http.smorest import operation_name

ALLOWED = "https://app.example.com"
DENIED = "https://evil.example.com"
METHODS = ("get", "put", "post", "patch", "delete")


@pytest.fixture(scope="module")
def settings(module_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The conftest's settings, with two origins allowed to call from a browser."""
    from crm_adapters.sql.migrate import upgrade

    upgrade(module_database_url)
    return Settings(
        database_url=module_database_url,
        secret_key="test-secret",
        var_dir=tmp_path_factory.mktemp("var"),
        cors_origins=frozenset({ALLOWED, "https://other.example.org"}),
    )


@pytest.fixture(scope="module")
def container(settings: Settings) -> Container:
    """One per database (the conftest's one would keep the first database's engine)."""
    return Container()


# ----------------------------------------------------------------------------- /api/docs/


class Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        url = values.get("src") if tag in ("script", "img") else values.get("href")
        if url and tag in ("script", "img", "link"):
            self.urls.append(url)


def test_given_the_docs_page_then_its_assets_come_from_the_app_itself(client: FlaskClient) -> None:
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert not re.findall(r"https?://", html), "the docs page names another host"
    parser = Assets()
    parser.feed(html)
    assert any(url.endswith(".js") for url in parser.urls)
    assert any(url.endswith(".css") for url in parser.urls)
    for url in parser.urls:
        assert url.startswith("/api/docs/"), url
        asset = client.get(url)  # no bearer token: the docs are public
        assert asset.status_code == 200, url
        assert len(asset.data) > 1000, url


def test_given_an_unknown_asset_then_404(client: FlaskClient) -> None:
    assert client.get("/api/docs/nothing-here.js").status_code == 404
    assert client.get("/api/docs/../__init__.py").status_code == 404


# ----------------------------------------------------------------------------- operationIds


@pytest.fixture(scope="module")
def operations(app: Flask) -> dict[tuple[str, str], dict[str, Any]]:
    document = app.test_client().get("/api/openapi.json").get_json()
    return {
        (path, method): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }


def test_given_the_document_then_every_operation_has_a_unique_id_and_a_one_line_summary(
    operations: dict[tuple[str, str], dict[str, Any]],
) -> None:
    ids = Counter(operation.get("operationId") for operation in operations.values())
    assert None not in ids
    assert [name for name, count in ids.items() if count > 1] == []
    for (path, method), operation in operations.items():
        summary = operation.get("summary")
        assert summary and summary.strip() and "\n" not in summary, (method, path, summary)


@pytest.mark.parametrize(
    ("path", "method", "operation_id"),
    [
        ("/api/crm/leads/", "get", "leads_list"),
        ("/api/crm/leads/", "post", "leads_create"),
        ("/api/crm/leads/{object_id}/", "get", "leads_retrieve"),
        ("/api/crm/leads/{object_id}/", "put", "leads_update"),
        ("/api/crm/leads/{object_id}/", "patch", "leads_partial_update"),
        ("/api/crm/leads/{object_id}/", "delete", "leads_destroy"),
        ("/api/crm/leads/{object_id}/move_to_stage/", "post", "leads_move_to_stage"),
        ("/api/crm/deals/{object_id}/mark_won/", "post", "deals_mark_won"),
        ("/api/crm/funnels/{object_id}/statistics/", "get", "funnels_statistics_retrieve"),
        ("/api/crm/contacts/{object_id}/timeline/", "get", "contacts_timeline_retrieve"),
        ("/api/crm/funnel-stages/", "get", "funnel_stages_list"),
        ("/api/auth/token/", "post", "auth_token_create"),
        ("/api/auth/token/", "delete", "auth_token_destroy"),
        ("/api/health/", "get", "health_retrieve"),
        ("/api/crm/users/me/", "get", "users_me_retrieve"),
        ("/api/crm/users/me/", "patch", "users_me_partial_update"),
    ],
)
def test_given_the_document_then_ids_read_like_drf_spectacular(
    operations: dict[tuple[str, str], dict[str, Any]], path: str, method: str, operation_id: str
) -> None:
    assert operations[(path, method)]["operationId"] == operation_id


def test_given_a_view_without_docstring_then_its_summary_is_made_from_the_path() -> None:
    assert operation_name("/api/crm/activities/", "get") == ("activities_list", "List activities")
    assert operation_name("/api/crm/funnel-stages/{id}/", "patch") == (
        "funnel_stages_partial_update",
        "Update a funnel stage",
    )
    assert operation_name("/api/crm/branches/{id}/", "delete")[1] == "Delete a branch"
    assert operation_name("/api/crm/users/", "post")[1] == "Create a user"


# ----------------------------------------------------------------------------- CORS


def preflight(client: FlaskClient, origin: str, path: str = "/api/crm/contacts/") -> Any:
    return client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )


def test_given_an_allowed_origin_when_preflighting_without_a_token_then_it_is_granted(
    client: FlaskClient,
) -> None:
    response = preflight(client, ALLOWED)

    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    methods = {m.strip() for m in response.headers["Access-Control-Allow-Methods"].split(",")}
    assert {"GET", "POST", "PUT", "PATCH", "DELETE"} <= methods
    headers = {
        h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")
    }
    assert {"authorization", "content-type", "idempotency-key", "x-request-id"} <= headers
    assert int(response.headers["Access-Control-Max-Age"]) > 0
    assert "Origin" in response.headers.get("Vary", "")


def test_given_an_allowed_origin_when_calling_then_the_answer_is_granted_and_exposes_the_id(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    for headers, status in (({}, 401), (auth, 200)):
        response = client.get("/api/crm/users/me/", headers={**headers, "Origin": ALLOWED})

        assert response.status_code == status
        assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
        assert "Origin" in response.headers["Vary"]
        exposed = response.headers["Access-Control-Expose-Headers"].lower()
        assert "x-request-id" in exposed


def test_given_a_disallowed_origin_then_no_cors_header(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    answers = [
        preflight(client, DENIED),
        client.get("/api/crm/users/me/", headers={**auth, "Origin": DENIED}),
    ]
    for response in answers:
        assert not [name for name, _ in response.headers if name.startswith("Access-Control-")]


def test_given_no_origins_configured_then_no_origin_is_granted(settings: Settings) -> None:
    container = Container()
    app = create_app(Settings(database_url=settings.database_url, secret_key="x"), container)
    try:
        response = preflight(app.test_client(), ALLOWED)
        assert "Access-Control-Allow-Origin" not in response.headers
        assert "Origin" not in response.headers.get("Vary", "")
    finally:
        container.engine().dispose()


def test_given_cors_origins_in_the_environment_then_settings_list_them() -> None:
    environ = {"CRM_CORS_ORIGINS": " https://a.example.com/ ,http://localhost:3000,, "}
    assert Settings.from_env(environ).cors_origins == {
        "https://a.example.com",
        "http://localhost:3000",
    }
    assert Settings.from_env({}).cors_origins == frozenset()


# ----------------------------------------------------------------------------- bounded waits


def test_given_every_pooled_connection_taken_then_a_request_answers_503_quickly(
    settings: Settings, token: str
) -> None:
    container = Container()
    container.engine.override(
        providers.Singleton(
            create_database_engine,
            settings.database_url,
            max_wait=0.5,
            pool_size=1,
            max_overflow=0,
        )
    )
    app = create_app(settings, container)
    try:
        with container.engine().connect():  # the pool's one connection, held
            started = time.monotonic()
            response = app.test_client().get(
                "/api/crm/leads/", headers={"Authorization": f"Bearer {token}"}
            )
            waited = time.monotonic() - started
        assert response.status_code == 503
        assert response.mimetype == "application/problem+json"
        assert response.headers["Retry-After"]
        assert waited < 3
    finally:
        container.engine().dispose()


def test_given_a_locked_table_on_postgresql_then_a_list_answers_503_within_seconds(
    settings: Settings, client: FlaskClient, auth: dict[str, str]
) -> None:
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only: SQLite readers are not blocked by a writer")
    import psycopg

    dsn = settings.database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(dsn) as blocker:  # a transaction, open until the block ends
        blocker.execute("LOCK TABLE leads IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        response = client.get("/api/crm/leads/", headers=auth)
        waited = time.monotonic() - started
        blocker.rollback()

    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert response.headers["Retry-After"]
    assert waited < 8
    assert client.get("/api/crm/leads/", headers=auth).status_code == 200


def test_given_postgresql_then_every_connection_bounds_its_statements_and_locks(
    settings: Settings, app: Flask
) -> None:
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only")
    from sqlalchemy import text

    container: Container = app.extensions["crm.container"]
    with container.engine().connect() as connection:
        statement = connection.execute(text("SHOW statement_timeout")).scalar()
        lock = connection.execute(text("SHOW lock_timeout")).scalar()
    assert statement == "5s"
    assert lock == "3s"


# ----------------------------------------------------------------------------- timestamps


def test_given_a_datetime_in_any_zone_then_the_json_carries_it_in_utc_with_z(app: Flask) -> None:
    moscow = timezone(timedelta(hours=3))
    body = {
        "aware": datetime(2026, 11, 24, 13, 15, tzinfo=moscow),
        "utc": datetime(2026, 11, 24, 10, 15, 0, 123456, tzinfo=UTC),
    }
    assert app.json.loads(app.json.dumps(body)) == {
        "aware": "2026-11-24T10:15:00Z",
        "utc": "2026-11-24T10:15:00.123456Z",
    }
