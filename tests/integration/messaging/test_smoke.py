"""The whole path once: account, check, send with its echo and statuses, a reply that
becomes a lead."""

from __future__ import annotations

from tests.integration.messaging.conftest import Linked


def test_send_and_reply(linked: Linked, eventually) -> None:
    checked = linked.post(linked.account_path("check_connection"))
    assert checked.status_code == 200, checked.text
    assert checked.json()["is_connected"] is True
    linked.wazzup.statuses = ["delivered", "read"]
    sent = linked.post(
        linked.account_path("send_message"),
        json={"to": "+7 999 123-45-67", "message": "Здравствуйте!"},
    )
    assert sent.status_code == 201, sent.text
    body = sent.json()
    assert body["status"] == "sent"
    linked.wazzup.wait_for_deliveries()
    eventually(lambda: linked.messages()[0]["status"] == "read")
    assert len(linked.messages()) == 1
    reply = linked.wazzup.incoming(linked.channel_id, "79991234567", text="А цена?")
    assert linked.deliver(reply) == 200
    rows = linked.messages()
    assert len(rows) == 2
    assert rows[0]["is_incoming"] is True and rows[0]["contact"] == body["contact"]
