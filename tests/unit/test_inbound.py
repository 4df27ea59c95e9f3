"""What Wazzup tells the CRM: webhook deliveries stored as received, then applied: messages,
echoes, statuses and channel states, routed among the accounts on one key."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from crm_core import (
    Actor,
    ChatType,
    MessageStatus,
    MessageType,
    NotFound,
    ValidationFailed,
)
from crm_core.errors import NotAuthenticated
from crm_core.inbox import Delivery
from crm_core.jobs import Done
from crm_core.ports import OutgoingMessage
from crm_core.services.inbound import PROCESS_DELIVERY
from crm_core.services.pipeline import CreateLead
from crm_core.values import AccountId, FunnelId
from tests.fakes import a_channel
from tests.unit.conftest import (
    WHEN,
    Crm,
    Messaging,
    wazzup_channel,
    wazzup_echo,
    wazzup_message,
    wazzup_status,
)


@pytest.fixture
def account(messaging: Messaging, anna: Actor) -> AccountId:
    """ООО Ромашка's WhatsApp account on `channel-1`."""
    return messaging.account(anna)


def sales_funnel(crm: Crm, actor: Actor) -> FunnelId:
    return crm.funnel(actor).id


def messages(*items: dict[str, Any]) -> dict[str, Any]:
    return {"messages": list(items)}


def deliveries(crm: Crm) -> list[Delivery]:
    return crm.db.rows("deliveries")


def assert_one_activity_per_row(messaging: Messaging) -> None:
    assert len(messaging.message_activities()) == len(messaging.messages())


# --- the webhook: stored first, then processed --------------------------------------------------


def test_given_a_delivery_then_it_is_stored_with_its_job_and_the_job_applies_it(
    crm: Crm, messaging: Messaging, account: AccountId
) -> None:
    body = messages(wazzup_message("w-1"))

    delivery_id = messaging.accept(account, body)

    [stored] = deliveries(crm)
    assert (stored.id, stored.account_id, stored.processed_at) == (delivery_id, account, None)
    assert json.loads(stored.body) == body
    assert messaging.messages() == []
    [job] = crm.db.jobs(PROCESS_DELIVERY)
    assert job.payload == {"delivery": str(delivery_id)}

    outcomes = crm.db.run_jobs(PROCESS_DELIVERY, messaging.inbound.process_job, crm.clock.now())

    assert outcomes == [Done()]
    assert [m.provider_message_id for m in messaging.messages()] == ["w-1"]
    [processed] = deliveries(crm)
    assert (processed.processed_at, processed.error) == (crm.clock.now(), None)


@pytest.mark.parametrize(
    "secret", ["", "guess", None], ids=["missing", "wrong", "another-accounts"]
)
def test_given_a_wrong_secret_then_the_delivery_is_refused_and_nothing_stored(
    crm: Crm, anna: Actor, messaging: Messaging, account: AccountId, secret: str | None
) -> None:
    if secret is None:
        secret = messaging.secret_of(messaging.account(anna, name="Другой"))

    with pytest.raises(NotAuthenticated):
        messaging.inbound.accept(account, secret, json.dumps(messages(wazzup_message())))

    assert (deliveries(crm), crm.db.jobs(PROCESS_DELIVERY)) == ([], [])


@pytest.mark.parametrize("account_id", [uuid.uuid4(), "not-a-uuid", ""])
def test_given_an_unknown_account_then_the_delivery_is_refused(
    crm: Crm, messaging: Messaging, account: AccountId, account_id: Any
) -> None:
    with pytest.raises(NotAuthenticated):
        messaging.inbound.accept(account_id, messaging.secret_of(account), "{}")

    assert deliveries(crm) == []


@pytest.mark.parametrize("body", ["[]", '"text"', "not json", "", "null"])
def test_given_a_body_that_is_no_json_object_then_it_is_refused(
    crm: Crm, messaging: Messaging, account: AccountId, body: str
) -> None:
    with pytest.raises(ValidationFailed):
        messaging.inbound.accept(account, messaging.secret_of(account), body)

    assert deliveries(crm) == []


def test_given_the_providers_test_of_the_address_then_nothing_is_stored(
    crm: Crm, messaging: Messaging, account: AccountId
) -> None:
    assert messaging.accept(account, {"test": True}) is None

    assert (deliveries(crm), crm.db.jobs()) == ([], [])


