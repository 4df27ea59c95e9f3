"""The list / detail / create / PUT / PATCH / DELETE routes every resource shares.

A resource module declares its schemas and which use cases write it; this builds the routes,
so that the HTTP rules (201 with Location, PUT needs every required field, 204 on delete,
the pagination envelope) are written once.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import attrs
from flask import Response, url_for
from flask.views import MethodView
from marshmallow import Schema

from crm_core.ports import ReadModel, Resource, Row
from crm_core.tenancy import Actor
from crm_http.auth import current_actor
from crm_http.listing import ListArgs, envelope, list_args, list_query, page_schema
from crm_http.schemas import Body
from crm_http.smorest import Blueprint

Create = Callable[[Actor, dict[str, Any]], uuid.UUID]
Update = Callable[[Actor, Any, dict[str, Any]], None]
Delete = Callable[[Actor, Any], None]


@attrs.frozen
class Crud:
    resource: Resource
    name: str  # singular, for the OpenAPI document: "Lead"
    row: type[Schema]
    body: type[Body]
    read_model: Callable[[], ReadModel]
    create: Create | None = None
    update: Update | None = None
    delete: Delete | None = None
    update_body: type[Body] | None = None  # when PUT/PATCH take other fields than POST
    description: str = ""
    args: type[ListArgs] | None = None  # by default, from the list's declaration

    @property
    def query(self) -> type[ListArgs]:
        return self.args or list_args(self.resource)


def detail(crud: Crud, object_id: Any) -> Row:
    return crud.read_model().detail(crud.resource, current_actor().company_id, object_id)


def crud_blueprint(crud: Crud) -> Blueprint:
    blp = Blueprint(
        crud.resource.value,
        f"crm_http.{crud.resource.name.lower()}",
        url_prefix=f"/api/crm/{crud.resource.value}",
        description=crud.description,
    )
    endpoint = f"{crud.resource.value}.{crud.name}Item"

    def list_view(self: MethodView, args: dict[str, Any]) -> dict[str, Any]:
        query = list_query(args)
        page = crud.read_model().list(crud.resource, current_actor().company_id, query)
        return envelope(page, query)

    def get_view(self: MethodView, object_id: uuid.UUID) -> Row:
        return detail(crud, object_id)

    collection: dict[str, Any] = {
        "get": blp.arguments(crud.query, location="query")(
            blp.response(200, page_schema(crud.row, crud.name))(list_view)
        )
    }
    item: dict[str, Any] = {"get": blp.response(200, crud.row)(get_view)}

    if crud.create is not None:
        create = crud.create

        def post(self: MethodView, body: dict[str, Any]) -> tuple[Row, int, dict[str, str]]:
            object_id = create(current_actor(), body)
            location = url_for(endpoint, object_id=object_id, _external=True)
            return detail(crud, object_id), 201, {"Location": location}

        collection["post"] = blp.arguments(crud.body)(blp.response(201, crud.row)(post))

    if crud.update is not None:
        update = crud.update

        body = crud.update_body or crud.body

        def put(self: MethodView, changes: dict[str, Any], object_id: uuid.UUID) -> Row:
            update(current_actor(), object_id, body.replacement(changes))
            return detail(crud, object_id)

        def patch(self: MethodView, changes: dict[str, Any], object_id: uuid.UUID) -> Row:
            update(current_actor(), object_id, changes)
            return detail(crud, object_id)

        item["put"] = blp.arguments(body)(blp.response(200, crud.row)(put))
        item["patch"] = blp.arguments(body(partial=True), required=False)(
            blp.response(200, crud.row)(patch)
        )

    if crud.delete is not None:
        delete = crud.delete

        def delete_view(self: MethodView, object_id: uuid.UUID) -> Response:
            delete(current_actor(), object_id)
            return Response(status=204)

        item["delete"] = blp.response(204)(delete_view)

    blp.route("/")(type(f"{crud.name}Collection", (MethodView,), collection))
    blp.route("/<uuid:object_id>/", endpoint=f"{crud.name}Item")(
        type(f"{crud.name}Item", (MethodView,), item)
    )
    return blp
