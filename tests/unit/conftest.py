"""The world of the unit tests: the use cases on the in-memory fakes, and a way to read back."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from itertools import count
from typing import Any

import pytest

from crm_adapters.wazzup import read_delivery
from crm_core import (
    AccessUseCases,
    Activity,
    ActivityType,
    ActivityUseCases,
    Actor,
    Contact,
    ContactUseCases,
    DealUseCases,
    Funnel,
    FunnelUseCases,
    Lead,
    LeadUseCases,
    Message,
    MessagingAccount,
    Role,
    StageSpec,
)
from crm_core.inbox import ReceiveReport
from crm_core.jobs import Backoff
from crm_core.services.contacts import CreateContact
from crm_core.services.inbound import InboundUseCases
from crm_core.services.messaging_accounts import AccountUseCases, CreateAccount, PushToProvider
from crm_core.services.sending import SendingUseCases, SettleSend
from crm_core.values import AccountId, ContactId, DeliveryId, FunnelId, MessageId
from tests.fakes import (
    FakeDatabase,
    FakeGateway,
    FakePushSource,
    FakeSecretBox,
    FakeUnitOfWork,
    FixedClock,
    PlainHasher,
)

_emails = count(1)


class Crm:
    """Every group of use cases over one fake database and one clock."""

    def __init__(self) -> None:
        self.db = FakeDatabase()
        self.clock = FixedClock()
        uow = self.db.unit_of_work
        self.access = AccessUseCases(uow, self.clock, PlainHasher())
        self.funnels = FunnelUseCases(uow, self.clock)
        self.contacts = ContactUseCases(uow, self.clock)
        self.leads = LeadUseCases(uow, self.clock)
        self.deals = DealUseCases(uow, self.clock)
        self.activities = ActivityUseCases(uow, self.clock)

    def company(self, name: str = "ООО Ромашка", role: Role = Role.ADMIN) -> Actor:
        """A user (of the company `name`, made when new), signed in."""
        _, token = self.access.create_user(name, f"user{next(_emails)}@example.com", "pw", role)
        actor = self.access.authenticate(token)
        assert actor is not None
        return actor

    @contextmanager
    def read(self) -> Iterator[FakeUnitOfWork]:
        """A new unit of work that only reads what was committed."""
        with self.db.unit_of_work() as uow:
            yield uow

    def funnel(self, actor: Actor, stages: Sequence[StageSpec] | None = None) -> Funnel:
        funnel_id = self.funnels.create_funnel(actor, "Продажи", stages=stages)
        return self.funnel_of(actor, funnel_id)

    def funnel_of(self, actor: Actor, funnel_id: FunnelId) -> Funnel:
        with self.read() as uow:
            return uow.funnels.get(actor.company_id, funnel_id)

    def activities_about(self, subject_id: object) -> list[Activity]:
        """The committed activities naming a contact, lead or deal, oldest first."""
        found = [
            activity
            for activity in self.db.rows("activities")
            if subject_id in (activity.contact_id, activity.lead_id, activity.deal_id)
        ]
        return sorted(found, key=lambda activity: activity.activity_date)

    def contact(self, actor: Actor, **fields: Any) -> ContactId:
        values = {"first_name": "Иван", "phone": "+7 999 123-45-67", **fields}
        return self.contacts.create_contact(actor, CreateContact(**values))


@pytest.fixture
def crm() -> Crm:
    return Crm()


@pytest.fixture
def anna(crm: Crm) -> Actor:
    """An admin of ООО Ромашка."""
    return crm.company("ООО Ромашка")


@pytest.fixture
def boris(crm: Crm) -> Actor:
    """An admin of another company, ООО Лютик."""
    return crm.company("ООО Лютик")


# --- messaging ------------------------------------------------------------------------------

PUBLIC_URL = "https://crm.example.com"
API_KEY = "live-key-0123abcd"
CHANNEL = "channel-1"
WHEN = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def wazzup_message(
    message_id: str = "w-1", chat_id: str | int | None = "79991234567", **fields: Any
) -> dict[str, Any]:
    """An incoming message as Wazzup delivers it (wazzup-api.md §4.4); `fields` change it, and
    a field set to None is left out."""
    message: dict[str, Any] = {
        "messageId": message_id,
        "dateTime": WHEN.isoformat().replace("+00:00", "Z"),
        "channelId": CHANNEL,
        "chatType": "whatsapp",
        "chatId": chat_id,
        "type": "text",
        "isEcho": False,
        "contact": {"name": "Иван Петров"},
        "text": "Здравствуйте, диван ещё продаётся?",
        "status": "inbound",
        **fields,
    }
    return {name: value for name, value in message.items() if value is not None}


def wazzup_echo(message_id: str, **fields: Any) -> dict[str, Any]:
    """An outgoing message echoed by Wazzup (sent through the API, or written in Wazzup)."""
    return wazzup_message(message_id, **{"isEcho": True, "status": "sent", **fields})


def wazzup_status(
    message_id: str, status: str, error: dict[str, str] | None = None
) -> dict[str, Any]:
    """A status of an outgoing message (§4.5)."""
    item: dict[str, Any] = {
        "messageId": message_id,
        "timestamp": WHEN.isoformat().replace("+00:00", "Z"),
        "status": status,
    }
    if error is not None:
        item["error"] = error
    return item


def wazzup_channel(channel_id: str, state: str) -> dict[str, Any]:
    """A channel's new state (§4.6)."""
    return {"channelId": channel_id, "state": state, "timestamp": 1603977171000}


