"""`crm serve` spreads keep-alive connections over its workers: two clients are served by two
processes, not one while the other idles."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

from tests.integration.http_contract.conftest import Server
from tests.integration.serving.conftest import children_of

REQUEST = b"GET /api/health/ HTTP/1.1\r\nHost: x\r\n\r\n"
# With connections placed at random, 17 or more of 20 pairs split 0.13% of the time.
ROUNDS, SPLIT_AT_LEAST = 20, 17


def socket_inodes(pid: int) -> set[int]:
    """The inodes of the sockets process `pid` holds open."""
    found = set()
    for descriptor in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(descriptor)
        if target.startswith("socket:["):
            found.add(int(target[len("socket:[") : -1]))
    return found


def server_side_inode(server_port: int, client_port: int) -> int:
    """The inode of the server's end of the loopback connection from `client_port`."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, inode = fields[1], fields[2], int(fields[9])
        if int(local.split(":")[1], 16) == server_port and (
            int(remote.split(":")[1], 16) == client_port
        ):
            return inode
    raise AssertionError(f"no server socket for client port {client_port}")


def holder(server: Server, connection: socket.socket) -> int:
    """The worker process that holds the server's end of `connection`."""
    server_port = connection.getpeername()[1]
    inode = server_side_inode(server_port, connection.getsockname()[1])
    holders = [pid for pid in children_of(server.process.pid) if inode in socket_inodes(pid)]
    assert len(holders) == 1, holders
    return holders[0]


def answered(connection: socket.socket) -> bytes:
    connection.sendall(REQUEST)
    head = connection.recv(65536)
    assert head.startswith(b"HTTP/1.1 200"), head[:100]
    return head


def test_given_two_keep_alive_clients_then_each_is_served_by_its_own_worker(
    server: Server,
) -> None:
    address = urlsplit(server.base_url)
    assert len(children_of(server.process.pid)) == 2  # crm serve's default: two workers
    split = 0
    for _ in range(ROUNDS):
        time.sleep(0.2)  # the workers see the last round's connections closed
        with (
            socket.create_connection((address.hostname, address.port), timeout=5) as first,
            socket.create_connection((address.hostname, address.port), timeout=5) as second,
        ):
            answered(first)
            answered(second)
            split += holder(server, first) != holder(server, second)

    # A worker that is not scheduled within the yield takes the connection itself, which a
    # busy machine allows now and then; a coin toss per connection would split about half.
    assert split >= SPLIT_AT_LEAST, f"{split} of {ROUNDS} pairs were split over the workers"
