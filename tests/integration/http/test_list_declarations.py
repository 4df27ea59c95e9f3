"""What the HTTP layer accepts for each list is exactly what the read model can do: a filter
the edge validates but the adapter ignored would be "silently ignored", which the contract
forbids, and an ordering the adapter lacks would be a 500."""

from __future__ import annotations

import pytest

from crm_adapters.sql.read_model import LIST_SPECS
from crm_core.ports import Resource
from crm_http.listing import ListArgs
from crm_http.views.access import BranchArgs, UserArgs
from crm_http.views.activities import ActivityArgs
from crm_http.views.contacts import ContactArgs
from crm_http.views.funnels import FunnelArgs, StageArgs
from crm_http.views.pipeline import DealArgs, LeadArgs

EDGE: dict[Resource, type[ListArgs]] = {
    Resource.FUNNELS: FunnelArgs,
    Resource.STAGES: StageArgs,
    Resource.CONTACTS: ContactArgs,
    Resource.LEADS: LeadArgs,
    Resource.DEALS: DealArgs,
    Resource.ACTIVITIES: ActivityArgs,
    Resource.USERS: UserArgs,
    Resource.BRANCHES: BranchArgs,
}
COMMON = set(ListArgs().fields)


@pytest.mark.parametrize("resource", list(EDGE), ids=str)
def test_every_filter_the_edge_accepts_is_one_the_read_model_applies(resource: Resource) -> None:
    filters = set(EDGE[resource]().fields) - COMMON

    assert filters <= LIST_SPECS[resource].filter_names


@pytest.mark.parametrize("resource", list(EDGE), ids=str)
def test_every_ordering_the_edge_accepts_is_one_the_read_model_sorts_by(
    resource: Resource,
) -> None:
    assert set(EDGE[resource].ORDERING) <= LIST_SPECS[resource].orderings
