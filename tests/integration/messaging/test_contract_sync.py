"""`sync_messages` and `chat_window`, held to MESSAGING.md from outside: what reaches the fake
Wazzup and what the CRM reports."""

from __future__ import annotations

import uuid
from typing import Any

from crm_core.tenancy import Role
from tests.integration.messaging.conftest import Crm, Linked, link
from tests.wazzup_server import FakeWazzup, RecordedRequest


def _sync(linked: Linked) -> dict[str, Any]:
    answer = linked.post(linked.account_path("sync_messages"))
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _upserts(wazzup: FakeWazzup, kind: str) -> list[RecordedRequest]:
    return [r for r in wazzup.requests if r.method == "POST" and r.path == f"/v3/{kind}"]


def _contact(linked: Linked, **fields: Any) -> dict[str, Any]:
    answer = linked.admin.post("/api/crm/contacts/", json={"first_name": "Клиент", **fields})
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def _me(linked: Linked) -> dict[str, Any]:
    answer = linked.admin.get("/api/crm/users/me/")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


# ---- the webhook -----------------------------------------------------------------------------


def test_given_an_account_when_synced_then_wazzups_webhook_is_ours_with_our_switches(
    crm: Crm, wazzup: FakeWazzup
) -> None:
    linked = link(crm, wazzup, register=False)

    report = _sync(linked)

    assert report["webhook_registered"] is True
    assert report["webhook_url"] == linked.account["webhook_url"]
    assert report["is_connected"] is True
    assert report["errors"] == []
    assert report["last_sync"]
    account = wazzup.account()
    assert account.webhook_uri == linked.account["webhook_url"]
    assert account.subscriptions == {
        "messagesAndStatuses": True,
        "contactsAndDealsCreation": False,
        "channelsUpdates": True,
        "wabaTemplatesStatus": False,
    }
    saved = linked.admin.get(linked.account_path()).json()
    assert saved["is_connected"] is True
    assert saved["last_sync"]


def test_given_another_integration_took_the_webhook_when_synced_then_it_is_ours_again(
    linked: Linked,
) -> None:
    linked.wazzup.overwrite_webhook("http://elsewhere.example/hook")

    report = _sync(linked)

    assert report["webhook_registered"] is True
    assert linked.wazzup.account().webhook_uri == linked.account["webhook_url"]


def test_given_the_registration_fails_when_synced_then_errors_say_so_and_later_steps_run(
    linked: Linked,
) -> None:
    linked.wazzup.overwrite_webhook("http://elsewhere.example/hook")
    linked.wazzup.fail_next(
        400,
        {"error": "testPostNotPassed", "description": "URI does not return 200 OK"},
        count=5,
        path="/v3/webhooks",
    )
    _contact(linked, whatsapp="+79991234567")

    report = _sync(linked)

    assert report["webhook_registered"] is False
    assert report["errors"]
    assert "webhook" in " ".join(map(str, report["errors"])).lower()
    assert report["is_connected"] is True
    assert report["pushed"]["contacts"] == 1
    assert len(linked.wazzup.account().contacts) == 1


# ---- what is pushed --------------------------------------------------------------------------


