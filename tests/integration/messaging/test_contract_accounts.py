"""The accounts resource and `check_connection`, held to MESSAGING.md from outside: over HTTP
against a live CRM and the fake Wazzup."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from crm_core.tenancy import Role
from crm_http.app import create_app
from crm_http.config import Settings
from crm_http.container import Container
from tests.integration.messaging.conftest import Crm, Linked, link
from tests.wazzup_server import FakeWazzup

ACCOUNTS = "/api/crm/wazzupp-accounts/"


def _admin(crm: Crm) -> httpx.Client:
    _, token = crm.user()
    return crm.client(token)


def _colleague(linked: Linked, role: Role) -> httpx.Client:
    _, token = linked.crm.user(role, company=linked.account["company_name"])
    return linked.crm.client(token)


def _sends(wazzup: FakeWazzup) -> list[Any]:
    return [r for r in wazzup.requests if r.method == "POST" and r.path == "/v3/message"]


def _ids(answer: httpx.Response) -> set[str]:
    assert answer.status_code == 200, answer.text
    return {row["id"] for row in answer.json()["results"]}


# ---- create, read, update, delete ------------------------------------------------------------


def test_given_an_admin_when_creating_an_account_then_201_without_the_key_and_with_its_hint(
    crm: Crm, wazzup: FakeWazzup
) -> None:
    admin = _admin(crm)
    key = wazzup.add_key("secret-api-key-7f3a9c")
    channel_id = wazzup.add_channel(key=key)

    created = admin.post(
        ACCOUNTS, json={"name": "Продажи", "api_key": key, "instance_id": channel_id}
    )

    assert created.status_code == 201, created.text
    body = created.json()
    assert "api_key" not in body
    assert key not in created.text
    assert body["api_key_hint"] == "…" + key[-4:]
    assert body["api_url"] == "https://api.wazzup24.com"
    assert body["integration_type"] == "whatsapp"
    assert body["integration_type_display"]
    assert body["is_active"] is True
    assert body["auto_create_leads"] is True
    assert body["is_connected"] is False
    assert body["webhook_url"].startswith(crm.url)
    assert body["id"] in body["webhook_url"]
    assert "token=" in body["webhook_url"]
    assert len(body["webhook_url"].split("token=", 1)[1]) >= 16
    for read in (admin.get(f"{ACCOUNTS}{body['id']}/"), admin.get(ACCOUNTS)):
        assert read.status_code == 200, read.text
        assert key not in read.text
        assert "api_key" not in str(read.json()).replace("api_key_hint", "")


def test_given_two_accounts_when_created_then_their_webhook_secrets_differ(
    crm: Crm, wazzup: FakeWazzup
) -> None:
    admin = _admin(crm)

    first = admin.post(ACCOUNTS, json={"name": "A", "api_key": wazzup.api_key})
    second = admin.post(ACCOUNTS, json={"name": "B", "api_key": wazzup.api_key})

    assert first.status_code == second.status_code == 201
    assert (
        first.json()["webhook_url"].split("token=")[1]
        != (second.json()["webhook_url"].split("token=")[1])
    )


def test_given_a_manager_when_reading_and_sending_then_allowed(linked: Linked) -> None:
    manager = _colleague(linked, Role.MANAGER)

    listed = manager.get(ACCOUNTS)
    detail = manager.get(linked.account_path())
    sent = manager.post(
        linked.account_path("send_message"), json={"to": "79991234567", "message": "Привет"}
    )

    assert linked.account["id"] in _ids(listed)
    assert detail.status_code == 200, detail.text
    assert sent.status_code == 201, sent.text
    assert sent.json()["status"] == "sent"


def test_given_a_manager_when_creating_updating_or_deleting_an_account_then_403(
    linked: Linked,
) -> None:
    manager = _colleague(linked, Role.MANAGER)

    created = manager.post(ACCOUNTS, json={"name": "Чужой", "api_key": "k-0000"})
    updated = manager.patch(linked.account_path(), json={"name": "Переименован"})
    deleted = manager.delete(linked.account_path())

    assert (created.status_code, updated.status_code, deleted.status_code) == (403, 403, 403)
    after = linked.admin.get(linked.account_path())
    assert after.status_code == 200
    assert after.json()["name"] == "Продажи"
    assert _ids(linked.admin.get(ACCOUNTS)) == {linked.account["id"]}


def test_given_another_companys_account_when_touched_then_404(crm: Crm, linked: Linked) -> None:
    stranger = _admin(crm)
    path = linked.account_path()

    answers = [
        stranger.get(path),
        stranger.patch(path, json={"name": "Моё"}),
        stranger.delete(path),
        stranger.post(path + "check_connection/"),
        stranger.post(path + "send_message/", json={"to": "79991234567", "message": "x"}),
        stranger.post(path + "sync_messages/"),
    ]

    assert [a.status_code for a in answers] == [404] * len(answers)
    assert linked.account["id"] not in _ids(stranger.get(ACCOUNTS))
    assert _sends(linked.wazzup) == []
    assert linked.admin.get(path).json()["name"] == "Продажи"


def test_given_an_admin_when_deleting_an_account_then_204_and_gone(linked: Linked) -> None:
    deleted = linked.admin.delete(linked.account_path())

    assert deleted.status_code == 204, deleted.text
    assert linked.admin.get(linked.account_path()).status_code == 404


def test_given_an_account_when_patched_without_api_key_then_the_key_is_kept(
    linked: Linked,
) -> None:
    changed = linked.admin.patch(linked.account_path(), json={"name": "Поддержка"})

    assert changed.status_code == 200, changed.text
    assert changed.json()["name"] == "Поддержка"
    assert changed.json()["api_key_hint"] == linked.account["api_key_hint"]
    checked = linked.post(linked.account_path("check_connection"))
    assert checked.status_code == 200, checked.text
    assert checked.json()["is_connected"] is True, checked.json()


def test_given_an_account_when_patched_with_a_new_api_key_then_the_new_key_is_used(
    linked: Linked,
) -> None:
    changed = linked.admin.patch(linked.account_path(), json={"api_key": "wrong-key-9876"})

    assert changed.status_code == 200, changed.text
    assert changed.json()["api_key_hint"] == "…9876"
    assert "wrong-key-9876" not in changed.text
    checked = linked.post(linked.account_path("check_connection"))
    assert checked.status_code == 200, checked.text
    assert checked.json()["is_connected"] is False
    assert "401" in checked.json()["error"]


def test_given_accounts_when_filtered_then_by_type_activity_and_connection(
    crm: Crm, wazzup: FakeWazzup
) -> None:
    linked = link(crm, wazzup)  # whatsapp, active, connected by its sync
    telegram = linked.admin.post(
        ACCOUNTS,
        json={"name": "ТГ", "api_key": wazzup.api_key, "integration_type": "telegram"},
    )
    idle = linked.admin.post(
        ACCOUNTS, json={"name": "Выключен", "api_key": wazzup.api_key, "is_active": False}
    )
    assert telegram.status_code == idle.status_code == 201
    connected, tg, off = linked.account["id"], telegram.json()["id"], idle.json()["id"]

    def listed(**params: str) -> set[str]:
        return _ids(linked.admin.get(ACCOUNTS, params=params))

    assert listed(integration_type="telegram") == {tg}
    assert listed(integration_type="whatsapp") == {connected, off}
    assert listed(is_active="false") == {off}
    assert listed(is_active="true") == {connected, tg}
    assert listed(is_connected="true") == {connected}
    assert listed(is_connected="0") == {tg, off}


def test_given_a_filter_value_of_the_wrong_form_when_listing_then_400_naming_it(
    linked: Linked,
) -> None:
    answer = linked.admin.get(ACCOUNTS, params={"is_active": "maybe"})

    assert answer.status_code == 400, answer.text
    assert "is_active" in answer.text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "Без ключа"}, "api_key"),
        ({"name": "X", "api_key": "k-1", "integration_type": "pigeon"}, "integration_type"),
        ({"name": "X", "api_key": "k-1", "is_active": "maybe"}, "is_active"),
        ({"name": "X", "api_key": "k-1", "metadata": "not an object"}, "metadata"),
        ({"name": "X", "api_key": "k-1", "default_funnel": str(uuid.uuid4())}, "default_funnel"),
    ],
    ids=["no-key", "bad-type", "bad-bool", "bad-metadata", "unknown-funnel"],
)
def test_given_bad_input_when_creating_an_account_then_400_problem_naming_the_field(
    crm: Crm, body: dict[str, Any], field: str
) -> None:
    admin = _admin(crm)

    answer = admin.post(ACCOUNTS, json=body)

    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    problem = answer.json()
    assert problem["status"] == 400
    assert field in problem["errors"], problem
    assert _ids(admin.get(ACCOUNTS)) == set()


def test_given_another_companys_funnel_when_set_as_default_funnel_then_400(
    crm: Crm, linked: Linked
) -> None:
    stranger = _admin(crm)
    funnel = stranger.post("/api/crm/funnels/", json={"name": "Чужая"})
    assert funnel.status_code == 201, funnel.text

    answer = linked.admin.patch(linked.account_path(), json={"default_funnel": funnel.json()["id"]})

    assert answer.status_code == 400, answer.text
    assert "default_funnel" in answer.json()["errors"]


@pytest.mark.parametrize(
    "media_url", ["ftp://files.example.com/a.jpg", "javascript:alert(1)", "files/a.jpg"]
)
def test_given_a_media_url_that_is_not_http_when_sending_then_400_and_nothing_sent(
    linked: Linked, media_url: str
) -> None:
    answer = linked.post(
        linked.account_path("send_message"),
        json={"to": "79991234567", "message_type": "image", "media_url": media_url},
    )

    assert answer.status_code == 400, answer.text
    assert "media_url" in answer.json()["errors"]
    assert _sends(linked.wazzup) == []
    assert linked.messages() == []


# ---- check_connection ------------------------------------------------------------------------


def test_given_an_active_channel_when_checking_then_connected(crm: Crm, wazzup: FakeWazzup) -> None:
    linked = link(crm, wazzup, register=False)
    other = wazzup.add_channel(transport="telegram", plain_id="shop_bot")

    checked = linked.post(linked.account_path("check_connection"))

    assert checked.status_code == 200, checked.text
    body = checked.json()
    assert body["is_connected"] is True
    assert body["state"] == "active"
    assert body["error"] is None
    assert body["channel"]["channelId"] == linked.channel_id
    assert body["channel"]["transport"] == "whatsapp"
    assert {c["channelId"] for c in body["channels"]} == {linked.channel_id, other}
    assert body["last_sync"]
    account = linked.admin.get(linked.account_path()).json()
    assert account["is_connected"] is True
    assert account["channel_state"] == "active"
    assert not account["last_error"]


def test_given_a_wrong_key_when_checking_then_200_not_connected_and_401_in_the_error(
    crm: Crm, wazzup: FakeWazzup
) -> None:
    admin = _admin(crm)
    created = admin.post(
        ACCOUNTS,
        json={
            "name": "Неверный ключ",
            "api_key": "not-a-wazzup-key",
            "api_url": wazzup.url,
            "instance_id": wazzup.add_channel(),
        },
    )
    assert created.status_code == 201, created.text
    path = f"{ACCOUNTS}{created.json()['id']}/"

    checked = admin.post(path + "check_connection/")

    assert checked.status_code == 200, checked.text
    assert checked.json()["is_connected"] is False
    assert "401" in checked.json()["error"]
    account = admin.get(path).json()
    assert account["is_connected"] is False
    assert "401" in account["last_error"]
    assert "not-a-wazzup-key" not in checked.text + str(account)


def test_given_a_channel_waiting_for_its_qr_code_when_checking_then_not_connected_naming_qr(
    crm: Crm, wazzup: FakeWazzup
) -> None:
    linked = link(crm, wazzup)
    wazzup.set_state(linked.channel_id, "qr", notify=False)

    checked = linked.post(linked.account_path("check_connection"))

    assert checked.status_code == 200, checked.text
    body = checked.json()
    assert body["is_connected"] is False
    assert "qr" in body["error"].lower()
    account = linked.admin.get(linked.account_path()).json()
    assert account["is_connected"] is False
    assert account["channel_state"].lower() == "qr"
    assert "qr" in account["last_error"].lower()


def test_given_an_unknown_instance_id_when_checking_then_not_found(linked: Linked) -> None:
    changed = linked.admin.patch(linked.account_path(), json={"instance_id": str(uuid.uuid4())})
    assert changed.status_code == 200, changed.text

    checked = linked.post(linked.account_path("check_connection"))

    assert checked.status_code == 200, checked.text
    assert checked.json()["is_connected"] is False
    assert "not found" in checked.json()["error"].lower()
    assert linked.admin.get(linked.account_path()).json()["is_connected"] is False


def test_given_no_instance_id_and_one_channel_of_the_type_when_checking_then_it_is_taken(
    crm: Crm, wazzup: FakeWazzup
) -> None:
    admin = _admin(crm)
    whatsapp = wazzup.add_channel(transport="whatsapp")
    wazzup.add_channel(transport="telegram", plain_id="shop_bot")
    created = admin.post(
        ACCOUNTS, json={"name": "Авто", "api_key": wazzup.api_key, "api_url": wazzup.url}
    )
    assert created.status_code == 201, created.text
    path = f"{ACCOUNTS}{created.json()['id']}/"

    checked = admin.post(path + "check_connection/")

    assert checked.status_code == 200, checked.text
    assert checked.json()["is_connected"] is True, checked.json()
    assert checked.json()["channel"]["channelId"] == whatsapp
    assert admin.get(path).json()["instance_id"] == whatsapp


def test_given_wazzup_answers_500_when_checking_then_200_with_an_error(linked: Linked) -> None:
    linked.wazzup.fail_next(500, {"error": "UNKNOWN_ERROR"}, count=20, path="/v3/channels")

    checked = linked.post(linked.account_path("check_connection"))

    assert checked.status_code == 200, checked.text
    assert checked.json()["is_connected"] is False
    assert checked.json()["error"]
    assert linked.admin.get(linked.account_path()).json()["last_error"]


@pytest.mark.parametrize(
    ("transport", "integration_type", "connected"),
    [
        ("tgapi", "telegram", True),
        ("telegram", "telegram", True),
        ("wapi", "whatsapp", True),
        ("whatsapp", "telegram", False),
        ("instagram", "whatsapp", False),
    ],
)
def test_given_a_channel_when_checking_then_its_transport_must_fit_the_integration_type(
    crm: Crm, wazzup: FakeWazzup, transport: str, integration_type: str, connected: bool
) -> None:
    linked = link(
        crm, wazzup, transport=transport, integration_type=integration_type, register=False
    )

    checked = linked.post(linked.account_path("check_connection"))

    assert checked.status_code == 200, checked.text
    assert checked.json()["is_connected"] is connected, checked.json()
    if not connected:
        assert checked.json()["error"]


def test_given_an_api_url_ending_in_v3_when_checking_then_the_path_is_not_doubled(
    crm: Crm, wazzup: FakeWazzup
) -> None:
    linked = link(crm, wazzup, register=False)
    patched = linked.admin.patch(linked.account_path(), json={"api_url": wazzup.url + "/v3"})
    assert patched.status_code == 200, patched.text

    checked = linked.post(linked.account_path("check_connection"))

    assert checked.status_code == 200, checked.text
    assert checked.json()["is_connected"] is True, checked.json()
    assert {r.path for r in wazzup.requests} == {"/v3/channels"}


def test_given_the_api_key_when_the_account_is_used_then_it_never_appears_in_a_log_line(
    crm: Crm, wazzup: FakeWazzup, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    key = wazzup.add_key("log-canary-5b1e2f9a7c")
    linked = link(crm, wazzup, api_key=key)
    answers = [
        linked.post(linked.account_path("check_connection")),
        linked.post(
            linked.account_path("send_message"), json={"to": "79991234567", "message": "x"}
        ),
        linked.admin.patch(linked.account_path(), json={"api_key": "log-canary-wrong-77"}),
        linked.post(linked.account_path("check_connection")),
        linked.post(
            linked.account_path("send_message"), json={"to": "79991234567", "message": "y"}
        ),
    ]

    assert all(key not in a.text and "log-canary-wrong-77" not in a.text for a in answers)
    assert caplog.records, "nothing was logged at all"
    assert key not in caplog.text
    assert "log-canary-wrong-77" not in caplog.text


def test_given_a_secret_key_that_no_longer_decrypts_the_api_key_when_used_then_409(
    crm: Crm, wazzup: FakeWazzup, tmp_path: Any
) -> None:
    linked = link(crm, wazzup)
    # The same database served with another CRM_SECRET_KEY (as after losing var/secret.key).
    settings = Settings(
        database_url=crm.settings.database_url,
        public_url=crm.url,
        secret_key="another-secret",
        var_dir=tmp_path,
        jobs="inline",
    )
    container = Container()
    other = create_app(settings, container).test_client()
    headers = {"Authorization": f"Bearer {linked.token}"}
    try:
        checked = other.post(linked.account_path("check_connection"), headers=headers)
        sent = other.post(
            linked.account_path("send_message"),
            json={"to": "79991234567", "message": "x"},
            headers=headers,
        )
        synced = other.post(linked.account_path("sync_messages"), headers=headers)
    finally:
        container.gateway().close()
        container.engine().dispose()

    for answer in (checked, sent, synced):
        assert answer.status_code == 409, answer.get_data(as_text=True)
        assert "api key" in answer.get_json()["detail"].lower()
    assert [r for r in wazzup.requests if r.path == "/v3/message"] == []
