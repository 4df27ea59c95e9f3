"""Who wrote a message: the sender-to-contact matching rule over the repository."""

from __future__ import annotations

from collections.abc import Collection

from crm_core.contact import Contact
from crm_core.messaging import ChatType, match_senders, sender_handle, sender_phone
from crm_core.ports import UnitOfWork
from crm_core.values import CompanyId


def find_sender(
    uow: UnitOfWork, company_id: CompanyId, chat_type: ChatType, chat_id: str, region: str
) -> Contact | None:
    """The company's contact behind a chat: by exact E.164 number for phone chats, by handle
    or chat id for the others; the oldest when several match; None when none does."""
    return find_senders(uow, company_id, chat_type, [chat_id], region).get(chat_id)


def find_senders(
    uow: UnitOfWork,
    company_id: CompanyId,
    chat_type: ChatType,
    chat_ids: Collection[str],
    region: str,
) -> dict[str, Contact]:
    """`find_sender` for many chats at once (one query): the chats that matched a contact."""
    phones = {chat_id: sender_phone(chat_type, chat_id, region) for chat_id in chat_ids}
    handles = {chat_id: sender_handle(chat_type, chat_id) for chat_id in chat_ids}
    wanted_phones = {phone for phone in phones.values() if phone is not None}
    wanted_handles = {h for c, h in handles.items() if h is not None and phones[c] is None}
    candidates: list[Contact] = []
    if wanted_phones:
        candidates += uow.contacts.with_phones(company_id, wanted_phones)
    if wanted_handles:
        candidates += uow.contacts.with_handles(company_id, chat_type, wanted_handles)
    return match_senders(candidates, chat_type, chat_ids, region)
