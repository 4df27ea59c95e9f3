"""Sending messages: stored before the provider is called, never lost, settled whatever the
order of the answer, the echo and the statuses; retries, the settle job, and reading."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

from crm_core import (
    Actor,
    ChatType,
    Conflict,
    MessageStatus,
    MessageType,
    NotFound,
    ProviderFailed,
    ProviderTimedOut,
    ValidationFailed,
)
from crm_core.errors import (
    MessageNotSent,
    MessageSendTimedOut,
    ProviderRateLimited,
    ProviderRefused,
    ProviderRejectedKey,
    ProviderUnreachable,
)
from crm_core.jobs import Done
from crm_core.messaging import SEND_SETTLE_AFTER
from crm_core.ports import OutgoingMessage
from crm_core.services.pipeline import CreateLead
from crm_core.services.sending import SETTLE_SEND
from crm_core.values import AccountId
from tests.fakes import AnswerLost, FakeGateway
from tests.unit.conftest import (
    Crm,
    Messaging,
    wazzup_channel,
    wazzup_echo,
    wazzup_message,
    wazzup_status,
)

TIMEOUT = ProviderTimedOut("The provider did not answer within 30 s.")
DROPPED = ProviderUnreachable("The connection to Wazzup dropped before its answer.", dropped=True)


@pytest.fixture
def gateway(messaging: Messaging) -> FakeGateway:
    return messaging.gateway


@pytest.fixture
def account(messaging: Messaging, anna: Actor) -> AccountId:
    """ООО Ромашка's WhatsApp account on `channel-1`, its state not checked yet."""
    return messaging.account(anna)


def telegram_account(messaging: Messaging, actor: Actor) -> AccountId:
    messaging.gateway.channel(chat_type="telegram")
    return messaging.account(actor, chat_type=ChatType.TELEGRAM)


def assert_one_activity_per_row(messaging: Messaging) -> None:
    """Every message row has exactly one `message` activity, whatever its outcome."""
    assert len(messaging.message_activities()) == len(messaging.messages())


# --- sending ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "to", ["+7 999 123-45-67", "89991234567", "79991234567", "8 (999) 123 45 67"]
)
def test_given_a_phone_in_any_common_form_when_sending_then_it_goes_as_digits_and_is_sent(
    anna: Actor, messaging: Messaging, gateway: FakeGateway, account: AccountId, to: str
) -> None:
    message_id = messaging.send(anna, account, to=to, text="Здравствуйте!")

    [sent] = gateway.sent
    assert (sent.chat_id, sent.phone, sent.username) == ("79991234567", None, None)
    assert (sent.crm_message_id, sent.channel_id, sent.text) == (
        str(message_id),
        "channel-1",
        "Здравствуйте!",
    )
    message = messaging.read_message(anna, message_id)
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
    assert messaging.chat_owner(account, "79991234567") == message.contact_id


def test_given_a_send_then_the_message_is_stored_pending_before_the_provider_is_called(
    anna: Actor, messaging: Messaging, gateway: FakeGateway, account: AccountId
) -> None:
    seen: list[MessageStatus] = []
    gateway.during_send = lambda outgoing, _: seen.extend(
        m.status for m in messaging.messages() if str(m.id) == outgoing.crm_message_id
    )

    messaging.send(anna, account)

    assert seen == [MessageStatus.PENDING]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"text": ""}, "message"),
        ({"text": "   "}, "message"),
        ({"text": "я" * 10_001}, "message"),
        ({"text": "x", "message_type": "sticker"}, "message_type"),
        ({"message_type": "image", "text": ""}, "media_url"),
        ({"message_type": "image", "media_url": "ftp://files.example/a.jpg"}, "media_url"),
        ({"message_type": "image", "media_url": "javascript:alert(1)"}, "media_url"),
        ({"message_type": "document", "media_url": "/files/a.pdf"}, "media_url"),
        ({"message_type": "image", "media_url": "https://"}, "media_url"),
        ({"text": "x", "to": "not a phone"}, "to"),
        ({"text": "x", "to": None}, "to"),
    ],
)
def test_given_bad_input_when_sending_then_it_is_refused_and_nothing_is_stored_or_sent(
    crm: Crm,
    anna: Actor,
    messaging: Messaging,
    gateway: FakeGateway,
    account: AccountId,
    fields: dict[str, Any],
    field: str,
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        messaging.send(anna, account, **fields)

    assert field in refused.value.errors
    assert (gateway.sent, messaging.messages(), crm.db.jobs(SETTLE_SEND)) == ([], [], [])


@pytest.mark.parametrize(
    ("chat_type", "limit"),
    [(ChatType.TELEGRAM, 4_096), (ChatType.INSTAGRAM, 1_000), (ChatType.VK, 1_000)],
)
def test_given_a_chat_type_then_its_text_limit_holds(
    anna: Actor, messaging: Messaging, gateway: FakeGateway, chat_type: ChatType, limit: int
) -> None:
    gateway.channel(chat_type=chat_type.value)
    account = messaging.account(anna, chat_type=chat_type)

    with pytest.raises(ValidationFailed):
        messaging.send(anna, account, to="12345", text="x" * (limit + 1))
    messaging.send(anna, account, to="12345", text="x" * limit)

    assert len(gateway.sent) == 1


@pytest.mark.parametrize("checked_first", [True, False], ids=["checked", "never-checked"])
def test_given_a_waba_channel_then_texts_longer_than_1024_are_refused(
    anna: Actor,
    messaging: Messaging,
    gateway: FakeGateway,
    account: AccountId,
    checked_first: bool,
) -> None:
    gateway.channel(transport="wapi")
    if checked_first:
        messaging.accounts.check_connection(anna, account)

    with pytest.raises(ValidationFailed) as refused:
        messaging.send(anna, account, text="я" * 1_025)
    assert "1024" in refused.value.errors["message"][0]
    assert (gateway.sent, messaging.messages()) == ([], [])

    messaging.send(anna, account, text="я" * 1_024)
    assert len(gateway.sent) == 1


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"is_active": False}, "inactive"),
        ({"instance_id": ""}, "instance_id"),
    ],
)
def test_given_an_account_that_cannot_send_then_the_send_is_a_conflict_saying_what_to_do(
    anna: Actor,
    messaging: Messaging,
    gateway: FakeGateway,
    fields: dict[str, Any],
    words: str,
) -> None:
    account = messaging.account(anna, **fields)

    with pytest.raises(Conflict) as refused:
        messaging.send(anna, account)

    assert words in refused.value.detail
    assert (gateway.sent, messaging.messages()) == ([], [])


