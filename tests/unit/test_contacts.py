"""Contacts: at least one channel, normalised phones, e-mail and handles."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crm_core import Actor, Conflict, Contact, NotFound, PhoneNumber, ValidationFailed
from crm_core.services.contacts import ChangeContact, CreateContact
from crm_core.services.pipeline import CreateDeal, CreateLead
from crm_core.services.tenancy import CreateBranch
from crm_core.values import BranchId, CompanyId, UserId, new_id
from tests.unit.conftest import Crm

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def test_given_phones_in_any_form_when_a_contact_is_created_then_they_are_stored_in_e164(
    crm: Crm, anna: Actor
) -> None:
    contact_id = crm.contacts.create_contact(
        anna,
        CreateContact(
            first_name="Иван",
            last_name="Петров",
            phone="8 999 123-45-67",
            phone_secondary="+7 (916) 000-11-22",
            whatsapp="79991234567",
            email="Ivan@Example.com",
            instagram="@ivan.p",
        ),
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
        {"telegram": "@ivan_p"},
    ],
)
def test_given_any_one_channel_then_a_contact_can_be_created(
    crm: Crm, anna: Actor, channel: dict[str, str]
) -> None:
    contact_id = crm.contacts.create_contact(anna, CreateContact(first_name="Иван", **channel))

    with crm.read() as uow:
        assert uow.contacts.get(anna.company_id, contact_id).first_name == "Иван"


def test_given_no_channel_when_a_contact_is_created_then_400(crm: Crm, anna: Actor) -> None:
    with pytest.raises(ValidationFailed) as refused:
        crm.contacts.create_contact(
            anna, CreateContact(first_name="Иван", phone_secondary="89991234567")
        )

    assert list(refused.value.errors) == ["non_field_errors"]


def test_given_bad_values_when_a_contact_is_created_then_every_field_is_named(
    crm: Crm, anna: Actor
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        crm.contacts.create_contact(
            anna,
            CreateContact(
                first_name="", phone="not a phone", email="nope", instagram="a b", whatsapp="1"
            ),
        )

    assert set(refused.value.errors) == {"first_name", "phone", "email", "instagram", "whatsapp"}


def test_given_a_contact_when_its_last_channel_is_cleared_then_400_and_nothing_changes(
    crm: Crm, anna: Actor
) -> None:
    contact_id = crm.contact(anna)
    crm.clock.advance(minutes=5)

    with pytest.raises(ValidationFailed):
        crm.contacts.update_contact(anna, contact_id, ChangeContact(phone="", first_name="Пётр"))

    with crm.read() as uow:
        contact = uow.contacts.get(anna.company_id, contact_id)
    assert (contact.first_name, contact.phone) == ("Иван", PhoneNumber("+79991234567"))


def test_given_a_contact_when_a_channel_is_swapped_then_it_is_normalised(
    crm: Crm, anna: Actor
) -> None:
    contact_id = crm.contact(anna)
    crm.clock.advance(minutes=5)

    crm.contacts.update_contact(
        anna, contact_id, ChangeContact(phone=None, email="A@B.RU", tags=["vip"])
    )

    with crm.read() as uow:
        contact = uow.contacts.get(anna.company_id, contact_id)
    assert (contact.phone, contact.email, contact.tags) == (None, "a@b.ru", ["vip"])
    assert contact.updated_at == crm.clock.now() != contact.created_at


def test_given_a_refused_change_on_the_aggregate_then_the_contact_is_untouched() -> None:
    contact = Contact.create(
        CompanyId(new_id()), region="RU", now=NOW, first_name="Иван", email="a@b.ru"
    )

    with pytest.raises(ValidationFailed):
        contact.change(NOW, "RU", email="", phone="+7 999 12")
    with pytest.raises(ValidationFailed):
        contact.change(NOW, "RU", email=None, last_name="Петров")

    assert (contact.email, contact.last_name, contact.phone) == ("a@b.ru", "", None)


def test_given_an_unknown_field_then_the_aggregate_refuses_it_as_a_programming_error() -> None:
    contact = Contact.create(
        CompanyId(new_id()), region="RU", now=NOW, first_name="Иван", email="a@b.ru"
    )

    with pytest.raises(TypeError, match="id"):
        contact.change(NOW, "RU", id=new_id())  # type: ignore[call-arg]


def test_given_names_or_source_too_long_then_400_on_each_field(crm: Crm, anna: Actor) -> None:
    contact_id = crm.contact(anna, last_name="я" * 255, source="x" * 64)

    with pytest.raises(ValidationFailed) as refused:
        crm.contacts.update_contact(
            anna,
            contact_id,
            ChangeContact(first_name="я" * 256, middle_name="я" * 256, source="x" * 65),
        )

    assert set(refused.value.errors) == {"first_name", "middle_name", "source"}
    with crm.read() as uow:
        contact = uow.contacts.get(anna.company_id, contact_id)
    assert (contact.first_name, contact.source) == ("Иван", "x" * 64)


def test_given_a_contact_with_telegram_when_its_other_channels_are_cleared_then_it_stays_valid(
    crm: Crm, anna: Actor
) -> None:
    contact_id = crm.contact(anna, telegram="@ivan_p")

    crm.contacts.update_contact(anna, contact_id, ChangeContact(phone=None))

    with crm.read() as uow:
        contact = uow.contacts.get(anna.company_id, contact_id)
    assert (contact.phone, contact.telegram) == (None, "ivan_p")
    with pytest.raises(ValidationFailed) as refused:
        crm.contacts.update_contact(anna, contact_id, ChangeContact(telegram=""))
    assert list(refused.value.errors) == ["non_field_errors"]


def test_given_a_contact_then_it_has_a_handle_per_chat_type() -> None:
    contact = Contact.create(
        CompanyId(new_id()),
        region="RU",
        now=NOW,
        first_name="Иван",
        phone="89991234567",
        whatsapp="89160001122",
        instagram="iv",
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
    branch = crm.access.create_branch(boris, CreateBranch(name="Склад"))

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
        crm.contacts.update_contact(boris, contact_id, ChangeContact(first_name="x"))
    with pytest.raises(NotFound):
        crm.contacts.delete_contact(boris, contact_id)

    crm.contacts.delete_contact(anna, contact_id)
    with crm.read() as uow, pytest.raises(NotFound):
        uow.contacts.get(anna.company_id, contact_id)


@pytest.mark.parametrize("kind", ["lead", "deal", "converted lead"])
def test_given_a_contact_with_a_lead_or_deal_when_deleted_then_409_and_everything_stays(
    crm: Crm, anna: Actor, kind: str
) -> None:
    funnel = crm.funnel(anna)
    contact_id = crm.contact(anna)
    if kind == "deal":
        crm.deals.create_deal(
            anna, CreateDeal(contact_id=contact_id, funnel_id=funnel.id, title="Сделка")
        )
    else:
        lead_id = crm.leads.create_lead(
            anna, CreateLead(contact_id=contact_id, funnel_id=funnel.id, title="Лид")
        )
        if kind == "converted lead":
            crm.leads.convert_lead(anna, lead_id)

    with pytest.raises(Conflict, match="is_active"):
        crm.contacts.delete_contact(anna, contact_id)

    with crm.read() as uow:
        assert uow.contacts.get(anna.company_id, contact_id).first_name == "Иван"
    subjects = [*crm.db.rows("leads"), *crm.db.rows("deals")]
    assert subjects and all(subject.contact_id == contact_id for subject in subjects)


def test_given_a_contact_whose_leads_are_deleted_when_deleted_then_it_goes(
    crm: Crm, anna: Actor
) -> None:
    funnel = crm.funnel(anna)
    contact_id = crm.contact(anna)
    lead_id = crm.leads.create_lead(
        anna, CreateLead(contact_id=contact_id, funnel_id=funnel.id, title="Лид")
    )
    crm.leads.delete_lead(anna, lead_id)

    crm.contacts.delete_contact(anna, contact_id)

    with crm.read() as uow, pytest.raises(NotFound):
        uow.contacts.get(anna.company_id, contact_id)
