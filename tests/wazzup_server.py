"""A fake Wazzup API v3 for tests: a real HTTP server with the routes, errors and webhook
deliveries the CRM's Wazzup adapter meets, and switches that make it fail, stall or drop.

Section numbers (§) refer to the team's notes on the Wazzup API v3 (wazzup-api.md)."""

from __future__ import annotations

import copy
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from types import TracebackType
from typing import Any, NamedTuple, Self
from urllib.parse import urlsplit

import httpx
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

# --------------------------------------------------------------------------------------------
# Facts of the API
# --------------------------------------------------------------------------------------------

DEFAULT_API_KEY = "test-key-0001"

# §2: the one-to-one chatType each transport sends to; a transport not listed sends to its own name.
CHAT_TYPE_OF_TRANSPORT = {
    "whatsapp": "whatsapp",
    "wapi": "whatsapp",
    "instagram": "instagram",
    "tgapi": "telegram",
    "telegram": "telegram",
    "vk": "vk",
    "avito": "avito",
    "viber": "viber",
    "max": "max",
    "maxbot": "max",
}

# §3.5: the limits the fake enforces; the docs contradict themselves about the others.
TEXT_LIMITS = {"whatsapp": 10_000, "telegram": 4096, "instagram": 1000, "max": 4096}

# §2: the states with a documented refusal (lower-cased). Any other state that is not
# `active` is answered 201 and the message silently dropped (§3.2).
REFUSING_STATES = {
    "disabled": ("CHANNEL_BLOCKED", "Channel is blocked"),
    "notenoughmoney": ("CHANNEL_NO_MONEY", "Channel is not paid"),
    "phoneunavailable": ("MESSAGE_CHANNEL_UNAVAILABLE", "Channel is unavailable, wait a minute"),
    "rejected": ("CHANNEL_WAPI_REJECTED", "WABA channel is rejected"),
}

# §3.1: every value of a send is a string, except these.
NON_STRING_MESSAGE_FIELDS: dict[str, type] = {
    "clearUnanswered": bool,
    "templateValues": list,
    "buttonsObject": dict,
}

REPEAT_WINDOW_SECONDS = 60  # §3.3
MAX_ENTITIES = 100  # §1.3
PAGE_SIZE = 100  # §5.2
MAX_WEBHOOK_URI_LENGTH = 200  # §4.1
PROBE_TIMEOUT_SECONDS = 10
DELIVERY_TIMEOUT_SECONDS = 30  # §4.3

# §4.1: the four switches, the template one under the name live accounts use.
SUBSCRIPTIONS = (
    "messagesAndStatuses",
    "contactsAndDealsCreation",
    "channelsUpdates",
    "wabaTemplatesStatus",
)

# §4.3: the header Wazzup sends with every delivery, typo included.
DELIVERY_CONTENT_TYPE = "application/json; charset-utf-8"

# §5: the entity kinds, their required fields and the error code of a bad batch.
REQUIRED_FIELDS = {
    "users": ("id", "name"),
    "contacts": ("id", "responsibleUserId", "name", "contactData"),
    "deals": ("id", "responsibleUserId", "name", "uri", "contacts", "closed"),
    "pipelines": ("id", "name"),
}

CONTENT_TYPES_BY_EXTENSION = {
    "image": ("jpg", "jpeg", "png", "gif", "webp", "bmp"),
    "audio": ("mp3", "ogg", "oga", "wav", "m4a"),
    "video": ("mp4", "mov", "avi", "webm"),
}


# --------------------------------------------------------------------------------------------
# Records and state
# --------------------------------------------------------------------------------------------


