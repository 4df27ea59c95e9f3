"""A soak of `crm serve` on PostgreSQL: several clients send a sales team's mixed traffic for
a minute (CRM_SOAK_SECONDS). No errors, the server's memory flat once warm, and every object
created readable afterwards as it was left. The figures go to var/bench/soak.json."""

from __future__ import annotations

import json
import os
import random
import statistics
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.conftest import fresh_postgres_database
from tests.integration.http_contract.conftest import PASSWORD, Api, Server, serving
from tests.integration.serving.conftest import children_of

pytestmark = pytest.mark.postgres

SECONDS = float(os.environ.get("CRM_SOAK_SECONDS") or 60)
CLIENTS = 6
READERS = 8  # clients that read every created object back afterwards
GROWTH_LIMIT = 0.10
RESULT = Path(__file__).resolve().parents[3] / "var" / "bench" / "soak.json"

FIRST_NAMES = ["Иван", "Мария", "Алексей", "Ольга", "Сергей", "Анна", "Дмитрий", "Елена"]
LAST_NAMES = ["Васильев", "Ёжикова", "Смирнов", "Кузнецова", "Попов", "Соколова", "Лебедев"]
ACTIVITY_TYPES = ["call", "meeting", "email", "note", "task"]
SINGULAR = {
    "funnels": "funnel",
    "contacts": "contact",
    "leads": "lead",
    "deals": "deal",
    "activities": "activity",
}


# ----------------------------------------------------------------------------- the server


def process_tree(pid: int) -> list[int]:
    tree, frontier = [pid], [pid]
    while frontier:
        children = children_of(frontier.pop())
        tree += children
        frontier += children
    return tree


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass  # gone between listing and reading
    return 0


