"""The one place where errors become `application/problem+json` (RFC 9457)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Response, g, json
from werkzeug.exceptions import HTTPException

from crm_core.errors import (
    Conflict,
    DomainError,
    InvalidValue,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    ProviderFailed,
    ProviderTimedOut,
    TooManyAttempts,
    ValidationFailed,
)

log = logging.getLogger("crm.http")

PROBLEM_TYPE = "application/problem+json"

# Domain error -> (status, title). The first matching class wins, so subclasses come first.
DOMAIN_STATUS: tuple[tuple[type[DomainError], int, str], ...] = (
    (ValidationFailed, 400, "Validation failed"),
    (NotFound, 404, "Not found"),
    (NotAuthenticated, 401, "Unauthorized"),
    (PermissionDenied, 403, "Forbidden"),
    (Conflict, 409, "Conflict"),
    (TooManyAttempts, 429, "Too many requests"),
    (ProviderTimedOut, 504, "Messaging provider timed out"),
    (ProviderFailed, 502, "Messaging provider failed"),
)

HTTP_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


def problem(
    status: int,
    title: str,
    detail: str | None = None,
    errors: Mapping[str, list[str]] | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> Response:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if errors is not None:
        body["errors"] = dict(errors)
    body.update(extra)
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_TYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def flatten(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested error dicts as a flat object of dotted paths (`stages.2.color`)."""
    if isinstance(messages, Mapping):
        flat: dict[str, list[str]] = {}
        for key, value in messages.items():
            name = "non_field_errors" if key == "_schema" else str(key)
            flat.update(flatten(value, f"{prefix}.{name}" if prefix else name))
        return flat
    if isinstance(messages, list) and all(isinstance(item, str) for item in messages):
        return {prefix or "non_field_errors": list(messages)}
    if isinstance(messages, list):
        flat = {}
        for item in messages:
            flat.update(flatten(item, prefix))
        return flat
    return {prefix or "non_field_errors": [str(messages)]}


def validation_problem(errors: Mapping[str, list[str]]) -> Response:
    detail = "; ".join(f"{field}: {messages[0]}" for field, messages in errors.items())
    return problem(400, "Validation failed", detail, errors)


def from_domain_error(error: DomainError) -> Response:
    if isinstance(error, ValidationFailed):
        return validation_problem(error.errors)
    if isinstance(error, InvalidValue):
        # A value refused where no field was named: still a 400 with `errors`.
        return validation_problem({"non_field_errors": [error.detail]})
    headers: dict[str, str] = {}
    if isinstance(error, TooManyAttempts):
        # The seconds until the oldest counted failure leaves the throttle's window.
        headers["Retry-After"] = str(error.retry_after)
    for cls, status, title in DOMAIN_STATUS:
        if isinstance(error, cls):
            return problem(
                status, title, error.detail, headers=headers, **getattr(error, "extra", {})
            )
    return problem(400, "Bad request", error.detail)


def from_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    messages = data.get("messages")
    if messages is not None:
        # webargs puts errors under their location ("json", "query"); the field is what counts.
        located = messages if isinstance(messages, Mapping) else {"json": messages}
        errors: dict[str, list[str]] = {}
        for inner in located.values():
            errors.update(flatten(inner))
        return validation_problem(errors)
    if status >= 500:
        return server_error(error)
    detail = data.get("message") or error.description
    headers = dict(error.get_headers())
    headers.pop("Content-Type", None)
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return problem(status, HTTP_TITLES.get(status, error.name), detail, headers=headers)


def database_unavailable(error: BaseException) -> Response:
    """The database refused the connection or went away: a 503 the client may retry."""
    log.warning("database unavailable (request %s): %s", getattr(g, "request_id", None), error)
    return problem(
        503,
        "Service unavailable",
        "The database does not answer; try again shortly.",
        headers={"Retry-After": "5"},
    )


def server_error(error: BaseException) -> Response:
    """Logged in full with the request id; answered without any detail."""
    request_id = getattr(g, "request_id", None)
    log.error("unhandled error (request %s)", request_id, exc_info=error)
    return problem(
        500, "Internal server error", "An unexpected error occurred.", request_id=request_id
    )
