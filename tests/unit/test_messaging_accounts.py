"""Messaging accounts: an admin's link to the provider, its check, its sync and the pushes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from crm_core import (
    Actor,
    ChatType,
    Conflict,
    NotFound,
    PermissionDenied,
    ProviderTimedOut,
    Role,
    ValidationFailed,
)
from crm_core.errors import (
    ProviderRateLimited,
    ProviderRefused,
    ProviderRejectedKey,
    ProviderUnreachable,
)
from crm_core.jobs import Dead, Done, RetryAt
from crm_core.messaging import DEFAULT_API_URL
from crm_core.ports import ChatAddress, ProviderConnection, PushedUser
from crm_core.services.contacts import CreateContact
from crm_core.services.messaging_accounts import (
    PUSH,
    ChangeAccount,
    CreateAccount,
    key_fingerprint,
    webhook_url,
)
from crm_core.values import AccountId, ContactId, FunnelId
from tests.fakes import FakeSecretBox, a_channel
from tests.unit.conftest import (
    API_KEY,
    PUBLIC_URL,
    Crm,
    Messaging,
    wazzup_message,
)


@pytest.fixture
def account(messaging: Messaging, anna: Actor) -> AccountId:
    """ООО Ромашка's WhatsApp account on `channel-1`, its state not checked yet."""
    return messaging.account(anna)


def sales_funnel(crm: Crm, actor: Actor) -> FunnelId:
    return crm.funnel(actor).id


# --- accounts ---------------------------------------------------------------------------------


def test_given_an_admin_when_an_account_is_created_then_the_key_is_sealed_and_hinted(
    crm: Crm, anna: Actor, messaging: Messaging
) -> None:
    funnel_id = sales_funnel(crm, anna)

    account = messaging.read_account(
        anna,
        messaging.account(anna, chat_type=ChatType.TELEGRAM, default_funnel_id=funnel_id),
    )

    assert API_KEY not in account.api_key_encrypted
    assert FakeSecretBox().decrypt(account.api_key_encrypted) == API_KEY
    assert account.api_key_hint == "…abcd"
    assert account.api_key_fingerprint == key_fingerprint(API_KEY)
    assert API_KEY not in account.api_key_fingerprint
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
    anna: Actor, messaging: Messaging
) -> None:
    first = messaging.read_account(anna, messaging.account(anna))
    second = messaging.read_account(anna, messaging.account(anna))

    assert first.webhook_secret != second.webhook_secret


@pytest.mark.parametrize("api_url", [None, "", "   "])
def test_given_no_api_url_then_the_default_wazzup_address_is_used(
    anna: Actor, messaging: Messaging, api_url: str | None
) -> None:
    fields = {} if api_url is None else {"api_url": api_url}
    account = messaging.account(anna, **fields)

    messaging.accounts.check_connection(anna, account)

    assert messaging.read_account(anna, account).api_url == DEFAULT_API_URL
    assert DEFAULT_API_URL == "https://api.wazzup24.com"
    assert messaging.gateway.connections[-1].api_url == "https://api.wazzup24.com"


def test_given_an_api_url_then_the_provider_is_called_there(
    anna: Actor, messaging: Messaging
) -> None:
    account = messaging.account(anna, api_url="https://wazzup.example/")

    messaging.accounts.check_connection(anna, account)

    assert messaging.gateway.connections[-1] == ProviderConnection(
        "https://wazzup.example/", API_KEY
    )