class MemorySampler(threading.Thread):
    """The resident memory of the server's processes (master and workers), once a second."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.curve: list[tuple[float, float]] = []  # (seconds since start, MiB)
        self.trees: list[frozenset[int]] = []
        self._done = threading.Event()

    def run(self) -> None:
        started = time.monotonic()
        while True:
            tree = process_tree(self.pid)
            self.trees.append(frozenset(tree))
            mib = sum(rss_kib(pid) for pid in tree) / 1024
            self.curve.append((round(time.monotonic() - started, 1), round(mib, 1)))
            if self._done.wait(1.0):
                return

    def stop(self) -> None:
        self._done.set()
        self.join()

    def mean(self, start: float, end: float) -> float:
        window = [mib for at, mib in self.curve if start <= at < end]
        return statistics.fmean(window) if window else float("nan")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Server, str]]:
    with fresh_postgres_database() as url, serving(url, tmp_path) as server:
        token = server.create_user("ООО Выносливость", "soak@example.com", PASSWORD, "admin")
        yield server, token


# ----------------------------------------------------------------------------- the clients


@dataclass
class Ledger:
    """What the clients did: requests by kind, errors, and what each created object should
    read like now."""

    counts: Counter[str] = field(default_factory=Counter)
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    expected: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, kind: str, seconds: float, error: str | None) -> None:
        with self.lock:
            self.counts[kind] += 1
            self.latencies[kind].append(seconds)
            if error is not None:
                self.errors.append(error)


class Refused(Exception):
    """An answer other than the one the step expects (already recorded as an error)."""


class SalesManager:
    """One client: a funnel of its own, and the contacts, leads and deals it makes in it.

    Every object is touched by its maker alone, so the maker knows how it must read."""

    def __init__(self, api: Api, ledger: Ledger, seed: int) -> None:
        self.api = api
        self.ledger = ledger
        self.rng = random.Random(seed)
        self.contacts: list[str] = []
        self.open_leads: dict[str, int] = {}  # lead id -> index of its stage in `working`
        self.converted_leads: list[str] = []
        self.open_deals: list[str] = []
        self.created: list[tuple[str, str]] = []
        funnel = self.call("create funnel", "POST", "funnels/", 201, json={"name": f"Soak {seed}"})
        stages = sorted(funnel["stages"], key=lambda stage: stage["order"])
        self.funnel = funnel["id"]
        self.working = [s["id"] for s in stages if not s["is_final"]]
        self.won_stage = next(s["id"] for s in stages if s["is_success"])
        self.lost_stage = next(s["id"] for s in stages if s["is_final"] and not s["is_success"])
        self.expect("funnels", funnel["id"], name=f"Soak {seed}")

    def call(self, kind: str, method: str, path: str, status: int, **kw: Any) -> Any:
        started = time.monotonic()
        error = None
        try:
            response = self.api.request(method, path, **kw)
        except httpx.HTTPError as e:
            error = f"{kind}: {method} {path} -> {e!r}"
        else:
            if response.status_code != status:
                error = f"{kind}: {method} {path} -> {response.status_code} {response.text[:300]}"
        self.ledger.record(kind, time.monotonic() - started, error)
        if error is not None:
            raise Refused(error)
        return response.json() if response.content else None

    def expect(self, resource: str, id_: str, **fields: Any) -> None:
        with self.ledger.lock:
            self.ledger.expected.setdefault((resource, id_), {}).update(fields)
        if (resource, id_) not in self.created:
            self.created.append((resource, id_))

    # -- writes
    def create_contact(self) -> None:
        body = {
            "first_name": self.rng.choice(FIRST_NAMES),
            "last_name": self.rng.choice(LAST_NAMES),
            "email": f"{uuid.uuid4().hex[:12]}@example.com",
            "phone": f"+7999{self.rng.randrange(10**7):07d}",
            "tags": ["soak"],
        }
        contact = self.call("create contact", "POST", "contacts/", 201, json=body)
        self.contacts.append(contact["id"])
        self.expect("contacts", contact["id"], **body)

    def create_lead(self) -> None:
        if not self.contacts:
            return self.create_contact()
        value = f"{self.rng.randrange(1000, 500_000)}.00"
        body = {
            "contact": self.rng.choice(self.contacts),
            "funnel": self.funnel,
            "title": f"Лид {uuid.uuid4().hex[:6]}",
            "estimated_value": value,
            "probability": self.rng.randrange(0, 101),
        }
        lead = self.call("create lead", "POST", "leads/", 201, json=body)
        self.open_leads[lead["id"]] = 0
        self.expect("leads", lead["id"], **body, status="open", stage=self.working[0], deal=None)
        return None

    def move_lead(self) -> None:
        movable = [lead for lead, at in self.open_leads.items() if at + 1 < len(self.working)]
        if not movable:
            return self.create_lead()
        lead = self.rng.choice(movable)
        stage = self.working[self.open_leads[lead] + 1]
        self.call(
            "move lead", "POST", f"leads/{lead}/move_to_stage/", 200, json={"stage_id": stage}
        )
        self.open_leads[lead] += 1
        self.expect("leads", lead, stage=stage)
        return None

    def convert_lead(self) -> None:
        if not self.open_leads:
            return self.create_lead()
        lead = self.rng.choice(list(self.open_leads))
        deal = self.call("convert lead", "POST", f"leads/{lead}/convert_to_deal/", 201, json={})
        del self.open_leads[lead]
        self.converted_leads.append(lead)
        self.open_deals.append(deal["id"])
        self.expect("leads", lead, status="converted", deal=deal["id"])
        stage = self.ledger.expected[("leads", lead)]["stage"]
        amount = self.ledger.expected[("leads", lead)]["estimated_value"]
        self.expect("deals", deal["id"], lead=lead, stage=stage, amount=amount, is_won=False)
        return None

    def lose_lead(self) -> None:
        if not self.open_leads:
            return self.create_lead()
        lead = self.rng.choice(list(self.open_leads))
        self.call("lose lead", "POST", f"leads/{lead}/mark_lost/", 200, json={"reason": "Дорого"})
        del self.open_leads[lead]
        self.expect("leads", lead, status="lost", stage=self.lost_stage)
        return None

    def create_deal(self) -> None:
        if not self.contacts:
            return self.create_contact()
        body = {
            "contact": self.rng.choice(self.contacts),
            "funnel": self.funnel,
            "title": f"Сделка {uuid.uuid4().hex[:6]}",
            "amount": f"{self.rng.randrange(1000, 900_000)}.50",
            "expected_close_date": "2027-03-01",
        }
        deal = self.call("create deal", "POST", "deals/", 201, json=body)
        self.open_deals.append(deal["id"])
        self.expect("deals", deal["id"], **body, is_won=False, is_lost=False)
        return None

    def close_deal(self) -> None:
        if not self.open_deals:
            return self.convert_lead()
        deal = self.open_deals.pop(self.rng.randrange(len(self.open_deals)))
        if self.rng.random() < 0.6:
            self.call("win deal", "POST", f"deals/{deal}/mark_won/", 200)
            self.expect("deals", deal, is_won=True, is_lost=False, stage=self.won_stage)
        else:
            body = {"reason": "Выбрали конкурента"}
            self.call("lose deal", "POST", f"deals/{deal}/mark_lost/", 200, json=body)
            self.expect("deals", deal, is_won=False, is_lost=True, stage=self.lost_stage)
        return None

    def add_activity(self) -> None:
        if not self.contacts:
            return self.create_contact()
        body: dict[str, Any] = {
            "activity_type": self.rng.choice(ACTIVITY_TYPES),
            "title": f"Дело {uuid.uuid4().hex[:6]}",
        }
        if self.open_leads and self.rng.random() < 0.5:
            body["lead"] = self.rng.choice(list(self.open_leads))
        else:
            body["contact"] = self.rng.choice(self.contacts)
        activity = self.call("add activity", "POST", "activities/", 201, json=body)
        self.expect("activities", activity["id"], **body)
        return None

    # -- reads
    def list_leads(self) -> None:
        params = {"funnel": self.funnel, "status": "open", "ordering": "-estimated_value"}
        self.call("list leads", "GET", "leads/", 200, params={**params, "page_size": 20})

    def list_contacts(self) -> None:
        word = self.rng.choice(LAST_NAMES)[:4].lower()
        self.call("search contacts", "GET", "contacts/", 200, params={"search": word})

    def list_deals(self) -> None:
        params = {"funnel": self.funnel, "is_won": self.rng.choice(["true", "false"])}
        self.call("list deals", "GET", "deals/", 200, params=params)

    def list_activities(self) -> None:
        if not self.contacts:
            return self.create_contact()
        params = {"contact": self.rng.choice(self.contacts), "ordering": "-activity_date"}
        self.call("list activities", "GET", "activities/", 200, params=params)
        return None

    def timeline(self) -> None:
        if not self.contacts:
            return self.create_contact()
        contact = self.rng.choice(self.contacts)
        self.call("contact timeline", "GET", f"contacts/{contact}/timeline/", 200)
        return None

    def detail(self) -> None:
        if not self.created:
            return self.create_contact()
        resource, id_ = self.rng.choice(self.created)
        self.call(f"read {SINGULAR[resource]}", "GET", f"{resource}/{id_}/", 200)
        return None

    def funnel_statistics(self) -> None:
        self.call("statistics", "GET", f"funnels/{self.funnel}/statistics/", 200)

    # -- mistakes a client makes, answered as the contract says
    def convert_again(self) -> None:
        if not self.converted_leads:
            return self.convert_lead()
        lead = self.rng.choice(self.converted_leads)
        self.call("convert again (409)", "POST", f"leads/{lead}/convert_to_deal/", 409, json={})
        return None

    def read_missing(self) -> None:
        self.call("read missing (404)", "GET", f"deals/{uuid.uuid4()}/", 404)

    def steps(self) -> list[tuple[Callable[[], None], int]]:
        """A sales team's day: mostly reading boards and cards, some writing."""
        return [
            (self.create_contact, 8),
            (self.create_lead, 8),
            (self.move_lead, 9),
            (self.convert_lead, 3),
            (self.lose_lead, 2),
            (self.create_deal, 2),
            (self.close_deal, 4),
            (self.add_activity, 6),
            (self.list_leads, 10),
            (self.list_contacts, 7),
            (self.list_deals, 5),
            (self.list_activities, 4),
            (self.timeline, 3),
            (self.detail, 14),
            (self.funnel_statistics, 5),
            (self.convert_again, 1),
            (self.read_missing, 1),
        ]

    def work_until(self, deadline: float) -> None:
        steps, weights = zip(*self.steps(), strict=True)
        while time.monotonic() < deadline:
            step = self.rng.choices(steps, weights)[0]
            try:
                step()
            except Refused:
                pass  # counted; the client goes on as a person would
            except Exception as error:  # a client that breaks must not hide the rest
                with self.ledger.lock:
                    self.ledger.errors.append(f"client failure: {error!r}")


