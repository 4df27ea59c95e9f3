"""`crm serve`: gunicorn's worker processes, each serving the API with waitress, which reads a
whole request before one of its threads runs the app, so that slow clients hold no thread."""

from __future__ import annotations

import contextlib
import ctypes
import json
import math
import mmap
import multiprocessing
import os
import resource
import select
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.workers.base import Worker
from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import TcpWSGIServer
from waitress.task import ErrorTask, ThreadedTaskDispatcher
from waitress.utilities import BadRequest

from crm_http import problems
from crm_http.app import ARRIVED, MAX_BODY, access_log, create_app
from crm_http.config import Settings

MAX_TARGET = 8 * 1024  # the path and query of a request
MAX_HEAD = 64 * 1024  # its request line and headers together
# A body is refused as it arrives once it passes the app's limit and some room for chunked
# framing; one between the two is read whole and refused by the app (MAX_BODY).
MAX_READ_BODY = MAX_BODY + 64 * 1024
CONNECTIONS_PER_WORKER = 1000
# Descriptors a worker keeps back from client connections: its database connections, bodies
# spooled to temporary files, logs. Past the limit, accept() would fail in a busy loop.
RESERVED_DESCRIPTORS = 128
STOP_LINGER = 2.0  # seconds a stopping worker waits for requests it has begun to receive
HEARTBEAT_SECONDS = 1.0  # how often a worker tells the arbiter it is alive (timeout: 60 s)
# How long a worker leaves a new connection to a less loaded worker before taking it itself:
# short enough that a busy or stuck sibling costs a client no more than this.
YIELD_SECONDS = 0.005
# A burst of connections is accepted as fast as the workers can, unbalanced: while two
# workers yield to each other in turn, neither accepts (400 connections opened at once took
# a health check 1.5 s to get through). Yielding is for connections that arrive alone or
# in pairs (a client's two keep-alive connections).
LONE_ARRIVALS = 2
# How long a request keeps its worker's other requests out of the app (_OneAtATime): past it,
# the request is waiting itself (on the database, a lock) or is a long one.
TURN_SECONDS = 0.1

DETAILS = {
    413: f"The request body is over {MAX_BODY} bytes.",
    414: f"The request target (path and query) is over {MAX_TARGET} bytes.",
    431: f"The request line and headers are over {MAX_HEAD} bytes.",
}
TITLES = {414: "URI too long", 431: "Request headers too large"}


class TargetTooLong(BadRequest):  # type: ignore[misc]
    code = 414
    reason = "URI Too Long"


class _Request(HTTPRequestParser):  # type: ignore[misc]
    """A request as it arrives, stamped with the time of its first byte."""

    def __init__(self, adj: Adjustments) -> None:
        super().__init__(adj)
        self.started = time.monotonic()

    def parse_header(self, header_plus: bytes) -> None:
        super().parse_header(header_plus)
        if len(self.request_uri) > MAX_TARGET:
            self.error = TargetTooLong(DETAILS[414])
            self.completed = True


class _Refusal(ErrorTask):  # type: ignore[misc]
    """A request refused before the app sees it (too large, too long, malformed): answered
    as problem+json and written to the access log like the app's own answers."""

    def execute(self) -> None:
        error = self.request.error
        code = error.code
        title = TITLES.get(code) or problems.HTTP_TITLES.get(code, error.reason)
        body = problems.problem(code, title, DETAILS.get(code, error.body)).get_data()
        request_id = self.request.headers.get("X_REQUEST_ID") or uuid.uuid4().hex
        self.status = f"{code} {error.reason}"
        self.response_headers.append(("Content-Type", problems.PROBLEM_TYPE))
        self.response_headers.append(("X-Request-ID", request_id))
        self.set_close_on_finish()  # the rest of the request may still be on its way
        self.content_length = len(body)
        self.write(body)
        # A 431's request line was never read (waitress puts `GET /` in its place); a 414's
        # path is not worth a log line of its own size.
        line_read = code != 431
        access_log.info(
            json.dumps(
                {
                    "method": (self.request.command or None) if line_read else None,
                    "path": (self.request.path or None) if line_read and code != 414 else None,
                    "status": code,
                    "duration_ms": round((time.monotonic() - self.request.started) * 1000, 1),
                    "request_id": request_id,
                }
            )
        )