def test_given_stored_deliveries_then_process_stored_applies_them_oldest_first_once(
    crm: Crm, messaging: Messaging, account: AccountId
) -> None:
    messaging.accept(account, messages(wazzup_message("w-1", text="Первое")))
    crm.clock.advance(seconds=1)
    messaging.accept(account, messages(wazzup_message("w-1", text="Исправлено", isEdited=True)))

    assert messaging.inbound.process_stored([account]) == 2
    assert messaging.inbound.process_stored() == 0

    [message] = messaging.messages()
    assert (message.text, message.is_edited) == ("Исправлено", True)
    assert all(delivery.processed_at is not None for delivery in deliveries(crm))


def test_given_a_delivery_that_cannot_be_applied_then_it_stays_unprocessed(
    crm: Crm, anna: Actor, messaging: Messaging, account: AccountId
) -> None:
    messaging.accept(account, messages(wazzup_message()))
    messaging.accounts.delete_account(anna, account)

    assert messaging.inbound.process_stored() == 0

    [delivery] = deliveries(crm)
    assert delivery.processed_at is None


def test_given_a_processed_delivery_when_applied_again_then_nothing_changes(
    crm: Crm, messaging: Messaging, account: AccountId
) -> None:
    messaging.deliver(account, messages(wazzup_message()))
    [delivery] = deliveries(crm)

    with crm.db.unit_of_work() as uow:
        report = messaging.inbound.apply(uow, uow.deliveries.get(delivery.id))
        uow.commit()

    assert (report.created, report.updated) == (0, 0)
    assert len(messaging.messages()) == 1


def test_given_a_delivery_of_an_unknown_account_when_applied_then_it_is_not_found(
    crm: Crm, messaging: Messaging
) -> None:
    delivery = Delivery(AccountId(uuid.uuid4()), json.dumps(messages(wazzup_message())), WHEN)

    with crm.db.unit_of_work() as uow, pytest.raises(NotFound):
        messaging.inbound.apply(uow, delivery)


def test_given_unknown_keys_and_null_fields_then_they_are_ignored(
    messaging: Messaging, account: AccountId
) -> None:
    report = messaging.deliver(
        account,
        {
            "messages": [
                wazzup_message(
                    contact={"name": None, "avatarUri": None},
                    authorName=None,
                    isEdited=None,
                    quotedMessage={"text": "?"},
                )
            ],
            "templateStatus": {"templateGuid": "t", "status": "approved"},
            "somethingNew": [1, 2, 3],
        },
    )

    assert (report.created, report.errors) == (1, ())


# --- messages ---------------------------------------------------------------------------------


def test_given_a_new_chat_when_a_message_arrives_then_contact_lead_and_activity_are_made(
    crm: Crm, anna: Actor, messaging: Messaging
) -> None:
    funnel = crm.funnel(anna)
    account = messaging.account(anna, default_funnel_id=funnel.id)

    report = messaging.deliver(account, messages(wazzup_message("w-1")))

    assert (report.created, report.updated, report.pending, report.errors) == (1, 0, (), ())
    [message] = messaging.messages()
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
    assert (message.from_number, message.to_number) == ("79991234567", "channel-1")
    [contact] = messaging.contacts()
    assert (contact.first_name, contact.source, str(contact.phone)) == (
        "Иван Петров",
        "whatsapp",
        "+79991234567",
    )
    [lead] = messaging.leads()
    assert (lead.funnel_id, lead.stage_id, lead.source, lead.title) == (
        funnel.id,
        funnel.ordered_stages[0].id,
        "whatsapp",
        "WhatsApp: Иван Петров",
    )
    assert (message.contact_id, message.lead_id) == (contact.id, lead.id)
    [activity] = messaging.message_activities()
    assert (activity.contact_id, activity.lead_id) == (contact.id, lead.id)
    assert messaging.chat_owner(account, "79991234567") == contact.id


def test_given_the_same_delivery_twice_then_nothing_is_added(
    crm: Crm, anna: Actor, messaging: Messaging
) -> None:
    account = messaging.account(anna, default_funnel_id=sales_funnel(crm, anna))
    body = messages(wazzup_message("w-1"), wazzup_message("w-2", text="Алло?"))
    messaging.deliver(account, body)

    report = messaging.deliver(account, body)

    assert (report.created, report.updated) == (0, 0)
    assert (len(messaging.messages()), len(messaging.contacts()), len(messaging.leads())) == (
        2,
        1,
        1,
    )
    assert len(messaging.message_activities()) == 2


