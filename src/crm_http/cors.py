"""CORS: the origins named in `CRM_CORS_ORIGINS` may call the API from a browser."""

from __future__ import annotations

from collections.abc import Set

from flask import Flask, Response, request

ALLOWED_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
ALLOWED_HEADERS = "Authorization, Content-Type, Idempotency-Key, X-Request-ID"
# Headers a script may read beyond the CORS-safelisted ones.
EXPOSED_HEADERS = "X-Request-ID, Retry-After"
PREFLIGHT_MAX_AGE = "600"


def is_preflight() -> bool:
    return request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers


def install_cors(app: Flask, origins: Set[str]) -> None:
    """Answers preflights (before authentication: a browser sends them without credentials)
    and grants the allowed origins on every answer, errors included. Other origins get no
    CORS header, so their browsers keep the answers from their scripts."""

    @app.before_request
    def answer_preflight() -> Response | None:
        if not is_preflight() or request.routing_exception is not None:
            return None  # a 404 or a 308 to the slashed path answers as it would anyway
        answer = Response(status=204)
        del answer.headers["Content-Type"]  # no body, so no type
        return answer

    @app.after_request
    def grant(response: Response) -> Response:
        if not origins:
            return response
        response.vary.add("Origin")
        origin = request.headers.get("Origin")
        if origin not in origins:
            return response
        response.headers["Access-Control-Allow-Origin"] = origin
        if is_preflight():
            response.headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
            response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
            response.headers["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
        else:
            response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        return response