def test_given_a_known_state_that_is_not_active_then_the_send_is_refused_without_asking(
    anna: Actor, messaging: Messaging, gateway: FakeGateway, account: AccountId
) -> None:
    messaging.deliver(account, {"channelsUpdates": [wazzup_channel("channel-1", "qr")]})

    with pytest.raises(Conflict) as refused:
        messaging.send(anna, account)

    assert "qr" in refused.value.detail
    assert (gateway.sent, gateway.channel_checks, messaging.messages()) == ([], 0, [])


def test_given_a_state_never_checked_then_it_is_checked_once_before_the_first_send(
    anna: Actor, messaging: Messaging, gateway: FakeGateway, account: AccountId
) -> None:
    messaging.send(anna, account, text="Первое")
    messaging.send(anna, account, text="Второе")

    assert (gateway.channel_checks, len(gateway.sent)) == (1, 2)


@pytest.mark.parametrize(
    ("arrange", "words"),
    [
        (lambda gateway: gateway.channel("qr"), "qr"),
        (lambda gateway: setattr(gateway, "channels_failure", ProviderRejectedKey()), "401"),
        (lambda gateway: setattr(gateway, "channel_list", []), "not found"),
        (lambda gateway: gateway.channel(chat_type="telegram"), "telegram"),
    ],
    ids=["qr", "rejected-key", "no-channels", "wrong-transport"],
)
def test_given_a_first_check_that_finds_a_fault_then_nothing_is_sent(
    anna: Actor,
    messaging: Messaging,
    gateway: FakeGateway,
    account: AccountId,
    arrange: Any,
    words: str,
) -> None:
    arrange(gateway)

    with pytest.raises(Conflict) as refused:
        messaging.send(anna, account)

    assert words in refused.value.detail
    assert (gateway.sent, messaging.messages()) == ([], [])


def test_given_a_provider_refusal_then_the_message_is_kept_failed_with_the_error(
    anna: Actor, messaging: Messaging, gateway: FakeGateway, account: AccountId
) -> None:
    gateway.send_failure = ProviderRefused("BAD_CONTACT", "No such WhatsApp account", 400)

    with pytest.raises(MessageNotSent) as failed:
        messaging.send(anna, account)

    assert isinstance(failed.value, ProviderFailed)
    assert not isinstance(failed.value, ProviderTimedOut)
    [message] = messaging.messages()
    assert failed.value.message_id == message.id
    assert (message.status, message.outcome_unknown) == (MessageStatus.FAILED, False)
    assert message.error == {"code": "BAD_CONTACT", "description": "No such WhatsApp account"}
    assert_one_activity_per_row(messaging)


def test_given_a_timeout_then_the_message_is_kept_failed_with_its_outcome_unknown_and_not_resent(
    anna: Actor, messaging: Messaging, gateway: FakeGateway, account: AccountId
) -> None:
    gateway.send_failure = TIMEOUT

    with pytest.raises(MessageSendTimedOut) as failed:
        messaging.send(anna, account)

    assert isinstance(failed.value, ProviderTimedOut)
    assert len(gateway.attempts) == 1
    [message] = messaging.messages()
    assert (message.status, failed.value.message_id) == (MessageStatus.FAILED, message.id)
    assert message.error is not None and message.error["code"] == "TIMEOUT"
    assert "30 s" in message.error["description"]
    assert message.outcome_unknown
    assert_one_activity_per_row(messaging)


@pytest.mark.parametrize(
    ("failure", "outcome_unknown"),
    [
        (ProviderUnreachable("Connection refused"), False),
        (DROPPED, True),
        (ProviderRateLimited("Wazzup kept answering 429."), False),
    ],
    ids=["refused-connection", "dropped", "rate-limited"],
)
def test_given_a_network_error_then_the_message_is_kept_failed_and_says_whether_it_may_be_sent(
    anna: Actor,
    messaging: Messaging,
    gateway: FakeGateway,
    account: AccountId,
    failure: ProviderFailed,
    outcome_unknown: bool,
) -> None:
    gateway.send_failure = failure

    with pytest.raises(MessageNotSent) as failed:
        messaging.send(anna, account)

    assert not isinstance(failed.value, ProviderTimedOut)  # a 502, not a 504
    [message] = messaging.messages()
    assert message.error == {"code": "PROVIDER_FAILED", "description": failure.detail}
    assert (message.status, message.outcome_unknown) == (MessageStatus.FAILED, outcome_unknown)
    assert len(gateway.attempts) == 1