def test_given_one_message_twice_in_one_delivery_then_it_is_one_row(
    messaging: Messaging, account: AccountId
) -> None:
    report = messaging.deliver(
        account,
        messages(
            wazzup_message("w-1", text="Добрый день"),
            wazzup_message("w-1", text="Добрый вечер", isEdited=True),
        ),
    )

    [message] = messaging.messages()
    assert report.created == 1
    assert (message.text, message.is_edited) == ("Добрый вечер", True)
    assert_one_activity_per_row(messaging)


def test_given_two_deliveries_from_a_new_number_then_they_share_one_contact_and_lead(
    crm: Crm, anna: Actor, messaging: Messaging
) -> None:
    account = messaging.account(anna, default_funnel_id=sales_funnel(crm, anna))

    messaging.deliver(account, messages(wazzup_message("w-1")))
    messaging.deliver(account, messages(wazzup_message("w-2", contact={"name": "Ваня"})))

    [contact] = messaging.contacts()
    [lead] = messaging.leads()
    assert {(m.contact_id, m.lead_id) for m in messaging.messages()} == {(contact.id, lead.id)}


def test_given_a_sender_without_a_name_then_the_contact_is_named_by_the_number(
    messaging: Messaging, account: AccountId
) -> None:
    messaging.deliver(account, messages(wazzup_message(contact=None)))

    assert messaging.contacts()[0].first_name == "+79991234567"


def test_given_contacts_with_the_number_then_the_oldest_exact_match_is_the_sender(
    crm: Crm, anna: Actor, messaging: Messaging, account: AccountId
) -> None:
    crm.contact(anna, phone="+7 999 123-45-68")  # another number
    oldest = crm.contact(anna, phone="+79991112233", whatsapp="+7 999 123-45-67")
    crm.clock.advance(minutes=1)
    crm.contact(anna, phone_secondary="+7 999 123-45-67", email="x@example.com")

    messaging.deliver(account, messages(wazzup_message()))

    assert messaging.messages()[0].contact_id == oldest
    assert len(messaging.contacts()) == 3


def test_given_a_number_that_only_contains_a_contacts_number_then_a_new_contact_is_made(
    crm: Crm, anna: Actor, messaging: Messaging, account: AccountId
) -> None:
    existing = crm.contact(anna, phone="+7 999 123-45-67")

    messaging.deliver(account, messages(wazzup_message(chat_id="379991234567")))

    assert messaging.messages()[0].contact_id != existing
    assert len(messaging.contacts()) == 2


def test_given_a_chat_id_without_a_number_then_the_contact_phone_is_the_fallback(
    crm: Crm, anna: Actor, messaging: Messaging, account: AccountId
) -> None:
    existing = crm.contact(anna, phone="+7 999 123-45-67")

    messaging.deliver(
        account,
        messages(wazzup_message(chat_id="wa-id", contact={"name": "Иван", "phone": "79991234567"})),
    )

    assert messaging.messages()[0].contact_id == existing


def test_given_a_contact_with_an_open_lead_then_the_message_joins_it_and_no_lead_is_made(
    crm: Crm, anna: Actor, messaging: Messaging
) -> None:
    funnel = crm.funnel(anna)
    account = messaging.account(anna, default_funnel_id=funnel.id)
    contact_id = crm.contact(anna, phone="+7 999 123-45-67")
    lead_id = crm.leads.create_lead(
        anna, CreateLead(contact_id=contact_id, funnel_id=funnel.id, title="Диван")
    )

    messaging.deliver(account, messages(wazzup_message()))

    assert messaging.messages()[0].lead_id == lead_id and len(messaging.leads()) == 1


@pytest.mark.parametrize("fields", [{"auto_create_leads": False}, {}])
def test_given_no_default_funnel_or_no_auto_leads_then_no_lead_is_made(
    crm: Crm, anna: Actor, messaging: Messaging, fields: dict[str, Any]
) -> None:
    if fields:
        fields["default_funnel_id"] = sales_funnel(crm, anna)
    account = messaging.account(anna, **fields)

    messaging.deliver(account, messages(wazzup_message()))

    assert messaging.leads() == [] and messaging.messages()[0].lead_id is None


