"""The board's budget on PostgreSQL: `python -m bench.board`.

In a fresh database on CRM_BENCH_POSTGRES_URL's server (dropped afterwards), one funnel of open
deals with their contacts, open and done tasks and unread messages. It counts the SQL statements
of one board request and of one versions poll (the session's authentication included) at 500
and at 5,000 deals, in-process; then, with `crm serve` on a free loopback port and Debian's
Chromium (never a downloaded one), it times the board's first paint and a dragged card from the
drop to the confirmed move's headers, and weighs the JavaScript the board loads. Prints the
figures beside their aims and writes them to var/bench/board-latest.json.
"""

from __future__ import annotations

import gzip
import json
import os
import platform
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import psycopg
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import Page, sync_playwright
from sqlalchemy import event

from crm_adapters.sql.migrate import upgrade
from crm_core.ports import Resource
from crm_core.tenancy import Role
from crm_core.values import CompanyId, FunnelId, StageId, UserId
from crm_http.app import create_app
from crm_http.config import Settings

DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SIZES = (500, 5_000)  # open deals: the statements must not grow from one to the other
PAINT_RUNS = 5
MOVE_RUNS = 9
MANAGERS = 4
EMAIL, PASSWORD = "admin@bench.example", "bench-password"
SECRET_KEY = "bench-board-secret-key-0123456789"
CRM = Path(sys.executable).parent / "crm"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
RESULT = Path("var") / "bench" / "board-latest.json"

AIMS = {
    "first_paint_ms": 300.0,
    "board_statements": 5,
    "versions_statements": 5,
    "move_ms": 150.0,
    "javascript_gzip_kb": 50.0,
}

# The page's first paint: first-contentful-paint, else first-paint, once the browser has it.
FIRST_PAINT = """() => new Promise((resolve) => {
  const find = () => {
    const paints = performance.getEntriesByType("paint");
    return paints.find((e) => e.name === "first-contentful-paint")
      || paints.find((e) => e.name === "first-paint");
  };
  const found = find();
  if (found) return resolve({name: found.name, ms: found.startTime,
    response: performance.getEntriesByType("navigation")[0].responseEnd});
  new PerformanceObserver((list, observer) => {
    const entry = find();
    if (entry) {
      observer.disconnect();
      resolve({name: entry.name, ms: entry.startTime,
        response: performance.getEntriesByType("navigation")[0].responseEnd});
    }
  }).observe({type: "paint", buffered: true});
})"""

# A real drag (Playwright's mouse, Sortable's HTML5 drag and drop): DROP_WATCH notes when the
# card is dropped and when the target column's header next changes (the board writes the
# server's figures there once the move is confirmed, then swaps in the server's card);
# DROP_TIMES reads both when the header has changed.
DROP_WATCH = """(to) => {
  const watch = window.benchDrop = {dropped: null, confirmed: null};
  const dropped = () => { if (watch.dropped === null) watch.dropped = performance.now(); };
  document.addEventListener("drop", dropped, {capture: true, once: true});
  document.addEventListener("dragend", dropped, {capture: true, once: true});
  const count = document.querySelector(`#column-${to} [data-count]`);
  const observer = new MutationObserver(() => {
    observer.disconnect();
    watch.confirmed = performance.now();
  });
  observer.observe(count, {childList: true, characterData: true, subtree: true});
}"""
DROP_TIMES = "() => window.benchDrop.confirmed !== null && window.benchDrop"
# What the first screen holds: the subqueries for tasks and unread messages must show.
SHOWN = """() => ({
  cards: document.querySelectorAll(".card").length,
  task_badges: document.querySelectorAll(".badge.overdue, .badge.today").length,
  unread_badges: document.querySelectorAll(".badge.unread").length,
  html_bytes: document.documentElement.outerHTML.length,
})"""


@attrs.frozen
class Funnel:
    company_id: CompanyId
    admin_id: UserId
    managers: tuple[uuid.UUID, ...]
    funnel_id: FunnelId
    open_stages: tuple[StageId, ...]
    account_id: uuid.UUID


# ----------------------------------------------------------------------------- the database


