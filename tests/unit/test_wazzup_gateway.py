"""The Wazzup gateway against Wazzup's API played by httpx.MockTransport: addresses, retries,
the errors every failure ends in, the bodies it sends, and the key that never shows."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from crm_adapters.wazzup import WazzupGateway
from crm_core.errors import (
    ProviderFailed,
    ProviderRateLimited,
    ProviderRefused,
    ProviderRejectedKey,
    ProviderTimedOut,
    ProviderUnreachable,
)
from crm_core.messaging import ChatType
from crm_core.ports import (
    PUSH_BATCH,
    ChatAddress,
    OutgoingMessage,
    ProviderConnection,
    PushedContact,
    PushedDeal,
    PushedPipeline,
    PushedStage,
    PushedUser,
    Sent,
    WebhookSettings,
)

KEY = "33a817cbc1504bd5885574d8f0290cd3"
CONNECTION = ProviderConnection("https://api.wazzup24.com", KEY)
CHANNEL = "e0629e11-0f67-4567-92a9-2237e91ec1b9"
MESSAGE_ID = "f66c53a6-957a-46b2-b41b-5a2ef4844bcb"

Answer = Callable[[httpx.Request], httpx.Response]


def answers(status: int, body: object = None, *, text: str | None = None) -> Answer:
    """An answer made afresh for every request: JSON `body`, or `text` as it is."""

    def answer(request: httpx.Request) -> httpx.Response:
        if text is not None:
            return httpx.Response(status, text=text)
        if body is None:
            return httpx.Response(status)
        return httpx.Response(status, json=body)

    return answer


def fails(kind: type[httpx.TransportError], words: str = "it broke") -> Answer:
    def answer(request: httpx.Request) -> httpx.Response:
        raise kind(words, request=request)

    return answer


class FakeWazzup:
    """Wazzup's API answering from a script (the last answer repeats); it keeps every request."""

    def __init__(self, *script: Answer) -> None:
        self.script = list(script)
        self.requests: list[httpx.Request] = []
        self.statuses: list[int] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        response = answer(request)
        self.statuses.append(response.status_code)
        return response

    @property
    def bodies(self) -> list[Any]:
        return [json.loads(request.content) for request in self.requests]

    @property
    def last_body(self) -> Any:
        return self.bodies[-1]


class World:
    """A gateway wired to a scripted Wazzup, its pauses recorded instead of slept."""

    def __init__(self) -> None:
        self.wazzup = FakeWazzup(answers(200, []))
        self.pauses: list[float] = []
        self.gateway = WazzupGateway(
            httpx.Client(transport=httpx.MockTransport(self.wazzup)), sleep=self.pauses.append
        )

    def script(self, *answers: Answer) -> FakeWazzup:
        self.wazzup.script = list(answers)
        return self.wazzup


@pytest.fixture
def world() -> Iterator[World]:
    world = World()
    yield world
    world.gateway.close()


def a_message(**fields: Any) -> OutgoingMessage:
    values: dict[str, Any] = {
        "crm_message_id": "crm-msg-000123",
        "channel_id": CHANNEL,
        "chat_type": ChatType.WHATSAPP,
        "chat_id": "79011112233",
        "text": "Hello! Your order is ready.",
        **fields,
    }
    return OutgoingMessage(**values)


SENT = answers(201, {"messageId": MESSAGE_ID, "chatId": "79011112233"})


# --- addresses and the key ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("api_url", "expected"),
    [
        ("", "https://api.wazzup24.com/v3/channels"),
        ("https://api.wazzup24.com", "https://api.wazzup24.com/v3/channels"),
        ("https://api.wazzup24.com/", "https://api.wazzup24.com/v3/channels"),
        ("https://api.wazzup24.com/v3", "https://api.wazzup24.com/v3/channels"),
        ("https://api.wazzup24.com/v3/", "https://api.wazzup24.com/v3/channels"),
        ("http://localhost:8089/fake-wazzup", "http://localhost:8089/fake-wazzup/v3/channels"),
    ],
)
def test_given_an_api_url_when_calling_then_the_v3_address_is_built_once_with_the_bearer_key(
    world: World, api_url: str, expected: str
) -> None:
    wazzup = world.script(answers(200, []))

    world.gateway.channels(ProviderConnection(api_url, KEY))

    (request,) = wazzup.requests
    assert (request.method, str(request.url)) == ("GET", expected)
    assert request.headers["Authorization"] == f"Bearer {KEY}"


