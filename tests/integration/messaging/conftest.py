"""The CRM and a fake Wazzup as two real HTTP servers on loopback, talking to each other.

The CRM runs in this process on a threaded werkzeug server (jobs inline, so a delivery is
processed before the webhook answers), on SQLite and on PostgreSQL; the fake Wazzup is
`tests.wazzup_server.FakeWazzup`.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from werkzeug.serving import make_server

from crm_adapters.sql.migrate import upgrade
from crm_core.tenancy import Role
from crm_http.app import create_app
from crm_http.config import Settings
from crm_http.container import Container
from tests.wazzup_server import FakeWazzup


@dataclass
class Crm:
    """A live CRM: its address, its container (for looking at the database) and a client."""

    url: str
    container: Container
    settings: Settings

    def client(self, token: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=60
        )

    def user(self, role: Role = Role.ADMIN, company: str | None = None) -> tuple[Any, str]:
        """A new user (of a new company unless named); returns (user, token)."""
        tag = uuid.uuid4().hex[:8]
        return self.container.access().create_user(
            company or f"Ромашка {tag}", f"{role.value}-{tag}@example.com", None, role
        )

    def sql(self, statement: str, **params: Any) -> list[Any]:
        from sqlalchemy import text

        with self.container.engine().connect() as connection:
            return list(connection.execute(text(statement), params))


@pytest.fixture(scope="module")
def crm(module_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crm]:
    upgrade(module_database_url)
    holder: dict[str, Any] = {}

    def dispatch(environ: Any, start_response: Any) -> Any:
        return holder["app"](environ, start_response)

    server = make_server("127.0.0.1", 0, dispatch, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    settings = Settings(
        database_url=module_database_url,
        public_url=url,
        secret_key="messaging-tests-secret",
        var_dir=tmp_path_factory.mktemp("var"),
        jobs="inline",
    )
    container = Container()
    holder["app"] = create_app(settings, container)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Crm(url, container, settings)
    finally:
        server.shutdown()
        container.gateway().close()
        container.engine().dispose()


@pytest.fixture
def wazzup() -> Iterator[FakeWazzup]:
    with FakeWazzup() as fake:
        yield fake


@dataclass
class Linked:
    """A company with an admin, a WhatsApp channel at the fake and an account on it."""

    crm: Crm
    wazzup: FakeWazzup
    admin: httpx.Client
    token: str
    account: dict[str, Any]
    channel_id: str

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.admin.post(path, **kwargs)

    def account_path(self, action: str = "") -> str:
        base = f"/api/crm/wazzupp-accounts/{self.account['id']}/"
        return base + (f"{action}/" if action else "")

    def deliver(self, *items: dict[str, Any], kind: str = "messages", **headers: str) -> int:
        return self.wazzup.deliver({kind: list(items)}, headers=headers or None)

    def messages(self, **params: Any) -> list[dict[str, Any]]:
        answer = self.admin.get("/api/crm/wazzupp-messages/", params={"page_size": 500, **params})
        assert answer.status_code == 200, answer.text
        return list(answer.json()["results"])


def link(
    crm: Crm,
    wazzup: FakeWazzup,
    transport: str = "whatsapp",
    integration_type: str = "whatsapp",
    api_key: str | None = None,
    register: bool = True,
    **fields: Any,
) -> Linked:
    _, token = crm.user()
    admin = crm.client(token)
    key = api_key or wazzup.api_key
    channel_id = wazzup.add_channel(transport=transport, key=key)
    answer = admin.post(
        "/api/crm/wazzupp-accounts/",
        json={
            "name": "Продажи",
            "api_key": key,
            "api_url": wazzup.url,
            "instance_id": channel_id,
            "integration_type": integration_type,
            **fields,
        },
    )
    assert answer.status_code == 201, answer.text
    linked = Linked(crm, wazzup, admin, token, answer.json(), channel_id)
    if register:
        synced = linked.post(linked.account_path("sync_messages"))
        assert synced.status_code == 200, synced.text
        assert synced.json()["webhook_registered"] is True, synced.json()
    return linked


@pytest.fixture
def linked(crm: Crm, wazzup: FakeWazzup) -> Linked:
    return link(crm, wazzup)


Waiter = Callable[[Callable[[], bool]], None]


@pytest.fixture
def eventually() -> Waiter:
    """Waits (at most 10 s) until `condition()` holds: deliveries come from other threads."""
    import time

    def wait(condition: Callable[[], bool]) -> None:
        deadline = time.monotonic() + 10
        while not condition():
            assert time.monotonic() < deadline, "the condition did not come true in 10 s"
            time.sleep(0.05)

    return wait
