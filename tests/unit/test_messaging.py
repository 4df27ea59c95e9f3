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
    InvalidValue,
    Message,
    MessageStatus,
    MessageType,
    MessagingAccount,
    PhoneNumber,
    ValidationFailed,
)
from crm_core.messaging import normalize_chat_id, sender_phone
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
    message.fail("TIMEOUT", "no answer", NOW)

    message.ensure_retryable()

    assert (message.status, message.error) == (MessageStatus.PENDING, None)
    with pytest.raises(Conflict):
        message.ensure_retryable()


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