@contextmanager
def fresh_database(server: str) -> Iterator[str]:
    admin_dsn = server.replace("postgresql+psycopg://", "postgresql://", 1)
    name = f"crm_bench_board_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{server.rpartition('/')[0]}/{name}"
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def seed(app: Flask) -> Funnel:
    """The company, its admin and funnel through the use cases; managers and the messaging
    account (what the unread messages hang on) by plain inserts."""
    container: Any = app.extensions["crm.container"]
    access = container.access()
    user_id, token = access.create_user("Бенчмарк доски", EMAIL, PASSWORD, Role.ADMIN, "Админ")
    actor = access.authenticate(token)
    funnel_id = container.funnels().create_funnel(actor, "Продажи")
    detail = container.read_model().detail(Resource.FUNNELS, actor.company_id, funnel_id)
    open_stages = tuple(stage["id"] for stage in detail["stages"] if not stage["is_final"])
    managers = tuple(uuid.uuid4() for _ in range(MANAGERS))
    account_id = uuid.uuid4()
    now = datetime.now(UTC)
    with psycopg.connect(_libpq(container.settings.database_url())) as connection:
        _copy(
            connection,
            "users",
            "id, company_id, email, role, full_name, created_at",
            (
                (m, actor.company_id, f"manager{i}@bench.example", "manager", f"Менеджер {i}", now)
                for i, m in enumerate(managers)
            ),
        )
        connection.execute(
            "INSERT INTO messaging_accounts (id, company_id, name, api_key_encrypted,"
            " api_key_hint, webhook_secret, chat_type, metadata, created_at)"
            " VALUES (%s, %s, 'WhatsApp', 'x', '…abcd', 'secret', 'whatsapp', '{}', %s)",
            (account_id, actor.company_id, now),
        )
    return Funnel(actor.company_id, user_id, managers, funnel_id, open_stages, account_id)


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _copy(connection: psycopg.Connection[Any], table: str, columns: str, rows: Any) -> None:
    with connection.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def fill(url: str, funnel: Funnel, first: int, count: int, rng: random.Random) -> None:
    """Deals `first` to `first + count` of the funnel, open, spread over its open stages and
    the last two months, each with a contact of its own and its first stay; a fifth with an
    open task (overdue, due today or later), a tenth with a done one; a tenth of the contacts
    with unread incoming messages, a fifth with read ones."""
    now = datetime.now(UTC)
    owners = (funnel.admin_id, *funnel.managers)
    deals = []
    for number in range(first, first + count):
        moment = now - timedelta(seconds=rng.randrange(60 * 86400))
        deals.append(
            (
                uuid.uuid4(),  # deal
                uuid.uuid4(),  # contact
                rng.choice(funnel.open_stages),
                rng.choice(owners),
                number,
                moment,
            )
        )
    company = funnel.company_id
    with psycopg.connect(_libpq(url)) as connection:
        _copy(
            connection,
            "contacts",
            "id, company_id, first_name, last_name, phone, phone_digits, tags, owner_id,"
            " created_at, updated_at",
            (
                (
                    c,
                    company,
                    f"Имя{n}",
                    f"Фамилия{n}",
                    f"+7999{n:07d}",
                    f"7999{n:07d}",
                    "[]",
                    owner,
                    at,
                    at,
                )
                for _, c, _, owner, n, at in deals
            ),
        )
        _copy(
            connection,
            "deals",
            "id, company_id, contact_id, funnel_id, stage_id, owner_id, title, amount,"
            " probability, stage_changed_at, created_at, updated_at, version",
            (
                (
                    d,
                    company,
                    c,
                    funnel.funnel_id,
                    stage,
                    owner,
                    f"Сделка {n}",
                    rng.randrange(10_000, 5_000_000),
                    rng.randrange(101),
                    at,
                    at,
                    at,
                    1,
                )
                for d, c, stage, owner, n, at in deals
            ),
        )
        _copy(
            connection,
            "stage_transitions",
            "id, subject, deal_id, to_stage_id, entered_at, seq, actor_id",
            ((uuid.uuid4(), "deal", d, stage, at, 0, owner) for d, _, stage, owner, _, at in deals),
        )
        tasks = []
        for d, c, _, owner, _, at in deals:
            chance = rng.random()
            if chance < 0.3:
                due = (now + timedelta(days=rng.randint(-5, 10))).date()
                tasks.append(
                    (
                        uuid.uuid4(),
                        company,
                        "task",
                        "Перезвонить",
                        at,
                        c,
                        d,
                        owner,
                        due,
                        chance < 0.1,
                        at,
                        at,
                    )
                )
        _copy(
            connection,
            "activities",
            "id, company_id, activity_type, title, activity_date, contact_id, deal_id, user_id,"
            " due_date, is_done, created_at, updated_at",
            tasks,
        )
        messages = []
        for _, c, _, _, n, at in deals:
            chance = rng.random()
            if chance < 0.3:
                for k in range(rng.randint(1, 3)):
                    sent = at + timedelta(minutes=k)
                    messages.append(
                        (
                            uuid.uuid4(),
                            company,
                            funnel.account_id,
                            "whatsapp",
                            f"7999{n:07d}",
                            True,
                            sent,
                            "text",
                            "Здравствуйте!",
                            f"m{n}-{k}",
                            c,
                            "delivered",
                            chance >= 0.1,
                            "{}",
                            sent,
                            sent,
                        )
                    )
        _copy(
            connection,
            "messages",
            "id, company_id, account_id, chat_type, chat_id, is_incoming, timestamp,"
            " message_type, text, provider_message_id, contact_id, status, is_read, metadata,"
            " created_at, updated_at",
            messages,
        )
        connection.commit()
        connection.autocommit = True
        connection.execute("ANALYZE")


