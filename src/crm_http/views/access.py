"""Users, branches, tokens and health: `/api/crm/users/`, `/api/crm/branches/`, `/api/auth/`."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from crm_core.ports import ReadModel, Resource, Row
from crm_core.services.tenancy import (
    AddUser,
    ChangeBranch,
    ChangeOwnPassword,
    ChangeUser,
    CreateBranch,
)
from crm_core.tenancy import Role
from crm_http.auth import bearer_token, client_address, current_actor, public
from crm_http.container import Container
from crm_http.crud import Crud, crud_blueprint
from crm_http.fields import StrictBoolean
from crm_http.problems import problem
from crm_http.schemas import Body, RowSchema
from crm_http.smorest import Blueprint


class UserRow(RowSchema):
    email = fields.String()
    full_name = fields.String()
    role = fields.String(metadata={"enum": [role.value for role in Role]})
    is_active = fields.Boolean()


ROLES = [role.value for role in Role]
PASSWORD = validate.Length(min=8, max=128)


class UserChange(Body):
    RESET = {"full_name": ""}

    full_name = fields.String(validate=validate.Length(max=255))
    role = fields.String(validate=validate.OneOf(ROLES))
    is_active = StrictBoolean(
        metadata={"description": "false deactivates the user and revokes all their tokens"}
    )
    password = fields.String(
        load_only=True,
        validate=PASSWORD,
        metadata={"description": "a new password revokes all the user's tokens"},
    )


class UserBody(UserChange):
    email = fields.String(required=True, validate=validate.Length(max=254))


class OwnPasswordChange(Body):
    current_password = fields.String(required=True, load_only=True)
    password = fields.String(required=True, load_only=True, validate=PASSWORD)


def _typed_role(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "role": Role(body["role"])} if "role" in body else body


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


class Credentials(Body):
    email = fields.String(required=True)
    password = fields.String(required=True)


class TokenAnswer(Schema):
    token = fields.String()


class JobsHealth(Schema):
    mode = fields.String(metadata={"enum": ["inline", "db", "dramatiq"]})
    due = fields.Integer(metadata={"description": "jobs waiting to run now"})
    dead = fields.Integer(metadata={"description": "jobs that gave up (`crm jobs retry`)"})


class Health(Schema):
    status = fields.String()
    database = fields.String()
    jobs = fields.Nested(JobsHealth)
    broker = fields.String(
        allow_none=True, metadata={"description": "`ok`, or null when no broker is configured"}
    )


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
            read_model=read_model,
            create=lambda actor, body: access().add_user(actor, AddUser(**_typed_role(body))),
            update=lambda actor, user_id, body: access().update_user(
                actor, user_id, ChangeUser(**_typed_role(body))
            ),
            description="The users of the caller's company; only admins add or change them.",
        )
    )

    def me() -> Row:
        actor = current_actor()
        model: ReadModel = read_model()
        return model.detail(Resource.USERS, actor.company_id, actor.user_id)

    @blp.route("/me/")
    class CurrentUser(MethodView):
        @blp.response(200, UserRow)
        def get(self) -> Row:
            """The calling user."""
            return me()

        @blp.arguments(OwnPasswordChange)
        @blp.response(200, UserRow)
        def patch(self, body: dict[str, Any]) -> Row:
            """Changes the caller's own password (any role). A wrong `current_password` is a
            400 on that field. Every other token of the caller is revoked; the token of this
            request stays valid."""
            command = ChangeOwnPassword(**body)
            access().change_own_password(current_actor(), command, keep_token=bearer_token())
            return me()

    return blp


def branches_blueprint(container: Container) -> Blueprint:
    access: Any = container.access
    return crud_blueprint(
        Crud(
            resource=Resource.BRANCHES,
            name="Branch",
            row=BranchRow,
            body=BranchBody,
            read_model=container.read_model,
            create=lambda actor, body: access().create_branch(actor, CreateBranch(**body)),
            update=lambda actor, branch_id, body: access().update_branch(
                actor, branch_id, ChangeBranch(**body)
            ),
            delete=lambda actor, branch_id: access().delete_branch(actor, branch_id),
            description="Branches (offices) of the company; a contact may name one.",
        )
    )


def _unavailable(part: str, detail: str) -> Response:
    return problem(
        503,
        "Service unavailable",
        detail,
        headers={"Retry-After": "5"},
        database="ok" if part == "broker" else "unavailable",
        broker="unavailable" if part == "broker" else None,
    )


def auth_blueprint(container: Container) -> Blueprint:
    access: Any = container.access
    blp = Blueprint("auth", __name__, url_prefix="/api", description="Tokens and health.")

    @blp.route("/auth/token/", methods=["POST"])
    @blp.arguments(Credentials)
    @blp.response(200, TokenAnswer)
    @blp.alt_response(401, description="Wrong email or password.")
    @blp.alt_response(429, description="Too many failed attempts: see `Retry-After`.")
    @blp.doc(security=[])
    @public
    def obtain_token(body: dict[str, Any]) -> dict[str, str] | Response:
        """A new API token for an email and password (no bearer token needed).

        After 10 failed attempts for one email, or 50 from one client address, within 15
        minutes, further attempts answer 429 with `Retry-After` (seconds) until the window
        passes; a successful sign-in clears the email's failures.
        """
        token = access().log_in(body["email"], body["password"], client_address())
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
    @blp.alt_response(503, description="The database or the broker does not answer.")
    @blp.doc(security=[])
    @public
    def health() -> dict[str, Any] | Response:
        """Liveness, database and broker reachability, and the jobs backlog (no bearer token
        needed). The broker is the one `CRM_BROKER_URL` names (`null` without one); either
        failing to answer within a few seconds is a 503 with `Retry-After`."""
        broker_check = container.broker_check()
        if not container.database_check()():
            return _unavailable("database", "The database does not answer; try again shortly.")
        if broker_check is not None and not broker_check():
            return _unavailable("broker", "The job broker does not answer; try again shortly.")
        due, dead = container.job_store().backlog(container.clock().now())
        return {
            "status": "ok",
            "database": "ok",
            "jobs": {"mode": container.settings.jobs(), "due": due, "dead": dead},
            "broker": "ok" if broker_check is not None else None,
        }

    return blp
