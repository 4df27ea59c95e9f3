"""Value objects: money, probability, phone numbers, colours, e-mail and the typed ids."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import NewType

import attrs
import phonenumbers

from crm_core.errors import InvalidValue

CompanyId = NewType("CompanyId", uuid.UUID)
UserId = NewType("UserId", uuid.UUID)
BranchId = NewType("BranchId", uuid.UUID)
FunnelId = NewType("FunnelId", uuid.UUID)
StageId = NewType("StageId", uuid.UUID)
ContactId = NewType("ContactId", uuid.UUID)
LeadId = NewType("LeadId", uuid.UUID)
DealId = NewType("DealId", uuid.UUID)
ActivityId = NewType("ActivityId", uuid.UUID)
AccountId = NewType("AccountId", uuid.UUID)
MessageId = NewType("MessageId", uuid.UUID)
DeliveryId = NewType("DeliveryId", uuid.UUID)


def new_id() -> uuid.UUID:
    return uuid.uuid4()


_CENT = Decimal("0.01")
MONEY_DIGITS = 12  # at most, two of them after the point


def _decimal(value: object) -> object:
    """`Money("50000")` and `Money(50000)` read as exactly that amount (floats are refused:
    their binary value is not the number written)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str):
        try:
            return Decimal(value.strip())
        except InvalidOperation:
            raise InvalidValue("Must be a number or a decimal string.") from None
    return value


@attrs.frozen(order=True)
class Money:
    """A non-negative amount with exactly two decimal places and at most twelve digits.

    This is the rule for one amount a person enters; totals are plain unbounded decimals.
    """

    amount: Decimal = attrs.field(converter=_decimal)

    def __attrs_post_init__(self) -> None:
        amount = self.amount
        if not isinstance(amount, Decimal):
            raise InvalidValue("Must be a decimal number.")
        if not amount.is_finite():
            raise InvalidValue("Must be a finite number.")
        if amount < 0:
            raise InvalidValue("Must not be negative.")
        # Checked before quantizing: a huge exponent would overflow the decimal context.
        if amount and amount.adjusted() >= MONEY_DIGITS - 2:
            raise InvalidValue(f"Must have at most {MONEY_DIGITS} digits.")
        quantized = amount.quantize(_CENT)
        if quantized != amount:
            raise InvalidValue("Must have at most 2 decimal places.")
        # copy_abs: `-0` is zero, and must not print as "-0.00".
        object.__setattr__(self, "amount", quantized.copy_abs())

    @classmethod
    def zero(cls) -> Money:
        return cls(Decimal(0))

    @classmethod
    def parse(cls, value: object) -> Money:
        """Money from a JSON number, a decimal string or a Decimal; floats keep their text."""
        if isinstance(value, Money):
            return value
        if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
            raise InvalidValue("Must be a number or a decimal string.")
        text = repr(value) if isinstance(value, float) else str(value).strip()
        return cls(text)

    def __add__(self, other: Money) -> Money:
        return Money(self.amount + other.amount)

    def __str__(self) -> str:
        return f"{self.amount:.2f}"


@attrs.frozen(order=True)
class Probability:
    """A whole percentage from 0 to 100."""

    percent: int = attrs.field()

    @percent.validator
    def _check(self, _: attrs.Attribute[int], value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidValue("Must be an integer.")
        if not 0 <= value <= 100:
            raise InvalidValue("Must be between 0 and 100.")

    def __int__(self) -> int:
        return self.percent


@attrs.frozen
class PhoneNumber:
    """A phone number in E.164 (`+79991234567`), whatever form it was written in."""

    e164: str

    @classmethod
    def parse(cls, text: str, default_region: str = "RU") -> PhoneNumber:
        cleaned = text.strip()
        if not cleaned:
            raise InvalidValue("Enter a phone number.")
        try:
            parsed = phonenumbers.parse(cleaned, default_region)
        except phonenumbers.NumberParseException:
            raise InvalidValue("Not a phone number.") from None
        if not phonenumbers.is_possible_number(parsed) or not phonenumbers.is_valid_number(parsed):
            raise InvalidValue("Not a valid phone number.")
        return cls(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))

    @property
    def digits(self) -> str:
        return self.e164[1:]

    def __str__(self) -> str:
        return self.e164