@pytest.mark.parametrize(
    ("to", "chat_id", "phone", "username"),
    [
        ("@durov", None, None, "durov"),
        ("+7 999 123-45-67", None, "79991234567", None),
        ("123456789", "123456789", None, None),
    ],
)
def test_given_telegram_when_sending_then_the_form_of_to_says_how_it_is_addressed(
    anna: Actor,
    messaging: Messaging,
    gateway: FakeGateway,
    to: str,
    chat_id: str | None,
    phone: str | None,
    username: str | None,
) -> None:
    account = telegram_account(messaging, anna)

    message_id = messaging.send(anna, account, to=to)

    [sent] = gateway.sent
    assert (sent.chat_id, sent.phone, sent.username) == (chat_id, phone, username)
    # The chat id the provider answered with is the message's chat from now on.
    message = messaging.read_message(anna, message_id)
    assert message.chat_id == message.to_number == (chat_id or "500000001")


@pytest.mark.parametrize("to", ["@durov", "+7 999 123-45-67"])
def test_given_a_telegram_send_by_username_or_phone_then_the_reply_finds_the_same_contact(
    crm: Crm, anna: Actor, messaging: Messaging, to: str
) -> None:
    account = telegram_account(messaging, anna)
    message_id = messaging.send(anna, account, to=to)
    sent = messaging.read_message(anna, message_id)

    messaging.deliver(
        account,
        {
            "messages": [
                wazzup_message(
                    "t-1",
                    chat_id=500000001,  # Telegram's chat id, as a number
                    chatType="telegram",
                    contact={"name": "Павел", "username": "durov"},
                    text="Спасибо!",
                )
            ]
        },
    )

    [contact] = messaging.contacts()
    assert sent.contact_id == contact.id
    assert (sent.chat_id, contact.telegram_chat_id) == ("500000001", "500000001")
    reply = next(m for m in messaging.messages() if m.is_incoming)
    assert (reply.contact_id, reply.chat_id) == (contact.id, "500000001")
    assert messaging.chat_owner(account, "500000001") == contact.id


def test_given_a_telegram_contact_when_sent_to_by_its_username_then_it_keeps_the_username(
    crm: Crm, anna: Actor, messaging: Messaging
) -> None:
    account = telegram_account(messaging, anna)
    contact_id = crm.contact(anna, phone=None, telegram="@durov")

    messaging.send(anna, account, to=None, contact_id=contact_id)
    messaging.send(anna, account, to="@durov")

    contact = messaging.read_contact(anna, contact_id)
    assert (contact.telegram, contact.telegram_chat_id) == ("durov", "500000001")
    assert [m.contact_id for m in messaging.messages()] == [contact_id, contact_id]
    assert messaging.gateway.sent[0].username == "durov"


def test_given_two_sends_to_a_new_telegram_username_then_one_contact_is_made(
    anna: Actor, messaging: Messaging
) -> None:
    account = telegram_account(messaging, anna)

    messaging.send(anna, account, to="@durov")
    messaging.send(anna, account, to="@durov")

    [contact] = messaging.contacts()
    assert contact.telegram == "durov"


def test_given_instagram_when_sending_then_the_handle_is_the_chat(
    anna: Actor, messaging: Messaging, gateway: FakeGateway
) -> None:
    gateway.channel(chat_type="instagram")
    account = messaging.account(anna, chat_type=ChatType.INSTAGRAM)

    messaging.send(anna, account, to="@shop.client")

    assert gateway.sent[0].chat_id == "shop.client"


def test_given_a_contact_when_sending_then_its_whatsapp_number_comes_before_its_phone(
    crm: Crm, anna: Actor, messaging: Messaging, gateway: FakeGateway, account: AccountId
) -> None:
    contact_id = crm.contact(anna, phone="+7 999 111-11-11", whatsapp="+7 999 222-22-22")

    message_id = messaging.send(anna, account, to=None, contact_id=contact_id)

    assert gateway.sent[0].chat_id == "79992222222"
    assert messaging.read_message(anna, message_id).contact_id == contact_id


def test_given_a_contact_without_whatsapp_when_sending_then_its_phone_is_used(
    crm: Crm, anna: Actor, messaging: Messaging, gateway: FakeGateway, account: AccountId
) -> None:
    contact_id = crm.contact(anna, phone="+7 999 111-11-11")

    messaging.send(anna, account, to=None, contact_id=contact_id)

    assert gateway.sent[0].chat_id == "79991111111"


def test_given_several_contacts_with_the_number_then_the_oldest_gets_the_message(
    crm: Crm, anna: Actor, messaging: Messaging, account: AccountId
) -> None:
    oldest = crm.contact(anna, phone="+7 999 123-45-67")
    crm.clock.advance(minutes=1)
    crm.contact(anna, phone="+7 999 123-45-67", first_name="Дубль")

    message_id = messaging.send(anna, account, to="79991234567")

    assert messaging.read_message(anna, message_id).contact_id == oldest


def test_given_a_number_nobody_has_exactly_then_a_new_contact_is_named_by_it(
    crm: Crm, anna: Actor, messaging: Messaging, account: AccountId
) -> None:
    crm.contact(anna, phone="+7 999 123-45-68")  # one digit off

    message_id = messaging.send(anna, account, to="+7 999 123-45-67")

    contact = messaging.read_contact(anna, messaging.read_message(anna, message_id).contact_id)
    assert (contact.first_name, contact.source, str(contact.phone)) == (
        "+79991234567",
        "whatsapp",
        "+79991234567",
    )


