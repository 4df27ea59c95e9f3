"""Section 6: the `crm` command line, run as a user runs it."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .conftest import (
    CRM_BIN,
    Api,
    Server,
    crm_env,
    free_port,
    fresh_database,
    last_line,
    run_crm,
    serving,
    stop,
    token_from,
)


def test_given_a_new_company_when_creating_a_user_then_the_token_is_alone_on_the_last_line(
    server: Server,
) -> None:
    tag = uuid.uuid4().hex[:8]
    email = f"cli-{tag}@example.com"
    result = server.crm(
        "create-user",
        "--company",
        f"ООО CLI {tag}",
        "--email",
        email,
        "--password",
        "p4ss-word",
        "--role",
        "admin",
    )
    assert result.returncode == 0, result.stderr
    token = last_line(result.stdout)
    assert token == token_from(result)
    assert len(token) >= 32
    with Api(server.base_url, token) as api:
        me = api.ok("GET", "users/me/")
        assert (me["email"], me["role"]) == (email, "admin")
    r = httpx.post(
        f"{server.base_url}/api/auth/token/", json={"email": email, "password": "p4ss-word"}
    )
    assert r.status_code in (200, 201) and r.json()["token"]


def test_given_an_existing_company_when_creating_a_manager_then_both_share_the_company(
    server: Server,
) -> None:
    tag = uuid.uuid4().hex[:8]
    company = f"ООО Общая {tag}"
    admin = server.create_user(company, f"boss-{tag}@example.com", "pw-123456", "admin")
    manager = server.create_user(company, f"clerk-{tag}@example.com", "pw-123456", "manager")
    with Api(server.base_url, admin) as a, Api(server.base_url, manager) as m:
        assert m.ok("GET", "users/me/")["role"] == "manager"
        emails = {u["email"] for u in a.list("users")["results"]}
        assert emails == {f"boss-{tag}@example.com", f"clerk-{tag}@example.com"}
        funnel = a.funnel()
        assert m.fetch("funnels", funnel["id"])["company_name"] == company


def test_given_a_user_when_creating_a_token_then_a_new_working_token_alone(server: Server) -> None:
    tag = uuid.uuid4().hex[:8]
    email = f"again-{tag}@example.com"
    first = server.create_user(f"ООО Токен {tag}", email, "pw-123456", "manager")
    result = server.crm("create-token", "--email", email)
    token = token_from(result)
    assert token != first
    assert len(token) >= 32
    with Api(server.base_url, token) as api:
        assert api.ok("GET", "users/me/")["email"] == email


def test_given_an_unknown_email_when_creating_a_token_then_it_fails(server: Server) -> None:
    result = server.crm("create-token", "--email", f"nobody-{uuid.uuid4().hex[:6]}@example.com")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def demo(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    workdir = tmp_path_factory.mktemp("demo")
    with fresh_database(backend, workdir) as url:
        env = crm_env(url)
        assert run_crm(["db", "upgrade"], env, workdir).returncode == 0
        token = token_from(run_crm(["demo"], env, workdir))
        with serving(url, workdir, migrate=False) as server:
            yield server, token


def test_given_an_empty_database_when_loading_the_demo_then_its_token_works_on_real_data(
    demo: tuple[Server, str],
) -> None:
    server, token = demo
    assert len(token) >= 32
    with Api(server.base_url, token) as api:
        me = api.ok("GET", "users/me/")
        assert me["role"] == "admin"
        funnels = api.list("funnels")["results"]
        assert funnels and funnels[0]["stages"]
        for resource in ("contacts", "leads", "deals"):
            assert api.list(resource)["count"] >= 1, resource
        stats = api.ok("GET", f"funnels/{funnels[0]['id']}/statistics/")
        assert stats["leads_count"] + stats["deals_count"] >= 1


def test_given_a_migrated_database_when_upgrading_again_then_nothing_breaks(
    backend: str, tmp_path: Path
) -> None:
    with fresh_database(backend, tmp_path) as url:
        env = crm_env(url)
        assert run_crm(["db", "upgrade"], env, tmp_path).returncode == 0
        second = run_crm(["db", "upgrade"], env, tmp_path)
        assert second.returncode == 0, second.stderr


def test_given_an_unmigrated_database_when_serving_then_it_refuses_and_says_run_crm_db_upgrade(
    backend: str, tmp_path: Path
) -> None:
    with fresh_database(backend, tmp_path) as url:
        port = free_port()
        proc = subprocess.Popen(
            [str(CRM_BIN), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=crm_env(url),
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            stop(proc)  # type: ignore[arg-type]
            out, err = proc.communicate()
            pytest.fail(f"crm serve kept running on an unmigrated database:\n{out}\n{err}")
        assert proc.returncode != 0
        assert "crm db upgrade" in out + err, out + err
        assert "Traceback" not in out + err
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/api/health/", timeout=1)