# ----------------------------------------------------------------------------- in-process counts


def signed_in(app: Flask) -> FlaskClient:
    client = app.test_client()
    page = client.get("/app/login").get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "the login page has no CSRF field"
    answer = client.post(
        "/app/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": found[1]}
    )
    assert answer.status_code == 302, answer.status_code
    return client


@contextmanager
def recording(app: Flask) -> Iterator[list[str]]:
    """The SQL statements the app's engine sends within the block."""
    engine = app.extensions["crm.container"].engine()
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


def statements(app: Flask, client: FlaskClient, path: str) -> list[str]:
    """The SQL statements one GET of `path` sends (after one warm-up GET)."""
    assert client.get(path).status_code == 200
    with recording(app) as sent:
        assert client.get(path).status_code == 200
    return sent


def move_statements(app: Flask, client: FlaskClient, funnel: Funnel, board: str) -> list[str]:
    """The SQL statements of one move as the board sends it (for the record: no aim)."""
    page = client.get(board).get_data(as_text=True)
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)
    card = re.search(r'class="card" id="card-[^"]+" data-id="([^"]+)"', page)
    assert csrf and card, "the board has no CSRF token or no card"
    with recording(app) as sent:
        answer = client.post(
            f"/app/deals/{card[1]}/move",
            data={"stage_id": str(funnel.open_stages[-1]), "funnel_id": str(funnel.funnel_id)},
            headers={"X-CSRF-Token": csrf[1]},
        )
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return sent


# ----------------------------------------------------------------------------- in the browser


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving(url: str, folder: Path) -> Iterator[str]:
    """`crm serve` (gunicorn) against `url` on a free loopback port; yields its base URL."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("CRM_")}
    env.update(CRM_DATABASE_URL=url, CRM_SECRET_KEY=SECRET_KEY, CRM_LOG_LEVEL="WARNING")
    port, log = _free_port(), folder / "serve.log"
    with open(log, "wb") as output:
        server = subprocess.Popen(
            [str(CRM), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=folder,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                raise SystemExit(f"crm serve exited:\n{log.read_text(errors='replace')}")
            try:
                with urllib.request.urlopen(f"{base}/api/health/", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("crm serve did not answer within a minute")
            time.sleep(0.2)
        yield base
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)


def first_paints(page: Page, board: str) -> list[dict[str, Any]]:
    paints = []
    for _ in range(PAINT_RUNS):
        page.goto(board, wait_until="load")
        paints.append(page.evaluate(FIRST_PAINT))
    return paints


def moves(page: Page, funnel: Funnel) -> list[float]:
    """Drags the newest card of the first column onto the second, MOVE_RUNS times: from the
    drop to the confirmed move's headers."""
    times = []
    source, target = funnel.open_stages[0], funnel.open_stages[1]
    for _ in range(MOVE_RUNS):
        card = page.locator(f"#column-{source} .cards .card").first
        moved = card.get_attribute("data-id")
        page.evaluate(DROP_WATCH, str(target))
        card.drag_to(page.locator(f"#column-{target} .cards"))
        watch = page.wait_for_function(DROP_TIMES, timeout=10_000).json_value()
        assert watch["dropped"] is not None, "no drop was seen"
        times.append(watch["confirmed"] - watch["dropped"])
        page.wait_for_selector(f"#column-{target} #card-{moved}")  # the server's card, in place
        page.wait_for_timeout(200)
    return times


def javascript(page: Page) -> list[dict[str, Any]]:
    """Each script the board loads, as served, and its size gzipped (level 6)."""
    sources = page.evaluate("[...document.scripts].map((s) => s.src).filter(Boolean)")
    shipped = []
    for source in sources:
        answer = page.request.get(source, headers={"Accept-Encoding": "gzip"})
        body = answer.body()
        shipped.append(
            {
                "path": source.split("/app/static/", 1)[-1].split("?", 1)[0],
                "bytes": len(body),
                "gzip_bytes": len(gzip.compress(body, compresslevel=6, mtime=0)),
                "served_encoding": answer.headers.get("content-encoding", "identity"),
            }
        )
    return shipped


def in_browser(base: str, funnel: Funnel) -> dict[str, Any]:
    board = f"{base}/app/funnels/{funnel.funnel_id}/board?kind=deals"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(f"{base}/app/login")
        page.fill("#email", EMAIL)
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("[data-board]")
        paints = first_paints(page, board)
        page.goto(board, wait_until="load")
        shown = page.evaluate(SHOWN)
        move_times = moves(page, funnel)
        scripts = javascript(page)
        version = browser.version
        browser.close()
    return {
        "paints": paints,
        "shown": shown,
        "moves": move_times,
        "scripts": scripts,
        "chromium": version,
    }


