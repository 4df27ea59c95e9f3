"""Messaging use cases: accounts, sending that never loses a message, and webhook deliveries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from crm_core import (
    ActivityType,
    Actor,
    ChatType,
    Conflict,
    Contact,
    Lead,
    Message,
    MessageStatus,
    MessageType,
    MessagingAccount,
    NotFound,
    PermissionDenied,
    ProviderFailed,
    ProviderTimedOut,
    Role,
    ValidationFailed,
)
from crm_core.errors import (
    MessageNotSent,
    MessageSendTimedOut,
    ProviderRefused,
    ProviderRejectedKey,
)
from crm_core.inbox import ChannelItem, DeliveryError, IncomingItem, StatusItem
from crm_core.ports import OutgoingMessage
from crm_core.services.messaging import MessagingUseCases
from crm_core.services.pipeline import CreateLead
from crm_core.values import AccountId, ContactId, FunnelId, MessageId, new_id
from tests.fakes import FakeGateway, FakeSecretBox
from tests.unit.conftest import Crm

WHEN = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
API_KEY = "live-key-0123abcd"


@pytest.fixture
def gateway() -> FakeGateway:
    return FakeGateway()


@pytest.fixture
def messaging(crm: Crm, gateway: FakeGateway) -> MessagingUseCases:
    return MessagingUseCases(crm.db.unit_of_work, crm.clock, gateway, FakeSecretBox())


@pytest.fixture
def account(messaging: MessagingUseCases, anna: Actor) -> AccountId:
    """ООО Ромашка's WhatsApp account on `channel-1`, its state not checked yet."""
    return an_account(messaging, anna)


def an_account(messaging: MessagingUseCases, actor: Actor, **fields: Any) -> AccountId:
    values = {"name": "Продажи", "api_key": API_KEY, "instance_id": "channel-1", **fields}
    return messaging.create_account(actor, values)


def read_account(crm: Crm, actor: Actor, account_id: AccountId) -> MessagingAccount:
    with crm.read() as uow:
        return uow.accounts.get(actor.company_id, account_id)


def read_message(crm: Crm, actor: Actor, message_id: MessageId) -> Message:
    with crm.read() as uow:
        return uow.messages.get(actor.company_id, message_id)


def read_contact(crm: Crm, actor: Actor, contact_id: ContactId | None) -> Contact:
    with crm.read() as uow:
        return uow.contacts.get(actor.company_id, contact_id)


def messages(crm: Crm) -> list[Message]:
    return sorted(crm.db.rows("messages"), key=lambda message: message.created_at)


def leads(crm: Crm) -> list[Lead]:
    return crm.db.rows("leads")


def contacts(crm: Crm) -> list[Contact]:
    return crm.db.rows("contacts")


def message_activities(crm: Crm) -> list[Any]:
    return [a for a in crm.db.rows("activities") if a.activity_type == ActivityType.MESSAGE]


def incoming(provider_id: str = "w-1", chat_id: str = "79991234567", **fields: Any) -> IncomingItem:
    values: dict[str, Any] = {
        "chat_type": ChatType.WHATSAPP,
        "is_echo": False,
        "timestamp": WHEN,
        "text": "Здравствуйте, диван ещё продаётся?",
        "contact_name": "Иван Петров",
        **fields,
    }
    return IncomingItem(provider_message_id=provider_id, chat_id=chat_id, **values)


def echo(provider_id: str, **fields: Any) -> IncomingItem:
    return incoming(provider_id, **{"is_echo": True, "status": MessageStatus.SENT, **fields})


def sales_funnel(crm: Crm, actor: Actor) -> FunnelId:
    return crm.funnel(actor).id


# --- accounts ---------------------------------------------------------------------------------


def test_given_an_admin_when_an_account_is_created_then_the_key_is_sealed_and_hinted(
    crm: Crm, anna: Actor, messaging: MessagingUseCases
) -> None:
    funnel_id = sales_funnel(crm, anna)

    account = read_account(
        crm, anna, an_account(messaging, anna, chat_type="telegram", default_funnel_id=funnel_id)
    )

    assert API_KEY not in account.api_key_encrypted
    assert FakeSecretBox().decrypt(account.api_key_encrypted) == API_KEY
    assert account.api_key_hint == "…abcd"
    assert len(account.webhook_secret) >= 40
    assert (account.chat_type, account.default_funnel_id) == (ChatType.TELEGRAM, funnel_id)
    assert (account.is_active, account.auto_create_leads, account.is_connected) == (
        True,
        True,
        False,
    )
    assert account.accepts_webhook(account.webhook_secret)
    assert not account.accepts_webhook("guess") and not account.accepts_webhook("")


def test_given_two_accounts_then_their_webhook_secrets_differ(
    crm: Crm, anna: Actor, messaging: MessagingUseCases
) -> None:
    first = read_account(crm, anna, an_account(messaging, anna))
    second = read_account(crm, anna, an_account(messaging, anna))

    assert first.webhook_secret != second.webhook_secret


def test_given_another_companys_funnel_when_it_is_the_default_then_the_field_is_refused(
    crm: Crm, anna: Actor, boris: Actor, messaging: MessagingUseCases
) -> None:
    foreign = sales_funnel(crm, boris)

    with pytest.raises(ValidationFailed) as refused:
        an_account(messaging, anna, default_funnel_id=foreign)

    assert "default_funnel" in refused.value.errors


