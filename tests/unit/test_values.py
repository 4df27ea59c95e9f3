"""Value objects: money, probability, phone numbers, colours, e-mail and handles."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_core import Color, InvalidValue, Money, PhoneNumber, Probability
from crm_core.values import normalize_email, normalize_instagram

# --- Money ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given_value", "expected"),
    [
        (50000, "50000.00"),
        ("50000", "50000.00"),
        ("  12.5 ", "12.50"),
        (12.5, "12.50"),
        (0.1, "0.10"),
        (Decimal("99.99"), "99.99"),
        ("9999999999.99", "9999999999.99"),
        ("-0", "0.00"),
    ],
)
def test_given_a_number_or_decimal_text_when_parsed_then_money_has_two_places(
    given_value: object, expected: str
) -> None:
    assert str(Money.parse(given_value)) == expected


@pytest.mark.parametrize(
    "given_value",
    [
        *("1.001", "0.005", 0.1 + 0.2, "-1", -0.01, "10000000000", "1e30"),
        *("abc", "", "NaN", "Infinity", True, None, [1]),
    ],
)
def test_given_money_out_of_bounds_when_parsed_then_refused_not_rounded(
    given_value: object,
) -> None:
    with pytest.raises(InvalidValue):
        Money.parse(given_value)


def test_given_two_sums_when_added_then_money_adds_up() -> None:
    assert Money.parse("0.10") + Money.parse("0.20") == Money.parse("0.30")


cents = st.integers(min_value=0, max_value=999_999_999_999)


@given(cents)
def test_property_money_round_trips_through_its_text(value: int) -> None:
    money = Money(Decimal(value).scaleb(-2))
    assert Money.parse(str(money)) == money
    assert str(Money.parse(str(money))) == str(money)


@given(cents, st.integers(min_value=1, max_value=9))
def test_property_money_refuses_a_third_decimal(value: int, third: int) -> None:
    text = f"{Money(Decimal(value).scaleb(-2))}{third}"
    with pytest.raises(InvalidValue):
        Money.parse(text)


@given(st.decimals(max_value=Decimal("-0.01"), allow_nan=False, allow_infinity=False, places=2))
def test_property_money_refuses_negatives(value: Decimal) -> None:
    with pytest.raises(InvalidValue):
        Money(value)
    with pytest.raises(InvalidValue):
        Money.parse(str(value))


# --- Probability ---------------------------------------------------------------------------


@pytest.mark.parametrize("percent", [0, 1, 50, 100])
def test_given_a_whole_percentage_then_it_is_a_probability(percent: int) -> None:
    assert int(Probability(percent)) == percent


@pytest.mark.parametrize("percent", [-1, 101, 50.5, "50", True])
def test_given_no_whole_percentage_then_probability_refuses(percent: object) -> None:
    with pytest.raises(InvalidValue):
        Probability(percent)  # type: ignore[arg-type]


# --- PhoneNumber -----------------------------------------------------------------------------


def test_given_two_spellings_of_one_russian_number_then_they_are_equal() -> None:
    assert PhoneNumber.parse("8 999 123-45-67") == PhoneNumber.parse("+7 (999) 123-45-67")
    assert PhoneNumber.parse("8 999 123-45-67").e164 == "+79991234567"
    assert PhoneNumber.parse("8 999 123-45-67").digits == "79991234567"


def test_given_another_default_region_then_national_numbers_read_in_it() -> None:
    assert PhoneNumber.parse("030 123456", "DE").e164 == "+4930123456"


@pytest.mark.parametrize("text", ["", "   ", "hello", "123", "+7 999 123", "+0 000 000 00 00"])
def test_given_no_phone_number_then_parsing_refuses(text: str) -> None:
    with pytest.raises(InvalidValue):
        PhoneNumber.parse(text)


RUSSIAN_FORMATS = (
    "+7{a}{b}{c}{d}",
    "+7 ({a}) {b}-{c}-{d}",
    "8 {a} {b}-{c}-{d}",
    "8({a}){b}{c}{d}",
    "8-{a}-{b}-{c}-{d}",
    "7{a}{b}{c}{d}",
    "+7 {a} {b} {c} {d}",
    "  {a}{b}{c}{d}  ",
)


@given(
    operator=st.integers(min_value=900, max_value=999),
    subscriber=st.integers(min_value=0, max_value=9_999_999),
    formats=st.lists(st.sampled_from(RUSSIAN_FORMATS), min_size=2, max_size=4),
)
def test_property_a_russian_mobile_normalises_the_same_in_every_format(
    operator: int, subscriber: int, formats: list[str]
) -> None:
    number = f"{subscriber:07d}"
    parts = {"a": str(operator), "b": number[:3], "c": number[3:5], "d": number[5:]}
    expected = f"+7{operator}{number}"

    normalised = {_e164_or_refused(form.format(**parts)) for form in formats}

    # A few ranges are not allocated (+7 930 000…): then every form is refused alike.
    assert normalised in ({expected}, {"refused"})
    if normalised == {expected}:
        assert PhoneNumber.parse(expected).e164 == expected  # idempotent


def _e164_or_refused(text: str) -> str:
    try:
        return PhoneNumber.parse(text).e164
    except InvalidValue:
        return "refused"


# --- Color, e-mail, handles -----------------------------------------------------------------


@given(st.text(alphabet="0123456789abcdefABCDEF", min_size=6, max_size=6))
def test_property_a_colour_is_kept_lower_case_whatever_its_case(digits: str) -> None:
    colour = Color("#" + digits)
    assert colour.hex == "#" + digits.lower()
    assert Color("#" + digits.upper()) == Color("#" + digits.lower()) == colour
    assert Color(colour.hex) == colour


@pytest.mark.parametrize("text", ["3498db", "#3498d", "#3498dbb", "#GGGGGG", "", "red"])
def test_given_no_rrggbb_then_colour_refuses(text: str) -> None:
    with pytest.raises(InvalidValue):
        Color(text)


def test_given_an_email_then_it_is_kept_lower_case_and_checked() -> None:
    assert normalize_email(" Anna@Example.COM ") == "anna@example.com"
    with pytest.raises(InvalidValue):
        normalize_email("anna@example")


def test_given_an_instagram_handle_then_it_is_kept_without_at() -> None:
    assert normalize_instagram("@anna.k_1") == "anna.k_1"
    with pytest.raises(InvalidValue):
        normalize_instagram("anna k")
