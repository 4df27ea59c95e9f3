"""`crm demo` as `make run` uses it: it never blocks serving a database that has data."""

from __future__ import annotations

from pathlib import Path

from tests.integration.http_contract.conftest import crm_env, run_crm, token_from


def test_demo_on_someone_elses_data_loads_nothing_and_lets_make_run_go_on(tmp_path: Path) -> None:
    env = crm_env(f"sqlite:///{tmp_path / 'crm.sqlite3'}")
    assert run_crm(["db", "upgrade"], env, tmp_path).returncode == 0
    token_from(run_crm(["create-user", "--company", "Своя", "--email", "me@x.io"], env, tmp_path))

    result = run_crm(["demo"], env, tmp_path)

    assert result.returncode == 0, result.stderr
    assert "no demo loaded" in result.stderr
    again = run_crm(["create-token", "--email", "admin@demo.example"], env, tmp_path)
    assert again.returncode != 0  # no demo admin was created behind the user's back


def test_demo_twice_gives_a_fresh_token_for_the_demo_admin(tmp_path: Path) -> None:
    env = crm_env(f"sqlite:///{tmp_path / 'crm.sqlite3'}")
    assert run_crm(["db", "upgrade"], env, tmp_path).returncode == 0
    first = token_from(run_crm(["demo"], env, tmp_path))

    second = token_from(run_crm(["demo"], env, tmp_path))

    assert first != second