@pytest.mark.parametrize(
    ("fields", "field"),
    [({"api_key": "  "}, "api_key"), ({"chat_type": "icq"}, "integration_type")],
)
def test_given_bad_fields_when_an_account_is_created_then_they_are_refused(
    anna: Actor, messaging: MessagingUseCases, fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        an_account(messaging, anna, **fields)

    assert field in refused.value.errors


def test_given_a_manager_then_they_cannot_create_change_or_delete_accounts(
    crm: Crm, anna: Actor, messaging: MessagingUseCases, account: AccountId
) -> None:
    manager = crm.company("ООО Ромашка", Role.MANAGER)

    with pytest.raises(PermissionDenied):
        an_account(messaging, manager)
    with pytest.raises(PermissionDenied):
        messaging.update_account(manager, account, {"name": "Мой"})
    with pytest.raises(PermissionDenied):
        messaging.delete_account(manager, account)
    assert len(crm.db.rows("accounts")) == 1


def test_given_a_checked_account_when_its_key_changes_then_the_state_is_forgotten(
    crm: Crm, anna: Actor, messaging: MessagingUseCases, account: AccountId
) -> None:
    messaging.check_connection(anna, account)

    messaging.update_account(anna, account, {"api_key": "new-key-9876wxyz", "name": "Опт"})

    changed = read_account(crm, anna, account)
    assert (changed.name, changed.api_key_hint) == ("Опт", "…wxyz")
    assert FakeSecretBox().decrypt(changed.api_key_encrypted) == "new-key-9876wxyz"
    assert (changed.channel_state, changed.is_connected) == ("", False)


def test_given_a_name_change_then_the_channel_state_is_kept(
    crm: Crm, anna: Actor, messaging: MessagingUseCases, account: AccountId
) -> None:
    messaging.check_connection(anna, account)

    messaging.update_account(anna, account, {"name": "Опт", "is_active": False})

    changed = read_account(crm, anna, account)
    assert (changed.channel_state, changed.is_connected, changed.is_active) == (
        "active",
        True,
        False,
    )


def test_given_an_account_when_deleted_then_it_is_gone(
    crm: Crm, anna: Actor, messaging: MessagingUseCases, account: AccountId
) -> None:
    messaging.delete_account(anna, account)

    assert crm.db.rows("accounts") == []


def test_given_another_companys_account_then_it_is_not_found(
    anna: Actor, boris: Actor, messaging: MessagingUseCases, account: AccountId
) -> None:
    with pytest.raises(NotFound):
        messaging.update_account(boris, account, {"name": "Чужой"})
    with pytest.raises(NotFound):
        messaging.delete_account(boris, account)
    with pytest.raises(NotFound):
        messaging.check_connection(boris, account)
    with pytest.raises(NotFound):
        messaging.send_message(boris, account, to="79991234567", text="Привет")


# --- check_connection ---------------------------------------------------------------------------


def test_given_an_active_channel_when_checked_then_the_account_is_connected(
    crm: Crm, anna: Actor, messaging: MessagingUseCases, gateway: FakeGateway, account: AccountId
) -> None:
    report = messaging.check_connection(anna, account)

    assert (report.is_connected, report.state, report.error) == (True, "active", None)
    assert report.channel is not None and report.channel.channel_id == "channel-1"
    assert len(report.channels) == 1
    saved = read_account(crm, anna, account)
    assert (saved.is_connected, saved.channel_state, saved.last_error) == (True, "active", "")
    assert saved.last_sync == crm.clock.now()
    assert gateway.connections[0].api_key == API_KEY


def test_given_no_channel_id_and_one_fitting_channel_when_checked_then_it_is_taken(
    crm: Crm, anna: Actor, messaging: MessagingUseCases, gateway: FakeGateway
) -> None:
    gateway.channel_list.append(
        gateway.channel_list[0].__class__("tg-1", "telegram", "bot", "active")
    )
    account = an_account(messaging, anna, instance_id="")

    report = messaging.check_connection(anna, account)

    assert report.is_connected
    assert read_account(crm, anna, account).instance_id == "channel-1"


def test_given_no_channel_id_and_two_fitting_channels_then_none_is_taken(
    crm: Crm, anna: Actor, messaging: MessagingUseCases, gateway: FakeGateway
) -> None:
    gateway.channel_list.append(
        gateway.channel_list[0].__class__("channel-2", "whatsapp", "7", "active")
    )
    account = an_account(messaging, anna, instance_id="")

    report = messaging.check_connection(anna, account)

    assert not report.is_connected and "several" in (report.error or "")
    assert read_account(crm, anna, account).instance_id == ""


@pytest.mark.parametrize(
    ("arrange", "words"),
    [
        (lambda gateway: setattr(gateway, "channels_failure", ProviderRejectedKey()), "401"),
        (lambda gateway: gateway.channel("active", channel_id="other"), "not found"),
        (lambda gateway: gateway.channel("qr"), "qr"),
        (lambda gateway: gateway.channel("active", chat_type="telegram"), "telegram"),
        (
            lambda gateway: setattr(gateway, "channels_failure", ProviderTimedOut("timed out")),
            "timed out",
        ),
        (
            lambda gateway: setattr(gateway, "channels_failure", ProviderFailed("network down")),
            "network down",
        ),
    ],
    ids=["rejected-key", "missing-channel", "qr", "wrong-transport", "timeout", "network"],
)
def test_given_a_broken_link_when_checked_then_the_report_names_the_cause_and_it_is_saved(
    crm: Crm,
    anna: Actor,
    messaging: MessagingUseCases,
    gateway: FakeGateway,
    account: AccountId,
    arrange: Any,
    words: str,
) -> None:
    arrange(gateway)

    report = messaging.check_connection(anna, account)

    assert not report.is_connected
    assert report.error is not None and words in report.error
    saved = read_account(crm, anna, account)
    assert not saved.is_connected and words in saved.last_error
    assert saved.last_sync == crm.clock.now()


def test_given_a_qr_channel_when_checked_then_its_state_is_saved(
    crm: Crm, anna: Actor, messaging: MessagingUseCases, gateway: FakeGateway, account: AccountId
) -> None:
    gateway.channel("qr")

    report = messaging.check_connection(anna, account)

    assert report.state == "qr"
    assert read_account(crm, anna, account).channel_state == "qr"


def test_given_a_manager_when_checking_the_connection_then_it_runs(
    crm: Crm, anna: Actor, messaging: MessagingUseCases, account: AccountId
) -> None:
    manager = crm.company("ООО Ромашка", Role.MANAGER)

    assert messaging.check_connection(manager, account).is_connected


# --- sending ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "to", ["+7 999 123-45-67", "89991234567", "79991234567", "8 (999) 123 45 67"]
)
def test_given_a_phone_in_any_common_form_when_sending_then_it_goes_as_digits_and_is_sent(
    crm: Crm,
    anna: Actor,
    messaging: MessagingUseCases,
    gateway: FakeGateway,
    account: AccountId,
    to: str,
) -> None:
    message_id = messaging.send_message(anna, account, to=to, text="Здравствуйте!")

    [sent] = gateway.sent
    assert (sent.chat_id, sent.phone, sent.username) == ("79991234567", None, None)
    assert (sent.crm_message_id, sent.channel_id, sent.text) == (
        str(message_id),
        "channel-1",
        "Здравствуйте!",
    )
    message = read_message(crm, anna, message_id)
    assert (message.status, message.provider_message_id, message.is_incoming) == (
        MessageStatus.SENT,
        "provider-1",
        False,
    )
    assert (message.chat_id, message.to_number, message.error) == (
        "79991234567",
        "79991234567",
        None,
    )


