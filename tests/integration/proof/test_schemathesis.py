"""Schemathesis against a live `crm serve` on SQLite: every operation of /api/openapi.json,
called by the admin of a company that has data (path and body ids hit real objects), never
answers 5xx and answers only what the document says: a documented status code, content type
and body; and every operation but a named few answers 2xx at least once."""

from __future__ import annotations

import socket
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.specs.openapi.schemas import OpenApiSchema

from tests.integration.http_contract.conftest import (
    PASSWORD,
    Api,
    Server,
    fresh_database,
    serving,
    token_from,
)
from tests.wazzup_server import FakeWazzup

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Per operation and phase (examples, coverage, fuzzing): about 80 operations in ~2 minutes.
MAX_EXAMPLES = 10
# The same requests on every run: which operations answer 2xx (see NEVER_SUCCEED) is then a
# fact of the code rather than of the draw.
SEED = 20261124
# How often a path or body id is one of the company's objects rather than a generated one.
REAL_ID = 0.8


@contextmanager
def nowhere() -> Iterator[str]:
    """A loopback address that refuses every connection: the port is held, never listened on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{held.getsockname()[1]}"


def isolated_network(refusing: str) -> dict[str, str]:
    """The server reaches loopback only: any other address the fuzzer writes into an account's
    `api_url` goes to a proxy that refuses at once, so nothing leaves the machine."""
    proxies = dict.fromkeys(("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"), refusing)
    return {
        **proxies,
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        # Webhook addresses handed to Wazzup (and the fake's deliveries) lead nowhere.
        "CRM_PUBLIC_URL": refusing,
    }


@dataclass
class Company:
    """The live server, its admin's token and the ids the generated requests are pointed at."""

    server: Server
    token: str
    email: str
    ids: dict[str, list[str]]
    webhook_account: str
    webhook_secret: str

    def fresh_token(self) -> str:
        return token_from(self.server.crm("create-token", "--email", self.email))


def created_id(answer: dict[str, Any]) -> str:
    return str(answer["id"])