def test_given_any_call_then_it_carries_a_30_second_timeout(world: World) -> None:
    wazzup = world.script(SENT)

    world.gateway.send(CONNECTION, a_message())

    assert wazzup.requests[0].extensions["timeout"] == {
        "connect": 30.0,
        "read": 30.0,
        "write": 30.0,
        "pool": 30.0,
    }


# --- retries -----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_given_a_passing_failure_when_sending_then_it_is_retried_with_the_same_body(
    world: World, status: int
) -> None:
    wazzup = world.script(answers(status), answers(status), SENT)

    sent = world.gateway.send(CONNECTION, a_message())

    assert sent == Sent(MESSAGE_ID, "79011112233")
    assert len(wazzup.requests) == 3
    assert {body["crmMessageId"] for body in wazzup.bodies} == {"crm-msg-000123"}
    assert wazzup.bodies[0] == wazzup.bodies[1] == wazzup.bodies[2]


def test_given_rate_limiting_when_it_lasts_then_the_call_waits_and_ends_rate_limited(
    world: World,
) -> None:
    wazzup = world.script(answers(429, {"error": "TOO_MANY_REQUESTS"}))

    with pytest.raises(ProviderRateLimited) as raised:
        world.gateway.send(CONNECTION, a_message())

    assert len(wazzup.requests) == 3
    assert {body["crmMessageId"] for body in wazzup.bodies} == {"crm-msg-000123"}
    assert raised.value.retry_after >= 5.0
    assert len(world.pauses) == 2 and all(pause >= 1.0 for pause in world.pauses)


def test_given_server_errors_when_they_last_then_the_outcome_is_unknown_with_the_status(
    world: World,
) -> None:
    wazzup = world.script(answers(500, {"error": "UNKNOWN_ERROR_WITH_TRACE_ID"}))

    with pytest.raises(ProviderUnreachable) as raised:
        world.gateway.send(CONNECTION, a_message())

    assert len(wazzup.requests) == 3
    assert (raised.value.status, raised.value.outcome_unknown) == (500, True)
    assert world.pauses == [0.5, 1.0]


@pytest.mark.parametrize("failure", [httpx.ConnectError, httpx.ConnectTimeout])
def test_given_no_connection_when_it_lasts_then_the_request_never_left(
    world: World, failure: type[httpx.TransportError]
) -> None:
    wazzup = world.script(fails(failure, "[Errno 111] Connection refused"))

    with pytest.raises(ProviderUnreachable) as raised:
        world.gateway.send(CONNECTION, a_message())

    assert len(wazzup.requests) == 3
    assert (raised.value.outcome_unknown, raised.value.status) == (False, None)


def test_given_a_refused_connection_once_when_sending_then_the_retry_sends_it(
    world: World,
) -> None:
    wazzup = world.script(fails(httpx.ConnectError), SENT)

    sent = world.gateway.send(CONNECTION, a_message())

    assert (sent.provider_message_id, len(wazzup.requests)) == (MESSAGE_ID, 2)


@pytest.mark.parametrize("failure", [httpx.ReadTimeout, httpx.WriteTimeout, httpx.PoolTimeout])
def test_given_a_timeout_when_sending_then_it_is_not_retried_and_times_out(
    world: World, failure: type[httpx.TransportError]
) -> None:
    wazzup = world.script(fails(failure), SENT)

    with pytest.raises(ProviderTimedOut) as raised:
        world.gateway.send(CONNECTION, a_message())

    assert (len(wazzup.requests), raised.value.outcome_unknown) == (1, True)


@pytest.mark.parametrize("failure", [httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError])
def test_given_a_dropped_connection_when_sending_then_it_is_not_retried_and_may_have_arrived(
    world: World, failure: type[httpx.TransportError]
) -> None:
    wazzup = world.script(fails(failure, "Server disconnected"), SENT)

    with pytest.raises(ProviderUnreachable) as raised:
        world.gateway.send(CONNECTION, a_message())

    assert (len(wazzup.requests), raised.value.outcome_unknown) == (1, True)