_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


@attrs.frozen
class Color:
    """An `#rrggbb` colour, kept lower-case."""

    hex: str

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.hex, str) or not _COLOR.match(self.hex):
            raise InvalidValue("Must be a colour in the form #RRGGBB.")
        object.__setattr__(self, "hex", self.hex.lower())

    def __str__(self) -> str:
        return self.hex


DEFAULT_STAGE_COLOR = Color("#3498db")

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalize_email(text: str) -> str:
    """A syntactically valid address, lower-cased so that sign-in ignores case."""
    cleaned = text.strip().lower()
    if len(cleaned) > 254 or not _EMAIL.match(cleaned):
        raise InvalidValue("Enter a valid email address.")
    return cleaned


_HANDLE = re.compile(r"^[A-Za-z0-9._]{1,30}$")


def normalize_instagram(text: str) -> str:
    """An Instagram username, stored without `@`."""
    handle = text.strip().removeprefix("@")
    if not _HANDLE.match(handle):
        raise InvalidValue("Not an Instagram username.")
    return handle


def as_money(value: object) -> Money:
    """A money field's value, from Money or anything `Money.parse` reads."""
    return Money.parse(value)


def as_probability(value: object) -> Probability:
    """A probability field's value, from Probability or a whole number."""
    if isinstance(value, Probability):
        return value
    if isinstance(value, int):
        return Probability(value)
    raise InvalidValue("Must be an integer.")


TITLE_LENGTH = 255
NAME_LENGTH = 255
SHORT_LENGTH = 64  # sources and handles
REASON_LENGTH = 1000


def bounded_text(value: object, max_length: int | None = None) -> str:
    """An optional text field: text of at most `max_length` characters."""
    if not isinstance(value, str):
        raise InvalidValue("Not a valid string.")
    if max_length is not None and len(value) > max_length:
        raise InvalidValue(f"Ensure this field has no more than {max_length} characters.")
    return value


def required_text(value: object, max_length: int | None = TITLE_LENGTH) -> str:
    """A required text field: refused when blank or longer than the column holds."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidValue("This field may not be blank.")
    return bounded_text(value, max_length)


def text_of(max_length: int | None) -> Callable[[object], str]:
    """The check of an optional text field of `max_length` characters."""
    return lambda value: bounded_text(value, max_length)


# --- search ---------------------------------------------------------------------------------


def fold_for_search(text: str) -> str:
    """Text as search compares it: case folded, and ё read as е (Russians type either)."""
    return text.casefold().replace("ё", "е")


_PHONE_TOKEN = re.compile(r"^\+?[\d().-]*\d[\d().-]*$")
_MIN_PHONE_DIGITS = 5


def phone_query_digits(text: str, region: str) -> str:
    """The digits a phone query looks for in E.164 numbers, the query read as `region` writes
    numbers: `8 (999) 123` in Russia is `7999123`, `+7 999 123` is `7999123`, `999 123` stays
    `999123` (a part of the number without its prefix)."""
    digits = re.sub(r"\D", "", text)
    if text.strip().startswith("+") or not digits:
        return digits
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region.upper())
    prefix = metadata.national_prefix if metadata is not None else None
    if prefix and digits.startswith(prefix) and len(digits) > len(prefix) + 2:
        return f"{metadata.country_code}{digits[len(prefix) :]}"  # type: ignore[union-attr]
    return digits


def split_search(text: str) -> tuple[list[str], list[str]]:
    """A search query as (words, phone-like runs): `Иванов 8 999 123-45` is the word
    `Иванов` and the number `8 999 123-45`. A run is made of neighbouring words written
    only with phone characters, with at least five digits in all."""
    words: list[str] = []
    phones: list[str] = []
    run: list[str] = []

    def close_run() -> None:
        if len(re.sub(r"\D", "", "".join(run))) >= _MIN_PHONE_DIGITS:
            phones.append(" ".join(run))
        else:
            words.extend(run)
        run.clear()

    for token in text.split():
        if _PHONE_TOKEN.match(token):
            run.append(token)
        else:
            close_run()
            words.append(token)
    close_run()
    return words, phones
