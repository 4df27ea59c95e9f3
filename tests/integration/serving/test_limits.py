"""Bodies over 1 MiB, request targets and headers past the server's limits are refused with
problem+json; a refusal that closes the connection says so. Just under the limits, the app
answers."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from crm_http.server import MAX_HEAD, MAX_TARGET
from tests.integration.http_contract.conftest import Server

MEBIBYTE = 1024 * 1024


def refused(answer: httpx.Response, status: int) -> None:
    assert answer.status_code == status, answer.text[:500]
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["status"] == status
    assert problem["title"]


def json_body(size: int) -> bytes:
    body = json.dumps({"first_name": "Иван", "notes": "x" * size}).encode()
    assert len(body) > size
    return body


def in_pieces(body: bytes) -> Iterator[bytes]:
    """httpx sends a body that it gets from an iterator with `Transfer-Encoding: chunked`."""
    for start in range(0, len(body), 64 * 1024):
        yield body[start : start + 64 * 1024]


def test_given_a_chunked_body_over_one_mebibyte_then_413_and_the_connection_closes(
    server: Server,
) -> None:
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        answer = client.post(
            "/api/auth/token/",
            content=in_pieces(json_body(2 * MEBIBYTE)),
            headers={"Content-Type": "application/json"},
        )
        refused(answer, 413)
        assert answer.headers["connection"] == "close"
        assert client.get("/api/health/").status_code == 200  # on a new connection


@pytest.mark.parametrize(
    "size",
    [MEBIBYTE, 4 * MEBIBYTE],
    ids=["just-over-read-then-refused-by-the-app", "far-over-refused-as-it-arrives"],
)
def test_given_a_content_length_over_one_mebibyte_then_413(server: Server, size: int) -> None:
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        answer = client.post(
            "/api/auth/token/",
            content=json_body(size),
            headers={"Content-Type": "application/json"},
        )
        refused(answer, 413)
        if answer.headers.get("connection") != "close":
            assert client.get("/api/health/").status_code == 200  # on the same connection


def test_given_a_request_target_too_long_then_a_problem(server: Server) -> None:
    answer = httpx.get(f"{server.base_url}/api/crm/contacts/?search={'я' * 8000}", timeout=30)

    refused(answer, 414)
    assert answer.headers["connection"] == "close"


def test_given_headers_too_large_then_a_problem(server: Server) -> None:
    headers = {f"X-Padding-{number}": "x" * 1000 for number in range(80)}

    answer = httpx.get(f"{server.base_url}/api/health/", headers=headers, timeout=30)

    refused(answer, 431)
    assert answer.headers["connection"] == "close"


# --- just under the limits: read whole and answered by the app ----------------------------


def test_given_a_body_just_under_one_mebibyte_then_the_app_reads_and_answers_it(
    server: Server,
) -> None:
    empty = json.dumps({"email": "nobody@example.com", "password": ""}).encode()
    password = "x" * (MEBIBYTE - 1 - len(empty))
    body = json.dumps({"email": "nobody@example.com", "password": password}).encode()
    assert len(body) == MEBIBYTE - 1

    answer = httpx.post(
        f"{server.base_url}/api/auth/token/",
        content=body,
        headers={"Content-Type": "application/json"},
        timeout=30,
    )

    # Not a 413: the app read the credentials and found no such user.
    assert answer.status_code == 401, answer.text[:500]
    assert answer.json()["detail"] == "Wrong email or password."


def test_given_a_request_target_of_exactly_the_limit_then_it_is_answered(server: Server) -> None:
    path = "/api/health/?padding="
    target = path + "x" * (MAX_TARGET - len(path))
    assert len(target) == MAX_TARGET

    answer = httpx.get(f"{server.base_url}{target}", timeout=30)

    assert answer.status_code == 200, answer.text[:500]
    assert answer.json()["status"] == "ok"


def test_given_headers_just_under_the_limit_then_they_are_answered(server: Server) -> None:
    # Two kibibytes left for the request line and httpx's own few headers (Host, Accept ...).
    headers = {f"X-Padding-{number:02}": "x" * 1000 for number in range((MAX_HEAD - 2048) // 1016)}
    size = sum(len(f"{name}: {value}\r\n") for name, value in headers.items())
    assert MAX_HEAD - 4096 < size < MAX_HEAD - 2048

    answer = httpx.get(f"{server.base_url}/api/health/", headers=headers, timeout=30)

    assert answer.status_code == 200, answer.text[:500]
    assert answer.json()["status"] == "ok"