class _Channel(HTTPChannel):  # type: ignore[misc]
    parser_class = _Request
    error_task_class = _Refusal


class _Listener(TcpWSGIServer):  # type: ignore[misc]
    """One of gunicorn's listening sockets, served by waitress in this worker."""

    channel_class = _Channel
    loads: WorkerLoads | None = None
    yielding_until = 0.0  # while a new connection is left to a sibling, not watched
    yield_began: float | None = None  # the yield for the connection now waiting, if any

    def readable(self) -> bool:
        watched: bool = super().readable()  # first: it also runs the maintenance
        if not watched:
            return False
        if self.yield_began is None:
            return True
        if time.monotonic() < self.yielding_until:
            return False
        if not _pending(self.socket):
            self.yield_began = None  # a sibling took it: the next connection is weighed anew
        return True

    def handle_accept(self) -> None:
        now = time.monotonic()
        # The connection is taken once it has waited YIELD_SECONDS, however busy this
        # worker's threads kept its loop meanwhile.
        waited_enough = self.yield_began is not None and now - self.yield_began >= YIELD_SECONDS
        if (
            not waited_enough
            and self.loads is not None
            and _waiting(self.socket) <= LONE_ARRIVALS
            and self.loads.sibling_preferred(len(self._map))
        ):
            if self.yield_began is None:
                self.yield_began = now
            self.yielding_until = self.yield_began + YIELD_SECONDS
            return
        self.yield_began = None
        super().handle_accept()
        if self.loads is not None:
            self.loads.accepted(len(self._map))

    def maintenance(self, now: float) -> None:
        # waitress closes the connections idle for `channel_timeout`; a client that sends a
        # byte now and then must also have sent its whole request within that time.
        super().maintenance(now)
        cutoff = time.monotonic() - self.adj.channel_timeout
        for channel in self.active_channels.values():
            arriving = channel.request
            if arriving is not None and not channel.requests and arriving.started < cutoff:
                channel.will_close = True


class _Slot(ctypes.Structure):
    _fields_ = [
        ("pid", ctypes.c_int64),
        ("connections", ctypes.c_int64),
        ("beat", ctypes.c_double),  # time.monotonic() of its last loop turn (one clock per host)
        ("accepted", ctypes.c_double),  # time.monotonic() of its last accept
    ]


class WorkerLoads:
    """How many connections each worker holds, in memory the arbiter shares with the workers
    it forks: a worker leaves a new connection to a sibling that holds fewer.

    The workers all accept on one listening socket, and the kernel wakes every one of them for
    each new connection: whichever calls accept() first takes it. With keep-alive clients
    that is a coin toss per connection, and two clients on one worker share one interpreter
    while the other worker idles (at two connections, half the runs). A worker now accepts
    only if no live sibling holds fewer connections (or as many, having accepted less
    recently), or once YIELD_SECONDS have passed.
    """

    # A sibling silent this long (it died) is not counted: an idle one reports every second.
    STALE_SECONDS = 1.5 * HEARTBEAT_SECONDS

    def __init__(self, workers: int) -> None:
        self._size = max(2 * workers, 2)  # room for replacements while old slots go stale
        self._memory = mmap.mmap(-1, ctypes.sizeof(_Slot) * self._size)  # shared on fork
        self._slots = (_Slot * self._size).from_buffer(self._memory)
        self._claiming = multiprocessing.Lock()
        self._mine: _Slot | None = None

    def claim(self) -> None:
        """In a worker: takes a free slot, or the slot of a worker gone silent."""
        with self._claiming:
            now = time.monotonic()
            for slot in self._slots:
                if slot.pid == 0 or now - slot.beat > self.STALE_SECONDS:
                    slot.pid, slot.connections, slot.beat, slot.accepted = os.getpid(), 0, now, 0.0
                    self._mine = slot
                    return

    def publish(self, connections: int) -> None:
        if self._mine is not None:
            self._mine.connections, self._mine.beat = connections, time.monotonic()

    def release(self) -> None:
        """In a stopping worker: its slot is free, and no sibling yields to it any more."""
        if self._mine is not None:
            self._mine.pid = 0
            self._mine = None

    def accepted(self, connections: int) -> None:
        if self._mine is not None:
            self._mine.accepted = time.monotonic()
            self.publish(connections)

    def sibling_preferred(self, connections: int) -> bool:
        """Whether a live sibling should take the next connection: it holds fewer, or as many
        and accepted last longer ago. The tie matters when clients close and reconnect at once:
        a worker counts a closed connection until its loop has seen the close, and without the
        tie-break both new connections could land on the worker that saw it first."""
        mine = self._mine
        if mine is None:
            return False
        now = time.monotonic()
        return any(
            slot is not mine
            and slot.pid not in (0, mine.pid)
            and now - slot.beat <= self.STALE_SECONDS
            and (
                slot.connections < connections
                or (slot.connections == connections and slot.accepted < mine.accepted)
            )
            for slot in self._slots
        )