def test_given_a_send_then_a_message_activity_is_on_the_contact_and_its_open_lead(
    crm: Crm, anna: Actor, messaging: Messaging, account: AccountId
) -> None:
    contact_id = crm.contact(anna)
    funnel = crm.funnel(anna)
    lead_id = crm.leads.create_lead(
        anna, CreateLead(contact_id=contact_id, funnel_id=funnel.id, title="Диван")
    )

    message_id = messaging.send(anna, account, to=None, contact_id=contact_id)

    assert messaging.read_message(anna, message_id).lead_id == lead_id
    [activity] = messaging.message_activities()
    assert (activity.contact_id, activity.lead_id, activity.user_id) == (
        contact_id,
        lead_id,
        anna.user_id,
    )
    assert activity.description == "Привет"


def test_given_a_lead_of_another_contact_when_sending_then_it_is_refused(
    crm: Crm, anna: Actor, messaging: Messaging, gateway: FakeGateway, account: AccountId
) -> None:
    funnel = crm.funnel(anna)
    other = crm.contact(anna, phone="+7 999 000-00-01")
    lead_id = crm.leads.create_lead(
        anna, CreateLead(contact_id=other, funnel_id=funnel.id, title="Чужой")
    )

    with pytest.raises(ValidationFailed) as refused:
        messaging.send(anna, account, to=None, contact_id=crm.contact(anna), lead_id=lead_id)

    assert "lead" in refused.value.errors and gateway.sent == []
    assert messaging.messages() == []


def test_given_only_a_lead_when_sending_then_its_contact_is_the_recipient(
    crm: Crm, anna: Actor, messaging: Messaging, gateway: FakeGateway, account: AccountId
) -> None:
    funnel = crm.funnel(anna)
    contact_id = crm.contact(anna, phone="+7 999 555-44-33")
    lead_id = crm.leads.create_lead(
        anna, CreateLead(contact_id=contact_id, funnel_id=funnel.id, title="Диван")
    )

    message_id = messaging.send(anna, account, to=None, lead_id=lead_id)

    assert gateway.sent[0].chat_id == "79995554433"
    assert messaging.read_message(anna, message_id).lead_id == lead_id


def test_given_media_with_text_then_two_messages_are_sent_media_first(
    anna: Actor, messaging: Messaging, gateway: FakeGateway, account: AccountId
) -> None:
    url = "https://files.example/invoice.pdf"

    media_id = messaging.send(anna, account, message_type="document", media_url=url, text="Счёт")

    assert [(s.content_uri, s.text) for s in gateway.sent] == [(url, None), (None, "Счёт")]
    media, caption = messaging.messages()
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
    # Revision 2: every row has its one `message` activity (the caption is a row of its own).
    assert_one_activity_per_row(messaging)
    assert len(messaging.message_activities()) == 2


def test_given_media_alone_then_one_message_is_sent(
    anna: Actor, messaging: Messaging, gateway: FakeGateway, account: AccountId
) -> None:
    messaging.send(
        anna, account, text="", message_type="image", media_url="https://f.example/a.jpg"
    )

    assert len(gateway.sent) == 1 and len(messaging.messages()) == 1
    assert_one_activity_per_row(messaging)


def test_given_media_that_fails_then_its_text_is_kept_failed_unsent(
    anna: Actor, messaging: Messaging, gateway: FakeGateway, account: AccountId
) -> None:
    gateway.send_failure = ProviderRefused("MESSAGE_DOWNLOAD_CONTENT_ERROR", "Cannot download")

    with pytest.raises(MessageNotSent):
        messaging.send(
            anna, account, message_type="image", media_url="https://x/a.jpg", text="Фото"
        )

    media, caption = messaging.messages()
    assert (media.status, caption.status) == (MessageStatus.FAILED, MessageStatus.FAILED)
    assert caption.error is not None and caption.error["code"] == "NOT_SENT"
    assert gateway.sent == []
    assert_one_activity_per_row(messaging)

    gateway.send_failure = None
    messaging.sending.retry_message(anna, caption.id)
    assert gateway.sent[0].text == "Фото"


def test_given_an_idempotency_key_when_repeated_then_the_first_message_returns_and_nothing_is_sent(
    crm: Crm, anna: Actor, messaging: Messaging, gateway: FakeGateway, account: AccountId
) -> None:
    first = messaging.send(anna, account, idempotency_key="k-1")
    crm.clock.advance(hours=23)

    again = messaging.send(anna, account, idempotency_key="k-1")

    assert again == first
    assert (len(gateway.sent), len(messaging.messages())) == (1, 1)


def test_given_an_idempotency_key_older_than_a_day_then_the_message_is_sent_again(
    crm: Crm, anna: Actor, messaging: Messaging, gateway: FakeGateway, account: AccountId
) -> None:
    first = messaging.send(anna, account, idempotency_key="k")
    crm.clock.advance(hours=24, seconds=1)

    again = messaging.send(anna, account, idempotency_key="k")

    assert again != first and len(gateway.sent) == 2


