"""The Contact aggregate: a person the team sells to, reachable on at least one channel."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import attrs

from crm_core.commands import UNSET, Maybe
from crm_core.deal import Deal
from crm_core.errors import Conflict, FieldErrors, InvalidValue, ValidationFailed
from crm_core.values import (
    NAME_LENGTH,
    SHORT_LENGTH,
    BranchId,
    CompanyId,
    ContactId,
    PhoneNumber,
    UserId,
    bounded_text,
    new_id,
    normalize_email,
    normalize_instagram,
    required_text,
    text_of,
)

ADDRESS_LENGTH = 1000
NOTES_LENGTH = 10_000
TAG_LENGTH = 100


def _phone(raw: object, region: str) -> PhoneNumber | None:
    """A phone field as stored: None when blank, else the E.164 number."""
    if raw is None or isinstance(raw, PhoneNumber):
        return raw
    if not isinstance(raw, str):
        raise InvalidValue("Not a phone number.")
    return PhoneNumber.parse(raw, region) if raw.strip() else None


def _optional(raw: object, normalize: Callable[[str], str]) -> str:
    """An optional channel: blank or None is no channel, anything else is normalised."""
    if raw is None:
        return ""
    if not isinstance(raw, str):
        raise InvalidValue("Not a valid string.")
    return normalize(raw) if raw.strip() else ""


def _telegram(raw: object) -> str:
    return bounded_text(raw, SHORT_LENGTH).strip().removeprefix("@")


def _tags(raw: object) -> list[str]:
    if not isinstance(raw, list) or not all(isinstance(tag, str) for tag in raw):
        raise InvalidValue("Must be a list of strings.")
    if any(not tag.strip() or len(tag) > TAG_LENGTH for tag in raw):
        raise InvalidValue(f"Each tag must have 1 to {TAG_LENGTH} characters.")
    return list(raw)


@attrs.define(slots=False, eq=False)
class Contact:
    company_id: CompanyId
    first_name: str
    last_name: str = ""
    middle_name: str = ""
    phone: PhoneNumber | None = None
    phone_secondary: PhoneNumber | None = None
    email: str = ""
    whatsapp: PhoneNumber | None = None
    instagram: str = ""
    telegram: str = ""
    # The numeric chat id the provider gave for the `telegram` username or the phone (a reply
    # comes from it); learnt, never typed.
    telegram_chat_id: str = ""
    company_name: str = ""
    position: str = ""
    address: str = ""
    notes: str = ""
    tags: list[str] = attrs.field(factory=list)
    source: str = ""
    is_active: bool = True
    is_client: bool = False
    branch_id: BranchId | None = None
    owner_id: UserId | None = None
    id: ContactId = attrs.field(factory=lambda: ContactId(new_id()))
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def full_name(self) -> str:
        return " ".join(
            part for part in (self.last_name, self.first_name, self.middle_name) if part
        )

    @property
    def phone_digits(self) -> str:
        """The digits of every phone, for the digits-substring filter."""
        return " ".join(number.digits for number in self.phones)

    @property
    def phones(self) -> list[PhoneNumber]:
        numbers = (self.phone, self.phone_secondary, self.whatsapp)
        return [number for number in numbers if number is not None]

    def change(
        self,
        now: datetime,
        region: str,
        *,
        first_name: Maybe[str] = UNSET,
        last_name: Maybe[str] = UNSET,
        middle_name: Maybe[str] = UNSET,
        phone: Maybe[PhoneNumber | str | None] = UNSET,
        phone_secondary: Maybe[PhoneNumber | str | None] = UNSET,
        whatsapp: Maybe[PhoneNumber | str | None] = UNSET,
        email: Maybe[str | None] = UNSET,
        instagram: Maybe[str | None] = UNSET,
        telegram: Maybe[str] = UNSET,
        company_name: Maybe[str] = UNSET,
        position: Maybe[str] = UNSET,
        address: Maybe[str] = UNSET,
        notes: Maybe[str] = UNSET,
        tags: Maybe[list[str]] = UNSET,
        source: Maybe[str] = UNSET,
        is_active: Maybe[bool] = UNSET,
        is_client: Maybe[bool] = UNSET,
        branch_id: Maybe[BranchId | None] = UNSET,
        owner_id: Maybe[UserId | None] = UNSET,
    ) -> None:
        """Changes the given fields, normalising phones, e-mail and handle, in `region`.

        Nothing changes unless every field is valid and a channel remains.
        """
        errors = FieldErrors()

        def check(name: str, value: Any, rule: Callable[[Any], Any]) -> Any:
            if value is UNSET:
                return value
            with errors.field(name):
                return rule(value)
            return UNSET

        first_name = check("first_name", first_name, lambda v: required_text(v, NAME_LENGTH))
        last_name = check("last_name", last_name, text_of(NAME_LENGTH))
        middle_name = check("middle_name", middle_name, text_of(NAME_LENGTH))
        # Phones arrive as text and leave the checks as E.164 numbers (or None).
        phone_number: Maybe[PhoneNumber | None] = check("phone", phone, lambda v: _phone(v, region))
        second_number: Maybe[PhoneNumber | None] = check(
            "phone_secondary", phone_secondary, lambda v: _phone(v, region)
        )
        whatsapp_number: Maybe[PhoneNumber | None] = check(
            "whatsapp", whatsapp, lambda v: _phone(v, region)
        )
        email = check("email", email, lambda v: _optional(v, normalize_email))
        instagram = check("instagram", instagram, lambda v: _optional(v, normalize_instagram))
        telegram = check("telegram", telegram, _telegram)
        company_name = check("company_name", company_name, text_of(NAME_LENGTH))
        position = check("position", position, text_of(NAME_LENGTH))
        address = check("address", address, text_of(ADDRESS_LENGTH))
        notes = check("notes", notes, text_of(NOTES_LENGTH))
        tags = check("tags", tags, _tags)
        source = check("source", source, text_of(SHORT_LENGTH))
        errors.raise_if_any()
        phone_now = self.phone if phone_number is UNSET else phone_number
        whatsapp_now = self.whatsapp if whatsapp_number is UNSET else whatsapp_number
        email_now = self.email if email is UNSET else email
        instagram_now = self.instagram if instagram is UNSET else instagram
        telegram_now = self.telegram if telegram is UNSET else telegram
        if not (phone_now or whatsapp_now or email_now or instagram_now or telegram_now):
            raise ValidationFailed.on(
                "non_field_errors",
                "At least one of phone, email, whatsapp, instagram, telegram is required.",
            )
        if first_name is not UNSET:
            self.first_name = first_name
        if last_name is not UNSET:
            self.last_name = last_name
        if middle_name is not UNSET:
            self.middle_name = middle_name
        self.phone, self.whatsapp = phone_now, whatsapp_now
        self.email, self.instagram, self.telegram = email_now, instagram_now, telegram_now
        if second_number is not UNSET:
            self.phone_secondary = second_number
        if company_name is not UNSET:
            self.company_name = company_name
        if position is not UNSET:
            self.position = position
        if address is not UNSET:
            self.address = address
        if notes is not UNSET:
            self.notes = notes
        if tags is not UNSET:
            self.tags = tags
        if source is not UNSET:
            self.source = source
        if is_active is not UNSET:
            self.is_active = is_active
        if is_client is not UNSET:
            self.is_client = is_client
        if branch_id is not UNSET:
            self.branch_id = branch_id
        if owner_id is not UNSET:
            self.owner_id = owner_id
        self.updated_at = now

    @classmethod
    def create(
        cls, company_id: CompanyId, *, region: str, now: datetime, first_name: str, **details: Any
    ) -> Contact:
        """A new contact; `first_name` and one channel are required (`details` are the
        keyword fields of `change`)."""
        contact = cls(company_id=company_id, first_name="", created_at=now)
        contact.change(now, region, first_name=first_name, **details)
        return contact

    def ensure_deletable(self, occupied: bool) -> None:
        """Nothing a sales team won or lost disappears through a contact."""
        if occupied:
            raise Conflict(
                "The contact has leads or deals: deactivate it with is_active: false "
                "instead, or delete those first."
            )

    def note_deal_outcome(self, deal: Deal) -> bool:
        """Winning a deal makes its contact a client; returns whether the contact changed."""
        if deal.contact_id != self.id:
            raise ValueError("the deal belongs to another contact")
        if not deal.is_won or self.is_client:
            return False
        self.become_client()
        return True

    def become_client(self) -> None:
        self.is_client = True

    def handle_for(self, chat_type: str) -> str | None:
        """The address this contact has on a chat type, as that chat type writes it."""
        if chat_type in ("whatsapp", "viber"):
            number = self.whatsapp or self.phone
            return number.digits if number else None
        if chat_type == "instagram":
            return self.instagram or None
        if chat_type == "telegram":
            return self.telegram or (self.phone.digits if self.phone else None)
        return None

    def handles_for(self, chat_type: str) -> set[str]:
        """Every address a chat of this type may come from: for telegram the username, the
        learnt chat id and the phone; for the others the one `handle_for` gives."""
        handles = {self.handle_for(chat_type) or ""}
        if chat_type == "telegram":
            handles |= {self.telegram, self.telegram_chat_id}
            if self.phone is not None:
                handles.add(self.phone.digits)
        return handles - {""}

    def learn_telegram_chat(self, chat_id: str, now: datetime) -> bool:
        """The provider's chat id for this contact's telegram (a send by username or phone
        answers with it); returns whether it was new."""
        if not chat_id or chat_id == self.telegram_chat_id:
            return False
        self.telegram_chat_id = chat_id
        self.updated_at = now
        return True
