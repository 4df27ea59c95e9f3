"""The messages resource `/api/crm/wazzupp-messages/`: list, detail, filters, search, ordering
and `mark_read`, held to MESSAGING.md from outside."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.integration.messaging.conftest import Crm, Linked, link
from tests.wazzup_server import FakeWazzup

MESSAGES = "/api/crm/wazzupp-messages/"
IVAN, OLGA = "79990001111", "79990002222"


@dataclass
class Inbox:
    """A company whose account holds a few messages of every kind."""

    linked: Linked
    ivan: dict[str, Any]  # first message from Ivan
    ivan_photo: dict[str, Any]
    olga: dict[str, Any]
    reply: dict[str, Any]  # sent by the CRM to Olga

    def rows(self, **params: str) -> list[dict[str, Any]]:
        return self.linked.messages(**params)

    def ids(self, **params: str) -> set[str]:
        return {row["id"] for row in self.rows(**params)}


@pytest.fixture
def inbox(crm: Crm, wazzup: FakeWazzup) -> Inbox:
    linked = link(crm, wazzup)
    funnel = linked.admin.post("/api/crm/funnels/", json={"name": "Входящие"})
    assert funnel.status_code == 201, funnel.text
    patched = linked.admin.patch(
        linked.account_path(), json={"default_funnel": funnel.json()["id"]}
    )
    assert patched.status_code == 200, patched.text
    items = [
        wazzup.incoming(
            linked.channel_id,
            IVAN,
            text="Какая ЦЕНА дивана?",
            contact_name="Иван",
            date_time="2026-11-01T09:00:00.000Z",
        ),
        wazzup.incoming(
            linked.channel_id,
            IVAN,
            type="image",
            content_uri="https://store.wazzup24.com/abc/?filename=sofa.jpg",
            date_time="2026-11-02T09:00:00.000Z",
        ),
        wazzup.incoming(
            linked.channel_id,
            OLGA,
            text="Доставка в субботу?",
            contact_name="Ольга",
            date_time="2026-11-03T09:00:00.000Z",
        ),
    ]
    for item in items:
        assert linked.deliver(item) == 200
    wazzup.statuses = ["delivered"]
    reply = linked.post(
        linked.account_path("send_message"), json={"to": OLGA, "message": "Да, в субботу"}
    )
    assert reply.status_code == 201, reply.text
    wazzup.wait_for_deliveries()
    by_message_id = {row["message_id"]: row for row in linked.messages()}
    ivan, photo, olga = (by_message_id[item["messageId"]] for item in items)
    return Inbox(linked, ivan, photo, olga, by_message_id[reply.json()["message_id"]])


def test_given_messages_when_listed_then_newest_first_by_timestamp(inbox: Inbox) -> None:
    rows = inbox.rows()

    assert [row["id"] for row in rows] == [
        inbox.reply["id"],
        inbox.olga["id"],
        inbox.ivan_photo["id"],
        inbox.ivan["id"],
    ]
    stamps = [row["timestamp"] for row in rows]
    assert stamps == sorted(stamps, reverse=True)


def test_given_a_message_when_read_in_detail_then_its_fields_are_there(inbox: Inbox) -> None:
    answer = inbox.linked.admin.get(f"{MESSAGES}{inbox.ivan_photo['id']}/")

    assert answer.status_code == 200, answer.text
    row = answer.json()
    assert row["account"] == inbox.linked.account["id"]
    assert row["account_info"] == inbox.linked.channel_id
    assert row["message_type"] == "image"
    assert row["media_url"] == "https://store.wazzup24.com/abc/?filename=sofa.jpg"
    assert row["is_incoming"] is True
    assert row["chat_type"] == "whatsapp"
    assert row["chat_id"] == IVAN
    assert row["contact_name"]
    assert row["status_display"]
    assert row["message_type_display"]


def test_given_another_companys_message_when_read_then_404(crm: Crm, inbox: Inbox) -> None:
    _, token = crm.user()
    stranger = crm.client(token)

    detail = stranger.get(f"{MESSAGES}{inbox.ivan['id']}/")
    listed = stranger.get(MESSAGES)
    marked = stranger.post(f"{MESSAGES}{inbox.ivan['id']}/mark_read/")
    retried = stranger.post(f"{MESSAGES}{inbox.reply['id']}/retry/")
    stranger.post(f"{MESSAGES}mark_read/", json={"ids": [inbox.ivan_photo["id"]]})
    stranger.post(f"{MESSAGES}mark_read/", json={"contact": inbox.olga["contact"]})

    assert detail.status_code == 404
    assert listed.status_code == 200 and listed.json()["results"] == []
    assert marked.status_code == 404
    assert retried.status_code == 404
    assert inbox.rows(is_read="true") == []


def test_given_messages_when_created_by_post_then_refused(inbox: Inbox) -> None:
    answer = inbox.linked.admin.post(MESSAGES, json={"text": "руками", "chat_id": IVAN})

    assert answer.status_code == 405, answer.text


def test_given_messages_when_filtered_by_direction_type_status_and_chat(inbox: Inbox) -> None:
    everything = {inbox.ivan["id"], inbox.ivan_photo["id"], inbox.olga["id"], inbox.reply["id"]}

    assert inbox.ids(account=inbox.linked.account["id"]) == everything
    assert inbox.ids(is_incoming="true") == everything - {inbox.reply["id"]}
    assert inbox.ids(is_incoming="false") == {inbox.reply["id"]}
    assert inbox.ids(message_type="image") == {inbox.ivan_photo["id"]}
    assert inbox.ids(message_type="text") == everything - {inbox.ivan_photo["id"]}
    assert inbox.ids(status="delivered") == everything
    assert inbox.ids(status="read") == set()
    assert inbox.ids(chat_id=OLGA) == {inbox.olga["id"], inbox.reply["id"]}
    assert inbox.ids(is_read="false") >= everything - {inbox.reply["id"]}
    assert inbox.ids(is_read="true") == set()


def test_given_messages_when_filtered_by_contact_and_lead(inbox: Inbox) -> None:
    ivan_contact = inbox.ivan["contact"]
    assert inbox.ivan_photo["contact"] == ivan_contact
    assert inbox.ivan["lead"] is not None

    assert inbox.ids(contact=ivan_contact) == {inbox.ivan["id"], inbox.ivan_photo["id"]}
    assert inbox.ids(lead=inbox.ivan["lead"]) == {inbox.ivan["id"], inbox.ivan_photo["id"]}
    assert inbox.ids(contact=inbox.olga["contact"]) == {inbox.olga["id"], inbox.reply["id"]}


def test_given_messages_when_filtered_by_a_timestamp_range_then_days_are_inclusive(
    inbox: Inbox,
) -> None:
    # Date filters take YYYY-MM-DD (CONTRACT.md, lists); the messages are a day apart.
    first, second, third = (
        row["timestamp"][:10] for row in (inbox.ivan, inbox.ivan_photo, inbox.olga)
    )
    assert first < second < third

    assert inbox.ids(timestamp_after=second, timestamp_before=third) == {
        inbox.ivan_photo["id"],
        inbox.olga["id"],
    }
    assert inbox.ivan["id"] not in inbox.ids(timestamp_after=second)
    assert inbox.ids(timestamp_before=first) == {inbox.ivan["id"]}


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"is_incoming": "maybe"}, "is_incoming"),
        ({"contact": "abc"}, "contact"),
        ({"timestamp_after": "yesterday"}, "timestamp_after"),
    ],
)
def test_given_a_filter_value_of_the_wrong_form_when_listing_then_400_naming_it(
    inbox: Inbox, params: dict[str, str], name: str
) -> None:
    answer = inbox.linked.admin.get(MESSAGES, params=params)

    assert answer.status_code == 400, answer.text
    assert name in answer.text


def test_given_messages_when_searched_then_text_and_numbers_match(inbox: Inbox) -> None:
    assert inbox.ids(search="цена") == {inbox.ivan["id"]}
    assert inbox.ids(search="субботу") == {inbox.olga["id"], inbox.reply["id"]}
    assert inbox.ids(search=OLGA) >= {inbox.olga["id"], inbox.reply["id"]}
    assert inbox.ivan["id"] not in inbox.ids(search=OLGA)


def test_given_an_incoming_message_when_marked_read_then_only_it_is_read(inbox: Inbox) -> None:
    answer = inbox.linked.post(f"{MESSAGES}{inbox.ivan['id']}/mark_read/")

    assert answer.status_code == 200, answer.text
    assert inbox.ids(is_read="true") == {inbox.ivan["id"]}
    detail = inbox.linked.admin.get(f"{MESSAGES}{inbox.ivan['id']}/").json()
    assert detail["is_read"] is True


def test_given_a_contact_when_its_messages_are_marked_read_in_bulk_then_only_theirs(
    inbox: Inbox,
) -> None:
    answer = inbox.linked.post(f"{MESSAGES}mark_read/", json={"contact": inbox.ivan["contact"]})

    assert answer.status_code == 200, answer.text
    read = {row["id"] for row in inbox.rows() if row["is_read"]}
    assert {inbox.ivan["id"], inbox.ivan_photo["id"]} <= read
    assert inbox.olga["id"] not in read


def test_given_ids_when_marked_read_in_bulk_then_those_are_read(inbox: Inbox) -> None:
    answer = inbox.linked.post(
        f"{MESSAGES}mark_read/", json={"ids": [inbox.ivan_photo["id"], inbox.olga["id"]]}
    )

    assert answer.status_code == 200, answer.text
    read = {row["id"] for row in inbox.rows() if row["is_read"]}
    assert {inbox.ivan_photo["id"], inbox.olga["id"]} <= read
    assert inbox.ivan["id"] not in read