# ----------------------------------------------------------------------------- the report


def machine() -> str:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} cores, {memory:.0f} GiB, Python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.1f}"
    )


def report(figures: dict[str, Any]) -> None:
    def row(label: str, value: str, aim: str, ok: bool | None) -> None:
        verdict = "" if ok is None else "ok" if ok else "OVER"
        print(f"| {label:<58} | {value:>12} | {aim:>8} | {verdict:<4} |")

    shown = figures["board_page"]
    print(f"\nBoard on PostgreSQL {figures['postgres']}; {figures['machine']}")
    print(
        f"The first screen: {shown['cards']} cards, {shown['task_badges']} task badges, "
        f"{shown['unread_badges']} unread badges; Chromium {figures['chromium']}."
    )
    print(f"| {'figure':<58} | {'value':>12} | {'aim':>8} | {'':<4} |")
    print(f"|{'-' * 60}|{'-' * 14}|{'-' * 10}|{'-' * 6}|")
    paint = figures["first_paint_ms"]
    row(
        f"first paint of the board, {figures['open_deals']:,} deals (median of {PAINT_RUNS})",
        f"{paint:.0f} ms",
        "≤ 300 ms",
        paint <= AIMS["first_paint_ms"],
    )
    for kind in ("board", "versions"):
        counts = figures[f"{kind}_statements"]
        label = f"SQL statements per {kind} request at " + " / ".join(
            f"{size:,}" for size in counts
        )
        most = max(counts.values())
        row(
            label,
            " / ".join(str(n) for n in counts.values()),
            "≤ 5",
            most <= AIMS[f"{kind}_statements"] and len(set(counts.values())) == 1,
        )
    move = figures["move_ms"]
    row(
        f"drop to confirmed move and headers (median of {MOVE_RUNS})",
        f"{move:.0f} ms",
        "≤ 150 ms",
        move <= AIMS["move_ms"],
    )
    row(
        "SQL statements per move request (for the record)",
        str(figures["move_statements"]),
        "",
        None,
    )
    shipped = figures["javascript_gzip_kb"]
    row(
        "JavaScript of the board, gzipped (-6)",
        f"{shipped:.1f} kB",
        "≤ 50 kB",
        shipped <= AIMS["javascript_gzip_kb"],
    )


def main() -> int:
    server = os.environ.get("CRM_BENCH_POSTGRES_URL") or DEFAULT_SERVER
    started = time.perf_counter()
    rng = random.Random(7)
    counted: dict[str, dict[int, list[str]]] = {"board": {}, "versions": {}}
    with fresh_database(server) as url, tempfile.TemporaryDirectory() as work:
        upgrade(url)
        app = create_app(Settings(database_url=url, secret_key=SECRET_KEY, log_level="WARNING"))
        container: Any = app.extensions["crm.container"]
        try:
            funnel = seed(app)
            client = signed_in(app)
            board = f"/app/funnels/{funnel.funnel_id}/board?kind=deals"
            versions = f"/app/funnels/{funnel.funnel_id}/board/versions?kind=deals"
            filled = 0
            for size in SIZES:
                fill(url, funnel, filled, size - filled, rng)
                filled = size
                counted["board"][size] = statements(app, client, board)
                counted["versions"][size] = statements(app, client, versions)
            moved = move_statements(app, client, funnel, board)
            with container.engine().connect() as connection:
                postgres = connection.exec_driver_sql("SHOW server_version").scalar()
        finally:
            container.engine().dispose()
        with serving(url, Path(work)) as base:
            browser = in_browser(base, funnel)
    shipped = sum(script["gzip_bytes"] for script in browser["scripts"])
    figures: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "postgres": postgres,
        "chromium": browser["chromium"],
        "open_deals": SIZES[-1],
        "first_paint_ms": statistics.median(paint["ms"] for paint in browser["paints"]),
        "first_paint_runs": browser["paints"],
        "board_page": browser["shown"],
        "board_statements": {size: len(sent) for size, sent in counted["board"].items()},
        "versions_statements": {size: len(sent) for size, sent in counted["versions"].items()},
        "statements_sent": {
            **{kind: counted[kind][SIZES[-1]] for kind in ("board", "versions")},
            "move": moved,
        },
        "move_statements": len(moved),
        "move_ms": statistics.median(browser["moves"]),
        "move_runs_ms": browser["moves"],
        "javascript_gzip_kb": shipped / 1000,
        "javascript": browser["scripts"],
        "aims": AIMS,
        "seconds": round(time.perf_counter() - started, 1),
    }
    report(figures)
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(figures, ensure_ascii=False, indent=2, default=str) + "\n")
    print(f"\n{RESULT} written; {figures['seconds']:.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
