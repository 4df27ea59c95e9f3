"""For every test of tests/integration/web: the app on a test database, and signing in to it
as a browser does (the login form with the login page's CSRF token, then the new token the
session gets)."""

from __future__ import annotations

import re
from pathlib import Path

import attrs
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from crm_http.app import create_app
from crm_http.config import Settings
from crm_http.container import Container

# Not ASCII: the login form is sent as a browser encodes it.
PASSWORD = "Пароль-веб-1"
META_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def make_app(
    database_url: str,
    var_dir: Path,
    container: Container | None = None,
    public_url: str = "http://127.0.0.1:8000",
) -> Flask:
    """The app on a migrated database, in testing mode."""
    settings = Settings(
        database_url=database_url, public_url=public_url, secret_key="test-secret", var_dir=var_dir
    )
    app = create_app(settings, container or Container())
    app.config["TESTING"] = True
    return app


def csrf_of(page: TestResponse) -> str:
    found = META_CSRF.search(page.get_data(as_text=True))
    assert found, "the page has no csrf-token meta"
    return found.group(1)


def log_in(client: FlaskClient, email: str, password: str = PASSWORD, **extra: str) -> TestResponse:
    """The login form as a browser sends it (with the CSRF token of the login page)."""
    form = {"email": email, "password": password, "csrf_token": csrf_of(client.get("/app/login"))}
    return client.post("/app/login", data={**form, **extra})


@attrs.define
class Browser:
    """A signed-in session and its CSRF token, which the page's scripts send in a header."""

    client: FlaskClient
    csrf: str

    def post(self, path: str, **fields: str) -> TestResponse:
        return self.client.post(path, data=fields, headers={"X-CSRF-Token": self.csrf})


def signed_in(app: Flask, email: str) -> Browser:
    client = app.test_client()
    answer = log_in(client, email)
    assert answer.status_code == 302, answer.get_data(as_text=True)
    # Signing in gives the session a new CSRF token: the one the next page shows.
    return Browser(client, csrf_of(client.get("/app/login")))