@pytest.mark.parametrize(
    ("failure", "raised"),
    [
        (TIMEOUT, MessageSendTimedOut),
        (DROPPED, MessageNotSent),
        (ProviderRefused("BAD_CONTACT", "No such account", 400), MessageNotSent),
    ],
    ids=["timeout", "dropped", "refused"],
)
def test_given_an_idempotency_key_of_a_failed_send_then_the_repeat_fails_alike_and_sends_nothing(
    anna: Actor,
    messaging: Messaging,
    gateway: FakeGateway,
    account: AccountId,
    failure: ProviderFailed,
    raised: type[MessageNotSent],
) -> None:
    gateway.send_failure = failure
    with pytest.raises(raised) as first:
        messaging.send(anna, account, idempotency_key="k")
    gateway.send_failure = None

    with pytest.raises(raised) as again:
        messaging.send(anna, account, idempotency_key="k")

    assert type(again.value) is type(first.value)
    assert again.value.message_id == first.value.message_id
    assert (gateway.sent, len(messaging.messages())) == ([], 1)


def test_given_an_idempotency_key_of_a_timed_out_send_that_its_echo_settled_then_it_returns(
    anna: Actor, messaging: Messaging, gateway: FakeGateway, account: AccountId
) -> None:
    gateway.send_failure = AnswerLost(TIMEOUT)
    with pytest.raises(MessageSendTimedOut) as first:
        messaging.send(anna, account, idempotency_key="k")
    messaging.deliver(account, {"messages": [wazzup_echo("provider-1", text="Привет")]})

    again = messaging.send(anna, account, idempotency_key="k")

    assert again == first.value.message_id
    assert len(gateway.attempts) == 1


def test_given_the_same_idempotency_key_in_two_companies_then_both_send(
    anna: Actor, boris: Actor, messaging: Messaging, gateway: FakeGateway, account: AccountId
) -> None:
    theirs = messaging.account(boris)

    mine = messaging.send(anna, account, text="A", idempotency_key="k")
    other = messaging.send(boris, theirs, text="B", idempotency_key="k")

    assert mine != other and len(gateway.sent) == 2


# --- the echo, the statuses and the answer, in any order ----------------------------------------


@pytest.mark.parametrize("names_our_id", [True, False], ids=["naming-our-id", "anonymous"])
def test_given_an_echo_before_the_send_answer_then_one_row_ends_most_advanced(
    anna: Actor,
    messaging: Messaging,
    gateway: FakeGateway,
    account: AccountId,
    names_our_id: bool,
) -> None:
    def webhook_during_send(outgoing: OutgoingMessage, provider_id: str) -> None:
        ours = outgoing.crm_message_id if names_our_id else None
        messaging.deliver(
            account,
            {
                "messages": [wazzup_echo(provider_id, text=outgoing.text, crmMessageId=ours)],
                "statuses": [wazzup_status(provider_id, "delivered")],
            },
        )

    gateway.during_send = webhook_during_send

    message_id = messaging.send(anna, account)

    [message] = messaging.messages()
    assert message.id == message_id
    assert (message.provider_message_id, message.status) == ("provider-1", MessageStatus.DELIVERED)
    assert len(messaging.message_activities()) == 1


def test_given_statuses_before_the_echo_and_the_answer_then_they_are_kept_and_applied(
    crm: Crm, anna: Actor, messaging: Messaging, gateway: FakeGateway, account: AccountId
) -> None:
    def statuses_during_send(outgoing: OutgoingMessage, provider_id: str) -> None:
        report = messaging.deliver(account, {"statuses": [wazzup_status(provider_id, "read")]})
        assert [item.provider_message_id for item in report.pending] == [provider_id]

    gateway.during_send = statuses_during_send

    message_id = messaging.send(anna, account)

    [message] = messaging.messages()
    assert (message.id, message.status) == (message_id, MessageStatus.READ)
    with crm.read() as uow:
        assert uow.early_statuses.kept() == []


def test_given_a_media_echo_under_the_providers_address_before_the_answer_then_one_row_remains(
    anna: Actor, messaging: Messaging, gateway: FakeGateway, account: AccountId
) -> None:
    def webhook_during_send(outgoing: OutgoingMessage, provider_id: str) -> None:
        messaging.deliver(
            account,
            {
                "messages": [
                    wazzup_echo(
                        provider_id,
                        type="image",
                        text=None,
                        contentUri="https://store.wazzup24.com/e5115999/?filename=a.jpg",
                    )
                ]
            },
        )

    gateway.during_send = webhook_during_send

    message_id = messaging.send(
        anna, account, text="", message_type="image", media_url="https://files.example/a.jpg"
    )

    [message] = messaging.messages()
    assert (message.id, message.provider_message_id) == (message_id, "provider-1")
    assert message.media_url == "https://files.example/a.jpg"
    assert_one_activity_per_row(messaging)


@pytest.mark.parametrize("failure", [TIMEOUT, DROPPED], ids=["timeout", "dropped"])
@pytest.mark.parametrize("names_our_id", [True, False], ids=["naming-our-id", "anonymous"])
def test_given_a_send_whose_answer_was_lost_then_its_echo_settles_the_crms_own_row(
    crm: Crm,
    anna: Actor,
    messaging: Messaging,
    gateway: FakeGateway,
    account: AccountId,
    failure: ProviderFailed,
    names_our_id: bool,
) -> None:
    gateway.send_failure = AnswerLost(failure)
    with pytest.raises(MessageNotSent) as failed:
        messaging.send(anna, account)
    crm.clock.advance(seconds=20)

    report = messaging.deliver(
        account,
        {
            "messages": [
                wazzup_echo(
                    "provider-1",
                    text="Привет",
                    crmMessageId=str(failed.value.message_id) if names_our_id else None,
                )
            ]
        },
    )

    [message] = messaging.messages()
    assert (report.created, report.updated) == (0, 1)
    assert message.id == failed.value.message_id
    assert (message.status, message.provider_message_id) == (MessageStatus.SENT, "provider-1")
    assert (message.error, message.outcome_unknown) == (None, False)
    assert len(messaging.message_activities()) == 1
    with pytest.raises(Conflict):
        messaging.sending.retry_message(anna, message.id)


