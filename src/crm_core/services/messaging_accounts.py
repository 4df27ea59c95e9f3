"""Messaging accounts: an admin's link to a provider, its check, its sync and the pushes."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs

from crm_core.commands import UNSET, Maybe, set_fields
from crm_core.errors import (
    Conflict,
    ProviderFailed,
    ProviderRateLimited,
    ProviderRefused,
    ValidationFailed,
)
from crm_core.jobs import RATE_LIMITED_WAIT, Backoff, Dead, Done, Job, NewJob, Outcome
from crm_core.messaging import (
    DEFAULT_API_URL,
    ChannelView,
    ChatType,
    MessagingAccount,
    api_key_hint,
)
from crm_core.ports import (
    PUSH_BATCH,
    Channel,
    ChatAddress,
    MessagingGateway,
    ProviderConnection,
    PushedContact,
    PushedDeal,
    PushedPipeline,
    PushedStage,
    PushedUser,
    PushSource,
    SecretBox,
    UnitOfWork,
)
from crm_core.services.base import UnitOfWorkFactory, UseCases, referenced
from crm_core.tenancy import Actor
from crm_core.values import AccountId, CompanyId, ContactId, FunnelId

WEBHOOK_SECRET_BYTES = 32
PUSH = "push_to_provider"


@attrs.frozen(kw_only=True)
class ChangeAccount:
    """The account's fields an admin may set; a new key, address, channel or chat type
    forgets what was known of the channel."""

    name: Maybe[str] = UNSET
    api_key: Maybe[str] = attrs.field(default=UNSET, repr=False)
    api_url: Maybe[str] = UNSET
    instance_id: Maybe[str] = UNSET
    chat_type: Maybe[ChatType] = UNSET
    is_active: Maybe[bool] = UNSET
    metadata: Maybe[dict[str, Any]] = UNSET
    default_funnel_id: Maybe[FunnelId | None] = UNSET
    auto_create_leads: Maybe[bool] = UNSET


@attrs.frozen(kw_only=True)
class CreateAccount(ChangeAccount):
    name: str
    api_key: str = attrs.field(repr=False)


@attrs.frozen
class ConnectionReport:
    """What `check_connection` found; `error` names the cause (`401`, `not found`, a state)."""

    is_connected: bool
    state: str | None
    channel: ChannelView | None
    channels: tuple[Channel, ...]
    error: str | None
    last_sync: datetime


@attrs.frozen
class SyncReport:
    """What `sync_messages` did, step by step; a failed step is named in `errors`."""

    synced_count: int
    webhook_registered: bool
    webhook_url: str
    is_connected: bool
    pushed: Mapping[str, int]
    errors: tuple[str, ...]
    last_sync: datetime


@attrs.frozen
class AccountCheck:
    account_id: AccountId
    name: str
    is_connected: bool
    error: str | None
    webhook_is_ours: bool | None


def key_fingerprint(api_key: str) -> str:
    """Tells accounts on one provider key apart without keeping the key in the clear."""
    return hashlib.sha256(api_key.encode()).hexdigest()


def webhook_url(public_url: str, account: MessagingAccount) -> str:
    """The address the provider must call for this account: the secret is the credential."""
    return (
        f"{public_url.rstrip('/')}/api/crm/wazzupp/webhook/{account.id}/"
        f"?token={account.webhook_secret}"
    )


def provider_error_words(error: ProviderFailed) -> str:
    if isinstance(error, ProviderRefused) and error.status != 401:
        return f"Wazzup refused ({error.status or ''} {error.code}): {error.description}".strip()
    return error.detail


class Connections:
    """Opens an account's key: a key that no longer decrypts is the account's problem (409,
    re-enter it), never a crash."""

    def __init__(self, secrets_box: SecretBox) -> None:
        self.secrets = secrets_box

    def of(self, account: MessagingAccount) -> ProviderConnection:
        try:
            api_key = self.secrets.decrypt(account.api_key_encrypted)
        except ValueError:
            raise Conflict(
                f"The API key of account {account.name!r} can no longer be read (the server's "
                "secret key changed): re-enter the API key."
            ) from None
        return ProviderConnection(api_url=account.api_url or DEFAULT_API_URL, api_key=api_key)


class AccountUseCases(UseCases):
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Any,
        gateway: MessagingGateway,
        secrets: SecretBox,
        pushes: PushSource,
        public_url: str,
        process_stored: Callable[[Sequence[AccountId]], int],
    ) -> None:
        super().__init__(uow, clock)
        self.gateway = gateway
        self.secrets = secrets
        self.connections = Connections(secrets)
        self.pushes = pushes
        self.public_url = public_url
        self.process_stored = process_stored

    # --- accounts ---------------------------------------------------------------------------

    def create_account(self, actor: Actor, command: CreateAccount) -> AccountId:
        """An admin's new account: the key stored encrypted, a random webhook secret."""
        actor.require_admin("manage messaging accounts")
        fields = set_fields(command)
        api_key = command.api_key.strip()
        if not api_key:
            raise ValidationFailed.on("api_key", "This field may not be blank.")
        with self.uow() as uow:
            now = self.clock.now()
            account = MessagingAccount.create(
                company_id=actor.company_id,
                name=command.name,
                api_key_encrypted=self.secrets.encrypt(api_key),
                api_key_hint=api_key_hint(api_key),
                api_key_fingerprint=key_fingerprint(api_key),
                webhook_secret=secrets.token_urlsafe(WEBHOOK_SECRET_BYTES),
                now=now,
            )
            self._change(uow, actor, account, fields, now)
            uow.accounts.save(account)
            uow.commit()
            return account.id

    def update_account(self, actor: Actor, account_id: AccountId, command: ChangeAccount) -> None:
        actor.require_admin("manage messaging accounts")
        with self.uow() as uow:
            account = uow.accounts.get(actor.company_id, account_id)
            self._change(uow, actor, account, set_fields(command), self.clock.now())
            uow.accounts.save(account)
            uow.commit()

    def _change(
        self,
        uow: UnitOfWork,
        actor: Actor,
        account: MessagingAccount,
        fields: dict[str, Any],
        now: datetime,
    ) -> None:
        api_key = str(fields.pop("api_key", "") or "").strip()
        if api_key:
            fields.update(
                api_key_encrypted=self.secrets.encrypt(api_key),
                api_key_hint=api_key_hint(api_key),
                api_key_fingerprint=key_fingerprint(api_key),
            )
        funnel_id = fields.get("default_funnel_id")
        if funnel_id is not None:
            referenced("default_funnel", lambda: uow.funnels.read(actor.company_id, funnel_id))
        account.change(now, **fields)

    def delete_account(self, actor: Actor, account_id: AccountId) -> None:
        actor.require_admin("manage messaging accounts")
        with self.uow() as uow:
            uow.accounts.delete(uow.accounts.get(actor.company_id, account_id))
            uow.commit()

    # --- the link with the provider -----------------------------------------------------------

    def check_connection(self, actor: Actor, account_id: AccountId) -> ConnectionReport:
        """Asks the provider for the key's channels; saves what it learnt (admins and
        managers: it changes nothing but the account's view of its channel)."""
        return self.check(actor.company_id, account_id)

    def check(self, company_id: CompanyId, account_id: AccountId) -> ConnectionReport:
        with self.uow() as uow:
            connection = self.connections.of(uow.accounts.get(company_id, account_id))
        channels: list[Channel] = []
        failure: ProviderFailed | None = None
        try:
            channels = self.gateway.channels(connection)
        except ProviderFailed as refused:
            failure = refused
        with self.uow() as uow:
            account = uow.accounts.get(company_id, account_id)
            if failure is None:
                channel, error = account.assess(channels)
            else:
                channel, error = None, provider_error_words(failure)
            now = self.clock.now()
            account.record_check(channel, error, now)
            uow.accounts.save(account)
            uow.commit()
            return ConnectionReport(
                is_connected=account.is_connected,
                state=account.channel_state or None,
                channel=channel,
                channels=tuple(channels),
                error=error,
                last_sync=now,
            )

    def check_all(self) -> list[AccountCheck]:
        """Every active account checked: its channel (saved, as check_connection does) and
        whether the provider's webhook still points at it (for `crm wazzup check`)."""
        with self.uow() as uow:
            accounts = [(a.company_id, a.id, a.name) for a in uow.accounts.all_active()]
        checks = []
        for company_id, account_id, name in accounts:
            try:
                report = self.check(company_id, account_id)
            except Conflict as unreadable:
                checks.append(AccountCheck(account_id, name, False, unreadable.detail, None))
                continue
            checks.append(
                AccountCheck(
                    account_id,
                    name,
                    report.is_connected,
                    report.error,
                    self._webhook_is_ours(company_id, account_id),
                )
            )
        return checks

    def _webhook_is_ours(self, company_id: CompanyId, account_id: AccountId) -> bool | None:
        """Whether the key's webhook is this account's address (None: could not tell)."""
        with self.uow() as uow:
            account = uow.accounts.get(company_id, account_id)
            connection = self.connections.of(account)
            url = webhook_url(self.public_url, account)
        try:
            return self.gateway.webhook(connection).url == url
        except ProviderFailed:
            return None

    def sync_messages(self, actor: Actor, account_id: AccountId) -> SyncReport:
        """Registers the webhook (and confirms it is ours), refreshes the channel, pushes the
        CRM's users, contacts, pipelines and deals (as jobs, in batches), and processes the
        deliveries stored but not processed yet. A step that fails is named; the rest run."""
        company = actor.company_id
        with self.uow() as uow:
            account = uow.accounts.get(company, account_id)
            connection = self.connections.of(account)
            since = account.last_sync
            url = webhook_url(self.public_url, account)
        errors: list[str] = []
        registered = False
        try:
            self.gateway.register_webhook(connection, url)
            registered = self.gateway.webhook(connection).url == url
            if not registered:
                errors.append("webhook: another address is registered for this Wazzup key")
        except ProviderFailed as failure:
            errors.append(f"webhook: {provider_error_words(failure)}")
        report = self.check(company, account_id)
        if report.error:
            errors.append(f"channels: {report.error}")
        pushed = self._enqueue_pushes(company, account_id)
        with self.uow() as uow:
            siblings = [
                a.id for a in uow.accounts.sharing_key(company, account.api_key_fingerprint)
            ]
        self.process_stored(siblings or [account_id])
        with self.uow() as uow:
            synced = uow.messages.received_since(account_id, since)
        return SyncReport(
            synced_count=synced,
            webhook_registered=registered,
            webhook_url=url,
            is_connected=report.is_connected,
            pushed=pushed,
            errors=tuple(errors),
            last_sync=report.last_sync,
        )

    def _enqueue_pushes(self, company: CompanyId, account_id: AccountId) -> dict[str, int]:
        """The pushes as jobs of at most PUSH_BATCH entities each, deduplicated per run."""
        batches: dict[str, Sequence[Any]] = {
            "users": self.pushes.users(company),
            "contacts": self.pushes.contacts(company, self.public_url),
            "pipelines": self.pushes.pipelines(company),
            "deals": self.pushes.deals(company, self.public_url),
        }
        with self.uow() as uow:
            now = self.clock.now()
            for kind, entities in batches.items():
                for start in range(0, len(entities), PUSH_BATCH):
                    batch = [attrs.asdict(e) for e in entities[start : start + PUSH_BATCH]]
                    uow.jobs.add(
                        NewJob(
                            PUSH,
                            f"{PUSH}:{account_id}:{kind}:{start}:{now.isoformat()}",
                            {"account": str(account_id), "kind": kind, "entities": batch},
                            max_attempts=8,
                        ),
                        now,
                    )
            uow.commit()
        return {kind: len(entities) for kind, entities in batches.items()}

    def chat_window(self, actor: Actor, account_id: AccountId, contact_id: ContactId | None) -> str:
        """The provider's chat window for the caller: the contact's chats, or all chats."""
        with self.uow() as uow:
            account = uow.accounts.get(actor.company_id, account_id)
            connection = self.connections.of(account)
            user = uow.users.get(actor.company_id, actor.user_id)
            chats: list[ChatAddress] = []
            if contact_id is not None:
                contact = referenced(
                    "contact", lambda: uow.contacts.get(actor.company_id, contact_id)
                )
                chats = contact_chats(contact, account.chat_type)
                if not chats:
                    raise Conflict(
                        f"This contact has no {account.chat_type.label} address to chat with."
                    )
        pushed_user = PushedUser(str(user.id), user.full_name or user.email)
        return self.gateway.chat_window(connection, pushed_user, chats)