class Messaging:
    """The messaging use cases over the world's fakes, wired as the container wires them:
    a fake provider, the real Wazzup body reader (pure), and the job handlers."""

    def __init__(self, crm: Crm) -> None:
        self.crm = crm
        self.gateway = FakeGateway()
        self.secrets = FakeSecretBox()
        uow, clock = crm.db.unit_of_work, crm.clock
        self.inbound = InboundUseCases(uow, clock, read_delivery)
        self.accounts = AccountUseCases(
            uow,
            clock,
            self.gateway,
            self.secrets,
            FakePushSource(crm.db),
            PUBLIC_URL,
            self.inbound.process_stored,
        )
        self.sending = SendingUseCases(uow, clock, self.gateway, self.secrets, self.accounts.check)
        self.settle = SettleSend(clock)
        self.push = PushToProvider(
            self.gateway, self.secrets, clock, Backoff(jitter=lambda low, high: high)
        )

    def account(self, actor: Actor, **fields: Any) -> AccountId:
        """A WhatsApp account on `channel-1` (its state not checked yet), changed by `fields`."""
        values: dict[str, Any] = {
            "name": "Продажи",
            "api_key": API_KEY,
            "instance_id": CHANNEL,
            **fields,
        }
        return self.accounts.create_account(actor, CreateAccount(**values))

    def read_account(self, actor: Actor, account_id: AccountId) -> MessagingAccount:
        with self.crm.read() as uow:
            return uow.accounts.get(actor.company_id, account_id)

    def read_message(self, actor: Actor, message_id: MessageId) -> Message:
        with self.crm.read() as uow:
            return uow.messages.get(actor.company_id, message_id)

    def read_contact(self, actor: Actor, contact_id: ContactId | None) -> Contact:
        with self.crm.read() as uow:
            return uow.contacts.get(actor.company_id, contact_id)

    def messages(self) -> list[Message]:
        """Every committed message, oldest first (then in the order they were stored)."""
        return sorted(self.crm.db.rows("messages"), key=lambda message: message.created_at)

    def contacts(self) -> list[Contact]:
        return sorted(self.crm.db.rows("contacts"), key=lambda contact: contact.created_at)

    def leads(self) -> list[Lead]:
        return self.crm.db.rows("leads")

    def message_activities(self) -> list[Activity]:
        return [
            activity
            for activity in self.crm.db.rows("activities")
            if activity.activity_type == ActivityType.MESSAGE
        ]

    def chat_owner(self, account_id: AccountId, chat_id: str) -> ContactId | None:
        with self.crm.read() as uow:
            owner: ContactId | None = uow.chats.owner(account_id, chat_id)
            return owner

    def send(self, actor: Actor, account_id: AccountId, **fields: Any) -> MessageId:
        """A text to 79991234567 (changed by `fields`)."""
        values: dict[str, Any] = {"to": "79991234567", "text": "Привет", **fields}
        return self.sending.send_message(actor, account_id, **values)

    def secret_of(self, account_id: AccountId) -> str:
        with self.crm.read() as uow:
            account = uow.accounts.find(account_id)
            assert account is not None
            return account.webhook_secret

    def accept(self, account_id: AccountId, body: object) -> DeliveryId | None:
        """Wazzup calls the account's webhook address with `body` (stored, not applied)."""
        return self.inbound.accept(account_id, self.secret_of(account_id), json.dumps(body))

    def deliver(self, account_id: AccountId, body: dict[str, Any]) -> ReceiveReport:
        """Wazzup calls the account's webhook address with `body`, and the delivery is
        applied at once (as its job would)."""
        delivery_id = self.accept(account_id, body)
        assert delivery_id is not None
        with self.crm.db.unit_of_work() as uow:
            report = self.inbound.apply(uow, uow.deliveries.get(delivery_id))
            uow.commit()
        return report


@pytest.fixture
def messaging(crm: Crm) -> Messaging:
    return Messaging(crm)
