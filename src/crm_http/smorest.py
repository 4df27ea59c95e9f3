"""flask-smorest, set up for this API: validation errors are 400 problem+json, not 422, and
every operation documents the problem answers it can give."""

from __future__ import annotations

import json
from typing import Any

import flask_smorest
from apispec import APISpec, BasePlugin
from apispec.ext.marshmallow import MarshmallowPlugin, resolver
from flask import Request, Response
from marshmallow import Schema, fields
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import BadRequest, HTTPException

from crm_http.problems import PROBLEM_TYPE, from_http_exception


class Parser(FlaskParser):
    DEFAULT_VALIDATION_STATUS = 400

    def _raw_load_json(self, req: Request) -> Any:
        """Bodies the JSON parser itself gives up on (nesting too deep for its recursion,
        integers longer than Python converts) are bad requests, not server errors."""
        try:
            return super()._raw_load_json(req)
        except (RecursionError, ValueError) as error:
            if isinstance(error, json.JSONDecodeError):
                raise
            raise BadRequest("The body is not valid JSON.") from None


class Blueprint(flask_smorest.Blueprint):  # type: ignore[misc]
    ARGUMENTS_PARSER = Parser()


class Problem(Schema):
    """RFC 9457 problem details."""

    type = fields.String(metadata={"example": "about:blank"})
    title = fields.String(metadata={"example": "Validation failed"})
    status = fields.Integer(metadata={"example": 400})
    detail = fields.String(metadata={"example": "probability: Must be between 0 and 100."})
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={"description": "Messages per dotted field path (400 only)."},
    )
    request_id = fields.String(metadata={"description": "On 500 answers: quote it in reports."})


PROBLEM_ANSWERS = {
    "405": "The method is not allowed on this path.",
    "500": "An unexpected error; `request_id` identifies it in the logs.",
    "502": "The messaging provider failed.",
    "503": "The database does not answer.",
    "504": "The messaging provider timed out.",
    "400": "Validation failed: `errors` names each field.",
    "401": "No or bad credentials.",
    "403": "Authenticated, but the role does not allow it.",
    "404": "Not found (also any object of another company).",
    "409": "A business rule refuses the change; `detail` says which.",
    "413": "The body is over 1 MiB.",
    "415": "The body is not JSON.",
}


class ProblemAnswers(BasePlugin):
    """Adds the problem+json answers that apply to each operation, by its path and method."""

    def init_spec(self, spec: APISpec) -> None:
        self.spec = spec
        spec.components.schema("Problem", schema=Problem)
        for status, description in PROBLEM_ANSWERS.items():
            spec.components.response(
                f"Problem{status}",
                {
                    "description": description,
                    "content": {PROBLEM_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
                },
            )

    def operation_helper(
        self, path: str | None = None, operations: dict[str, Any] | None = None, **_: Any
    ) -> None:
        path = path or ""
        for method, operation in (operations or {}).items():
            responses = operation.setdefault("responses", {})
            # flask-smorest keys its own answers by int, apispec by str: one form, str.
            for status in [status for status in responses if isinstance(status, int)]:
                responses[str(status)] = responses.pop(status)
            statuses = {status for status in responses if status.isdigit() and int(status) >= 400}
            if operation.get("security") != []:
                statuses.add("401")
            parameters = {parameter.get("name") for parameter in operation.get("parameters", [])}
            if "{" in path or "page" in parameters:  # an unknown object, or a page past the end
                statuses.add("404")
            if method in ("post", "put", "patch"):
                statuses |= {"400", "413", "415"}
            if any(parameter.get("in") == "query" for parameter in operation.get("parameters", [])):
                statuses.add("400")
            if method in ("post", "put", "patch", "delete") and path.startswith("/api/crm/"):
                statuses.add("409")
            for status in sorted(statuses):
                # Every error is problem+json, whatever flask-smorest documented by default.
                responses[status] = {"$ref": f"#/components/responses/Problem{status}"}


def schema_name(schema: Any) -> str:
    """PATCH bodies are the PUT bodies with every field optional: name them apart."""
    name: str = resolver(schema)
    return f"{name}Patch" if getattr(schema, "partial", False) else name


class Api(flask_smorest.Api):  # type: ignore[misc]
    ERROR_SCHEMA = Problem

    def __init__(self, app: Any) -> None:
        marshmallow = MarshmallowPlugin(schema_name_resolver=schema_name)
        spec = {"extra_plugins": [ProblemAnswers()], "marshmallow_plugin": marshmallow}
        super().__init__(app, spec_kwargs=spec)

    def handle_http_exception(self, error: HTTPException) -> Response:
        return from_http_exception(error)
