"""Concurrent webhook deliveries: 50 at once, 100 messages each, a fifth of them repeats of
messages in other deliveries, half of them from numbers the CRM has never seen. However they
interleave, there is exactly one row per message, one contact per number and one lead per
new chat (on PostgreSQL the chats' rows serialise deliveries for one chat; SQLite has one
writer at a time)."""

from __future__ import annotations

import random
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from tests.integration.messaging.conftest import Crm, link
from tests.wazzup_server import FakeWazzup

DELIVERIES = 50
PER_DELIVERY = 100
NUMBERS = 100  # half of them known contacts, half new


def test_given_50_concurrent_deliveries_then_one_row_per_message_contact_per_number_lead_per_chat(
    crm: Crm, wazzup: FakeWazzup
) -> None:
    rng = random.Random(20261205)
    funnel = _funnel(crm, wazzup)
    linked = funnel["linked"]
    known = [f"7900{index:07d}" for index in range(NUMBERS // 2)]
    new = [f"7911{index:07d}" for index in range(NUMBERS // 2)]
    with ThreadPoolExecutor(8) as pool:
        created = list(
            pool.map(
                lambda number: (
                    linked.admin.post(
                        "/api/crm/contacts/", json={"first_name": "Клиент", "phone": "+" + number}
                    ).status_code
                ),
                known,
            )
        )
    assert created == [201] * len(known)

    unique: list[dict[str, Any]] = []
    deliveries: list[list[dict[str, Any]]] = []
    for _ in range(DELIVERIES):
        items = []
        for _ in range(PER_DELIVERY):
            if unique and rng.random() < 0.2:
                items.append(rng.choice(unique))  # a repeat of a message sent before
                continue
            number = rng.choice(known if rng.random() < 0.5 else new)
            item = wazzup.incoming(
                linked.channel_id, number, text=f"сообщение {uuid.uuid4().hex[:6]}"
            )
            unique.append(item)
            items.append(item)
        deliveries.append(items)

    url = linked.account["webhook_url"]

    def deliver(items: list[dict[str, Any]]) -> int:
        return httpx.post(url, json={"messages": items}, timeout=120).status_code

    # All 50 at once on PostgreSQL; SQLite has one writer at a time, and 50 waiting writers
    # would outwait the bounded database wait (503), so it takes 8 at a time.
    at_once = DELIVERIES if crm.settings.database_url.startswith("postgresql") else 8
    with ThreadPoolExecutor(at_once) as pool:
        statuses = list(pool.map(deliver, deliveries))
    assert statuses == [200] * DELIVERIES
    # Deliveries for the same chats take their rows in turn; one that waits longer than the
    # bounded lock wait (a busy machine) is left for a retry, with nothing of it written.
    # Every delivery is applied, or its job waits to be retried for exactly that reason.
    left = crm.sql("SELECT count(*) AS n FROM webhook_deliveries WHERE processed_at IS NULL")
    waiting = crm.sql(
        "SELECT status, last_error FROM jobs WHERE kind = 'process_delivery' AND status <> 'done'"
    )
    assert len(waiting) == left[0].n
    for job in waiting:
        assert job.status == "pending", job
        assert "lock timeout" in job.last_error or "database is locked" in job.last_error, job
    # Take the retries now, as a worker (or `crm wazzup reprocess`) would.
    crm.container.inbound().process_stored()

    company = linked.account["company"]
    numbers = {item["chatId"] for item in unique}
    rows = crm.sql(
        "SELECT provider_message_id, count(*) AS n FROM messages WHERE company_id = :c "
        "GROUP BY provider_message_id",
        c=_uuid(crm, company),
    )
    assert len(rows) == len(unique)
    assert {row.n for row in rows} == {1}
    contacts = crm.sql(
        "SELECT phone, count(*) AS n FROM contacts WHERE company_id = :c GROUP BY phone",
        c=_uuid(crm, company),
    )
    assert {row.phone for row in contacts} >= {"+" + number for number in numbers}
    assert {row.n for row in contacts} == {1}
    leads = crm.sql(
        "SELECT contact_id, count(*) AS n FROM leads WHERE company_id = :c GROUP BY contact_id",
        c=_uuid(crm, company),
    )
    assert len(leads) == len(numbers)  # every chat was new to the CRM: one lead each
    assert {row.n for row in leads} == {1}
    activities = crm.sql(
        "SELECT count(*) AS n FROM activities WHERE company_id = :c AND activity_type = 'message'",
        c=_uuid(crm, company),
    )
    assert activities[0].n == len(unique)
    unprocessed = crm.sql("SELECT count(*) AS n FROM webhook_deliveries WHERE processed_at IS NULL")
    assert unprocessed[0].n == 0


def _funnel(crm: Crm, wazzup: FakeWazzup) -> dict[str, Any]:
    """An account whose new chats become leads in a funnel of its company."""
    linked = link(crm, wazzup)
    funnel = linked.admin.post("/api/crm/funnels/", json={"name": "Входящие"})
    assert funnel.status_code == 201, funnel.text
    changed = linked.admin.patch(
        linked.account_path(), json={"default_funnel": funnel.json()["id"]}
    )
    assert changed.status_code == 200, changed.text
    return {"linked": linked, "funnel": funnel.json()}


def _uuid(crm: Crm, value: str) -> Any:
    """Ids as the database driver binds them (SQLite stores uuids as 32 hex characters)."""
    return uuid.UUID(value).hex if crm.settings.database_url.startswith("sqlite") else value