def test_given_outgoing_messages_then_they_never_make_leads(
    crm: Crm, anna: Actor, messaging: Messaging
) -> None:
    account = messaging.account(anna, default_funnel_id=sales_funnel(crm, anna))

    messaging.send(anna, account, to="79990000001")
    messaging.deliver(
        account, messages(wazzup_echo("w-app", chat_id="79990000002", authorName="Анна"))
    )

    assert messaging.leads() == []
    assert len(messaging.messages()) == 2
    assert_one_activity_per_row(messaging)


def test_given_an_echo_written_in_the_provider_then_it_is_an_outgoing_message_with_its_author(
    messaging: Messaging, account: AccountId
) -> None:
    report = messaging.deliver(
        account,
        messages(wazzup_echo("w-app", authorName="Анна", text="Да, продаётся", sentFromApp=True)),
    )

    [message] = messaging.messages()
    assert report.created == 1
    assert (message.is_incoming, message.status, message.author_name, message.text) == (
        False,
        MessageStatus.SENT,
        "Анна",
        "Да, продаётся",
    )
    assert (message.from_number, message.to_number) == ("channel-1", "79991234567")
    assert len(messaging.message_activities()) == 1


def test_given_an_edit_or_deletion_then_the_row_changes_and_none_is_added(
    messaging: Messaging, account: AccountId
) -> None:
    messaging.deliver(account, messages(wazzup_message("w-1", text="Добрый день")))

    edited = messaging.deliver(
        account, messages(wazzup_message("w-1", text="Добрый вечер", isEdited=True))
    )
    deleted = messaging.deliver(account, messages(wazzup_message("w-1", text="", isDeleted=True)))

    [message] = messaging.messages()
    assert (edited.updated, deleted.updated) == (1, 1)
    assert (message.text, message.is_edited, message.is_deleted) == ("Добрый вечер", True, True)
    assert len(messaging.message_activities()) == 1


@pytest.mark.parametrize(
    ("wazzup_type", "message_type"),
    [
        ("image", MessageType.IMAGE),
        ("document", MessageType.DOCUMENT),
        ("vcard", MessageType.CONTACT),
        ("geo", MessageType.LOCATION),
        ("missing_call", MessageType.MISSED_CALL),
        ("wapi_template", MessageType.TEMPLATE),
        ("sticker_pack", MessageType.UNSUPPORTED),
    ],
)
def test_given_media_types_then_they_are_kept_with_their_link(
    messaging: Messaging, account: AccountId, wazzup_type: str, message_type: MessageType
) -> None:
    url = "https://store.wazzup24.com/e5115999/?filename=photo.jpg"

    messaging.deliver(
        account, messages(wazzup_message("w-1", type=wazzup_type, text=None, contentUri=url))
    )

    [message] = messaging.messages()
    assert (message.message_type, message.media_url) == (message_type, url)


def test_given_bad_items_then_they_are_skipped_and_named_and_the_rest_is_applied(
    crm: Crm, messaging: Messaging, account: AccountId
) -> None:
    report = messaging.deliver(
        account,
        {
            "messages": [
                wazzup_message(None),  # no messageId
                wazzup_message("w-2", chat_id=None),  # no chatId
                wazzup_message("w-3"),
                "not an object",
                wazzup_message("w-5", chatType="telegram"),  # not this account's chat type
            ],
            "statuses": [wazzup_status("w-3", "read")],
        },
    )

    assert report.created == 1
    assert [error.place for error in report.errors] == [
        "messages[0]",
        "messages[1]",
        "messages[3]",
        "messages[4]",
    ]
    assert "chatId" in report.errors[1].detail
    assert [m.provider_message_id for m in messaging.messages()] == ["w-3"]
    [delivery] = deliveries(crm)
    assert delivery.error is not None and "messages[1]" in delivery.error
    assert delivery.processed_at is not None


def test_given_another_companys_contact_with_the_number_then_it_is_never_the_sender(
    crm: Crm, anna: Actor, boris: Actor, messaging: Messaging, account: AccountId
) -> None:
    theirs = crm.contact(boris, phone="+7 999 123-45-67")

    messaging.deliver(account, messages(wazzup_message()))

    [message] = messaging.messages()
    assert message.contact_id != theirs
    assert messaging.read_contact(anna, message.contact_id).company_id == anna.company_id