# The chat types whose addresses a contact carries in its own fields.
CONTACT_CHAT_TYPES = (ChatType.WHATSAPP, ChatType.TELEGRAM, ChatType.INSTAGRAM)


def contact_chats(
    contact: Any, chat_type: ChatType, *, telegram_by_phone: bool = True
) -> list[ChatAddress]:
    """The chats of a contact (or a row with a contact's fields) on a chat type, as the
    provider addresses them: whatsapp and viber by the number's digits (`whatsapp`, else
    `phone`); telegram by the learnt chat id, else the username, else (when
    `telegram_by_phone`) the phone; instagram by the handle."""
    kind = chat_type.value
    if chat_type.is_phone_based:
        number = contact.whatsapp or contact.phone
        return [ChatAddress(kind, chat_id=number.digits)] if number else []
    if chat_type == ChatType.TELEGRAM:
        if contact.telegram_chat_id:
            return [ChatAddress(kind, chat_id=contact.telegram_chat_id)]
        if contact.telegram:
            return [ChatAddress(kind, username=contact.telegram)]
        if telegram_by_phone and contact.phone is not None:
            return [ChatAddress(kind, phone=contact.phone.digits)]
        return []
    if chat_type == ChatType.INSTAGRAM and contact.instagram:
        return [ChatAddress(kind, chat_id=contact.instagram)]
    return []


