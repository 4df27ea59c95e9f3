"""A PostgreSQL server that stops answering without closing a socket (every process of its
cluster SIGSTOPped): `crm serve` answers 503 problem+json within seconds, and serves again
once the server resumes. The cluster is a private one that the test starts and stops."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.integration.http_contract.conftest import PASSWORD, Server, free_port, serving
from tests.integration.serving.conftest import children_of

pytestmark = pytest.mark.postgres

PROBLEM = "application/problem+json"
# The engine bounds each wait on the database at 5 s (MAX_WAIT_SECONDS); a request may wait
# for a pooled connection and then for a new one, and the client's clock adds a little.
ANSWER_WITHIN = 12.0
RECOVER_WITHIN = 15.0
# A client gives up after this: well past the bound, so a failure shows a real hang.
CLIENT_TIMEOUT = 20.0


def postgres_bin() -> Path | None:
    """The directory of initdb and pg_ctl: Debian's newest, else whatever is on PATH."""
    debian = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda path: int(Path(path).parts[-3]) if Path(path).parts[-3].isdigit() else 0,
    )
    if debian:
        return Path(debian[-1]).parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def as_cluster_owner() -> tuple[list[str], int | None]:
    """PostgreSQL refuses to run as root: as root, run its commands as the `postgres` user."""
    if os.geteuid() != 0:
        return [], None
    try:
        owner = pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("running as root and there is no `postgres` user to own a private cluster")
    runuser = shutil.which("runuser")
    if runuser is None:
        pytest.skip("running as root without runuser to start a private cluster as `postgres`")
    return [runuser, "-u", "postgres", "--"], owner.pw_uid


def signal_all(pids: list[int], signum: signal.Signals) -> None:
    for pid in pids:
        with suppress(ProcessLookupError):
            os.kill(pid, signum)