def test_given_telegram_chats_then_the_sender_is_found_again_by_chat_id(
    anna: Actor, messaging: Messaging
) -> None:
    messaging.gateway.channel(chat_type="telegram")
    account = messaging.account(anna, chat_type=ChatType.TELEGRAM)
    tg = {"chatType": "telegram", "contact": {"name": "Павел", "username": "durov"}}

    messaging.deliver(account, messages(wazzup_message("t-1", chat_id="500100200", **tg)))
    messaging.deliver(account, messages(wazzup_message("t-2", chat_id=500100200, **tg)))

    [contact] = messaging.contacts()
    assert (contact.telegram, contact.source, contact.first_name) == (
        "500100200",
        "telegram",
        "Павел",
    )
    assert {m.contact_id for m in messaging.messages()} == {contact.id}


def test_given_a_contact_with_a_learnt_telegram_chat_id_then_it_is_the_sender(
    crm: Crm, anna: Actor, messaging: Messaging
) -> None:
    messaging.gateway.channel(chat_type="telegram")
    account = messaging.account(anna, chat_type=ChatType.TELEGRAM)
    contact_id = crm.contact(anna, phone=None, telegram="@durov")
    with crm.db.unit_of_work() as uow:
        contact = uow.contacts.get(anna.company_id, contact_id)
        contact.learn_telegram_chat("500100200", crm.clock.now())
        uow.contacts.save(contact)
        uow.commit()

    messaging.deliver(
        account, messages(wazzup_message("t-1", chat_id="500100200", chatType="telegram"))
    )

    assert [m.contact_id for m in messaging.messages()] == [contact_id]
    assert len(messaging.contacts()) == 1


def test_given_a_chat_type_without_a_contact_field_then_the_chat_finds_its_contact_again(
    crm: Crm, anna: Actor, messaging: Messaging
) -> None:
    messaging.gateway.channel(chat_type="vk")
    account = messaging.account(anna, chat_type=ChatType.VK)
    vk = {"chatType": "vk", "chat_id": "id777"}

    messaging.deliver(account, messages(wazzup_message("v-1", **vk)))
    crm.clock.advance(minutes=1)
    messaging.deliver(account, messages(wazzup_message("v-2", **vk)))

    assert len(messaging.contacts()) == 1
    assert len({m.contact_id for m in messaging.messages()}) == 1


# --- statuses and echoes ------------------------------------------------------------------------


def test_given_statuses_out_of_order_then_the_most_advanced_stays(
    anna: Actor, messaging: Messaging, account: AccountId
) -> None:
    message_id = messaging.send(anna, account)

    report = messaging.deliver(
        account,
        {
            "statuses": [
                wazzup_status("provider-1", "read"),
                wazzup_status("provider-1", "delivered"),
                wazzup_status("provider-1", "sent"),
                wazzup_status("provider-1", "edited"),
            ]
        },
    )

    assert (report.updated, report.errors) == (1, ())
    assert messaging.read_message(anna, message_id).status == MessageStatus.READ


def test_given_an_error_status_then_it_is_final_with_its_error(
    anna: Actor, messaging: Messaging, account: AccountId
) -> None:
    message_id = messaging.send(anna, account)

    messaging.deliver(
        account,
        {
            "statuses": [
                wazzup_status(
                    "provider-1",
                    "error",
                    {"error": "BAD_CONTACT", "description": "Account does not exist"},
                ),
                wazzup_status("provider-1", "read"),
            ]
        },
    )

    message = messaging.read_message(anna, message_id)
    assert (message.status, message.error) == (
        MessageStatus.FAILED,
        {"code": "BAD_CONTACT", "description": "Account does not exist"},
    )
    assert message.outcome_unknown is False


def test_given_a_status_of_an_unknown_message_then_it_is_kept_and_applied_when_the_echo_comes(
    crm: Crm, messaging: Messaging, account: AccountId
) -> None:
    early = messaging.deliver(
        account,
        {
            "statuses": [
                wazzup_status("w-app", "delivered"),
                wazzup_status("w-app", "read"),
            ]
        },
    )
    with crm.read() as uow:
        assert [s.status for s in uow.early_statuses.kept()] == [
            MessageStatus.DELIVERED,
            MessageStatus.READ,
        ]

    messaging.deliver(account, messages(wazzup_echo("w-app", authorName="Анна")))

    assert [s.provider_message_id for s in early.pending] == ["w-app", "w-app"]
    [message] = messaging.messages()
    assert (message.provider_message_id, message.status) == ("w-app", MessageStatus.READ)
    with crm.read() as uow:
        assert uow.early_statuses.kept() == []
    assert [d.processed_at is not None for d in deliveries(crm)] == [True, True]


