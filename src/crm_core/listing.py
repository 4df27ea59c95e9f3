"""What each list offers: its filters, searched fields and orderings, declared once.

The read model implements these names over its tables, and the HTTP layer builds its query
schema (and so the OpenAPI document) from them, so that the two cannot drift apart.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping

import attrs

from crm_core.activity import ActivityType
from crm_core.lead import LeadStatus
from crm_core.messaging import ChatType, MessageStatus, MessageType
from crm_core.ports import Resource
from crm_core.tenancy import Role


class By(enum.Enum):
    """How a filter reads its value (and which query parameters it takes)."""

    TEXT = "text"  # case-insensitive substring
    EXACT = "exact"  # text, equal
    ID = "id"  # a UUID
    FLAG = "flag"  # true/false/1/0
    CHOICE = "choice"  # one of the filter's choices
    DATE = "date"  # YYYY-MM-DD: `name` exactly, `name_after` / `name_before` inclusive
    PHONE = "phone"  # a part of a number, in any form the company's region writes
    DAYS = "days"  # `name_after` / `name_before`: whole days of a timestamp, inclusive


@attrs.frozen
class Filter:
    by: By
    choices: tuple[str, ...] = ()

    def parameters(self, name: str) -> tuple[str, ...]:
        """The query parameters of this filter: ranges take `_after` and `_before`."""
        if self.by is By.DAYS:
            return (f"{name}_after", f"{name}_before")
        if self.by is By.DATE:
            return (name, f"{name}_after", f"{name}_before")
        return (name,)


TEXT, EXACT, ID, FLAG = Filter(By.TEXT), Filter(By.EXACT), Filter(By.ID), Filter(By.FLAG)
DATE, PHONE, DAYS = Filter(By.DATE), Filter(By.PHONE), Filter(By.DAYS)


def choice(values: type[enum.StrEnum]) -> Filter:
    return Filter(By.CHOICE, tuple(member.value for member in values))


@attrs.frozen
class Listing:
    """One list: `filters` by name, the fields `search` looks in, the `orderings` allowed."""

    filters: Mapping[str, Filter]
    search: tuple[str, ...]
    orderings: tuple[str, ...]
    default_ordering: tuple[tuple[str, bool], ...] = (("created_at", True),)

    def parameters(self) -> Iterator[tuple[str, str, Filter]]:
        """(query parameter, filter name, filter) for every parameter the list takes."""
        for name, spec in self.filters.items():
            for parameter in spec.parameters(name):
                yield parameter, name, spec


_PIPELINE = {"title": TEXT, "funnel": ID, "stage": ID, "owner": ID, "contact": ID}
_CONTACT_SEARCH = (
    "contact.first_name",
    "contact.last_name",
    "contact.middle_name",
    "contact.phone",
)

LISTINGS: dict[Resource, Listing] = {
    Resource.FUNNELS: Listing(
        filters={"is_active": FLAG},
        search=("name", "description"),
        orderings=("created_at", "name"),
    ),
    Resource.STAGES: Listing(
        filters={"funnel": ID},
        search=("name",),
        orderings=("funnel", "order", "name", "created_at"),
        default_ordering=(("funnel", False), ("order", False)),
    ),
    Resource.CONTACTS: Listing(
        filters={
            "phone": PHONE,
            "email": TEXT,
            "first_name": TEXT,
            "last_name": TEXT,
            "is_active": FLAG,
            "is_client": FLAG,
            "source": TEXT,
            "owner": ID,
            "branch": ID,
            "created_at": DAYS,
        },
        search=("first_name", "last_name", "middle_name", "phone", "email", "company_name"),
        orderings=("created_at", "first_name", "last_name"),
    ),
    Resource.LEADS: Listing(
        filters={
            **_PIPELINE,
            "source": TEXT,
            "status": choice(LeadStatus),
            "created_at": DAYS,
        },
        search=("title", "description", *_CONTACT_SEARCH),
        orderings=("created_at", "estimated_value", "title"),
    ),
    Resource.DEALS: Listing(
        filters={
            **_PIPELINE,
            "lead": ID,
            "is_won": FLAG,
            "is_lost": FLAG,
            "expected_close_date": DATE,
            "created_at": DAYS,
        },
        search=("title", "description", *_CONTACT_SEARCH),
        orderings=("created_at", "amount", "expected_close_date", "title"),
    ),
    Resource.ACTIVITIES: Listing(
        filters={
            "contact": ID,
            "lead": ID,
            "deal": ID,
            "activity_type": choice(ActivityType),
            "user": ID,
            "is_done": FLAG,
            "activity_date": DAYS,
        },
        search=("title", "description"),
        orderings=("activity_date", "created_at"),
        default_ordering=(("activity_date", True),),
    ),
    Resource.USERS: Listing(
        filters={"is_active": FLAG, "role": choice(Role)},
        search=("email", "full_name"),
        orderings=("created_at", "email", "full_name"),
    ),
    Resource.BRANCHES: Listing(
        filters={"is_active": FLAG},
        search=("name", "address"),
        orderings=("created_at", "name"),
    ),
    Resource.ACCOUNTS: Listing(
        filters={"integration_type": choice(ChatType), "is_active": FLAG, "is_connected": FLAG},
        search=("name",),
        orderings=("created_at", "name"),
    ),
    Resource.MESSAGES: Listing(
        filters={
            "account": ID,
            "contact": ID,
            "lead": ID,
            "is_incoming": FLAG,
            "is_read": FLAG,
            "message_type": choice(MessageType),
            "status": choice(MessageStatus),
            "chat_id": EXACT,
            "timestamp": DAYS,
        },
        search=("text", "from_number", "to_number"),
        orderings=("timestamp", "created_at"),
        default_ordering=(("timestamp", True),),
    ),
}