def test_given_users_contacts_funnels_and_deals_when_synced_then_they_reach_wazzup(
    linked: Linked,
) -> None:
    admin = _me(linked)
    named, _ = linked.crm.container.access().create_user(
        linked.account["company_name"],
        f"anna-{uuid.uuid4().hex[:6]}@example.com",
        None,
        Role.MANAGER,
        "Анна Смирнова",
    )
    ivan = _contact(linked, last_name="Иванов", whatsapp="+7 999 123-45-67")
    olga = _contact(linked, first_name="Ольга", whatsapp="+79161234567")
    no_chat = _contact(linked, email="nochat@example.com")
    funnel = linked.admin.post("/api/crm/funnels/", json={"name": "Продажи"}).json()
    deal = {"contact": ivan["id"], "funnel": funnel["id"]}
    open_deal = linked.admin.post("/api/crm/deals/", json={**deal, "title": "Диван"}).json()
    lost_deal = linked.admin.post("/api/crm/deals/", json={**deal, "title": "Кресло"}).json()
    lost = linked.admin.post(f"/api/crm/deals/{lost_deal['id']}/mark_lost/", json={})
    assert lost.status_code == 200, lost.text

    report = _sync(linked)

    account = linked.wazzup.account()
    users = {str(k): v for k, v in account.users.items()}
    assert users[admin["id"]]["name"] == admin["email"]  # no full name: pushed by email
    assert users[str(named)]["name"] == "Анна Смирнова"
    contacts = {str(k): v for k, v in account.contacts.items()}
    assert set(contacts) == {ivan["id"], olga["id"]}
    assert no_chat["id"] not in contacts
    assert {"chatType": "whatsapp", "chatId": "79991234567"}.items() <= (
        contacts[ivan["id"]]["contactData"][0].items()
    )
    pipelines = {str(k): v for k, v in account.pipelines.items()}
    assert set(pipelines) == {funnel["id"]}
    assert [s["name"] for s in pipelines[funnel["id"]]["stages"]] == [
        s["name"] for s in sorted(funnel["stages"], key=lambda s: s["order"])
    ]
    deals = {str(k): v for k, v in account.deals.items()}
    assert set(deals) == {open_deal["id"]}
    assert deals[open_deal["id"]]["contacts"] == [ivan["id"]]
    assert report["pushed"] == {"users": 2, "contacts": 2, "pipelines": 1, "deals": 1}


def test_given_120_contacts_when_synced_then_pushed_in_batches_of_at_most_100(
    linked: Linked,
) -> None:
    for index in range(120):
        _contact(linked, whatsapp=f"+7999{index:07d}")

    report = _sync(linked)

    batches = _upserts(linked.wazzup, "contacts")
    assert batches, "no contacts were pushed"
    assert max(len(batch.json) for batch in batches) <= 100
    assert len(linked.wazzup.account().contacts) == 120
    assert report["pushed"]["contacts"] == 120
    assert not any(
        r.path.startswith("/v3/")
        and r.method == "POST"
        and isinstance(r.json, list)
        and len(r.json) > 100
        for r in linked.wazzup.requests
    )


def test_given_wazzup_rate_limits_when_pushing_then_everything_still_arrives(
    linked: Linked,
) -> None:
    for index in range(5):
        _contact(linked, whatsapp=f"+7998{index:07d}")
    linked.wazzup.fail_next(429, {"error": "TOO_MANY_REQUESTS"}, count=1, path="/v3/contacts")

    report = _sync(linked)

    assert len(linked.wazzup.account().contacts) == 5
    assert report["pushed"]["contacts"] == 5


# ---- synced_count and stored deliveries ------------------------------------------------------


def test_given_messages_received_since_the_last_sync_when_synced_then_synced_count_says_so(
    linked: Linked,
) -> None:
    for text in ("Раз", "Два", "Три"):
        assert linked.deliver(linked.wazzup.incoming(linked.channel_id, "79995550011", text)) == 200

    first = _sync(linked)
    second = _sync(linked)

    assert first["synced_count"] == 3
    assert second["synced_count"] == 0


# ---- chat window -----------------------------------------------------------------------------


def test_given_no_contact_when_opening_the_chat_window_then_a_global_window(
    linked: Linked,
) -> None:
    answer = linked.admin.get(linked.account_path("chat_window"))

    assert answer.status_code == 200, answer.text
    [iframe] = linked.wazzup.iframes
    assert answer.json() == {"url": iframe.url}
    assert iframe.body["scope"] == "global"
    assert iframe.body["user"]["id"] == _me(linked)["id"]


def test_given_a_contact_when_opening_the_chat_window_then_a_card_with_its_chat(
    linked: Linked,
) -> None:
    contact = _contact(linked, whatsapp="+7 (999) 123-45-67")

    answer = linked.admin.get(linked.account_path("chat_window"), params={"contact": contact["id"]})

    assert answer.status_code == 200, answer.text
    [iframe] = linked.wazzup.iframes
    assert answer.json()["url"] == iframe.url
    assert iframe.body["scope"] == "card"
    chats = [(c["chatType"], c["chatId"]) for c in iframe.body["filter"]]
    assert ("whatsapp", "79991234567") in chats
