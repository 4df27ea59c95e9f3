"""The messaging members of the SQL repositories, and the messaging use cases over them."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from crm_adapters.sql import tables
from crm_adapters.sql.pushes import SqlPushSource
from crm_adapters.sql.unit_of_work import SqlUnitOfWork
from crm_adapters.wazzup import read_delivery
from crm_core import Conflict, NotFound
from crm_core.errors import MessageNotSent, MessageSendTimedOut, ProviderRefused, ProviderTimedOut
from crm_core.inbox import Delivery, DeliveryError, StatusItem
from crm_core.messaging import ChatType, Message, MessageStatus, MessagingAccount
from crm_core.ports import Channel, OutgoingMessage, ProviderConnection
from crm_core.services.inbound import InboundUseCases
from crm_core.services.messaging_accounts import AccountUseCases, CreateAccount, key_fingerprint
from crm_core.services.sending import SendingUseCases
from crm_core.values import AccountId, CompanyId, ContactId, DeliveryId, MessageId, PhoneNumber
from tests.fakes import AnswerLost, FakeGateway, FakeSecretBox
from tests.integration.sql.conftest import World

UowFactory = Callable[[], SqlUnitOfWork]
CHAT = "79991234567"


def an_account(
    uow: UowFactory, company_id: CompanyId, fingerprint: str = "", instance_id: str = ""
) -> MessagingAccount:
    account = MessagingAccount(
        company_id,
        "WA",
        "enc",
        "…1",
        "secret",
        instance_id=instance_id,
        api_key_fingerprint=fingerprint,
    )
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


def store(uow: UowFactory, *entities: Any) -> None:
    with uow() as unit:
        for entity in entities:
            if isinstance(entity, Message):
                unit.messages.save(entity)
            else:
                unit.contacts.save(entity)
        unit.commit()


def count(uow: UowFactory, table: Any, company_id: CompanyId) -> int:
    with uow() as unit:
        return int(
            unit.session.scalar(
                select(func.count()).select_from(table).where(table.c.company_id == company_id)
            )
            or 0
        )


def ids(found: Any) -> list[Any]:
    return [entity.id for entity in found]


# --- accounts -------------------------------------------------------------------------------


def test_an_account_is_found_by_its_id_alone(uow: UowFactory, world: World) -> None:
    account = an_account(uow, world.company_id)

    with uow() as unit:
        found = unit.accounts.find(account.id)
        missing = unit.accounts.find(AccountId(uuid.uuid4()))

    assert found is not None and (found.id, found.company_id) == (account.id, world.company_id)
    assert missing is None


def test_the_accounts_sharing_a_key_are_the_companys_with_its_fingerprint(
    uow: UowFactory, make_world: Callable[..., World]
) -> None:
    world, stranger = make_world(), make_world()
    first = an_account(uow, world.company_id, "print-a")
    second = an_account(uow, world.company_id, "print-a")
    an_account(uow, world.company_id, "print-b")
    an_account(uow, stranger.company_id, "print-a")
    an_account(uow, world.company_id, "")

    with uow() as unit:
        sharing = unit.accounts.sharing_key(world.company_id, "print-a")
        assert unit.accounts.sharing_key(world.company_id, "") == []
        assert unit.accounts.sharing_key(world.company_id, "print-c") == []

    assert sorted(ids(sharing), key=str) == sorted([first.id, second.id], key=str)


# --- contacts and leads, many at once ----------------------------------------------------------


def test_contacts_with_phones_match_any_of_their_numbers_exactly_oldest_first(
    uow: UowFactory, make_world: Callable[..., World]
) -> None:
    world, stranger = make_world(), make_world()
    ivan = world.contact("Иван", phone="+7 999 123-45-67")
    world.clock.advance(minutes=1)
    maria = world.contact("Мария", phone="+7 999 000-00-01", whatsapp="+7 999 000-00-02")
    world.clock.advance(minutes=1)
    petr = world.contact("Пётр", phone="+7 999 000-00-03", phone_secondary="+7 999 123-45-67")
    world.contact("Далёкий", phone="+380 99 123 45 67")
    stranger.contact("Чужой", phone="+7 999 123-45-67")

    with uow() as unit:
        found = unit.contacts.with_phones(
            world.company_id, [PhoneNumber("+79991234567"), PhoneNumber("+79990000002")]
        )
        assert unit.contacts.with_phones(world.company_id, []) == []

    assert ids(found) == [ivan, maria, petr]


def test_contacts_with_handles_match_the_chat_types_addresses_and_the_learnt_chat_id(
    uow: UowFactory, make_world: Callable[..., World]
) -> None:
    world, stranger = make_world(), make_world()
    by_username = world.contact("Павел", telegram="@durov")
    world.clock.advance(minutes=1)
    by_phone = world.contact("Телефон", phone="+7 999 123-45-67")
    world.clock.advance(minutes=1)
    learnt = world.contact("Учёный", telegram="someone")
    with uow() as unit:
        contact = unit.contacts.get(world.company_id, learnt)
        contact.learn_telegram_chat("500100200", world.clock.now())
        unit.contacts.save(contact)
        unit.commit()
    insta = world.contact("Инста", instagram="@shop.client")
    stranger.contact("Чужой", telegram="durov")

    with uow() as unit:
        company = world.company_id

        def handles(chat_type: ChatType, *wanted: str) -> list[Any]:
            return ids(unit.contacts.with_handles(company, chat_type, wanted))

        assert handles(ChatType.TELEGRAM, "durov", "79991234567", "500100200") == [
            by_username,
            by_phone,
            learnt,
        ]
        assert handles(ChatType.TELEGRAM, "500100200") == [learnt]
        assert handles(ChatType.INSTAGRAM, "shop.client", "durov") == [insta]
        assert handles(ChatType.WHATSAPP, "79991234567") == [by_phone]
        assert handles(ChatType.INSTAGRAM, "500100200") == []
        reloaded = unit.contacts.get(company, learnt)
    assert (reloaded.telegram, reloaded.telegram_chat_id) == ("someone", "500100200")


def test_contacts_by_ids_are_the_companys_that_exist(
    uow: UowFactory, make_world: Callable[..., World]
) -> None:
    world, stranger = make_world(), make_world()
    ivan, maria = world.contact("Иван"), world.contact("Мария")
    theirs = stranger.contact("Чужой")

    with uow() as unit:
        found = unit.contacts.get_many(world.company_id, [ivan, maria, theirs, uuid.uuid4()])
        assert unit.contacts.get_many(world.company_id, []) == []

    assert sorted(ids(found), key=str) == sorted([ivan, maria], key=str)


def test_the_open_leads_of_contacts_are_the_oldest_open_one_of_each(
    uow: UowFactory, make_world: Callable[..., World]
) -> None:
    world, stranger = make_world(), make_world()
    funnel = world.funnels.create_funnel(world.admin, "Продажи")
    ivan, maria, petr = world.contact("Иван"), world.contact("Мария"), world.contact("Пётр")
    oldest = world.lead(ivan, funnel, "Первая")
    world.clock.advance(minutes=1)
    world.lead(ivan, funnel, "Вторая")
    maria_lead = world.lead(maria, funnel)

    with uow() as unit:
        found = unit.leads.open_for_contacts(world.company_id, [ivan, maria, petr])
        assert unit.leads.open_for_contacts(stranger.company_id, [ivan, maria]) == {}
        assert unit.leads.open_for_contacts(world.company_id, []) == {}

    assert {contact: lead.id for contact, lead in found.items()} == {
        ivan: oldest,
        maria: maria_lead,
    }


# --- messages -----------------------------------------------------------------------------------


def test_messages_by_provider_ids_are_those_of_the_accounts_named(
    uow: UowFactory, make_world: Callable[..., World]
) -> None:
    world, stranger = make_world(), make_world()
    account, other = an_account(uow, world.company_id), an_account(uow, world.company_id)
    t = world.clock.now()
    first = a_message(account, t, provider_message_id="p-1")
    second = a_message(other, t, provider_message_id="p-2")
    store(
        uow, first, second, a_message(account, t, provider_message_id="p-3"), a_message(account, t)
    )

    with uow() as unit:
        company = world.company_id
        found = unit.messages.by_provider_ids(company, [account.id, other.id], ["p-1", "p-2"])
        assert ids(unit.messages.by_provider_ids(company, [account.id], ["p-2"])) == []
        assert unit.messages.by_provider_ids(stranger.company_id, [account.id], ["p-1"]) == []
        assert unit.messages.by_provider_ids(company, [], ["p-1"]) == []
        assert unit.messages.by_provider_ids(company, [account.id], []) == []
        single = unit.messages.by_provider_id(company, account.id, "p-1")

    assert sorted(ids(found), key=str) == sorted([first.id, second.id], key=str)
    assert single is not None and single.id == first.id


def test_messages_awaiting_an_echo_are_own_sends_still_open_since_the_time_given(
    uow: UowFactory, world: World
) -> None:
    account, other = an_account(uow, world.company_id), an_account(uow, world.company_id)
    t = world.clock.now()
    minute_ago = t - timedelta(minutes=1)

    def send(**fields: Any) -> Message:
        values: dict[str, Any] = {"is_incoming": False, "send_attempted_at": t, **fields}
        return a_message(account, t, **values)

    pending = send()
    unknown = send(status=MessageStatus.FAILED, outcome_unknown=True)
    at_the_edge = send(send_attempted_at=minute_ago)
    store(
        uow,
        pending,
        unknown,
        at_the_edge,
        send(status=MessageStatus.FAILED),  # refused: final
        send(status=MessageStatus.SENT),
        send(provider_message_id="p-1"),  # the answer is stored
        send(send_attempted_at=minute_ago - timedelta(seconds=1)),  # too old
        send(send_attempted_at=None),
        a_message(account, t, send_attempted_at=t),  # incoming
        a_message(other, t, is_incoming=False, send_attempted_at=t),  # another account
    )

    with uow() as unit:
        found = unit.messages.awaiting_echo(world.company_id, account.id, minute_ago)
        reloaded = unit.messages.get(world.company_id, unknown.id)

    assert sorted(ids(found), key=str) == sorted([pending.id, unknown.id, at_the_edge.id], key=str)
    assert (reloaded.outcome_unknown, reloaded.send_attempted_at) == (True, t)


def test_messages_received_since_count_the_accounts_incoming_rows_after_the_time(
    uow: UowFactory, world: World
) -> None:
    account, other = an_account(uow, world.company_id), an_account(uow, world.company_id)
    t = world.clock.now()
    store(
        uow,
        a_message(account, t - timedelta(minutes=1)),
        a_message(account, t),
        a_message(account, t + timedelta(minutes=1)),
        a_message(account, t + timedelta(minutes=1), is_incoming=False),
        a_message(other, t + timedelta(minutes=1)),
    )

    with uow() as unit:
        assert unit.messages.received_since(account.id, None) == 3
        assert unit.messages.received_since(account.id, t) == 1
        assert unit.messages.received_since(account.id, t + timedelta(minutes=1)) == 0


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


def test_a_second_row_of_one_provider_id_is_a_conflict(uow: UowFactory, world: World) -> None:
    account = an_account(uow, world.company_id)
    t = world.clock.now()
    store(uow, a_message(account, t, provider_message_id="p-1"))

    with pytest.raises(Conflict):
        store(uow, a_message(account, t, provider_message_id="p-1"))

    assert count(uow, tables.messages, world.company_id) == 1


# --- chats, deliveries, early statuses ----------------------------------------------------------


def test_chats_are_claimed_once_and_remember_whose_they_are(uow: UowFactory, world: World) -> None:
    account, other = an_account(uow, world.company_id), an_account(uow, world.company_id)
    ivan = world.contact("Иван")

    with uow() as unit:
        first = unit.chats.claim(world.company_id, account.id, ["c-2", "c-1", "c-1"])
        unit.chats.assign(account.id, {"c-1": ivan})
        unit.commit()
    with uow() as unit:
        again = unit.chats.claim(world.company_id, account.id, ["c-1", "c-2", "c-3"])
        elsewhere = unit.chats.claim(world.company_id, other.id, ["c-1"])
        assert unit.chats.claim(world.company_id, account.id, []) == {}
        unit.commit()

    assert first == {"c-1": None, "c-2": None}
    assert again == {"c-1": ivan, "c-2": None, "c-3": None}
    assert elsewhere == {"c-1": None}
    assert count(uow, tables.chats, world.company_id) == 4


def test_a_chat_claimed_and_assigned_to_a_contact_new_in_the_unit_of_work_keeps_it(
    uow: UowFactory, world: World
) -> None:
    from crm_core.messaging import contact_for_chat

    account = an_account(uow, world.company_id)
    contact = contact_for_chat(world.company_id, ChatType.WHATSAPP, CHAT, "", world.clock.now())

    with uow() as unit:
        unit.chats.claim(world.company_id, account.id, [CHAT])
        unit.contacts.save(contact)
        unit.chats.assign(account.id, {CHAT: contact.id})
        unit.commit()

    with uow() as unit:
        assert unit.chats.claim(world.company_id, account.id, [CHAT]) == {CHAT: contact.id}


def test_a_claim_that_is_rolled_back_leaves_no_chat(uow: UowFactory, world: World) -> None:
    account = an_account(uow, world.company_id)

    with uow() as unit:
        unit.chats.claim(world.company_id, account.id, [CHAT])

    assert count(uow, tables.chats, world.company_id) == 0


def test_deliveries_are_stored_as_received_and_listed_until_processed(
    uow: UowFactory, world: World
) -> None:
    account, other = an_account(uow, world.company_id), an_account(uow, world.company_id)
    t = world.clock.now()
    later = Delivery(account.id, '{"messages": []}', t + timedelta(seconds=1))
    first = Delivery(account.id, '{"statuses": []}', t)
    elsewhere = Delivery(other.id, "{}", t)
    with uow() as unit:
        for delivery in (later, first, elsewhere):
            unit.deliveries.save(delivery)
        unit.commit()

    with uow() as unit:
        assert ids(unit.deliveries.unprocessed([account.id], 10)) == [first.id, later.id]
        assert ids(unit.deliveries.unprocessed([account.id], 1)) == [first.id]
        assert set(ids(unit.deliveries.unprocessed(None, 10))) >= {first.id, elsewhere.id}
        stored = unit.deliveries.get(first.id)
        stored.processed([], t + timedelta(minutes=1))
        unit.deliveries.save(stored)
        unit.commit()

    with uow() as unit:
        assert ids(unit.deliveries.unprocessed([account.id], 10)) == [later.id]
        reloaded = unit.deliveries.get(first.id)
        with pytest.raises(NotFound):
            unit.deliveries.get(DeliveryId(uuid.uuid4()))
    assert (reloaded.body, reloaded.processed_at, reloaded.error) == (
        '{"statuses": []}',
        t + timedelta(minutes=1),
        None,
    )


def test_early_statuses_are_kept_for_the_keys_accounts_and_taken_once(
    uow: UowFactory, world: World
) -> None:
    account, sibling = an_account(uow, world.company_id), an_account(uow, world.company_id)
    first_of_key = min([account, sibling], key=lambda a: str(a.id))
    t = world.clock.now()
    delivery = Delivery(account.id, "{}", t)
    kept = [
        StatusItem("p-1", MessageStatus.DELIVERED, timestamp=t),
        StatusItem("p-1", MessageStatus.READ, timestamp=t + timedelta(seconds=1)),
        StatusItem("p-2", MessageStatus.FAILED, DeliveryError("BAD_CONTACT", "no such"), t),
    ]
    with uow() as unit:
        unit.deliveries.save(delivery)
        unit.session.flush()
        unit.early_statuses.keep(delivery.id, [account.id, sibling.id], kept)
        unit.commit()

    with uow() as unit:
        assert unit.early_statuses.take([first_of_key.id], []) == []
        assert unit.early_statuses.take([first_of_key.id], ["p-9"]) == []
        taken = unit.early_statuses.take([first_of_key.id], ["p-1", "p-2"])
        unit.commit()
    with uow() as unit:
        again = unit.early_statuses.take([account.id, sibling.id], ["p-1", "p-2"])

    assert [(s.provider_message_id, s.status) for s in taken] == [
        ("p-1", MessageStatus.DELIVERED),
        ("p-2", MessageStatus.FAILED),
        ("p-1", MessageStatus.READ),
    ]
    assert taken[1].error == DeliveryError("BAD_CONTACT", "no such")
    assert again == []


def test_early_statuses_kept_in_a_unit_of_work_can_be_taken_in_it(
    uow: UowFactory, world: World
) -> None:
    account = an_account(uow, world.company_id)
    delivery = Delivery(account.id, "{}", world.clock.now())

    with uow() as unit:
        unit.deliveries.save(delivery)
        unit.session.flush()
        unit.early_statuses.keep(delivery.id, [account.id], [StatusItem("p-1", MessageStatus.READ)])
        taken = unit.early_statuses.take([account.id], ["p-1"])

    assert [(s.provider_message_id, s.status, s.timestamp) for s in taken] == [
        ("p-1", MessageStatus.READ, None)
    ]


# --- idempotency keys ---------------------------------------------------------------------------


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


class Wired:
    """The messaging use cases of one world over SqlUnitOfWork, as the container wires them."""

    def __init__(self, world: World, engine: Engine, gateway: FakeGateway) -> None:
        self.world = world
        self.gateway = gateway
        secrets = FakeSecretBox()
        self.inbound = InboundUseCases(world.uow, world.clock, read_delivery)
        self.accounts = AccountUseCases(
            world.uow,
            world.clock,
            gateway,
            secrets,
            SqlPushSource(engine),
            "https://crm.example.com",
            self.inbound.process_stored,
        )
        self.sending = SendingUseCases(
            world.uow, world.clock, gateway, secrets, self.accounts.check
        )

    def account(self, instance_id: str = "channel-1") -> AccountId:
        return self.accounts.create_account(
            self.world.admin,
            CreateAccount(name="Продажи", api_key="key-0123abcd", instance_id=instance_id),
        )

    def deliver(self, account_id: AccountId, body: dict[str, Any]) -> None:
        """Wazzup calls the webhook; the delivery is stored, then processed."""
        with self.world.uow() as unit:
            found = unit.accounts.find(account_id)
            assert found is not None
            secret = found.webhook_secret
        self.inbound.accept(account_id, secret, json.dumps(body))
        assert self.inbound.process_stored([account_id]) == 1


@pytest.fixture
def gateway() -> FakeGateway:
    return FakeGateway()


@pytest.fixture
def wired(world: World, engine: Engine, gateway: FakeGateway) -> Wired:
    return Wired(world, engine, gateway)


@pytest.fixture
def account(wired: Wired) -> AccountId:
    return wired.account()


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


def message_activities(world: World) -> int:
    a = tables.activities
    with world.uow() as unit:
        return int(
            unit.session.scalar(
                select(func.count())
                .select_from(a)
                .where(a.c.company_id == world.company_id, a.c.activity_type == "message")
            )
            or 0
        )


def wazzup_message(message_id: str, **fields: Any) -> dict[str, Any]:
    message = {
        "messageId": message_id,
        "dateTime": "2026-11-24T10:00:00Z",
        "channelId": "channel-1",
        "chatType": "whatsapp",
        "chatId": CHAT,
        "type": "text",
        "isEcho": False,
        "contact": {"name": "Иван Петров"},
        "text": "Здравствуйте, диван ещё продаётся?",
        "status": "inbound",
        **fields,
    }
    return {name: value for name, value in message.items() if value is not None}


def test_the_account_keeps_its_key_fingerprint_and_a_checks_transport(
    world: World, wired: Wired, gateway: FakeGateway, account: AccountId
) -> None:
    gateway.channel(transport="wapi")

    wired.accounts.check_connection(world.admin, account)

    with world.uow() as unit:
        saved = unit.accounts.get(world.company_id, account)
    assert (saved.api_key_fingerprint, saved.transport) == (key_fingerprint("key-0123abcd"), "wapi")


def test_a_send_is_committed_pending_before_the_provider_is_called(
    world: World, wired: Wired, gateway: FakeGateway, account: AccountId
) -> None:
    seen: list[MessageStatus] = []

    def read_in_another_unit_of_work(outgoing: OutgoingMessage, _provider_id: str) -> None:
        seen.append(read_message(world, MessageId(uuid.UUID(outgoing.crm_message_id))).status)

    gateway.during_send = read_in_another_unit_of_work

    message_id = wired.sending.send_message(world.admin, account, to=CHAT, text="Привет")

    assert seen == [MessageStatus.PENDING]
    message = read_message(world, message_id)
    assert (message.status, message.provider_message_id) == (MessageStatus.SENT, "provider-1")
    assert message_activities(world) == 1


def test_a_failed_send_is_kept_as_a_failed_row(
    world: World, wired: Wired, gateway: FakeGateway, account: AccountId
) -> None:
    gateway.send_failure = ProviderRefused("INVALID_PHONE", "no such number", 400)

    with pytest.raises(MessageNotSent) as raised:
        wired.sending.send_message(world.admin, account, to=CHAT, text="Привет")

    [message] = company_messages(world)
    assert message.id == raised.value.message_id
    assert (message.status, message.provider_message_id) == (MessageStatus.FAILED, None)
    assert message.error == {"code": "INVALID_PHONE", "description": "no such number"}
    assert message_activities(world) == 1


def test_a_timed_out_send_is_settled_by_its_echo(
    world: World, wired: Wired, gateway: FakeGateway, account: AccountId
) -> None:
    gateway.send_failure = AnswerLost(ProviderTimedOut("no answer in 30 s"))
    with pytest.raises(MessageSendTimedOut) as raised:
        wired.sending.send_message(world.admin, account, to=CHAT, text="Привет")
    world.clock.advance(seconds=10)

    wired.deliver(
        account,
        {"messages": [wazzup_message("provider-1", isEcho=True, status="sent", text="Привет")]},
    )

    [message] = company_messages(world)
    assert message.id == raised.value.message_id
    assert (message.status, message.provider_message_id, message.outcome_unknown) == (
        MessageStatus.SENT,
        "provider-1",
        False,
    )
    assert message_activities(world) == 1


def test_a_telegram_send_by_username_learns_the_chat_the_reply_comes_from(
    world: World, wired: Wired, gateway: FakeGateway
) -> None:
    gateway.channel(chat_type="telegram")
    account = wired.accounts.create_account(
        world.admin,
        CreateAccount(
            name="TG", api_key="key-0123abcd", instance_id="channel-1", chat_type=ChatType.TELEGRAM
        ),
    )
    wired.sending.send_message(world.admin, account, to="@durov", text="Привет")

    wired.deliver(
        account,
        {"messages": [wazzup_message("t-1", chatType="telegram", chatId=500000001, text="Да")]},
    )

    messages = company_messages(world)
    assert {m.chat_id for m in messages} == {"500000001"}
    assert len({m.contact_id for m in messages}) == 1
    assert count(world.uow, tables.contacts, world.company_id) == 1
    with world.uow() as unit:
        contact = unit.contacts.get(world.company_id, messages[0].contact_id)
    assert contact.telegram_chat_id == "500000001"


def test_the_same_inbound_delivery_twice_adds_nothing(
    world: World, wired: Wired, account: AccountId
) -> None:
    body = {"messages": [wazzup_message("w-1")]}

    wired.deliver(account, body)
    rows = {t.name: count(world.uow, t, world.company_id) for t in COUNTED}
    wired.deliver(account, body)

    assert rows["messages"] == rows["contacts"] == rows["chats"] == 1
    assert {t.name: count(world.uow, t, world.company_id) for t in COUNTED} == rows


COUNTED = (tables.messages, tables.contacts, tables.leads, tables.activities, tables.chats)


def test_items_are_routed_to_the_account_of_their_channel_on_the_same_key(
    world: World, wired: Wired, gateway: FakeGateway, account: AccountId
) -> None:
    gateway.channel_list.append(Channel("channel-2", "whatsapp", "whatsapp", "7986", "active"))
    sibling = wired.account("channel-2")

    wired.deliver(
        account,
        {
            "messages": [
                wazzup_message("w-1", channelId="channel-2"),
                wazzup_message("w-2", channelId="channel-9"),
            ]
        },
    )

    [message] = company_messages(world)
    assert message.account_id == sibling
    with world.uow() as unit:
        [delivery] = unit.session.scalars(
            select(Delivery).where(tables.webhook_deliveries.c.account_id == account)
        )
    assert delivery.error is not None and "channel-9" in delivery.error


def test_statuses_before_their_message_are_kept_and_applied_when_it_appears(
    world: World, wired: Wired, account: AccountId
) -> None:
    wired.deliver(account, {"statuses": [{"messageId": "w-app", "status": "read"}]})
    assert count(world.uow, tables.messages, world.company_id) == 0

    wired.deliver(
        account, {"messages": [wazzup_message("w-app", isEcho=True, status="sent", text="Да")]}
    )

    [message] = company_messages(world)
    assert message.status == MessageStatus.READ
    with world.uow() as unit:
        assert unit.early_statuses.take([account], ["w-app"]) == []


@pytest.mark.parametrize("names_our_id", [True, False], ids=["naming-our-id", "anonymous"])
def test_an_echo_before_the_sends_answer_ends_as_one_row(
    world: World,
    wired: Wired,
    gateway: FakeGateway,
    account: AccountId,
    names_our_id: bool,
) -> None:
    def webhook_during_send(outgoing: OutgoingMessage, provider_id: str) -> None:
        echo = wazzup_message(
            provider_id,
            isEcho=True,
            status="sent",
            text=outgoing.text,
            crmMessageId=outgoing.crm_message_id if names_our_id else None,
        )
        wired.deliver(
            account,
            {"messages": [echo], "statuses": [{"messageId": provider_id, "status": "read"}]},
        )

    gateway.during_send = webhook_during_send

    message_id = wired.sending.send_message(world.admin, account, to=CHAT, text="Привет")

    [message] = company_messages(world)
    assert message.id == message_id
    assert (message.provider_message_id, message.status) == ("provider-1", MessageStatus.READ)
    assert message_activities(world) == 1


def test_an_idempotency_key_returns_the_first_message_and_sends_once(
    world: World, wired: Wired, gateway: FakeGateway, account: AccountId
) -> None:
    first = wired.sending.send_message(
        world.admin, account, to=CHAT, text="Привет", idempotency_key="k"
    )
    world.clock.advance(hours=23)

    again = wired.sending.send_message(
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


def test_two_simultaneous_sends_with_one_idempotency_key_send_one_message(
    world: World, engine: Engine
) -> None:
    gateway = MeetingGateway()
    wired = Wired(world, engine, gateway)
    # Never checked: each send asks for the channels first, after looking for its key.
    account = wired.account()
    outcomes: list[Any] = [None, None]

    def send(index: int) -> None:
        try:
            outcomes[index] = wired.sending.send_message(
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
