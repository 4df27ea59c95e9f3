"""`create_app`: the Flask application, its container, auth, logging and error handling."""

from __future__ import annotations

import json as std_json
import logging
import time
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from flask import Flask, Response, g, request
from flask.json.provider import DefaultJSONProvider
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge, UnsupportedMediaType

from crm_core.errors import DomainError
from crm_http import problems
from crm_http.auth import authenticate, is_public
from crm_http.config import Settings
from crm_http.container import Container, configure
from crm_http.cors import install_cors
from crm_http.fields import iso_utc
from crm_http.smorest import SWAGGER_UI_ASSETS, Api, swagger_ui_assets
from crm_http.views.access import auth_blueprint, branches_blueprint, users_blueprint
from crm_http.views.activities import activities_blueprint
from crm_http.views.contacts import contacts_blueprint
from crm_http.views.funnels import funnels_blueprint, stages_blueprint
from crm_http.views.jobs import jobs_blueprint
from crm_http.views.messaging import accounts_blueprint, messages_blueprint, webhook_blueprint
from crm_http.views.pipeline import deals_blueprint, leads_blueprint
from crm_http.web import install_web

MAX_BODY = 1024 * 1024
DOCUMENTATION = ("/api/docs", "/api/openapi.json")

access_log = logging.getLogger("crm.access")
# Set by `crm serve` to when the request reached the app's gate (time.perf_counter()): the
# access log's duration then counts the wait for its turn.
ARRIVED = "crm.arrived"


class JsonProvider(DefaultJSONProvider):
    """ISO 8601 timestamps (Flask's default is the HTTP date format) and UTF-8 as it is."""

    ensure_ascii = False
    sort_keys = False

    @staticmethod
    def default(value: Any) -> Any:
        if isinstance(value, datetime):
            return iso_utc(value)
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, uuid.UUID):
            return str(value)
        if isinstance(value, Decimal):
            return str(value)
        return DefaultJSONProvider.default(value)


def create_app(settings: Settings | None = None, container: Container | None = None) -> Flask:
    settings = settings or Settings.from_env()
    container = container or Container()
    configure(container, settings)

    app = Flask("crm_http")
    app.json = JsonProvider(app)
    app.config.update(
        MAX_CONTENT_LENGTH=MAX_BODY,
        API_TITLE="crm-core",
        API_VERSION="1.0",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs/",
        OPENAPI_SWAGGER_UI_URL=SWAGGER_UI_ASSETS,
        API_SPEC_OPTIONS={
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearer": []}],
        },
    )
    app.extensions["crm.container"] = container
    app.extensions["crm.settings"] = settings

    app.register_blueprint(swagger_ui_assets())
    api = Api(app)
    for build in (
        auth_blueprint,
        users_blueprint,
        branches_blueprint,
        funnels_blueprint,
        stages_blueprint,
        contacts_blueprint,
        leads_blueprint,
        deals_blueprint,
        activities_blueprint,
        jobs_blueprint,
        accounts_blueprint,
        messages_blueprint,
        webhook_blueprint,
    ):
        api.register_blueprint(build(container))

    install_web(app, container, settings)
    _install_request_hooks(app, container, settings)
    _install_error_handlers(app)
    return app


def _install_request_hooks(app: Flask, container: Container, settings: Settings) -> None:
    # Hooks run in the order they are installed: a preflight is answered before any auth.
    reads = container.reads()

    @app.before_request
    def start() -> None:
        g.started = request.environ.get(ARRIVED) or time.perf_counter()
        g.request_id = request.headers.get("X-Request-ID") or uuid.uuid4().hex
        g.reads = reads.begin_scope()  # one connection for the request's reads

    @app.teardown_request
    def end_reads(_error: BaseException | None) -> None:
        token = g.pop("reads", None)
        if token is not None:
            reads.end_scope(token)

    install_cors(app, settings.cors_origins)

    @app.before_request
    def admit() -> None:
        has_body = request.method in ("POST", "PUT", "PATCH") and request.content_length
        if has_body and not request.is_json and request.path.startswith("/api/"):
            raise UnsupportedMediaType("The body must be JSON (Content-Type: application/json).")
        if request.routing_exception is not None:
            return  # a 308 to the slashed path, a 404 or a 405: answered before any auth
        if request.path.startswith(DOCUMENTATION) or is_public(
            app.view_functions.get(request.endpoint or "")
        ):
            return
        if request.path.startswith("/api/"):
            authenticate(container.access())

    @app.after_request
    def finish(response: Response) -> Response:
        response.headers["X-Request-ID"] = g.get("request_id", "")
        duration = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
        access_log.info(
            std_json.dumps(
                {
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round(duration, 1),
                    "request_id": g.get("request_id"),
                }
            )
        )
        return response


MAX_DRAIN = 16 * MAX_BODY


def _too_large(error: RequestEntityTooLarge) -> Response:
    """Reads and drops the refused body (up to a bound), so that a keep-alive connection can
    carry the client's next request: the WSGI server cannot be told to close it."""
    stream = request.environ.get("wsgi.input")
    remaining = min(request.content_length or 0, MAX_DRAIN)
    while stream is not None and remaining > 0:
        chunk = stream.read(min(remaining, 64 * 1024))
        if not chunk:
            break
        remaining -= len(chunk)
    return problems.from_http_exception(error)


def _install_error_handlers(app: Flask) -> None:
    app.register_error_handler(RequestEntityTooLarge, _too_large)
    app.register_error_handler(DomainError, problems.from_domain_error)
    # Connection refused or lost, a statement or lock wait over the engine's bound (psycopg
    # and SQLite both report these as operational), or no pooled connection free in time.
    app.register_error_handler(OperationalError, problems.database_unavailable)
    app.register_error_handler(PoolTimeout, problems.database_unavailable)
    app.register_error_handler(HTTPException, problems.from_http_exception)
    app.register_error_handler(Exception, problems.server_error)