def test_given_a_refusal_when_sending_then_it_is_not_retried(world: World) -> None:
    wazzup = world.script(answers(400, {"error": "WRONG_TRANSPORT"}), SENT)

    with pytest.raises(ProviderRefused):
        world.gateway.send(CONNECTION, a_message())

    assert len(wazzup.requests) == 1


# --- error bodies ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "code", "description"),
    [
        (answers(400), "HTTP_400", ""),
        (answers(400, text="Bad Request"), "HTTP_400", "Bad Request"),
        (answers(422, text="<html>nope</html>"), "HTTP_422", "<html>nope</html>"),
        (
            answers(
                400,
                {
                    "status": 400,
                    "requestId": "c1005276e8a2b5aa23fcc94407d39f49",
                    "error": "REPEATED_CRM_MESSAGE_ID",
                    "description": "You have already sent message with same crmMessageId",
                    "data": {"crmMessageId": "1"},
                },
            ),
            "REPEATED_CRM_MESSAGE_ID",
            "You have already sent message with same crmMessageId",
        ),
        (
            answers(400, {"error": "repeatedCrmMessageId"}),
            "repeatedCrmMessageId",
            "",
        ),
        (
            answers(400, {"error": {"code": "INVALID_PHONE", "message": "No such number"}}),
            "INVALID_PHONE",
            "No such number",
        ),
        (
            answers(400, {"error": {"error": "CHAT_NO_ACCESS", "description": "No access"}}),
            "CHAT_NO_ACCESS",
            "No access",
        ),
        (
            answers(400, {"data": [{"code": "BAD_CONTACT", "description": "Not on WhatsApp"}]}),
            "BAD_CONTACT",
            "Not on WhatsApp",
        ),
        (
            answers(
                400,
                {
                    "error": "INVALID_MESSAGE_DATA",
                    "description": "Message data is invalid",
                    "data": {"fields": ["channelId"]},
                },
            ),
            "INVALID_MESSAGE_DATA",
            "Message data is invalid (fields: channelId)",
        ),
        (
            answers(
                400, {"error": "INVALID_CONTACTS_DATA", "data": [{"index": 0, "fields": ["name"]}]}
            ),
            "INVALID_CONTACTS_DATA",
            "fields: [0] name",
        ),
        (answers(403, {"error": "FORBIDDEN"}), "FORBIDDEN", ""),
        (answers(404, ["not", "an", "error"]), "HTTP_404", ""),
    ],
)
def test_given_an_error_body_of_any_shape_when_refused_then_its_code_and_words_are_kept(
    world: World, answer: Answer, code: str, description: str
) -> None:
    wazzup = world.script(answer)

    with pytest.raises(ProviderRefused) as raised:
        world.gateway.send(CONNECTION, a_message())

    refused = raised.value
    assert (refused.code, refused.description, refused.status) == (
        code,
        description,
        wazzup.statuses[-1],
    )
    assert not isinstance(refused, ProviderRejectedKey)


def test_given_a_code_in_camel_case_then_it_reads_as_its_upper_snake_twin(world: World) -> None:
    world.script(answers(400, {"error": "repeatedCrmMessageId"}))

    with pytest.raises(ProviderRefused) as raised:
        world.gateway.send(CONNECTION, a_message())

    assert raised.value.is_code("REPEATED_CRM_MESSAGE_ID")


def test_given_a_wrong_key_when_calling_then_the_key_is_rejected(world: World) -> None:
    wazzup = world.script(answers(401))

    with pytest.raises(ProviderRejectedKey) as raised:
        world.gateway.channels(CONNECTION)

    assert (raised.value.status, len(wazzup.requests)) == (401, 1)


def test_given_a_sidecar_key_on_a_closed_route_then_it_is_refused_as_forbidden(
    world: World,
) -> None:
    world.script(answers(403, {"error": "FORBIDDEN"}))

    with pytest.raises(ProviderRefused) as raised:
        world.gateway.push_users(CONNECTION, [PushedUser("user-7", "Anna")])

    assert (raised.value.code, raised.value.status) == ("FORBIDDEN", 403)
    assert not isinstance(raised.value, ProviderRejectedKey)


