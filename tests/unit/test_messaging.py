"""Messaging, provider-neutral: statuses only move forward, chat ids, sender matching."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_core import (
    Actor,
    ChatType,
    Conflict,
    Contact,
    InvalidValue,
    Message,
    MessageStatus,
    MessageType,
    MessagingAccount,
    PhoneNumber,
    ProviderTimedOut,
    ValidationFailed,
)
from crm_core.errors import ProviderRateLimited, ProviderRefused, ProviderUnreachable
from crm_core.messaging import DEFAULT_API_URL, normalize_chat_id, sender_phone
from crm_core.ports import Channel, ProviderConnection
from crm_core.services.senders import find_sender
from crm_core.values import CompanyId, new_id
from tests.unit.conftest import Crm

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
FORWARD = [MessageStatus.PENDING, MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ]


def an_account(chat_type: ChatType = ChatType.WHATSAPP, **fields: object) -> MessagingAccount:
    values: dict[str, object] = {"instance_id": "channel-1", "channel_state": "active", **fields}
    return MessagingAccount(
        company_id=CompanyId(new_id()),
        name="Продажи",
        api_key_encrypted="secret",
        api_key_hint="…abcd",
        webhook_secret="hook",
        chat_type=chat_type,
        **values,  # type: ignore[arg-type]
    )


def a_message(text: str = "Здравствуйте!") -> Message:
    return Message.outgoing(account=an_account(), chat_id="79991234567", text=text, now=NOW)


# --- statuses -------------------------------------------------------------------------------


@given(st.lists(st.sampled_from(list(MessageStatus)), max_size=8))
def test_property_a_status_never_moves_back_and_failed_is_final(
    updates: list[MessageStatus],
) -> None:
    message = a_message()
    seen = [message.status]

    for status in updates:
        message.advance_status(status, NOW)
        seen.append(message.status)

    ranks = [FORWARD.index(s) for s in seen if s is not MessageStatus.FAILED]
    assert ranks == sorted(ranks)
    if MessageStatus.FAILED in seen:
        assert seen[seen.index(MessageStatus.FAILED) :] == [MessageStatus.FAILED] * (
            len(seen) - seen.index(MessageStatus.FAILED)
        )


def test_given_a_read_message_when_delivered_arrives_late_then_it_stays_read() -> None:
    message = a_message()
    message.accepted("wz-1", NOW)
    message.advance_status(MessageStatus.READ, NOW)

    changed = message.advance_status(MessageStatus.DELIVERED, NOW + timedelta(seconds=1))

    assert (changed, message.status, message.provider_message_id) == (
        False,
        MessageStatus.READ,
        "wz-1",
    )


def test_given_a_failed_message_then_its_first_error_stays_whatever_comes_after() -> None:
    message = a_message()
    message.fail("BAD_CONTACT", "no such chat", NOW)

    message.fail("OTHER", "later", NOW)
    message.accepted("wz-1", NOW)
    message.advance_status(MessageStatus.READ, NOW)

    assert message.status is MessageStatus.FAILED
    assert message.error == {"code": "BAD_CONTACT", "description": "no such chat"}


def test_given_a_failed_outgoing_message_when_retried_then_it_is_pending_again() -> None:
    message = a_message()
    message.fail("TIMEOUT", "no answer", NOW, outcome_unknown=True)
    later = NOW + timedelta(minutes=5)

    message.ensure_retryable()
    message.sending(later)

    assert (message.status, message.error, message.outcome_unknown) == (
        MessageStatus.PENDING,
        None,
        False,
    )
    assert message.send_attempted_at == later
    with pytest.raises(Conflict):
        message.ensure_retryable()
    with pytest.raises(Conflict):
        message.sending(later)


# --- revision 2: an unknown outcome is not a refusal ----------------------------------------------


def test_given_a_failure_whose_outcome_is_unknown_then_a_status_settles_it() -> None:
    message = a_message()
    message.fail("TIMEOUT", "no answer", NOW, outcome_unknown=True)

    assert message.apply_status(MessageStatus.DELIVERED, None, NOW)

    assert (message.status, message.error, message.outcome_unknown) == (
        MessageStatus.DELIVERED,
        None,
        False,
    )


def test_given_a_failure_whose_outcome_is_unknown_then_a_later_refusal_replaces_its_error() -> None:
    message = a_message()
    message.fail("TIMEOUT", "no answer", NOW, outcome_unknown=True)

    message.apply_status(MessageStatus.FAILED, {"code": "BAD_CONTACT", "description": "x"}, NOW)
    message.apply_status(MessageStatus.READ, None, NOW)

    assert (message.status, message.error, message.outcome_unknown) == (
        MessageStatus.FAILED,
        {"code": "BAD_CONTACT", "description": "x"},
        False,
    )


REPORTED = [MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ, MessageStatus.FAILED]


@given(st.lists(st.sampled_from(REPORTED), max_size=8))
def test_property_after_an_unknown_outcome_statuses_go_forward_and_failed_is_final(
    updates: list[MessageStatus],
) -> None:
    message = a_message()
    message.fail("TIMEOUT", "no answer", NOW, outcome_unknown=True)
    seen = []

    for status in updates:
        message.apply_status(status, None, NOW)
        seen.append(message.status)

    ranks = [FORWARD.index(s) for s in seen if s is not MessageStatus.FAILED]
    assert ranks == sorted(ranks)
    if MessageStatus.FAILED in seen:
        first = seen.index(MessageStatus.FAILED)
        assert seen[first:] == [MessageStatus.FAILED] * (len(seen) - first)
        assert not message.outcome_unknown


def test_given_a_send_never_answered_then_it_is_settled_failed_with_its_outcome_unknown() -> None:
    pending, answered = a_message(), a_message()
    answered.accepted("wz-1", NOW)

    assert pending.settle_unanswered(NOW)
    assert not answered.settle_unanswered(NOW)

    assert (pending.status, pending.outcome_unknown) == (MessageStatus.FAILED, True)
    assert pending.error is not None and pending.error["code"] == "NO_ANSWER"
    assert not pending.settle_unanswered(NOW)
    pending.ensure_retryable()


def test_given_a_resend_the_provider_calls_a_repeat_then_the_message_is_sent() -> None:
    message = a_message()
    message.fail("TIMEOUT", "no answer", NOW, outcome_unknown=True)
    message.sending(NOW)

    message.already_sent(NOW)

    assert (message.status, message.error, message.outcome_unknown) == (
        MessageStatus.SENT,
        None,
        False,
    )


@pytest.mark.parametrize(
    ("arrange", "after", "awaits"),
    [
        (lambda m: None, timedelta(seconds=59), True),
        (lambda m: None, timedelta(minutes=1), True),
        (lambda m: None, timedelta(minutes=1, seconds=1), False),
        (lambda m: m.fail("TIMEOUT", "x", NOW, outcome_unknown=True), timedelta(0), True),
        (lambda m: m.fail("BAD_CONTACT", "x", NOW), timedelta(0), False),
        (lambda m: m.accepted("wz-1", NOW), timedelta(0), False),
    ],
    ids=["pending", "pending-a-minute", "too-late", "outcome-unknown", "refused", "sent"],
)
def test_given_a_send_then_it_awaits_an_echo_only_while_its_outcome_is_open(
    arrange: object, after: timedelta, awaits: bool
) -> None:
    message = a_message()
    arrange(message)  # type: ignore[operator]

    assert message.awaits_echo(NOW + after) is awaits


def test_given_a_telegram_answer_with_a_chat_id_then_it_is_the_messages_chat() -> None:
    account = an_account(ChatType.TELEGRAM)
    message = Message.outgoing(account=account, chat_id="@durov", text="Привет", now=NOW)

    message.accepted("wz-1", NOW, chat_id="500100200")

    assert (message.chat_id, message.to_number, message.status) == (
        "500100200",
        "500100200",
        MessageStatus.SENT,
    )


def test_given_a_telegram_contact_then_its_learnt_chat_id_is_one_of_its_handles() -> None:
    contact = Contact(company_id=CompanyId(new_id()), first_name="Павел", telegram="durov")

    assert contact.learn_telegram_chat("500100200", NOW)
    assert not contact.learn_telegram_chat("500100200", NOW)
    assert not contact.learn_telegram_chat("", NOW)

    assert contact.handles_for("telegram") == {"durov", "500100200"}
    assert contact.handles_for("instagram") == set()


def test_given_a_provider_connection_then_its_repr_never_shows_the_key() -> None:
    connection = ProviderConnection("https://api.wazzup24.com", "live-key-0123abcd")

    assert "live-key-0123abcd" not in repr(connection)


@pytest.mark.parametrize(
    "code", ["REPEATED_CRM_MESSAGE_ID", "repeatedCrmMessageId", "repeated_crm_message_id"]
)
def test_given_a_provider_code_in_any_spelling_then_it_is_recognised(code: str) -> None:
    assert ProviderRefused(code).is_code("REPEATED_CRM_MESSAGE_ID")
    assert not ProviderRefused("BAD_CONTACT").is_code("REPEATED_CRM_MESSAGE_ID")


def test_given_provider_failures_then_only_those_that_may_have_been_taken_are_unknown() -> None:
    assert ProviderTimedOut("x").outcome_unknown
    assert ProviderUnreachable("x", dropped=True).outcome_unknown
    assert not ProviderUnreachable("x").outcome_unknown
    assert not ProviderRefused("BAD_CONTACT").outcome_unknown
    assert not ProviderRateLimited().outcome_unknown


def test_given_an_incoming_message_then_it_can_be_read_once_and_edited_or_deleted() -> None:
    message = Message(
        company_id=CompanyId(new_id()),
        account_id=an_account().id,
        chat_type=ChatType.WHATSAPP,
        chat_id="79991234567",
        is_incoming=True,
        timestamp=NOW,
        text="Привет",
    )
    later = NOW + timedelta(minutes=1)

    assert (message.mark_read(later), message.mark_read(later)) == (True, False)
    message.edit("Привет!", later)
    message.delete(later)

    assert (message.text, message.is_edited, message.is_deleted, message.is_read) == (
        "Привет!",
        True,
        True,
        True,
    )
    assert not a_message().mark_read(later)  # outgoing messages are not "read" by us


# --- sending ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("chat_type", "limit"),
    [(ChatType.WHATSAPP, 10_000), (ChatType.TELEGRAM, 4_096), (ChatType.INSTAGRAM, 1_000)],
)
def test_given_a_text_over_the_limit_of_its_chat_type_then_400(
    chat_type: ChatType, limit: int
) -> None:
    account = an_account(chat_type)

    Message.outgoing(account=account, chat_id="x", text="я" * limit, now=NOW)
    with pytest.raises(ValidationFailed) as refused:
        Message.outgoing(account=account, chat_id="x", text="я" * (limit + 1), now=NOW)

    assert list(refused.value.errors) == ["message"]


def test_given_an_empty_text_or_media_without_url_then_400() -> None:
    account = an_account()

    with pytest.raises(ValidationFailed):
        Message.outgoing(account=account, chat_id="x", text="  ", now=NOW)
    with pytest.raises(ValidationFailed) as refused:
        Message.outgoing(
            account=account,
            chat_id="x",
            text="",
            now=NOW,
            message_type="image",  # type: ignore[arg-type]
        )
    assert list(refused.value.errors) == ["media_url"]


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"is_active": False}, "inactive"),
        ({"instance_id": ""}, "instance_id"),
        ({"channel_state": "qr"}, "qr"),
    ],
)
def test_given_an_account_that_cannot_send_then_409_says_what_to_do(
    fields: dict[str, object], says: str
) -> None:
    with pytest.raises(Conflict, match=says):
        an_account(**fields).ensure_can_send()


def test_given_a_channel_state_then_connected_only_when_active_without_error() -> None:
    account = an_account(channel_state="")

    account.record_channel_state("active", "", NOW)
    assert account.is_connected
    account.record_channel_state("qr", "channel state is qr", NOW)
    assert (account.is_connected, account.last_error) == (False, "channel state is qr")


# --- chat ids and senders ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("chat_type", "raw", "stored"),
    [
        (ChatType.WHATSAPP, "+7 (999) 123-45-67", "79991234567"),
        (ChatType.VIBER, " 79991234567 ", "79991234567"),
        (ChatType.INSTAGRAM, "@ivan.p", "ivan.p"),
        (ChatType.TELEGRAM, " 123456789 ", "123456789"),
        (ChatType.TELEGRAM, "@ivan", "@ivan"),
    ],
)
def test_given_a_chat_id_then_it_is_stored_the_way_its_chat_type_writes_it(
    chat_type: ChatType, raw: str, stored: str
) -> None:
    assert normalize_chat_id(chat_type, raw) == stored


def test_given_a_phone_chat_id_without_digits_then_it_is_refused() -> None:
    with pytest.raises(InvalidValue):
        normalize_chat_id(ChatType.WHATSAPP, "abc")
    assert sender_phone(ChatType.WHATSAPP, "abc", "RU") is None


def test_given_a_phone_chat_then_the_sender_number_is_e164() -> None:
    assert sender_phone(ChatType.WHATSAPP, "79991234567", "RU") == PhoneNumber("+79991234567")
    assert sender_phone(ChatType.WHATSAPP, "89991234567", "RU") == PhoneNumber("+79991234567")
    assert sender_phone(ChatType.TELEGRAM, "79991234567", "RU") is None


def test_given_contacts_sharing_a_number_then_the_oldest_is_the_sender(
    crm: Crm, anna: Actor
) -> None:
    oldest = crm.contact(anna, phone="8 999 123-45-67")
    crm.clock.advance(minutes=1)
    crm.contact(anna, phone=None, whatsapp="+7 999 123 45 67")
    crm.clock.advance(minutes=1)
    crm.contact(anna, phone="89990000000", phone_secondary="79991234567")

    with crm.read() as uow:
        sender = find_sender(uow, anna.company_id, ChatType.WHATSAPP, "79991234567", "RU")

    assert sender is not None and sender.id == oldest


def test_given_a_number_that_only_contains_a_contacts_number_then_no_match(
    crm: Crm, anna: Actor
) -> None:
    crm.contact(anna, phone="+7 999 123-45-67")

    with crm.read() as uow:
        # Same last nine digits, another country: the seed's "contains" rule matched this.
        other_country = find_sender(uow, anna.company_id, ChatType.WHATSAPP, "380991234567", "RU")
        shorter = find_sender(uow, anna.company_id, ChatType.VIBER, "9991234567", "RU")

    assert other_country is None
    assert shorter is not None  # a national number read in the company's region is the same


def test_given_handle_chats_then_the_stored_handle_or_chat_id_matches(
    crm: Crm, anna: Actor
) -> None:
    insta = crm.contact(anna, phone=None, instagram="@ivan.p")
    tg = crm.contact(anna, phone="+7 916 000-11-22", telegram="555000111")

    with crm.read() as uow:
        found_insta = find_sender(uow, anna.company_id, ChatType.INSTAGRAM, "@ivan.p", "RU")
        found_tg = find_sender(uow, anna.company_id, ChatType.TELEGRAM, "555000111", "RU")
        nobody = find_sender(uow, anna.company_id, ChatType.INSTAGRAM, "ivan", "RU")
        blank = find_sender(uow, anna.company_id, ChatType.INSTAGRAM, " ", "RU")

    assert (found_insta and found_insta.id, found_tg and found_tg.id) == (insta, tg)
    assert (nobody, blank) == (None, None)


def test_given_another_companys_contact_with_the_number_then_it_is_never_the_sender(
    crm: Crm, anna: Actor, boris: Actor
) -> None:
    crm.contact(boris, phone="+7 999 123-45-67")

    with crm.read() as uow:
        assert find_sender(uow, anna.company_id, ChatType.WHATSAPP, "79991234567", "RU") is None


def test_given_the_message_type_as_text_then_a_text_message_needs_no_media() -> None:
    message = Message.outgoing(
        account=an_account(),
        chat_id="79991234567",
        text="Привет",
        now=NOW,
        message_type="text",  # type: ignore[arg-type]
    )

    assert message.message_type is MessageType.TEXT
    with pytest.raises(ValidationFailed) as refused:
        Message.outgoing(account=an_account(), chat_id="x", text="t", now=NOW, message_type="gif")  # type: ignore[arg-type]
    assert list(refused.value.errors) == ["message_type"]


# --- accounts -------------------------------------------------------------------------------------


def test_given_a_waba_channel_then_the_text_limit_is_1024() -> None:
    account = an_account(channel_state="")

    channel, error = account.assess([a_channel(transport="wapi")])
    account.record_check(channel, error, NOW)

    assert (account.transport, account.text_limit, account.is_connected) == ("wapi", 1_024, True)
    Message.outgoing(account=account, chat_id="x", text="я" * 1_024, now=NOW)
    with pytest.raises(ValidationFailed):
        Message.outgoing(account=account, chat_id="x", text="я" * 1_025, now=NOW)


@pytest.mark.parametrize(
    ("channels", "words"),
    [
        ([], "not found"),
        ([("channel-1", "whatsapp", "qr")], "qr"),
        ([("channel-1", "telegram", "active")], "telegram"),
        ([("channel-2", "whatsapp", "active")], "not found"),
    ],
)
def test_given_the_keys_channels_then_the_assessment_names_what_is_wrong(
    channels: list[tuple[str, str, str]], words: str
) -> None:
    account = an_account(channel_state="")

    _, error = account.assess([a_channel(c, t, s) for c, t, s in channels])

    assert error is not None and words in error


def test_given_channel_updates_then_only_the_accounts_own_channel_counts() -> None:
    account = an_account()

    assert not account.follow_channel("channel-2", "qr", NOW)
    assert account.follow_channel("channel-1", "qr", NOW)
    assert (account.channel_state, account.is_connected) == ("qr", False)
    assert account.serves("channel-1") and not account.serves("channel-2")
    assert not account.serves("")


@pytest.mark.parametrize("api_url", ["", "  ", None])
def test_given_a_blank_api_url_then_the_default_address_is_kept(api_url: str | None) -> None:
    account = an_account(api_url="https://other.example")

    account.change(NOW, api_url=api_url)

    assert account.api_url == DEFAULT_API_URL == "https://api.wazzup24.com"


def a_channel(
    channel_id: str = "channel-1",
    chat_type: str = "whatsapp",
    state: str = "active",
    transport: str | None = None,
) -> Channel:
    return Channel(channel_id, transport or chat_type, chat_type, "79865784457", state)
