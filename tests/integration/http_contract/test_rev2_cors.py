"""[rev 2] Section 6: CRM_CORS_ORIGINS lets the named origins call the API from a browser
(CORS, with preflight); other origins, and every origin when it is unset, get no CORS grant."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from .conftest import PASSWORD, Api, Server, Tenants, fresh_database, serving

ALLOWED = "https://app.example.com"
DENIED = "https://evil.example.com"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


@pytest.fixture(scope="module")
def cors_server(backend: str) -> Iterator[tuple[Server, str]]:
    """A server of its own with CRM_CORS_ORIGINS in the environment; and an admin token."""
    origins = {"CRM_CORS_ORIGINS": f"{ALLOWED},https://other.example.org"}
    with tempfile.TemporaryDirectory(prefix="crm-cors-") as tmp:
        workdir = Path(tmp)
        with ExitStack() as stack:
            database_url = stack.enter_context(fresh_database(backend, workdir))
            server = stack.enter_context(serving(database_url, workdir, extra_env=origins))
            token = server.create_user(
                f"ООО Браузер {uuid.uuid4().hex[:6]}",
                f"cors-{uuid.uuid4().hex[:8]}@example.com",
                PASSWORD,
                "admin",
            )
            yield server, token


def preflight(base_url: str, origin: str, method: str = "POST") -> httpx.Response:
    return httpx.options(
        f"{base_url}/api/crm/contacts/",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization, content-type",
        },
        timeout=30,
    )


def listed(header: str | None) -> set[str]:
    return {part.strip().lower() for part in (header or "").split(",") if part.strip()}


def test_given_an_allowed_origin_when_preflighting_then_the_origin_is_granted(
    cors_server: tuple[Server, str],
) -> None:
    server, _ = cors_server
    r = preflight(server.base_url, ALLOWED)
    assert r.status_code in (200, 204), r.text
    assert r.headers.get("access-control-allow-origin") == ALLOWED, r.headers


def test_given_an_allowed_origin_when_preflighting_then_authorization_and_content_type_allowed(
    cors_server: tuple[Server, str],
) -> None:
    server, _ = cors_server
    r = preflight(server.base_url, ALLOWED)
    allowed = listed(r.headers.get("access-control-allow-headers"))
    assert {"authorization", "content-type"} <= allowed, r.headers


@pytest.mark.parametrize("method", METHODS)
def test_given_an_allowed_origin_when_preflighting_a_method_then_it_is_allowed(
    cors_server: tuple[Server, str], method: str
) -> None:
    server, _ = cors_server
    r = preflight(server.base_url, ALLOWED, method)
    assert r.status_code in (200, 204), r.text
    assert r.headers.get("access-control-allow-origin") == ALLOWED, r.headers
    methods = listed(r.headers.get("access-control-allow-methods"))
    assert method.lower() in methods or "*" in methods, r.headers


def test_given_the_second_listed_origin_when_preflighting_then_it_is_granted(
    cors_server: tuple[Server, str],
) -> None:
    server, _ = cors_server
    r = preflight(server.base_url, "https://other.example.org")
    assert r.headers.get("access-control-allow-origin") == "https://other.example.org"


def test_given_a_disallowed_origin_when_preflighting_then_no_allow_origin(
    cors_server: tuple[Server, str],
) -> None:
    server, _ = cors_server
    r = preflight(server.base_url, DENIED)
    assert "access-control-allow-origin" not in r.headers, r.headers


def test_given_an_allowed_origin_when_getting_then_the_answer_carries_allow_origin(
    cors_server: tuple[Server, str],
) -> None:
    server, token = cors_server
    with Api(server.base_url, token) as client:
        r = client.get("users/me/", headers={"Origin": ALLOWED})
    assert r.status_code == 200, r.text
    assert r.headers.get("access-control-allow-origin") == ALLOWED, r.headers


def test_given_an_allowed_origin_when_an_error_answers_then_it_carries_allow_origin(
    cors_server: tuple[Server, str],
) -> None:
    server, _ = cors_server
    r = httpx.get(f"{server.base_url}/api/crm/contacts/", headers={"Origin": ALLOWED}, timeout=30)
    assert r.status_code == 401
    assert r.headers.get("access-control-allow-origin") == ALLOWED, r.headers


def test_given_a_disallowed_origin_when_getting_then_no_allow_origin(
    cors_server: tuple[Server, str],
) -> None:
    server, token = cors_server
    with Api(server.base_url, token) as client:
        r = client.get("users/me/", headers={"Origin": DENIED})
    assert "access-control-allow-origin" not in r.headers, r.headers


def test_given_no_cors_origins_configured_then_no_origin_is_granted(tenants: Tenants) -> None:
    r = preflight(tenants.server.base_url, ALLOWED)
    assert "access-control-allow-origin" not in r.headers, r.headers
    with tenants.client(tenants.a.admin.token) as client:
        r = client.get("users/me/", headers={"Origin": ALLOWED})
    assert "access-control-allow-origin" not in r.headers, r.headers
