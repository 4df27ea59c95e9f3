"""Lists: strict query arguments, ordering, and the paginated envelope."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import urlencode

from flask import request
from marshmallow import EXCLUDE, Schema, ValidationError, fields, pre_load, validate, validates
from werkzeug.exceptions import NotFound

from crm_core.listing import LISTINGS, By, Filter
from crm_core.ports import ListQuery, Page, Resource
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


class PhoneQuery(fields.String):
    """A phone filter in any form (`8 999 123-45`, `+7 999`, `999 123`): the read model reads
    it as the company's region writes numbers and looks for its digits."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text: str = super()._deserialize(value, attr, data, **kwargs)
        if not re.search(r"\d", text):
            raise ValidationError("Must contain digits.")
        return text


def _query_field(spec: Filter, parameter: str) -> fields.Field[Any]:
    """The query parameter of a declared filter, as the edge reads and documents it."""
    if spec.by is By.ID:
        return fields.UUID()
    if spec.by is By.FLAG:
        return Flag()
    if spec.by is By.PHONE:
        return PhoneQuery(
            metadata={
                "description": "a part of a number, in any form: `8 999 123`, `+7 999 123` and "
                "`999 123` find +79991234567"
            }
        )
    if spec.by is By.CHOICE:
        return fields.String(validate=validate.OneOf(spec.choices))
    if spec.by in (By.DATE, By.DAYS):
        bound = {"_after": "on or after ", "_before": "on or before "}
        word = next((text for end, text in bound.items() if parameter.endswith(end)), "")
        return fields.Date(metadata={"description": f"{word}a day (YYYY-MM-DD)".capitalize()})
    if spec.by is By.TEXT:
        return fields.String(metadata={"description": "case-insensitive substring"})
    return fields.String()


def list_args(resource: Resource) -> type[ListArgs]:
    """The query schema of a list, made from its declaration in `crm_core.listing`."""
    listing = LISTINGS[resource]
    declared: dict[str, Any] = {
        parameter: _query_field(spec, parameter) for parameter, _, spec in listing.parameters()
    }
    declared["search"] = fields.String(
        metadata={
            "description": "every word must match one of: "
            + ", ".join(listing.search)
            + " (case-insensitive, ё = е; a phone number matches as the phone filter does)"
        }
    )
    declared["ORDERING"] = listing.orderings
    name = "".join(part.title() for part in resource.name.split("_"))
    return type(f"{name}ListArgs", (ListArgs,), declared)


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