def test_given_an_early_error_status_then_the_echo_created_message_ends_failed(
    messaging: Messaging, account: AccountId
) -> None:
    messaging.deliver(
        account,
        {"statuses": [wazzup_status("w-app", "error", {"error": "SPAM", "description": "x"})]},
    )

    messaging.deliver(account, messages(wazzup_echo("w-app")))

    [message] = messaging.messages()
    assert (message.status, message.error) == (
        MessageStatus.FAILED,
        {"code": "SPAM", "description": "x"},
    )


def test_given_an_echo_and_its_statuses_in_one_delivery_then_they_apply_together(
    crm: Crm, messaging: Messaging, account: AccountId
) -> None:
    report = messaging.deliver(
        account,
        {
            "messages": [wazzup_echo("w-app")],
            "statuses": [wazzup_status("w-app", "delivered")],
        },
    )

    [message] = messaging.messages()
    assert message.status == MessageStatus.DELIVERED
    assert report.pending == ()
    with crm.read() as uow:
        assert uow.early_statuses.kept() == []


def test_given_an_echo_after_the_send_answer_then_it_updates_our_row(
    anna: Actor, messaging: Messaging, account: AccountId
) -> None:
    message_id = messaging.send(anna, account)

    report = messaging.deliver(
        account,
        messages(wazzup_echo("provider-1", status="delivered", crmMessageId=str(message_id))),
    )

    [message] = messaging.messages()
    assert (report.created, report.updated) == (0, 1)
    assert (message.id, message.status) == (message_id, MessageStatus.DELIVERED)
    assert len(messaging.message_activities()) == 1


@pytest.mark.parametrize("crm_id", ["crm-msg-000123", "6f1c2a9e-3b7d-4c52-9e0a-1d2b3c4d5e6f"])
def test_given_an_echo_naming_an_id_that_is_not_ours_then_it_is_a_message_of_its_own(
    messaging: Messaging, account: AccountId, crm_id: str
) -> None:
    report = messaging.deliver(account, messages(wazzup_echo("w-x", crmMessageId=crm_id)))

    assert report.created == 1 and len(messaging.messages()) == 1
    assert_one_activity_per_row(messaging)


def test_given_an_echo_naming_another_companys_message_then_it_is_not_taken_for_it(
    anna: Actor, boris: Actor, messaging: Messaging, account: AccountId
) -> None:
    theirs = messaging.send(boris, messaging.account(boris))

    messaging.deliver(account, messages(wazzup_echo("w-x", crmMessageId=str(theirs))))

    mine = [m for m in messaging.messages() if m.company_id == anna.company_id]
    assert [m.provider_message_id for m in mine] == ["w-x"]
    assert messaging.read_message(boris, theirs).provider_message_id == "provider-1"


def test_given_an_echo_with_an_error_then_the_new_row_is_failed_with_it(
    messaging: Messaging, account: AccountId
) -> None:
    messaging.deliver(
        account,
        messages(
            wazzup_echo("w-x", status="error", error={"error": "SPAM", "description": "Spam"})
        ),
    )

    [message] = messaging.messages()
    assert (message.status, message.error) == (
        MessageStatus.FAILED,
        {"code": "SPAM", "description": "Spam"},
    )


# --- channel states -------------------------------------------------------------------------------


def test_given_a_channel_update_then_the_account_follows_its_own_channel_only(
    anna: Actor, messaging: Messaging, account: AccountId
) -> None:
    messaging.accounts.check_connection(anna, account)

    report = messaging.deliver(
        account,
        {
            "channelsUpdates": [
                wazzup_channel("channel-1", "qr"),
                wazzup_channel("channel-7", "active"),
            ]
        },
    )

    saved = messaging.read_account(anna, account)
    assert report.updated == 1
    assert (saved.channel_state, saved.is_connected) == ("qr", False)
    assert "qr" in saved.last_error

    messaging.deliver(account, {"channelsUpdates": [wazzup_channel("channel-1", "Active")]})

    saved = messaging.read_account(anna, account)
    assert (saved.channel_state, saved.is_connected, saved.last_error) == ("active", True, "")


# --- accounts sharing one key ---------------------------------------------------------------------


