"""The Contact aggregate: a person the team sells to, reachable on at least one channel."""

from __future__ import annotations

from datetime import datetime

import attrs

from crm_core.errors import FieldErrors
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
        return " ".join(part for part in (self.last_name, self.first_name, self.middle_name) if part)

    @property
    def phone_digits(self) -> str:
        """The digits of every phone, for the digits-substring filter."""
        return " ".join(number.digits for number in self.phones)

    @property
    def phones(self) -> list[PhoneNumber]:
        numbers = (self.phone, self.phone_secondary, self.whatsapp)
        return [number for number in numbers if number is not None]

    def change(self, fields: dict[str, object], region: str, now: datetime) -> None:
        """Applies already-typed fields, normalising phones, e-mail and handle; checks channels."""
        unknown = set(fields) - CONTACT_FIELDS
        if unknown:
            raise ValueError(f"not a contact field: {sorted(unknown)}")
        errors = FieldErrors()
        values = dict(fields)
        for name in PHONE_FIELDS:
            raw = values.get(name)
            if isinstance(raw, str):
                values[name] = None
                if raw.strip():
                    with errors.field(name):
                        values[name] = PhoneNumber.parse(raw, region)
        if isinstance(values.get("email"), str) and values["email"]:
            with errors.field("email"):
                values["email"] = normalize_email(str(values["email"]))
        if isinstance(values.get("instagram"), str) and values["instagram"]:
            with errors.field("instagram"):
                values["instagram"] = normalize_instagram(str(values["instagram"]))
        if "first_name" in values and not str(values["first_name"]).strip():
            errors.add("first_name", "This field may not be blank.")
        errors.raise_if_any()
        for name, value in values.items():
            setattr(self, name, "" if value is None and name in ("email", "instagram") else value)
        if not any(getattr(self, name) for name in CHANNEL_FIELDS):
            errors.add(
                "non_field_errors",
                "At least one of phone, email, whatsapp, instagram is required.",
            )
        errors.raise_if_any()
        self.updated_at = now

    @classmethod
    def create(
        cls, company_id: CompanyId, fields: dict[str, object], region: str, now: datetime
    ) -> Contact:
        contact = cls(company_id=company_id, first_name=str(fields.get("first_name", "")))
        contact.created_at = now
        contact.change(fields, region, now)
        return contact

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
