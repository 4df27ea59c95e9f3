"""Contacts: at least one channel, normalised phones, e-mail and handles."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crm_core import Actor, Contact, NotFound, PhoneNumber, ValidationFailed
from crm_core.values import BranchId, CompanyId, UserId, new_id
from tests.unit.conftest import Crm

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def test_given_phones_in_any_form_when_a_contact_is_created_then_they_are_stored_in_e164(
    crm: Crm, anna: Actor
) -> None:
    contact_id = crm.contacts.create_contact(
        anna,
        {
            "first_name": "Иван",
            "last_name": "Петров",
            "phone": "8 999 123-45-67",
            "phone_secondary": "+7 (916) 000-11-22",
            "whatsapp": "79991234567",
            "email": "Ivan@Example.com",
            "instagram": "@ivan.p",
        },
    )

    with crm.read() as uow:
        contact = uow.contacts.get(anna.company_id, contact_id)
    assert contact.phone == PhoneNumber("+79991234567") == contact.whatsapp
    assert contact.phone_secondary == PhoneNumber("+79160001122")
    assert (contact.email, contact.instagram) == ("ivan@example.com", "ivan.p")
    assert contact.full_name == "Петров Иван"
    assert contact.owner_id == anna.user_id and not contact.is_client
    assert contact.created_at == contact.updated_at == crm.clock.now()


@pytest.mark.parametrize(
    "channel",
    [
        {"phone": "89991234567"},
        {"email": "a@b.ru"},
        {"whatsapp": "89991234567"},
        {"instagram": "a"},
    ],
)
def test_given_any_one_channel_then_a_contact_can_be_created(
    crm: Crm, anna: Actor, channel: dict[str, str]
) -> None:
    contact_id = crm.contacts.create_contact(anna, {"first_name": "Иван", **channel})

    with crm.read() as uow:
        assert uow.contacts.get(anna.company_id, contact_id).first_name == "Иван"


def test_given_no_channel_when_a_contact_is_created_then_400(crm: Crm, anna: Actor) -> None:
    with pytest.raises(ValidationFailed) as refused:
        crm.contacts.create_contact(anna, {"first_name": "Иван", "phone_secondary": "89991234567"})

    assert list(refused.value.errors) == ["non_field_errors"]


def test_given_bad_values_when_a_contact_is_created_then_every_field_is_named(
    crm: Crm, anna: Actor
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        crm.contacts.create_contact(
            anna, {"phone": "not a phone", "email": "nope", "instagram": "a b", "whatsapp": "1"}
        )

    assert set(refused.value.errors) == {"first_name", "phone", "email", "instagram", "whatsapp"}


def test_given_a_contact_when_its_last_channel_is_cleared_then_400_and_nothing_changes(
    crm: Crm, anna: Actor
) -> None:
    contact_id = crm.contact(anna)
    crm.clock.advance(minutes=5)

    with pytest.raises(ValidationFailed):
        crm.contacts.update_contact(anna, contact_id, {"phone": "", "first_name": "Пётр"})

    with crm.read() as uow:
        contact = uow.contacts.get(anna.company_id, contact_id)
    assert (contact.first_name, contact.phone) == ("Иван", PhoneNumber("+79991234567"))


def test_given_a_contact_when_a_channel_is_swapped_then_it_is_normalised(
    crm: Crm, anna: Actor
) -> None:
    contact_id = crm.contact(anna)
    crm.clock.advance(minutes=5)

    crm.contacts.update_contact(
        anna, contact_id, {"phone": None, "email": "A@B.RU", "tags": ["vip"]}
    )

    with crm.read() as uow:
        contact = uow.contacts.get(anna.company_id, contact_id)
    assert (contact.phone, contact.email, contact.tags) == (None, "a@b.ru", ["vip"])
    assert contact.updated_at == crm.clock.now() != contact.created_at


def test_given_a_refused_change_on_the_aggregate_then_the_contact_is_untouched() -> None:
    contact = Contact.create(
        CompanyId(new_id()), {"first_name": "Иван", "email": "a@b.ru"}, "RU", NOW
    )

    with pytest.raises(ValidationFailed):
        contact.change({"email": "", "phone": "+7 999 12"}, "RU", NOW)
    with pytest.raises(ValidationFailed):
        contact.change({"email": None, "last_name": "Петров"}, "RU", NOW)

    assert (contact.email, contact.last_name, contact.phone) == ("a@b.ru", "", None)


def test_given_an_unknown_field_then_the_aggregate_refuses_it_as_a_programming_error() -> None:
    contact = Contact.create(
        CompanyId(new_id()), {"first_name": "Иван", "email": "a@b.ru"}, "RU", NOW
    )

    with pytest.raises(ValueError, match="not a contact field"):
        contact.change({"id": new_id()}, "RU", NOW)


def test_given_a_contact_then_it_has_a_handle_per_chat_type() -> None:
    contact = Contact.create(
        CompanyId(new_id()),
        {
            "first_name": "Иван",
            "phone": "89991234567",
            "whatsapp": "89160001122",
            "instagram": "iv",
        },
        "RU",
        NOW,
    )

    assert contact.handle_for("whatsapp") == "79160001122"
    assert contact.handle_for("viber") == "79160001122"
    assert contact.handle_for("instagram") == "iv"
    assert contact.handle_for("telegram") == "79991234567"
    assert contact.handle_for("vk") is None
    assert contact.phone_digits == "79991234567 79160001122"


def test_given_references_of_another_company_then_400_on_that_field(
    crm: Crm, anna: Actor, boris: Actor
) -> None:
    branch = crm.access.create_branch(boris, {"name": "Склад"})

    with pytest.raises(ValidationFailed) as owner:
        crm.contact(anna, owner_id=boris.user_id)
    with pytest.raises(ValidationFailed) as foreign_branch:
        crm.contact(anna, branch_id=branch)
    with pytest.raises(ValidationFailed) as missing_branch:
        crm.contact(anna, branch_id=BranchId(new_id()), owner_id=UserId(new_id()))

    assert list(owner.value.errors) == ["owner"]
    assert list(foreign_branch.value.errors) == ["branch"]
    assert list(missing_branch.value.errors) == ["owner"]


def test_given_another_companys_contact_then_it_is_not_found(
    crm: Crm, anna: Actor, boris: Actor
) -> None:
    contact_id = crm.contact(anna)

    with pytest.raises(NotFound):
        crm.contacts.update_contact(boris, contact_id, {"first_name": "x"})
    with pytest.raises(NotFound):
        crm.contacts.delete_contact(boris, contact_id)

    crm.contacts.delete_contact(anna, contact_id)
    with crm.read() as uow, pytest.raises(NotFound):
        uow.contacts.get(anna.company_id, contact_id)
