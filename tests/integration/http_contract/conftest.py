"""A live `crm serve` per backend, driven over real HTTP the way an outside client would.

One server per backend and test session (per xdist worker), with two companies made by
`crm create-user`: A with an admin and a manager, B with an admin.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.conftest import BACKENDS, fresh_postgres_database

CRM_BIN = Path(sys.executable).parent / "crm"
if not CRM_BIN.exists():  # pragma: no cover - a run outside the venv
    CRM_BIN = Path(shutil.which("crm") or "crm")

SECRET_KEY = "http-contract-secret-key-0123456789abcdef"
START_TIMEOUT = 60.0

# ----------------------------------------------------------------------------- the command line


def crm_env(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
    env.update(
        CRM_DATABASE_URL=database_url,
        CRM_SECRET_KEY=SECRET_KEY,
        CRM_LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    return env


def run_crm(
    args: list[str], env: dict[str, str], cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CRM_BIN), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def last_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert lines, "the command printed nothing on stdout"
    return lines[-1]


def token_from(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"crm failed:\n{result.stdout}\n{result.stderr}"
    line = last_line(result.stdout)
    assert line == line.strip() and " " not in line, f"last line is not a lone token: {line!r}"
    return line


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A running `crm serve` on a database of its own."""

    base_url: str
    database_url: str
    workdir: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        return {**crm_env(self.database_url), **self.extra_env}

    def crm(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_crm(list(args), self.env, self.workdir)

    def create_user(self, company: str, email: str, password: str, role: str) -> str:
        return token_from(
            self.crm(
                "create-user",
                "--company",
                company,
                "--email",
                email,
                "--password",
                password,
                "--role",
                role,
            )
        )

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


def wait_healthy(base_url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    last_error = ""
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"crm serve exited with {process.returncode}:\n"
                + log_path.read_text(errors="replace")
            )
        try:
            r = httpx.get(f"{base_url}/api/health/", timeout=2)
            if r.status_code == 200:
                return
            last_error = f"{r.status_code} {r.text[:200]}"
        except httpx.HTTPError as e:
            last_error = repr(e)
        time.sleep(0.2)
    raise RuntimeError(f"crm serve did not become healthy: {last_error}")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


@contextmanager
def serving(
    database_url: str,
    workdir: Path,
    migrate: bool = True,
    extra_env: dict[str, str] | None = None,
) -> Iterator[Server]:
    env = {**crm_env(database_url), **(extra_env or {})}
    if migrate:
        result = run_crm(["db", "upgrade"], env, workdir)
        assert result.returncode == 0, f"crm db upgrade failed:\n{result.stdout}\n{result.stderr}"
    port = free_port()
    log_path = workdir / f"serve-{port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(CRM_BIN), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base_url, process, log_path)
        yield Server(base_url, database_url, workdir, process, log_path, extra_env or {})
    finally:
        stop(process)


@contextmanager
def fresh_database(backend: str, workdir: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{workdir / f'crm-{uuid.uuid4().hex[:8]}.sqlite3'}"
    else:
        with fresh_postgres_database() as url:
            yield url


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def server(backend: str) -> Iterator[Server]:
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="crm-http-")))
        url = stack.enter_context(fresh_database(backend, workdir))
        yield stack.enter_context(serving(url, workdir))


# ----------------------------------------------------------------------------- HTTP clients