class RecordedRequest(NamedTuple):
    """One API call as the fake received it (`json` is None when the body was not JSON)."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any


class Delivery(NamedTuple):
    """One POST to a CRM webhook and the status it answered (None: no answer at all)."""

    payload: dict[str, Any]
    status_code: int | None


class IframeRequest(NamedTuple):
    """One `POST /v3/iframe` and the chat-window address it was given."""

    body: dict[str, Any]
    url: str


@dataclass
class Account:
    """What Wazzup holds for one API key."""

    key: str
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    webhook_uri: str | None = None
    subscriptions: dict[str, bool] = field(
        default_factory=lambda: dict.fromkeys(SUBSCRIPTIONS, False)
    )
    users: dict[Any, dict[str, Any]] = field(default_factory=dict)
    contacts: dict[Any, dict[str, Any]] = field(default_factory=dict)
    deals: dict[Any, dict[str, Any]] = field(default_factory=dict)
    pipelines: dict[Any, dict[str, Any]] = field(default_factory=dict)
    sent: list[dict[str, Any]] = field(default_factory=list)
    crm_message_ids: dict[str, float] = field(default_factory=dict)


@dataclass
class _Fault:
    """A pending switch: applies to the next `remaining` requests whose path ends with `path`."""

    remaining: int
    path: str | None
    status: int = 0
    body: dict[str, Any] | list[Any] | str | None = None
    seconds: float = 0.0

    def applies_to(self, path: str) -> bool:
        return self.remaining > 0 and (self.path is None or path.endswith(self.path))


@dataclass
class _DeliveryJob:
    """Webhook payloads one send owes the CRM, posted in order once `due` (monotonic) passes."""

    due: float
    key: str
    payloads: list[dict[str, Any]]


class _QuietRequestHandler(WSGIRequestHandler):
    """Keeps a line per request out of the test output."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


# --------------------------------------------------------------------------------------------
# The fake
# --------------------------------------------------------------------------------------------


