"""The web app's defences over HTTP: CSRF on every state-changing /app endpoint, tenancy of
pages and moves, the session cookie, redirects to the login page, logout, the login
throttle and where `next` may lead."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urljoin, urlsplit

import attrs
import pytest
from flask import Flask
from werkzeug.routing import AnyConverter, IntegerConverter, Rule, UUIDConverter
from werkzeug.test import TestResponse

from crm_adapters.sql.migrate import upgrade
from crm_core.tenancy import Role
from crm_http.container import Container
from tests.integration.web.conftest import PASSWORD, csrf_of, log_in, make_app, signed_in

UNSAFE = ("POST", "PUT", "PATCH", "DELETE")
CSRF_REFUSED = "The form has expired or did not come from this site: reload the page."
HOST = "http://localhost"


def container_of(app: Flask) -> Container:
    container: Container = app.extensions["crm.container"]
    return container


@pytest.fixture(scope="module")
def app(module_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    upgrade(module_database_url)
    app = make_app(module_database_url, tmp_path_factory.mktemp("var"))
    yield app
    container_of(app).engine().dispose()


@attrs.define
class Company:
    """A company made through the API: an admin and a manager, a funnel and a deal."""

    app: Flask
    admin_email: str
    manager_email: str
    token: str
    funnel: dict[str, Any]
    deal: dict[str, Any]

    def api(self, method: str, path: str, json: Any = None, status: int = 200) -> Any:
        answer = self.app.test_client().open(
            f"/api/crm/{path}",
            method=method,
            json=json,
            headers={"Authorization": f"Bearer {self.token}"},
        )
        assert answer.status_code == status, answer.get_data(as_text=True)
        return answer.get_json()

    def stage(self, name: str) -> str:
        return str(next(s["id"] for s in self.funnel["stages"] if s["name"] == name))


def new_company(app: Flask, name: str) -> Company:
    tag = uuid.uuid4().hex[:8]
    admin_email, manager_email = f"admin-{tag}@example.com", f"manager-{tag}@example.com"
    access = container_of(app).access()
    _, token = access.create_user(f"{name} {tag}", admin_email, PASSWORD, Role.ADMIN)
    access.create_user(f"{name} {tag}", manager_email, PASSWORD, Role.MANAGER)
    company = Company(app, admin_email, manager_email, token, {}, {})
    company.funnel = company.api("POST", "funnels/", {"name": f"Воронка {name}"}, 201)
    contact = company.api(
        "POST", "contacts/", {"first_name": "Анна", "email": f"anna-{tag}@example.com"}, 201
    )
    company.deal = company.api(
        "POST",
        "deals/",
        {"contact": contact["id"], "funnel": company.funnel["id"], "title": f"Сделка {name}"},
        201,
    )
    return company


@pytest.fixture(scope="module")
def ours(app: Flask) -> Company:
    return new_company(app, "Ромашка")


@pytest.fixture(scope="module")
def theirs(app: Flask) -> Company:
    return new_company(app, "Лютик")


def board_of(company: Company) -> str:
    return f"/app/funnels/{company.funnel['id']}/board"


# --- CSRF ---------------------------------------------------------------------------------


def state_changing_rules(app: Flask) -> list[tuple[str, Rule]]:
    return [
        (method, rule)
        for rule in sorted(app.url_map.iter_rules(), key=lambda rule: rule.rule)
        if rule.rule.startswith("/app/")
        for method in sorted(rule.methods or ())
        if method in UNSAFE
    ]


def any_url(rule: Rule) -> str:
    """The rule with made-up arguments: the CSRF check comes before any lookup."""
    values: dict[str, Any] = {}
    for name, converter in rule._converters.items():
        if isinstance(converter, AnyConverter):
            values[name] = sorted(converter.items)[0]
        elif isinstance(converter, UUIDConverter):
            values[name] = uuid.uuid4()
        elif isinstance(converter, IntegerConverter):
            values[name] = 1
        else:
            values[name] = "x"
    built = rule.build(values)
    assert built is not None, rule.rule
    return built[1]


def refused_for_csrf(answer: TestResponse, scripted: bool) -> bool:
    """A 403 that says why: problem+json to the page's scripts, the error page to a form."""
    if answer.status_code != 403:
        return False
    if scripted:
        return (
            answer.mimetype == "application/problem+json"
            and answer.get_json()["detail"] == CSRF_REFUSED
        )
    return answer.mimetype == "text/html" and CSRF_REFUSED in answer.get_data(as_text=True)