def seed(server: Server, api: Api, wazzup: FakeWazzup) -> Company:
    """Objects in every state the API distinguishes: open, lost and converted leads; open,
    won and lost deals; a sent and a failed message; spare objects for the DELETEs."""
    tag = uuid.uuid4().hex[:8]
    admin = api.ok("GET", "users/me/")
    manager = api.create(
        "users", {"email": f"manager-{tag}@example.com", "password": PASSWORD, "role": "manager"}
    )
    branch = api.create("branches", {"name": "Центральный офис", "address": "Москва, Тверская 1"})
    funnel = api.funnel(description="Основная воронка")
    stages = [created_id(stage) for stage in funnel["stages"]]
    contact = api.contact(
        first_name="Сергей",
        last_name="Васильев",
        phone="+79991234567",
        whatsapp="+79991234567",
        branch=branch["id"],
        tags=["vip"],
    )
    open_lead = api.lead(contact, funnel, estimated_value="1500.00", probability=40)
    lost_lead = api.lead(contact, funnel, title="Потерянный лид")
    api.action("leads", lost_lead["id"], "mark_lost", {"reason": "Дорого"})
    to_reopen = api.lead(contact, funnel, title="Вернётся в работу")
    api.action("leads", to_reopen["id"], "mark_lost", {"reason": "Передумали"})
    converted_lead = api.lead(contact, funnel, title="Конвертированный", estimated_value="7000.00")
    lead_deal = api.action("leads", converted_lead["id"], "convert_to_deal", status=201)
    open_deal = api.deal(contact, funnel, amount="5000.00", expected_close_date="2027-01-15")
    won_deal = api.deal(contact, funnel, title="Выигранная", amount="9000.00")
    api.action("deals", won_deal["id"], "mark_won")
    lost_deal = api.deal(contact, funnel, title="Проигранная", amount="300.00")
    api.action("deals", lost_deal["id"], "mark_lost", {"reason": "Ушли к конкурентам"})
    activity = api.create(
        "activities",
        {
            "activity_type": "call",
            "title": "Звонок",
            "contact": contact["id"],
            "lead": open_lead["id"],
        },
    )

    channel = wazzup.add_channel()
    linked = api.create(
        "wazzupp-accounts",
        {
            "name": "Продажи",
            "api_key": wazzup.api_key,
            "api_url": wazzup.url,
            "instance_id": channel,
            "default_funnel": funnel["id"],
        },
    )
    refused = api.create(
        "wazzupp-accounts",
        {"name": "Чужой ключ", "api_key": "a-key-wazzup-refuses", "api_url": wazzup.url},
    )
    # PUTs and PATCHes may write any key or address: on an account no other operation uses.
    changed = api.create(
        "wazzupp-accounts",
        {"name": "Изменяемый", "api_key": wazzup.add_key(), "api_url": wazzup.url},
    )
    sent = api.ok(
        "POST",
        f"wazzupp-accounts/{linked['id']}/send_message/",
        201,
        json={"contact": contact["id"], "message": "Здравствуйте!"},
    )
    wazzup.fail_next(400, {"error": "BAD_CONTACT", "description": "No such chat"}, path="/message")
    not_sent = api.post(
        f"wazzupp-accounts/{linked['id']}/send_message/",
        json={"to": "+79991234567", "message": "Не дойдёт"},
    )
    assert not_sent.status_code == 502, not_sent.text
    failed = not_sent.json()["message"]

    # An incoming message, delivered as Wazzup would and processed by the command line.
    secret = parse_qs(urlsplit(linked["webhook_url"]).query)["token"][0]
    delivery = httpx.post(
        f"{server.base_url}/api/crm/wazzupp/webhook/{linked['id']}/",
        params={"token": secret},
        json={"messages": [wazzup.incoming(channel, "79991234567", "Добрый день")]},
        timeout=30,
    )
    assert delivery.status_code == 200, delivery.text
    processed = server.crm("wazzup", "reprocess")
    assert processed.returncode == 0, processed.stderr
    incoming = [
        row["id"]
        for row in api.list("wazzupp-messages", page_size=500)["results"]
        if row["is_incoming"]
    ]
    assert incoming, "the delivered message was not stored"

    spare_stage = api.create(
        "funnel-stages", {"funnel": funnel["id"], "name": "Резерв", "order": 7}
    )
    spares = {
        "branches": api.create("branches", {"name": "Склад"}),
        "funnels": api.funnel(stages=[]),
        "funnel-stages": spare_stage,
        "contacts": api.contact(first_name="Запасной"),
        "leads": api.lead(contact, funnel, title="На удаление"),
        "deals": api.deal(contact, funnel, title="На удаление"),
        "activities": api.create(
            "activities", {"activity_type": "note", "title": "Заметка", "contact": contact["id"]}
        ),
        "wazzupp-accounts": api.create(
            "wazzupp-accounts",
            {"name": "Лишний", "api_key": "spare-key", "api_url": wazzup.url},
        ),
    }
    ids = {
        "users": [created_id(admin), created_id(manager)],
        # A PUT or PATCH of the admin's own password would revoke the token the run uses.
        "changed-users": [created_id(manager)],
        "branches": [created_id(branch)],
        "funnels": [created_id(funnel)],
        "funnel-stages": stages,
        "contacts": [created_id(contact)],
        # A PUT or PATCH may drop the phone that chat_window and send_message need.
        "changed-contacts": [created_id(api.contact(first_name="Изменяемый"))],
        "leads": [created_id(open_lead), created_id(lost_lead), created_id(converted_lead)],
        "reopen-leads": [created_id(to_reopen)],
        "deals": [
            created_id(lead_deal),
            created_id(open_deal),
            created_id(won_deal),
            created_id(lost_deal),
        ],
        "activities": [created_id(activity)],
        "wazzupp-accounts": [created_id(linked), created_id(refused)],
        "changed-wazzupp-accounts": [created_id(changed)],
        "wazzupp-messages": [created_id(sent), created_id(failed), *incoming],
        **{f"spare-{resource}": [created_id(spare)] for resource, spare in spares.items()},
    }
    return Company(server, str(api.token), admin["email"], ids, created_id(linked), secret)


