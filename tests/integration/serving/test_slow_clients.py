"""`crm serve` faces the network itself: clients that send half a request and stop hold no
thread, everyone else is answered meanwhile, and the server closes them once they have had
the read timeout to send their request."""

from __future__ import annotations

import errno
import os
import selectors
import signal
import socket
import threading
import time
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.integration.http_contract.conftest import Server, fresh_database, serving
from tests.integration.serving.conftest import (
    HALF_A_BODY,
    HALF_A_HEAD,
    READ_TIMEOUT,
    affordable_connections,
    closed_by_server,
    stall,
)

EACH = 200  # connections stalled in their headers, and as many in their bodies
# Fewer stalled connections than this would prove little about a server that holds no thread
# for them.
AT_LEAST = 50
# The server looks for connections past their deadline once a second, from a loop that wakes
# at least once a second.
CLOSING_SLACK = 4.0


def test_given_400_stalled_requests_then_others_are_answered_and_the_stalled_closed(
    server: Server,
) -> None:
    each = affordable_connections(2 * EACH) // 2
    if 2 * each < AT_LEAST:
        pytest.skip(f"the descriptor limit leaves room for {2 * each} sockets, not {AT_LEAST}")
    try:
        stalled = {**stall(server, HALF_A_HEAD, each), **stall(server, HALF_A_BODY, each)}
    except OSError as error:
        if error.errno not in (errno.EMFILE, errno.ENFILE):
            raise
        pytest.skip(f"this system refused the stalled connections: {error}")
    assert len(stalled) == 2 * each >= AT_LEAST
    for connection in stalled:
        assert connection.getpeername(), "a stalled connection is not connected"
    # One more that is never idle: a byte of its headers every half second.
    trickling, _ = stall(server, HALF_A_HEAD, 1).popitem()
    stalled[trickling] = time.monotonic()
    done = threading.Event()
    threading.Thread(target=trickle, args=(trickling, done), daemon=True).start()
    try:
        health = []
        for _ in range(5):
            started = time.monotonic()
            answer = httpx.get(f"{server.base_url}/api/health/", timeout=10)
            health.append(time.monotonic() - started)
            assert answer.status_code == 200
            assert health[-1] < 1.0, "the health check waited on slow clients"

        with selectors.DefaultSelector() as selector:
            for connection in stalled:
                selector.register(connection, selectors.EVENT_READ)
            assert selector.select(timeout=0) == [], "stalled connections were closed early"

        closed = closed_by_server(list(stalled), within=READ_TIMEOUT + CLOSING_SLACK + 2)

        assert len(closed) == len(stalled), f"{len(stalled) - len(closed)} still open"
        waited = [closed[connection] - opened for connection, opened in stalled.items()]
        print(  # the figures for a report (pytest -s)
            f"\n{len(stalled)} stalled connections; health answered in "
            f"{max(health) * 1000:.1f} ms at the most; closed after {min(waited):.2f} to "
            f"{max(waited):.2f} s (read timeout {READ_TIMEOUT} s)"
        )
        assert min(waited) > READ_TIMEOUT - 1
        assert max(waited) < READ_TIMEOUT + CLOSING_SLACK
    finally:
        done.set()
        for connection in stalled:
            connection.close()


def trickle(connection: socket.socket, done: threading.Event) -> None:
    while not done.wait(0.5):
        try:
            connection.sendall(b"x")
        except OSError:
            return


def test_given_stalled_clients_when_stopped_then_a_sent_request_is_answered_and_it_exits(
    tmp_path: Path,
) -> None:
    with fresh_database("sqlite", tmp_path) as url, serving(url, tmp_path) as server:
        stalled = {**stall(server, HALF_A_HEAD, 20), **stall(server, HALF_A_BODY, 20)}
        address = urlsplit(server.base_url)
        kept_alive = HTTPConnection(address.hostname or "", address.port, timeout=15)
        try:
            kept_alive.request("GET", "/api/health/")
            assert kept_alive.getresponse().read()
            kept_alive.request("GET", "/api/health/")  # sent, then the server is told to stop
            started = time.monotonic()
            os.killpg(server.process.pid, signal.SIGTERM)

            answer = kept_alive.getresponse()

            assert answer.status == 200
            assert server.process.wait(timeout=15) == 0
            assert time.monotonic() - started < 8, "the stop waited on slow clients"
        finally:
            kept_alive.close()
            for connection in stalled:
                connection.close()