def test_the_app_has_the_state_changing_endpoints_this_file_checks(app: Flask) -> None:
    endpoints = {rule.endpoint for _, rule in state_changing_rules(app)}
    assert {"web.log_in", "web.log_out", "web.move", "web.won", "web.lost", "web.reopen"} <= (
        endpoints
    )


@pytest.mark.parametrize("token", ["missing", "wrong", "another session's"])
def test_every_state_changing_endpoint_refuses_a_request_without_its_csrf_token(
    app: Flask, ours: Company, token: str
) -> None:
    browser = signed_in(app, ours.manager_email)
    given = {
        "missing": None,
        "wrong": "not-the-token",
        "another session's": signed_in(app, ours.admin_email).csrf,
    }[token]
    not_refused = []
    for method, rule in state_changing_rules(app):
        url = any_url(rule)
        for headers, form in (
            ({"X-CSRF-Token": given} if given else {}, {}),
            ({}, {"csrf_token": given} if given else {}),
        ):
            answer = browser.client.open(url, method=method, headers=headers, data=form)
            if not refused_for_csrf(answer, scripted="X-CSRF-Token" in headers):
                body = answer.get_data(as_text=True)[:200]
                not_refused.append(f"{method} {url} -> {answer.status_code} {body!r}")
    assert not not_refused, "not refused for its CSRF token:\n" + "\n".join(not_refused)
    # Still signed in: the refused logout did not log out.
    assert browser.client.get(board_of(ours)).status_code == 200


def test_a_move_without_the_csrf_token_changes_nothing(app: Flask, ours: Company) -> None:
    browser = signed_in(app, ours.manager_email)
    deal, target = ours.deal["id"], ours.stage("Переговоры")
    refused = browser.client.post(f"/app/deals/{deal}/move", data={"stage_id": target})
    assert refused.status_code == 403
    assert ours.api("GET", f"deals/{deal}/")["stage"] == ours.stage("Новый лид")

    moved = browser.post(  # the right token
        f"/app/deals/{deal}/move", stage_id=target, funnel_id=ours.funnel["id"]
    )
    assert moved.status_code == 200
    assert ours.api("GET", f"deals/{deal}/")["stage"] == target
    ours.api("POST", f"deals/{deal}/move_to_stage/", {"stage_id": ours.stage("Новый лид")})


# --- tenancy ------------------------------------------------------------------------------


def test_pages_of_another_company_are_not_found(app: Flask, ours: Company, theirs: Company) -> None:
    browser = signed_in(app, ours.admin_email)
    board, stage = board_of(theirs), theirs.stage("Новый лид")
    for path in (
        board,
        f"{board}?kind=leads",
        f"{board}/columns/{stage}",
        f"{board}/versions",
        f"/app/deals/{theirs.deal['id']}",
    ):
        answer = browser.client.get(path)
        assert answer.status_code == 404, f"{path} -> {answer.status_code}"
        assert theirs.deal["title"] not in answer.get_data(as_text=True)


def more_of(funnel: Any, stage: Any) -> str:
    """«Показать ещё» of a column, from its top."""
    return f"/app/funnels/{funnel}/board/columns/{stage}/more"


def test_the_next_cards_of_a_stage_outside_the_funnel_or_the_company_are_not_found(
    app: Flask, ours: Company, theirs: Company
) -> None:
    browser = signed_in(app, ours.admin_email)
    other = ours.api("POST", "funnels/", {"name": f"Другая {uuid.uuid4().hex[:6]}"}, 201)
    ours_first, theirs_first = ours.stage("Новый лид"), theirs.stage("Новый лид")
    assert browser.client.get(more_of(ours.funnel["id"], ours_first)).status_code == 200
    for funnel, stage in (
        (theirs.funnel["id"], theirs_first),  # another company's column
        (ours.funnel["id"], theirs_first),  # their stage under our funnel
        (other["id"], ours_first),  # our stage under another funnel of ours
        (ours.funnel["id"], uuid.uuid4()),  # no stage at all
    ):
        path = more_of(funnel, stage)
        page = browser.client.get(path)
        assert page.status_code == 404, f"{path} -> {page.status_code}"
        assert page.mimetype == "text/html" and "Не найдено" in page.get_data(as_text=True)
        assert theirs.deal["title"] not in page.get_data(as_text=True)
        fragment = browser.client.get(path, headers={"HX-Request": "true"})
        assert fragment.status_code == 404, f"{path} (htmx) -> {fragment.status_code}"
        assert fragment.mimetype == "application/problem+json"
        assert 'class="card"' not in fragment.get_data(as_text=True)


