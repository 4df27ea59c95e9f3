"""flask-smorest, set up for this API: validation errors are 400 problem+json, not 422, every
operation documents the problem answers it can give and has a drf-spectacular style
operationId, and /api/docs/ serves Swagger UI from an installed package (no CDN)."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from typing import Any

import flask_smorest
from apispec import APISpec, BasePlugin
from apispec.ext.marshmallow import MarshmallowPlugin, resolver
from flask import Blueprint as FlaskBlueprint
from flask import Request, Response, jsonify
from flask_smorest.utils import resolve_schema_instance, unpack_tuple_response
from marshmallow import Schema, fields
from swagger_ui_bundle import swagger_ui_path
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import BadRequest, HTTPException

from crm_http.dumping import compile_dump
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

    def arguments(self, schema: Any, *args: Any, **kwargs: Any) -> Any:
        """flask-smorest's, given a schema instance made once: given a class, webargs makes
        one per request, copying every field (our schemas keep no state between loads)."""
        return super().arguments(resolve_schema_instance(schema), *args, **kwargs)

    def response(self, status_code: Any, schema: Any = None, **kwargs: Any) -> Any:
        """flask-smorest's, documented the same, answering through the schema's compiled dump
        (crm_http.dumping) rather than marshmallow's."""
        documented = super().response(status_code, schema, **kwargs)
        if schema is None:
            return documented
        dump = compile_dump(resolve_schema_instance(schema))

        def decorator(view: Callable[..., Any]) -> Any:
            @functools.wraps(view)
            def dumped(*args: Any, **view_kwargs: Any) -> Any:
                answer = view(*args, **view_kwargs)
                result, status, headers = unpack_tuple_response(answer)
                if isinstance(result, Response):
                    return answer
                response = jsonify(dump(result))
                response.status_code = int(status or status_code)
                response.headers.update(headers or {})
                return response

            return documented(dumped)

        return decorator


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
    "429": "Too many failed sign-in attempts; `Retry-After` says when to try again.",
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
            statuses.add("503")  # every operation reads the database, which may stop answering
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


# drf-spectacular's names for what an operation does, by HTTP method.
ACTIONS = {
    "get": "retrieve",
    "post": "create",
    "put": "update",
    "patch": "partial_update",
    "delete": "destroy",
}
SUMMARIES = {
    "list": "List {plural}",
    "create": "Create {a} {singular}",
    "retrieve": "Retrieve {a} {singular}",
    "update": "Replace {a} {singular}",
    "partial_update": "Update {a} {singular}",
    "destroy": "Delete {a} {singular}",
}
RESOURCES_ROOT = "/api/crm/"
SENTENCE_END = re.compile(r"(?<=\.) +(?=[A-Z`])")


def _singular(plural: str) -> str:
    if plural.endswith("ies"):
        return plural[:-3] + "y"
    if plural.endswith(("ches", "shes", "sses", "xes")):
        return plural[:-2]
    return plural.removesuffix("s")


def operation_name(path: str, method: str) -> tuple[str, str]:
    """The drf-spectacular style operationId of an operation, and a summary for it.

    The id is the path's segments after `/api/crm/` (or `/api/`), without parameters and with
    `-` as `_`, then what the operation does: `leads_list`, `leads_create`, `leads_retrieve`,
    `leads_update` (PUT), `leads_partial_update` (PATCH), `leads_destroy`. An action on an
    object is named by the action when posted (`leads_move_to_stage`), else with its method's
    suffix (`funnels_statistics_retrieve`), as are singletons (`users_me_partial_update`).
    """
    root = RESOURCES_ROOT if path.startswith(RESOURCES_ROOT) else "/api/"
    segments = [segment for segment in path.removeprefix(root).split("/") if segment]
    words = [s.replace("-", "_") for s in segments if not s.startswith("{")]
    is_collection = root == RESOURCES_ROOT and len(segments) == 1
    is_action = len(segments) > 1 and segments[-2].startswith("{") and segments[-1][0] != "{"
    if method == "get" and is_collection:
        action = "list"
    elif method == "post" and is_action:
        action = ""
    else:
        action = ACTIONS.get(method, method)
    operation_id = "_".join([*words, action] if action else words)
    plural = words[0].replace("_", " ") if words else "root"
    singular = _singular(plural)
    if action in SUMMARIES and len(words) == 1:
        article = "an" if singular[0] in "aeio" else "a"
        summary = SUMMARIES[action].format(plural=plural, singular=singular, a=article)
    else:
        summary = " ".join(operation_id.split("_")).capitalize()
    return operation_id, summary


class OperationNames(BasePlugin):
    """Gives every operation an operationId and a summary (the view docstring's first line,
    else one made from the path), and refuses two operations with one id."""

    def init_spec(self, spec: APISpec) -> None:
        self.owners: dict[str, tuple[str, str]] = {}

    def operation_helper(
        self, path: str | None = None, operations: dict[str, Any] | None = None, **_: Any
    ) -> None:
        path = path or ""
        for method, operation in (operations or {}).items():
            operation_id, summary = operation_name(path, method)
            operation.setdefault("operationId", operation_id)
            # flask-smorest takes a docstring's first paragraph: keep its first sentence as
            # the summary (one line), and the rest ahead of the description.
            paragraph = " ".join(str(operation.get("summary") or summary).split())
            first, *rest = SENTENCE_END.split(paragraph, maxsplit=1)
            operation["summary"] = first
            if rest:
                parts = (rest[0], operation.get("description"))
                operation["description"] = "\n\n".join(part for part in parts if part)
            owner = self.owners.setdefault(operation["operationId"], (path, method))
            if owner != (path, method):
                raise ValueError(
                    f"operationId {operation['operationId']!r} of {method.upper()} {path} "
                    f"is already taken by {owner[1].upper()} {owner[0]}"
                )


def schema_name(schema: Any) -> str:
    """PATCH bodies are the PUT bodies with every field optional: name them apart."""
    name: str = resolver(schema)
    return f"{name}Patch" if getattr(schema, "partial", False) else name


# The page is /api/docs/ (flask-smorest), its scripts and styles /api/docs/<filename>.
SWAGGER_UI_ASSETS = "/api/docs/"


def swagger_ui_assets() -> FlaskBlueprint:
    """Swagger UI's scripts and styles from the `swagger-ui-bundle` package, served by the
    application itself: the docs page works with no internet access."""
    return FlaskBlueprint(
        "swagger_ui_assets",
        __name__,
        static_folder=str(swagger_ui_path),
        static_url_path=SWAGGER_UI_ASSETS.rstrip("/"),
    )


class Api(flask_smorest.Api):  # type: ignore[misc]
    ERROR_SCHEMA = Problem
    # No catch-all `default` answer (flask-smorest's is application/json, and a `default`
    # would make any status code "documented"): each operation lists the statuses it gives.
    DEFAULT_ERROR_RESPONSE_NAME = None

    def __init__(self, app: Any) -> None:
        marshmallow = MarshmallowPlugin(schema_name_resolver=schema_name)
        spec = {
            "extra_plugins": [ProblemAnswers(), OperationNames()],
            "marshmallow_plugin": marshmallow,
        }
        super().__init__(app, spec_kwargs=spec)

    def handle_http_exception(self, error: HTTPException) -> Response:
        return from_http_exception(error)
