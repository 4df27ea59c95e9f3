"""Assertions shared by the HTTP contract tests: problem documents, money, timestamps, deals."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

MONEY = re.compile(r"^-?\d+\.\d{2}$")
LEAKS = (
    "Traceback",
    'File "',
    "sqlalchemy",
    "psycopg",
    "sqlite3",
    "SELECT ",
    "INSERT INTO",
    "UPDATE ",
    "IntegrityError",
    "OperationalError",
    "http-contract-secret-key",
)

DEFAULT_STAGES = [
    ("Новый лид", 1, False, False),
    ("Квалификация", 2, False, False),
    ("Предложение", 3, False, False),
    ("Переговоры", 4, False, False),
    ("Закрыта успешно", 5, True, True),
    ("Закрыта неудачно", 6, True, False),
]


def assert_no_leak(text: str) -> None:
    for leak in LEAKS:
        assert leak not in text, f"the response leaks {leak!r}: {text[:1000]}"


def problem(r: httpx.Response, status: int, *fields: str) -> dict[str, Any]:
    """`r` is an RFC 9457 problem with `status`; for 400 its `errors` name each of `fields`."""
    assert r.status_code == status, f"expected {status}, got {r.status_code}: {r.text[:2000]}"
    ctype = r.headers.get("content-type", "")
    assert ctype.startswith("application/problem+json"), f"content-type {ctype!r}: {r.text[:500]}"
    assert_no_leak(r.text)
    body = r.json()
    assert isinstance(body, dict), body
    for key in ("type", "title", "status", "detail"):
        assert key in body, f"problem without {key!r}: {body}"
    assert body["status"] == status, body
    assert isinstance(body["title"], str) and body["title"], body
    assert isinstance(body["detail"], str), body
    if status == 400:
        errors = body.get("errors")
        assert isinstance(errors, dict) and errors, f"400 without an errors object: {body}"
        for key, messages in errors.items():
            assert isinstance(key, str), body
            assert isinstance(messages, list) and messages, f"errors[{key!r}] is not a list: {body}"
            assert all(isinstance(m, str) and m for m in messages), body
        for name in fields:
            assert name in errors, f"errors do not name {name!r}: {errors}"
    return body  # type: ignore[no-any-return]


def names_parameter(body: dict[str, Any], parameter: str) -> bool:
    return parameter in body.get("errors", {}) or parameter in body.get("detail", "")


def bad_param(r: httpx.Response, parameter: str) -> dict[str, Any]:
    """A 400 that names the query parameter, in `errors` or in `detail`."""
    body = problem(r, 400)
    assert names_parameter(body, parameter), f"the 400 does not name {parameter!r}: {body}"
    return body


def parse_ts(value: str) -> datetime:
    """A timestamp of the contract: ISO 8601, with an offset, in UTC."""
    assert isinstance(value, str), value
    assert value.endswith(("Z", "+00:00")), f"timestamp not in UTC with an offset: {value!r}"
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert parsed.utcoffset() is not None and parsed.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    return parsed


def now_utc() -> datetime:
    return datetime.now(UTC)


def random_id() -> str:
    return str(uuid.uuid4())


def stage_by_name(funnel: dict[str, Any], name: str) -> dict[str, Any]:
    for stage in funnel["stages"]:
        if stage["name"] == name:
            return stage  # type: ignore[no-any-return]
    raise AssertionError(f"no stage {name!r} in {funnel['stages']}")


def first_stage(funnel: dict[str, Any]) -> dict[str, Any]:
    return min(funnel["stages"], key=lambda s: s["order"])  # type: ignore[no-any-return]


def assert_deal_invariant(deal: dict[str, Any], funnel: dict[str, Any]) -> None:
    """Section 3, Deals: won exactly when in a final success stage or marked won; lost exactly
    when in a final non-success stage or marked lost; never both; closed_at iff won or lost."""
    stages = {s["id"]: s for s in funnel["stages"]}
    stage = stages[deal["stage"]]
    assert not (deal["is_won"] and deal["is_lost"]), f"a deal both won and lost: {deal}"
    if stage["is_final"] and stage["is_success"]:
        assert deal["is_won"], f"a deal in a success stage is not won: {deal}"
    if stage["is_final"] and not stage["is_success"]:
        assert deal["is_lost"], f"a deal in a final failure stage is not lost: {deal}"
    closed = deal["is_won"] or deal["is_lost"]
    assert (deal["closed_at"] is not None) == closed, f"closed_at disagrees with the flags: {deal}"