def test_given_a_lost_answer_then_early_statuses_are_applied_when_the_echo_names_the_message(
    crm: Crm, anna: Actor, messaging: Messaging, gateway: FakeGateway, account: AccountId
) -> None:
    gateway.send_failure = AnswerLost(TIMEOUT)
    with pytest.raises(MessageSendTimedOut):
        messaging.send(anna, account)

    messaging.deliver(account, {"statuses": [wazzup_status("provider-1", "delivered")]})
    messaging.deliver(account, {"messages": [wazzup_echo("provider-1", text="Привет")]})

    [message] = messaging.messages()
    assert (message.status, message.provider_message_id) == (
        MessageStatus.DELIVERED,
        "provider-1",
    )


def test_given_a_timed_out_send_then_an_anonymous_echo_after_a_minute_is_not_taken_for_it(
    crm: Crm, anna: Actor, messaging: Messaging, gateway: FakeGateway, account: AccountId
) -> None:
    gateway.send_failure = TIMEOUT
    with pytest.raises(MessageSendTimedOut) as failed:
        messaging.send(anna, account)
    crm.clock.advance(minutes=1, seconds=1)

    messaging.deliver(account, {"messages": [wazzup_echo("w-app", text="Привет")]})

    ours = messaging.read_message(anna, failed.value.message_id)
    assert (ours.status, ours.outcome_unknown) == (MessageStatus.FAILED, True)
    assert len(messaging.messages()) == 2
    assert_one_activity_per_row(messaging)


def test_given_a_refused_send_then_an_anonymous_echo_is_not_taken_for_it(
    anna: Actor, messaging: Messaging, gateway: FakeGateway, account: AccountId
) -> None:
    gateway.send_failure = ProviderRefused("BAD_CONTACT", "No such account", 400)
    with pytest.raises(MessageNotSent) as failed:
        messaging.send(anna, account)

    messaging.deliver(account, {"messages": [wazzup_echo("w-app", text="Привет")]})

    ours = messaging.read_message(anna, failed.value.message_id)
    assert (ours.status, ours.provider_message_id) == (MessageStatus.FAILED, None)
    assert len(messaging.messages()) == 2


def test_given_an_echo_during_a_send_whose_answer_is_then_lost_then_the_message_stays_sent(
    anna: Actor, messaging: Messaging, gateway: FakeGateway, account: AccountId
) -> None:
    def echo_naming_our_id(outgoing: OutgoingMessage, provider_id: str) -> None:
        echo = wazzup_echo(provider_id, text=outgoing.text, crmMessageId=outgoing.crm_message_id)
        messaging.deliver(account, {"messages": [echo]})

    gateway.during_send = echo_naming_our_id
    gateway.send_failure = AnswerLost(TIMEOUT)

    with contextlib.suppress(MessageSendTimedOut):
        messaging.send(anna, account)

    [message] = messaging.messages()
    assert (message.status, message.provider_message_id) == (MessageStatus.SENT, "provider-1")


def test_given_two_telegram_sends_of_one_text_then_their_echoes_never_cross(
    crm: Crm, anna: Actor, messaging: Messaging, gateway: FakeGateway
) -> None:
    account = telegram_account(messaging, anna)
    gateway.telegram_chat_ids = {"first_user": "111", "second_user": "222"}

    def second_send_meanwhile(outgoing: OutgoingMessage, provider_id: str) -> None:
        gateway.during_send = echoes_in_reverse
        crm.clock.advance(seconds=1)
        messaging.send(anna, account, to="@second_user", text="Акция!")

    def echoes_in_reverse(outgoing: OutgoingMessage, provider_id: str) -> None:
        gateway.during_send = None
        echo = {"chatType": "telegram", "text": "Акция!"}
        messaging.deliver(
            account,
            {
                "messages": [
                    wazzup_echo(provider_id, chat_id="222", **echo),
                    wazzup_echo("provider-1", chat_id="111", **echo),
                ]
            },
        )

    gateway.during_send = second_send_meanwhile

    messaging.send(anna, account, to="@first_user", text="Акция!")

    rows = {m.chat_id: m for m in messaging.messages()}
    assert set(rows) == {"111", "222"}
    assert (rows["111"].provider_message_id, rows["222"].provider_message_id) == (
        "provider-1",
        "provider-2",
    )


# --- a send whose process died: the settle job ----------------------------------------------


class ProcessDied(Exception):
    """The worker was killed while the provider was being called."""


