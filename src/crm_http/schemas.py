"""Schemas shared by several resources: bodies ignore unknown fields, rows carry timestamps."""

from __future__ import annotations

from typing import Any, ClassVar

from marshmallow import EXCLUDE, Schema, fields, pre_load

from crm_http.fields import Timestamp, storable_text


class Body(Schema):
    """A request body: unknown and read-only fields are ignored, as the contract says.

    `RESET` says what a PUT does to each optional field the body leaves out: PUT replaces
    the whole object, so such a field goes back to its default. Fields absent from `RESET`
    (the owner, a lead's stage) keep their value.
    """

    class Meta:
        unknown = EXCLUDE

    RESET: ClassVar[dict[str, Any]] = {}

    @pre_load
    def _storable(self, data: Any, **_: Any) -> Any:
        return storable_text(data)

    @classmethod
    def replacement(cls, body: dict[str, Any]) -> dict[str, Any]:
        return {**cls.RESET, **body}


class RowSchema(Schema):
    """A resource as answered: every row has these."""

    class Meta:
        ordered = True

    id = fields.UUID(dump_only=True)
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)