# --- answers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("transport", "chat_type"),
    [
        ("whatsapp", "whatsapp"),
        ("wapi", "whatsapp"),
        ("instagram", "instagram"),
        ("tgapi", "telegram"),
        ("telegram", "telegram"),
        ("vk", "vk"),
        ("avito", "avito"),
        ("viber", "viber"),
        ("max", "max"),
        ("maxbot", "max"),
        ("wechat", "wechat"),
    ],
)
def test_given_a_channel_transport_then_it_serves_its_chat_type(
    world: World, transport: str, chat_type: str
) -> None:
    world.script(answers(200, [{"channelId": CHANNEL, "transport": transport, "state": "active"}]))

    (channel,) = world.gateway.channels(CONNECTION)

    assert (channel.transport, channel.chat_type) == (transport, chat_type)


def test_given_the_documented_channel_list_then_each_channel_is_read_as_given(
    world: World,
) -> None:
    listed = [
        {
            "channelId": CHANNEL,
            "transport": "whatsapp",
            "plainId": "79865784457",
            "state": "active",
            "name": "79865784457 (Sales)",
        },
        {
            "channelId": "5c1e0b6e-2f8a-4b0e-9f7e-0a1b2c3d4e5f",
            "transport": "telegram",
            "plainId": "shop_bot",
            "state": "openElsewhere",
        },
    ]
    world.script(answers(200, listed))

    whatsapp, telegram = world.gateway.channels(CONNECTION)

    assert (whatsapp.channel_id, whatsapp.plain_id, whatsapp.state) == (
        CHANNEL,
        "79865784457",
        "active",
    )
    assert dict(whatsapp.raw) == listed[0]
    assert (telegram.chat_type, telegram.state, dict(telegram.raw)) == (
        "telegram",
        "openElsewhere",
        listed[1],
    )


def test_given_a_channel_list_that_is_not_a_list_then_it_is_a_provider_failure(
    world: World,
) -> None:
    world.script(answers(200, text="OK"))

    with pytest.raises(ProviderFailed):
        world.gateway.channels(CONNECTION)


def test_given_a_message_when_sent_then_every_value_of_the_body_is_a_string(
    world: World,
) -> None:
    wazzup = world.script(SENT)

    world.gateway.send(CONNECTION, a_message())

    (request,) = wazzup.requests
    assert (request.method, request.url.path) == ("POST", "/v3/message")
    assert request.headers["Content-Type"] == "application/json"
    assert wazzup.last_body == {
        "channelId": CHANNEL,
        "chatType": "whatsapp",
        "chatId": "79011112233",
        "text": "Hello! Your order is ready.",
        "crmMessageId": "crm-msg-000123",
    }
    assert all(isinstance(value, str) for value in wazzup.last_body.values())


def test_given_a_file_when_sent_then_only_its_uri_is_sent(world: World) -> None:
    wazzup = world.script(SENT)

    world.gateway.send(
        CONNECTION, a_message(text=None, content_uri="https://files.example.com/invoice.pdf")
    )

    assert "text" not in wazzup.last_body
    assert wazzup.last_body["contentUri"] == "https://files.example.com/invoice.pdf"


@pytest.mark.parametrize(
    ("address", "sent_as"),
    [
        ({"username": "durov"}, {"username": "durov"}),
        ({"phone": "79011112233"}, {"phone": "79011112233"}),
    ],
)
def test_given_a_telegram_send_by_name_or_phone_then_the_answer_gives_the_chat_id(
    world: World, address: dict[str, str], sent_as: dict[str, str]
) -> None:
    wazzup = world.script(answers(201, {"messageId": MESSAGE_ID, "chatId": "123456789"}))

    sent = world.gateway.send(
        CONNECTION, a_message(chat_type=ChatType.TELEGRAM, chat_id=None, **address)
    )

    assert sent == Sent(MESSAGE_ID, "123456789")
    assert {key: wazzup.last_body.get(key) for key in ("chatId", *sent_as)} == {
        "chatId": None,
        **sent_as,
    }
    assert wazzup.last_body["chatType"] == "telegram"


