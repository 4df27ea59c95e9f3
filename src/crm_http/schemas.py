"""Schemas shared by several resources: bodies ignore unknown fields, rows carry timestamps."""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, fields, pre_load

from crm_http.listing import ListArgs


class Body(Schema):
    """A request body: unknown and read-only fields are ignored, as the contract says."""

    class Meta:
        unknown = EXCLUDE

    @pre_load
    def _object_expected(self, data: Any, **_: Any) -> Any:
        return data


class RowSchema(Schema):
    """A resource as answered: every row has these."""

    class Meta:
        ordered = True

    id = fields.UUID(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class CreatedRange(ListArgs):
    created_at_after = fields.Date(metadata={"description": "created on or after (YYYY-MM-DD)"})
    created_at_before = fields.Date(metadata={"description": "created on or before (YYYY-MM-DD)"})


class ActionResult(Schema):
    detail = fields.String()