class FakeWazzup:
    """The fake server. Start it with `with FakeWazzup() as wz:` or `start()` / `stop()`, and
    point the client at `wz.url` (it appends `/v3/...`) with the key `wz.api_key`."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._accounts: dict[str, Account] = {}
        self._telegram_chat_ids: dict[str, str] = {}
        self._failures: list[_Fault] = []
        self._slowdowns: list[_Fault] = []
        self._drops: list[_Fault] = []
        self._rate_limit: tuple[int, float] | None = None
        self._window_start = 0.0
        self._window_count = 0
        self._jobs: list[_DeliveryJob] = []
        self._jobs_changed = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._server: BaseWSGIServer | None = None
        self._threads: list[threading.Thread] = []
        self._routes = self._route_table()

        self.url = ""
        self.api_key = self.add_key(DEFAULT_API_KEY)
        # The clock of the 60 s crmMessageId rule and of the rate-limit window (replaceable).
        self.now: Callable[[], float] = time.monotonic
        # "after" (the default), "before" the HTTP answer, or None for no echo of API sends.
        self.echo: str | None = "after"
        self.echo_delay = 0.05
        self.echo_carries_crm_id = False
        # Statuses delivered after each accepted send, e.g. ["delivered", "read"].
        self.statuses: list[str] = []
        # Telegram chatIds answered 201 and then failed with BAD_CONTACT (besides >10 digits).
        self.bad_telegram_chat_ids: set[str] = set()

        self.requests: list[RecordedRequest] = []
        self.sent: list[dict[str, Any]] = []
        self.dropped: list[dict[str, Any]] = []
        self.deliveries: list[Delivery] = []
        self.iframes: list[IframeRequest] = []

    # ---- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        """Serve on a free port of 127.0.0.1 and start posting scheduled deliveries."""
        self._stopping.clear()
        self._server = make_server(
            "127.0.0.1", 0, self._wsgi_app, threaded=True, request_handler=_QuietRequestHandler
        )
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._threads = [
            threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},  # so that stop() is quick
                name="fake-wazzup",
                daemon=True,
            ),
            threading.Thread(
                target=self._post_scheduled_deliveries, name="fake-wazzup-hooks", daemon=True
            ),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; deliveries still scheduled are abandoned."""
        self._stopping.set()
        with self._jobs_changed:
            self._jobs_changed.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # ---- accounts and channels ---------------------------------------------------------------

    def add_key(self, key: str | None = None) -> str:
        """Open an account reachable with `key` (a fresh one when None) and return the key."""
        key = key or uuid.uuid4().hex
        with self._lock:
            self._accounts.setdefault(key, Account(key))
        return key

    def account(self, key: str | None = None) -> Account:
        """The live state of one account (the default key's when None), to inspect."""
        with self._lock:
            return self._accounts[key or self.api_key]

    def add_channel(
        self,
        transport: str = "whatsapp",
        state: str = "active",
        plain_id: str = "79865784457",
        key: str | None = None,
        channel_id: str | None = None,
        name: str | None = None,
    ) -> str:
        """Add a channel to an account and return its channelId (a uuid4 unless given)."""
        channel_id = channel_id or str(uuid.uuid4())
        channel = {
            "channelId": channel_id,
            "transport": transport,
            "plainId": plain_id,
            "state": state,
            "name": name or plain_id,
        }
        with self._lock:
            self.account(key).channels[channel_id] = channel
        return channel_id

    def set_state(self, channel_id: str, state: str, notify: bool = True) -> None:
        """Change a channel's state; with `notify`, post `channelsUpdates` if subscribed."""
        with self._lock:
            owners = [a for a in self._accounts.values() if channel_id in a.channels]
            if not owners:
                raise KeyError(f"no channel {channel_id}")
            account = owners[0]
            account.channels[channel_id]["state"] = state
        if notify:
            update = {"channelId": channel_id, "state": state, "timestamp": _epoch_ms()}
            self._deliver_if_subscribed(
                account.key, {"channelsUpdates": [update]}, "channelsUpdates"
            )

    def telegram_chat_id(self, username_or_phone: str) -> str:
        """The numeric chatId a Telegram (or MAX) send by this username or phone answers."""
        with self._lock:
            if username_or_phone not in self._telegram_chat_ids:
                self._telegram_chat_ids[username_or_phone] = str(
                    500_000_001 + len(self._telegram_chat_ids)
                )
            return self._telegram_chat_ids[username_or_phone]

    # ---- switches ----------------------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        body: dict[str, Any] | list[Any] | str | None = None,
        count: int = 1,
        path: str | None = None,
    ) -> None:
        """Answer the next `count` requests (whose path ends with `path`, if given) with
        `status` and `body`: a dict or list as JSON, a str as-is, None for an empty body."""
        with self._lock:
            self._failures.append(_Fault(count, path, status=status, body=body))

    def slow_next(self, seconds: float, count: int = 1, path: str | None = None) -> None:
        """Wait `seconds` before handling the next `count` requests (to make a client time out)."""
        with self._lock:
            self._slowdowns.append(_Fault(count, path, seconds=seconds))

    def drop_next(self, count: int = 1, path: str | None = None) -> None:
        """Handle the next `count` requests fully, then close the connection without answering."""
        with self._lock:
            self._drops.append(_Fault(count, path))

    def rate_limit(self, requests: int | None, per_seconds: float = 5.0) -> None:
        """Answer 429 beyond `requests` calls in each window of `per_seconds` (by `wz.now`);
        None turns the limit off. The real one is 500 per 5 s (§1.3)."""
        with self._lock:
            self._rate_limit = None if requests is None else (requests, per_seconds)
            self._window_start = self.now()
            self._window_count = 0

    def overwrite_webhook(
        self, url: str, key: str | None = None, subscriptions: dict[str, bool] | None = None
    ) -> None:
        """Move the account's webhook elsewhere as another integration would: no test POST.
        The switches stay as they were unless `subscriptions` is given."""
        with self._lock:
            account = self.account(key)
            account.webhook_uri = url
            if subscriptions is not None:
                account.subscriptions = _read_subscriptions(subscriptions)

    # ---- webhook deliveries driven by the test -----------------------------------------------

    def deliver(
        self, payload: dict[str, Any], key: str | None = None, headers: dict[str, str] | None = None
    ) -> int:
        """POST `payload` to the account's webhook, whatever its switches; return the status."""
        return self.deliver_for_response(payload, key, headers).status_code

    def deliver_for_response(
        self, payload: dict[str, Any], key: str | None = None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        """As `deliver`, returning the CRM's whole answer (`createContact` expects an entity)."""
        with self._lock:
            uri = self.account(key).webhook_uri
        if uri is None:
            raise RuntimeError("no webhook is registered for this key")
        try:
            response = _post_json(uri, payload, headers, DELIVERY_TIMEOUT_SECONDS)
        except httpx.HTTPError:
            self._record_delivery(payload, None)
            raise
        self._record_delivery(payload, response.status_code)
        return response

    def wait_for_deliveries(self, timeout: float = 5.0) -> None:
        """Block until every scheduled delivery (echoes, statuses) has been posted."""
        with self._jobs_changed:
            if not self._jobs_changed.wait_for(lambda: not self._jobs, timeout):
                raise TimeoutError("scheduled webhook deliveries are still pending")

    # ---- builders of webhook items (§4.4, §4.5) ----------------------------------------------

    def incoming(
        self,
        channel_id: str,
        chat_id: str,
        text: str | None = None,
        message_id: str | None = None,
        chat_type: str = "whatsapp",
        type: str = "text",
        contact_name: str | None = None,
        content_uri: str | None = None,
        date_time: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """An item of `messages` for a message from a client. Without `text` and `content_uri`
        the text is "Hello"; `extra` adds or overrides fields (None values stay, as `null`)."""
        if text is None and content_uri is None:
            text = "Hello"
        item = _message_item(
            message_id, date_time, channel_id, chat_type, chat_id, type, is_echo=False
        )
        if contact_name is not None:
            item["contact"] = {"name": contact_name}
        return {**item, **_content(text, content_uri), "status": "inbound", **extra}

    def echo_item(
        self,
        channel_id: str,
        chat_id: str,
        text: str | None = None,
        message_id: str | None = None,
        chat_type: str = "whatsapp",
        type: str = "text",
        author_name: str = "Anna",
        author_id: str | None = None,
        sent_from_app: bool = True,
        status: str = "sent",
        contact_name: str | None = None,
        content_uri: str | None = None,
        date_time: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """An item of `messages` for a message an employee wrote in Wazzup's own window."""
        if text is None and content_uri is None:
            text = "Hello"
        item = _message_item(
            message_id, date_time, channel_id, chat_type, chat_id, type, is_echo=True
        )
        item["sentFromApp"] = sent_from_app
        if author_id is not None:
            item["authorId"] = author_id
        item["authorName"] = author_name
        if contact_name is not None:
            item["contact"] = {"name": contact_name}
        return {**item, **_content(text, content_uri), "status": status, **extra}

    def status_item(
        self,
        message_id: str,
        status: str,
        error: str | dict[str, Any] | None = None,
        timestamp: str | None = None,
    ) -> dict[str, Any]:
        """An item of `statuses`; `error` is a code such as "BAD_CONTACT" or a whole object."""
        item: dict[str, Any] = {
            "messageId": message_id,
            "timestamp": timestamp or _iso_now(),
            "status": status,
        }
        if isinstance(error, str):
            item["error"] = {"error": error, "description": f"Message failed: {error}"}
        elif error is not None:
            item["error"] = error
        return item

    # ---- HTTP plumbing -----------------------------------------------------------------------

    def _route_table(self) -> dict[tuple[str, str], Callable[..., Response]]:
        routes: dict[tuple[str, str], Callable[..., Response]] = {
            ("GET", "/v3/channels"): self._list_channels,
            ("POST", "/v3/message"): self._send_message,
            ("GET", "/v3/webhooks"): self._read_webhook,
            ("PATCH", "/v3/webhooks"): self._register_webhook,
            ("POST", "/v3/iframe"): self._open_iframe,
        }
        for kind in REQUIRED_FIELDS:
            routes[("POST", f"/v3/{kind}")] = partial(self._upsert, kind)
            routes[("GET", f"/v3/{kind}")] = partial(self._list_entities, kind)
        return routes

    def _wsgi_app(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        request = Request(environ)
        if request.path.startswith("/iframe/"):
            page = Response("<html><body>Fake Wazzup chat window</body></html>", 200)
            page.content_type = "text/html; charset=utf-8"
            return page(environ, start_response)
        response = self._answer(request)
        if response is None:
            # Headers go out first so werkzeug's write hits the closed socket as a dropped
            # connection (which it ignores) rather than as a broken application.
            start_response("200 OK", [("Content-Length", "0")])
            environ["werkzeug.socket"].shutdown(socket.SHUT_RDWR)
            return []
        return response(environ, start_response)

    def _answer(self, request: Request) -> Response | None:
        """The switches first, then the real behaviour; None means drop the connection."""
        body = _json_body(request)
        path = request.path
        with self._lock:
            self.requests.append(RecordedRequest(request.method, path, dict(request.headers), body))
        slowdown = self._take(self._slowdowns, path)
        if slowdown is not None:
            self._stopping.wait(slowdown.seconds)
        failure = self._take(self._failures, path)
        if failure is not None:
            return _canned_response(failure.status, failure.body)
        drop = self._take(self._drops, path)
        response = self._route(request, body)
        return None if drop is not None else response

    def _take(self, faults: list[_Fault], path: str) -> _Fault | None:
        with self._lock:
            for fault in faults:
                if fault.applies_to(path):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        faults.remove(fault)
                    return fault
        return None

    def _route(self, request: Request, body: Any) -> Response:
        if self._over_rate_limit():
            return _error(429, "TOO_MANY_REQUESTS", "Too many requests: 500 per 5 seconds")
        with self._lock:
            account = self._accounts.get(_bearer_key(request) or "")
        if account is None:
            return _error(401, "UNAUTHORIZED", "API key is missing or not valid")
        handler = self._routes.get((request.method, request.path))
        if handler is not None:
            return handler(account, request, body)
        if any(path == request.path for _, path in self._routes):
            return _error(405, "METHOD_NOT_ALLOWED", "Method not allowed")
        return _error(404, "NOT_FOUND", "Route not found")

    def _over_rate_limit(self) -> bool:
        with self._lock:
            if self._rate_limit is None:
                return False
            allowed, window = self._rate_limit
            now = self.now()
            if now - self._window_start >= window:
                self._window_start, self._window_count = now, 0
            self._window_count += 1
            return self._window_count > allowed

    # ---- channels and sending (§2, §3) -------------------------------------------------------

    def _list_channels(self, account: Account, request: Request, body: Any) -> Response:
        with self._lock:
            return _json(200, [dict(channel) for channel in account.channels.values()])

    def _send_message(self, account: Account, request: Request, body: Any) -> Response:
        with self._lock:
            refusal = self._message_refusal(account, body)
            if refusal is not None:
                return refusal
            channel = account.channels[body["channelId"]]
            message_id = str(uuid.uuid4())
            if _given(body.get("chatId")):
                chat_id = body["chatId"]
            else:  # a Telegram or MAX send by username or phone (§3.2)
                by = body["username"] if _given(body.get("username")) else body["phone"]
                chat_id = self.telegram_chat_id(by)
            if body.get("crmMessageId"):
                account.crm_message_ids[body["crmMessageId"]] = self.now()
            record = {**copy.deepcopy(body), "messageId": message_id}
            answer = _json(201, {"messageId": message_id, "chatId": chat_id})
            if channel["state"].lower() != "active":
                self.dropped.append(record)
                return answer
            self.sent.append(record)
            account.sent.append(record)
            echo = self._echo_of(record, chat_id)
            when, delay = self.echo, self.echo_delay
            later: list[dict[str, Any]] = []
            if when == "after":
                later.append({"messages": [echo]})
            if self._is_bad_telegram_chat(body):
                later.append({"statuses": [self.status_item(message_id, "error", "BAD_CONTACT")]})
            else:
                later += [{"statuses": [self.status_item(message_id, s)]} for s in self.statuses]
        if when == "before":
            self._deliver_if_subscribed(account.key, {"messages": [echo]}, "messagesAndStatuses")
        if later:
            self._schedule(account.key, later, delay)
        return answer

    def _message_refusal(self, account: Account, body: Any) -> Response | None:
        """The 400 a send gets, in the order the checks are made; None when accepted."""
        if not isinstance(body, dict):
            return _message_error("INVALID_MESSAGE_DATA", "Message data is invalid", {"fields": []})
        fields = [name for name, value in body.items() if not _is_message_value(name, value)]
        fields += [name for name in ("channelId", "chatType") if name not in body]
        if fields:
            return _message_error(
                "INVALID_MESSAGE_DATA", "Message data is invalid", {"fields": fields}
            )
        channel = account.channels.get(body["channelId"])
        if channel is None:
            return _message_error(
                "CHANNEL_NOT_FOUND", "Channel not found", {"channelId": body["channelId"]}
            )
        transport, chat_type = channel["transport"], body["chatType"]
        if CHAT_TYPE_OF_TRANSPORT.get(transport, transport) != chat_type:
            return _message_error(
                "WRONG_TRANSPORT",
                "chatType does not match the channel transport",
                {"channelId": channel["channelId"], "transport": transport, "chatType": chat_type},
            )
        misplaced = [
            name
            for name, chat_types in (("username", ("telegram",)), ("phone", ("telegram", "max")))
            if name in body and chat_type not in chat_types
        ]
        if misplaced:
            return _message_error(
                "INVALID_MESSAGE_DATA", "Message data is invalid", {"fields": misplaced}
            )
        if not any(_given(body.get(name)) for name in ("chatId", "username", "phone")):
            return _message_error(
                "INVALID_MESSAGE_DATA", "Message data is invalid", {"fields": ["chatId"]}
            )
        text, content_uri = body.get("text"), body.get("contentUri")
        if _given(text) and _given(content_uri):
            return _message_error(
                "MESSAGE_ONLY_TEXT_OR_CONTENT", "Send either text or contentUri, not both"
            )
        if not (_given(text) or _given(content_uri) or _given(body.get("templateId"))):
            return _message_error("MESSAGE_NOTHING_TO_SEND", "There is nothing to send")
        limit = TEXT_LIMITS.get(chat_type)
        if limit is not None and text is not None and len(text) > limit:
            return _message_error("MESSAGE_TEXT_TOO_LONG", f"Text is longer than {limit}")
        if channel["state"].lower() in REFUSING_STATES:
            code, description = REFUSING_STATES[channel["state"].lower()]
            return _message_error(code, description)
        crm_message_id = body.get("crmMessageId")
        first_sent = account.crm_message_ids.get(crm_message_id or "")
        if first_sent is not None and self.now() - first_sent < REPEAT_WINDOW_SECONDS:
            return _message_error(
                "REPEATED_CRM_MESSAGE_ID",
                "You have already sent message with same crmMessageId",
                {"crmMessageId": crm_message_id},
            )
        return None

    def _is_bad_telegram_chat(self, body: dict[str, Any]) -> bool:
        """A phone number put in a Telegram chatId: accepted, then BAD_CONTACT (§3.2, §8)."""
        chat_id = body.get("chatId") or ""
        return body["chatType"] == "telegram" and (
            chat_id in self.bad_telegram_chat_ids or (chat_id.isdigit() and len(chat_id) > 10)
        )

    def _echo_of(self, record: dict[str, Any], chat_id: str) -> dict[str, Any]:
        """The `messages` item Wazzup posts back for a message sent through the API (§4.4)."""
        item = _message_item(
            record["messageId"],
            None,
            record["channelId"],
            record["chatType"],
            chat_id,
            _message_type(record),
            is_echo=True,
        )
        item.update(_content(record.get("text"), record.get("contentUri")))
        if record.get("crmUserId"):
            item["authorId"] = record["crmUserId"]
        if self.echo_carries_crm_id and record.get("crmMessageId"):
            item["crmMessageId"] = record["crmMessageId"]
        item["status"] = "sent"
        return item

    # ---- webhooks (§4) -----------------------------------------------------------------------

    def _read_webhook(self, account: Account, request: Request, body: Any) -> Response:
        with self._lock:
            return _json(
                200,
                {"webhooksUri": account.webhook_uri, "subscriptions": dict(account.subscriptions)},
            )

    def _register_webhook(self, account: Account, request: Request, body: Any) -> Response:
        uri = body.get("webhooksUri") if isinstance(body, dict) else None
        if not isinstance(uri, str) or not _valid_webhook_uri(uri):
            return _error(400, "uriNotValid", "Provided URI is not valid URI")
        probe = {"test": True}
        try:
            status: int | None = _post_json(uri, probe, None, PROBE_TIMEOUT_SECONDS).status_code
        except httpx.HTTPError:
            status = None
        self._record_delivery(probe, status)
        if status != 200:
            return _error(
                400,
                "testPostNotPassed",
                "URI does not return 200 OK on test request",
                {"status": status},
            )
        requested = body.get("subscriptions")
        with self._lock:
            account.webhook_uri = uri
            account.subscriptions = _read_subscriptions(
                requested if isinstance(requested, dict) else {}
            )
        return Response("OK", 200, content_type="text/plain; charset=utf-8")

    def _deliver_if_subscribed(self, key: str, payload: dict[str, Any], switch: str) -> None:
        """Post `payload` if the account has a webhook with `switch` on; failures are recorded."""
        with self._lock:
            account = self._accounts[key]
            uri = account.webhook_uri if account.subscriptions[switch] else None
        if uri is None:
            return
        try:
            status: int | None = _post_json(
                uri, payload, None, DELIVERY_TIMEOUT_SECONDS
            ).status_code
        except httpx.HTTPError:
            status = None
        self._record_delivery(payload, status)

    def _record_delivery(self, payload: dict[str, Any], status: int | None) -> None:
        with self._lock:
            self.deliveries.append(Delivery(payload, status))

    def _schedule(self, key: str, payloads: list[dict[str, Any]], delay: float) -> None:
        with self._jobs_changed:
            self._jobs.append(_DeliveryJob(time.monotonic() + delay, key, payloads))
            self._jobs_changed.notify_all()

    def _post_scheduled_deliveries(self) -> None:
        """One thread posts every scheduled delivery, in the order the sends were accepted."""
        while True:
            with self._jobs_changed:
                self._jobs_changed.wait_for(lambda: self._jobs or self._stopping.is_set())
                if self._stopping.is_set():
                    return
                job = self._jobs[0]
            if self._stopping.wait(max(0.0, job.due - time.monotonic())):
                return
            for payload in job.payloads:
                self._deliver_if_subscribed(job.key, payload, "messagesAndStatuses")
            with self._jobs_changed:
                self._jobs.remove(job)
                self._jobs_changed.notify_all()

    # ---- CRM entities (§5.1-§5.4) ------------------------------------------------------------

    def _upsert(self, kind: str, account: Account, request: Request, body: Any) -> Response:
        code = f"INVALID_{kind.upper()}_DATA"
        if not isinstance(body, list):
            return _error(400, code, f"Expected an array of {kind}", [])
        if len(body) > MAX_ENTITIES:
            return _error(400, "TOO_MANY_ENTITIES", f"At most {MAX_ENTITIES} entities per request")
        problems = [
            {"index": index, "fields": fields}
            for index, item in enumerate(body)
            if (fields := _invalid_entity_fields(kind, item))
        ]
        if problems:
            return _error(400, code, f"Some {kind} are invalid", problems)
        with self._lock:
            stored = getattr(account, kind)
            for item in body:
                stored[item["id"]] = copy.deepcopy(item)
        return Response(b"", 200)

    def _list_entities(self, kind: str, account: Account, request: Request, body: Any) -> Response:
        with self._lock:
            items = [copy.deepcopy(item) for item in getattr(account, kind).values()]
        if kind == "users":
            return _json(200, sorted(items, key=lambda item: str(item["name"])))
        if kind == "pipelines":
            return _json(200, items)
        items.sort(key=lambda item: str(item["id"]))
        offset = request.args.get("offset", 0, type=int) or 0
        return _json(200, {"count": len(items), "data": items[offset : offset + PAGE_SIZE]})

    # ---- chat window (§5.5) ------------------------------------------------------------------

    def _open_iframe(self, account: Account, request: Request, body: Any) -> Response:
        body = body if isinstance(body, dict) else {}
        user, scope, chats = body.get("user"), body.get("scope"), body.get("filter")
        fields = []
        if not isinstance(user, dict) or not _given(user.get("id")):
            fields.append("user.id")
        if scope not in ("global", "card"):
            fields.append("scope")
        if scope == "card" and not (isinstance(chats, list) and chats):
            fields.append("filter")
        if fields:
            return _error(
                400, "VALIDATION_ERROR", "Chat window request is invalid", {"fields": fields}
            )
        url = f"{self.url}/iframe/{uuid.uuid4().hex}"
        with self._lock:
            self.iframes.append(IframeRequest(copy.deepcopy(body), url))
        return _json(200, {"url": url})


# --------------------------------------------------------------------------------------------
# Small pure helpers
# --------------------------------------------------------------------------------------------


def _json(status: int, body: Any) -> Response:
    return Response(json.dumps(body), status, content_type="application/json; charset=utf-8")


def _error(status: int, code: str, description: str, data: Any = None) -> Response:
    """The common error shape (§1.2)."""
    body: dict[str, Any] = {"error": code, "description": description}
    if data is not None:
        body["data"] = data
    return _json(status, body)


def _message_error(code: str, description: str, data: dict[str, Any] | None = None) -> Response:
    """`POST /v3/message` errors also carry `status` and `requestId` (§1.2, §3.3)."""
    body: dict[str, Any] = {
        "status": 400,
        "requestId": uuid.uuid4().hex,
        "error": code,
        "description": description,
    }
    if data is not None:
        body["data"] = data
    return _json(400, body)


def _canned_response(status: int, body: dict[str, Any] | list[Any] | str | None) -> Response:
    if body is None:
        return Response(b"", status)
    if isinstance(body, str):
        return Response(body, status, content_type="text/plain; charset=utf-8")
    return _json(status, body)


def _json_body(request: Request) -> Any:
    raw = request.get_data()
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _bearer_key(request: Request) -> str | None:
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    return key.strip() if scheme.lower() == "bearer" else None


def _post_json(
    uri: str, payload: dict[str, Any], headers: dict[str, str] | None, timeout: float
) -> httpx.Response:
    """A POST as Wazzup makes it (§4.3); `headers` adds to or overrides the usual ones."""
    return httpx.post(
        uri,
        content=json.dumps(payload).encode(),
        headers={"Content-Type": DELIVERY_CONTENT_TYPE, **(headers or {})},
        timeout=timeout,
        trust_env=False,
    )


def _given(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != ""


def _is_message_value(name: str, value: Any) -> bool:
    """Whether one field of a send has its type (§3.1)."""
    expected = NON_STRING_MESSAGE_FIELDS.get(name, str)
    if not isinstance(value, expected):
        return False
    if isinstance(value, list):  # templateValues: an array of strings
        return all(isinstance(item, str) for item in value)
    return True


def _valid_webhook_uri(uri: str) -> bool:
    if len(uri) > MAX_WEBHOOK_URI_LENGTH:
        return False
    parts = urlsplit(uri)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _read_subscriptions(requested: dict[str, Any]) -> dict[str, bool]:
    """All four switches (a missing one is off); the template one is read under either name."""
    switches = {name: requested.get(name) in (True, "true") for name in SUBSCRIPTIONS}
    if "wabaTemplatesStatus" not in requested:
        switches["wabaTemplatesStatus"] = requested.get("templateStatus") in (True, "true")
    return switches


def _invalid_entity_fields(kind: str, item: Any) -> list[str]:
    """The fields of one upserted entity that are missing or malformed."""
    required = REQUIRED_FIELDS[kind]
    if not isinstance(item, dict):
        return list(required)
    fields = [name for name in required if item.get(name) in (None, "")]
    if "id" not in fields and not isinstance(item["id"], str | int):
        fields.append("id")
    if (
        kind == "contacts"
        and "contactData" not in fields
        and not _valid_contact_data(item["contactData"])
    ):
        fields.append("contactData")
    if kind == "deals":
        if "contacts" not in fields and not isinstance(item["contacts"], list):
            fields.append("contacts")
        if "closed" not in fields and not isinstance(item["closed"], bool):
            fields.append("closed")
    if kind == "pipelines" and "stages" in item:
        stages = item["stages"]
        if not isinstance(stages, list) or not stages:
            fields.append("stages")
    return fields


def _valid_contact_data(entries: Any) -> bool:
    if not isinstance(entries, list) or not entries:
        return False
    return all(
        isinstance(entry, dict)
        and _given(entry.get("chatType"))
        and any(_given(entry.get(name)) for name in ("chatId", "username", "phone"))
        for entry in entries
    )


def _message_item(
    message_id: str | None,
    date_time: str | None,
    channel_id: str,
    chat_type: str,
    chat_id: str,
    type: str,
    is_echo: bool,
) -> dict[str, Any]:
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "dateTime": date_time or _iso_now(),
        "channelId": channel_id,
        "chatType": chat_type,
        "chatId": chat_id,
        "type": type,
        "isEcho": is_echo,
    }


def _content(text: str | None, content_uri: str | None) -> dict[str, str]:
    content: dict[str, str] = {}
    if text is not None:
        content["text"] = text
    if content_uri is not None:
        content["contentUri"] = content_uri
    return content


def _message_type(body: dict[str, Any]) -> str:
    """The webhook `type` (§6.2) of a message sent through the API."""
    if _given(body.get("text")):
        return "text"
    if _given(body.get("templateId")):
        return "wapi_template"
    extension = urlsplit(body.get("contentUri", "")).path.rsplit(".", 1)[-1].lower()
    for kind, extensions in CONTENT_TYPES_BY_EXTENSION.items():
        if extension in extensions:
            return kind
    return "document"


def _iso_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _epoch_ms() -> int:
    return int(time.time() * 1000)