@pytest.fixture(scope="module")
def company() -> Iterator[Company]:
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="crm-proof-")))
        refusing = stack.enter_context(nowhere())
        wazzup = stack.enter_context(FakeWazzup())
        wazzup.echo = None  # no deliveries back: the run's messages stay the ones it makes
        url = stack.enter_context(fresh_database("sqlite", workdir))
        server = stack.enter_context(serving(url, workdir, extra_env=isolated_network(refusing)))
        tag = uuid.uuid4().hex[:8]
        token = server.create_user(
            f"ООО Доказательство {tag}", f"admin-{tag}@example.com", PASSWORD, "admin"
        )
        api = stack.enter_context(Api(server.base_url, token))
        yield seed(server, api, wazzup)


def real_ids(dictionary: str) -> dict[str, Any]:
    return {"dictionary": dictionary, "probability": REAL_ID}


def object_ids(company: Company, resource: str, method: str, path: str) -> str:
    """The dictionary an operation's `object_id` comes from: DELETEs take spare objects,
    PUTs and PATCHes of users, contacts and accounts take objects no other operation relies
    on, and a lead's reopen a lost lead of its own (convert_to_deal runs first and converts
    the others, which cannot be reopened)."""
    kind = {"delete": "spare", "put": "changed", "patch": "changed"}.get(method)
    if path.endswith("/reopen/"):
        kind = "reopen"
    own = f"{kind}-{resource}"
    return own if kind is not None and own in company.ids else resource


def operations(company: Company, document: dict[str, Any]) -> list[dict[str, Any]]:
    """Per operation, where its path parameters come from."""
    configs: list[dict[str, Any]] = []
    for path, item in document["paths"].items():
        resource = path.removeprefix("/api/crm/").partition("/")[0]
        if "{object_id}" not in path or resource not in company.ids:
            continue
        for method, operation in item.items():
            if method == "parameters":  # the path's own, not an operation
                continue
            dictionary = object_ids(company, resource, method, path)
            configs.append(
                {
                    "include-operation-id": operation["operationId"],
                    "parameters": {"path.object_id": real_ids(dictionary)},
                }
            )
    # A 2xx here needs a fuzzed body that names a real contact (or only real messages) and
    # nothing malformed, and the fuzzing draws differ from one process to the next: ten bodies
    # sometimes hold none such, fifty have always held several.
    configs.append(
        {
            "include-operation-id": "wazzupp_messages_mark_read_create",
            "generation": {"max-examples": 5 * MAX_EXAMPLES, "database": "none"},
        }
    )
    configs.append(
        {
            "include-operation-id": "wazzupp_webhook_create",
            "parameters": {
                "path.account_id": real_ids("webhook-account"),
                "query.token": real_ids("webhook-secret"),
            },
        }
    )
    return configs


def body_references() -> dict[str, Any]:
    """Ids named in bodies and queries (`contact`, `stage_id`, ...) are the company's."""
    fields = {
        "contact": "contacts",
        "funnel": "funnels",
        "default_funnel": "funnels",
        "stage": "funnel-stages",
        "stage_id": "funnel-stages",
        "owner": "users",
        "branch": "branches",
        "lead": "leads",
        "deal": "deals",
        "ids[*]": "wazzupp-messages",
    }
    bindings = {f"body.{field}": real_ids(dictionary) for field, dictionary in fields.items()}
    # The same names filter lists (`?contact=`, `?stage=`) and pick chat_window's contact.
    for field, dictionary in fields.items():
        if field.isidentifier():
            bindings[f"query.{field}"] = real_ids(dictionary)
    return bindings


@pytest.fixture(scope="module")
def api_schema(company: Company) -> OpenApiSchema:
    dictionaries = {name: {"values": values} for name, values in company.ids.items()}
    dictionaries["webhook-account"] = {"values": [company.webhook_account]}
    dictionaries["webhook-secret"] = {"values": [company.webhook_secret]}
    url = f"{company.server.base_url}/api/openapi.json"
    document = httpx.get(url, timeout=30).json()
    config = schemathesis.Config.from_dict(
        {
            "headers": {"Authorization": f"Bearer {company.token}"},
            "seed": SEED,
            "generation": {"max-examples": MAX_EXAMPLES, "database": "none"},
            # Methods the document does not list are the 405 tests' business, not this run's.
            "phases": {"coverage": {"unexpected-methods": []}},
            "dictionaries": dictionaries,
            "parameters": body_references(),
            "operations": operations(company, document),
            "request-timeout": 30,
        }
    )
    return schemathesis.openapi.from_url(url, config=config)


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture(autouse=True)
def node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    """schemathesis 4.32.5 names each operation's report through `Node._nodeid`, which pytest
    9.2 no longer has: give the test node that attribute back."""
    request.node._nodeid = request.node.nodeid


