"""The webhook `POST /api/crm/wazzupp/webhook/{account_id}/?token=...`, held to MESSAGING.md
(Revision 2 included) from outside: deliveries posted as Wazzup posts them."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from tests.integration.messaging.conftest import Crm, Linked, link
from tests.wazzup_server import FakeWazzup

PHONE = "79995550011"


def _post(url: str, content: bytes | str, **headers: str) -> httpx.Response:
    return httpx.post(
        url,
        content=content,
        headers={"Content-Type": "application/json; charset-utf-8", **headers},
        timeout=30,
        trust_env=False,
    )


def _with_token(linked: Linked, token: str | None) -> str:
    base = linked.account["webhook_url"].split("?", 1)[0]
    return base if token is None else f"{base}?token={token}"


def _db_id(crm: Crm, value: str) -> Any:
    """Ids as the database driver binds them (SQLite keeps uuids as 32 hex characters)."""
    return uuid.UUID(value).hex if crm.settings.database_url.startswith("sqlite") else value


def _stored_deliveries(linked: Linked) -> int:
    rows = linked.crm.sql(
        "SELECT count(*) AS n FROM webhook_deliveries WHERE account_id = :a",
        a=_db_id(linked.crm, linked.account["id"]),
    )
    return int(rows[0].n)


def _funnel(linked: Linked) -> dict[str, Any]:
    funnel = linked.admin.post("/api/crm/funnels/", json={"name": "Входящие"})
    assert funnel.status_code == 201, funnel.text
    changed = linked.admin.patch(
        linked.account_path(), json={"default_funnel": funnel.json()["id"]}
    )
    assert changed.status_code == 200, changed.text
    return dict(funnel.json())


def _list(linked: Linked, path: str, **params: str) -> list[dict[str, Any]]:
    answer = linked.admin.get(path, params={"page_size": 500, **params})
    assert answer.status_code == 200, answer.text
    return list(answer.json()["results"])


# ---- the door --------------------------------------------------------------------------------


def test_given_the_registration_probe_when_posted_then_exactly_200(linked: Linked) -> None:
    answer = _post(linked.account["webhook_url"], json.dumps({"test": True}))

    assert answer.status_code == 200, answer.text
    assert linked.messages() == []


@pytest.mark.parametrize("token", ["wrong-secret", "", None], ids=["wrong", "empty", "missing"])
def test_given_a_wrong_or_missing_token_when_delivering_then_401_and_nothing_stored(
    linked: Linked, token: str | None
) -> None:
    before = _stored_deliveries(linked)
    item = linked.wazzup.incoming(linked.channel_id, PHONE)

    answer = _post(_with_token(linked, token), json.dumps({"messages": [item]}))

    assert answer.status_code == 401, answer.text
    assert _stored_deliveries(linked) == before
    assert linked.messages() == []


def test_given_another_accounts_token_when_delivering_then_401(
    crm: Crm, wazzup: FakeWazzup, linked: Linked
) -> None:
    other = link(crm, wazzup, register=False)
    other_token = other.account["webhook_url"].split("token=", 1)[1]
    item = linked.wazzup.incoming(linked.channel_id, PHONE)

    answer = _post(_with_token(linked, other_token), json.dumps({"messages": [item]}))

    assert answer.status_code == 401, answer.text
    assert linked.messages() == []


def test_given_an_unknown_account_when_delivering_then_401(linked: Linked) -> None:
    token = linked.account["webhook_url"].split("token=", 1)[1]
    url = f"{linked.crm.url}/api/crm/wazzupp/webhook/{uuid.uuid4()}/?token={token}"
    item = linked.wazzup.incoming(linked.channel_id, PHONE)

    answer = _post(url, json.dumps({"messages": [item]}))

    assert answer.status_code == 401, answer.text
    assert linked.messages() == []


def test_given_a_foreign_bearer_header_and_the_right_token_when_delivering_then_processed(
    linked: Linked,
) -> None:
    item = linked.wazzup.incoming(linked.channel_id, PHONE, text="С чужим заголовком")

    status = linked.deliver(item, Authorization="Bearer other")

    assert status == 200
    [row] = linked.messages()
    assert row["text"] == "С чужим заголовком"


@pytest.mark.parametrize("body", ["[1, 2]", '"messages"', "42", "null", "{not json"], ids=str)
def test_given_a_body_that_is_not_a_json_object_when_delivering_then_400(
    linked: Linked, body: str
) -> None:
    answer = _post(linked.account["webhook_url"], body)

    assert answer.status_code == 400, answer.text
    assert linked.messages() == []


def test_given_unknown_keys_when_delivering_then_200_and_ignored(linked: Linked) -> None:
    item = linked.wazzup.incoming(linked.channel_id, PHONE, somethingNew={"a": 1})

    answer = _post(
        linked.account["webhook_url"],
        json.dumps({"messages": [item], "templateStatus": {"status": "approved"}, "x": 1}),
    )

    assert answer.status_code == 200, answer.text
    assert len(linked.messages()) == 1


# ---- messages --------------------------------------------------------------------------------


def test_given_the_same_delivery_twice_when_delivered_then_one_row_per_message_id(
    linked: Linked,
) -> None:
    first = linked.wazzup.incoming(linked.channel_id, PHONE, text="Раз")
    second = linked.wazzup.incoming(linked.channel_id, PHONE, text="Два")

    assert linked.deliver(first, second, first) == 200
    assert linked.deliver(first, second) == 200
    assert linked.deliver(second) == 200

    rows = linked.messages()
    assert sorted(row["message_id"] for row in rows) == sorted(
        [first["messageId"], second["messageId"]]
    )
    assert len(_list(linked, "/api/crm/activities/", activity_type="message")) == 2


@pytest.mark.parametrize(
    "bad",
    [
        {"chatType": "whatsgroup", "chatId": "120363025246125486"},
        {"messageId": None},
        "drop-messageId",
        "not-an-object",
    ],
    ids=["group-chat", "null-message-id", "missing-message-id", "not-an-object"],
)
def test_given_one_bad_item_when_delivering_then_the_rest_is_processed(
    linked: Linked, bad: dict[str, Any] | str
) -> None:
    good_before = linked.wazzup.incoming(linked.channel_id, PHONE, text="До")
    good_after = linked.wazzup.incoming(linked.channel_id, "79995550022", text="После")
    if bad == "not-an-object":
        broken: Any = 42
    else:
        broken = linked.wazzup.incoming(linked.channel_id, "79995550033", text="Плохое")
        if bad == "drop-messageId":
            del broken["messageId"]
        else:
            assert isinstance(bad, dict)
            broken.update(bad)

    status = linked.deliver(good_before, broken, good_after)

    assert status == 200
    texts = {row["text"] for row in linked.messages()}
    assert {"До", "После"} <= texts
    if bad != "group-chat" and isinstance(broken, dict):
        assert "Плохое" not in texts


def test_given_an_unreadable_item_when_delivered_then_it_is_recorded_on_the_inbox_row(
    linked: Linked,
) -> None:
    broken = linked.wazzup.incoming(linked.channel_id, PHONE, text="Без id")
    del broken["messageId"]

    assert linked.deliver(broken) == 200

    rows = linked.crm.sql(
        "SELECT error FROM webhook_deliveries WHERE account_id = :a",
        a=_db_id(linked.crm, linked.account["id"]),
    )
    assert [row.error for row in rows if row.error], "the skipped item is not recorded"


def test_given_null_optional_fields_when_delivering_then_the_message_is_stored(
    linked: Linked,
) -> None:
    item = linked.wazzup.incoming(
        linked.channel_id,
        PHONE,
        text="Всё пусто",
        contact=None,
        authorName=None,
        authorId=None,
        isEdited=None,
        isDeleted=False,
        sentFromApp=None,
        quotedMessage=None,
        contentUri=None,
    )

    assert linked.deliver(item) == 200

    [row] = linked.messages()
    assert row["text"] == "Всё пусто"
    assert row["is_incoming"] is True


def test_given_an_unknown_number_when_a_message_comes_then_one_contact_one_lead_one_activity(
    linked: Linked,
) -> None:
    funnel = _funnel(linked)
    first_stage = min(funnel["stages"], key=lambda stage: stage["order"])
    item = linked.wazzup.incoming(
        linked.channel_id, PHONE, text="Сколько стоит?", contact_name="Иван Петров"
    )

    assert linked.deliver(item) == 200

    [contact] = _list(linked, "/api/crm/contacts/")
    assert "+" + PHONE in (contact["phone"], contact["whatsapp"])
    assert "Иван" in contact["full_name"]
    assert contact["source"] == "whatsapp"
    [lead] = _list(linked, "/api/crm/leads/")
    assert lead["contact"] == contact["id"]
    assert lead["funnel"] == funnel["id"]
    assert lead["stage"] == first_stage["id"]
    assert lead["source"] == "whatsapp"
    assert lead["status"] == "open"
    [row] = linked.messages()
    assert row["is_incoming"] is True
    assert row["status"] == "delivered"
    assert row["is_read"] is False
    assert row["contact"] == contact["id"]
    assert row["lead"] == lead["id"]
    assert row["chat_id"] == PHONE
    activities = _list(
        linked, "/api/crm/activities/", contact=contact["id"], activity_type="message"
    )
    assert len(activities) == 1

    again = linked.wazzup.incoming(linked.channel_id, PHONE, text="Алло?")
    assert linked.deliver(again) == 200

    assert len(_list(linked, "/api/crm/contacts/")) == 1
    assert len(_list(linked, "/api/crm/leads/")) == 1
    assert {row["lead"] for row in linked.messages()} == {lead["id"]}


def test_given_a_whatsapp_item_when_its_contact_phone_differs_then_the_chat_id_is_the_number(
    linked: Linked,
) -> None:
    item = linked.wazzup.incoming(
        linked.channel_id,
        PHONE,
        contact={"name": None, "phone": "79990000000", "messengerChatId": PHONE},
    )

    assert linked.deliver(item) == 200

    [contact] = _list(linked, "/api/crm/contacts/")
    assert "+" + PHONE in (contact["phone"], contact["whatsapp"])
    assert "+79990000000" not in (contact["phone"], contact["whatsapp"])


def test_given_telegram_messages_from_one_chat_when_delivered_then_one_contact(
    crm: Crm, wazzup: FakeWazzup
) -> None:
    linked = link(crm, wazzup, transport="tgapi", integration_type="telegram")
    for text in ("Привет", "Вы тут?"):
        item = wazzup.incoming(
            linked.channel_id,
            "500000999",
            text=text,
            chat_type="telegram",
            contact={"name": "Павел", "username": "pavel_k"},
        )
        assert linked.deliver(item) == 200

    rows = linked.messages()
    assert len(rows) == 2
    assert {row["chat_id"] for row in rows} == {"500000999"}
    [contact] = _list(linked, "/api/crm/contacts/")
    assert {row["contact"] for row in rows} == {contact["id"]}
    assert contact["source"] == "telegram"


def test_given_a_known_contact_when_a_message_comes_then_it_is_linked_without_a_new_contact(
    linked: Linked,
) -> None:
    # Holds the number's last nine digits: matched by "contains", it would win as the oldest.
    lookalike = linked.admin.post(
        "/api/crm/contacts/", json={"first_name": "Двойник", "phone": "+380995550011"}
    )
    assert lookalike.status_code == 201, lookalike.text
    older = linked.admin.post(
        "/api/crm/contacts/", json={"first_name": "Старый", "phone": "8 999 555-00-11"}
    )
    newer = linked.admin.post(
        "/api/crm/contacts/", json={"first_name": "Новый", "whatsapp": "+79995550011"}
    )
    decoy = linked.admin.post(
        "/api/crm/contacts/", json={"first_name": "Похожий", "phone": "+79995550012"}
    )
    assert older.status_code == newer.status_code == decoy.status_code == 201

    assert linked.deliver(linked.wazzup.incoming(linked.channel_id, PHONE)) == 200

    [row] = linked.messages()
    assert row["contact"] == older.json()["id"]
    assert len(_list(linked, "/api/crm/contacts/")) == 4


def test_given_a_contact_with_the_number_as_second_phone_when_a_message_comes_then_theirs(
    linked: Linked,
) -> None:
    known = linked.admin.post(
        "/api/crm/contacts/",
        json={"first_name": "Второй", "phone": "+74951234567", "phone_secondary": "+" + PHONE},
    )
    assert known.status_code == 201, known.text

    assert linked.deliver(linked.wazzup.incoming(linked.channel_id, PHONE)) == 200

    [row] = linked.messages()
    assert row["contact"] == known.json()["id"]
    assert len(_list(linked, "/api/crm/contacts/")) == 1


def test_given_auto_create_leads_off_when_a_new_number_writes_then_no_lead(
    linked: Linked,
) -> None:
    _funnel(linked)
    off = linked.admin.patch(linked.account_path(), json={"auto_create_leads": False})
    assert off.status_code == 200, off.text

    assert linked.deliver(linked.wazzup.incoming(linked.channel_id, PHONE)) == 200

    assert len(linked.messages()) == 1
    assert len(_list(linked, "/api/crm/contacts/")) == 1
    assert _list(linked, "/api/crm/leads/") == []


def test_given_no_default_funnel_when_a_message_comes_then_no_lead(linked: Linked) -> None:
    assert linked.deliver(linked.wazzup.incoming(linked.channel_id, PHONE)) == 200

    assert len(linked.messages()) == 1
    assert _list(linked, "/api/crm/leads/") == []


def test_given_an_echo_written_in_wazzup_when_delivered_then_outgoing_and_no_lead(
    linked: Linked,
) -> None:
    _funnel(linked)
    echo = linked.wazzup.echo_item(
        linked.channel_id, PHONE, text="Да, есть в наличии", author_name="Анна"
    )

    assert linked.deliver(echo) == 200

    [row] = linked.messages()
    assert row["is_incoming"] is False
    assert row["author_name"] == "Анна"
    assert row["message_id"] == echo["messageId"]
    assert row["lead"] is None
    assert _list(linked, "/api/crm/leads/") == []


def test_given_an_edited_then_deleted_message_when_delivered_then_the_row_is_updated(
    linked: Linked,
) -> None:
    original = linked.wazzup.incoming(linked.channel_id, PHONE, text="Исходный текст")
    assert linked.deliver(original) == 200
    edited = {
        **original,
        "text": "Исправленный текст",
        "isEdited": True,
        "oldInfo": {"oldText": "Исходный текст"},
    }

    assert linked.deliver(edited) == 200

    [row] = linked.messages()
    assert row["is_edited"] is True
    assert row["text"] == "Исправленный текст"
    deleted = {**edited, "isDeleted": True}
    assert linked.deliver(deleted) == 200
    [row] = linked.messages()
    assert row["is_deleted"] is True
    assert row["message_id"] == original["messageId"]
    assert len(_list(linked, "/api/crm/activities/", activity_type="message")) == 1


@pytest.mark.parametrize(
    ("wazzup_type", "crm_type"),
    [
        ("vcard", "contact"),
        ("geo", "location"),
        ("missing_call", "missed_call"),
        ("wapi_template", "template"),
        ("image", "image"),
        ("document", "document"),
        ("hologram", "unsupported"),
    ],
)
def test_given_a_wazzup_type_when_delivered_then_it_maps_to_the_crm_type(
    linked: Linked, wazzup_type: str, crm_type: str
) -> None:
    item = linked.wazzup.incoming(
        linked.channel_id,
        PHONE,
        type=wazzup_type,
        content_uri="https://store.wazzup24.com/e5115999/?filename=file.jpg",
    )

    assert linked.deliver(item) == 200

    [row] = linked.messages()
    assert row["message_type"] == crm_type
    assert row["message_type_display"]
    assert row["media_url"] == "https://store.wazzup24.com/e5115999/?filename=file.jpg"


# ---- statuses --------------------------------------------------------------------------------


def test_given_statuses_before_their_message_when_it_appears_then_they_are_applied(
    linked: Linked,
) -> None:
    message_id = str(uuid.uuid4())
    early = linked.wazzup.status_item(message_id, "read")
    assert linked.deliver(early, kind="statuses") == 200
    assert linked.messages() == []

    echo = linked.wazzup.echo_item(linked.channel_id, PHONE, message_id=message_id, status="sent")
    assert linked.deliver(echo) == 200

    [row] = linked.messages()
    assert row["message_id"] == message_id
    assert row["status"] == "read"


def test_given_a_status_for_another_companys_message_when_delivered_then_theirs_is_unchanged(
    crm: Crm, wazzup: FakeWazzup
) -> None:
    theirs = link(crm, wazzup)
    sent = theirs.post(
        theirs.account_path("send_message"), json={"to": PHONE, "message": "Их сообщение"}
    )
    assert sent.status_code == 201, sent.text
    wazzup.wait_for_deliveries()
    other_key = wazzup.add_key()
    ours = link(crm, wazzup, api_key=other_key)

    message_id = sent.json()["message_id"]
    for status in ("read", "error"):
        error = "BAD_CONTACT" if status == "error" else None
        forged = {"statuses": [wazzup.status_item(message_id, status, error)]}
        answer = _post(ours.account["webhook_url"], json.dumps(forged))
        assert answer.status_code == 200, answer.text

    [row] = theirs.messages()
    assert row["status"] == "sent"
    assert row["error"] is None


def test_given_messages_and_statuses_in_one_delivery_when_delivered_then_both_applied(
    linked: Linked,
) -> None:
    echo = linked.wazzup.echo_item(linked.channel_id, PHONE, status="sent")
    status = linked.wazzup.status_item(echo["messageId"], "delivered")

    assert linked.wazzup.deliver({"messages": [echo], "statuses": [status]}) == 200

    [row] = linked.messages()
    assert row["status"] == "delivered"


# ---- channelsUpdates -------------------------------------------------------------------------


def test_given_channels_updates_when_delivered_then_the_accounts_state_follows(
    linked: Linked,
) -> None:
    linked.wazzup.set_state(linked.channel_id, "qr")

    account = linked.admin.get(linked.account_path()).json()
    assert account["channel_state"].lower() == "qr"
    assert account["is_connected"] is False

    linked.wazzup.set_state(linked.channel_id, "active")

    account = linked.admin.get(linked.account_path()).json()
    assert account["channel_state"] == "active"
    assert account["is_connected"] is True


def test_given_channels_updates_for_another_channel_when_delivered_then_ours_is_unchanged(
    linked: Linked,
) -> None:
    other = linked.wazzup.add_channel(transport="whatsapp", plain_id="79865780001")

    linked.wazzup.set_state(other, "qr")

    account = linked.admin.get(linked.account_path()).json()
    assert account["channel_state"] == "active"
    assert account["is_connected"] is True


# ---- two accounts on one key -----------------------------------------------------------------


def _second_account(linked: Linked) -> tuple[str, dict[str, Any]]:
    channel = linked.wazzup.add_channel(transport="whatsapp", plain_id="79865780000")
    created = linked.admin.post(
        "/api/crm/wazzupp-accounts/",
        json={
            "name": "Сервис",
            "api_key": linked.wazzup.api_key,
            "api_url": linked.wazzup.url,
            "instance_id": channel,
        },
    )
    assert created.status_code == 201, created.text
    return channel, dict(created.json())


def test_given_two_accounts_on_one_key_when_an_item_comes_to_the_first_then_routed_by_channel(
    linked: Linked,
) -> None:
    channel, second = _second_account(linked)
    for_second = linked.wazzup.incoming(channel, PHONE, text="Для сервиса")
    for_first = linked.wazzup.incoming(linked.channel_id, PHONE, text="Для продаж")

    # The key's one webhook address is the first account's.
    assert linked.deliver(for_second, for_first) == 200

    assert [row["text"] for row in linked.messages(account=second["id"])] == ["Для сервиса"]
    assert [row["text"] for row in linked.messages(account=linked.account["id"])] == ["Для продаж"]


def test_given_an_item_for_an_unknown_channel_when_delivered_then_skipped_and_the_rest_kept(
    linked: Linked,
) -> None:
    _second_account(linked)
    stray = linked.wazzup.incoming(str(uuid.uuid4()), PHONE, text="Ничей канал")
    kept = linked.wazzup.incoming(linked.channel_id, PHONE, text="Наш канал")

    assert linked.deliver(stray, kept) == 200

    assert [row["text"] for row in linked.messages()] == ["Наш канал"]


def test_given_another_companys_channel_on_the_same_key_when_delivered_then_not_taken(
    crm: Crm, wazzup: FakeWazzup
) -> None:
    ours = link(crm, wazzup)
    theirs = link(crm, wazzup, register=False)  # another company, same Wazzup key
    item = wazzup.incoming(theirs.channel_id, PHONE, text="Чужая компания")

    assert ours.deliver(item) == 200

    assert ours.messages() == []
    assert theirs.messages() == []
