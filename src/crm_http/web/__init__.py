"""The web app under `/app/`: server-rendered pages (Jinja2 and htmx) on the same use cases
and read model as the API, signed in by a session cookie."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, g, json, render_template, request
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from crm_core.errors import DomainError
from crm_http import problems
from crm_http.config import Settings
from crm_http.container import Container
from crm_http.web import format as fmt
from crm_http.web.board import board_action, board_routes
from crm_http.web.panel import panel_routes
from crm_http.web.refusals import in_russian
from crm_http.web.reports import reports_routes
from crm_http.web.session import (
    check_csrf,
    configure_cookies,
    csrf_token,
    signed_in,
    to_login,
    wants_fragment,
)
from crm_http.web.signin import signin_routes

HERE = Path(__file__).parent
OPEN_ENDPOINTS = frozenset({"web.static", "web.login", "web.log_in"})
# The top bar's sections: the page each opens, its name, and the pages it is current on.
NAV = (
    ("web.home", "Доска", frozenset({"web.home", "web.board"})),
    ("web.contacts", "Контакты", frozenset({"web.contacts"})),
    ("web.leads", "Лиды", frozenset({"web.leads"})),
    ("web.deals", "Сделки", frozenset({"web.deals"})),
)


def _static_version() -> str:
    """A digest of the static files, part of every static URL: a browser never keeps a file
    that changed."""
    digest = hashlib.blake2s(digest_size=6)
    for path in sorted((HERE / "static").rglob("*")):
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _error_page(status: int, title: str, detail: str) -> Response:
    html = render_template("web/error.html", status=status, title=title, detail=detail)
    return Response(html, status=status, mimetype="text/html")


def install_web(app: Flask, container: Container, settings: Settings) -> None:
    configure_cookies(app, settings)
    blueprint = Blueprint(
        "web",
        __name__,
        url_prefix="/app",
        template_folder=str(HERE / "templates"),
        static_folder=str(HERE / "static"),
        static_url_path="/static",
    )
    access: Any = container.access

    @blueprint.before_request
    def admit() -> BaseResponse | None:
        if request.endpoint in OPEN_ENDPOINTS and request.endpoint != "web.log_in":
            return None
        check_csrf()  # the login form too: nobody signs someone in from another site
        if request.endpoint in OPEN_ENDPOINTS:
            return None
        if signed_in(access()) is None:
            return to_login()
        return None

    @blueprint.app_template_global()
    def csrf() -> str:
        return csrf_token()

    @blueprint.app_template_global()
    def signed_in_actor() -> Any:
        return g.get("actor")

    @blueprint.app_template_global()
    def has_page(endpoint: str) -> bool:
        return endpoint in app.view_functions

    @blueprint.app_template_global()
    def nav_links() -> list[tuple[str, str, bool]]:
        """The top bar's links, and whether each is the section of the page shown."""
        return [
            (endpoint, label, request.endpoint in pages)
            for endpoint, label, pages in NAV
            if endpoint in app.view_functions
        ]

    blueprint.add_app_template_filter(fmt.rubles, "rubles")
    blueprint.add_app_template_filter(fmt.amount_field, "amount_field")
    blueprint.add_app_template_filter(fmt.moment, "moment")
    blueprint.add_app_template_filter(fmt.day, "day")
    blueprint.add_app_template_global(fmt.days_since, "days_since")
    blueprint.add_app_template_global(fmt.days_in_stage, "days_in_stage")

    version = _static_version()

    def static_max_age(_filename: str | None) -> int | None:
        # A URL naming the current digest never changes its content: keep it a year.
        return 31_536_000 if request.args.get("v") == version else None

    blueprint.get_send_file_max_age = static_max_age  # type: ignore[method-assign,assignment]

    @blueprint.app_context_processor
    def static_version() -> dict[str, str]:
        return {"static_version": version}

    # Pages answer errors as pages; the page's own scripts get problem+json, whose `detail`
    # they show (a refused move says why). Either way the detail is in Russian where the
    # web app knows the refusal.
    @blueprint.errorhandler(DomainError)
    def domain_error(error: DomainError) -> Response:
        answer = problems.from_domain_error(error)
        detail = in_russian(error, board_action())
        if wants_fragment():
            return _with_detail(answer, detail)
        return _error_page(answer.status_code, _title(answer), detail)

    @blueprint.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        answer = problems.from_http_exception(error)
        if wants_fragment() or request.endpoint == "web.static":
            return answer
        return _error_page(answer.status_code, _title(answer), error.description or "")

    signin_routes(blueprint, container)
    board_routes(blueprint, container)
    panel_routes(blueprint, container)
    reports_routes(blueprint, container)
    app.register_blueprint(blueprint)


def _with_detail(answer: Response, detail: str) -> Response:
    body = answer.get_json(silent=True) or {}
    body["detail"] = detail
    answer.set_data(json.dumps(body))
    return answer


def _title(answer: Response) -> str:
    body = answer.get_json(silent=True) or {}
    return str(body.get("title", ""))