@pytest.mark.parametrize("action", ["move", "won", "lost", "reopen"])
def test_another_companys_deal_cannot_be_changed_from_the_board(
    app: Flask, ours: Company, theirs: Company, action: str
) -> None:
    browser = signed_in(app, ours.admin_email)
    deal = theirs.deal["id"]
    before = theirs.api("GET", f"deals/{deal}/")
    for stage in (theirs.stage("Квалификация"), ours.stage("Квалификация")):
        answer = browser.post(
            f"/app/deals/{deal}/{action}",
            stage_id=stage,
            funnel_id=ours.funnel["id"],
            reason="чужая",
        )
        assert answer.status_code == 404, answer.get_data(as_text=True)
    after = theirs.api("GET", f"deals/{deal}/")
    assert after == before


def test_a_manager_sees_only_their_own_companys_cards_and_funnels(
    app: Flask, ours: Company, theirs: Company
) -> None:
    browser = signed_in(app, ours.manager_email)
    page = browser.client.get(board_of(ours)).get_data(as_text=True)
    assert f'id="card-{ours.deal["id"]}"' in page
    assert theirs.deal["title"] not in page
    assert theirs.funnel["id"] not in page and theirs.funnel["name"] not in page
    switcher = re.search(r'<select id="funnel-switch".*?</select>', page, re.S)
    assert switcher, "the board has no funnel switcher"
    listed = set(re.findall(r"/app/funnels/([0-9a-f-]{36})/board", switcher.group(0)))
    ours_now = {f["id"] for f in ours.api("GET", "funnels/?page_size=100")["results"]}
    assert listed == ours_now


# --- the session cookie -------------------------------------------------------------------


def session_cookie(answer: TestResponse) -> str:
    cookies = [c for c in answer.headers.getlist("Set-Cookie") if c.startswith("crm_session=")]
    assert len(cookies) == 1, answer.headers
    return cookies[0]


def cookie_attributes(set_cookie: str) -> dict[str, str]:
    parts = [part.strip() for part in set_cookie.split(";")[1:]]
    return {
        name.lower(): value for name, _, value in (part.partition("=") for part in parts if part)
    }


def test_the_session_cookie_is_http_only_same_site_lax_and_for_the_app_alone(
    app: Flask, ours: Company
) -> None:
    answer = log_in(app.test_client(), ours.manager_email)
    attributes = cookie_attributes(session_cookie(answer))
    assert "httponly" in attributes
    assert attributes["samesite"] == "Lax"
    assert attributes["path"] == "/app"
    assert "secure" not in attributes  # served over http here


