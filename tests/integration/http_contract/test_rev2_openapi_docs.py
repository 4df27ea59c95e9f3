"""[rev 2] Section 6: every operation has a summary and a drf-spectacular style operationId;
/api/docs/ works with no internet access (its assets are served by the application)."""

from __future__ import annotations

import re
from collections import Counter
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlparse

import pytest

from .conftest import Tenants

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@pytest.fixture(scope="module")
def operations(tenants: Tenants) -> dict[tuple[str, str], dict[str, Any]]:
    """Every operation of the document by (normalized path, method); `{}` stands for a param."""
    r = tenants.anonymous().get("/api/openapi.json")
    assert r.status_code == 200, r.text[:500]
    doc = r.json()
    prefix = ""
    servers = doc.get("servers") or []
    if servers and not any(p.startswith("/api/") for p in doc["paths"]):
        prefix = urlparse(servers[0]["url"]).path.rstrip("/")
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                found[(re.sub(r"\{[^}]*\}", "{}", prefix + path), method)] = operation
    assert found
    return found


def test_given_the_openapi_document_then_every_operation_has_a_summary_and_an_operation_id(
    operations: dict[tuple[str, str], dict[str, Any]],
) -> None:
    missing = [
        f"{method.upper()} {path}: {key}"
        for (path, method), op in operations.items()
        for key in ("summary", "operationId")
        if not (isinstance(op.get(key), str) and op[key].strip())
    ]
    assert not missing, missing


def test_given_the_openapi_document_then_operation_ids_are_unique(
    operations: dict[tuple[str, str], dict[str, Any]],
) -> None:
    counts = Counter(op.get("operationId") for op in operations.values())
    assert not [k for k, n in counts.items() if n > 1], counts


@pytest.mark.parametrize(
    ("path", "method", "operation_id"),
    [
        ("/api/crm/leads/", "get", "leads_list"),
        ("/api/crm/leads/", "post", "leads_create"),
        ("/api/crm/leads/{}/", "get", "leads_retrieve"),
        ("/api/crm/leads/{}/", "put", "leads_update"),
        ("/api/crm/leads/{}/", "patch", "leads_partial_update"),
        ("/api/crm/leads/{}/", "delete", "leads_destroy"),
        ("/api/crm/leads/{}/move_to_stage/", "post", "leads_move_to_stage"),
        ("/api/crm/leads/{}/convert_to_deal/", "post", "leads_convert_to_deal"),
        ("/api/crm/deals/", "get", "deals_list"),
        ("/api/crm/deals/{}/mark_won/", "post", "deals_mark_won"),
        ("/api/crm/contacts/{}/", "delete", "contacts_destroy"),
        ("/api/crm/funnel-stages/", "post", "funnel_stages_create"),
    ],
)
def test_given_the_openapi_document_then_operation_ids_read_like_drf_spectacular(
    operations: dict[tuple[str, str], dict[str, Any]], path: str, method: str, operation_id: str
) -> None:
    assert (path, method) in operations, f"{method.upper()} {path} is not documented"
    assert operations[(path, method)].get("operationId") == operation_id


@pytest.mark.parametrize(
    ("path", "prefix"),
    [
        ("/api/crm/funnels/{}/statistics/", "funnels_statistics"),
        ("/api/crm/contacts/{}/timeline/", "contacts_timeline"),
    ],
)
def test_given_a_get_action_then_its_operation_id_starts_with_resource_and_action(
    operations: dict[tuple[str, str], dict[str, Any]], path: str, prefix: str
) -> None:
    assert (path, "get") in operations, f"GET {path} is not documented"
    assert str(operations[(path, "get")].get("operationId", "")).startswith(prefix)


# ----------------------------------------------------------------------------- /api/docs/


class Assets(HTMLParser):
    """The script, stylesheet and other resource URLs a page references."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag in ("script", "img", "iframe") and values.get("src"):
            self.urls.append(str(values["src"]))
        if tag == "link" and values.get("href"):
            self.urls.append(str(values["href"]))


@pytest.fixture(scope="module")
def docs(tenants: Tenants) -> dict[str, Any]:
    r = tenants.anonymous().get("/api/docs/", follow_redirects=True)
    assert r.status_code == 200, r.text[:500]
    assert r.headers["content-type"].startswith("text/html")
    parser = Assets()
    parser.feed(r.text)
    return {"url": str(r.url), "html": r.text, "assets": parser.urls}


def test_given_the_docs_page_then_no_url_points_to_another_host(
    tenants: Tenants, docs: dict[str, Any]
) -> None:
    own = urlparse(tenants.server.base_url).netloc
    foreign = [
        url
        for url in re.findall(r"""https?://[^\s"'<>`)]+""", docs["html"])
        if urlparse(url).netloc != own
    ]
    assert not foreign, f"the docs page references other hosts: {foreign}"


def test_given_the_docs_page_then_it_references_scripts_and_styles(docs: dict[str, Any]) -> None:
    assert any(".js" in url for url in docs["assets"]), docs["assets"]
    assert any(".css" in url for url in docs["assets"]), docs["assets"]


def test_given_the_docs_page_then_every_asset_is_served_by_the_app(
    tenants: Tenants, docs: dict[str, Any]
) -> None:
    own = urlparse(tenants.server.base_url).netloc
    client = tenants.anonymous()
    for ref in docs["assets"]:
        if ref.startswith("data:"):
            continue
        url = urljoin(docs["url"], ref)
        assert urlparse(url).netloc == own, f"asset from another host: {url}"
        r = client.get(url, follow_redirects=True)
        assert r.status_code == 200, f"{url} -> {r.status_code}"
        assert r.content, url
        assert urlparse(str(r.url)).netloc == own, f"{url} redirected away to {r.url}"
