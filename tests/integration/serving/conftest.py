"""A live `crm serve` with a short read timeout, and raw sockets that play slow clients."""

from __future__ import annotations

import resource
import selectors
import socket
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.integration.http_contract.conftest import Server, fresh_database, serving

READ_TIMEOUT = 6  # CRM_HTTP_READ_TIMEOUT of the servers under test, in seconds
# Descriptors this process keeps for pytest, httpx and the server's log, beside slow clients.
SPARE_DESCRIPTORS = 200

HALF_A_HEAD = b"GET /api/health/ HTTP/1.1\r\nHost: x\r\nX-Still-Typing: "
HALF_A_BODY = (
    b"POST /api/auth/token/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b'Content-Length: 1000\r\n\r\n{"email": '
)


def affordable_connections(wanted: int) -> int:
    """Raises this process's descriptor limit towards 4096 as far as allowed (a server started
    from here inherits it), and says how many client sockets fit under it, up to `wanted`."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = 4096 if hard == resource.RLIM_INFINITY else min(hard, 4096)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(0, min(wanted, soft - SPARE_DESCRIPTORS))


def stall(server: Server, request: bytes, count: int) -> dict[socket.socket, float]:
    """`count` connections that each send `request` and nothing more: when each was opened."""
    address = urlsplit(server.base_url)
    opened = {}
    for _ in range(count):
        connection = socket.create_connection((address.hostname, address.port), timeout=5)
        connection.sendall(request)
        opened[connection] = time.monotonic()
    return opened


def closed_by_server(connections: list[socket.socket], within: float) -> dict[socket.socket, float]:
    """Waits up to `within` seconds for the server to close the connections: when each was."""
    closed: dict[socket.socket, float] = {}
    deadline = time.monotonic() + within
    with selectors.DefaultSelector() as selector:
        for connection in connections:
            selector.register(connection, selectors.EVENT_READ)
        while len(closed) < len(connections) and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=0.2):
                connection = key.fileobj
                assert isinstance(connection, socket.socket)
                try:
                    if connection.recv(65536):
                        continue  # an answer before the close is allowed; the close counts
                except OSError:
                    pass  # reset by the server
                closed[connection] = time.monotonic()
                selector.unregister(connection)
    return closed


def children_of(pid: int) -> list[int]:
    """The processes whose parent is `pid`, read from /proc."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError, ValueError, IndexError):
            # The command name may hold spaces and parentheses: the fields follow its last ')'.
            fields = stat.read_text().rpartition(")")[2].split()
            if int(fields[1]) == pid:
                children.append(int(stat.parent.name))
    return children


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    affordable_connections(0)  # before the server starts, so that it inherits the limit
    workdir = tmp_path_factory.mktemp("serving")
    env = {"CRM_HTTP_READ_TIMEOUT": str(READ_TIMEOUT)}
    with fresh_database("sqlite", workdir) as url, serving(url, workdir, extra_env=env) as live:
        yield live