def test_given_an_answer_without_a_chat_id_then_the_sent_message_has_none(world: World) -> None:
    world.script(answers(201, {"messageId": MESSAGE_ID}))

    sent = world.gateway.send(CONNECTION, a_message())

    assert sent == Sent(MESSAGE_ID, None)


@pytest.mark.parametrize(
    "answer", [answers(201), answers(201, text="Created"), answers(200, {"ok": True})]
)
def test_given_a_success_without_a_message_id_then_the_message_may_have_been_taken(
    world: World, answer: Answer
) -> None:
    world.script(answer)

    with pytest.raises(ProviderUnreachable) as raised:
        world.gateway.send(CONNECTION, a_message())

    assert raised.value.outcome_unknown is True


@pytest.mark.parametrize(
    "fields",
    [
        {"chat_id": None},
        {"phone": "79011112233"},
        {"content_uri": "https://files.example.com/a.pdf"},
        {"text": None},
    ],
)
def test_given_a_message_not_addressed_once_with_one_content_then_nothing_is_sent(
    world: World, fields: dict[str, Any]
) -> None:
    with pytest.raises(ValueError):
        world.gateway.send(CONNECTION, a_message(**fields))

    assert world.wazzup.requests == []


# --- the webhook -------------------------------------------------------------------------------


@pytest.mark.parametrize("answer", [answers(200, text="OK"), answers(200), answers(204)])
def test_given_a_plain_success_when_registering_the_webhook_then_it_is_registered(
    world: World, answer: Answer
) -> None:
    wazzup = world.script(answer)

    world.gateway.register_webhook(CONNECTION, "https://crm.example.com/hooks/wazzup/9f2c1e7a")

    (request,) = wazzup.requests
    assert (request.method, request.url.path) == ("PATCH", "/v3/webhooks")
    assert wazzup.last_body == {
        "webhooksUri": "https://crm.example.com/hooks/wazzup/9f2c1e7a",
        "subscriptions": {
            "messagesAndStatuses": True,
            "channelsUpdates": True,
            "contactsAndDealsCreation": False,
            "wabaTemplatesStatus": False,
        },
    }


def test_given_an_address_that_fails_the_test_post_then_registering_is_refused(
    world: World,
) -> None:
    world.script(
        answers(
            400,
            {
                "error": "testPostNotPassed",
                "description": "URI does not return 200 OK on test request",
                "data": {"code": 201},
            },
        )
    )

    with pytest.raises(ProviderRefused) as raised:
        world.gateway.register_webhook(CONNECTION, "https://crm.example.com/hook")

    assert raised.value.is_code("TEST_POST_NOT_PASSED")


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            answers(
                200,
                {
                    "webhooksUri": "https://example.com/webhooks",
                    "subscriptions": {
                        "messagesAndStatuses": True,
                        "contactsAndDealsCreation": False,
                        "channelsUpdates": True,
                        "wabaTemplatesStatus": False,
                    },
                },
            ),
            WebhookSettings("https://example.com/webhooks", True, True),
        ),
        (
            answers(
                200,
                {
                    "webhooksUri": "https://example.com/webhooks",
                    "subscriptions": {"messagesAndStatuses": "true", "channelsUpdates": "false"},
                },
            ),
            WebhookSettings("https://example.com/webhooks", True, False),
        ),
        (answers(200, {}), WebhookSettings("", False, False)),
        (
            answers(200, {"webhooksUri": None, "subscriptions": None}),
            WebhookSettings("", False, False),
        ),
    ],
)
def test_given_the_registered_webhook_then_its_settings_are_read(
    world: World, answer: Answer, expected: WebhookSettings
) -> None:
    wazzup = world.script(answer)

    settings = world.gateway.webhook(CONNECTION)

    assert settings == expected
    assert (wazzup.requests[0].method, wazzup.requests[0].url.path) == ("GET", "/v3/webhooks")


# --- upserts -----------------------------------------------------------------------------------


