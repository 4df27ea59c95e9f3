"""`crm serve` lets one request at a time run the app in a worker while requests are short, and
lets the others through once one has run TURN_SECONDS."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from crm_http import server
from crm_http.app import ARRIVED
from crm_http.server import _OneAtATime


class App:
    """A WSGI app that notes how many requests it runs at once; a request may be told to
    block until released, or to fail."""

    def __init__(self) -> None:
        self.inside = 0
        self.most_inside = 0
        self.entered: list[float] = []
        self.waited: list[float] = []  # from arrival at the gate (ARRIVED) to entering the app
        self._count = threading.Lock()

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        with self._count:
            self.inside += 1
            self.most_inside = max(self.most_inside, self.inside)
            self.entered.append(time.monotonic())
            self.waited.append(time.perf_counter() - environ[ARRIVED])
        try:
            environ["hold"].wait(timeout=30) if "hold" in environ else time.sleep(0.005)
            if environ.get("fail"):
                raise RuntimeError("the app failed")
            start_response("200 OK", [])
            return [b"ok"]
        finally:
            with self._count:
                self.inside -= 1


def call(gate: _OneAtATime, **environ: Any) -> Iterable[bytes]:
    return gate(environ, lambda *_: None)


def gated(monkeypatch: pytest.MonkeyPatch, turn: float) -> tuple[App, _OneAtATime]:
    """An app behind the gate, whose turns last `turn` seconds."""
    monkeypatch.setattr(server, "TURN_SECONDS", turn)
    app = App()
    return app, _OneAtATime(app)


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.001)


def test_short_requests_take_turns(monkeypatch: pytest.MonkeyPatch) -> None:
    app, gate = gated(monkeypatch, 30.0)  # a turn never runs out here
    with ThreadPoolExecutor(8) as threads:
        answers = list(threads.map(lambda _: call(gate), range(40)))
    assert answers == [[b"ok"]] * 40
    assert app.most_inside == 1


def test_a_request_past_its_turn_lets_the_next_one_in(monkeypatch: pytest.MonkeyPatch) -> None:
    app, gate = gated(monkeypatch, 0.2)
    hold = threading.Event()
    with ThreadPoolExecutor(2) as threads:
        slow = threads.submit(call, gate, hold=hold)
        wait_until(lambda: bool(app.entered))
        quick = threads.submit(call, gate)
        assert quick.result(timeout=10) == [b"ok"]  # while the slow one still holds
        assert not slow.done()
        hold.set()
        assert slow.result(timeout=10) == [b"ok"]
    assert app.entered[1] - app.entered[0] >= 0.2
    assert app.most_inside == 2
    # Stamped on arrival, so that the access log's duration counts the wait for a turn.
    assert app.waited[1] >= 0.15


def test_requests_past_their_turn_go_in_together(monkeypatch: pytest.MonkeyPatch) -> None:
    app, gate = gated(monkeypatch, 0.5)
    hold = threading.Event()
    with ThreadPoolExecutor(8) as threads:
        calls = [threads.submit(call, gate, hold=hold) for _ in range(8)]
        wait_until(lambda: app.inside == 8)
        hold.set()
        assert [answer.result(timeout=10) for answer in calls] == [[b"ok"]] * 8
    assert app.most_inside == 8
    # Once the first has run its turn the others go in: not one per turn (3.5 s).
    assert app.entered[-1] - app.entered[0] < 1.0


def test_a_failed_request_ends_its_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    _, gate = gated(monkeypatch, 30.0)
    with pytest.raises(RuntimeError, match="the app failed"):
        call(gate, fail=True)
    began = time.monotonic()
    assert call(gate) == [b"ok"]
    assert time.monotonic() - began < 10  # not the 30 s of a turn left held
