"""The fake Wazzup server keeps to the API facts the adapter tests rely on."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tests.wazzup_server import FakeWazzup


class Receiver:
    """Stands in for the CRM's webhook: answers `status` and keeps every JSON body it got."""

    def __init__(self) -> None:
        self.status = 200
        self.bodies: list[dict[str, Any]] = []
        self._arrived = threading.Condition()
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}/wazzup/hook?secret=s3cret"

    def start(self) -> None:
        kwargs = {"poll_interval": 0.05}
        threading.Thread(target=self._server.serve_forever, kwargs=kwargs, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        with self._arrived:
            self.bodies.append(request.get_json(force=True))
            self._arrived.notify_all()
        return Response(b"", self.status)(environ, start_response)

    def wait_for(self, found: Callable[[dict[str, Any]], bool], timeout: float = 3.0) -> Any:
        """The first body `found` accepts, waiting up to `timeout` seconds for it."""
        with self._arrived:
            arrived = self._arrived.wait_for(lambda: any(found(b) for b in self.bodies), timeout)
            assert arrived, f"nothing expected arrived; got {self.bodies}"
            return next(b for b in self.bodies if found(b))


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    receiver.start()
    yield receiver
    receiver.stop()


@pytest.fixture
def wz() -> Iterator[FakeWazzup]:
    with FakeWazzup() as fake:
        yield fake


@pytest.fixture
def api(wz: FakeWazzup) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=f"{wz.url}/v3",
        headers={"Authorization": f"Bearer {wz.api_key}"},
        timeout=5,
        trust_env=False,
    ) as client:
        yield client


def register(api: httpx.Client, receiver: Receiver) -> httpx.Response:
    return api.patch(
        "/webhooks",
        json={
            "webhooksUri": receiver.url,
            "subscriptions": {
                "messagesAndStatuses": True,
                "contactsAndDealsCreation": False,
                "channelsUpdates": True,
                "wabaTemplatesStatus": False,
            },
        },
    )


def text_to(channel_id: str, **fields: Any) -> dict[str, Any]:
    body = {"channelId": channel_id, "chatType": "whatsapp", "chatId": "79011112233"}
    return body | {"text": "Your order is ready"} | fields


def test_a_missing_or_unknown_key_is_401(wz: FakeWazzup) -> None:
    with httpx.Client(base_url=f"{wz.url}/v3", trust_env=False) as anonymous:
        missing = anonymous.get("/channels")
        unknown = anonymous.get("/channels", headers={"Authorization": "Bearer nope"})
        basic = anonymous.get("/channels", headers={"Authorization": f"Basic {wz.api_key}"})

    assert [missing.status_code, unknown.status_code, basic.status_code] == [401, 401, 401]
    assert unknown.json()["error"] == "UNAUTHORIZED"


def test_channels_are_a_bare_array_per_key(wz: FakeWazzup, api: httpx.Client) -> None:
    whatsapp = wz.add_channel()
    bot = wz.add_channel("telegram", state="unauthorized", plain_id="shop_bot")
    wz.add_channel(key=wz.add_key("other-key"))

    channels = api.get("/channels").json()

    assert channels == [
        {
            "channelId": whatsapp,
            "transport": "whatsapp",
            "plainId": "79865784457",
            "state": "active",
            "name": "79865784457",
        },
        {
            "channelId": bot,
            "transport": "telegram",
            "plainId": "shop_bot",
            "state": "unauthorized",
            "name": "shop_bot",
        },
    ]


def test_a_send_is_201_and_its_echo_reaches_the_webhook(
    wz: FakeWazzup, api: httpx.Client, receiver: Receiver
) -> None:
    channel = wz.add_channel()
    wz.statuses = ["delivered"]
    assert register(api, receiver).text == "OK"

    answer = api.post("/message", json=text_to(channel, crmMessageId="crm-1"))

    assert answer.status_code == 201
    message_id = answer.json()["messageId"]
    assert answer.json()["chatId"] == "79011112233"
    echo = receiver.wait_for(lambda body: "messages" in body)["messages"][0]
    assert echo["messageId"] == message_id
    assert (echo["isEcho"], echo["status"], echo["text"]) == (True, "sent", "Your order is ready")
    assert "crmMessageId" not in echo
    status = receiver.wait_for(lambda body: "statuses" in body)["statuses"][0]
    assert (status["messageId"], status["status"]) == (message_id, "delivered")
    wz.wait_for_deliveries()
    assert [code for _, code in wz.deliveries] == [200, 200, 200]  # test POST, echo, status
    assert wz.sent[0]["messageId"] == message_id


def test_a_crm_message_id_is_refused_for_60_seconds(wz: FakeWazzup, api: httpx.Client) -> None:
    channel = wz.add_channel()
    wz.now = lambda: 1000.0
    assert api.post("/message", json=text_to(channel, crmMessageId="crm-7")).status_code == 201

    repeated = api.post("/message", json=text_to(channel, crmMessageId="crm-7"))
    wz.now = lambda: 1061.0
    later = api.post("/message", json=text_to(channel, crmMessageId="crm-7"))

    assert repeated.status_code == 400
    assert repeated.json() == {
        "status": 400,
        "requestId": repeated.json()["requestId"],
        "error": "REPEATED_CRM_MESSAGE_ID",
        "description": "You have already sent message with same crmMessageId",
        "data": {"crmMessageId": "crm-7"},
    }
    assert later.status_code == 201


