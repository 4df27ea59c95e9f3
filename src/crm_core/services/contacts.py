"""Contacts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crm_core.contact import Contact
from crm_core.ports import UnitOfWork
from crm_core.services.base import UseCases, referenced
from crm_core.tenancy import Actor
from crm_core.values import ContactId


class ContactUseCases(UseCases):
    def create_contact(self, actor: Actor, fields: Mapping[str, Any]) -> ContactId:
        with self.uow() as uow:
            values = {"owner_id": actor.user_id, **fields}
            self._check_references(uow, actor, values)
            region = uow.companies.get(actor.company_id).default_region
            contact = Contact.create(actor.company_id, values, region, self.clock.now())
            uow.contacts.save(contact)
            uow.commit()
            return contact.id

    def update_contact(
        self, actor: Actor, contact_id: ContactId, fields: Mapping[str, Any]
    ) -> None:
        with self.uow() as uow:
            contact = uow.contacts.get(actor.company_id, contact_id)
            self._check_references(uow, actor, fields)
            region = uow.companies.get(actor.company_id).default_region
            contact.change(dict(fields), region, self.clock.now())
            uow.contacts.save(contact)
            uow.commit()

    def delete_contact(self, actor: Actor, contact_id: ContactId) -> None:
        with self.uow() as uow:
            uow.contacts.delete(uow.contacts.get(actor.company_id, contact_id))
            uow.commit()

    @staticmethod
    def _check_references(uow: UnitOfWork, actor: Actor, fields: Mapping[str, Any]) -> None:
        if fields.get("owner_id") is not None:
            referenced("owner", lambda: uow.users.get(actor.company_id, fields["owner_id"]))
        if fields.get("branch_id") is not None:
            referenced("branch", lambda: uow.branches.get(actor.company_id, fields["branch_id"]))