def _waiting(listening: Any) -> int:
    """How many connections wait on the listening socket to be accepted: Linux reports a
    listening socket's accept queue in TCP_INFO's `unacked`. Elsewhere, 0."""
    try:
        info = listening.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    except (AttributeError, OSError):
        return 0
    waiting: int = struct.unpack_from("I", info, 24)[0]  # after 8 bytes and 4 u32 fields
    return waiting


def _pending(listening: Any) -> bool:
    """Whether a connection waits on the listening socket to be accepted."""
    probe = select.poll()
    probe.register(listening, select.POLLIN)
    return bool(probe.poll(0))


class _Wakeup(wasyncore.file_dispatcher):  # type: ignore[misc]
    """gunicorn's signal pipe, watched by the loop: a signal (SIGTERM) wakes it at once."""

    def handle_read(self) -> None:
        with contextlib.suppress(BlockingIOError):
            self.socket.recv(64)

    def writable(self) -> bool:
        return False


def _busy(channel: HTTPChannel) -> bool:
    """A request read and not answered yet, or an answer not sent yet."""
    return bool(channel.requests or channel.total_outbufs_len)


WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class _OneAtATime:
    """Lets one request at a time run the app in a worker, while requests are short.

    A worker's threads take turns on one interpreter anyway. Four requests run together hand
    it over at every database round trip, and PostgreSQL runs four backends for them on the
    same two cores: the worker served a quarter fewer requests a second than one request at a
    time did (wrk, 8 connections on 2 workers: lead detail 880 against 1,160 req/s, statistics
    790 against 1,050, create 300 against 370).

    A request waits while every request in the app began less than TURN_SECONDS ago. Once
    one has run that long (a stalled database, a lock wait, a long export), the others go in
    as the worker's threads allow, as they did without this gate, until it ends: a slow
    request costs the others a wait of TURN_SECONDS at the most, and a slow database does not
    hold the worker to one new request per turn. Waiters are woken in turn as requests leave;
    strict first-come-first-served order (a queue, each handing the turn to the next) cost
    about a tenth of the throughput in context switches (wrk, 8 connections: lead detail 959
    against 1,004 req/s, create 236 against 317).
    """

    def __init__(self, app: WsgiApp) -> None:
        self._app = app
        self._turn = threading.Condition()
        self._started: dict[object, float] = {}  # the requests in the app, when each began

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        environ[ARRIVED] = time.perf_counter()  # the access log's duration counts the wait
        request = object()
        with self._turn:
            while self._started:
                held_until = min(self._started.values()) + TURN_SECONDS
                if held_until <= time.monotonic():
                    break
                self._turn.wait(held_until - time.monotonic())
            self._started[request] = time.monotonic()
        try:
            return self._app(environ, start_response)
        finally:
            with self._turn:
                del self._started[request]
                self._turn.notify()


