"""The OpenAPI document: valid, and it lists every route the app serves."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate

UNDOCUMENTED = {"/api/openapi.json", "/api/docs/", "/api/docs/<path:filename>"}


def test_the_openapi_document_is_valid_openapi_3(client: FlaskClient) -> None:
    response = client.get("/api/openapi.json")

    assert response.status_code == 200
    document = response.get_json()
    assert document["openapi"].startswith("3.")
    validate(document)


def test_every_route_of_the_app_is_in_the_document(app: Flask, client: FlaskClient) -> None:
    documented = client.get("/api/openapi.json").get_json()["paths"]

    missing = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/") or rule.rule in UNDOCUMENTED:
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        methods = (rule.methods or set()) - {"HEAD", "OPTIONS"}
        for method in methods:
            if method.lower() not in documented.get(path, {}):
                missing.append(f"{method} {path}")

    assert missing == []


def test_every_operation_documents_its_error_answers(client: FlaskClient) -> None:
    paths = client.get("/api/openapi.json").get_json()["paths"]

    for path, operations in paths.items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            answers = set(operation["responses"])
            if path.startswith("/api/crm/"):
                assert "401" in answers, f"{method} {path}"
            if "{object_id}" in path:
                assert "404" in answers, f"{method} {path}"
            if method in ("post", "put", "patch"):
                assert "400" in answers, f"{method} {path}"


def test_the_docs_page_is_served(client: FlaskClient) -> None:
    response = client.get("/api/docs/")

    assert response.status_code == 200
    assert b"swagger" in response.data.lower()


def test_lists_document_the_404_of_a_page_past_the_end(client: FlaskClient) -> None:
    paths = client.get("/api/openapi.json").get_json()["paths"]

    assert "404" in paths["/api/crm/leads/"]["get"]["responses"]