def test_given_users_when_pushed_then_they_go_as_id_and_name(world: World) -> None:
    wazzup = world.script(answers(200))

    world.gateway.push_users(CONNECTION, [PushedUser("user-7", "Anna"), PushedUser("u-8", "Kate")])

    assert wazzup.requests[0].url.path == "/v3/users"
    assert wazzup.last_body == [{"id": "user-7", "name": "Anna"}, {"id": "u-8", "name": "Kate"}]


def test_given_contacts_when_pushed_then_each_chat_is_named_as_wazzup_knows_it(
    world: World,
) -> None:
    wazzup = world.script(answers(200))
    contact = PushedContact(
        id="crm-contact-42",
        responsible_user_id="user-7",
        name="Ivan Petrov",
        chats=(
            ChatAddress("whatsapp", chat_id="79011112233"),
            ChatAddress("telegram", username="ivanp"),
            ChatAddress("telegram", chat_id="123456789", username="ivan_old"),
        ),
        uri="https://crm.example.com/contacts/42",
    )

    world.gateway.push_contacts(CONNECTION, [contact])

    assert wazzup.requests[0].url.path == "/v3/contacts"
    assert wazzup.last_body == [
        {
            "id": "crm-contact-42",
            "responsibleUserId": "user-7",
            "name": "Ivan Petrov",
            "contactData": [
                {"chatType": "whatsapp", "chatId": "79011112233"},
                {"chatType": "telegram", "username": "ivanp"},
                {"chatType": "telegram", "chatId": "123456789"},
            ],
            "uri": "https://crm.example.com/contacts/42",
        }
    ]


def test_given_pipelines_when_pushed_then_a_pipeline_without_stages_has_no_stages_key(
    world: World,
) -> None:
    wazzup = world.script(answers(200))
    sales = PushedPipeline(
        "pipe-1", "Sales", (PushedStage("st-1", "New"), PushedStage("st-2", "Won"))
    )

    world.gateway.push_pipelines(CONNECTION, [sales, PushedPipeline("pipe-2", "Empty", ())])

    assert wazzup.requests[0].url.path == "/v3/pipelines"
    assert wazzup.last_body == [
        {
            "id": "pipe-1",
            "name": "Sales",
            "stages": [{"id": "st-1", "name": "New"}, {"id": "st-2", "name": "Won"}],
        },
        {"id": "pipe-2", "name": "Empty"},
    ]


def test_given_deals_when_pushed_then_they_go_in_the_documented_shape(world: World) -> None:
    wazzup = world.script(answers(200))
    deal = PushedDeal(
        id="deal-1001",
        responsible_user_id="user-7",
        name="Sofa delivery",
        contacts=("crm-contact-42",),
        uri="https://crm.example.com/deals/1001",
        closed=False,
    )

    world.gateway.push_deals(CONNECTION, [deal])

    assert wazzup.requests[0].url.path == "/v3/deals"
    assert wazzup.last_body == [
        {
            "id": "deal-1001",
            "responsibleUserId": "user-7",
            "name": "Sofa delivery",
            "contacts": ["crm-contact-42"],
            "uri": "https://crm.example.com/deals/1001",
            "closed": False,
        }
    ]


def test_given_more_users_than_one_batch_when_pushed_then_nothing_is_sent(world: World) -> None:
    users = [PushedUser(f"user-{n}", f"User {n}") for n in range(PUSH_BATCH + 1)]

    with pytest.raises(ValueError):
        world.gateway.push_users(CONNECTION, users)

    assert world.wazzup.requests == []


def test_given_exactly_one_batch_when_pushed_then_it_goes_in_one_call(world: World) -> None:
    wazzup = world.script(answers(200))

    world.gateway.push_users(
        CONNECTION, [PushedUser(f"user-{n}", f"User {n}") for n in range(PUSH_BATCH)]
    )

    assert (len(wazzup.requests), len(wazzup.last_body)) == (1, PUSH_BATCH)


def test_given_nothing_to_push_then_no_call_is_made(world: World) -> None:
    world.gateway.push_deals(CONNECTION, [])

    assert world.wazzup.requests == []


# --- the chat window ---------------------------------------------------------------------------