def test_the_session_cookie_is_secure_when_the_public_address_is_https(
    app: Flask, ours: Company, module_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    https = make_app(
        module_database_url, tmp_path_factory.mktemp("var"), public_url="https://crm.example.com"
    )
    try:
        client = https.test_client()
        login = client.get("/app/login", base_url="https://crm.example.com")
        answer = client.post(
            "/app/login",
            base_url="https://crm.example.com",
            data={"email": ours.manager_email, "password": PASSWORD, "csrf_token": csrf_of(login)},
        )
        assert answer.status_code == 302
        attributes = cookie_attributes(session_cookie(answer))
        assert "secure" in attributes and "httponly" in attributes
        assert attributes["samesite"] == "Lax"
    finally:
        container_of(https).engine().dispose()


# --- without a session --------------------------------------------------------------------


def test_pages_without_a_session_go_to_the_login_page_and_scripts_get_401(
    app: Flask, ours: Company
) -> None:
    board, stage = board_of(ours), ours.stage("Новый лид")
    paths = [
        "/app/",
        board,
        f"{board}/columns/{stage}",
        f"{board}/columns/{stage}/more",
        f"{board}/versions",
        f"/app/deals/{ours.deal['id']}",
    ]
    client = app.test_client()
    for path in paths:
        page = client.get(path)
        assert page.status_code == 302, f"{path} -> {page.status_code}"
        location = urlsplit(page.headers["Location"])
        assert location.path == "/app/login", f"{path} -> {page.headers['Location']}"
        for script in ({"X-CSRF-Token": "anything"}, {"HX-Request": "true"}):
            answer = client.get(path, headers=script)
            assert answer.status_code == 401, f"{path} {script} -> {answer.status_code}"
            assert answer.headers["HX-Redirect"].startswith("/app/login")
    assert ours.deal["title"] not in client.get(board, follow_redirects=True).get_data(as_text=True)


def test_after_login_the_page_asked_for_opens(app: Flask, ours: Company) -> None:
    client = app.test_client()
    asked = f"{board_of(ours)}?kind=leads"
    to_login = client.get(asked)
    login_page = client.get(to_login.headers["Location"])
    assert f'value="{asked}"' in login_page.get_data(as_text=True).replace("&amp;", "&")
    answer = log_in(client, ours.manager_email, next=asked)
    assert answer.headers["Location"] == asked


# --- logout -------------------------------------------------------------------------------


def test_logout_revokes_the_token_so_the_old_cookie_no_longer_works(
    app: Flask, ours: Company
) -> None:
    browser = signed_in(app, ours.manager_email)
    cookie = browser.client.get_cookie("crm_session", path="/app")
    assert cookie is not None
    token = app.session_interface.get_signing_serializer(app).loads(cookie.value)["token"]  # type: ignore[attr-defined]
    api = app.test_client()
    me = api.get("/api/crm/users/me/", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200

    answer = browser.post("/app/logout")
    assert answer.status_code == 302
    assert urlsplit(answer.headers["Location"]).path == "/app/login"

    replayed = app.test_client()
    replayed.set_cookie("crm_session", cookie.value, path="/app")
    assert replayed.get(board_of(ours)).status_code == 302
    me = api.get("/api/crm/users/me/", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 401


# --- the login page -----------------------------------------------------------------------


def test_the_login_page_answers_429_after_too_many_failures(app: Flask) -> None:
    tag = uuid.uuid4().hex[:8]
    email = f"guessed-{tag}@example.com"
    container_of(app).access().create_user(f"Гвоздика {tag}", email, PASSWORD)
    client = app.test_client()
    statuses = [log_in(client, email, "wrong-password").status_code for _ in range(10)]
    assert statuses == [401] * 10
    refused = log_in(client, email, "wrong-password")
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert "Слишком много неудачных попыток" in refused.get_data(as_text=True)
    right = log_in(client, email)  # even the right password waits
    assert right.status_code == 429
    assert client.get_cookie("crm_session", path="/app") is None or (
        client.get("/app/").status_code == 302
    )


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/app/",
        "//evil.example/app/",
        "///evil.example/app/",
        "/\\evil.example/app/",
        "\\\\evil.example/app/",
        "https:evil.example",
        "javascript:alert(1)",
        "/api/crm/users/me/",
        "/app/\\evil.example",
        " //evil.example",
        "/app/\r\nLocation: https://evil.example/",
        "/app/\tx",
        "/app/\x7f",
    ],
)
def test_next_after_login_never_leads_off_the_app(app: Flask, ours: Company, target: str) -> None:
    answer = log_in(app.test_client(), ours.manager_email, next=target)
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/app/"  # refused: the board instead


@pytest.mark.parametrize(
    "target",
    [
        "/app/deals/",
        "/app/funnels/00000000-0000-4000-8000-000000000000/board?kind=leads",
        # A path of the app all the same: a browser reads no host after "/app/".
        "/app//evil.example",
    ],
)
def test_next_after_login_keeps_a_path_of_the_app(app: Flask, ours: Company, target: str) -> None:
    answer = log_in(app.test_client(), ours.manager_email, next=target)
    assert answer.status_code == 302
    assert answer.headers["Location"] == target
    where = urlsplit(urljoin(f"{HOST}/app/login", answer.headers["Location"]))
    assert (where.scheme, where.netloc) == ("http", "localhost")


def test_next_is_written_into_the_login_page_escaped(app: Flask) -> None:
    page = app.test_client().get('/app/login?next="><script>alert(1)</script>')
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "<script>alert(1)" not in html
    escaped = "&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"
    assert f'<input type="hidden" name="next" value="{escaped}">' in html
