"""The evaluation workers die and hang; the daemon goes on evaluating.

Worker processes are found as the daemon's children started by multiprocessing's spawn, and
are killed (SIGKILL, as the OOM killer would) or frozen (SIGSTOP) for real.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from daemons import Daemon, running_daemon
from pki import PKI, Issued
from reliability.faults import Connection, b64

pytestmark = pytest.mark.alone  # it times the replacement of killed and hung workers

ERRORS = {"io.trustd.Trust.EvaluationFailed"}  # what a call a dead or hung worker held gets


@pytest.fixture
def issuing_ca(pki: PKI) -> tuple[Issued, Issued]:
    root = pki.root("System Root")
    return root, pki.intermediate(root, "Worker CA")


def workers(daemon: Daemon) -> set[int]:
    """The daemon's worker processes (spawned children), by pid."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == daemon.process.pid and fields[0] != "Z" and b"spawn_main" in command:
            found.add(int(entry.name))
    return found


def evaluate(daemon: Daemon, chain: list[Issued], minutes: int, timeout: float = 10) -> Any:
    """One evaluation at a moment of its own (never answered from a cache)."""
    moment = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=minutes)
    conn = Connection(daemon.socket, timeout=timeout)
    try:
        return conn.call(
            "Evaluate", certificates=[b64(c.der) for c in chain], verify_date=moment.isoformat()
        )
    finally:
        conn.close()


def trusted(reply: Any) -> bool:
    verdict = reply.get("parameters", {}).get("verdict")
    return verdict is not None and verdict["result"] == "unspecified"


HUNG = 2.0  # --worker-timeout for the hung-worker test; the default (30 s) for the others


@pytest.fixture
def running(
    request: pytest.FixtureRequest, tmp_path: Path, issuing_ca: tuple[Issued, Issued]
) -> Iterator[Daemon]:
    timeout = ["--worker-timeout", str(HUNG)] if "hung" in request.node.name else []
    with running_daemon(issuing_ca[0], "--workers", "2", *timeout) as daemon:
        yield daemon


def wait_for_workers(daemon: Daemon, count: int, timeout: float = 20) -> set[int]:
    deadline = time.monotonic() + timeout
    while len(found := workers(daemon)) < count:
        assert time.monotonic() < deadline, found
        time.sleep(0.05)
    return found


def test_kill_9_of_a_worker_idle_or_in_flight_and_evaluation_goes_on(
    running: Daemon, pki: PKI, issuing_ca: tuple[Issued, Issued]
) -> None:
    ca = issuing_ca[1]
    chain = [pki.leaf(ca, dns=["w.example"]), ca]
    assert trusted(evaluate(running, chain, 0))
    first = wait_for_workers(running, 2)
    health = running.call("Status")["parameters"]["workers"]
    assert health == {"processes": 2, "alive": 2, "replaced": 0, "evaluations": 1}

    # An idle worker killed: evaluations work again within 2 s (here: at once).
    victim = min(first)
    os.kill(victim, signal.SIGKILL)
    killed = time.monotonic()
    minute = 1
    while not trusted(reply := evaluate(running, chain, minute)):
        assert reply.get("error") in ERRORS, reply
        assert time.monotonic() - killed < 2, reply
        minute += 1
    for later in range(minute + 1, minute + 10):
        assert trusted(evaluate(running, chain, later))

    # A worker killed while two clients keep both workers busy: every call is answered,
    # errors only with the declared name, and everything works again within 2 s.
    wait_for_workers(running, 2)
    replies: list[tuple[float, Any]] = []
    stop = threading.Event()

    def client(offset: int) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            started = time.monotonic()
            replies.append((started, evaluate(running, chain, 1000 * offset + n)))

    clients = [threading.Thread(target=client, args=(k + 1,)) for k in range(2)]
    for thread in clients:
        thread.start()
    time.sleep(0.5)
    in_flight = min(workers(running))
    os.kill(in_flight, signal.SIGKILL)
    killed = time.monotonic()
    time.sleep(4)
    stop.set()
    for thread in clients:
        thread.join(timeout=20)
    assert len(replies) > 5
    for started, reply in replies:
        assert trusted(reply) or reply.get("error") in ERRORS, (reply, running.log.read_text())
        if started > killed + 2:
            assert trusted(reply), reply
    assert any(started > killed + 2 for started, _ in replies), (
        [round(started - killed, 2) for started, _ in replies],
        running.log.read_text(),
    )
    deadline = time.monotonic() + 20
    while (health := running.call("Status")["parameters"]["workers"])["alive"] < 2:
        assert time.monotonic() < deadline, health
        time.sleep(0.1)
    assert {k: health[k] for k in ("processes", "alive", "replaced")} == {
        "processes": 2,
        "alive": 2,
        "replaced": 2,
    }
    assert not {victim, in_flight} & workers(running)
    assert "Traceback" not in running.log.read_text()


def test_a_hung_worker_is_killed_after_the_deadline(
    running: Daemon, pki: PKI, issuing_ca: tuple[Issued, Issued]
) -> None:
    ca = issuing_ca[1]
    chain = [pki.leaf(ca, dns=["w.example"]), ca]
    assert trusted(evaluate(running, chain, 0))
    frozen = wait_for_workers(running, 2)
    for pid in frozen:
        os.kill(pid, signal.SIGSTOP)  # both: whichever takes the call holds it
    started = time.monotonic()
    reply = evaluate(running, chain, 1, timeout=HUNG + 5)
    assert reply.get("error") in ERRORS, reply
    assert HUNG <= time.monotonic() - started < HUNG + 2
    minute = 2
    while not trusted(reply := evaluate(running, chain, minute, timeout=HUNG + 5)):
        assert reply.get("error") in ERRORS, reply
        assert time.monotonic() - started < 2 * HUNG + 8, reply
        minute += 1
    assert time.monotonic() - started < 2 * HUNG + 8
    for pid in frozen:  # killed, not left stopped
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()
    assert "Traceback" not in running.log.read_text()
