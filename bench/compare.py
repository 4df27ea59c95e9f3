"""Measures the served API with wrk beside the floor (bench/floor.py), on a fresh PostgreSQL
database of generated data that is dropped afterwards: `make bench` runs it."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import psycopg
from flask.testing import FlaskClient
from sqlalchemy import event

from bench import floor
from bench.generate import FUNNELS, Generated, Size, generate
from crm_adapters.sql.migrate import upgrade
from crm_http.app import create_app
from crm_http.config import Settings
from crm_http.container import Container, configure

DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SIZE = Size(leads=20_000, deals=5_000, contacts=10_000, measured_funnel_leads=4_000)
WORKERS, THREADS = 2, 8  # THREADS: `crm serve`'s default, given to the floor too
CONNECTIONS = (2, 8)
WRK_THREADS = 2
RESULTS = Path("var") / "bench"
BENCH_USER = "user0@bench.example"
BENCH_PHONE = "9990001234"  # contact 1234's number without its country code
SERVER_SECRET = "bench-secret-key"  # so that serving writes no var/secret.key


@attrs.frozen
class Endpoint:
    label: str  # as the table shows it, ids left out
    path: str
    body: dict[str, Any] | None = None  # a POST's

    @property
    def method(self) -> str:
        return "GET" if self.body is None else "POST"


@attrs.frozen
class Database:
    name: str
    url: str  # SQLAlchemy's, as CRM_DATABASE_URL takes it
    dsn: str  # libpq's, for psycopg and the floor


@contextmanager
def fresh_database(server: str) -> Iterator[Database]:
    """A new database on the server of `server` (a SQLAlchemy URL), dropped on the way out."""
    admin = server.replace("postgresql+psycopg://", "postgresql://", 1)
    name = f"crm_bench_http_{uuid.uuid4().hex[:8]}"
    base = server.rpartition("/")[0]
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield Database(name, f"{base}/{name}", f"{base}/{name}".replace("+psycopg://", "://", 1))
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def endpoints(database: Database, data: Generated) -> list[Endpoint]:
    with psycopg.connect(database.dsn) as connection:
        newest = connection.execute(
            "SELECT id FROM leads ORDER BY created_at DESC, id DESC LIMIT 1"
        ).fetchone()
        contact = connection.execute(
            "SELECT id FROM contacts WHERE phone = %s", (f"+7{BENCH_PHONE}",)
        ).fetchone()
    assert newest is not None and contact is not None
    return [
        Endpoint("GET /leads/?page_size=50", "/api/crm/leads/?page_size=50"),
        Endpoint("GET /leads/?stage=…", f"/api/crm/leads/?stage={data.stage_ids[1]}"),
        Endpoint("GET /leads/{id}/", f"/api/crm/leads/{newest[0]}/"),
        Endpoint(f"GET /contacts/?phone={BENCH_PHONE}", f"/api/crm/contacts/?phone={BENCH_PHONE}"),
        Endpoint(
            f"GET /funnels/{{id}}/statistics/ ({SIZE.measured_funnel_leads} leads)",
            f"/api/crm/funnels/{data.funnel_id}/statistics/",
        ),
        # Last, and into another funnel: the leads it adds change no page measured before.
        Endpoint(
            "POST /leads/",
            "/api/crm/leads/",
            {
                "contact": str(contact[0]),
                "funnel": str(data.funnel_ids[1]),
                "title": "Заявка с сайта",
                "estimated_value": "15000.00",
                "probability": 20,
            },
        ),
    ]


# --- statements per request, counted in-process ------------------------------------------------


def _call(client: FlaskClient, endpoint: Endpoint, token: str) -> Any:
    headers = {"Authorization": f"Bearer {token}"}
    if endpoint.body is None:
        response = client.get(endpoint.path, headers=headers)
    else:
        response = client.post(endpoint.path, json=endpoint.body, headers=headers)
    if response.status_code >= 300:
        raise RuntimeError(f"{endpoint.method} {endpoint.path}: {response.status_code}")
    return response.get_json()


CPU_CALLS = 200  # requests timed in process per endpoint and side


def cpu_ms(client: FlaskClient, endpoint: Endpoint, token: str) -> float:
    """This process's CPU time per request, the test client's share included: the Python cost
    of an endpoint, which the machine's other load does not move as it moves throughput."""
    started = time.process_time()
    for _ in range(CPU_CALLS):
        _call(client, endpoint, token)
    return round((time.process_time() - started) / CPU_CALLS * 1000, 2)


