"""Many clients at once for a few seconds: evaluations and edits mixed, on the real daemon
with its worker processes.  No error, no lost or stale write, every client served, memory
flat.  bench/load.py runs the same mix for longer and reports throughput and latency."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from daemons import Daemon, running_daemon
from pki import PKI
from reliability.faults import Connection, b64, rss_kib

pytestmark = pytest.mark.alone  # it measures latency and memory under load

SECONDS = 4.0
NOW = dt.datetime.now(dt.UTC)
SHORT = {"not_before": NOW - dt.timedelta(days=10), "not_after": NOW + dt.timedelta(days=300)}


@pytest.fixture
def loaded(tmp_path: Path, pki: PKI) -> Iterator[Daemon]:
    root = pki.root("System Root")
    with running_daemon(root, "--workers", "2", "--log-level", "warning") as running:
        yield running


class Client(threading.Thread):
    """Runs `step(n)` -> (method, parameters, check) until the deadline; keeps latencies."""

    def __init__(self, daemon: Daemon, deadline: float, step: Any) -> None:
        super().__init__(daemon=True)
        self.path, self.deadline, self.step = daemon.socket, deadline, step
        self.latencies: list[float] = []
        self.failures: list[Any] = []
        self.done: list[Any] = []

    def run(self) -> None:
        conn = Connection(self.path, timeout=30)
        try:
            n = 0
            while time.monotonic() < self.deadline:
                method, parameters, check = self.step(n)
                started = time.perf_counter()
                reply = conn.call(method, **parameters)
                self.latencies.append(time.perf_counter() - started)
                if "error" in reply or not check(reply):
                    self.failures.append((method, reply))
                    return
                self.done.append(parameters)
                n += 1
        except Exception as problem:  # every failure is reported below
            self.failures.append(repr(problem))
        finally:
            conn.close()


def _verdict(reply: dict[str, Any]) -> str:
    return str(reply["parameters"]["verdict"]["result"])


def test_mixed_load(loaded: Daemon, pki: PKI) -> None:
    daemon = loaded
    ica = pki.intermediate(daemon.root, "Load CA")
    leaves = [pki.leaf(ica, dns=[f"h{i}.example"], **SHORT) for i in range(60)]
    org = pki.root("Flipped Org Root")
    org_leaf = pki.leaf(org, dns=["org.example"], **SHORT)
    edited = [pki.root(f"Edited {i}") for i in range(4)]
    blob = b64(b"bplist00\xa0\x08\x00\x00\x00\x00\x00\x00\x01\x01\x00\x00\x00\x00\x00\x00\x00"
               b"\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\t")  # fmt: skip

    def evaluate(n: int, index: int = 0) -> Any:
        leaf = leaves[(n * 7 + index) % len(leaves)]
        parameters = {
            "certificates": [b64(leaf.der), b64(ica.der)],
            "policies": [{"policy": "ssl", "name": f"h{(n * 7 + index) % len(leaves)}.example"}],
        }
        return "Evaluate", parameters, lambda r: _verdict(r) == "unspecified"

    def evaluate_org(n: int) -> Any:
        parameters = {"certificates": [b64(org_leaf.der)],
                      "policies": [{"policy": "ssl", "name": "org.example"}]}  # fmt: skip
        return "Evaluate", parameters, lambda r: _verdict(r) in ("proceed", "deny")

    def flip(n: int) -> Any:
        constraints = [] if n % 2 else [{"result": 3}]  # trusted, denied, trusted...
        return "SetTrustSettings", {"domain": "admin", "certificate": b64(org.der),
                                    "constraints": constraints}, bool  # fmt: skip

    def edit(n: int, index: int = 0) -> Any:
        cert = edited[index]
        constraints = [{"policy_string": f"v{n}", "result": 1}]
        return "SetTrustSettings", {"domain": "admin", "certificate": b64(cert.der),
                                    "constraints": constraints}, bool  # fmt: skip

    def except_(n: int) -> Any:
        return "SetExceptions", {"host": f"e{n}.example", "port": 0, "exceptions": blob}, bool

    def user(n: int) -> Any:
        return "SetTrustSettings", {"domain": "user", "certificate": b64(edited[n % 4].der),
                                    "constraints": [{"policy_string": f"u{n}"}]}, bool  # fmt: skip

    assert daemon.call("SetTrustSettings", **flip(1)[1]) == {"parameters": {}}
    deadline = time.monotonic() + SECONDS
    steps = [
        *(lambda n, i=i: evaluate(n, i) for i in range(8)),
        evaluate_org,
        flip,
        *(lambda n, i=i: edit(n, i) for i in range(2)),
        except_,
        user,
    ]
    clients = [Client(daemon, deadline, step) for step in steps]
    for client in clients:
        client.start()
    time.sleep(1.0)
    warm = rss_kib(daemon.process.pid)
    for client in clients:
        client.join(timeout=SECONDS + 60)
    after = rss_kib(daemon.process.pid)
    failures = [f for c in clients for f in c.failures]
    assert not failures, failures[:3]
    assert all(c.done for c in clients), [len(c.done) for c in clients]  # nobody starved
    latencies = sorted(x for c in clients for x in c.latencies)
    p99 = latencies[int(len(latencies) * 0.99)]
    assert p99 < 2.0, f"p99 {p99 * 1000:.0f} ms over {len(latencies)} calls"
    assert after - warm < 64 * 1024, f"RSS grew from {warm} to {after} KiB"

    # No lost write: the last acknowledged value of every edit is what the daemon holds.
    entries = daemon.call("CopyTrustSettings", domain="admin")["parameters"]["entries"]
    held = {e["sha1"]: e["constraints"] for e in entries}
    for index, client in enumerate(clients[10:12]):
        last = client.done[-1]["constraints"]
        assert [c["policy_string"] for c in held[edited[index].sha1.upper()]] == [
            c["policy_string"] for c in last
        ]
    hosts = {e["host"] for e in daemon.call("ListExceptions")["parameters"]["exceptions"]}
    assert hosts == {p["host"] for p in clients[12].done}
    # No stale answer: an evaluation after the last flip sees it.
    denied = clients[9].done[-1]["constraints"] != []
    org_now = daemon.call("Evaluate", **evaluate_org(0)[1])
    assert _verdict(org_now) == ("deny" if denied else "proceed")
    assert "Traceback" not in daemon.log.read_text()


def test_a_burst_of_connections_is_served(loaded: Daemon) -> None:
    """64 clients connecting in the same instant, with timeouts as real clients use."""
    results: list[Any] = []
    barrier = threading.Barrier(64)

    def one() -> None:
        barrier.wait()
        try:
            conn = Connection(loaded.socket, timeout=30)
            results.append(conn.call("Echo", text="burst"))
            conn.close()
        except OSError as problem:
            results.append(repr(problem))

    threads = [threading.Thread(target=one) for _ in range(64)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert results == [{"parameters": {"text": "burst"}}] * 64