def test_given_a_send_whose_process_died_then_the_settle_job_fails_it_and_a_retry_is_allowed(
    crm: Crm, anna: Actor, messaging: Messaging, gateway: FakeGateway, account: AccountId
) -> None:
    def die(outgoing: OutgoingMessage, provider_id: str) -> None:
        raise ProcessDied

    gateway.during_send = die
    with pytest.raises(ProcessDied):
        messaging.send(anna, account)
    gateway.during_send = None
    [stuck] = messaging.messages()
    assert stuck.status == MessageStatus.PENDING
    with pytest.raises(Conflict):
        messaging.sending.retry_message(anna, stuck.id)

    not_yet = crm.db.run_jobs(SETTLE_SEND, messaging.settle, crm.clock.now())
    later = crm.clock.advance(seconds=SEND_SETTLE_AFTER.total_seconds())
    settled = crm.db.run_jobs(SETTLE_SEND, messaging.settle, later)

    message = messaging.read_message(anna, stuck.id)
    assert (not_yet, settled) == ([], [Done()])
    assert (message.status, message.outcome_unknown) == (MessageStatus.FAILED, True)
    assert message.error is not None and message.error["code"] == "NO_ANSWER"

    messaging.sending.retry_message(anna, stuck.id)

    message = messaging.read_message(anna, stuck.id)
    assert (message.status, message.provider_message_id) == (MessageStatus.SENT, "provider-2")
    assert [s.crm_message_id for s in gateway.attempts] == [str(stuck.id)] * 2
    assert_one_activity_per_row(messaging)


def test_given_a_send_whose_process_died_then_an_echo_still_settles_it_after_the_job(
    crm: Crm, anna: Actor, messaging: Messaging, gateway: FakeGateway, account: AccountId
) -> None:
    def die(outgoing: OutgoingMessage, provider_id: str) -> None:
        raise ProcessDied

    gateway.during_send = die
    with pytest.raises(ProcessDied):
        messaging.send(anna, account)
    # The settle job runs 2 minutes later; an echo naming our id is matched whenever it comes.
    later = crm.clock.advance(seconds=SEND_SETTLE_AFTER.total_seconds())
    crm.db.run_jobs(SETTLE_SEND, messaging.settle, later)
    [stuck] = messaging.messages()

    messaging.deliver(
        account,
        {"messages": [wazzup_echo("provider-1", text="Привет", crmMessageId=str(stuck.id))]},
    )

    message = messaging.read_message(anna, stuck.id)
    assert (message.status, message.error, message.outcome_unknown) == (
        MessageStatus.SENT,
        None,
        False,
    )


def test_given_an_answered_send_then_its_settle_job_changes_nothing(
    crm: Crm, anna: Actor, messaging: Messaging, account: AccountId
) -> None:
    message_id = messaging.send(anna, account)
    later = crm.clock.advance(minutes=5)

    assert crm.db.run_jobs(SETTLE_SEND, messaging.settle, later) == [Done()]

    message = messaging.read_message(anna, message_id)
    assert (message.status, message.error) == (MessageStatus.SENT, None)


def test_given_every_send_attempt_then_each_has_a_settle_job_of_its_own(
    crm: Crm, anna: Actor, messaging: Messaging, gateway: FakeGateway, account: AccountId
) -> None:
    gateway.send_failure = ProviderUnreachable("down")
    with pytest.raises(MessageNotSent) as failed:
        messaging.send(anna, account)
    gateway.send_failure = None
    crm.clock.advance(minutes=1)

    messaging.sending.retry_message(anna, failed.value.message_id)

    jobs = crm.db.jobs(SETTLE_SEND)
    assert [job.payload["message"] for job in jobs] == [str(failed.value.message_id)] * 2
    assert jobs[1].run_after == crm.clock.now() + SEND_SETTLE_AFTER


# --- retry --------------------------------------------------------------------------------------


def test_given_a_failed_message_when_retried_then_it_is_sent_under_the_same_id(
    anna: Actor, messaging: Messaging, gateway: FakeGateway, account: AccountId
) -> None:
    gateway.send_failure = ProviderRefused("CHANNEL_LIMIT_EXCEEDED", "Too many")
    with pytest.raises(MessageNotSent) as failed:
        messaging.send(anna, account)
    gateway.send_failure = None

    messaging.sending.retry_message(anna, failed.value.message_id)

    [sent] = gateway.sent
    assert sent.crm_message_id == str(failed.value.message_id) and sent.chat_id == "79991234567"
    [message] = messaging.messages()
    assert (message.status, message.error, message.provider_message_id) == (
        MessageStatus.SENT,
        None,
        "provider-1",
    )
    assert_one_activity_per_row(messaging)


def test_given_a_retry_that_fails_again_then_the_new_error_is_kept(
    anna: Actor, messaging: Messaging, gateway: FakeGateway, account: AccountId
) -> None:
    gateway.send_outcomes = [
        ProviderRefused("CHANNEL_LIMIT_EXCEEDED", "Too many"),
        ProviderRefused("BAD_CONTACT", "No account"),
    ]
    with pytest.raises(MessageNotSent) as failed:
        messaging.send(anna, account)

    with pytest.raises(MessageNotSent):
        messaging.sending.retry_message(anna, failed.value.message_id)

    [message] = messaging.messages()
    assert message.error == {"code": "BAD_CONTACT", "description": "No account"}