def test_given_a_send_then_the_message_is_stored_pending_before_the_provider_is_called(
    crm: Crm, anna: Actor, messaging: MessagingUseCases, gateway: FakeGateway, account: AccountId
) -> None:
    seen: list[MessageStatus] = []
    gateway.during_send = lambda outgoing, _: seen.extend(
        m.status for m in messages(crm) if str(m.id) == outgoing.crm_message_id
    )

    messaging.send_message(anna, account, to="79991234567", text="Привет")

    assert seen == [MessageStatus.PENDING]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"text": ""}, "message"),
        ({"text": "   "}, "message"),
        ({"text": "я" * 10_001}, "message"),
        ({"text": "x", "message_type": "sticker"}, "message_type"),
        ({"message_type": "image"}, "media_url"),
        ({"text": "x", "to": "not a phone"}, "to"),
        ({"text": "x", "to": None}, "to"),
    ],
)
def test_given_bad_input_when_sending_then_it_is_refused_and_nothing_is_stored_or_sent(
    crm: Crm,
    anna: Actor,
    messaging: MessagingUseCases,
    gateway: FakeGateway,
    account: AccountId,
    fields: dict[str, Any],
    field: str,
) -> None:
    values = {"to": "79991234567", **fields}

    with pytest.raises(ValidationFailed) as refused:
        messaging.send_message(anna, account, **values)

    assert field in refused.value.errors
    assert (gateway.sent, messages(crm)) == ([], [])


@pytest.mark.parametrize(
    ("chat_type", "limit"), [("telegram", 4_096), ("instagram", 1_000), ("vk", 1_000)]
)
def test_given_a_chat_type_then_its_text_limit_holds(
    anna: Actor, messaging: MessagingUseCases, gateway: FakeGateway, chat_type: str, limit: int
) -> None:
    gateway.channel(chat_type=chat_type)
    account = an_account(messaging, anna, chat_type=chat_type)

    with pytest.raises(ValidationFailed):
        messaging.send_message(anna, account, to="12345", text="x" * (limit + 1))
    messaging.send_message(anna, account, to="12345", text="x" * limit)

    assert len(gateway.sent) == 1


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"is_active": False}, "inactive"),
        ({"instance_id": ""}, "instance_id"),
    ],
)
def test_given_an_account_that_cannot_send_then_the_send_is_a_conflict_saying_what_to_do(
    crm: Crm,
    anna: Actor,
    messaging: MessagingUseCases,
    gateway: FakeGateway,
    fields: dict[str, Any],
    words: str,
) -> None:
    account = an_account(messaging, anna, **fields)

    with pytest.raises(Conflict) as refused:
        messaging.send_message(anna, account, to="79991234567", text="Привет")

    assert words in refused.value.detail
    assert (gateway.sent, messages(crm)) == ([], [])


def test_given_a_known_state_that_is_not_active_then_the_send_is_refused_without_asking(
    crm: Crm, anna: Actor, messaging: MessagingUseCases, gateway: FakeGateway, account: AccountId
) -> None:
    messaging.receive(account, [ChannelItem("channel-1", "qr")])

    with pytest.raises(Conflict) as refused:
        messaging.send_message(anna, account, to="79991234567", text="Привет")

    assert "qr" in refused.value.detail
    assert (gateway.sent, gateway.channel_checks, messages(crm)) == ([], 0, [])


def test_given_a_state_never_checked_then_it_is_checked_once_before_the_first_send(
    anna: Actor, messaging: MessagingUseCases, gateway: FakeGateway, account: AccountId
) -> None:
    messaging.send_message(anna, account, to="79991234567", text="Первое")
    messaging.send_message(anna, account, to="79991234567", text="Второе")

    assert (gateway.channel_checks, len(gateway.sent)) == (1, 2)


@pytest.mark.parametrize(
    ("arrange", "words"),
    [
        (lambda gateway: gateway.channel("qr"), "qr"),
        (lambda gateway: setattr(gateway, "channels_failure", ProviderRejectedKey()), "401"),
        (lambda gateway: setattr(gateway, "channel_list", []), "not found"),
    ],
    ids=["qr", "rejected-key", "no-channels"],
)
def test_given_a_first_check_that_finds_a_fault_then_nothing_is_sent(
    crm: Crm,
    anna: Actor,
    messaging: MessagingUseCases,
    gateway: FakeGateway,
    account: AccountId,
    arrange: Any,
    words: str,
) -> None:
    arrange(gateway)

    with pytest.raises(Conflict) as refused:
        messaging.send_message(anna, account, to="79991234567", text="Привет")

    assert words in refused.value.detail
    assert (gateway.sent, messages(crm)) == ([], [])


def test_given_a_provider_refusal_then_the_message_is_kept_failed_with_the_error(
    crm: Crm, anna: Actor, messaging: MessagingUseCases, gateway: FakeGateway, account: AccountId
) -> None:
    gateway.send_failure = ProviderRefused("BAD_CONTACT", "No such WhatsApp account", 400)

    with pytest.raises(MessageNotSent) as failed:
        messaging.send_message(anna, account, to="79991234567", text="Привет")

    assert isinstance(failed.value, ProviderFailed)
    assert not isinstance(failed.value, ProviderTimedOut)
    [message] = messages(crm)
    assert failed.value.message_id == message.id
    assert message.status == MessageStatus.FAILED
    assert message.error == {"code": "BAD_CONTACT", "description": "No such WhatsApp account"}


def test_given_a_timeout_then_the_message_is_kept_failed_and_not_sent_again(
    crm: Crm, anna: Actor, messaging: MessagingUseCases, gateway: FakeGateway, account: AccountId
) -> None:
    gateway.send_failure = ProviderTimedOut("The provider did not answer within 30 s.")

    with pytest.raises(MessageSendTimedOut) as failed:
        messaging.send_message(anna, account, to="79991234567", text="Привет")

    assert isinstance(failed.value, ProviderTimedOut)
    assert len(gateway.attempts) == 1
    [message] = messages(crm)
    assert (message.status, failed.value.message_id) == (MessageStatus.FAILED, message.id)
    assert message.error is not None and message.error["code"] == "TIMEOUT"
    assert "30 s" in message.error["description"]


