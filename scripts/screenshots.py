"""Screenshots of the web app on the demo data, for the docs: `make screenshots`.

A fresh SQLite database in a temporary folder, migrated and filled by `crm demo`; `crm serve`
on a free loopback port; Debian's Chromium (never a downloaded one) signs in as the demo admin
and takes 1280×800 PNGs of the board, the board with a card's panel open, and the funnel's
statistics, into docs/screenshots/.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Page, ViewportSize, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "screenshots"
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
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
ADMIN, PASSWORD = "admin@demo.example", "demo-password"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def crm(args: list[str], env: dict[str, str], folder: Path) -> None:
    subprocess.run([str(CRM), *args], env=env, cwd=folder, check=True, stdout=subprocess.DEVNULL)


@contextmanager
def serving(env: dict[str, str], folder: Path) -> Iterator[str]:
    """`crm serve` on a free loopback port until the block ends; yields its base URL."""
    port, log = free_port(), folder / "serve.log"
    with open(log, "wb") as output:
        server = subprocess.Popen(
            [str(CRM), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
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


def sign_in(page: Page, base: str) -> str:
    """Signs in as the demo admin; returns the board's URL, where the app lands."""
    page.goto(f"{base}/app/login")
    page.fill("#email", ADMIN)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("[data-board]")
    return page.url


def settle(page: Page) -> None:
    """Fonts loaded and nothing moving, so that the picture is the page at rest."""
    page.evaluate("document.fonts.ready")
    page.wait_for_timeout(300)


def shoot(page: Page, name: str) -> None:
    path = OUT / name
    page.screenshot(path=str(path))
    print(f"{path.relative_to(ROOT)}: {path.stat().st_size // 1024} KiB")


def board_and_panel(page: Page) -> None:
    settle(page)
    shoot(page, "board.png")
    # A card far along and with a task badge has the most history to show in the panel.
    card = page.locator(".column:nth-child(n+3) .card:has(.badge) [data-open-panel]").first
    if not card.count():
        card = page.locator(".card [data-open-panel]").first
    card.click()
    page.wait_for_selector("#panel:not([hidden])")
    settle(page)
    shoot(page, "panel.png")


def statistics(page: Page, base: str, board_url: str) -> None:
    found = re.search(r"/app/funnels/([0-9a-f-]+)/board", board_url)
    assert found, f"not a board: {board_url}"
    answer = page.goto(f"{base}/app/funnels/{found[1]}/statistics")
    if answer is None or answer.status == 404:
        print("statistics.png skipped: /app/funnels/<id>/statistics answers 404 (not built yet)")
        return
    if not answer.ok:
        raise SystemExit(f"the statistics page answered {answer.status}")
    settle(page)
    shoot(page, "statistics.png")


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="crm-screenshots-") as work:
        folder = Path(work)
        env = {name: value for name, value in os.environ.items() if not name.startswith("CRM_")}
        env.update(
            CRM_DATABASE_URL=f"sqlite:///{folder / 'crm.sqlite3'}",
            CRM_SECRET_KEY=secrets.token_urlsafe(32),
            CRM_LOG_LEVEL="WARNING",
        )
        crm(["db", "upgrade"], env, folder)  # in the folder: no `.env` of the checkout
        crm(["demo"], env, folder)
        with serving(env, folder) as base, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            context = browser.new_context(
                viewport=VIEWPORT, locale="ru-RU", timezone_id="Europe/Moscow"
            )
            page = context.new_page()
            board_url = sign_in(page, base)
            board_and_panel(page)
            statistics(page, base, board_url)
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
