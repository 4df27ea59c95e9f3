"""The whole suite: PostgreSQL tests run when CRM_TEST_POSTGRES_URL names a server, and
without one they are left out with a single line saying so (not hundreds of skips)."""

from __future__ import annotations

import os

import pytest

POSTGRES_ABSENT = (
    "PostgreSQL: CRM_TEST_POSTGRES_URL is not set, so the PostgreSQL half of the integration "
    "tests is not run (.ci/run sets it)."
)


def _postgres_url() -> str:
    return os.environ.get("CRM_TEST_POSTGRES_URL", "")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _postgres_url():
        terminalreporter.write_line(POSTGRES_ABSENT)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _postgres_url():
        return
    absent = [item for item in items if item.get_closest_marker("postgres")]
    if absent:
        config.hook.pytest_deselected(items=absent)
        items[:] = [item for item in items if not item.get_closest_marker("postgres")]