def test_given_a_network_error_then_the_message_is_kept_failed(
    crm: Crm, anna: Actor, messaging: MessagingUseCases, gateway: FakeGateway, account: AccountId
) -> None:
    gateway.send_failure = ProviderFailed("Connection refused")

    with pytest.raises(MessageNotSent):
        messaging.send_message(anna, account, to="79991234567", text="Привет")

    [message] = messages(crm)
    assert message.error == {"code": "PROVIDER_FAILED", "description": "Connection refused"}


@pytest.mark.parametrize(
    ("to", "chat_id", "phone", "username", "stored"),
    [
        ("@durov", None, None, "durov", "@durov"),
        ("+7 999 123-45-67", None, "79991234567", None, "+79991234567"),
        ("123456789", "123456789", None, None, "123456789"),
    ],
)
def test_given_telegram_when_sending_then_the_form_of_to_says_how_it_is_addressed(
    crm: Crm,
    anna: Actor,
    messaging: MessagingUseCases,
    gateway: FakeGateway,
    to: str,
    chat_id: str | None,
    phone: str | None,
    username: str | None,
    stored: str,
) -> None:
    gateway.channel(chat_type="telegram")
    account = an_account(messaging, anna, chat_type="telegram")

    message_id = messaging.send_message(anna, account, to=to, text="Привет")

    [sent] = gateway.sent
    assert (sent.chat_id, sent.phone, sent.username) == (chat_id, phone, username)
    assert read_message(crm, anna, message_id).chat_id == stored


def test_given_instagram_when_sending_then_the_handle_is_the_chat(
    anna: Actor, messaging: MessagingUseCases, gateway: FakeGateway
) -> None:
    gateway.channel(chat_type="instagram")
    account = an_account(messaging, anna, chat_type="instagram")

    messaging.send_message(anna, account, to="@shop.client", text="Привет")

    assert gateway.sent[0].chat_id == "shop.client"


def test_given_a_contact_when_sending_then_its_whatsapp_number_comes_before_its_phone(
    crm: Crm, anna: Actor, messaging: MessagingUseCases, gateway: FakeGateway, account: AccountId
) -> None:
    contact_id = crm.contact(anna, phone="+7 999 111-11-11", whatsapp="+7 999 222-22-22")

    message_id = messaging.send_message(anna, account, contact_id=contact_id, text="Привет")

    assert gateway.sent[0].chat_id == "79992222222"
    assert read_message(crm, anna, message_id).contact_id == contact_id


def test_given_a_contact_without_whatsapp_when_sending_then_its_phone_is_used(
    crm: Crm, anna: Actor, messaging: MessagingUseCases, gateway: FakeGateway, account: AccountId
) -> None:
    contact_id = crm.contact(anna, phone="+7 999 111-11-11")

    messaging.send_message(anna, account, contact_id=contact_id, text="Привет")

    assert gateway.sent[0].chat_id == "79991111111"


def test_given_several_contacts_with_the_number_then_the_oldest_gets_the_message(
    crm: Crm, anna: Actor, messaging: MessagingUseCases, account: AccountId
) -> None:
    oldest = crm.contact(anna, phone="+7 999 123-45-67")
    crm.clock.advance(minutes=1)
    crm.contact(anna, phone="+7 999 123-45-67", first_name="Дубль")

    message_id = messaging.send_message(anna, account, to="79991234567", text="Привет")

    assert read_message(crm, anna, message_id).contact_id == oldest


def test_given_a_number_nobody_has_exactly_then_a_new_contact_is_named_by_it(
    crm: Crm, anna: Actor, messaging: MessagingUseCases, account: AccountId
) -> None:
    crm.contact(anna, phone="+7 999 123-45-68")  # one digit off

    message_id = messaging.send_message(anna, account, to="+7 999 123-45-67", text="Привет")

    contact = read_contact(crm, anna, read_message(crm, anna, message_id).contact_id)
    assert (contact.first_name, contact.source, str(contact.phone)) == (
        "+79991234567",
        "whatsapp",
        "+79991234567",
    )


def test_given_a_send_then_a_message_activity_is_on_the_contact_and_its_open_lead(
    crm: Crm, anna: Actor, messaging: MessagingUseCases, account: AccountId
) -> None:
    contact_id = crm.contact(anna)
    funnel = crm.funnel(anna)
    lead_id = crm.leads.create_lead(
        anna, CreateLead(contact_id=contact_id, funnel_id=funnel.id, title="Диван")
    )

    message_id = messaging.send_message(anna, account, contact_id=contact_id, text="Привет")

    assert read_message(crm, anna, message_id).lead_id == lead_id
    [activity] = message_activities(crm)
    assert (activity.contact_id, activity.lead_id, activity.user_id) == (
        contact_id,
        lead_id,
        anna.user_id,
    )
    assert activity.description == "Привет"


def test_given_a_lead_of_another_contact_when_sending_then_it_is_refused(
    crm: Crm, anna: Actor, messaging: MessagingUseCases, gateway: FakeGateway, account: AccountId
) -> None:
    funnel = crm.funnel(anna)
    other = crm.contact(anna, phone="+7 999 000-00-01")
    lead_id = crm.leads.create_lead(
        anna, CreateLead(contact_id=other, funnel_id=funnel.id, title="Чужой")
    )

    with pytest.raises(ValidationFailed) as refused:
        messaging.send_message(
            anna, account, contact_id=crm.contact(anna), lead_id=lead_id, text="Привет"
        )

    assert "lead" in refused.value.errors and gateway.sent == []


def test_given_only_a_lead_when_sending_then_its_contact_is_the_recipient(
    crm: Crm, anna: Actor, messaging: MessagingUseCases, gateway: FakeGateway, account: AccountId
) -> None:
    funnel = crm.funnel(anna)
    contact_id = crm.contact(anna, phone="+7 999 555-44-33")
    lead_id = crm.leads.create_lead(
        anna, CreateLead(contact_id=contact_id, funnel_id=funnel.id, title="Диван")
    )

    message_id = messaging.send_message(anna, account, lead_id=lead_id, text="Привет")

    assert gateway.sent[0].chat_id == "79995554433"
    assert read_message(crm, anna, message_id).lead_id == lead_id