class Api(httpx.Client):
    """An httpx client for one user: `api.get("contacts/")` means `/api/crm/contacts/`."""

    def __init__(self, base_url: str, token: str | None, **kw: Any) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        super().__init__(base_url=base_url, headers=headers, timeout=30, **kw)
        self.token = token

    def _url(self, path: str) -> str:
        if path.startswith(("http://", "https://", "/")):
            return path
        return f"/api/crm/{path}"

    def request(self, method: str, url: Any, *args: Any, **kw: Any) -> httpx.Response:  # type: ignore[override]
        return super().request(method, self._url(str(url)), *args, **kw)

    # -- helpers that expect success
    def ok(self, method: str, path: str, status: int = 200, **kw: Any) -> Any:
        r = self.request(method, path, **kw)
        assert r.status_code == status, f"{method} {path} -> {r.status_code}: {r.text[:2000]}"
        return r.json() if r.content else None

    def create(self, resource: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.ok("POST", f"{resource}/", 201, json=body)  # type: ignore[no-any-return]

    def fetch(self, resource: str, id_: str) -> dict[str, Any]:
        return self.ok("GET", f"{resource}/{id_}/")  # type: ignore[no-any-return]

    def list(self, resource: str, **params: Any) -> dict[str, Any]:
        return self.ok("GET", f"{resource}/", params=params)  # type: ignore[no-any-return]

    def ids(self, resource: str, **params: Any) -> list[str]:
        params.setdefault("page_size", 500)
        return [item["id"] for item in self.list(resource, **params)["results"]]

    def action(
        self, resource: str, id_: str, action: str, body: Any = None, status: int = 200
    ) -> Any:
        kw = {} if body is None else {"json": body}
        return self.ok("POST", f"{resource}/{id_}/{action}/", status, **kw)

    # -- factories
    def funnel(self, **kw: Any) -> dict[str, Any]:
        body = {"name": f"Воронка {uuid.uuid4().hex[:8]}", **kw}
        return self.create("funnels", body)

    def contact(self, **kw: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "first_name": "Иван",
            "email": f"{uuid.uuid4().hex[:10]}@example.com",
        }
        body.update(kw)
        return self.create("contacts", body)

    def lead(self, contact: dict[str, Any], funnel: dict[str, Any], **kw: Any) -> dict[str, Any]:
        body = {"contact": contact["id"], "funnel": funnel["id"], "title": "Сделка по сайту", **kw}
        return self.create("leads", body)

    def deal(self, contact: dict[str, Any], funnel: dict[str, Any], **kw: Any) -> dict[str, Any]:
        body = {"contact": contact["id"], "funnel": funnel["id"], "title": "Поставка", **kw}
        return self.create("deals", body)


@dataclass
class Tenant:
    company: str
    admin: Api
    admin_email: str
    admin_password: str
    manager: Api | None = None
    manager_email: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Tenants:
    server: Server
    a: Tenant
    b: Tenant

    def anonymous(self) -> Api:
        return Api(self.server.base_url, None)

    def client(self, token: str | None) -> Api:
        return Api(self.server.base_url, token)


PASSWORD = "Пароль-s3cret!"


@pytest.fixture(scope="session")
def tenants(server: Server) -> Iterator[Tenants]:
    """Shared by every module on this server: tests keep to records they make themselves."""
    tag = uuid.uuid4().hex[:8]
    company_a, company_b = f"ООО Ромашка {tag}", f"ИП Лютик {tag}"
    emails = {k: f"{k}-{tag}@example.com" for k in ("a-admin", "a-manager", "b-admin")}
    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(server.create_user, company_a, emails["a-admin"], PASSWORD, "admin")
        b_admin = pool.submit(
            server.create_user, company_b, emails["b-admin"], PASSWORD, "admin"
        ).result()
        a_admin = first.result()
    a_manager = server.create_user(company_a, emails["a-manager"], PASSWORD, "manager")
    a = Tenant(
        company_a,
        Api(server.base_url, a_admin),
        emails["a-admin"],
        PASSWORD,
        Api(server.base_url, a_manager),
        emails["a-manager"],
    )
    b = Tenant(company_b, Api(server.base_url, b_admin), emails["b-admin"], PASSWORD)
    yield Tenants(server, a, b)
    for client in (a.admin, a.manager, b.admin):
        if client is not None:
            client.close()


@pytest.fixture(scope="session")
def api(tenants: Tenants) -> Api:
    """Company A's admin: the main client of most tests."""
    return tenants.a.admin


@pytest.fixture(scope="session")
def manager(tenants: Tenants) -> Api:
    assert tenants.a.manager is not None
    return tenants.a.manager


@pytest.fixture(scope="session")
def other(tenants: Tenants) -> Api:
    """Company B's admin."""
    return tenants.b.admin


@pytest.fixture(scope="session")
def me(api: Api) -> dict[str, Any]:
    return api.ok("GET", "users/me/")  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def manager_me(manager: Api) -> dict[str, Any]:
    return manager.ok("GET", "users/me/")  # type: ignore[no-any-return]
