"""The Contact aggregate: a person the team sells to, reachable on at least one channel."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import attrs

from crm_core.deal import Deal
from crm_core.errors import FieldErrors, InvalidValue
from crm_core.values import (
    BranchId,
    CompanyId,
    ContactId,
    PhoneNumber,
    UserId,
    new_id,
    normalize_email,
    normalize_instagram,
)

CHANNEL_FIELDS = ("phone", "email", "whatsapp", "instagram")
PHONE_FIELDS = ("phone", "phone_secondary", "whatsapp")


def _phone(raw: object, region: str) -> PhoneNumber | None:
    """A phone field as stored: None when blank, else the E.164 number."""
    if raw is None or isinstance(raw, PhoneNumber):
        return raw
    if not isinstance(raw, str):
        raise InvalidValue("Not a phone number.")
    return PhoneNumber.parse(raw, region) if raw.strip() else None


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

    def change(self, fields: Mapping[str, object], region: str, now: datetime) -> None:
        """Applies already-typed fields, normalising phones, e-mail and handle; checks channels.

        Nothing changes unless every field is valid and a channel remains.
        """
        unknown = set(fields) - CONTACT_FIELDS
        if unknown:
            raise ValueError(f"not a contact field: {sorted(unknown)}")
        errors = FieldErrors()
        values = dict(fields)
        for name in PHONE_FIELDS:
            if name in values:
                with errors.field(name):
                    values[name] = _phone(values[name], region)
        for name, normalize in (("email", normalize_email), ("instagram", normalize_instagram)):
            if name in values:
                raw = values[name]
                values[name] = ""
                if isinstance(raw, str) and raw.strip():
                    with errors.field(name):
                        values[name] = normalize(raw)
        if "first_name" in values and not str(values["first_name"] or "").strip():
            errors.add("first_name", "This field may not be blank.")
        errors.raise_if_any()
        if not any(values.get(name, getattr(self, name)) for name in CHANNEL_FIELDS):
            errors.add(
                "non_field_errors",
                "At least one of phone, email, whatsapp, instagram is required.",
            )
        errors.raise_if_any()
        for name, value in values.items():
            setattr(self, name, value)
        self.updated_at = now

    @classmethod
    def create(
        cls, company_id: CompanyId, fields: Mapping[str, object], region: str, now: datetime
    ) -> Contact:
        """A new contact; `first_name` and one channel are required."""
        contact = cls(company_id=company_id, first_name="", created_at=now)
        contact.change({"first_name": "", **fields}, region, now)
        return contact

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


CONTACT_FIELDS = frozenset(
    field.name
    for field in attrs.fields(Contact)
    if field.name not in ("id", "company_id", "created_at", "updated_at")
)