def test_given_media_with_text_then_two_messages_are_sent_media_first(
    crm: Crm, anna: Actor, messaging: MessagingUseCases, gateway: FakeGateway, account: AccountId
) -> None:
    url = "https://files.example/invoice.pdf"

    media_id = messaging.send_message(
        anna, account, to="79991234567", message_type="document", media_url=url, text="Счёт"
    )

    assert [(s.content_uri, s.text) for s in gateway.sent] == [(url, None), (None, "Счёт")]
    media, caption = messages(crm)
    assert media.id == media_id
    assert (media.message_type, media.media_url, media.caption) == (
        MessageType.DOCUMENT,
        url,
        "Счёт",
    )
    assert (caption.message_type, caption.text) == (MessageType.TEXT, "Счёт")
    assert caption.metadata["caption_of"] == str(media_id)
    assert media.metadata["caption"] == str(caption.id)
    assert [m.status for m in (media, caption)] == [MessageStatus.SENT] * 2
    assert len(message_activities(crm)) == 1


def test_given_media_alone_then_one_message_is_sent(
    crm: Crm, anna: Actor, messaging: MessagingUseCases, gateway: FakeGateway, account: AccountId
) -> None:
    messaging.send_message(
        anna, account, to="79991234567", message_type="image", media_url="https://f.example/a.jpg"
    )

    assert len(gateway.sent) == 1 and len(messages(crm)) == 1


def test_given_media_that_fails_then_its_text_is_kept_failed_unsent(
    crm: Crm, anna: Actor, messaging: MessagingUseCases, gateway: FakeGateway, account: AccountId
) -> None:
    gateway.send_failure = ProviderRefused("MESSAGE_DOWNLOAD_CONTENT_ERROR", "Cannot download")

    with pytest.raises(MessageNotSent):
        messaging.send_message(
            anna,
            account,
            to="79991234567",
            message_type="image",
            media_url="https://x/a.jpg",
            text="Фото",
        )

    media, caption = messages(crm)
    assert (media.status, caption.status) == (MessageStatus.FAILED, MessageStatus.FAILED)
    assert caption.error is not None and caption.error["code"] == "NOT_SENT"
    assert gateway.sent == []


def test_given_an_idempotency_key_when_repeated_then_the_first_message_returns_and_nothing_is_sent(
    crm: Crm, anna: Actor, messaging: MessagingUseCases, gateway: FakeGateway, account: AccountId
) -> None:
    first = messaging.send_message(
        anna, account, to="79991234567", text="Привет", idempotency_key="k-1"
    )
    crm.clock.advance(hours=23)

    again = messaging.send_message(
        anna, account, to="79991234567", text="Привет", idempotency_key="k-1"
    )

    assert again == first
    assert (len(gateway.sent), len(messages(crm))) == (1, 1)


def test_given_an_idempotency_key_older_than_a_day_then_the_message_is_sent_again(
    crm: Crm, anna: Actor, messaging: MessagingUseCases, gateway: FakeGateway, account: AccountId
) -> None:
    first = messaging.send_message(
        anna, account, to="79991234567", text="Привет", idempotency_key="k"
    )
    crm.clock.advance(hours=24, seconds=1)

    again = messaging.send_message(
        anna, account, to="79991234567", text="Привет", idempotency_key="k"
    )

    assert again != first and len(gateway.sent) == 2


def test_given_an_idempotency_key_of_a_failed_send_then_the_repeat_fails_alike_and_sends_nothing(
    crm: Crm, anna: Actor, messaging: MessagingUseCases, gateway: FakeGateway, account: AccountId
) -> None:
    gateway.send_failure = ProviderTimedOut("timed out")
    with pytest.raises(MessageSendTimedOut) as first:
        messaging.send_message(anna, account, to="79991234567", text="Привет", idempotency_key="k")
    gateway.send_failure = None

    with pytest.raises(MessageSendTimedOut) as again:
        messaging.send_message(anna, account, to="79991234567", text="Привет", idempotency_key="k")

    assert again.value.message_id == first.value.message_id
    assert (gateway.sent, len(messages(crm))) == ([], 1)


def test_given_the_same_idempotency_key_in_two_companies_then_both_send(
    anna: Actor,
    boris: Actor,
    messaging: MessagingUseCases,
    gateway: FakeGateway,
    account: AccountId,
) -> None:
    theirs = an_account(messaging, boris)

    mine = messaging.send_message(anna, account, to="79991234567", text="A", idempotency_key="k")
    other = messaging.send_message(boris, theirs, to="79991234567", text="B", idempotency_key="k")

    assert mine != other and len(gateway.sent) == 2


# --- retry --------------------------------------------------------------------------------------


def test_given_a_failed_message_when_retried_then_it_is_sent_under_the_same_id(
    crm: Crm, anna: Actor, messaging: MessagingUseCases, gateway: FakeGateway, account: AccountId
) -> None:
    gateway.send_failure = ProviderRefused("CHANNEL_LIMIT_EXCEEDED", "Too many")
    with pytest.raises(MessageNotSent) as failed:
        messaging.send_message(anna, account, to="79991234567", text="Привет")
    gateway.send_failure = None

    messaging.retry_message(anna, failed.value.message_id)

    [sent] = gateway.sent
    assert sent.crm_message_id == str(failed.value.message_id) and sent.chat_id == "79991234567"
    [message] = messages(crm)
    assert (message.status, message.error, message.provider_message_id) == (
        MessageStatus.SENT,
        None,
        "provider-1",
    )


def test_given_a_retry_that_fails_again_then_the_new_error_is_kept(
    crm: Crm, anna: Actor, messaging: MessagingUseCases, gateway: FakeGateway, account: AccountId
) -> None:
    gateway.send_failure = ProviderRefused("CHANNEL_LIMIT_EXCEEDED", "Too many")
    with pytest.raises(MessageNotSent) as failed:
        messaging.send_message(anna, account, to="79991234567", text="Привет")
    gateway.send_failure = ProviderRefused("BAD_CONTACT", "No account")

    with pytest.raises(MessageNotSent):
        messaging.retry_message(anna, failed.value.message_id)

    [message] = messages(crm)
    assert message.error == {"code": "BAD_CONTACT", "description": "No account"}