def read_back(api: Api, resource: str, id_: str, fields: dict[str, Any]) -> str | None:
    """None when the object reads as expected, else what differs."""
    response = api.get(f"{resource}/{id_}/")
    if response.status_code != 200:
        return f"{resource}/{id_}: {response.status_code} {response.text[:200]}"
    found = response.json()
    wrong = {}
    for name, want in fields.items():
        got = found.get(name)
        same = (
            Decimal(got) == Decimal(want) if name in ("amount", "estimated_value") else got == want
        )
        if not same:
            wrong[name] = (want, got)
    return f"{resource}/{id_}: {wrong}" if wrong else None


def read_all(api: Api, objects: list[tuple[tuple[str, str], dict[str, Any]]]) -> list[str]:
    return [
        wrong
        for (resource, id_), fields in objects
        if (wrong := read_back(api, resource, id_, fields)) is not None
    ]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


# ----------------------------------------------------------------------------- the soak


def test_given_a_minute_of_mixed_traffic_then_no_errors_flat_memory_and_all_readable(
    served: tuple[Server, str],
) -> None:
    server, token = served
    ledger = Ledger()
    clients = [Api(server.base_url, token) for _ in range(CLIENTS)]
    managers = [SalesManager(api, ledger, seed) for seed, api in enumerate(clients)]
    sampler = MemorySampler(server.process.pid)

    sampler.start()
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        for future in [pool.submit(m.work_until, started + SECONDS) for m in managers]:
            future.result()
    elapsed = time.monotonic() - started
    sampler.stop()

    verify_started = time.monotonic()
    expected = list(ledger.expected.items())
    readers = [Api(server.base_url, token) for _ in range(READERS)]
    with ThreadPoolExecutor(max_workers=READERS) as pool:
        shares = [
            pool.submit(read_all, reader, expected[share::READERS])
            for share, reader in enumerate(readers)
        ]
        unreadable = [wrong for share in shares for wrong in share.result()]
    verified_in = time.monotonic() - verify_started
    for api in clients + readers:
        api.close()

    # Baseline: after the pools, caches and first pages are warm; then the last stretch.
    sixth = SECONDS / 6
    warm = sampler.mean(sixth, 2 * sixth)
    last = sampler.mean(SECONDS - sixth, SECONDS + 5)
    growth = (last - warm) / warm
    requests = sum(ledger.counts.values())
    created = Counter(resource for resource, _ in ledger.expected)
    figures = {
        "seconds": round(elapsed, 1),
        "clients": CLIENTS,
        "server": "crm serve (gunicorn, 2 waitress workers) on PostgreSQL",
        "requests": requests,
        "requests_per_second": round(requests / elapsed, 1),
        "errors": len(ledger.errors),
        "error_samples": ledger.errors[:20],
        "by_kind": {
            kind: {
                "count": count,
                "p50_ms": round(statistics.median(ledger.latencies[kind]) * 1000, 1),
                "p95_ms": round(percentile(ledger.latencies[kind], 0.95) * 1000, 1),
                "max_ms": round(max(ledger.latencies[kind]) * 1000, 1),
            }
            for kind, count in ledger.counts.most_common()
        },
        "created": dict(created),
        "read_back": {"objects": len(expected), "wrong": len(unreadable), "seconds": verified_in},
        "memory": {
            "warm_mib": round(warm, 1),
            "last_mib": round(last, 1),
            "growth": round(growth, 4),
            "processes": sorted(len(tree) for tree in set(sampler.trees)),
            "curve": sampler.curve,
        },
    }
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(figures, ensure_ascii=False, indent=2) + "\n")
    print_figures(figures)

    assert ledger.errors == [], f"{len(ledger.errors)} errors, first: {ledger.errors[:5]}"
    assert unreadable == [], f"{len(unreadable)} objects read wrong, first: {unreadable[:5]}"
    assert len(set(sampler.trees)) == 1, "a worker was replaced during the soak"
    assert growth < GROWTH_LIMIT, f"memory grew {growth:.1%}: {warm:.1f} -> {last:.1f} MiB"


def print_figures(figures: dict[str, Any]) -> None:
    memory = figures["memory"]
    print(
        f"\nsoak: {figures['requests']} requests in {figures['seconds']} s from "
        f"{figures['clients']} clients = {figures['requests_per_second']} req/s, "
        f"{figures['errors']} errors"
    )
    for kind, row in figures["by_kind"].items():
        print(
            f"  {kind:<22} {row['count']:>6}  p50 {row['p50_ms']:>6} ms  "
            f"p95 {row['p95_ms']:>6} ms  max {row['max_ms']:>7} ms"
        )
    back = figures["read_back"]
    print(
        f"read back {back['objects']} objects ({figures['created']}) in {back['seconds']:.1f} s: "
        f"{back['wrong']} wrong"
    )
    print(
        f"server memory: {memory['warm_mib']} MiB warm -> {memory['last_mib']} MiB at the end "
        f"({memory['growth']:+.1%}); curve (s, MiB):"
    )
    curve = memory["curve"]
    print("  " + "  ".join(f"{at:.0f}:{mib:.0f}" for at, mib in curve))
    print(f"figures in {RESULT}")
