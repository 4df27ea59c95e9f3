"""Who wrote an incoming message: the sender-to-contact matching rule over the repository."""

from __future__ import annotations

from crm_core.contact import Contact
from crm_core.messaging import ChatType, choose_sender, sender_handle, sender_phone
from crm_core.ports import UnitOfWork
from crm_core.values import CompanyId


def find_sender(
    uow: UnitOfWork, company_id: CompanyId, chat_type: ChatType, chat_id: str, region: str
) -> Contact | None:
    """The company's contact behind a chat: by exact E.164 number for phone chats, by handle
    or chat id for the others; the oldest when several match; None when none does."""
    phone = sender_phone(chat_type, chat_id, region)
    if phone is not None:
        candidates = uow.contacts.with_phone(company_id, phone)
    else:
        handle = sender_handle(chat_type, chat_id)
        if handle is None:
            return None
        candidates = uow.contacts.with_handle(company_id, chat_type, handle)
    return choose_sender(candidates, chat_type, chat_id, region)
