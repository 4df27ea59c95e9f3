"""The messaging gateway on Wazzup's API v3 over httpx: its requests, retries and errors."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx

from crm_core.errors import (
    ProviderRateLimited,
    ProviderRefused,
    ProviderRejectedKey,
    ProviderTimedOut,
    ProviderUnreachable,
)
from crm_core.ports import (
    PUSH_BATCH,
    Channel,
    ChatAddress,
    OutgoingMessage,
    ProviderConnection,
    PushedContact,
    PushedDeal,
    PushedPipeline,
    PushedUser,
    Sent,
    WebhookSettings,
)

log = logging.getLogger("crm.wazzup")

DEFAULT_API_URL = "https://api.wazzup24.com"

# A channel's transport to the one-to-one chat type it serves (`telegram` is a bot, `tgapi` a
# personal account: both serve telegram chats). An unknown transport keeps its own name.
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

# Wazzup's rate limit counter resets every 5 s: a 429 waits at least a second in the call,
# and the caller is told to wait out a whole window.
RATE_LIMIT_PAUSE = 1.0
RATE_LIMIT_RETRY_AFTER = 5.0

# What the CRM subscribes to: no contact or deal creation requests, no template statuses.
SUBSCRIPTIONS = {
    "messagesAndStatuses": True,
    "channelsUpdates": True,
    "contactsAndDealsCreation": False,
    "wabaTemplatesStatus": False,
}

# Chats Wazzup can address by username or phone when their chat id is not known yet.
_NAMED_CHATS = {"telegram", "max"}
# Chats whose chat id is the phone number.
_PHONE_CHATS = {"whatsapp", "viber"}

# httpx errors raised before the request could leave (a bad address, a proxy refusing it).
_NEVER_SENT = (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.ProxyError)


class WazzupGateway:
    """The `MessagingGateway` on Wazzup's API v3.

    Every call has a timeout and is retried inside the call, with the same body, on a 429, a
    5xx or a connection that could not be opened. A timeout or a connection dropped after
    the request left is not retried: Wazzup may have acted on it (a sent message).
    """

    def __init__(
        self,
        client: httpx.Client | None = None,
        *,
        timeout: float = 30.0,
        attempts: int = 3,
        retry_delays: Sequence[float] = (0.5, 1.0),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if attempts < 1:
            raise ValueError("A call makes at least one attempt.")
        self._owns_client = client is None
        self._client = client if client is not None else httpx.Client(timeout=timeout)
        self._timeout = timeout
        self._attempts = attempts
        self._retry_delays = tuple(retry_delays)
        self._sleep = sleep

    def close(self) -> None:
        """Closes the HTTP client the gateway made (one handed in belongs to its giver)."""
        if self._owns_client:
            self._client.close()

    # --- the port ----------------------------------------------------------------------------

    def channels(self, connection: ProviderConnection) -> list[Channel]:
        response = self._call(connection, "GET", "/channels")
        body = _json(response)
        if isinstance(body, Mapping):
            body = body.get("data")
        if not isinstance(body, list):
            raise _unreadable(response, "the list of channels")
        return [
            _channel(item)
            for item in body
            if isinstance(item, Mapping) and _string(item.get("channelId"))
        ]

    def send(self, connection: ProviderConnection, message: OutgoingMessage) -> Sent:
        response = self._call(connection, "POST", "/message", _message_body(message))
        body = _json(response)
        answer: Mapping[str, Any] = body if isinstance(body, Mapping) else {}
        message_id = _string(answer.get("messageId"))
        if not message_id:
            raise ProviderUnreachable(
                f"Wazzup took the message ({response.status_code}) without giving its id: "
                "it may still send it.",
                dropped=True,
                status=response.status_code,
            )
        return Sent(message_id, _string(answer.get("chatId")) or None)

    def register_webhook(self, connection: ProviderConnection, url: str) -> None:
        # Wazzup answers the plain text `OK`: any 2xx is success, the body is not read.
        self._call(
            connection, "PATCH", "/webhooks", {"webhooksUri": url, "subscriptions": SUBSCRIPTIONS}
        )

    def webhook(self, connection: ProviderConnection) -> WebhookSettings:
        body = _json(self._call(connection, "GET", "/webhooks"))
        settings: Mapping[str, Any] = body if isinstance(body, Mapping) else {}
        subscriptions = settings.get("subscriptions")
        if not isinstance(subscriptions, Mapping):
            subscriptions = {}
        return WebhookSettings(
            url=_string(settings.get("webhooksUri")),
            messages=_flag(subscriptions.get("messagesAndStatuses")),
            channels=_flag(subscriptions.get("channelsUpdates")),
        )

    def push_users(self, connection: ProviderConnection, users: Sequence[PushedUser]) -> None:
        self._push(connection, "/users", [{"id": user.id, "name": user.name} for user in users])

    def push_contacts(
        self, connection: ProviderConnection, contacts: Sequence[PushedContact]
    ) -> None:
        self._push(connection, "/contacts", [_contact(contact) for contact in contacts])

    def push_pipelines(
        self, connection: ProviderConnection, pipelines: Sequence[PushedPipeline]
    ) -> None:
        self._push(connection, "/pipelines", [_pipeline(pipeline) for pipeline in pipelines])

    def push_deals(self, connection: ProviderConnection, deals: Sequence[PushedDeal]) -> None:
        self._push(connection, "/deals", [_deal(deal) for deal in deals])

    def chat_window(
        self, connection: ProviderConnection, user: PushedUser, chats: Sequence[ChatAddress]
    ) -> str:
        request: dict[str, Any] = {"user": {"id": user.id, "name": user.name}}
        if chats:
            request |= {"scope": "card", "filter": [_chat_keys(chat) for chat in chats]}
        else:
            request["scope"] = "global"
        response = self._call(connection, "POST", "/iframe", request)
        body = _json(response)
        url = _string(body.get("url")) if isinstance(body, Mapping) else ""
        if not url:
            raise _unreadable(response, "the chat window's address")
        return url

    # --- the requests ------------------------------------------------------------------------

    def _push(self, connection: ProviderConnection, path: str, items: list[Any]) -> None:
        if len(items) > PUSH_BATCH:
            raise ValueError(
                f"Wazzup takes at most {PUSH_BATCH} entities a call, not {len(items)}."
            )
        if items:
            self._call(connection, "POST", path, items)

    def _call(
        self, connection: ProviderConnection, method: str, path: str, body: object = None
    ) -> httpx.Response:
        """The 2xx answer to one request, after the retries; else the ProviderFailed."""
        key = connection.api_key
        if not _fits_header(key):
            raise ProviderRejectedKey("The API key is empty or has characters a key cannot have.")
        url = base_url(connection.api_url) + path
        where = f"{method} {urlsplit(url).path}"
        headers = {"Authorization": f"Bearer {key}", "Accept": "application/json"}
        for attempt in range(1, self._attempts + 1):
            last = attempt == self._attempts
            try:
                response = self._client.request(
                    method, url, json=body, headers=headers, timeout=self._timeout
                )
            except (httpx.ConnectError, httpx.ConnectTimeout) as error:
                log.debug("%s: no connection (%s)", where, type(error).__name__)
                if last:
                    raise ProviderUnreachable(
                        f"Wazzup could not be reached: {_words_of(error, key)}", dropped=False
                    ) from error
                self._sleep(self._delay(attempt))
                continue
            except httpx.TimeoutException as error:
                log.debug("%s: timed out (%s)", where, type(error).__name__)
                raise ProviderTimedOut(
                    f"Wazzup did not answer within {self._timeout:g} s."
                ) from error
            except _NEVER_SENT as error:
                log.debug("%s: not sent (%s)", where, type(error).__name__)
                raise ProviderUnreachable(
                    f"The request to Wazzup could not be made: {_words_of(error, key)}"
                ) from error
            except httpx.InvalidURL as error:
                raise ProviderUnreachable(f"The Wazzup address is not valid: {error}") from error
            except httpx.TransportError as error:
                log.debug("%s: connection dropped (%s)", where, type(error).__name__)
                raise ProviderUnreachable(
                    f"The connection to Wazzup dropped before its answer: {_words_of(error, key)}",
                    dropped=True,
                ) from error
            status = response.status_code
            log.debug("%s -> %s", where, status)
            if 200 <= status < 300:
                return response
            if status == 429 or status >= 500:
                if last:
                    raise _gave_up(response, attempt, key)
                delay = self._delay(attempt)
                self._sleep(max(delay, RATE_LIMIT_PAUSE) if status == 429 else delay)
                continue
            raise _refusal(response, key)
        raise AssertionError("the last attempt returns or raises")

    def _delay(self, attempt: int) -> float:
        if not self._retry_delays:
            return 0.0
        return self._retry_delays[min(attempt, len(self._retry_delays)) - 1]


def base_url(api_url: str) -> str:
    """The v3 root for an account's `api_url` (empty: Wazzup's own), `/v3` never doubled."""
    root = (api_url.strip() or DEFAULT_API_URL).rstrip("/")
    return root if root.endswith("/v3") else root + "/v3"


# --- what is sent ------------------------------------------------------------------------------


def _message_body(message: OutgoingMessage) -> dict[str, str]:
    """Every value a string: Wazzup refuses numbers (INVALID_MESSAGE_DATA)."""
    addresses = {
        "chatId": message.chat_id,
        "phone": message.phone,
        "username": message.username.lstrip("@") if message.username else None,
    }
    address = {name: str(value) for name, value in addresses.items() if value}
    if len(address) != 1:
        raise ValueError("A message is addressed by exactly one of chat_id, phone, username.")
    contents = {"text": message.text, "contentUri": message.content_uri}
    content = {name: str(value) for name, value in contents.items() if value}
    if len(content) != 1:
        raise ValueError("A message carries exactly one of text, content_uri.")
    return {
        "channelId": str(message.channel_id),
        "chatType": str(message.chat_type),
        **address,
        **content,
        "crmMessageId": str(message.crm_message_id),
    }


def _chat_keys(chat: ChatAddress) -> dict[str, str]:
    """How Wazzup names a chat: its chat id; a telegram (or MAX) chat not written to yet by
    its username or phone; a phone chat by its number."""
    chat_type = str(chat.chat_type)
    if chat.chat_id:
        return {"chatType": chat_type, "chatId": chat.chat_id}
    if chat_type in _NAMED_CHATS and chat.username:
        return {"chatType": chat_type, "username": chat.username.lstrip("@")}
    if chat_type in _NAMED_CHATS and chat.phone:
        return {"chatType": chat_type, "phone": chat.phone}
    if chat_type in _PHONE_CHATS and chat.phone:
        return {"chatType": chat_type, "chatId": chat.phone}
    raise ValueError(f"A {chat_type} chat needs a chat id to be named to Wazzup.")


def _contact(contact: PushedContact) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": contact.id,
        "responsibleUserId": contact.responsible_user_id,
        "name": contact.name,
        "contactData": [_chat_keys(chat) for chat in contact.chats],
    }
    if contact.uri:
        entry["uri"] = contact.uri
    return entry


def _pipeline(pipeline: PushedPipeline) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": pipeline.id, "name": pipeline.name}
    if pipeline.stages:  # Wazzup refuses an empty list: no stages, no key
        entry["stages"] = [{"id": stage.id, "name": stage.name} for stage in pipeline.stages]
    return entry


def _deal(deal: PushedDeal) -> dict[str, Any]:
    return {
        "id": deal.id,
        "responsibleUserId": deal.responsible_user_id,
        "name": deal.name,
        "contacts": list(deal.contacts),
        "uri": deal.uri,
        "closed": deal.closed,
    }


# --- what comes back ---------------------------------------------------------------------------


def _channel(item: Mapping[str, Any]) -> Channel:
    transport = _string(item.get("transport"))
    return Channel(
        channel_id=_string(item.get("channelId")),
        transport=transport,
        chat_type=CHAT_TYPE_OF_TRANSPORT.get(transport.lower(), transport),
        plain_id=_string(item.get("plainId")),
        state=_string(item.get("state")),
        raw=dict(item),
    )


def _refusal(response: httpx.Response, key: str) -> ProviderRefused | ProviderUnreachable:
    status = response.status_code
    code, description = _error_words(_json(response), response.text)
    code, description = _scrub(code, key), _scrub(description, key)
    if status == 401:
        return ProviderRejectedKey(description) if description else ProviderRejectedKey()
    if status < 400:  # a redirect or an informational answer: not Wazzup's API answering
        return ProviderUnreachable(f"Wazzup answered {status} unexpectedly.", status=status)
    return ProviderRefused(code or f"HTTP_{status}", description, status=status)


def _gave_up(
    response: httpx.Response, attempts: int, key: str
) -> ProviderRateLimited | ProviderUnreachable:
    status = response.status_code
    if status == 429:
        return ProviderRateLimited(
            f"Wazzup kept answering 429 (rate limited) for {attempts} attempts.",
            retry_after=max(RATE_LIMIT_RETRY_AFTER, _retry_after(response)),
        )
    code, description = _error_words(_json(response), response.text)
    said = _scrub(": ".join(part for part in (code, description) if part), key)
    return ProviderUnreachable(
        f"Wazzup failed with {status}" + (f" ({said})" if said else "") + f" {attempts} times.",
        dropped=True,
        status=status,
    )


def _unreadable(response: httpx.Response, what: str) -> ProviderUnreachable:
    return ProviderUnreachable(
        f"Wazzup answered {response.status_code} without {what}.", status=response.status_code
    )


def _error_words(body: object, text: str) -> tuple[str, str]:
    """The code and description of an error body, whatever its shape: empty, plain text,
    `error` as a string or as `{code|error, description|message}`, `data` an object or an
    array (of `{code, description}` or of `{index, fields}`)."""
    code = description = ""
    data: object = None
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping):
            code = _string(error.get("code")) or _string(error.get("error"))
            description = _string(error.get("description")) or _string(error.get("message"))
        else:
            code = _string(error)
        code = code or _string(body.get("code"))
        description = (
            description or _string(body.get("description")) or _string(body.get("message"))
        )
        data = body.get("data")
    elif isinstance(body, list):
        data = body
    elif isinstance(body, str):
        description = body
    elif body is None:
        description = text.strip()[:300]
    data_code, data_description, fields = _data_words(data)
    code = code or data_code
    description = description or data_description
    if fields:
        description = f"{description} (fields: {fields})" if description else f"fields: {fields}"
    return code.strip(), description.strip()


def _data_words(data: object) -> tuple[str, str, str]:
    if isinstance(data, Mapping):
        items: list[Mapping[str, Any]] = [data]
    elif isinstance(data, list):
        items = [item for item in data if isinstance(item, Mapping)]
    else:
        return "", "", ""
    codes = [_string(item.get("code")) for item in items]
    descriptions = [_string(item.get("description") or item.get("message")) for item in items]
    fields = []
    for item in items:
        names = item.get("fields")
        if isinstance(names, list) and names:
            listed = ", ".join(_string(name) for name in names)
            index = _string(item.get("index"))
            fields.append(f"[{index}] {listed}" if index else listed)
    return (
        next((code for code in codes if code), ""),
        next((words for words in descriptions if words), ""),
        "; ".join(fields),
    )


def _retry_after(response: httpx.Response) -> float:
    try:
        return float(response.headers.get("Retry-After", ""))
    except ValueError:
        return 0.0


def _json(response: httpx.Response) -> object:
    """The JSON of an answer; None when it is empty or not JSON (`OK`, an HTML page)."""
    if not response.content.strip():
        return None
    try:
        return response.json()
    except ValueError:
        return None


def _string(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return ""


def _flag(value: object) -> bool:
    """Wazzup documents the subscriptions as the strings "true"/"false" and answers booleans."""
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


# --- keeping the key secret --------------------------------------------------------------------


def _fits_header(key: str) -> bool:
    # A key a header cannot carry would make the HTTP library's own error quote it.
    return bool(key) and key.isascii() and key.isprintable() and " " not in key


def _words_of(error: Exception, key: str) -> str:
    return _scrub(str(error), key) or type(error).__name__


def _scrub(text: str, key: str) -> str:
    return text.replace(key, "…") if key else text
