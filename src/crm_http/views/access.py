"""Users, branches, tokens and health: `/api/crm/users/`, `/api/crm/branches/`, `/api/auth/`."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify
from marshmallow import Schema, fields, validate

from crm_core.ports import ReadModel, Resource, Row
from crm_core.tenancy import Role
from crm_http.auth import bearer_token, current_actor, public
from crm_http.container import Container
from crm_http.crud import Crud, crud_blueprint
from crm_http.fields import StrictBoolean
from crm_http.listing import Flag, ListArgs
from crm_http.problems import problem
from crm_http.schemas import Body, RowSchema
from crm_http.smorest import Blueprint


class UserRow(RowSchema):
    email = fields.String()
    full_name = fields.String()
    role = fields.String(metadata={"enum": [role.value for role in Role]})
    is_active = fields.Boolean()


ROLES = [role.value for role in Role]


class UserChange(Body):
    RESET = {"full_name": ""}

    full_name = fields.String(validate=validate.Length(max=255))
    role = fields.String(validate=validate.OneOf(ROLES))
    is_active = StrictBoolean()
    password = fields.String(load_only=True, validate=validate.Length(min=8, max=128))


class UserBody(UserChange):
    email = fields.String(required=True, validate=validate.Length(max=254))


class UserArgs(ListArgs):
    ORDERING = ("created_at", "email", "full_name")
    role = fields.String(validate=validate.OneOf([role.value for role in Role]))
    is_active = Flag()


class BranchRow(RowSchema):
    company = fields.UUID()
    name = fields.String()
    address = fields.String()
    is_active = fields.Boolean()


class BranchBody(Body):
    RESET = {"address": "", "is_active": True}
    name = fields.String(required=True, validate=validate.Length(min=1, max=255))
    address = fields.String(validate=validate.Length(max=1000))
    is_active = StrictBoolean()


class BranchArgs(ListArgs):
    ORDERING = ("created_at", "name")
    is_active = Flag()


class Credentials(Body):
    email = fields.String(required=True)
    password = fields.String(required=True)


class TokenAnswer(Schema):
    token = fields.String()


class Health(Schema):
    status = fields.String()
    database = fields.String()


def users_blueprint(container: Container) -> Blueprint:
    read_model: Any = container.read_model
    access: Any = container.access
    blp = crud_blueprint(
        Crud(
            resource=Resource.USERS,
            name="User",
            row=UserRow,
            body=UserBody,
            update_body=UserChange,
            args=UserArgs,
            read_model=read_model,
            create=lambda actor, body: access().add_user(actor, body),
            update=lambda actor, user_id, body: access().update_user(actor, user_id, body),
            description="The users of the caller's company; only admins add or change them.",
        )
    )

    @blp.route("/me/", methods=["GET"])
    @blp.response(200, UserRow)
    def me() -> Row:
        """The calling user."""
        actor = current_actor()
        model: ReadModel = read_model()
        return model.detail(Resource.USERS, actor.company_id, actor.user_id)

    return blp


def branches_blueprint(container: Container) -> Blueprint:
    access: Any = container.access
    return crud_blueprint(
        Crud(
            resource=Resource.BRANCHES,
            name="Branch",
            row=BranchRow,
            body=BranchBody,
            args=BranchArgs,
            read_model=container.read_model,
            create=lambda actor, body: access().create_branch(actor, body),
            update=lambda actor, branch_id, body: access().update_branch(actor, branch_id, body),
            delete=lambda actor, branch_id: access().delete_branch(actor, branch_id),
            description="Branches (offices) of the company; a contact may name one.",
        )
    )


def auth_blueprint(container: Container) -> Blueprint:
    access: Any = container.access
    blp = Blueprint("auth", __name__, url_prefix="/api", description="Tokens and health.")

    @blp.route("/auth/token/", methods=["POST"])
    @blp.arguments(Credentials)
    @blp.response(200, TokenAnswer)
    @blp.alt_response(401, description="Wrong email or password.")
    @blp.doc(security=[])
    @public
    def obtain_token(body: dict[str, Any]) -> dict[str, str] | Response:
        """A new API token for an email and password (no bearer token needed)."""
        token = access().log_in(body["email"], body["password"])
        if token is None:
            return problem(401, "Unauthorized", "Wrong email or password.")
        return {"token": token}

    @blp.route("/auth/token/", methods=["DELETE"])
    @blp.response(204)
    def revoke_token() -> Response:
        """Revokes the bearer token of this request."""
        token = bearer_token()
        if token:
            access().revoke_token(token)
        return Response(status=204)

    @blp.route("/health/", methods=["GET"])
    @blp.response(200, Health)
    @blp.alt_response(503, description="The database does not answer.")
    @blp.doc(security=[])
    @public
    def health() -> Response:
        """Liveness and database reachability (no bearer token needed)."""
        if container.database_check()():
            return jsonify({"status": "ok", "database": "ok"})
        response = jsonify({"status": "error", "database": "unavailable"})
        response.status_code = 503
        return response

    return blp