def test_given_a_telegram_username_send_that_failed_then_the_retry_addresses_it_alike(
    anna: Actor, messaging: MessagingUseCases, gateway: FakeGateway
) -> None:
    gateway.channel(chat_type="telegram")
    account = an_account(messaging, anna, chat_type="telegram")
    gateway.send_failure = ProviderFailed("down")
    with pytest.raises(MessageNotSent) as failed:
        messaging.send_message(anna, account, to="@durov", text="Привет")
    gateway.send_failure = None

    messaging.retry_message(anna, failed.value.message_id)

    assert (gateway.sent[0].username, gateway.sent[0].chat_id) == ("durov", None)


def test_given_a_sent_or_incoming_message_then_a_retry_is_a_conflict(
    crm: Crm, anna: Actor, messaging: MessagingUseCases, gateway: FakeGateway, account: AccountId
) -> None:
    sent = messaging.send_message(anna, account, to="79991234567", text="Привет")
    messaging.receive(account, [incoming("w-9")])
    received = next(m for m in messages(crm) if m.is_incoming)

    for message_id in (sent, received.id):
        with pytest.raises(Conflict):
            messaging.retry_message(anna, message_id)
    assert len(gateway.sent) == 1


def test_given_another_companys_message_then_a_retry_is_not_found(
    anna: Actor,
    boris: Actor,
    messaging: MessagingUseCases,
    gateway: FakeGateway,
    account: AccountId,
) -> None:
    gateway.send_failure = ProviderFailed("down")
    with pytest.raises(MessageNotSent) as failed:
        messaging.send_message(anna, account, to="79991234567", text="Привет")

    with pytest.raises(NotFound):
        messaging.retry_message(boris, failed.value.message_id)


# --- receiving: messages ----------------------------------------------------------------------


def test_given_a_new_chat_when_a_message_arrives_then_contact_lead_and_activity_are_made(
    crm: Crm, anna: Actor, messaging: MessagingUseCases
) -> None:
    funnel = crm.funnel(anna)
    account = an_account(messaging, anna, default_funnel_id=funnel.id)

    report = messaging.receive(account, [incoming("w-1")])

    assert (report.created, report.updated, report.pending, report.errors) == (1, 0, (), ())
    [message] = messages(crm)
    assert (message.is_incoming, message.status, message.is_read) == (
        True,
        MessageStatus.DELIVERED,
        False,
    )
    assert (message.provider_message_id, message.chat_id, message.timestamp) == (
        "w-1",
        "79991234567",
        WHEN,
    )
    [contact] = contacts(crm)
    assert (contact.first_name, contact.source, str(contact.phone)) == (
        "Иван Петров",
        "whatsapp",
        "+79991234567",
    )
    [lead] = leads(crm)
    assert (lead.funnel_id, lead.stage_id, lead.source, lead.title) == (
        funnel.id,
        funnel.ordered_stages[0].id,
        "whatsapp",
        "WhatsApp: Иван Петров",
    )
    assert (message.contact_id, message.lead_id) == (contact.id, lead.id)
    [activity] = message_activities(crm)
    assert (activity.contact_id, activity.lead_id) == (contact.id, lead.id)


def test_given_the_same_delivery_twice_then_nothing_is_added(
    crm: Crm, anna: Actor, messaging: MessagingUseCases
) -> None:
    account = an_account(messaging, anna, default_funnel_id=sales_funnel(crm, anna))
    delivery = [incoming("w-1"), incoming("w-2", text="Алло?")]
    messaging.receive(account, delivery)

    report = messaging.receive(account, delivery)

    assert (report.created, report.updated) == (0, 0)
    assert (len(messages(crm)), len(contacts(crm)), len(leads(crm))) == (2, 1, 1)
    assert len(message_activities(crm)) == 2


def test_given_a_sender_without_a_name_then_the_contact_is_named_by_the_number(
    crm: Crm, anna: Actor, messaging: MessagingUseCases, account: AccountId
) -> None:
    messaging.receive(account, [incoming(contact_name="")])

    assert contacts(crm)[0].first_name == "+79991234567"


def test_given_contacts_with_the_number_then_the_oldest_exact_match_is_the_sender(
    crm: Crm, anna: Actor, messaging: MessagingUseCases, account: AccountId
) -> None:
    crm.contact(anna, phone="+7 999 123-45-68")  # another number
    oldest = crm.contact(anna, phone="+79991112233", whatsapp="+7 999 123-45-67")
    crm.clock.advance(minutes=1)
    crm.contact(anna, phone_secondary="+7 999 123-45-67", email="x@example.com")

    messaging.receive(account, [incoming()])

    assert messages(crm)[0].contact_id == oldest
    assert len(contacts(crm)) == 3


def test_given_a_number_that_only_contains_a_contacts_number_then_a_new_contact_is_made(
    crm: Crm, anna: Actor, messaging: MessagingUseCases, account: AccountId
) -> None:
    existing = crm.contact(anna, phone="+7 999 123-45-67")

    messaging.receive(account, [incoming(chat_id="379991234567")])

    assert messages(crm)[0].contact_id != existing
    assert len(contacts(crm)) == 2


def test_given_a_chat_id_without_a_number_then_the_contact_phone_is_the_fallback(
    crm: Crm, anna: Actor, messaging: MessagingUseCases, account: AccountId
) -> None:
    existing = crm.contact(anna, phone="+7 999 123-45-67")

    messaging.receive(account, [incoming(chat_id="", contact_phone="79991234567")])

    assert messages(crm)[0].contact_id == existing


def test_given_a_contact_with_an_open_lead_then_the_message_joins_it_and_no_lead_is_made(
    crm: Crm, anna: Actor, messaging: MessagingUseCases
) -> None:
    funnel = crm.funnel(anna)
    account = an_account(messaging, anna, default_funnel_id=funnel.id)
    contact_id = crm.contact(anna, phone="+7 999 123-45-67")
    lead_id = crm.leads.create_lead(
        anna, CreateLead(contact_id=contact_id, funnel_id=funnel.id, title="Диван")
    )

    messaging.receive(account, [incoming()])

    assert messages(crm)[0].lead_id == lead_id and len(leads(crm)) == 1


@pytest.mark.parametrize("fields", [{"auto_create_leads": False}, {}])
def test_given_no_default_funnel_or_no_auto_leads_then_no_lead_is_made(
    crm: Crm, anna: Actor, messaging: MessagingUseCases, fields: dict[str, Any]
) -> None:
    if fields:
        fields["default_funnel_id"] = sales_funnel(crm, anna)
    account = an_account(messaging, anna, **fields)

    messaging.receive(account, [incoming()])

    assert leads(crm) == [] and messages(crm)[0].lead_id is None