@dataclass
class Cluster:
    """A PostgreSQL cluster of this test's own, listening on 127.0.0.1 only."""

    root: Path
    bindir: Path
    as_owner: list[str]  # the prefix that runs a PostgreSQL tool as the cluster's owner
    port: int = field(default_factory=free_port)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/crm"

    def run(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.as_owner, str(self.bindir / tool), *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def start(self) -> None:
        owner = ("-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
        initdb = self.run("initdb", "-D", str(self.data), *owner)
        assert initdb.returncode == 0, f"initdb failed:\n{initdb.stdout}\n{initdb.stderr}"
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.root}"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        log = str(self.root / "postgres.log")
        started = self.run("pg_ctl", "-D", str(self.data), "-l", log, "-o", options, "-w", "start")
        assert started.returncode == 0, f"pg_ctl start failed:\n{started.stdout}{started.stderr}"
        at = ("-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres")
        created = self.run("createdb", *at, "crm")
        assert created.returncode == 0, f"createdb failed:\n{created.stderr}"

    def postmaster(self) -> int:
        return int((self.data / "postmaster.pid").read_text().split()[0])

    @contextmanager
    def silenced(self) -> Iterator[list[int]]:
        """Every process of the cluster stopped (the postmaster first, so that it forks no
        more): connections stay open and unanswered. Resumed on leaving, whatever happens."""
        postmaster = self.postmaster()
        stopped = [postmaster]
        try:
            os.kill(postmaster, signal.SIGSTOP)
            backends = children_of(postmaster)
            signal_all(backends, signal.SIGSTOP)
            stopped += backends
            yield stopped
        finally:
            signal_all([*stopped[1:], *children_of(postmaster)], signal.SIGCONT)
            signal_all([postmaster], signal.SIGCONT)

    def stop(self) -> None:
        with suppress(OSError, ValueError):
            # A cluster left stopped by a failure cannot shut down: wake it first.
            postmaster = self.postmaster()
            signal_all([*children_of(postmaster), postmaster], signal.SIGCONT)
        if self.run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop").returncode:
            with suppress(OSError, ValueError):
                os.kill(self.postmaster(), signal.SIGKILL)


@contextmanager
def private_cluster() -> Iterator[Cluster]:
    bindir = postgres_bin()
    if bindir is None:
        pytest.skip("initdb not found (no /usr/lib/postgresql/*/bin, none on PATH)")
    as_owner, owner_uid = as_cluster_owner()
    # Outside pytest's tmp_path: its 0700 parents keep the `postgres` user out.
    root = Path(tempfile.mkdtemp(prefix="crm-stalled-pg-"))
    cluster = Cluster(root, bindir, as_owner)
    try:
        if owner_uid is not None:
            os.chown(root, owner_uid, -1)
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class Timed:
    what: str
    status: int | None
    seconds: float
    content_type: str = ""
    retry_after: str | None = None
    failure: str = ""


def timed(what: str, send: Callable[[httpx.Client], httpx.Response], base_url: str) -> Timed:
    """One request on a connection of its own, timed by the client."""
    started = time.monotonic()
    try:
        with httpx.Client(base_url=base_url, timeout=CLIENT_TIMEOUT) as client:
            response = send(client)
    except httpx.HTTPError as error:
        return Timed(what, None, time.monotonic() - started, failure=repr(error))
    return Timed(
        what,
        response.status_code,
        time.monotonic() - started,
        response.headers.get("content-type", "").split(";")[0],
        response.headers.get("retry-after"),
    )


def requests_of(token: str) -> dict[str, Callable[[httpx.Client], httpx.Response]]:
    auth = {"Authorization": f"Bearer {token}"}
    contact = {"first_name": "Пётр", "email": "stall@example.com"}
    return {
        "GET /api/health/": lambda c: c.get("/api/health/"),
        "GET /api/crm/leads/": lambda c: c.get("/api/crm/leads/", headers=auth),
        "POST /api/crm/contacts/": lambda c: c.post(
            "/api/crm/contacts/", json=contact, headers=auth
        ),
    }


def all_at_once(token: str, server: Server) -> list[Timed]:
    sends = requests_of(token)
    with ThreadPoolExecutor(max_workers=len(sends)) as pool:
        futures = [pool.submit(timed, what, send, server.base_url) for what, send in sends.items()]
        return [future.result() for future in futures]


def report(title: str, answers: list[Timed]) -> None:
    print(title)
    for a in answers:
        extra = f" Retry-After={a.retry_after}" if a.retry_after else ""
        print(f"  {a.what:<24} {a.status} {a.content_type} in {a.seconds:.2f} s{extra}{a.failure}")


def recovery(token: str, server: Server) -> dict[str, float]:
    """Seconds until each read answers 200 again (those that do within RECOVER_WITHIN)."""
    reads = {what: send for what, send in requests_of(token).items() if what.startswith("GET")}
    resumed = time.monotonic()
    recovered: dict[str, float] = {}
    while len(recovered) < len(reads) and time.monotonic() - resumed < RECOVER_WITHIN:
        for what, send in reads.items():
            if what not in recovered and timed(what, send, server.base_url).status == 200:
                recovered[what] = time.monotonic() - resumed
        time.sleep(0.1)
    return recovered


def test_given_a_database_that_stops_answering_then_503_within_seconds_and_then_recovery(
    tmp_path: Path,
) -> None:
    with private_cluster() as cluster, serving(cluster.url, tmp_path) as server:
        token = server.create_user("ООО Стоп", "stall@example.com", PASSWORD, "admin")
        # Both workers hold pooled connections, as a server in use does.
        warm = [
            timed(w, s, server.base_url) for _ in range(6) for w, s in requests_of(token).items()
        ]
        assert [a.status for a in warm] == [200, 200, 201] * 6, warm

        with cluster.silenced() as stopped:
            silent = all_at_once(token, server)
            still_silent = all_at_once(token, server)

        recovered = recovery(token, server)
        after = [
            timed(w, s, server.base_url) for _ in range(5) for w, s in requests_of(token).items()
        ]

        print(f"\nstopped {len(stopped)} processes of the cluster (postmaster {stopped[0]})")
        report("while the database is silent:", silent)
        report("again, still silent:", still_silent)
        print(
            "after resuming, 200 again in: "
            + ", ".join(f"{k} {v:.2f} s" for k, v in recovered.items())
        )

    late = [
        a
        for a in silent + still_silent
        if a.status != 503
        or a.content_type != PROBLEM
        or not a.retry_after
        or a.seconds >= ANSWER_WITHIN
    ]
    assert late == [], (
        f"not a 503 problem with Retry-After within {ANSWER_WITHIN:g} s (clients give up after "
        f"{CLIENT_TIMEOUT:g} s): {late}"
    )
    assert set(recovered) == {"GET /api/health/", "GET /api/crm/leads/"}, recovered
    assert [a.status for a in after] == [200, 200, 201] * 5, after
    assert "Traceback" not in server.log(), server.log()[-4000:]