def test_a_send_is_validated(wz: FakeWazzup, api: httpx.Client) -> None:
    channel = wz.add_channel()

    def error(body: dict[str, Any]) -> tuple[str, Any]:
        answer = api.post("/message", json=body)
        assert answer.status_code == 400
        return answer.json()["error"], answer.json().get("data")

    assert error(text_to(channel, crmUserId=7)) == (
        "INVALID_MESSAGE_DATA",
        {"fields": ["crmUserId"]},
    )
    assert error(text_to("no-such-channel"))[0] == "CHANNEL_NOT_FOUND"
    assert error(text_to(channel, chatType="telegram"))[0] == "WRONG_TRANSPORT"
    assert error(text_to(channel, contentUri="https://f.example/a.pdf"))[0] == (
        "MESSAGE_ONLY_TEXT_OR_CONTENT"
    )
    assert error(text_to(channel, text=""))[0] == "MESSAGE_NOTHING_TO_SEND"
    assert error(text_to(channel, text="x" * 10_001))[0] == "MESSAGE_TEXT_TOO_LONG"
    assert error(text_to(channel, username="durov"))[0] == "INVALID_MESSAGE_DATA"
    wz.set_state(channel, "notEnoughMoney")
    assert error(text_to(channel))[0] == "CHANNEL_NO_MONEY"
    assert wz.sent == []


def test_telegram_by_username_gets_a_stable_numeric_chat_id(
    wz: FakeWazzup, api: httpx.Client, receiver: Receiver
) -> None:
    bot = wz.add_channel("telegram", plain_id="shop_bot")
    register(api, receiver)
    telegram = {"channelId": bot, "chatType": "telegram", "text": "Hi"}

    first = api.post("/message", json=telegram | {"username": "durov"}).json()["chatId"]
    second = api.post("/message", json=telegram | {"username": "durov"}).json()["chatId"]
    to_phone = api.post("/message", json=telegram | {"chatId": "79011112233"})

    assert first == second == wz.telegram_chat_id("durov")
    assert first.isdigit()
    assert to_phone.status_code == 201
    bad = receiver.wait_for(lambda body: "statuses" in body)["statuses"][0]
    assert (bad["messageId"], bad["error"]["error"]) == (
        to_phone.json()["messageId"],
        "BAD_CONTACT",
    )


def test_the_webhook_test_post_must_answer_exactly_200(
    wz: FakeWazzup, api: httpx.Client, receiver: Receiver
) -> None:
    receiver.status = 201
    refused = register(api, receiver)
    receiver.status = 200
    accepted = register(api, receiver)

    assert refused.status_code == 400
    assert refused.json()["error"] == "testPostNotPassed"
    assert refused.json()["data"] == {"status": 201}
    assert (accepted.status_code, accepted.text) == (200, "OK")
    assert accepted.headers["content-type"].startswith("text/plain")
    assert receiver.bodies == [{"test": True}, {"test": True}]
    assert api.get("/webhooks").json() == {
        "webhooksUri": receiver.url,
        "subscriptions": {
            "messagesAndStatuses": True,
            "contactsAndDealsCreation": False,
            "channelsUpdates": True,
            "wabaTemplatesStatus": False,
        },
    }
    too_long = api.patch("/webhooks", json={"webhooksUri": "https://x.example/" + "a" * 200})
    assert too_long.json()["error"] == "uriNotValid"


def test_more_than_100_entities_are_refused(wz: FakeWazzup, api: httpx.Client) -> None:
    users = [{"id": f"user-{n:03}", "name": f"User {n:03}"} for n in range(101)]

    too_many = api.post("/users", json=users)
    missing_name = api.post("/users", json=[{"id": "user-x"}])
    hundred = api.post("/users", json=users[:100])

    assert too_many.status_code == 400
    assert too_many.json()["error"] == "TOO_MANY_ENTITIES"
    assert missing_name.json()["data"] == [{"index": 0, "fields": ["name"]}]
    assert (hundred.status_code, hundred.content) == (200, b"")
    assert len(api.get("/users").json()) == 100


def test_a_dropped_connection_still_accepts_the_message(
    wz: FakeWazzup, api: httpx.Client, receiver: Receiver
) -> None:
    channel = wz.add_channel()
    register(api, receiver)
    wz.drop_next(path="/message")

    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        api.post("/message", json=text_to(channel, crmMessageId="crm-9"))

    assert len(wz.sent) == 1
    echo = receiver.wait_for(lambda body: "messages" in body)["messages"][0]
    assert echo["messageId"] == wz.sent[0]["messageId"]
    retry = api.post("/message", json=text_to(channel, crmMessageId="crm-9"))
    assert retry.json()["error"] == "REPEATED_CRM_MESSAGE_ID"


def test_a_qr_channel_answers_201_and_drops_the_message(
    wz: FakeWazzup, api: httpx.Client, receiver: Receiver
) -> None:
    channel = wz.add_channel(state="qr")
    register(api, receiver)
    wz.statuses = ["delivered"]

    answer = api.post("/message", json=text_to(channel))

    assert answer.status_code == 201
    assert answer.json()["messageId"]
    assert wz.sent == []
    assert wz.dropped[0]["messageId"] == answer.json()["messageId"]
    wz.wait_for_deliveries()
    assert receiver.bodies == [{"test": True}]


def test_switches_fail_and_stall_requests(wz: FakeWazzup, api: httpx.Client) -> None:
    wz.fail_next(500, None, path="/channels")
    wz.fail_next(400, {"error": {"code": "X"}})

    server_error = api.get("/channels")
    odd = api.get("/channels")
    wz.slow_next(0.5, path="/channels")

    assert (server_error.status_code, server_error.content) == (500, b"")
    assert (odd.status_code, odd.json()) == (400, {"error": {"code": "X"}})
    with pytest.raises(httpx.ReadTimeout):
        api.get("/channels", timeout=0.1)
    wz.rate_limit(2, per_seconds=5)
    assert [api.get("/channels").status_code for _ in range(3)] == [200, 200, 429]