class WaitressWorker(Worker):  # type: ignore[misc]
    """Its main thread reads and writes every connection without blocking; a request goes to
    one of `threads` threads once it has arrived whole, within the read timeout, and runs the
    app in its turn (_OneAtATime)."""

    def run(self) -> None:
        settings: Settings = self.app.settings
        timeout = math.ceil(settings.http_read_timeout)
        adjustments = Adjustments(
            threads=self.cfg.threads,
            backlog=self.cfg.backlog,
            connection_limit=self._connection_limit(),
            channel_timeout=timeout,
            cleanup_interval=1,
            max_request_header_size=MAX_HEAD,
            max_request_body_size=MAX_READ_BODY,
            asyncore_use_poll=True,  # select() cannot watch descriptors past 1024
            clear_untrusted_proxy_headers=False,  # the app sees the headers as they were sent
        )
        connections: dict[int, Any] = {}  # waitress's map: listeners, wake-up pipes, clients
        _Wakeup(self.PIPE[0], connections)
        dispatcher = ThreadedTaskDispatcher()
        dispatcher.set_thread_count(adjustments.threads)
        app = _OneAtATime(self.wsgi)
        listeners = [
            _Listener(
                app,
                connections,
                True,
                listener.sock,
                dispatcher=dispatcher,
                adj=adjustments,
                bind_socket=False,
                sockinfo=(
                    listener.sock.family,
                    listener.sock.type,
                    listener.sock.proto,
                    listener.sock.getsockname(),
                ),
            )
            for listener in self.sockets
        ]
        loads: WorkerLoads = self.app.loads
        loads.claim()
        for listener in listeners:
            listener.loads = loads
        beat = 0.0
        while self.alive and self.ppid == os.getppid():
            # The arbiter's liveness check (a file's time touched) is a system call: once a
            # second is plenty against its timeout, where each turn of the loop would be one
            # per request.
            now = time.monotonic()
            if now - beat >= HEARTBEAT_SECONDS:
                self.notify()
                beat = now
            loads.publish(len(connections))
            # A listener left to a sibling for a moment is watched again when that runs out.
            yielding = max(listener.yielding_until for listener in listeners) - now
            # waitress's poll counts whole milliseconds: rounded down, the end of a yield
            # would be polled for with no wait at all, over and over.
            wait = min(1.0, math.ceil(yielding * 1000) / 1000) if yielding > 0 else 1.0
            wasyncore.loop(timeout=wait, use_poll=True, map=connections, count=1)
        loads.release()
        self._stop(listeners, connections, dispatcher)

    def _stop(
        self,
        listeners: list[_Listener],
        connections: dict[int, Any],
        dispatcher: ThreadedTaskDispatcher,
    ) -> None:
        """Takes no new connection and answers the requests already sent: those read whole
        within the graceful timeout, those still arriving if they finish within STOP_LINGER.
        Then closes every connection."""
        for listener in listeners:
            listener.accepting = False
        started = time.monotonic()
        deadline = started + self.cfg.graceful_timeout
        linger = started + min(STOP_LINGER, self.cfg.graceful_timeout)
        wasyncore.loop(timeout=0, use_poll=True, map=connections, count=1)  # what has come
        while time.monotonic() < deadline:
            channels = [c for c in connections.values() if isinstance(c, HTTPChannel)]
            arriving = time.monotonic() < linger and any(c.request is not None for c in channels)
            if not arriving and not any(map(_busy, channels)):
                break
            self.notify()
            wasyncore.loop(timeout=0.1, use_poll=True, map=connections, count=1)
        dispatcher.shutdown(timeout=1)
        wasyncore.close_all(connections)

    def _connection_limit(self) -> int:
        wanted: int = self.cfg.worker_connections
        descriptors, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if descriptors == resource.RLIM_INFINITY:
            return wanted
        return max(1, min(wanted, descriptors - RESERVED_DESCRIPTORS))


class CrmServer(BaseApplication):  # type: ignore[misc]
    def __init__(self, settings: Settings, options: dict[str, Any]) -> None:
        self.settings = settings
        self.options = options
        self.loads = WorkerLoads(options["workers"])  # before the fork: the workers share it
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        # Each worker builds its own app, engine and pool after the fork.
        return create_app(self.settings)


def serve(settings: Settings, host: str, port: int, *, workers: int, threads: int) -> None:
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": WaitressWorker,
        "threads": threads,
        "worker_connections": CONNECTIONS_PER_WORKER,
        "timeout": 60,
        "graceful_timeout": 10,
        "accesslog": None,  # the app writes its own structured request log
        "loglevel": settings.log_level.lower(),
    }
    CrmServer(settings, options).run()
