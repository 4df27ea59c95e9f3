"""Contacts."""

from __future__ import annotations

import attrs

from crm_core.commands import UNSET, Maybe, set_fields
from crm_core.contact import Contact
from crm_core.ports import UnitOfWork
from crm_core.services.base import UseCases, check_owner, referenced
from crm_core.tenancy import Actor
from crm_core.values import BranchId, ContactId, UserId


@attrs.frozen(kw_only=True)
class ChangeContact:
    """The contact's fields a caller may set; phones and e-mail as typed, normalised by the
    Contact. A PATCH names some; a PUT all (the edge fills in the defaults)."""

    first_name: Maybe[str] = UNSET
    last_name: Maybe[str] = UNSET
    middle_name: Maybe[str] = UNSET
    phone: Maybe[str | None] = UNSET
    phone_secondary: Maybe[str | None] = UNSET
    whatsapp: Maybe[str | None] = UNSET
    email: Maybe[str | None] = UNSET
    instagram: Maybe[str | None] = UNSET
    telegram: Maybe[str] = UNSET
    company_name: Maybe[str] = UNSET
    position: Maybe[str] = UNSET
    address: Maybe[str] = UNSET
    notes: Maybe[str] = UNSET
    tags: Maybe[list[str]] = UNSET
    source: Maybe[str] = UNSET
    is_active: Maybe[bool] = UNSET
    is_client: Maybe[bool] = UNSET
    branch_id: Maybe[BranchId | None] = UNSET
    owner_id: Maybe[UserId | None] = UNSET


@attrs.frozen(kw_only=True)
class CreateContact(ChangeContact):
    first_name: str  # required on create


class ContactUseCases(UseCases):
    def create_contact(self, actor: Actor, command: CreateContact) -> ContactId:
        with self.uow() as uow:
            self._check_references(uow, actor, command)
            region = uow.companies.get(actor.company_id).default_region
            fields = set_fields(command)
            fields.setdefault("owner_id", actor.user_id)
            contact = Contact.create(
                actor.company_id, region=region, now=self.clock.now(), **fields
            )
            uow.contacts.save(contact)
            uow.commit()
            return contact.id

    def update_contact(self, actor: Actor, contact_id: ContactId, command: ChangeContact) -> None:
        with self.uow() as uow:
            contact = uow.contacts.get(actor.company_id, contact_id)
            self._check_references(uow, actor, command)
            region = uow.companies.get(actor.company_id).default_region
            contact.change(self.clock.now(), region, **set_fields(command))
            uow.contacts.save(contact)
            uow.commit()

    def delete_contact(self, actor: Actor, contact_id: ContactId) -> None:
        """Deletes a contact with its activities; one with leads or deals is kept (409)."""
        with self.uow() as uow:
            contact = uow.contacts.get(actor.company_id, contact_id)
            contact.ensure_deletable(
                uow.occupancy.contact_is_occupied(actor.company_id, contact_id)
            )
            uow.contacts.delete(contact)
            uow.commit()

    @staticmethod
    def _check_references(uow: UnitOfWork, actor: Actor, command: ChangeContact) -> None:
        check_owner(uow, actor, command.owner_id)
        branch_id = command.branch_id
        if branch_id is not UNSET and branch_id is not None:
            referenced("branch", lambda: uow.branches.get(actor.company_id, branch_id))
