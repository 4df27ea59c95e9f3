"""flask-smorest, set up for this API: validation errors are 400 problem+json, not 422."""

from __future__ import annotations

import flask_smorest
from flask import Response
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import HTTPException

from crm_http.problems import from_http_exception


class Parser(FlaskParser):  # type: ignore[misc]
    DEFAULT_VALIDATION_STATUS = 400


class Blueprint(flask_smorest.Blueprint):  # type: ignore[misc]
    ARGUMENTS_PARSER = Parser()


class Api(flask_smorest.Api):  # type: ignore[misc]
    def handle_http_exception(self, error: HTTPException) -> Response:
        return from_http_exception(error)