def test_given_outgoing_messages_then_they_never_make_leads(
    crm: Crm, anna: Actor, messaging: MessagingUseCases, gateway: FakeGateway
) -> None:
    account = an_account(messaging, anna, default_funnel_id=sales_funnel(crm, anna))

    messaging.send_message(anna, account, to="79990000001", text="Привет")
    messaging.receive(account, [echo("w-app", chat_id="79990000002", author_name="Анна")])

    assert leads(crm) == []
    assert len(messages(crm)) == 2


def test_given_an_echo_written_in_the_provider_then_it_is_an_outgoing_message_with_its_author(
    crm: Crm, anna: Actor, messaging: MessagingUseCases, account: AccountId
) -> None:
    report = messaging.receive(account, [echo("w-app", author_name="Анна", text="Да, продаётся")])

    [message] = messages(crm)
    assert report.created == 1
    assert (message.is_incoming, message.status, message.author_name, message.text) == (
        False,
        MessageStatus.SENT,
        "Анна",
        "Да, продаётся",
    )
    assert len(message_activities(crm)) == 1


def test_given_an_edit_or_deletion_then_the_row_changes_and_none_is_added(
    crm: Crm, anna: Actor, messaging: MessagingUseCases, account: AccountId
) -> None:
    messaging.receive(account, [incoming("w-1", text="Добрый день")])

    edited = messaging.receive(account, [incoming("w-1", text="Добрый вечер", is_edited=True)])
    deleted = messaging.receive(account, [incoming("w-1", text="", is_deleted=True)])

    [message] = messages(crm)
    assert (edited.updated, deleted.updated) == (1, 1)
    assert (message.text, message.is_edited, message.is_deleted) == ("Добрый вечер", True, True)
    assert len(message_activities(crm)) == 1


def test_given_media_types_then_they_are_kept_with_their_link(
    crm: Crm, anna: Actor, messaging: MessagingUseCases, account: AccountId
) -> None:
    messaging.receive(
        account,
        [incoming("w-1", message_type=MessageType.IMAGE, text="", media_url="https://store/x.jpg")],
    )

    [message] = messages(crm)
    assert (message.message_type, message.media_url) == (MessageType.IMAGE, "https://store/x.jpg")


def test_given_a_bad_item_then_it_is_skipped_and_named_and_the_rest_is_applied(
    crm: Crm, anna: Actor, messaging: MessagingUseCases, account: AccountId
) -> None:
    report = messaging.receive(
        account,
        [
            incoming(""),
            incoming("w-2", chat_id="", contact_phone=""),
            incoming("w-3"),
            StatusItem("w-3", MessageStatus.READ),
        ],
    )

    assert report.created == 1
    assert [error.index for error in report.errors] == [0, 1]
    assert "chat" in report.errors[1].detail
    assert [m.provider_message_id for m in messages(crm)] == ["w-3"]


def test_given_a_message_of_another_channel_then_it_is_skipped(
    crm: Crm, anna: Actor, messaging: MessagingUseCases, account: AccountId
) -> None:
    report = messaging.receive(
        account, [incoming(channel_id="channel-9"), incoming("w-2", channel_id="channel-1")]
    )

    assert report.created == 1 and [e.index for e in report.errors] == [0]


def test_given_an_unknown_account_then_the_delivery_is_not_found(
    messaging: MessagingUseCases,
) -> None:
    with pytest.raises(NotFound):
        messaging.receive(AccountId(new_id()), [incoming()])


def test_given_telegram_chats_then_the_sender_is_found_again_by_chat_id(
    crm: Crm, anna: Actor, messaging: MessagingUseCases, gateway: FakeGateway
) -> None:
    account = an_account(messaging, anna, chat_type="telegram")
    tg = {"chat_type": ChatType.TELEGRAM, "chat_id": "500100200"}

    messaging.receive(account, [incoming("t-1", **tg)])
    messaging.receive(account, [incoming("t-2", **tg)])

    [contact] = contacts(crm)
    assert (contact.telegram, contact.source) == ("500100200", "telegram")
    assert {m.contact_id for m in messages(crm)} == {contact.id}


def test_given_a_chat_type_without_a_contact_field_then_the_chat_finds_its_contact_again(
    crm: Crm, anna: Actor, messaging: MessagingUseCases
) -> None:
    account = an_account(messaging, anna, chat_type="vk")
    vk = {"chat_type": ChatType.VK, "chat_id": "id777"}

    messaging.receive(account, [incoming("v-1", **vk)])
    crm.clock.advance(minutes=1)
    messaging.receive(account, [incoming("v-2", **vk)])

    assert len(contacts(crm)) == 1
    assert len({m.contact_id for m in messages(crm)}) == 1


def test_given_another_companys_contact_with_the_number_then_it_is_never_the_sender(
    crm: Crm, anna: Actor, boris: Actor, messaging: MessagingUseCases, account: AccountId
) -> None:
    theirs = crm.contact(boris, phone="+7 999 123-45-67")

    messaging.receive(account, [incoming()])

    assert messages(crm)[0].contact_id != theirs
    assert read_contact(crm, anna, messages(crm)[0].contact_id).company_id == anna.company_id


# --- receiving: statuses and echoes of our own sends ------------------------------------------


def sent_message(messaging: MessagingUseCases, actor: Actor, account: AccountId) -> MessageId:
    return messaging.send_message(actor, account, to="79991234567", text="Привет")


def test_given_statuses_out_of_order_then_the_most_advanced_stays(
    crm: Crm, anna: Actor, messaging: MessagingUseCases, account: AccountId
) -> None:
    message_id = sent_message(messaging, anna, account)

    report = messaging.receive(
        account,
        [
            StatusItem("provider-1", MessageStatus.READ),
            StatusItem("provider-1", MessageStatus.DELIVERED),
            StatusItem("provider-1", MessageStatus.SENT),
        ],
    )

    assert report.updated == 1
    assert read_message(crm, anna, message_id).status == MessageStatus.READ


def test_given_an_error_status_then_it_is_final_with_its_error(
    crm: Crm, anna: Actor, messaging: MessagingUseCases, account: AccountId
) -> None:
    message_id = sent_message(messaging, anna, account)

    messaging.receive(
        account,
        [
            StatusItem("provider-1", MessageStatus.FAILED, DeliveryError("BAD_CONTACT", "No such")),
            StatusItem("provider-1", MessageStatus.READ),
        ],
    )

    message = read_message(crm, anna, message_id)
    assert (message.status, message.error) == (
        MessageStatus.FAILED,
        {"code": "BAD_CONTACT", "description": "No such"},
    )