@pytest.mark.parametrize("code", ["REPEATED_CRM_MESSAGE_ID", "repeatedCrmMessageId"])
def test_given_a_retry_the_provider_calls_a_repeat_then_the_message_is_sent_not_failed(
    anna: Actor, messaging: Messaging, gateway: FakeGateway, account: AccountId, code: str
) -> None:
    gateway.send_outcomes = [
        TIMEOUT,
        ProviderRefused(code, "You have already sent message with same crmMessageId", 400),
    ]
    with pytest.raises(MessageSendTimedOut) as failed:
        messaging.send(anna, account)

    messaging.sending.retry_message(anna, failed.value.message_id)

    [message] = messaging.messages()
    assert (message.status, message.error, message.outcome_unknown) == (
        MessageStatus.SENT,
        None,
        False,
    )
    assert len(gateway.attempts) == 2
    with pytest.raises(Conflict):
        messaging.sending.retry_message(anna, message.id)
    # Its provider id comes with the echo.
    messaging.deliver(
        account,
        {"messages": [wazzup_echo("provider-9", text="Привет", crmMessageId=str(message.id))]},
    )
    [message] = messaging.messages()
    assert message.provider_message_id == "provider-9"


def test_given_a_first_send_the_provider_calls_a_repeat_then_it_is_a_refusal(
    anna: Actor, messaging: Messaging, gateway: FakeGateway, account: AccountId
) -> None:
    gateway.send_failure = ProviderRefused("REPEATED_CRM_MESSAGE_ID", "already sent", 400)

    with pytest.raises(MessageNotSent):
        messaging.send(anna, account)

    [message] = messaging.messages()
    assert message.status == MessageStatus.FAILED


def test_given_a_telegram_username_send_that_failed_then_the_retry_addresses_it_alike(
    anna: Actor, messaging: Messaging, gateway: FakeGateway
) -> None:
    account = telegram_account(messaging, anna)
    gateway.send_failure = ProviderUnreachable("down")
    with pytest.raises(MessageNotSent) as failed:
        messaging.send(anna, account, to="@durov")
    gateway.send_failure = None

    messaging.sending.retry_message(anna, failed.value.message_id)

    assert (gateway.sent[0].username, gateway.sent[0].chat_id) == ("durov", None)
    assert messaging.read_message(anna, failed.value.message_id).chat_id == "500000001"


def test_given_a_sent_or_incoming_message_then_a_retry_is_a_conflict(
    anna: Actor, messaging: Messaging, gateway: FakeGateway, account: AccountId
) -> None:
    sent = messaging.send(anna, account)
    messaging.deliver(account, {"messages": [wazzup_message("w-9")]})
    received = next(m for m in messaging.messages() if m.is_incoming)

    for message_id in (sent, received.id):
        with pytest.raises(Conflict):
            messaging.sending.retry_message(anna, message_id)
    assert len(gateway.sent) == 1


def test_given_another_companys_message_then_a_retry_is_not_found(
    anna: Actor, boris: Actor, messaging: Messaging, gateway: FakeGateway, account: AccountId
) -> None:
    gateway.send_failure = ProviderUnreachable("down")
    with pytest.raises(MessageNotSent) as failed:
        messaging.send(anna, account)

    with pytest.raises(NotFound):
        messaging.sending.retry_message(boris, failed.value.message_id)


def test_given_a_channel_that_broke_since_then_a_retry_is_refused_before_sending(
    anna: Actor, messaging: Messaging, gateway: FakeGateway, account: AccountId
) -> None:
    gateway.send_failure = ProviderUnreachable("down")
    with pytest.raises(MessageNotSent) as failed:
        messaging.send(anna, account)
    gateway.send_failure = None
    messaging.deliver(account, {"channelsUpdates": [wazzup_channel("channel-1", "qr")]})

    with pytest.raises(Conflict, match="qr"):
        messaging.sending.retry_message(anna, failed.value.message_id)

    assert len(gateway.attempts) == 1
    message = messaging.read_message(anna, failed.value.message_id)
    assert message.status == MessageStatus.FAILED


# --- reading ------------------------------------------------------------------------------------


def test_given_incoming_messages_when_marked_read_one_or_several_then_the_count_is_returned(
    anna: Actor, messaging: Messaging, account: AccountId
) -> None:
    messaging.deliver(
        account,
        {"messages": [wazzup_message("w-1"), wazzup_message("w-2"), wazzup_message("w-3")]},
    )
    first, second, third = (m.id for m in messaging.messages())
    sent = messaging.send(anna, account)

    assert messaging.sending.mark_read(anna, message_ids=[first]) == 1
    assert messaging.sending.mark_read(anna, message_ids=[first, second, third, sent]) == 2
    assert all(m.is_read for m in messaging.messages() if m.is_incoming)
    assert not messaging.read_message(anna, sent).is_read


def test_given_a_contact_when_marked_read_then_all_its_incoming_messages_are_read(
    anna: Actor, messaging: Messaging, account: AccountId
) -> None:
    messaging.deliver(
        account,
        {
            "messages": [
                wazzup_message("w-1"),
                wazzup_message("w-2"),
                wazzup_message("w-3", chat_id="79990000000"),
            ]
        },
    )
    contact_id = messaging.messages()[0].contact_id
    assert contact_id is not None

    assert messaging.sending.mark_read(anna, contact_id=contact_id) == 2
    assert messaging.sending.mark_read(anna, contact_id=contact_id) == 0
    assert [m.is_read for m in messaging.messages()] == [True, True, False]


def test_given_another_companys_message_or_contact_then_mark_read_is_not_found(
    anna: Actor, boris: Actor, messaging: Messaging, account: AccountId
) -> None:
    messaging.deliver(account, {"messages": [wazzup_message()]})
    [message] = messaging.messages()

    with pytest.raises(NotFound):
        messaging.sending.mark_read(boris, message_ids=[message.id])
    with pytest.raises(ValidationFailed):
        messaging.sending.mark_read(boris, contact_id=message.contact_id)
    assert not messaging.messages()[0].is_read
