"""Lists: strict query arguments, ordering, and the paginated envelope."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import urlencode

from flask import request
from marshmallow import EXCLUDE, Schema, ValidationError, fields, pre_load, validate, validates
from werkzeug.exceptions import NotFound

from crm_core.ports import ListQuery, Page
from crm_http.fields import storable_text

MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 50
# No list is longer: a page beyond it is past the end without asking the database (whose
# integers a page of 10**20 would overflow).
MAX_ROWS = 2**40


class Flag(fields.Boolean):
    """A boolean filter: `true`/`false`/`1`/`0` and nothing else (`maybe`, `yes` are 400)."""

    truthy = {"true", "True", "TRUE", "1"}
    falsy = {"false", "False", "FALSE", "0"}


class ListArgs(Schema):
    """The query string of a list; subclasses add the filters and name the ordering fields."""

    class Meta:
        unknown = EXCLUDE

    ORDERING: ClassVar[tuple[str, ...]] = ("created_at",)
    SEARCHABLE: ClassVar[bool] = True

    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    page_size = fields.Integer(
        load_default=DEFAULT_PAGE_SIZE,
        validate=validate.Range(min=1),
        metadata={"description": f"at most {MAX_PAGE_SIZE}: larger values are clamped"},
    )
    ordering = fields.String(
        metadata={"description": "field or -field, several separated by commas"}
    )
    search = fields.String(metadata={"description": "case-insensitive substring"})

    @pre_load
    def _storable(self, data: Any, **_: Any) -> Any:
        return storable_text(data)

    @validates("ordering")
    def _known_ordering(self, value: str, **_: Any) -> None:
        for part in filter(str.strip, value.split(",")):
            name = part.strip().removeprefix("-")
            if name not in self.ORDERING:
                allowed = ", ".join(self.ORDERING)
                raise ValidationError(f"Unknown ordering field {name!r}; use one of: {allowed}.")


def list_query(args: Mapping[str, Any]) -> ListQuery:
    common = {"page", "page_size", "ordering", "search"}
    ordering = tuple(
        (part.strip().removeprefix("-"), part.strip().startswith("-"))
        for part in args.get("ordering", "").split(",")
        if part.strip()
    )
    query = ListQuery(
        filters={name: value for name, value in args.items() if name not in common},
        search=args.get("search") or None,
        ordering=ordering,
        page=args["page"],
        page_size=min(args["page_size"], MAX_PAGE_SIZE),
    )
    if query.offset >= MAX_ROWS:
        raise NotFound("Invalid page: past the end of the list.")
    return query


def _page_url(page: int, page_size: int) -> str:
    params = [(k, v) for k, v in request.args.items(multi=True) if k not in ("page", "page_size")]
    params += [("page", str(page)), ("page_size", str(page_size))]
    return f"{request.base_url}?{urlencode(params)}"


def envelope(page: Page, query: ListQuery) -> dict[str, Any]:
    """The paginated answer; a page past the end is a 404 (page 1 of nothing is empty)."""
    if query.page > 1 and query.offset >= page.count:
        raise NotFound("Invalid page: past the end of the list.")
    has_next = query.offset + len(page.rows) < page.count
    return {
        "count": page.count,
        "next": _page_url(query.page + 1, query.page_size) if has_next else None,
        "previous": _page_url(query.page - 1, query.page_size) if query.page > 1 else None,
        "results": list(page.rows),
    }


def page_schema(row: type[Schema], name: str) -> type[Schema]:
    """The envelope's schema for the OpenAPI document."""
    return Schema.from_dict(
        {
            "count": fields.Integer(required=True),
            "next": fields.String(allow_none=True),
            "previous": fields.String(allow_none=True),
            "results": fields.List(fields.Nested(row), required=True),
        },
        name=f"{name}Page",
    )