def test_given_a_status_of_an_unknown_message_then_it_is_pending_until_offered_again(
    crm: Crm, anna: Actor, messaging: MessagingUseCases, account: AccountId
) -> None:
    early = StatusItem("provider-1", MessageStatus.DELIVERED)

    report = messaging.receive(account, [early])
    message_id = sent_message(messaging, anna, account)
    later = messaging.receive(account, list(report.pending))

    assert report.pending == (early,) and not report.is_complete
    assert later.is_complete and later.updated == 1
    assert read_message(crm, anna, message_id).status == MessageStatus.DELIVERED
    assert len(messages(crm)) == 1


def test_given_an_echo_naming_our_id_before_the_send_answer_then_one_row_ends_most_advanced(
    crm: Crm, anna: Actor, messaging: MessagingUseCases, gateway: FakeGateway, account: AccountId
) -> None:
    def webhook_during_send(outgoing: OutgoingMessage, provider_id: str) -> None:
        messaging.receive(
            account,
            [
                echo(provider_id, text=outgoing.text, crm_message_id=outgoing.crm_message_id),
                StatusItem(provider_id, MessageStatus.DELIVERED),
            ],
        )

    gateway.during_send = webhook_during_send

    message_id = sent_message(messaging, anna, account)

    [message] = messages(crm)
    assert message.id == message_id
    assert (message.provider_message_id, message.status) == ("provider-1", MessageStatus.DELIVERED)
    assert len(message_activities(crm)) == 1


def test_given_an_anonymous_echo_before_the_send_answer_then_it_is_merged_into_one_row(
    crm: Crm, anna: Actor, messaging: MessagingUseCases, gateway: FakeGateway, account: AccountId
) -> None:
    def webhook_during_send(outgoing: OutgoingMessage, provider_id: str) -> None:
        messaging.receive(
            account,
            [echo(provider_id, text=outgoing.text), StatusItem(provider_id, MessageStatus.READ)],
        )

    gateway.during_send = webhook_during_send

    message_id = sent_message(messaging, anna, account)

    [message] = messages(crm)
    assert message.id == message_id
    assert (message.provider_message_id, message.status) == ("provider-1", MessageStatus.READ)


def test_given_an_echo_after_the_send_answer_then_it_updates_our_row(
    crm: Crm, anna: Actor, messaging: MessagingUseCases, account: AccountId
) -> None:
    message_id = sent_message(messaging, anna, account)

    report = messaging.receive(
        account,
        [echo("provider-1", status=MessageStatus.DELIVERED, crm_message_id=str(message_id))],
    )

    [message] = messages(crm)
    assert (report.created, report.updated) == (0, 1)
    assert (message.id, message.status) == (message_id, MessageStatus.DELIVERED)


def test_given_an_echo_naming_an_id_that_is_not_ours_then_it_is_a_message_of_its_own(
    crm: Crm, anna: Actor, messaging: MessagingUseCases, account: AccountId
) -> None:
    report = messaging.receive(account, [echo("w-x", crm_message_id="crm-msg-000123")])

    assert report.created == 1 and len(messages(crm)) == 1


def test_given_an_echo_with_an_error_then_the_new_row_is_failed_with_it(
    crm: Crm, anna: Actor, messaging: MessagingUseCases, account: AccountId
) -> None:
    messaging.receive(
        account,
        [echo("w-x", status=MessageStatus.FAILED, error=DeliveryError("SPAM", "Rated as spam"))],
    )

    [message] = messages(crm)
    assert (message.status, message.error) == (
        MessageStatus.FAILED,
        {"code": "SPAM", "description": "Rated as spam"},
    )


# --- receiving: channel states ------------------------------------------------------------------


def test_given_a_channel_update_then_the_account_follows_its_own_channel_only(
    crm: Crm, anna: Actor, messaging: MessagingUseCases, account: AccountId
) -> None:
    messaging.check_connection(anna, account)

    report = messaging.receive(
        account, [ChannelItem("channel-1", "qr"), ChannelItem("channel-7", "active")]
    )

    saved = read_account(crm, anna, account)
    assert report.updated == 1
    assert (saved.channel_state, saved.is_connected) == ("qr", False)
    assert "qr" in saved.last_error

    messaging.receive(account, [ChannelItem("channel-1", "Active")])

    saved = read_account(crm, anna, account)
    assert (saved.channel_state, saved.is_connected, saved.last_error) == ("active", True, "")


# --- reading ------------------------------------------------------------------------------------


def test_given_incoming_messages_when_marked_read_one_or_several_then_the_count_is_returned(
    crm: Crm, anna: Actor, messaging: MessagingUseCases, account: AccountId
) -> None:
    messaging.receive(account, [incoming("w-1"), incoming("w-2"), incoming("w-3")])
    first, second, third = (m.id for m in messages(crm))
    sent = sent_message(messaging, anna, account)

    assert messaging.mark_read(anna, message_ids=[first]) == 1
    assert messaging.mark_read(anna, message_ids=[first, second, third, sent]) == 2
    assert all(m.is_read for m in messages(crm) if m.is_incoming)
    assert not read_message(crm, anna, sent).is_read


def test_given_a_contact_when_marked_read_then_all_its_incoming_messages_are_read(
    crm: Crm, anna: Actor, messaging: MessagingUseCases, account: AccountId
) -> None:
    messaging.receive(
        account, [incoming("w-1"), incoming("w-2"), incoming("w-3", chat_id="79990000000")]
    )
    contact_id = messages(crm)[0].contact_id
    assert contact_id is not None

    assert messaging.mark_read(anna, contact_id=contact_id) == 2
    assert messaging.mark_read(anna, contact_id=contact_id) == 0
    assert [m.is_read for m in messages(crm)] == [True, True, False]


def test_given_another_companys_message_then_mark_read_is_not_found(
    crm: Crm, anna: Actor, boris: Actor, messaging: MessagingUseCases, account: AccountId
) -> None:
    messaging.receive(account, [incoming()])

    with pytest.raises(NotFound):
        messaging.mark_read(boris, message_ids=[messages(crm)[0].id])
    assert not messages(crm)[0].is_read
