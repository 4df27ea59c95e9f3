"""Signing in to the web app: a session cookie that carries an API token, and CSRF tokens.

The cookie holds the token that `log_in` issues, so the web app and the API share one notion
of a session: a token revoked (log out, password change, deactivation) ends both at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from flask import Flask, g, redirect, request, session, url_for
from werkzeug.exceptions import Forbidden
from werkzeug.wrappers import Response as BaseResponse

from crm_core.services.tenancy import AccessUseCases
from crm_core.tenancy import Actor
from crm_http.config import Settings
from crm_http.problems import problem

TOKEN = "token"
CSRF = "csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def configure_cookies(app: Flask, settings: Settings) -> None:
    """The session cookie: signed with a key derived from the product's secret, HttpOnly,
    SameSite=Lax, Secure when the public address is https, and sent to the app alone."""
    app.secret_key = hmac.new(
        settings.encryption_key().encode(), b"crm web session", hashlib.sha256
    ).hexdigest()
    app.config.update(
        SESSION_COOKIE_NAME="crm_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.public_url.startswith("https://"),
        SESSION_COOKIE_PATH="/app",
    )


def csrf_token() -> str:
    """The session's CSRF token (made on first use): forms carry it in `csrf_token`, htmx
    and fetch requests in the `X-CSRF-Token` header."""
    token: str | None = session.get(CSRF)
    if token is None:
        token = session[CSRF] = secrets.token_urlsafe(32)
    return token


def check_csrf() -> None:
    if request.method not in UNSAFE:
        return
    expected = session.get(CSRF)
    given = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD) or ""
    if not expected or not hmac.compare_digest(expected, given):
        raise Forbidden("The form has expired or did not come from this site: reload the page.")


def sign_in(token: str) -> None:
    session.clear()
    session[TOKEN] = token
    session[CSRF] = secrets.token_urlsafe(32)  # a new session gets a new CSRF token


def sign_out(access: AccessUseCases) -> None:
    token = session.get(TOKEN)
    if token:
        access.revoke_token(token)
    session.clear()


def signed_in(access: AccessUseCases) -> Actor | None:
    token = session.get(TOKEN)
    actor = access.authenticate(token) if isinstance(token, str) else None
    if actor is not None:
        g.actor = actor
    return actor


def wants_fragment() -> bool:
    """A request made by the page's scripts (htmx or fetch) rather than by navigation."""
    return "HX-Request" in request.headers or CSRF_HEADER in request.headers


def to_login() -> BaseResponse:
    """A request without a valid session: navigation goes to the login page, a script's
    request gets a 401 (and htmx is told to go there)."""
    target = url_for("web.login", next=request.full_path.rstrip("?"))
    if wants_fragment():
        answer = problem(401, "Unauthorized", "The session has ended: sign in again.")
        answer.headers["HX-Redirect"] = target
        return answer
    return redirect(target)


def safe_next(target: Any) -> str:
    """Where to go after signing in: a path of this app only (never another site, and never
    a control character that would end the Location header)."""
    if (
        isinstance(target, str)
        and target.startswith("/app/")
        and target.isprintable()
        and "\\" not in target
    ):
        return target
    return url_for("web.home")


__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "check_csrf",
    "configure_cookies",
    "csrf_token",
    "safe_next",
    "sign_in",
    "sign_out",
    "signed_in",
    "to_login",
    "wants_fragment",
]