class PushToProvider:
    """The push job: one batch of users, contacts, pipelines or deals upserted at the
    provider; a 429 waits at least 5 s, a refusal gives up (retrying cannot help)."""

    def __init__(
        self, gateway: MessagingGateway, secrets: SecretBox, clock: Any, backoff: Backoff
    ) -> None:
        self.gateway = gateway
        self.connections = Connections(secrets)
        self.clock = clock
        self.backoff = backoff

    def __call__(self, job: Job, uow: UnitOfWork) -> Outcome:
        account = uow.accounts.find(AccountId(uuid.UUID(job.payload["account"])))
        if account is None:
            return Dead("the account was deleted")
        try:
            connection = self.connections.of(account)
        except Conflict as unreadable:
            return Dead(unreadable.detail)
        kind, entities = job.payload["kind"], job.payload["entities"]
        try:
            if kind == "users":
                self.gateway.push_users(connection, [PushedUser(**e) for e in entities])
            elif kind == "contacts":
                self.gateway.push_contacts(connection, [_pushed_contact(e) for e in entities])
            elif kind == "pipelines":
                self.gateway.push_pipelines(connection, [_pushed_pipeline(e) for e in entities])
            elif kind == "deals":
                self.gateway.push_deals(connection, [_pushed_deal(e) for e in entities])
            else:
                return Dead(f"nothing to push as {kind!r}")
        except ProviderRateLimited as limited:
            return self.backoff.retry_at(job, self.clock.now(), limited.detail, RATE_LIMITED_WAIT)
        except ProviderRefused as refused:
            return Dead(provider_error_words(refused))
        except ProviderFailed as failure:
            return self.backoff.retry_at(job, self.clock.now(), failure.detail)
        return Done()


def _pushed_contact(entity: Mapping[str, Any]) -> PushedContact:
    chats = tuple(ChatAddress(**chat) for chat in entity["chats"])
    return PushedContact(**{**entity, "chats": chats})


def _pushed_pipeline(entity: Mapping[str, Any]) -> PushedPipeline:
    stages = tuple(PushedStage(**stage) for stage in entity["stages"])
    return PushedPipeline(**{**entity, "stages": stages})


def _pushed_deal(entity: Mapping[str, Any]) -> PushedDeal:
    return PushedDeal(**{**entity, "contacts": tuple(entity["contacts"])})
