"""Reading Wazzup webhook deliveries: the documented payloads, the observed WABA shape, and
items that cannot be read skipped with their place while the rest is read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from crm_adapters.wazzup import read_delivery
from crm_core.inbox import (
    ChannelItem,
    DeliveryError,
    IncomingItem,
    ItemError,
    ReadDelivery,
    StatusItem,
)
from crm_core.messaging import ChatType, MessageStatus, MessageType

RECEIVED = datetime(2025, 5, 6, 14, 30, tzinfo=UTC)
CHANNEL = "b96a353b-06f5-4cac-8413-ba1234f3f981"


def a_message(**fields: Any) -> dict[str, Any]:
    """The incoming text of the docs (§4.4), changed by `fields` (None removes a field)."""
    message: dict[str, Any] = {
        "messageId": "6a2087e8-e0f4-4e1b-b968-9d1234533c81",
        "dateTime": "2025-05-06T14:16:00.002Z",
        "channelId": CHANNEL,
        "chatType": "whatsapp",
        "chatId": "79999999999",
        "type": "text",
        "isEcho": False,
        "contact": {
            "name": "Ivan Petrov",
            "avatarUri": "https://store.wazzup24.com/0e82ead97ae07d9999c687253b8baed2365a26fa",
        },
        "text": "Hello, is the sofa still available?",
        "status": "inbound",
    }
    message.update(fields)
    return {name: value for name, value in message.items() if value is not None}


def only_item(delivery: ReadDelivery) -> Any:
    assert delivery.errors == ()
    (item,) = delivery.items
    return item


def message_ids(delivery: ReadDelivery) -> list[str]:
    return [
        item.provider_message_id
        for item in delivery.items
        if isinstance(item, IncomingItem | StatusItem)
    ]


# --- messages ----------------------------------------------------------------------------------


def test_given_the_documented_incoming_text_then_it_is_read_whole() -> None:
    delivery = read_delivery({"messages": [a_message()]}, RECEIVED)

    assert only_item(delivery) == IncomingItem(
        provider_message_id="6a2087e8-e0f4-4e1b-b968-9d1234533c81",
        chat_type=ChatType.WHATSAPP,
        chat_id="79999999999",
        is_echo=False,
        timestamp=datetime(2025, 5, 6, 14, 16, 0, 2000, tzinfo=UTC),
        message_type=MessageType.TEXT,
        text="Hello, is the sofa still available?",
        contact_name="Ivan Petrov",
        status=None,
        channel_id=CHANNEL,
        place="messages[0]",
    )


def test_given_an_employees_echo_then_it_is_an_outgoing_message_with_its_author() -> None:
    echo = {
        "messageId": "0c5d2f0e-4d63-4c5b-9a76-3f6a3f1d2b11",
        "dateTime": "2025-05-06T14:20:11.000Z",
        "channelId": CHANNEL,
        "chatType": "whatsapp",
        "chatId": "79999999999",
        "type": "text",
        "isEcho": True,
        "sentFromApp": True,
        "authorId": "user-7",
        "authorName": "Anna",
        "contact": {"name": "Ivan Petrov"},
        "text": "Yes, it is.",
        "status": "sent",
    }

    item = only_item(read_delivery({"messages": [echo]}, RECEIVED))

    assert (item.is_echo, item.author_name, item.status, item.text) == (
        True,
        "Anna",
        MessageStatus.SENT,
        "Yes, it is.",
    )


def test_given_the_documented_incoming_image_then_its_content_is_the_media_url() -> None:
    image = {
        "messageId": "caa19999-cce3-424c-86cd-05f199995073",
        "dateTime": "2025-05-06T14:18:00.001Z",
        "channelId": CHANNEL,
        "chatType": "whatsapp",
        "chatId": "79999999999",
        "type": "image",
        "isEcho": False,
        "contact": {"name": "79999999999"},
        "contentUri": "https://store.wazzup24.com/e5115999/?filename=photo.jpg",
        "status": "inbound",
    }

    item = only_item(read_delivery({"messages": [image]}, RECEIVED))

    assert (item.message_type, item.media_url, item.text, item.contact_name) == (
        MessageType.IMAGE,
        "https://store.wazzup24.com/e5115999/?filename=photo.jpg",
        "",
        "79999999999",
    )


def test_given_the_documented_edited_echo_then_it_is_edited_and_read() -> None:
    edited = {
        "messageId": "0c5d2f0e-4d63-4c5b-9a76-3f6a3f1d2b11",
        "channelId": CHANNEL,
        "chatType": "whatsapp",
        "chatId": "79999999999",
        "dateTime": "2025-05-06T14:20:11.000Z",
        "type": "text",
        "isEcho": True,
        "status": "read",
        "text": "Yes, it is available.",
        "isEdited": True,
        "oldInfo": {"oldText": "Yes, it is.", "oldAuthorId": "user-7", "oldAuthorName": "Anna"},
    }

    item = only_item(read_delivery({"messages": [edited]}, RECEIVED))

    assert (item.is_edited, item.is_deleted, item.status, item.text) == (
        True,
        False,
        MessageStatus.READ,
        "Yes, it is available.",
    )


def test_given_a_deleted_message_then_it_is_deleted() -> None:
    item = only_item(read_delivery({"messages": [a_message(isDeleted=True)]}, RECEIVED))

    assert (item.is_deleted, item.is_edited) == (True, False)


def test_given_the_observed_waba_shape_with_nulls_then_it_is_read_with_the_contact_phone() -> None:
    captured = {
        "messageId": "3b1f0c8e-7d2a-4f6b-9a1e-5c4d3b2a1f0e",
        "dateTime": "2025-09-12T08:41:27.512Z",
        "channelId": CHANNEL,
        "chatType": "whatsapp",
        "chatId": "77012345678",
        "avitoProfileId": None,
        "type": "text",
        "isEcho": False,
        "contact": {
            "name": "Aigerim",
            "avatarUri": None,
            "username": None,
            "phone": "77012345678",
            "messengerChatId": "77012345678",
        },
        "text": "Здравствуйте, сколько стоит доставка?",
        "contentUri": None,
        "status": "inbound",
        "error": None,
        "authorName": None,
        "authorId": None,
        "sentFromApp": False,
        "instPost": None,
        "interactive": None,
        "quotedMessage": None,
        "isEdited": False,
        "isDeleted": False,
        "oldInfo": None,
        "crmMessageId": None,
    }

    item = only_item(read_delivery({"messages": [captured]}, RECEIVED))

    assert item == IncomingItem(
        provider_message_id="3b1f0c8e-7d2a-4f6b-9a1e-5c4d3b2a1f0e",
        chat_type=ChatType.WHATSAPP,
        chat_id="77012345678",
        is_echo=False,
        timestamp=datetime(2025, 9, 12, 8, 41, 27, 512000, tzinfo=UTC),
        text="Здравствуйте, сколько стоит доставка?",
        contact_name="Aigerim",
        contact_phone="77012345678",
        channel_id=CHANNEL,
        place="messages[0]",
    )


def test_given_an_echo_of_a_crm_send_then_it_carries_our_message_id() -> None:
    echo = a_message(isEcho=True, status="sent", crmMessageId="crm-msg-000123")

    item = only_item(read_delivery({"messages": [echo]}, RECEIVED))

    assert (item.crm_message_id, item.status) == ("crm-msg-000123", MessageStatus.SENT)


def test_given_an_echo_that_failed_then_it_is_failed_with_wazzups_error() -> None:
    echo = a_message(
        isEcho=True,
        status="error",
        error={"error": "24_HOURS_EXCEEDED", "description": "The 24-hour window is closed"},
    )

    item = only_item(read_delivery({"messages": [echo]}, RECEIVED))

    assert (item.status, item.error) == (
        MessageStatus.FAILED,
        DeliveryError("24_HOURS_EXCEEDED", "The 24-hour window is closed"),
    )


def test_given_a_telegram_message_then_its_numeric_chat_id_and_username_are_kept() -> None:
    message = a_message(
        chatType="telegram",
        chatId=123456789,
        contact={"name": "Ivan", "username": "ivanp", "phone": "79011112233"},
    )

    item = only_item(read_delivery({"messages": [message]}, RECEIVED))

    assert (item.chat_type, item.chat_id, item.contact_username, item.contact_phone) == (
        ChatType.TELEGRAM,
        "123456789",
        "ivanp",
        "79011112233",
    )


@pytest.mark.parametrize(
    ("wazzup_type", "message_type"),
    [
        ("text", MessageType.TEXT),
        ("image", MessageType.IMAGE),
        ("audio", MessageType.AUDIO),
        ("video", MessageType.VIDEO),
        ("document", MessageType.DOCUMENT),
        ("vcard", MessageType.CONTACT),
        ("geo", MessageType.LOCATION),
        ("missing_call", MessageType.MISSED_CALL),
        ("wapi_template", MessageType.TEMPLATE),
        ("unsupported", MessageType.UNSUPPORTED),
        ("unknown", MessageType.UNSUPPORTED),
        ("sticker_3d", MessageType.UNSUPPORTED),
    ],
)
def test_given_a_message_type_then_it_is_read_as_the_crms(
    wazzup_type: str, message_type: MessageType
) -> None:
    item = only_item(read_delivery({"messages": [a_message(type=wazzup_type)]}, RECEIVED))

    assert item.message_type is message_type


@pytest.mark.parametrize(
    ("date_time", "expected"),
    [
        ("2025-05-06T14:16:00Z", datetime(2025, 5, 6, 14, 16, tzinfo=UTC)),
        ("2025-05-06T14:16:00", datetime(2025, 5, 6, 14, 16, tzinfo=UTC)),
        ("2025-05-06T17:16:00.5+03:00", datetime(2025, 5, 6, 14, 16, 0, 500000, tzinfo=UTC)),
    ],
)
def test_given_a_date_time_in_any_iso_form_then_it_is_read_in_utc(
    date_time: str, expected: datetime
) -> None:
    item = only_item(read_delivery({"messages": [a_message(dateTime=date_time)]}, RECEIVED))

    assert item.timestamp == expected
    assert item.timestamp.utcoffset() == timedelta(0)


def test_given_no_date_time_then_the_message_is_dated_when_received() -> None:
    message = a_message()
    message["dateTime"] = None
    moscow = timezone(timedelta(hours=3))

    item = only_item(
        read_delivery({"messages": [message]}, datetime(2025, 5, 6, 17, 30, tzinfo=moscow))
    )

    assert (item.timestamp, item.timestamp.tzinfo) == (RECEIVED, UTC)


def test_given_a_group_chat_among_chats_then_it_is_skipped_with_its_place() -> None:
    delivery = read_delivery(
        {
            "messages": [
                a_message(messageId="m-1"),
                a_message(messageId="m-2", chatType="whatsgroup", chatId="120363-group"),
                a_message(messageId="m-3", chatType="telegram", chatId="123456789"),
            ]
        },
        RECEIVED,
    )

    assert message_ids(delivery) == ["m-1", "m-3"]
    assert [item.place for item in delivery.items] == ["messages[0]", "messages[2]"]
    (error,) = delivery.errors
    assert error.place == "messages[1]"
    assert "whatsgroup" in error.detail and "not supported" in error.detail


def test_given_unreadable_items_among_good_ones_then_each_is_an_error_and_the_rest_is_read() -> (
    None
):
    delivery = read_delivery(
        {
            "messages": [
                a_message(messageId="m-1"),
                a_message(messageId=None),
                "not an object",
                a_message(messageId="m-4", chatId=""),
                a_message(messageId="m-5", dateTime="yesterday"),
                a_message(messageId="m-6", chatType=None),
                a_message(messageId="m-7"),
            ]
        },
        RECEIVED,
    )

    assert message_ids(delivery) == ["m-1", "m-7"]
    assert [error.place for error in delivery.errors] == [
        "messages[1]",
        "messages[2]",
        "messages[3]",
        "messages[4]",
        "messages[5]",
    ]
    assert all(error.detail for error in delivery.errors)


# --- statuses ----------------------------------------------------------------------------------


def test_given_the_documented_statuses_then_each_is_read_with_its_time_and_error() -> None:
    delivery = read_delivery(
        {
            "statuses": [
                {
                    "messageId": "be3dc577-60c4-4fc8-83a5-8c358e0bfe15",
                    "timestamp": "2025-02-05T06:01:07.499Z",
                    "status": "delivered",
                },
                {
                    "messageId": "f66c53a6-957a-46b2-b41b-5a2ef4844bcb",
                    "timestamp": "2025-02-05T06:01:09.120Z",
                    "status": "error",
                    "error": {
                        "error": "BAD_CONTACT",
                        "description": "Account with this chatId does not exist",
                    },
                },
            ]
        },
        RECEIVED,
    )

    assert delivery == ReadDelivery(
        items=(
            StatusItem(
                provider_message_id="be3dc577-60c4-4fc8-83a5-8c358e0bfe15",
                status=MessageStatus.DELIVERED,
                timestamp=datetime(2025, 2, 5, 6, 1, 7, 499000, tzinfo=UTC),
                place="statuses[0]",
            ),
            StatusItem(
                provider_message_id="f66c53a6-957a-46b2-b41b-5a2ef4844bcb",
                status=MessageStatus.FAILED,
                error=DeliveryError("BAD_CONTACT", "Account with this chatId does not exist"),
                timestamp=datetime(2025, 2, 5, 6, 1, 9, 120000, tzinfo=UTC),
                place="statuses[1]",
            ),
        )
    )


def test_given_an_edited_status_then_it_is_neither_an_item_nor_an_error() -> None:
    delivery = read_delivery(
        {
            "statuses": [
                {"messageId": "m-1", "timestamp": "2025-02-05T06:01:07Z", "status": "edited"},
                {"messageId": "m-2", "timestamp": "2025-02-05T06:01:08Z", "status": "read"},
            ]
        },
        RECEIVED,
    )

    assert delivery.items == (
        StatusItem(
            "m-2",
            MessageStatus.READ,
            timestamp=datetime(2025, 2, 5, 6, 1, 8, tzinfo=UTC),
            place="statuses[1]",
        ),
    )
    assert delivery.errors == ()


def test_given_statuses_that_cannot_be_read_then_they_are_errors_with_their_places() -> None:
    delivery = read_delivery(
        {
            "statuses": [
                {"messageId": "m-1", "status": "queued"},
                {"status": "sent"},
                {"messageId": "m-3", "status": "sent", "timestamp": "not a time"},
            ]
        },
        RECEIVED,
    )

    assert [error.place for error in delivery.errors] == ["statuses[0]", "statuses[1]"]
    assert delivery.items == (
        StatusItem("m-3", MessageStatus.SENT, timestamp=None, place="statuses[2]"),
    )


def test_given_an_error_status_without_details_then_it_still_fails_with_a_code() -> None:
    item = only_item(
        read_delivery({"statuses": [{"messageId": "m-1", "status": "error"}]}, RECEIVED)
    )

    assert item.status is MessageStatus.FAILED
    assert item.error is not None and item.error.code


# --- channel updates, several kinds, the probe -------------------------------------------------


def test_given_the_documented_channel_update_with_ms_timestamp_then_its_state_is_read() -> None:
    delivery = read_delivery(
        {
            "channelsUpdates": [
                {
                    "channelId": "d9e5721c-ce2b-444f-9627-60a8129d7e1f",
                    "state": "qr",
                    "timestamp": 1603977171000,
                    "qr": "data:image/png;base64,iVBORw0KGgoAAAANS",
                },
                {"state": "active"},
            ]
        },
        RECEIVED,
    )

    assert delivery.items == (
        ChannelItem("d9e5721c-ce2b-444f-9627-60a8129d7e1f", "qr", place="channelsUpdates[0]"),
    )
    assert [error.place for error in delivery.errors] == ["channelsUpdates[1]"]


def test_given_messages_statuses_and_unknown_keys_together_then_all_known_kinds_are_read() -> None:
    delivery = read_delivery(
        {
            "messages": [a_message(messageId="m-1")],
            "statuses": [{"messageId": "m-0", "status": "delivered"}],
            "channelsUpdates": [{"channelId": CHANNEL, "state": "active"}],
            "templateStatus": {"templateGuid": "8d25", "name": "Test", "status": "approved"},
            "somethingNew": [1, 2, 3],
        },
        RECEIVED,
    )

    assert [type(item) for item in delivery.items] == [IncomingItem, StatusItem, ChannelItem]
    assert (delivery.errors, delivery.is_test) == ((), False)


def test_given_a_kind_that_is_not_a_list_then_it_is_one_error_and_the_rest_is_read() -> None:
    delivery = read_delivery(
        {"messages": {"messageId": "m-1"}, "statuses": [{"messageId": "m-2", "status": "read"}]},
        RECEIVED,
    )

    assert [error.place for error in delivery.errors] == ["messages"]
    assert message_ids(delivery) == ["m-2"]


def test_given_null_kinds_then_there_is_nothing_to_read() -> None:
    assert read_delivery({"messages": None, "statuses": None}, RECEIVED) == ReadDelivery()


def test_given_wazzups_test_probe_then_it_is_only_a_test() -> None:
    assert read_delivery({"test": True}, RECEIVED) == ReadDelivery(is_test=True)


@pytest.mark.parametrize("body", [[], "messages", None, 42, [{"test": True}]])
def test_given_a_body_that_is_not_an_object_then_it_cannot_be_read(body: object) -> None:
    with pytest.raises(ValueError):
        read_delivery(body, RECEIVED)


def test_given_an_item_error_then_it_names_its_place_and_why() -> None:
    delivery = read_delivery({"messages": [a_message(chatType="telegroup")]}, RECEIVED)

    assert delivery.errors == (
        ItemError(
            "messages[0]", "The chat type 'telegroup' is not supported (group chats are not)."
        ),
    )