def product_statements(
    settings: Settings, container: Container, token: str, measured: Sequence[Endpoint]
) -> dict[str, dict[str, Any]]:
    """Statements each request sends (authentication included), connections it takes from
    the pool, and its CPU time in process."""
    client = create_app(settings, container).test_client()
    engine = container.engine()
    sent = {"statements": 0, "checkouts": 0}

    def statement(*_: Any) -> None:
        sent["statements"] += 1

    def checkout(*_: Any) -> None:
        sent["checkouts"] += 1

    counts = {}
    for endpoint in measured:
        _call(client, endpoint, token)  # the first call fills caches (the company's region)
        event.listen(engine, "before_cursor_execute", statement)
        event.listen(engine, "checkout", checkout)
        sent.update(statements=0, checkouts=0)
        try:
            _call(client, endpoint, token)
        finally:
            event.remove(engine, "before_cursor_execute", statement)
            event.remove(engine, "checkout", checkout)
        counts[endpoint.label] = {**sent, "cpu_ms": cpu_ms(client, endpoint, token)}
    engine.dispose()
    return counts


def floor_statements(
    dsn: str, token: str, measured: Sequence[Endpoint]
) -> dict[str, dict[str, Any]]:
    app = floor.create_app(dsn)
    database: floor.Database = app.extensions["floor.database"]
    client = app.test_client()
    counts = {}
    for endpoint in measured:
        database.reset()
        _call(client, endpoint, token)
        counts[endpoint.label] = {
            "statements": database.statements,
            "cpu_ms": cpu_ms(client, endpoint, token),
        }
    database.close()
    return counts


# --- the servers ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@attrs.define
class Server:
    name: str
    base: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start(
    name: str, command: list[str], environment: dict[str, str], port: int, logs: Path
) -> Server:
    log = logs / f"{name}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            env={**os.environ, **environment},
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    return Server(name, f"http://127.0.0.1:{port}", process, log)


def start_product(database: Database, port: int, logs: Path) -> Server:
    """`crm serve --workers 2`, as an operator starts it."""
    command = [sys.executable, "-m", "crm_http.cli", "serve", "--port", str(port)]
    command += ["--workers", str(WORKERS), "--threads", str(THREADS)]
    environment = {"CRM_DATABASE_URL": database.url, "CRM_SECRET_KEY": SERVER_SECRET}
    return start("product", command, environment, port, logs)


def start_floor(database: Database, port: int, logs: Path) -> Server:
    command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}"]
    command += ["--workers", str(WORKERS), "--worker-class", "gthread", "--threads", str(THREADS)]
    command += ["--chdir", str(Path.cwd()), "bench.floor:create_app()"]
    return start("floor", command, {"FLOOR_DATABASE_URL": database.dsn}, port, logs)


