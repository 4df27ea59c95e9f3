"""The whole suite: PostgreSQL tests run when CRM_TEST_POSTGRES_URL names a server, and the
browser tests when Debian's chromium is installed; without either, its tests are left out
with a single line saying so (not hundreds of skips). With CRM_REQUIRE_BROWSER=1 (as CI
sets it) a missing chromium stops the run instead."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

POSTGRES_ABSENT = (
    "PostgreSQL: CRM_TEST_POSTGRES_URL is not set, so the PostgreSQL half of the integration "
    "tests is not run (.ci/run sets it)."
)
CHROMIUM = Path("/usr/bin/chromium")
BROWSER_TESTS = Path(__file__).parent / "browser"
CHROMIUM_ABSENT = (
    f"Browser: {CHROMIUM} is missing, so the tests in tests/browser are not run "
    "(.ci/run installs Debian's chromium)."
)
CHROMIUM_REQUIRED = (
    f"Browser: CRM_REQUIRE_BROWSER=1 but {CHROMIUM} is missing, so the tests in tests/browser "
    "cannot run (install Debian's chromium, as .ci/run does)."
)


def _postgres_url() -> str:
    return os.environ.get("CRM_TEST_POSTGRES_URL", "")


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("CRM_REQUIRE_BROWSER") == "1" and not CHROMIUM.exists():
        raise pytest.UsageError(CHROMIUM_REQUIRED)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    # `make test` runs pytest twice: the second run leaves the line to the first.
    if not _postgres_url() and not os.environ.get("CRM_POSTGRES_NOTE_SAID"):
        terminalreporter.write_line(POSTGRES_ABSENT)
    if not CHROMIUM.exists():
        terminalreporter.write_line(CHROMIUM_ABSENT)


def _left_out(item: pytest.Item) -> bool:
    if not _postgres_url() and item.get_closest_marker("postgres"):
        return True
    return not CHROMIUM.exists() and BROWSER_TESTS in item.path.parents


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    absent = [item for item in items if _left_out(item)]
    if absent:
        config.hook.pytest_deselected(items=absent)
        items[:] = [item for item in items if not _left_out(item)]
