"""The messaging members of the SQL repositories, and the messaging use cases over them."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from crm_adapters.sql import tables
from crm_adapters.sql.unit_of_work import SqlUnitOfWork
from crm_core import Conflict
from crm_core.errors import MessageNotSent, ProviderRefused
from crm_core.inbox import IncomingItem, StatusItem
from crm_core.messaging import ChatType, Message, MessageStatus, MessagingAccount
from crm_core.ports import Channel, OutgoingMessage, ProviderConnection
from crm_core.services.messaging import MessagingUseCases
from crm_core.values import AccountId, CompanyId, ContactId, MessageId
from tests.fakes import FakeGateway, FakeSecretBox
from tests.integration.sql.conftest import World

UowFactory = Callable[[], SqlUnitOfWork]
CHAT = "79991234567"


def an_account(uow: UowFactory, company_id: CompanyId) -> MessagingAccount:
    account = MessagingAccount(company_id, "WA", "enc", "…1", "secret")
    with uow() as unit:
        unit.accounts.save(account)
        unit.commit()
    return account


def a_message(
    account: MessagingAccount,
    timestamp: datetime,
    *,
    chat_id: str = CHAT,
    contact_id: ContactId | None = None,
    is_incoming: bool = True,
    **fields: Any,
) -> Message:
    return Message(
        account.company_id,
        account.id,
        account.chat_type,
        chat_id,
        is_incoming,
        timestamp,
        contact_id=contact_id,
        created_at=timestamp,
        **fields,
    )


def store(uow: UowFactory, *messages: Message) -> None:
    with uow() as unit:
        for message in messages:
            unit.messages.save(message)
        unit.commit()


def count(uow: UowFactory, table: Any, company_id: CompanyId) -> int:
    with uow() as unit:
        return int(
            unit.session.scalar(
                select(func.count()).select_from(table).where(table.c.company_id == company_id)
            )
            or 0
        )


# --- the repositories ---------------------------------------------------------------------


def test_an_account_is_found_by_its_id_alone(uow: UowFactory, world: World) -> None:
    account = an_account(uow, world.company_id)

    with uow() as unit:
        found = unit.accounts.find(account.id)
        missing = unit.accounts.find(AccountId(uuid.uuid4()))

    assert found is not None and (found.id, found.company_id) == (account.id, world.company_id)
    assert missing is None


def test_the_contact_of_a_chat_is_that_of_its_latest_message_that_has_one(
    uow: UowFactory, make_world: Callable[..., World]
) -> None:
    world, stranger = make_world(), make_world()
    account, other_account = an_account(uow, world.company_id), an_account(uow, world.company_id)
    first, second, elsewhere = world.contact("Первый"), world.contact("Второй"), world.contact()
    t = world.clock.now()
    store(
        uow,
        a_message(account, t, contact_id=first),
        a_message(account, t + timedelta(minutes=2), contact_id=second, is_incoming=False),
        a_message(account, t + timedelta(minutes=1), contact_id=first),
        a_message(account, t + timedelta(minutes=3)),  # no contact: does not count
        a_message(account, t + timedelta(minutes=4), chat_id="other", contact_id=elsewhere),
        a_message(other_account, t + timedelta(minutes=5), contact_id=elsewhere),
    )

    with uow() as unit:
        company = world.company_id
        assert unit.messages.contact_in_chat(company, account.id, CHAT) == second
        assert unit.messages.contact_in_chat(company, other_account.id, CHAT) == elsewhere
        assert unit.messages.contact_in_chat(company, account.id, "nobody") is None
        assert unit.messages.contact_in_chat(stranger.company_id, account.id, CHAT) is None


def test_unread_from_a_contact_are_its_incoming_messages_not_read(
    uow: UowFactory, make_world: Callable[..., World]
) -> None:
    world, stranger = make_world(), make_world()
    account = an_account(uow, world.company_id)
    ivan, maria = world.contact("Иван"), world.contact("Мария")
    t = world.clock.now()
    later = a_message(account, t + timedelta(minutes=1), contact_id=ivan)
    earlier = a_message(account, t, contact_id=ivan)
    store(
        uow,
        later,
        earlier,
        a_message(account, t, contact_id=ivan, is_read=True),
        a_message(account, t, contact_id=ivan, is_incoming=False),
        a_message(account, t, contact_id=maria),
    )

    with uow() as unit:
        unread = unit.messages.unread_from(world.company_id, ivan)
        assert unit.messages.unread_from(stranger.company_id, ivan) == []

    assert [message.id for message in unread] == [earlier.id, later.id]


def test_a_deleted_duplicate_gives_way_to_a_row_taking_its_provider_id(
    uow: UowFactory, world: World
) -> None:
    account = an_account(uow, world.company_id)
    t = world.clock.now()
    ours = a_message(account, t, is_incoming=False)
    twin = a_message(account, t, is_incoming=False, provider_message_id="p-1")
    store(uow, ours, twin)

    with uow() as unit:
        mine = unit.messages.get(world.company_id, ours.id)
        unit.messages.delete(unit.messages.get(world.company_id, twin.id))
        mine.provider_message_id = "p-1"
        unit.messages.save(mine)
        unit.commit()

    with uow() as unit:
        found = unit.messages.by_provider_id(world.company_id, account.id, "p-1")
    assert found is not None and found.id == ours.id
    assert count(uow, tables.messages, world.company_id) == 1


def test_an_idempotency_key_names_its_message_while_it_lives(
    uow: UowFactory, make_world: Callable[..., World]
) -> None:
    world, stranger = make_world(), make_world()
    company, message_id, t = world.company_id, MessageId(uuid.uuid4()), world.clock.now()
    with uow() as unit:
        assert unit.idempotency_keys.message_for(company, "k-1", t - timedelta(days=1)) is None
        unit.idempotency_keys.remember(company, "k-1", message_id, t)
        unit.commit()

    with uow() as unit:
        keys = unit.idempotency_keys
        assert keys.message_for(company, "k-1", t - timedelta(days=1)) == message_id
        assert keys.message_for(company, "k-1", t) == message_id
        assert keys.message_for(company, "k-1", t + timedelta(seconds=1)) is None
        assert keys.message_for(company, "k-2", t - timedelta(days=1)) is None
        assert keys.message_for(stranger.company_id, "k-1", t - timedelta(days=1)) is None
        response = unit.session.scalar(
            select(tables.idempotency_keys.c.response).where(
                tables.idempotency_keys.c.company_id == company
            )
        )
    assert response == {"message_id": str(message_id)}


def test_a_live_idempotency_key_remembered_again_is_a_conflict(
    uow: UowFactory, world: World
) -> None:
    company, first, t = world.company_id, MessageId(uuid.uuid4()), world.clock.now()
    with uow() as unit:
        unit.idempotency_keys.remember(company, "k", first, t)
        unit.commit()

    with uow() as unit, pytest.raises(Conflict, match="idempotency key"):
        unit.idempotency_keys.remember(
            company, "k", MessageId(uuid.uuid4()), t + timedelta(hours=23)
        )
        unit.commit()

    with uow() as unit:
        assert unit.idempotency_keys.message_for(company, "k", t) == first
    assert count(uow, tables.idempotency_keys, company) == 1


def test_an_expired_idempotency_key_is_replaced(uow: UowFactory, world: World) -> None:
    company, first, second = world.company_id, MessageId(uuid.uuid4()), MessageId(uuid.uuid4())
    t = world.clock.now()
    with uow() as unit:
        unit.idempotency_keys.remember(company, "k", first, t)
        unit.commit()
    later = t + timedelta(hours=24, seconds=1)

    with uow() as unit:
        unit.idempotency_keys.remember(company, "k", second, later)
        unit.commit()

    with uow() as unit:
        assert unit.idempotency_keys.message_for(company, "k", t) == second
        assert unit.idempotency_keys.message_for(company, "k", later) == second
    assert count(uow, tables.idempotency_keys, company) == 1


# --- the use cases over the SQL unit of work -----------------------------------------------


@pytest.fixture
def gateway() -> FakeGateway:
    return FakeGateway()


@pytest.fixture
def messaging(world: World, gateway: FakeGateway) -> MessagingUseCases:
    return MessagingUseCases(world.uow, world.clock, gateway, FakeSecretBox())


@pytest.fixture
def account(world: World, messaging: MessagingUseCases) -> AccountId:
    return messaging.create_account(
        world.admin, {"name": "Продажи", "api_key": "key-0123abcd", "instance_id": "channel-1"}
    )


def read_message(world: World, message_id: MessageId) -> Message:
    with world.uow() as unit:
        return unit.messages.get(world.company_id, message_id)


def company_messages(world: World) -> list[Message]:
    with world.uow() as unit:
        return list(
            unit.session.scalars(
                select(Message).where(tables.messages.c.company_id == world.company_id)
            )
        )


def incoming(provider_id: str, timestamp: datetime, **fields: Any) -> IncomingItem:
    values: dict[str, Any] = {
        "chat_type": ChatType.WHATSAPP,
        "chat_id": CHAT,
        "is_echo": False,
        "text": "Здравствуйте, диван ещё продаётся?",
        "contact_name": "Иван Петров",
        **fields,
    }
    return IncomingItem(provider_message_id=provider_id, timestamp=timestamp, **values)


def test_a_send_is_committed_pending_before_the_provider_is_called(
    world: World, messaging: MessagingUseCases, gateway: FakeGateway, account: AccountId
) -> None:
    seen: list[MessageStatus] = []

    def read_in_another_unit_of_work(outgoing: OutgoingMessage, _provider_id: str) -> None:
        seen.append(read_message(world, MessageId(uuid.UUID(outgoing.crm_message_id))).status)

    gateway.during_send = read_in_another_unit_of_work

    message_id = messaging.send_message(world.admin, account, to=CHAT, text="Привет")

    assert seen == [MessageStatus.PENDING]
    message = read_message(world, message_id)
    assert (message.status, message.provider_message_id) == (MessageStatus.SENT, "provider-1")


def test_a_failed_send_is_kept_as_a_failed_row(
    world: World, messaging: MessagingUseCases, gateway: FakeGateway, account: AccountId
) -> None:
    gateway.send_failure = ProviderRefused("INVALID_PHONE", "no such number", 400)

    with pytest.raises(MessageNotSent) as raised:
        messaging.send_message(world.admin, account, to=CHAT, text="Привет")

    [message] = company_messages(world)
    assert message.id == raised.value.message_id
    assert (message.status, message.provider_message_id) == (MessageStatus.FAILED, None)
    assert message.error == {"code": "INVALID_PHONE", "description": "no such number"}


def test_the_same_inbound_delivery_twice_adds_nothing(
    world: World, messaging: MessagingUseCases, account: AccountId
) -> None:
    delivery = [incoming("w-1", world.clock.now())]

    first = messaging.receive(account, delivery)
    rows = {t.name: count(world.uow, t, world.company_id) for t in COUNTED}
    again = messaging.receive(account, delivery)

    assert (first.created, again.created, again.updated) == (1, 0, 0)
    assert rows["messages"] == rows["contacts"] == 1
    assert {t.name: count(world.uow, t, world.company_id) for t in COUNTED} == rows


COUNTED = (tables.messages, tables.contacts, tables.leads, tables.activities)


@pytest.mark.parametrize("names_our_id", [True, False], ids=["naming-our-id", "anonymous"])
def test_an_echo_before_the_sends_answer_ends_as_one_row(
    world: World,
    messaging: MessagingUseCases,
    gateway: FakeGateway,
    account: AccountId,
    names_our_id: bool,
) -> None:
    def webhook_during_send(outgoing: OutgoingMessage, provider_id: str) -> None:
        our_id = outgoing.crm_message_id if names_our_id else ""
        echo = incoming(
            provider_id,
            world.clock.now(),
            is_echo=True,
            status=MessageStatus.SENT,
            text=outgoing.text or "",
            crm_message_id=our_id,
        )
        report = messaging.receive(account, [echo, StatusItem(provider_id, MessageStatus.READ)])
        assert report.errors == () and report.is_complete

    gateway.during_send = webhook_during_send

    message_id = messaging.send_message(world.admin, account, to=CHAT, text="Привет")

    [message] = company_messages(world)
    assert message.id == message_id
    assert (message.provider_message_id, message.status) == ("provider-1", MessageStatus.READ)


def test_an_idempotency_key_returns_the_first_message_and_sends_once(
    world: World, messaging: MessagingUseCases, gateway: FakeGateway, account: AccountId
) -> None:
    first = messaging.send_message(
        world.admin, account, to=CHAT, text="Привет", idempotency_key="k"
    )
    world.clock.advance(hours=23)

    again = messaging.send_message(
        world.admin, account, to=CHAT, text="Привет", idempotency_key="k"
    )

    assert again == first
    assert (len(gateway.sent), len(company_messages(world))) == (1, 1)


class MeetingGateway(FakeGateway):
    """Holds each caller in `channels` until both have come: two sends that each looked for
    their idempotency key (and found none) before either stored its message."""

    def __init__(self) -> None:
        super().__init__()
        self.meeting = threading.Barrier(2, timeout=30)

    def channels(self, connection: ProviderConnection) -> list[Channel]:
        self.meeting.wait()
        return super().channels(connection)


def test_two_simultaneous_sends_with_one_idempotency_key_send_one_message(world: World) -> None:
    gateway = MeetingGateway()
    messaging = MessagingUseCases(world.uow, world.clock, gateway, FakeSecretBox())
    # Never checked: each send asks for the channels first, after looking for its key.
    account = messaging.create_account(
        world.admin, {"name": "Продажи", "api_key": "key-0123abcd", "instance_id": "channel-1"}
    )
    outcomes: list[Any] = [None, None]

    def send(index: int) -> None:
        try:
            outcomes[index] = messaging.send_message(
                world.admin, account, to=CHAT, text="Привет", idempotency_key="same"
            )
        except Exception as error:  # every outcome is examined below
            outcomes[index] = error

    threads = [threading.Thread(target=send, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    sent = [outcome for outcome in outcomes if not isinstance(outcome, BaseException)]
    refused = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    assert gateway.channel_checks == 2
    assert len(sent) == 1 and [type(error) for error in refused] == [Conflict]
    assert len(gateway.sent) == 1 and gateway.sent[0].crm_message_id == str(sent[0])
    assert [message.id for message in company_messages(world)] == sent
    assert count(world.uow, tables.idempotency_keys, world.company_id) == 1
