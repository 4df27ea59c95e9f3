"""Stored webhook deliveries that were never processed: `crm wazzup reprocess` and the last
step of `sync_messages` take them (MESSAGING.md, "nothing is lost")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from crm_adapters.sql import tables
from tests.integration.messaging.conftest import Crm, Linked, link
from tests.wazzup_server import FakeWazzup

CRM = Path(sys.executable).with_name("crm")


def _store_unprocessed(linked: Linked, payload: dict[str, Any]) -> None:
    """A delivery as the webhook stores it before processing, left unprocessed (as after a
    crash between the two)."""
    with linked.crm.container.engine().begin() as connection:
        connection.execute(
            insert(tables.webhook_deliveries).values(
                id=uuid.uuid4(),
                account_id=uuid.UUID(linked.account["id"]),
                body=json.dumps(payload),
                received_at=datetime.now(UTC),
                processed_at=None,
                error=None,
            )
        )


def _unprocessed(crm: Crm) -> int:
    rows = crm.sql("SELECT count(*) AS n FROM webhook_deliveries WHERE processed_at IS NULL")
    return int(rows[0].n)


def test_given_a_stored_unprocessed_delivery_when_reprocess_runs_then_it_is_processed(
    crm: Crm, wazzup: FakeWazzup, tmp_path: Path
) -> None:
    linked = link(crm, wazzup)
    item = wazzup.incoming(linked.channel_id, "79995550011", text="Потерянное сообщение")
    _store_unprocessed(linked, {"messages": [item]})
    assert _unprocessed(crm) == 1

    ran = subprocess.run(
        [str(CRM), "wazzup", "reprocess"],
        cwd=tmp_path,
        env={
            **os.environ,
            "CRM_DATABASE_URL": crm.settings.database_url,
            "CRM_SECRET_KEY": "messaging-tests-secret",
            "CRM_PUBLIC_URL": crm.url,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip().splitlines()[-1] == "1"
    [row] = linked.messages()
    assert row["text"] == "Потерянное сообщение"
    assert row["message_id"] == item["messageId"]
    assert _unprocessed(crm) == 0


def test_given_a_stored_unprocessed_delivery_when_synced_then_it_is_processed(
    crm: Crm, wazzup: FakeWazzup
) -> None:
    linked = link(crm, wazzup)
    item = wazzup.incoming(linked.channel_id, "79995550022", text="Дождалось синхронизации")
    _store_unprocessed(linked, {"messages": [item]})

    synced = linked.post(linked.account_path("sync_messages"))

    assert synced.status_code == 200, synced.text
    [row] = linked.messages()
    assert row["message_id"] == item["messageId"]
    assert _unprocessed(crm) == 0
