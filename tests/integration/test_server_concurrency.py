"""`crm serve` answers requests concurrently: stuck requests do not hold up the next one
(contract section 6: a request waiting on Wazzup must not block the webhook Wazzup calls)."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from tests.integration.http_contract.conftest import fresh_database, serving

STALLED = 4  # more than the server's worker processes: threads must be doing the waiting
HALF_A_REQUEST = (
    b"POST /api/auth/token/ HTTP/1.1\r\nHost: x\r\n"
    b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
)


def test_requests_stalled_mid_body_do_not_block_another(tmp_path: Path) -> None:
    with fresh_database("sqlite", tmp_path) as url, serving(url, tmp_path) as server:
        address = urlsplit(server.base_url)
        stalled = [
            socket.create_connection((address.hostname, address.port)) for _ in range(STALLED)
        ]
        try:
            for connection in stalled:
                # Headers promise a body that never finishes arriving: a worker now waits.
                connection.sendall(HALF_A_REQUEST)
            time.sleep(0.5)
            started = time.monotonic()

            answer = httpx.get(f"{server.base_url}/api/health/", timeout=10)

            assert answer.status_code == 200
            assert time.monotonic() - started < 5
        finally:
            for connection in stalled:
                connection.close()