def fetch(server: Server, endpoint: Endpoint, token: str) -> tuple[int, Any]:
    data = None if endpoint.body is None else json.dumps(endpoint.body).encode()
    call = urllib.request.Request(
        server.base + endpoint.path,
        data=data,
        method=endpoint.method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(call, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def wait_ready(server: Server, probe: Endpoint, token: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            break
        with suppress(OSError):
            if fetch(server, probe, token)[0] == 200:
                return
        time.sleep(0.3)
    tail = server.log.read_text(errors="replace")[-2000:]
    raise RuntimeError(f"the {server.name} did not answer {probe.path}:\n{tail}")


# --- same answers -------------------------------------------------------------------------------


def differences(product: Any, floor_answer: Any, path: str = "") -> list[str]:
    """Where two JSON answers differ: keys either lacks, then values (the first few)."""
    if isinstance(product, dict) and isinstance(floor_answer, dict):
        found = [f"{path}.{key}: only in the product" for key in product.keys() - floor_answer]
        found += [f"{path}.{key}: only in the floor" for key in floor_answer.keys() - product]
        for key in product.keys() & floor_answer.keys():
            found += differences(product[key], floor_answer[key], f"{path}.{key}")
        return found
    if isinstance(product, list) and isinstance(floor_answer, list):
        if len(product) != len(floor_answer):
            return [
                f"{path}: {len(product)} items in the product, {len(floor_answer)} in the floor"
            ]
        return [
            found
            for index, pair in enumerate(zip(product, floor_answer, strict=True))
            for found in differences(*pair, f"{path}[{index}]")
        ]
    if product != floor_answer or type(product) is not type(floor_answer):
        return [f"{path}: product {product!r}, floor {floor_answer!r}"]
    return []


def compare_answers(
    product: Server, floor_server: Server, measured: Sequence[Endpoint], token: str
) -> dict[str, list[str]]:
    """Per endpoint, how the product's answer differs from the floor's (the base address set
    aside). A POST makes a new lead on each side, so only its keys are compared."""
    found = {}
    for endpoint in measured:
        answers = []
        for server in (product, floor_server):
            status, body = fetch(server, endpoint, token)
            text = json.dumps(body, ensure_ascii=False).replace(server.base, "{base}")
            answers.append((status, json.loads(text)))
        (product_status, product_body), (floor_status, floor_body) = answers
        listed = (
            [] if product_status == floor_status else [f"status {product_status} vs {floor_status}"]
        )
        if endpoint.body is not None:
            product_body, floor_body = dict.fromkeys(product_body), dict.fromkeys(floor_body)
        listed += differences(product_body, floor_body)
        found[endpoint.label] = listed
    return found


# --- wrk ------------------------------------------------------------------------------------------

# wrk calls `done` once at the end: one line of figures for `measure` to read.
LUA_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH %d %d %d %d %d %d\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
"""


def lua_script(endpoint: Endpoint, token: str, directory: Path) -> Path:
    lines = [f'wrk.headers["Authorization"] = "Bearer {token}"']
    if endpoint.body is not None:
        # ASCII JSON in a long bracket string: no quoting to get wrong.
        lines += [
            'wrk.method = "POST"',
            'wrk.headers["Content-Type"] = "application/json"',
            f"wrk.body = [[{json.dumps(endpoint.body)}]]",
        ]
    script = directory / f"{uuid.uuid4().hex[:8]}.lua"
    script.write_text("\n".join(lines) + "\n" + LUA_DONE)
    return script


def measure(wrk: str, url: str, script: Path, connections: int, seconds: int) -> dict[str, Any]:
    run = subprocess.run(
        [wrk, f"-t{WRK_THREADS}", f"-c{connections}", f"-d{seconds}s", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(line for line in run.stdout.splitlines() if line.startswith("BENCH "))
    requests, duration_us, p50_us, p99_us, bad_status, socket_errors = map(int, line.split()[1:])
    return {
        "requests_per_second": round(requests / (duration_us / 1e6), 1),
        "p50_ms": round(p50_us / 1000, 2),
        "p99_ms": round(p99_us / 1000, 2),
        "requests": requests,
        "non_2xx": bad_status,
        "socket_errors": socket_errors,
    }


# --- CPU per request, from /proc ----------------------------------------------------------------


@attrs.frozen
class Family:
    """A process's children's CPU so far by pid, and what its reaped children spent: CPU in
    clock ticks, user and system."""

    children: dict[int, int]
    reaped: int


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (None: no such process)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None


def _family(parent: int) -> Family | None:
    """None when /proc does not show `parent` (no /proc, or another host's process)."""
    own = _stat(parent)
    if own is None:
        return None
    children = {}
    for entry in Path("/proc").iterdir():
        fields = _stat(int(entry.name)) if entry.name.isdigit() else None
        if fields is not None and int(fields[1]) == parent:
            children[int(entry.name)] = int(fields[11]) + int(fields[12])  # utime + stime
    return Family(children, int(own[13]) + int(own[14]))  # cutime + cstime


def _spent(before: Family, after: Family) -> int:
    """Ticks a family spent between two readings. A child that exited in between is counted
    by what its parent reaped (its whole life), less what it had spent before."""
    living = sum(ticks - before.children.get(pid, 0) for pid, ticks in after.children.items())
    gone = sum(ticks for pid, ticks in before.children.items() if pid not in after.children)
    return living + after.reaped - before.reaped - gone


def postmaster(dsn: str) -> int | None:
    """The pid of the PostgreSQL server that `dsn` reaches, when this machine's /proc shows
    it: the parent of a backend of ours. (A server on another host has its own pids: one
    that names a process here names some other program.)"""
    with psycopg.connect(dsn) as connection:
        row = connection.execute("SELECT pg_backend_pid()").fetchone()
        backend = row[0] if row else None
        fields = _stat(backend) if backend is not None and _is_postgres(backend) else None
    return int(fields[1]) if fields is not None else None


def _is_postgres(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == "postgres"
    except OSError:
        return False


@attrs.frozen
class CpuMeter:
    """Counts the CPU a server's workers and PostgreSQL's processes (all of that server's,
    whatever the database) spend on a wrk run, per request: a figure the machine's other
    load moves less than it moves throughput. A side /proc does not show reads None."""

    server: Server
    postgres: int | None  # the postmaster's pid

    def read(self) -> tuple[Family | None, Family | None]:
        postgres = _family(self.postgres) if self.postgres is not None else None
        return _family(self.server.process.pid), postgres

    def per_request(
        self, before: tuple[Family | None, Family | None], requests: int
    ) -> dict[str, float | None]:
        after = self.read()
        ms_a_tick = 1000 / os.sysconf("SC_CLK_TCK")

        def share(side: int) -> float | None:
            first, last = before[side], after[side]
            if first is None or last is None or not requests:
                return None
            return round(_spent(first, last) * ms_a_tick / requests, 2)

        return {"worker_cpu_ms": share(0), "postgres_cpu_ms": share(1)}


def drive(
    wrk: str,
    servers: Sequence[Server],
    measured: Sequence[Endpoint],
    token: str,
    seconds: int,
    rounds: int,
    postgres: int | None,
) -> dict[str, dict[str, dict[str, Any]]]:
    """Each endpoint on each server at each concurrency, `rounds` times, the servers taking
    turns so that the machine's other load falls on both alike; of each server's runs, the one
    with the median throughput is kept (with every run's throughput beside it), and with it
    the CPU its requests cost the server's workers and the PostgreSQL server whose postmaster
    is `postgres` (CpuMeter)."""
    figures: dict[str, dict[str, dict[str, Any]]] = {}
    meters = {server.name: CpuMeter(server, postgres) for server in servers}
    with tempfile.TemporaryDirectory() as scripts:
        for endpoint in measured:
            script = lua_script(endpoint, token, Path(scripts))
            figures[endpoint.label] = {server.name: {} for server in servers}
            for server in servers:  # warm: connections opened, code paths run
                measure(wrk, server.base + endpoint.path, script, CONNECTIONS[0], 1)
            for connections in CONNECTIONS:
                runs: dict[str, list[dict[str, Any]]] = {server.name: [] for server in servers}
                for _ in range(rounds):
                    for server in servers:
                        url = server.base + endpoint.path
                        meter = meters[server.name]
                        before = meter.read()
                        run = measure(wrk, url, script, connections, seconds)
                        run.update(meter.per_request(before, run["requests"]))
                        runs[server.name].append(run)
                for server in servers:
                    result = _median_run(runs[server.name])
                    figures[endpoint.label][server.name][f"c{connections}"] = result
                    print(
                        f"  {endpoint.label} {server.name} c={connections}: "
                        f"{result['requests_per_second']:.0f} req/s, p50 {result['p50_ms']} ms "
                        f"(runs: {', '.join(str(round(r)) for r in result['rounds'])})",
                        flush=True,
                    )
    return figures


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ranked = sorted(runs, key=lambda run: run["requests_per_second"])
    return {
        **ranked[len(ranked) // 2],
        "rounds": [run["requests_per_second"] for run in runs],
        "non_2xx": sum(run["non_2xx"] for run in runs),
        "socket_errors": sum(run["socket_errors"] for run in runs),
    }


# --- the report -------------------------------------------------------------------------------


def table(report: dict[str, Any]) -> str:
    rows = [
        "| endpoint | product c=2 / c=8 (req/s) | floor c=2 / c=8 (req/s) | product/floor |",
        "|---|---|---|---|",
    ]
    latency = [
        "| endpoint | product p50 c=2 / c=8 (ms) | floor p50 c=2 / c=8 (ms) "
        "| product p99 c=8 | floor p99 c=8 |",
        "|---|---|---|---|---|",
    ]
    sql = [
        "| endpoint | product statements (pool checkouts) | floor statements "
        "| CPU ms per request in process, product / floor "
        "| CPU ms per request under wrk at c=8, workers + PostgreSQL: product / floor |",
        "|---|---|---|---|---|",
    ]
    for item in report["endpoints"]:
        product, floor_figures = item["product"], item["floor"]
        keys = [f"c{c}" for c in CONNECTIONS]
        rps = [
            [side[key]["requests_per_second"] for key in keys] for side in (product, floor_figures)
        ]
        ratio = " / ".join(f"{p / f:.2f}" if f else "-" for p, f in zip(*rps, strict=True))
        rows.append(
            f"| {item['endpoint']} | {' / '.join(f'{v:.0f}' for v in rps[0])} "
            f"| {' / '.join(f'{v:.0f}' for v in rps[1])} | {ratio} |"
        )
        p50 = [
            " / ".join(str(side[key]["p50_ms"]) for key in keys)
            for side in (product, floor_figures)
        ]
        latency.append(
            f"| {item['endpoint']} | {p50[0]} | {p50[1]} "
            f"| {product['c8']['p99_ms']} | {floor_figures['c8']['p99_ms']} |"
        )
        sql.append(
            f"| {item['endpoint']} | {product['statements']} ({product['checkouts']}) "
            f"| {floor_figures['statements']} "
            f"| {product['cpu_ms']} / {floor_figures['cpu_ms']} "
            f"| {_served_cpu(product['c8'])} / {_served_cpu(floor_figures['c8'])} |"
        )
    return "\n".join([*rows, "", *latency, "", *sql])


def _served_cpu(figures: dict[str, Any]) -> str:
    """`workers + PostgreSQL` CPU ms of a run (`-` for a side not measured)."""
    workers, postgres = figures.get("worker_cpu_ms"), figures.get("postgres_cpu_ms")
    if workers is None or postgres is None:
        return " + ".join("-" if part is None else f"{part:.2f}" for part in (workers, postgres))
    return f"{workers:.2f} + {postgres:.2f} = {workers + postgres:.2f}"


def run(server_url: str, wrk: str, seconds: int, rounds: int) -> dict[str, Any]:
    started = time.perf_counter()
    with fresh_database(server_url) as database, tempfile.TemporaryDirectory() as logs:
        upgrade(database.url)
        data = generate(database.dsn, size=SIZE)  # ends with VACUUM ANALYZE
        print(
            f"generated {SIZE.leads} leads, {SIZE.deals} deals, {SIZE.contacts} contacts, "
            f"{FUNNELS} funnels in {time.perf_counter() - started:.0f} s",
            flush=True,
        )
        settings = Settings(database_url=database.url, secret_key=SERVER_SECRET)
        container = Container()
        configure(container, settings)
        token = container.access().issue_token(BENCH_USER)
        measured = endpoints(database, data)
        product_counts = product_statements(settings, container, token, measured)
        floor_counts = floor_statements(database.dsn, token, measured)

        servers = [
            start_product(database, free_port(), Path(logs)),
            start_floor(database, free_port(), Path(logs)),
        ]
        try:
            for server in servers:
                wait_ready(server, measured[0], token)
            answers = compare_answers(servers[0], servers[1], measured, token)
            for label, listed in answers.items():
                for difference in listed[:10]:
                    print(f"  answers differ, {label}: {difference}", flush=True)
            figures = drive(
                wrk, servers, measured, token, seconds, rounds, postmaster(database.dsn)
            )
        finally:
            for server in servers:
                server.stop()
    return {
        "at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "run_seconds": round(time.perf_counter() - started),
        "load_average": [round(load, 2) for load in os.getloadavg()],
        "cpus": os.cpu_count(),
        "data": {**attrs.asdict(SIZE), "funnels": FUNNELS},
        "servers": {
            "workers": WORKERS,
            "threads": THREADS,
            "worker_class": {
                "product": "crm serve's (waitress in each worker)",
                "floor": "gthread",
            },
        },
        "wrk": {
            "threads": WRK_THREADS,
            "connections": list(CONNECTIONS),
            "seconds": seconds,
            "rounds": rounds,
        },
        "endpoints": [
            {
                "endpoint": endpoint.label,
                "method": endpoint.method,
                "product": {
                    **figures[endpoint.label]["product"],
                    **product_counts[endpoint.label],
                },
                "floor": {**figures[endpoint.label]["floor"], **floor_counts[endpoint.label]},
            }
            for endpoint in measured
        ],
        "answer_differences": answers,
    }


def main(argv: Sequence[str] | None = None) -> int:
    arguments = argparse.ArgumentParser(description=__doc__)
    arguments.add_argument("--seconds", type=int, default=3, help="per wrk run")
    arguments.add_argument(
        "--rounds", type=int, default=3, help="runs per server and concurrency (the median kept)"
    )
    args = arguments.parse_args(argv)
    wrk = shutil.which("wrk")
    if wrk is None:
        print("wrk is not installed: apt-get install wrk")
        return 2
    server_url = os.environ.get("CRM_BENCH_POSTGRES_URL") or DEFAULT_SERVER
    report = run(server_url, wrk, args.seconds, args.rounds)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = report["at"].replace(":", "").replace("-", "")
    text = json.dumps(report, ensure_ascii=False, indent=2)
    for name in (f"http-{stamp}.json", "http-latest.json"):
        (RESULTS / name).write_text(text + "\n")
    print()
    print(table(report))
    print()
    differing = {label: listed for label, listed in report["answer_differences"].items() if listed}
    print(
        "answers: the same on every endpoint"
        if not differing
        else f"answers differ on: {', '.join(differing)}"
    )
    # The figures mean little on a loaded machine: say how loaded it was.
    print(
        f"{report['run_seconds']} s; load average {report['load_average'][0]} "
        f"on {report['cpus']} CPUs; written to {RESULTS / f'http-{stamp}.json'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