@pytest.mark.parametrize("api_url", ["ftp://wazzup.example", "api.wazzup24.com", "http://"])
def test_given_an_api_url_that_is_no_http_address_then_it_is_refused(
    crm: Crm, anna: Actor, messaging: Messaging, api_url: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        messaging.account(anna, api_url=api_url)

    assert "api_url" in refused.value.errors
    assert crm.db.rows("accounts") == []


def test_given_a_provider_connection_then_its_repr_hides_the_key() -> None:
    connection = ProviderConnection("https://api.wazzup24.com", API_KEY)

    assert API_KEY not in repr(connection)
    assert API_KEY not in str(connection)


@pytest.mark.parametrize("command", [CreateAccount, ChangeAccount])
def test_given_an_account_command_then_its_repr_hides_the_key(command: Any) -> None:
    values = {"name": "Продажи"} if command is CreateAccount else {}

    assert API_KEY not in repr(command(api_key=API_KEY, **values))


def test_given_another_companys_funnel_when_it_is_the_default_then_the_field_is_refused(
    crm: Crm, anna: Actor, boris: Actor, messaging: Messaging
) -> None:
    foreign = sales_funnel(crm, boris)

    with pytest.raises(ValidationFailed) as refused:
        messaging.account(anna, default_funnel_id=foreign)

    assert "default_funnel" in refused.value.errors


def test_given_a_blank_api_key_when_an_account_is_created_then_it_is_refused(
    crm: Crm, anna: Actor, messaging: Messaging
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        messaging.account(anna, api_key="  ")

    assert "api_key" in refused.value.errors
    assert crm.db.rows("accounts") == []


@pytest.mark.parametrize("name", ["", "   ", "я" * 256])
def test_given_a_bad_name_when_an_account_is_created_then_it_is_refused(
    crm: Crm, anna: Actor, messaging: Messaging, name: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        messaging.account(anna, name=name)

    assert "name" in refused.value.errors
    assert crm.db.rows("accounts") == []


def test_given_a_manager_then_they_cannot_create_change_or_delete_accounts(
    crm: Crm, anna: Actor, messaging: Messaging, account: AccountId
) -> None:
    manager = crm.company("ООО Ромашка", Role.MANAGER)

    with pytest.raises(PermissionDenied):
        messaging.account(manager)
    with pytest.raises(PermissionDenied):
        messaging.accounts.update_account(manager, account, ChangeAccount(name="Мой"))
    with pytest.raises(PermissionDenied):
        messaging.accounts.delete_account(manager, account)
    assert len(crm.db.rows("accounts")) == 1
    assert messaging.read_account(anna, account).name == "Продажи"


def test_given_a_checked_account_when_its_key_changes_then_the_state_is_forgotten(
    anna: Actor, messaging: Messaging, account: AccountId
) -> None:
    messaging.accounts.check_connection(anna, account)

    messaging.accounts.update_account(
        anna, account, ChangeAccount(api_key="new-key-9876wxyz", name="Опт")
    )

    changed = messaging.read_account(anna, account)
    assert (changed.name, changed.api_key_hint) == ("Опт", "…wxyz")
    assert FakeSecretBox().decrypt(changed.api_key_encrypted) == "new-key-9876wxyz"
    assert changed.api_key_fingerprint == key_fingerprint("new-key-9876wxyz")
    assert (changed.channel_state, changed.is_connected, changed.transport) == ("", False, "")


@pytest.mark.parametrize(
    "change",
    [
        ChangeAccount(instance_id="channel-2"),
        ChangeAccount(api_url="https://other.example"),
        ChangeAccount(chat_type=ChatType.TELEGRAM),
    ],
    ids=["channel", "address", "chat-type"],
)
def test_given_a_checked_account_when_its_link_changes_then_the_state_is_forgotten(
    anna: Actor, messaging: Messaging, account: AccountId, change: ChangeAccount
) -> None:
    messaging.accounts.check_connection(anna, account)

    messaging.accounts.update_account(anna, account, change)

    changed = messaging.read_account(anna, account)
    assert (changed.channel_state, changed.is_connected) == ("", False)


def test_given_a_name_change_then_the_channel_state_is_kept(
    anna: Actor, messaging: Messaging, account: AccountId
) -> None:
    messaging.accounts.check_connection(anna, account)

    messaging.accounts.update_account(
        anna, account, ChangeAccount(name="Опт", is_active=False, metadata={"team": "опт"})
    )

    changed = messaging.read_account(anna, account)
    assert (changed.channel_state, changed.is_connected, changed.is_active) == (
        "active",
        True,
        False,
    )
    assert changed.metadata == {"team": "опт"}
    assert changed.api_key_hint == "…abcd"


def test_given_an_account_when_deleted_then_it_is_gone(
    crm: Crm, anna: Actor, messaging: Messaging, account: AccountId
) -> None:
    messaging.accounts.delete_account(anna, account)

    assert crm.db.rows("accounts") == []


def test_given_another_companys_account_then_it_is_not_found(
    anna: Actor, boris: Actor, messaging: Messaging, account: AccountId
) -> None:
    with pytest.raises(NotFound):
        messaging.accounts.update_account(boris, account, ChangeAccount(name="Чужой"))
    with pytest.raises(NotFound):
        messaging.accounts.delete_account(boris, account)
    with pytest.raises(NotFound):
        messaging.accounts.check_connection(boris, account)
    with pytest.raises(NotFound):
        messaging.accounts.sync_messages(boris, account)
    with pytest.raises(NotFound):
        messaging.accounts.chat_window(boris, account, None)
    with pytest.raises(NotFound):
        messaging.send(boris, account)


# --- a key that no longer decrypts --------------------------------------------------------------


def test_given_a_key_that_no_longer_decrypts_then_every_call_is_a_conflict_to_reenter_it(
    crm: Crm, anna: Actor, messaging: Messaging, account: AccountId
) -> None:
    messaging.accounts.check_connection(anna, account)
    messaging.secrets.key = "key-2"  # the server's secret key changed
    calls = messaging.gateway.channel_checks

    for call in (
        lambda: messaging.accounts.check_connection(anna, account),
        lambda: messaging.accounts.sync_messages(anna, account),
        lambda: messaging.accounts.chat_window(anna, account, None),
        lambda: messaging.send(anna, account),
    ):
        with pytest.raises(Conflict) as refused:
            call()
        assert "re-enter the API key" in refused.value.detail

    assert (messaging.gateway.channel_checks, messaging.gateway.sent) == (calls, [])
    assert messaging.messages() == []
    assert messaging.gateway.registered == []


def test_given_a_key_that_no_longer_decrypts_when_it_is_entered_again_then_it_works(
    anna: Actor, messaging: Messaging, account: AccountId
) -> None:
    messaging.secrets.key = "key-2"

    messaging.accounts.update_account(anna, account, ChangeAccount(api_key=API_KEY))

    assert messaging.accounts.check_connection(anna, account).is_connected


def test_given_an_unreadable_key_then_the_check_of_all_accounts_names_it_and_goes_on(
    crm: Crm, anna: Actor, boris: Actor, messaging: Messaging, account: AccountId
) -> None:
    messaging.secrets.key = "key-2"
    readable = messaging.account(boris)  # sealed under the new key

    checks = {check.account_id: check for check in messaging.accounts.check_all()}

    assert not checks[account].is_connected
    assert "re-enter the API key" in (checks[account].error or "")
    assert checks[readable].is_connected


# --- check_connection ---------------------------------------------------------------------------


def test_given_an_active_channel_when_checked_then_the_account_is_connected(
    crm: Crm, anna: Actor, messaging: Messaging, account: AccountId
) -> None:
    report = messaging.accounts.check_connection(anna, account)

    assert (report.is_connected, report.state, report.error) == (True, "active", None)
    assert report.channel is not None and report.channel.channel_id == "channel-1"
    assert len(report.channels) == 1
    saved = messaging.read_account(anna, account)
    assert (saved.is_connected, saved.channel_state, saved.last_error) == (True, "active", "")
    assert (saved.last_sync, saved.transport) == (crm.clock.now(), "whatsapp")
    assert messaging.gateway.connections[0].api_key == API_KEY


def test_given_no_channel_id_and_one_fitting_channel_when_checked_then_it_is_taken(
    anna: Actor, messaging: Messaging
) -> None:
    messaging.gateway.channel_list.append(a_channel("tg-1", "telegram", plain_id="bot"))
    account = messaging.account(anna, instance_id="")

    report = messaging.accounts.check_connection(anna, account)

    assert report.is_connected
    assert messaging.read_account(anna, account).instance_id == "channel-1"


def test_given_no_channel_id_and_two_fitting_channels_then_none_is_taken(
    anna: Actor, messaging: Messaging
) -> None:
    messaging.gateway.channel_list.append(a_channel("channel-2", plain_id="7"))
    account = messaging.account(anna, instance_id="")

    report = messaging.accounts.check_connection(anna, account)

    assert not report.is_connected and "several" in (report.error or "")
    assert messaging.read_account(anna, account).instance_id == ""


def test_given_a_waba_channel_when_checked_then_the_account_keeps_its_transport(
    anna: Actor, messaging: Messaging, account: AccountId
) -> None:
    messaging.gateway.channel(transport="wapi")

    report = messaging.accounts.check_connection(anna, account)

    saved = messaging.read_account(anna, account)
    assert report.is_connected
    assert (saved.transport, saved.text_limit) == ("wapi", 1_024)


@pytest.mark.parametrize(
    ("arrange", "words"),
    [
        (lambda gateway: setattr(gateway, "channels_failure", ProviderRejectedKey()), "401"),
        (lambda gateway: gateway.channel("active", channel_id="other"), "not found"),
        (lambda gateway: setattr(gateway, "channel_list", []), "not found"),
        (lambda gateway: gateway.channel("qr"), "qr"),
        (lambda gateway: gateway.channel("active", chat_type="telegram"), "telegram"),
        (
            lambda gateway: setattr(gateway, "channels_failure", ProviderTimedOut("timed out")),
            "timed out",
        ),
        (
            lambda gateway: setattr(
                gateway, "channels_failure", ProviderUnreachable("network down")
            ),
            "network down",
        ),
        (
            lambda gateway: setattr(
                gateway, "channels_failure", ProviderRefused("CHANNEL_BLOCKED", "blocked", 400)
            ),
            "CHANNEL_BLOCKED",
        ),
    ],
    ids=[
        "rejected-key",
        "missing-channel",
        "no-channels",
        "qr",
        "wrong-transport",
        "timeout",
        "network",
        "refused",
    ],
)
def test_given_a_broken_link_when_checked_then_the_report_names_the_cause_and_it_is_saved(
    crm: Crm,
    anna: Actor,
    messaging: Messaging,
    account: AccountId,
    arrange: Any,
    words: str,
) -> None:
    arrange(messaging.gateway)

    report = messaging.accounts.check_connection(anna, account)

    assert not report.is_connected
    assert report.error is not None and words in report.error
    saved = messaging.read_account(anna, account)
    assert not saved.is_connected and words in saved.last_error
    assert saved.last_sync == crm.clock.now()


def test_given_a_qr_channel_when_checked_then_its_state_is_saved(
    anna: Actor, messaging: Messaging, account: AccountId
) -> None:
    messaging.gateway.channel("qr")

    report = messaging.accounts.check_connection(anna, account)

    assert report.state == "qr"
    assert messaging.read_account(anna, account).channel_state == "qr"


def test_given_a_manager_when_checking_the_connection_then_it_runs(
    crm: Crm, messaging: Messaging, account: AccountId
) -> None:
    manager = crm.company("ООО Ромашка", Role.MANAGER)

    assert messaging.accounts.check_connection(manager, account).is_connected


# --- sync_messages --------------------------------------------------------------------------------


def test_given_an_account_when_synced_then_the_webhook_is_ours_and_the_channel_checked(
    crm: Crm, anna: Actor, messaging: Messaging, account: AccountId
) -> None:
    report = messaging.accounts.sync_messages(anna, account)

    saved = messaging.read_account(anna, account)
    url = f"{PUBLIC_URL}/api/crm/wazzupp/webhook/{account}/?token={saved.webhook_secret}"
    assert webhook_url(PUBLIC_URL, saved) == url
    assert messaging.gateway.registered == [url]
    assert (report.webhook_registered, report.webhook_url, report.errors) == (True, url, ())
    assert (report.is_connected, report.synced_count, report.last_sync) == (
        True,
        0,
        crm.clock.now(),
    )
    assert (saved.is_connected, saved.channel_state) == (True, "active")


def test_given_another_integration_that_takes_the_webhook_then_the_sync_says_so(
    anna: Actor, messaging: Messaging, account: AccountId
) -> None:
    messaging.gateway.foreign_webhook = "https://marketplace.example/hook"

    report = messaging.accounts.sync_messages(anna, account)

    assert not report.webhook_registered
    assert any("another address" in error for error in report.errors)
    assert report.is_connected


def test_given_a_step_that_fails_then_it_is_named_and_the_later_steps_still_run(
    crm: Crm, anna: Actor, messaging: Messaging, account: AccountId
) -> None:
    crm.contact(anna)
    messaging.gateway.webhook_failure = ProviderRefused("uriNotValid", "Provided URI is not valid")
    messaging.gateway.channel("qr")

    report = messaging.accounts.sync_messages(anna, account)

    assert not report.webhook_registered
    assert [error.split(":")[0] for error in report.errors] == ["webhook", "channels"]
    assert "uriNotValid" in report.errors[0] and "qr" in report.errors[1]
    assert (report.is_connected, report.pushed["contacts"]) == (False, 1)
    assert crm.db.jobs(PUSH) != []


def test_given_deliveries_stored_but_not_processed_when_synced_then_they_are_counted(
    crm: Crm, anna: Actor, messaging: Messaging, account: AccountId
) -> None:
    messaging.accept(account, {"messages": [wazzup_message("w-1"), wazzup_message("w-2")]})
    assert messaging.messages() == []

    first = messaging.accounts.sync_messages(anna, account)
    crm.clock.advance(minutes=5)
    messaging.deliver(account, {"messages": [wazzup_message("w-3")]})
    second = messaging.accounts.sync_messages(anna, account)
    third = messaging.accounts.sync_messages(anna, account)

    assert [m.provider_message_id for m in messaging.messages()] == ["w-1", "w-2", "w-3"]
    assert (first.synced_count, second.synced_count, third.synced_count) == (2, 1, 0)
    with crm.read() as uow:
        assert uow.deliveries.unprocessed(None, 10) == []


def test_given_accounts_sharing_a_key_when_one_is_synced_then_the_others_deliveries_run_too(
    anna: Actor, messaging: Messaging, account: AccountId
) -> None:
    messaging.gateway.channel_list.append(a_channel("channel-2", plain_id="79860000002"))
    sibling = messaging.account(anna, name="Опт", instance_id="channel-2")
    messaging.accept(sibling, {"messages": [wazzup_message("w-1", channelId="channel-2")]})

    messaging.accounts.sync_messages(anna, account)

    [message] = messaging.messages()
    assert message.account_id == sibling


def test_given_a_sync_then_users_contacts_pipelines_and_deals_are_pushed_as_jobs(
    crm: Crm, anna: Actor, messaging: Messaging, account: AccountId
) -> None:
    funnel = crm.funnel(anna)
    ivan = crm.contact(anna)
    crm.contact(anna, phone=None, email="no-chat@example.com")  # no chat: not pushed
    crm.deals.create_deal(anna, _deal(ivan, funnel.id))

    report = messaging.accounts.sync_messages(anna, account)
    outcomes = crm.db.run_jobs(PUSH, messaging.push, crm.clock.now())

    assert dict(report.pushed) == {"users": 1, "contacts": 1, "pipelines": 1, "deals": 1}
    assert outcomes == [Done()] * 4
    pushed = messaging.gateway.pushed
    [[user]], [[contact]] = pushed["users"], pushed["contacts"]
    assert user.id == str(anna.user_id)
    assert (contact.id, contact.chats) == (
        str(ivan),
        (ChatAddress("whatsapp", chat_id="79991234567"),),
    )
    [[pipeline]], [[deal]] = pushed["pipelines"], pushed["deals"]
    assert pipeline.id == str(funnel.id) and len(pipeline.stages) == len(funnel.stages)
    assert deal.contacts == (str(ivan),)
    assert {c.api_key for c in messaging.gateway.connections} == {API_KEY}


def _deal(contact_id: ContactId, funnel_id: FunnelId) -> Any:
    from crm_core.services.pipeline import CreateDeal

    return CreateDeal(contact_id=contact_id, funnel_id=funnel_id, title="Диван")


def test_given_many_contacts_then_they_are_pushed_in_batches_of_at_most_100(
    crm: Crm, anna: Actor, messaging: Messaging, account: AccountId
) -> None:
    for number in range(250):
        crm.contacts.create_contact(
            anna, CreateContact(first_name=f"Клиент {number}", phone=f"+7999000{number:04d}")
        )

    report = messaging.accounts.sync_messages(anna, account)

    jobs = [job for job in crm.db.jobs(PUSH) if job.payload["kind"] == "contacts"]
    assert report.pushed["contacts"] == 250
    assert [len(job.payload["entities"]) for job in jobs] == [100, 100, 50]
    crm.db.run_jobs(PUSH, messaging.push, crm.clock.now())
    batches = messaging.gateway.pushed["contacts"]
    assert [len(batch) for batch in batches] == [100, 100, 50]
    assert len({contact.id for batch in batches for contact in batch}) == 250


@pytest.mark.parametrize(
    ("failure", "outcome"),
    [
        (ProviderRateLimited(), RetryAt),
        (ProviderUnreachable("down"), RetryAt),
        (ProviderRefused("INVALID_DATA", "bad", 400), Dead),
    ],
    ids=["rate-limited", "unreachable", "refused"],
)
def test_given_a_push_that_fails_then_it_is_retried_unless_refused(
    crm: Crm, anna: Actor, messaging: Messaging, account: AccountId, failure: Any, outcome: Any
) -> None:
    messaging.accounts.sync_messages(anna, account)
    messaging.gateway.push_failure = failure
    now = crm.clock.now()

    [first] = crm.db.run_jobs(PUSH, messaging.push, now)[:1]

    assert isinstance(first, outcome)
    if isinstance(first, RetryAt) and isinstance(failure, ProviderRateLimited):
        assert first.when >= now + timedelta(seconds=5)


def test_given_a_push_of_a_deleted_account_then_it_gives_up(
    crm: Crm, anna: Actor, messaging: Messaging, account: AccountId
) -> None:
    messaging.accounts.sync_messages(anna, account)
    messaging.accounts.delete_account(anna, account)

    outcomes = crm.db.run_jobs(PUSH, messaging.push, crm.clock.now())

    assert outcomes and all(isinstance(outcome, Dead) for outcome in outcomes)
    assert messaging.gateway.pushed["users"] == []


# --- chat_window --------------------------------------------------------------------------------


def test_given_a_contact_then_the_chat_window_shows_its_chats_for_the_caller(
    crm: Crm, anna: Actor, messaging: Messaging, account: AccountId
) -> None:
    contact_id = crm.contact(anna, phone="+7 999 111-11-11", whatsapp="+7 999 222-22-22")

    url = messaging.accounts.chat_window(anna, account, contact_id)

    [(user, chats)] = messaging.gateway.chat_windows
    assert url.startswith("https://chat.example/window")
    assert user == PushedUser(str(anna.user_id), user.name) and user.name
    assert chats == (ChatAddress("whatsapp", chat_id="79992222222"),)


def test_given_no_contact_then_the_chat_window_shows_every_chat(
    anna: Actor, messaging: Messaging, account: AccountId
) -> None:
    messaging.accounts.chat_window(anna, account, None)

    [(_, chats)] = messaging.gateway.chat_windows
    assert chats == ()


def test_given_a_telegram_contact_then_its_learnt_chat_id_comes_before_its_username(
    crm: Crm, anna: Actor, messaging: Messaging
) -> None:
    messaging.gateway.channel(chat_type="telegram")
    account = messaging.account(anna, chat_type=ChatType.TELEGRAM)
    contact_id = crm.contact(anna, phone=None, telegram="@durov")
    messaging.accounts.chat_window(anna, account, contact_id)
    messaging.send(anna, account, to=None, contact_id=contact_id)

    messaging.accounts.chat_window(anna, account, contact_id)

    first, second = (chats for _, chats in messaging.gateway.chat_windows)
    assert first == (ChatAddress("telegram", username="durov"),)
    assert second == (ChatAddress("telegram", chat_id="500000001"),)


def test_given_a_contact_without_an_address_on_the_chat_type_then_the_window_is_a_conflict(
    crm: Crm, anna: Actor, boris: Actor, messaging: Messaging, account: AccountId
) -> None:
    no_whatsapp = crm.contact(anna, phone=None, email="ivan@example.com")
    theirs = crm.contact(boris)

    with pytest.raises(Conflict):
        messaging.accounts.chat_window(anna, account, no_whatsapp)
    with pytest.raises(ValidationFailed) as refused:
        messaging.accounts.chat_window(anna, account, theirs)

    assert "contact" in refused.value.errors
    assert messaging.gateway.chat_windows == []
