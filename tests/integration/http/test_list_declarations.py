"""What the HTTP layer accepts for each list is exactly what the read model can do, because
both are made from one declaration (`crm_core.listing`): a filter the edge validates but the
adapter ignored would be "silently ignored", which the contract forbids, and an ordering the
adapter lacks would be a 500."""

from __future__ import annotations

import pytest
from flask import Flask

from crm_adapters.sql.read_model import LIST_SPECS
from crm_core.listing import LISTINGS
from crm_core.ports import Resource
from crm_http.listing import ListArgs, list_args

COMMON = set(ListArgs().fields)
SERVED = [resource for resource in LISTINGS if resource in LIST_SPECS]


@pytest.mark.parametrize("resource", SERVED, ids=str)
def test_the_edge_accepts_exactly_the_filters_the_read_model_applies(resource: Resource) -> None:
    edge = set(list_args(resource)().fields) - COMMON
    assert edge == set(LIST_SPECS[resource].filters)
    assert edge == {parameter for parameter, _, _ in LISTINGS[resource].parameters()}


@pytest.mark.parametrize("resource", SERVED, ids=str)
def test_the_edge_orders_by_exactly_what_the_read_model_sorts_by(resource: Resource) -> None:
    assert set(list_args(resource).ORDERING) == set(LIST_SPECS[resource].ordering_columns)


def test_the_openapi_document_lists_each_declared_filter(app: Flask) -> None:
    paths = app.test_client().get("/api/openapi.json").get_json()["paths"]
    documented = {item["name"] for item in paths["/api/crm/leads/"]["get"]["parameters"]}
    declared = {parameter for parameter, _, _ in LISTINGS[Resource.LEADS].parameters()}
    assert declared <= documented
    search = next(
        item for item in paths["/api/crm/leads/"]["get"]["parameters"] if item["name"] == "search"
    )
    assert "contact.phone" in search["description"]
