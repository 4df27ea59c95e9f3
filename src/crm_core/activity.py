"""Activities: calls, meetings, notes, tasks and the system's own stage-change records."""

from __future__ import annotations

import enum
from datetime import date, datetime

import attrs

from crm_core.commands import UNSET, Maybe
from crm_core.errors import FieldErrors, InvalidValue, ValidationFailed
from crm_core.values import (
    TITLE_LENGTH,
    ActivityId,
    CompanyId,
    ContactId,
    DealId,
    LeadId,
    UserId,
    bounded_text,
    new_id,
    required_text,
)


class ActivityType(enum.StrEnum):
    CALL = "call"
    MEETING = "meeting"
    EMAIL = "email"
    MESSAGE = "message"
    NOTE = "note"
    TASK = "task"
    STAGE_CHANGE = "stage_change"

    @property
    def label(self) -> str:
        return ACTIVITY_LABELS[self]


ACTIVITY_LABELS = {
    ActivityType.CALL: "Звонок",
    ActivityType.MEETING: "Встреча",
    ActivityType.EMAIL: "Email",
    ActivityType.MESSAGE: "Сообщение",
    ActivityType.NOTE: "Заметка",
    ActivityType.TASK: "Задача",
    ActivityType.STAGE_CHANGE: "Смена стадии",
}


@attrs.frozen
class Links:
    """What an activity is about, with the contact each linked lead or deal belongs to."""

    contact_id: ContactId | None = None
    lead_id: LeadId | None = None
    lead_contact_id: ContactId | None = None
    deal_id: DealId | None = None
    deal_contact_id: ContactId | None = None
    deal_lead_id: LeadId | None = None

    def resolved_contact(self) -> ContactId:
        """The one contact all links agree on; a lead's or deal's own contact fills a gap."""
        if self.contact_id is None and self.lead_id is None and self.deal_id is None:
            raise ValidationFailed.on(
                "non_field_errors", "At least one of contact, lead, deal is required."
            )
        if self.lead_id and self.deal_id and self.deal_lead_id not in (None, self.lead_id):
            raise ValidationFailed.on("deal", "This deal was not made from the given lead.")
        candidates = {
            "lead": self.lead_contact_id if self.lead_id else None,
            "deal": self.deal_contact_id if self.deal_id else None,
        }
        contact = self.contact_id
        for field, owner in candidates.items():
            if owner is None:
                continue
            if contact is None:
                contact = owner
            elif owner != contact:
                raise ValidationFailed.on(field, f"This {field} belongs to another contact.")
        assert contact is not None
        return contact


@attrs.define(slots=False, eq=False)
class Activity:
    company_id: CompanyId
    activity_type: ActivityType
    title: str
    activity_date: datetime
    contact_id: ContactId | None = None
    lead_id: LeadId | None = None
    deal_id: DealId | None = None
    user_id: UserId | None = None
    description: str = ""
    due_date: date | None = None
    is_done: bool = False
    id: ActivityId = attrs.field(factory=lambda: ActivityId(new_id()))
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def record(
        cls,
        *,
        company_id: CompanyId,
        activity_type: ActivityType,
        title: str,
        links: Links,
        now: datetime,
        user_id: UserId | None,
        activity_date: datetime | None = None,
        description: str = "",
        due_date: date | None = None,
        is_done: bool = False,
    ) -> Activity:
        """An activity a person writes; stage changes are the system's alone."""
        try:
            activity_type = ActivityType(activity_type)
        except ValueError:
            raise ValidationFailed.on("activity_type", "Not a valid choice.") from None
        if activity_type == ActivityType.STAGE_CHANGE:
            raise ValidationFailed.on(
                "activity_type", "Stage changes are recorded by the system, not by hand."
            )
        try:  # what a person writes is bounded; the system's titles quote names and reasons
            required_text(title, TITLE_LENGTH)
        except InvalidValue as error:
            raise ValidationFailed.on("title", error.detail) from None
        return cls._new(
            company_id,
            activity_type,
            title,
            links,
            now,
            user_id,
            activity_date,
            description,
            due_date,
            is_done,
        )

    @classmethod
    def system(
        cls,
        *,
        company_id: CompanyId,
        activity_type: ActivityType,
        title: str,
        links: Links,
        now: datetime,
        user_id: UserId | None,
        description: str = "",
    ) -> Activity:
        """An activity the system writes when something happens (stage change, win, message)."""
        return cls._new(
            company_id, activity_type, title, links, now, user_id, now, description, None, False
        )

    @classmethod
    def _new(
        cls,
        company_id: CompanyId,
        activity_type: ActivityType,
        title: str,
        links: Links,
        now: datetime,
        user_id: UserId | None,
        activity_date: datetime | None,
        description: str,
        due_date: date | None,
        is_done: bool,
    ) -> Activity:
        if not title.strip():
            raise ValidationFailed.on("title", "This field may not be blank.")
        return cls(
            company_id=company_id,
            activity_type=activity_type,
            title=title,
            activity_date=activity_date or now,
            contact_id=links.resolved_contact(),
            lead_id=links.lead_id,
            deal_id=links.deal_id,
            user_id=user_id,
            description=description,
            due_date=due_date,
            is_done=is_done,
            created_at=now,
            updated_at=now,
        )

    def relink(self, links: Links, now: datetime) -> None:
        self.contact_id = links.resolved_contact()
        self.lead_id, self.deal_id = links.lead_id, links.deal_id
        self.updated_at = now

    def change_details(
        self,
        now: datetime,
        *,
        title: Maybe[str] = UNSET,
        description: Maybe[str] = UNSET,
        activity_date: Maybe[datetime | None] = UNSET,
        due_date: Maybe[date | None] = UNSET,
        is_done: Maybe[bool] = UNSET,
    ) -> None:
        """Title, description, date and the task fields; nothing changes when one is refused.

        A date set to None keeps the current one (an activity always has a date).
        """
        errors = FieldErrors()
        with errors.field("title"):
            title = title if title is UNSET else required_text(title, TITLE_LENGTH)
        with errors.field("description"):
            description = description if description is UNSET else bounded_text(description)
        errors.raise_if_any()
        if title is not UNSET:
            self.title = title
        if description is not UNSET:
            self.description = description
        if activity_date is not UNSET and activity_date is not None:
            self.activity_date = activity_date
        if due_date is not UNSET:
            self.due_date = due_date
        if is_done is not UNSET:
            self.is_done = is_done
        self.updated_at = now

    def change_type(self, activity_type: ActivityType) -> None:
        if (activity_type == ActivityType.STAGE_CHANGE) != (
            self.activity_type == ActivityType.STAGE_CHANGE
        ):
            raise ValidationFailed.on(
                "activity_type", "Stage changes are recorded by the system, not by hand."
            )
        self.activity_type = activity_type