@pytest.fixture
def sibling(messaging: Messaging, anna: Actor, account: AccountId) -> AccountId:
    """A second account of ООО Ромашка on the same key, on `channel-2`."""
    messaging.gateway.channel_list.append(a_channel("channel-2", plain_id="79860000002"))
    return messaging.account(anna, name="Опт", instance_id="channel-2")


def test_given_two_accounts_on_one_key_then_items_land_on_their_channels_account(
    anna: Actor, messaging: Messaging, account: AccountId, sibling: AccountId
) -> None:
    # Wazzup keeps one webhook address per key: the first account's address gets it all.
    report = messaging.deliver(
        account,
        messages(
            wazzup_message("w-1", channelId="channel-2"),
            wazzup_message("w-2", channelId="channel-1", chat_id="79990000000"),
        ),
    )

    by_id = {m.provider_message_id: m for m in messaging.messages()}
    assert (report.created, report.errors) == (2, ())
    assert (by_id["w-1"].account_id, by_id["w-2"].account_id) == (sibling, account)
    assert by_id["w-1"].to_number == "channel-2"
    assert messaging.chat_owner(sibling, "79991234567") == by_id["w-1"].contact_id
    assert messaging.chat_owner(account, "79991234567") is None


def test_given_two_accounts_on_one_key_then_a_channel_update_moves_the_right_account(
    anna: Actor, messaging: Messaging, account: AccountId, sibling: AccountId
) -> None:
    messaging.accounts.check_connection(anna, account)
    messaging.accounts.check_connection(anna, sibling)

    messaging.deliver(account, {"channelsUpdates": [wazzup_channel("channel-2", "qr")]})

    assert messaging.read_account(anna, account).channel_state == "active"
    assert messaging.read_account(anna, sibling).channel_state == "qr"


def test_given_two_accounts_on_one_key_then_statuses_reach_the_other_accounts_message(
    anna: Actor, messaging: Messaging, account: AccountId, sibling: AccountId
) -> None:
    message_id = messaging.send(anna, sibling)

    messaging.deliver(account, {"statuses": [wazzup_status("provider-1", "read")]})

    assert messaging.read_message(anna, message_id).status == MessageStatus.READ


def test_given_two_accounts_on_one_key_then_an_early_status_reaches_the_other_accounts_send(
    crm: Crm, anna: Actor, messaging: Messaging, account: AccountId, sibling: AccountId
) -> None:
    # The account that sends is the one whose id sorts last: the status is kept under the other.
    sender, other = sorted([account, sibling], key=str, reverse=True)

    def status_during_send(outgoing: OutgoingMessage, provider_id: str) -> None:
        messaging.deliver(other, {"statuses": [wazzup_status(provider_id, "read")]})

    messaging.gateway.during_send = status_during_send

    message_id = messaging.send(anna, sender)

    assert messaging.read_message(anna, message_id).status == MessageStatus.READ


def test_given_an_item_of_no_accounts_channel_then_it_is_skipped_and_recorded(
    crm: Crm, messaging: Messaging, account: AccountId, sibling: AccountId
) -> None:
    report = messaging.deliver(
        account,
        messages(
            wazzup_message("w-1", channelId="channel-9"),
            wazzup_message("w-2", channelId="channel-1"),
        ),
    )

    assert report.created == 1
    assert [(e.place, "channel-9" in e.detail) for e in report.errors] == [("messages[0]", True)]
    assert [m.provider_message_id for m in messaging.messages()] == ["w-2"]
    [delivery] = deliveries(crm)
    assert delivery.error is not None and "channel-9" in delivery.error


def test_given_another_companys_account_on_the_same_key_then_its_channel_is_not_ours(
    crm: Crm, anna: Actor, boris: Actor, messaging: Messaging, account: AccountId
) -> None:
    theirs = messaging.account(boris, instance_id="channel-2")

    report = messaging.deliver(account, messages(wazzup_message("w-1", channelId="channel-2")))

    assert report.created == 0 and len(report.errors) == 1
    assert messaging.messages() == []
    assert theirs is not None


def test_given_a_message_without_a_channel_then_it_is_the_receiving_accounts(
    messaging: Messaging, account: AccountId, sibling: AccountId
) -> None:
    messaging.deliver(sibling, messages(wazzup_message("w-1", channelId=None)))

    [message] = messaging.messages()
    assert message.account_id == sibling