# Operations that answer 401 for their own reasons (credentials or a webhook secret).
PUBLIC = {"POST /api/auth/token/", "POST /api/crm/wazzupp/webhook/{account_id}/"}
# Operations that call Wazzup: CONTRACT section 1 answers 502 when the provider fails and 504
# when it times out, and the run has an account whose key Wazzup refuses.
CALLS_WAZZUP = {
    "POST /api/crm/wazzupp-accounts/{object_id}/check_connection/",
    "POST /api/crm/wazzupp-accounts/{object_id}/send_message/",
    "POST /api/crm/wazzupp-accounts/{object_id}/sync_messages/",
    "GET /api/crm/wazzupp-accounts/{object_id}/chat_window/",
    "POST /api/crm/wazzupp-messages/{object_id}/retry/",
}


# Operations that generated requests cannot be counted on to get a 2xx from, and why.
NEVER_SUCCEED = {
    # Only the right password signs in (or changes it), and generated ones never are.
    "POST /api/auth/token/": "needs a user's e-mail and password",
    "PATCH /api/crm/users/me/": "needs the caller's current password",
    # The document types `email`, `phone` and the like as any string; the server takes only
    # an address or a number, and a contact only when every one given is right.
    "POST /api/crm/users/": "needs an e-mail address in `email`",
    "POST /api/crm/contacts/": "needs every phone, e-mail and handle given to be valid",
    "PUT /api/crm/contacts/{object_id}/": "needs every phone, e-mail and handle given to be valid",
    # A send needs at once the linked account, the contact (or a valid number) and a message
    # type with the fields it asks for; the seed sends one instead (a 201).
    "POST /api/crm/wazzupp-accounts/{object_id}/send_message/": "needs a whole valid message",
    # The body is Wazzup's and undocumented, so the run sends none.
    "POST /api/crm/wazzupp/webhook/{account_id}/": "needs Wazzup's body",
}


def succeeded(statuses: set[int]) -> bool:
    return any(200 <= status < 300 for status in statuses)


@pytest.fixture
def answered(api_schema: OpenApiSchema) -> Iterator[dict[str, set[int]]]:
    """The statuses each operation answered in the run. Afterwards every operation but those
    in NEVER_SUCCEED has answered 2xx at least once: a run of refusals alone (404s of ids
    that do not exist, 400s of bodies no validator takes) would prove little."""
    statuses: dict[str, set[int]] = {}
    yield statuses
    labels = {result.ok().label for result in api_schema.get_all_operations()}
    assert set(NEVER_SUCCEED) <= labels, "NEVER_SUCCEED names operations the API has not"
    failing = {
        label: sorted(statuses.get(label, ()))
        for label in sorted(labels - set(NEVER_SUCCEED))
        if not succeeded(statuses.get(label, set()))
    }
    assert not failing, f"operations that never answered 2xx (their statuses): {failing}"


@schema.parametrize()
def test_every_operation_answers_as_documented(
    case: schemathesis.Case[Any], company: Company, answered: dict[str, set[int]]
) -> None:
    headers = None
    if case.operation.label == "DELETE /api/auth/token/":
        # It revokes the token it is called with: not the one the rest of the run needs.
        headers = {"Authorization": f"Bearer {company.fresh_token()}"}

    response = case.call(headers=headers)
    answered.setdefault(case.operation.label, set()).add(response.status_code)

    checks = CHECKS
    if case.operation.label in CALLS_WAZZUP and response.status_code in (502, 504):
        # The provider's failure, as the contract answers it: still documented, still a problem.
        checks = [check for check in CHECKS if check is not not_a_server_error]
    case.validate_response(response, checks=checks, headers=headers)
    sent = response.request.headers.get("Authorization")
    if case.operation.label not in PUBLIC and sent == f"Bearer {company.token}":
        # A revoked token would turn every later answer into a documented, useless 401.
        assert response.status_code != 401, "the run's own token stopped working"