def test_given_a_contacts_chats_then_the_chat_window_is_a_card_of_them(world: World) -> None:
    wazzup = world.script(answers(200, {"url": "https://app.wazzup24.com/iframe/abc"}))

    url = world.gateway.chat_window(
        CONNECTION,
        PushedUser("user-7", "Anna"),
        [
            ChatAddress("whatsapp", chat_id="79011112233"),
            ChatAddress("telegram", username="ivanp"),
            ChatAddress("telegram", phone="79011112233"),
        ],
    )

    assert url == "https://app.wazzup24.com/iframe/abc"
    assert (wazzup.requests[0].method, wazzup.requests[0].url.path) == ("POST", "/v3/iframe")
    assert wazzup.last_body == {
        "user": {"id": "user-7", "name": "Anna"},
        "scope": "card",
        "filter": [
            {"chatType": "whatsapp", "chatId": "79011112233"},
            {"chatType": "telegram", "username": "ivanp"},
            {"chatType": "telegram", "phone": "79011112233"},
        ],
    }


def test_given_no_chats_then_the_chat_window_shows_every_chat(world: World) -> None:
    wazzup = world.script(answers(200, {"url": "https://app.wazzup24.com/iframe/all"}))

    url = world.gateway.chat_window(CONNECTION, PushedUser("user-7", "Anna"), [])

    assert url == "https://app.wazzup24.com/iframe/all"
    assert wazzup.last_body == {"user": {"id": "user-7", "name": "Anna"}, "scope": "global"}


def test_given_a_chat_window_answer_without_an_address_then_it_is_a_provider_failure(
    world: World,
) -> None:
    world.script(answers(200, {}))

    with pytest.raises(ProviderFailed):
        world.gateway.chat_window(CONNECTION, PushedUser("user-7", "Anna"), [])


# --- the key stays secret ----------------------------------------------------------------------


def test_given_a_connection_then_its_repr_hides_the_key() -> None:
    assert KEY not in repr(CONNECTION)
    assert KEY not in repr(WazzupGateway(sleep=lambda _: None))


@pytest.mark.parametrize(
    "answer",
    [
        answers(401, {"error": "UNAUTHORIZED", "description": f"Key {KEY} is not valid"}),
        answers(400, {"error": f"BAD_{KEY}", "description": f"Bearer {KEY}"}),
        answers(500, text=f"crashed on Bearer {KEY}"),
        answers(429),
        fails(httpx.ConnectError, f"could not connect with {KEY}"),
        fails(httpx.ReadTimeout),
        fails(httpx.RemoteProtocolError, f"dropped {KEY}"),
    ],
)
def test_given_any_failure_when_calling_then_the_key_is_in_no_error_and_no_log_line(
    world: World, answer: Answer, caplog: pytest.LogCaptureFixture
) -> None:
    world.script(answer)
    caplog.set_level(logging.DEBUG)

    with pytest.raises(ProviderFailed) as raised:
        world.gateway.send(CONNECTION, a_message())

    error = raised.value
    told = [str(error), repr(error), error.detail, *(str(value) for value in vars(error).values())]
    assert not [words for words in told if KEY in words]
    assert KEY not in caplog.text


def test_given_a_successful_send_then_the_debug_log_names_method_path_and_status_only(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    world.script(SENT)
    caplog.set_level(logging.DEBUG)

    world.gateway.send(CONNECTION, a_message())

    lines = [record.getMessage() for record in caplog.records if record.name == "crm.wazzup"]
    assert lines == ["POST /v3/message -> 201"]
    assert {record.levelno for record in caplog.records if record.name == "crm.wazzup"} == {
        logging.DEBUG
    }
    assert KEY not in caplog.text


@pytest.mark.parametrize("key", ["", "key with spaces", "ключ", "key\nInjected: yes"])
def test_given_a_key_no_header_can_carry_then_it_is_rejected_without_a_call(
    world: World, key: str
) -> None:
    with pytest.raises(ProviderRejectedKey) as raised:
        world.gateway.channels(ProviderConnection("", key))

    assert world.wazzup.requests == []
    assert not key or key not in str(raised.value)
