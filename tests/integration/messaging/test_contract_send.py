"""`send_message` and `retry`, held to MESSAGING.md (Revision 2 included) from outside: over
HTTP against a live CRM and the fake Wazzup."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from dependency_injector import providers

from crm_adapters.wazzup import WazzupGateway
from tests.integration.messaging.conftest import Crm, Linked, Waiter, link
from tests.wazzup_server import FakeWazzup, RecordedRequest

PHONE = "79991234567"


def _sends(wazzup: FakeWazzup) -> list[RecordedRequest]:
    return [r for r in wazzup.requests if r.method == "POST" and r.path == "/v3/message"]


def _send(linked: Linked, **body: Any) -> httpx.Response:
    return linked.post(linked.account_path("send_message"), json=body)


def _message_activities(linked: Linked, contact: str) -> list[dict[str, Any]]:
    answer = linked.admin.get(
        "/api/crm/activities/", params={"contact": contact, "activity_type": "message"}
    )
    assert answer.status_code == 200, answer.text
    return list(answer.json()["results"])


def _contacts(linked: Linked, **params: str) -> list[dict[str, Any]]:
    answer = linked.admin.get("/api/crm/contacts/", params=params)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["results"])


def _assert_problem(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    return dict(answer.json())


# ---- the happy path --------------------------------------------------------------------------


def test_given_an_active_channel_when_sending_then_201_sent_with_wazzups_message_id(
    linked: Linked,
) -> None:
    answer = _send(linked, to=PHONE, message="Здравствуйте!", message_type="text")

    assert answer.status_code == 201, answer.text
    message = answer.json()
    assert message["status"] == "sent"
    assert message["is_incoming"] is False
    assert message["text"] == "Здравствуйте!"
    assert message["chat_id"] == PHONE
    [accepted] = linked.wazzup.sent
    assert message["message_id"] == accepted["messageId"]
    [request] = _sends(linked.wazzup)
    assert all(isinstance(value, str) for value in request.json.values()), request.json
    assert request.json["crmMessageId"] == message["id"]
    assert request.json["channelId"] == linked.channel_id
    assert request.json["chatType"] == "whatsapp"
    assert request.json["chatId"] == PHONE
    assert request.json["text"] == "Здравствуйте!"
    assert request.headers["Authorization"] == f"Bearer {linked.wazzup.api_key}"
    linked.wazzup.wait_for_deliveries()
    [row] = linked.messages()
    assert row["id"] == message["id"]
    assert row["status"] == "sent"


@pytest.mark.parametrize(
    "to", ["+7 999 123-45-67", "89991234567", "8 (999) 123-45-67", "+79991234567"]
)
def test_given_a_phone_in_a_common_form_when_sending_on_whatsapp_then_digits_go(
    linked: Linked, to: str
) -> None:
    answer = _send(linked, to=to, message="Добрый день")

    assert answer.status_code == 201, answer.text
    [request] = _sends(linked.wazzup)
    assert request.json["chatId"] == PHONE
    assert answer.json()["chat_id"] == PHONE


def test_given_a_new_number_when_sending_then_a_contact_is_made_with_one_message_activity(
    linked: Linked,
) -> None:
    answer = _send(linked, to="+7 999 123-45-67", message="Первое")

    assert answer.status_code == 201, answer.text
    linked.wazzup.wait_for_deliveries()
    contact = linked.admin.get(f"/api/crm/contacts/{answer.json()['contact']}/").json()
    assert "+79991234567" in (contact["phone"], contact["whatsapp"])
    assert contact["source"] == "whatsapp"
    assert len(_message_activities(linked, contact["id"])) == 1


def test_given_a_known_contact_when_sending_to_their_number_then_it_is_linked_to_them(
    linked: Linked,
) -> None:
    known = linked.admin.post(
        "/api/crm/contacts/", json={"first_name": "Иван", "whatsapp": "+79991234567"}
    )
    assert known.status_code == 201, known.text

    answer = _send(linked, to="8 999 123 45 67", message="Иван, добрый день")

    assert answer.status_code == 201, answer.text
    assert answer.json()["contact"] == known.json()["id"]
    assert len(_contacts(linked)) == 1


def test_given_a_contact_instead_of_to_when_sending_then_its_whatsapp_number_is_used(
    linked: Linked,
) -> None:
    contact = linked.admin.post(
        "/api/crm/contacts/",
        json={"first_name": "Ольга", "phone": "+74951234567", "whatsapp": "+79161234567"},
    )
    assert contact.status_code == 201, contact.text

    answer = _send(linked, contact=contact.json()["id"], message="Ольга, здравствуйте")

    assert answer.status_code == 201, answer.text
    assert answer.json()["contact"] == contact.json()["id"]
    [request] = _sends(linked.wazzup)
    assert request.json["chatId"] == "79161234567"


def test_given_a_media_message_with_text_when_sending_then_file_and_text_go_separately(
    linked: Linked,
) -> None:
    answer = _send(
        linked,
        to=PHONE,
        message_type="image",
        media_url="https://files.example.com/photo.jpg",
        message="Ваш заказ",
    )

    assert answer.status_code == 201, answer.text
    bodies = [request.json for request in _sends(linked.wazzup)]
    assert len(bodies) == 2
    assert all(not ("text" in body and "contentUri" in body) for body in bodies)
    assert {body.get("contentUri") for body in bodies} >= {"https://files.example.com/photo.jpg"}
    assert {body.get("text") for body in bodies} >= {"Ваш заказ"}


# ---- telegram --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("to", "field", "value"),
    [("@durov_fan", "username", "durov_fan"), ("+79991234567", "phone", PHONE)],
    ids=["username", "phone"],
)
def test_given_telegram_when_sending_by_username_or_phone_then_never_as_chat_id(
    crm: Crm, wazzup: FakeWazzup, to: str, field: str, value: str
) -> None:
    linked = link(crm, wazzup, transport="telegram", integration_type="telegram")

    answer = _send(linked, to=to, message="Привет")

    assert answer.status_code == 201, answer.text
    [request] = _sends(wazzup)
    assert request.json[field] == value
    assert "chatId" not in request.json
    assert request.json["chatType"] == "telegram"
    assert answer.json()["chat_id"] == wazzup.telegram_chat_id(value)


def test_given_telegram_when_sending_to_bare_digits_then_they_go_as_the_chat_id(
    crm: Crm, wazzup: FakeWazzup
) -> None:
    linked = link(crm, wazzup, transport="telegram", integration_type="telegram")

    answer = _send(linked, to="500000777", message="Привет")

    assert answer.status_code == 201, answer.text
    [request] = _sends(wazzup)
    assert request.json["chatId"] == "500000777"
    assert "username" not in request.json and "phone" not in request.json


def test_given_a_telegram_send_by_username_when_the_reply_comes_then_it_finds_the_same_contact(
    crm: Crm, wazzup: FakeWazzup
) -> None:
    linked = link(crm, wazzup, transport="telegram", integration_type="telegram")

    answer = _send(linked, to="@durov_fan", message="Привет")

    assert answer.status_code == 201, answer.text
    chat_id = wazzup.telegram_chat_id("durov_fan")
    assert answer.json()["chat_id"] == chat_id
    contact = linked.admin.get(f"/api/crm/contacts/{answer.json()['contact']}/")
    assert contact.status_code == 200, contact.text
    assert contact.json()["telegram_chat_id"] == chat_id
    assert (contact.json().get("telegram") or "").lstrip("@") == "durov_fan"
    wazzup.wait_for_deliveries()

    reply = wazzup.incoming(
        linked.channel_id, chat_id, text="Здравствуйте", chat_type="telegram", contact_name="Павел"
    )
    assert linked.deliver(reply) == 200

    incoming = linked.messages(is_incoming="true")
    assert len(incoming) == 1
    assert incoming[0]["contact"] == answer.json()["contact"]
    assert len(_contacts(linked)) == 1


# ---- the channel must be active --------------------------------------------------------------


@pytest.mark.parametrize("learnt_by", ["check_connection", "channelsUpdates"])
def test_given_a_channel_in_qr_when_sending_then_409_and_nothing_sent(
    linked: Linked, learnt_by: str
) -> None:
    if learnt_by == "check_connection":
        linked.wazzup.set_state(linked.channel_id, "qr", notify=False)
        checked = linked.post(linked.account_path("check_connection"))
        assert checked.json()["is_connected"] is False
    else:
        linked.wazzup.set_state(linked.channel_id, "qr", notify=True)
        assert linked.admin.get(linked.account_path()).json()["channel_state"].lower() == "qr"

    answer = _send(linked, to=PHONE, message="Не уйдёт")

    problem = _assert_problem(answer, 409)
    assert problem["detail"]
    assert _sends(linked.wazzup) == []


def test_given_an_inactive_account_when_sending_then_409_and_nothing_sent(linked: Linked) -> None:
    assert linked.admin.patch(linked.account_path(), json={"is_active": False}).status_code == 200

    answer = _send(linked, to=PHONE, message="Не уйдёт")

    assert _assert_problem(answer, 409)["detail"]
    assert _sends(linked.wazzup) == []


def test_given_an_account_without_a_channel_when_sending_then_409(
    crm: Crm, wazzup: FakeWazzup
) -> None:
    _, token = crm.user()
    admin = crm.client(token)
    key = wazzup.add_key()  # a Wazzup account with no channel at all
    created = admin.post(
        "/api/crm/wazzupp-accounts/",
        json={"name": "Без канала", "api_key": key, "api_url": wazzup.url},
    )
    assert created.status_code == 201, created.text

    answer = admin.post(
        f"/api/crm/wazzupp-accounts/{created.json()['id']}/send_message/",
        json={"to": PHONE, "message": "Не уйдёт"},
    )

    assert _assert_problem(answer, 409)["detail"]
    assert _sends(wazzup) == []


def test_given_a_never_checked_blocked_channel_when_sending_then_it_is_checked_and_409(
    crm: Crm, wazzup: FakeWazzup
) -> None:
    linked = link(crm, wazzup, register=False)
    wazzup.set_state(linked.channel_id, "blocked", notify=False)  # Wazzup would answer 201

    answer = _send(linked, to=PHONE, message="Не уйдёт")

    assert _assert_problem(answer, 409)["detail"]
    assert any(r.method == "GET" and r.path == "/v3/channels" for r in wazzup.requests)
    assert _sends(wazzup) == []
    assert wazzup.dropped == []


def test_given_a_never_checked_active_channel_when_sending_then_checked_first_and_sent(
    crm: Crm, wazzup: FakeWazzup
) -> None:
    linked = link(crm, wazzup, register=False)

    answer = _send(linked, to=PHONE, message="Привет")

    assert answer.status_code == 201, answer.text
    calls = [(r.method, r.path) for r in wazzup.requests]
    assert ("GET", "/v3/channels") in calls
    assert calls.index(("GET", "/v3/channels")) < calls.index(("POST", "/v3/message"))


# ---- text limits -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("transport", "integration_type", "limit"),
    [("whatsapp", "whatsapp", 10_000), ("telegram", "telegram", 4096), ("wapi", "whatsapp", 1024)],
    ids=["whatsapp", "telegram", "waba"],
)
def test_given_text_over_the_limit_when_sending_then_400_before_anything_is_sent(
    crm: Crm, wazzup: FakeWazzup, transport: str, integration_type: str, limit: int
) -> None:
    linked = link(crm, wazzup, transport=transport, integration_type=integration_type)
    to = "500000777" if integration_type == "telegram" else PHONE

    too_long = _send(linked, to=to, message="я" * (limit + 1))
    empty = _send(linked, to=to, message="")

    assert too_long.status_code == 400, too_long.text
    assert empty.status_code == 400, empty.text
    assert _sends(wazzup) == []
    at_limit = _send(linked, to=to, message="я" * limit)
    assert at_limit.status_code == 201, at_limit.text


# ---- Wazzup refuses, fails or stalls ---------------------------------------------------------


def test_given_wazzup_refuses_when_sending_then_502_carrying_the_failed_message(
    linked: Linked,
) -> None:
    linked.wazzup.fail_next(
        400,
        {
            "status": 400,
            "requestId": "7ca68797d127735e72b066b0080e2cc0",
            "error": "BAD_CONTACT",
            "description": "Account with this chatId does not exist",
        },
        path="/v3/message",
    )

    answer = _send(linked, to=PHONE, message="Привет")

    problem = _assert_problem(answer, 502)
    message = problem["message"]
    assert message["status"] == "failed"
    assert message["error"]["code"] == "BAD_CONTACT"
    assert message["error"]["description"] == "Account with this chatId does not exist"
    assert len(_sends(linked.wazzup)) == 1  # a refusal is not retried
    [row] = linked.messages()
    assert row["id"] == message["id"]
    assert row["status"] == "failed"
    assert len(_message_activities(linked, row["contact"])) == 1


def test_given_429_then_success_when_sending_then_201_with_one_crm_message_id(
    linked: Linked,
) -> None:
    linked.wazzup.fail_next(
        429, {"error": "TOO_MANY_REQUESTS", "description": "Too many"}, path="/v3/message"
    )

    answer = _send(linked, to=PHONE, message="Привет")

    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "sent"
    attempts = _sends(linked.wazzup)
    assert len(attempts) == 2
    assert {a.json["crmMessageId"] for a in attempts} == {answer.json()["id"]}
    linked.wazzup.wait_for_deliveries()
    assert len(linked.messages()) == 1


def test_given_wazzup_failing_with_500_when_sending_then_retried_and_502_with_the_message(
    linked: Linked,
) -> None:
    linked.wazzup.fail_next(500, {"error": "UNKNOWN_ERROR"}, count=50, path="/v3/message")

    answer = _send(linked, to=PHONE, message="Привет")

    problem = _assert_problem(answer, 502)
    assert problem["message"]["status"] == "failed"
    attempts = _sends(linked.wazzup)
    assert len(attempts) >= 3
    assert {a.json["crmMessageId"] for a in attempts} == {problem["message"]["id"]}
    [row] = linked.messages()
    assert row["status"] == "failed"


@pytest.mark.parametrize("echo_carries_crm_id", [False, True])
def test_given_a_dropped_connection_when_sending_then_502_and_the_echo_settles_it(
    linked: Linked, eventually: Waiter, echo_carries_crm_id: bool
) -> None:
    linked.wazzup.echo_carries_crm_id = echo_carries_crm_id
    linked.wazzup.drop_next(path="/v3/message")  # Wazzup took it; the answer was lost

    answer = _send(linked, to=PHONE, message="Привет")

    problem = _assert_problem(answer, 502)
    assert problem["message"]["status"] == "failed"
    assert len(_sends(linked.wazzup)) == 1  # not retried: Wazzup may have it
    linked.wazzup.wait_for_deliveries()
    eventually(lambda: linked.messages()[0]["status"] == "sent")
    [row] = linked.messages()
    assert row["id"] == problem["message"]["id"]
    assert row["message_id"] == linked.wazzup.sent[0]["messageId"]
    assert len(_message_activities(linked, row["contact"])) == 1


def test_given_wazzup_stalls_past_the_timeout_when_sending_then_504_and_the_echo_settles_it(
    crm: Crm, wazzup: FakeWazzup, eventually: Waiter
) -> None:
    linked = link(crm, wazzup)
    _use_gateway(crm, providers.Singleton(WazzupGateway, timeout=1.0))
    try:
        wazzup.slow_next(3, path="/v3/message")

        answer = _send(linked, to=PHONE, message="Привет")

        problem = _assert_problem(answer, 504)
        assert problem["message"]["status"] == "failed"
        wazzup.wait_for_deliveries(timeout=10)
        eventually(lambda: len(wazzup.sent) == 1)
        wazzup.wait_for_deliveries(timeout=10)
        eventually(lambda: linked.messages()[0]["status"] == "sent")
        assert len(_sends(wazzup)) == 1  # a timeout is not retried
        [row] = linked.messages()
        assert row["id"] == problem["message"]["id"]
        assert len(_message_activities(linked, row["contact"])) == 1
    finally:
        crm.container.gateway().close()
        _use_gateway(crm, None)


def _use_gateway(crm: Crm, gateway: providers.Provider[WazzupGateway] | None) -> None:
    """Overrides the container's gateway (None: back to its own) and drops the use cases that
    were built with the old one, so that the next request is built with the new one."""
    if gateway is None:
        crm.container.gateway.reset_override()
    else:
        crm.container.gateway.override(gateway)
    crm.container.sending.reset()
    crm.container.messaging_accounts.reset()


def test_given_the_echo_before_a_dropped_answer_when_sending_then_it_ends_sent_as_one_row(
    linked: Linked, eventually: Waiter
) -> None:
    linked.wazzup.echo = "before"
    linked.wazzup.statuses = ["delivered"]
    linked.wazzup.drop_next(path="/v3/message")

    answer = _send(linked, to=PHONE, message="Эхо раньше обрыва")

    problem = _assert_problem(answer, 502)
    linked.wazzup.wait_for_deliveries()
    eventually(lambda: linked.messages()[0]["status"] == "delivered")
    [row] = linked.messages()
    assert row["id"] == problem["message"]["id"]
    assert row["message_id"] == linked.wazzup.sent[0]["messageId"]
    assert len(_message_activities(linked, row["contact"])) == 1


def test_given_statuses_before_the_echo_of_a_dropped_send_when_it_comes_then_applied(
    linked: Linked,
) -> None:
    linked.wazzup.echo = None
    linked.wazzup.statuses = ["delivered"]
    linked.wazzup.drop_next(path="/v3/message")
    answer = _send(linked, to=PHONE, message="Статус раньше эха")
    assert answer.status_code == 502, answer.text
    linked.wazzup.wait_for_deliveries()  # the status came; its message is not known by id yet
    wazzup_id = linked.wazzup.sent[0]["messageId"]
    echo = linked.wazzup.echo_item(
        linked.channel_id, PHONE, text="Статус раньше эха", message_id=wazzup_id
    )
    del echo["authorName"], echo["sentFromApp"]  # the echo of an API send

    assert linked.deliver(echo) == 200

    [row] = linked.messages()
    assert row["id"] == answer.json()["message"]["id"]
    assert row["message_id"] == wazzup_id
    assert row["status"] == "delivered"


# ---- idempotency and echoes ------------------------------------------------------------------


def test_given_an_idempotency_key_when_the_send_is_repeated_then_same_answer_and_one_send(
    linked: Linked,
) -> None:
    headers = {"Idempotency-Key": "order-42-greeting"}
    path = linked.account_path("send_message")
    body = {"to": PHONE, "message": "Ваш заказ готов"}

    first = linked.post(path, json=body, headers=headers)
    second = linked.post(path, json=body, headers=headers)

    assert first.status_code == second.status_code == 201, second.text
    assert second.json()["id"] == first.json()["id"]
    assert second.json()["message_id"] == first.json()["message_id"]
    assert len(_sends(linked.wazzup)) == 1
    linked.wazzup.wait_for_deliveries()
    assert len(linked.messages()) == 1
    other = linked.post(path, json=body, headers={"Idempotency-Key": "order-43-greeting"})
    assert other.status_code == 201
    assert other.json()["id"] != first.json()["id"]


def test_given_the_echo_before_the_answer_when_sending_then_one_row_and_one_activity(
    linked: Linked,
) -> None:
    linked.wazzup.echo = "before"

    answer = _send(linked, to=PHONE, message="Эхо раньше ответа")

    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "sent"
    assert answer.json()["message_id"] == linked.wazzup.sent[0]["messageId"]
    [row] = linked.messages()
    assert row["id"] == answer.json()["id"]
    assert row["is_incoming"] is False
    assert len(_message_activities(linked, answer.json()["contact"])) == 1
    timeline = linked.admin.get(
        f"/api/crm/contacts/{answer.json()['contact']}/timeline/", params={"page_size": 100}
    )
    assert timeline.status_code == 200, timeline.text
    kinds = [item["kind"] for item in timeline.json()["results"]]
    assert kinds.count("message") == 1
    assert kinds.count("activity") == 1


def test_given_statuses_when_they_arrive_then_the_status_moves_forward_only(
    linked: Linked, eventually: Waiter
) -> None:
    linked.wazzup.statuses = ["delivered", "read"]
    answer = _send(linked, to=PHONE, message="Привет")
    assert answer.status_code == 201, answer.text
    linked.wazzup.wait_for_deliveries()
    eventually(lambda: linked.messages()[0]["status"] == "read")
    message_id = answer.json()["message_id"]

    for late in ("delivered", "sent"):
        item = linked.wazzup.status_item(message_id, late)
        assert linked.deliver(item, kind="statuses") == 200

    [row] = linked.messages()
    assert row["status"] == "read"


def test_given_an_error_status_when_later_statuses_arrive_then_it_stays_failed(
    linked: Linked,
) -> None:
    answer = _send(linked, to=PHONE, message="Привет")
    assert answer.status_code == 201, answer.text
    linked.wazzup.wait_for_deliveries()
    message_id = answer.json()["message_id"]

    failed = linked.wazzup.status_item(message_id, "error", "BAD_CONTACT")
    assert linked.deliver(failed, kind="statuses") == 200
    later = linked.wazzup.status_item(message_id, "delivered")
    assert linked.deliver(later, kind="statuses") == 200

    [row] = linked.messages()
    assert row["status"] == "failed"
    assert row["error"]["code"] == "BAD_CONTACT"


# ---- retry -----------------------------------------------------------------------------------


def _failed_by_refusal(linked: Linked) -> dict[str, Any]:
    linked.wazzup.fail_next(
        400,
        {"status": 400, "error": "MESSAGE_CHANNEL_UNAVAILABLE", "description": "Wait a minute"},
        path="/v3/message",
    )
    answer = _send(linked, to=PHONE, message="Повтор")
    assert answer.status_code == 502, answer.text
    return dict(answer.json()["message"])


def test_given_a_failed_message_when_retried_then_sent_with_the_same_crm_message_id(
    linked: Linked,
) -> None:
    failed = _failed_by_refusal(linked)

    retried = linked.post(f"/api/crm/wazzupp-messages/{failed['id']}/retry/")

    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] == "sent"
    assert retried.json()["id"] == failed["id"]
    attempts = _sends(linked.wazzup)
    assert len(attempts) == 2
    assert {a.json["crmMessageId"] for a in attempts} == {failed["id"]}
    linked.wazzup.wait_for_deliveries()
    [row] = linked.messages()
    assert row["status"] == "sent"
    assert row["message_id"] == linked.wazzup.sent[0]["messageId"]


def test_given_wazzup_already_has_it_when_retried_then_repeated_crm_message_id_means_sent(
    linked: Linked,
) -> None:
    linked.wazzup.echo = None  # nothing settles it but the retry
    linked.wazzup.drop_next(path="/v3/message")
    first = _send(linked, to=PHONE, message="Повтор")
    assert first.status_code == 502, first.text
    failed = first.json()["message"]

    retried = linked.post(f"/api/crm/wazzupp-messages/{failed['id']}/retry/")

    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] == "sent"
    attempts = _sends(linked.wazzup)
    assert len(attempts) == 2
    assert {a.json["crmMessageId"] for a in attempts} == {failed["id"]}
    assert len(linked.wazzup.sent) == 1
    [row] = linked.messages()
    assert row["status"] == "sent"


def test_given_a_sent_message_when_retried_then_409_and_nothing_sent_again(
    linked: Linked,
) -> None:
    sent = _send(linked, to=PHONE, message="Уже ушло")
    assert sent.status_code == 201, sent.text

    retried = linked.post(f"/api/crm/wazzupp-messages/{sent.json()['id']}/retry/")

    _assert_problem(retried, 409)
    assert len(_sends(linked.wazzup)) == 1


def test_given_an_incoming_message_when_retried_then_409(linked: Linked) -> None:
    assert linked.deliver(linked.wazzup.incoming(linked.channel_id, PHONE)) == 200
    [incoming] = linked.messages()

    retried = linked.post(f"/api/crm/wazzupp-messages/{incoming['id']}/retry/")

    _assert_problem(retried, 409)
    assert _sends(linked.wazzup) == []


def test_given_a_contact_with_an_open_lead_when_sending_then_the_activity_is_on_the_lead_too(
    linked: Linked,
) -> None:
    contact = linked.admin.post(
        "/api/crm/contacts/", json={"first_name": "Пётр", "whatsapp": "+79991234567"}
    ).json()
    funnel = linked.admin.post("/api/crm/funnels/", json={"name": "Продажи"}).json()
    lead = linked.admin.post(
        "/api/crm/leads/",
        json={"contact": contact["id"], "funnel": funnel["id"], "title": "Диван"},
    )
    assert lead.status_code == 201, lead.text

    answer = _send(linked, contact=contact["id"], message="Пётр, диван готов")

    assert answer.status_code == 201, answer.text
    activities = linked.admin.get(
        "/api/crm/activities/", params={"lead": lead.json()["id"], "activity_type": "message"}
    ).json()["results"]
    assert len(activities) == 1
    assert activities[0]["contact"] == contact["id"]


def test_given_one_idempotency_key_in_two_companies_when_sending_then_each_is_sent(
    crm: Crm, wazzup: FakeWazzup
) -> None:
    first, second = link(crm, wazzup), link(crm, wazzup, register=False)
    headers = {"Idempotency-Key": "same-key-in-two-companies"}
    body = {"to": PHONE, "message": "Привет"}

    one = first.post(first.account_path("send_message"), json=body, headers=headers)
    two = second.post(second.account_path("send_message"), json=body, headers=headers)

    assert one.status_code == two.status_code == 201, two.text
    assert one.json()["id"] != two.json()["id"]
    assert len(_sends(wazzup)) == 2
