"""The web app in a real browser: Playwright drives Debian's chromium against a live
`crm serve` on SQLite, one per test session (per xdist worker); data is made through the API.

Without /usr/bin/chromium the whole folder is left out with one line (tests/conftest.py).
"""

from __future__ import annotations

import json
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Locator,
    Page,
    Playwright,
    ViewportSize,
    expect,
    sync_playwright,
)

from crm_adapters.sql.migrate import upgrade
from crm_core.tenancy import Role
from crm_http.config import Settings
from crm_http.container import Container, configure
from crm_http.web.format import rubles
from tests.conftest import CHROMIUM
from tests.integration.http_contract.conftest import (
    SECRET_KEY,
    Api,
    Server,
    fresh_database,
    serving,
)

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
DESKTOP = ViewportSize(width=1280, height=800)
PHONE = ViewportSize(width=390, height=844)
PASSWORD = "Пароль-браузер-1"
# Polling runs every 5 s: others' changes show within 10 s.
SEEN_WITHIN_MS = 10_000
ACTION_TIMEOUT_MS = 10_000

expect.set_options(timeout=5_000)


@dataclass
class User:
    email: str
    api: Api


@dataclass
class Company:
    name: str
    admin: User
    manager: User

    def funnel(self, **fields: Any) -> Funnel:
        return Funnel(self.admin.api.funnel(**fields))

    def contact(self) -> dict[str, Any]:
        return self.admin.api.contact(first_name="Пётр", last_name="Иванов")


@dataclass
class Funnel:
    """A funnel made through the API, with its stages by name."""

    row: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.row["id"])

    def stage(self, name: str) -> str:
        return next(str(s["id"]) for s in self.row["stages"] if s["name"] == name)

    def board(self, kind: str = "deals") -> str:
        return f"/app/funnels/{self.id}/board?kind={kind}"


@dataclass
class Live:
    """The running server and the company every test works in (each in a funnel of its own,
    so tests do not see each other)."""

    server: Server
    company: Company


def _first_admin(database_url: str, workdir: Path, company: str, email: str) -> str:
    """The company and its admin, made in this process (`crm create-user` would cost a
    Python start); the admin's API token."""
    container = Container()
    configure(
        container, Settings(database_url=database_url, secret_key=SECRET_KEY, var_dir=workdir)
    )
    try:
        _, token = container.access().create_user(company, email, PASSWORD, Role.ADMIN)
    finally:
        container.engine().dispose()
    return token


def _company(server: Server, name: str, admin_token: str, admin_email: str) -> Company:
    admin = Api(server.base_url, admin_token)
    manager_email = admin_email.replace("admin-", "manager-")
    admin.create(
        "users",
        {"email": manager_email, "password": PASSWORD, "role": "manager", "full_name": "Мария"},
    )
    manager = Api(server.base_url, None)
    answer = manager.ok(
        "POST", "/api/auth/token/", json={"email": manager_email, "password": PASSWORD}
    )
    manager.headers["Authorization"] = f"Bearer {answer['token']}"
    return Company(name, User(admin_email, admin), User(manager_email, manager))


@pytest.fixture(scope="session")
def live() -> Iterator[Live]:
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="crm-browser-")))
        url = stack.enter_context(fresh_database("sqlite", workdir))
        upgrade(url)
        name, admin_email = "ООО Ромашка", f"admin-{uuid.uuid4().hex[:8]}@example.com"
        token = _first_admin(url, workdir, name, admin_email)
        server = stack.enter_context(serving(url, workdir, migrate=False))
        company = _company(server, name, token, admin_email)
        stack.callback(company.admin.api.close)
        stack.callback(company.manager.api.close)
        yield Live(server, company)


@pytest.fixture(scope="session")
def company(live: Live) -> Company:
    return live.company


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield browser
    browser.close()


class Contexts:
    """New browser contexts (one per user) that are closed after the test; an error thrown
    by the pages' scripts fails the test."""

    def __init__(self, browser: Browser, base_url: str) -> None:
        self.browser, self.base_url = browser, base_url
        self.opened: list[BrowserContext] = []
        self.script_errors: list[str] = []

    def page(self, viewport: ViewportSize = DESKTOP) -> Page:
        context = self.browser.new_context(
            base_url=self.base_url, viewport=viewport, locale="ru-RU"
        )
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        self.opened.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: self.script_errors.append(f"{page.url}: {error}"))
        return page

    def close(self) -> None:
        for context in self.opened:
            context.close()


@pytest.fixture
def contexts(browser: Browser, live: Live) -> Iterator[Contexts]:
    opened = Contexts(browser, live.server.base_url)
    yield opened
    opened.close()
    assert not opened.script_errors, f"the page's scripts failed: {opened.script_errors}"


@pytest.fixture
def page(contexts: Contexts) -> Page:
    return contexts.page()


def sign_in(page: Page, user: User, then: str = "/app/") -> None:
    """Through the login page, the way a person signs in."""
    page.goto(f"/app/login?next={quote(then, safe='/')}")
    page.get_by_label("E-mail").fill(user.email)
    page.get_by_label("Пароль").fill(PASSWORD)
    with page.expect_navigation(url=lambda url: "/app/login" not in url):
        page.get_by_role("button", name="Войти").click()


# --- the board as the tests read it ---------------------------------------------------------


def column(page: Page, stage_id: str) -> Locator:
    return page.locator(f"#column-{stage_id}")


def expect_header(page: Page, stage_id: str, count: int, amount: str) -> None:
    section = column(page, stage_id)
    expect(section.locator("[data-count]")).to_have_text(str(count))
    expect(section.locator("[data-amount]")).to_have_text(rubles(Decimal(amount)))


def card_ids(page: Page, stage_id: str) -> list[str]:
    """The ids of a column's cards, top to bottom."""
    cards = column(page, stage_id).locator(".card")
    return [str(card_id) for card_id in cards.evaluate_all("cards => cards.map(c => c.dataset.id)")]


def deals_in(company: Company, funnel: Funnel, *amounts: str) -> list[dict[str, Any]]:
    """Deals in the first stage, made oldest first (so the board shows the last one on top)."""
    contact = company.contact()
    return [
        company.admin.api.deal(contact, funnel.row, title=f"Поставка {n}", amount=amount)
        for n, amount in enumerate(amounts, 1)
    ]


# axe leaves this rule out unless asked (it is "experimental"): a control's accessible name
# must contain the words it shows (WCAG 2.5.3), so that speaking them operates it.
AXE_OPTIONS = {"rules": {"label-content-name-mismatch": {"enabled": True}}}


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "async (options) => (await axe.run(document, options)).violations", AXE_OPTIONS
    )
    return [v for v in result if v["impact"] in ("serious", "critical")]


def readable(violations: list[dict[str, Any]]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"{violation['impact']}: {violation['id']}: {violation['help']}")
        for node in violation["nodes"]:
            lines.append(f"    {json.dumps(node['target'], ensure_ascii=False)}")
            lines.append(f"      {node['failureSummary'].replace(chr(10), chr(10) + '      ')}")
    return "\n".join(lines)
