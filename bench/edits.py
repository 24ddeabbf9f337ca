"""Warm throughput while trust settings change: Evaluate of one chain at 0, 1, 10, 100 edits/s.

Starts a daemon on a temporary socket (this checkout's code; worker processes, one per core),
then for each edit rate runs `--clients` client processes evaluating one 3-certificate chain
again and again (warm: answered from the caches while nothing changes) for `--seconds`, while
one more process sends SetTrustSettings for another certificate (the editing user's own
domain) at that rate.  Every edit is a write; it removes from the daemon's reply cache only
the replies whose evaluations read the edited certificate (here: none of the warm chain's).
It prints the warm requests per second, the ratio to the runs without edits (one before, one
after: their mean) and the edit rate achieved.  Goal: at 10 edits/s, >= 0.85x of no edits.
Then it sends `--cpu-edits` edits one after another with nothing else running and prints the
CPU the daemon and its workers spent per edit (utime + stime from /proc).
`--profile N` instead profiles N edits in this process (cProfile) and prints where they go.
Run: `python bench/edits.py [--seconds 5] [--clients 8]`.  CI does not run this.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from daemon import REPOSITORY, SHORT, b64, evaluate_message, run, start_daemon, stop_daemons
from pki import PKI

GOAL = 0.85  # warm throughput at 10 edits/s over no edits


def edit_message(certificate: bytes, n: int) -> dict[str, Any]:
    """The n-th edit: the user's settings on `certificate`, alternately Deny and cleared."""
    constraints: list[dict[str, Any]] = [] if n % 2 else [{"result": 1}]
    return {
        "method": "io.trustd.Trust.SetTrustSettings",
        "parameters": {
            "domain": "user",
            "certificate": b64(certificate),
            "constraints": constraints,
        },
    }


def call(conn: socket.socket, message: dict[str, Any]) -> dict[str, Any]:
    conn.sendall(json.dumps(message).encode() + b"\0")
    buffer = b""
    while not buffer.endswith(b"\0"):
        chunk = conn.recv(65536)
        if not chunk:
            raise RuntimeError("the daemon closed the connection")
        buffer += chunk
    reply: dict[str, Any] = json.loads(buffer[:-1])
    if "error" in reply:
        raise RuntimeError(str(reply))
    return reply


def editor(path: str, certificate: bytes, rate: float, stop: Any, done: Any) -> None:
    """SetTrustSettings at `rate` per second (on a schedule) until `stop` is set."""
    conn = socket.socket(socket.AF_UNIX)
    conn.connect(path)
    start = time.perf_counter()
    count = 0
    while not stop.is_set():
        due = start + count / rate
        pause = due - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        call(conn, edit_message(certificate, count))
        count += 1
    done.value = count / (time.perf_counter() - start)
    conn.close()


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and its children now (Linux /proc)."""
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            pids.extend(int(child) for child in (task / "children").read_text().split())
    ticks = 0
    for each in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def cpu_per_edit(path: str, pid: int, certificate: bytes, count: int) -> tuple[float, float]:
    """(daemon and workers' CPU ms per edit, wall ms per edit) over `count` edits in a row."""
    conn = socket.socket(socket.AF_UNIX)
    conn.connect(path)
    before, start = cpu_seconds(pid), time.perf_counter()
    for n in range(count):
        call(conn, edit_message(certificate, n))
    wall = time.perf_counter() - start
    conn.close()
    return (cpu_seconds(pid) - before) * 1000 / count, wall * 1000 / count


def profile_edits(count: int, certificate: bytes) -> None:
    """`count` SetTrustSettings in this process (TrustInterface on a real store), under
    cProfile: CPU per edit, and where it goes."""
    import cProfile
    import pstats

    from trustd.api.methods import TrustInterface
    from trustd.api.varlink import Peer
    from trustd.service import TrustService
    from trustd.store.engine import open_database
    from trustd.store.repository import TrustStore
    from trustd.store.system_anchors import SystemAnchors

    base = Path(tempfile.mkdtemp(prefix="trustd-edit-profile-"))
    try:
        (base / "bundle.pem").write_bytes(b"")
        store = TrustStore(open_database(base / "db.sqlite3"), SystemAnchors(base / "bundle.pem"))
        api = TrustInterface(TrustService(store), dict, lambda: None)
        peer = Peer(pid=os.getpid(), uid=1000, gid=1000)

        def edit(n: int) -> None:
            for i in range(n):
                constraints: list[dict[str, Any]] = [] if i % 2 else [{"result": 1}]
                api.SetTrustSettings(
                    peer,
                    {"domain": "user", "certificate": b64(certificate), "constraints": constraints},
                )

        edit(20)  # warm: the domain row exists, modules are loaded
        start = time.process_time()
        edit(count)
        cpu = (time.process_time() - start) * 1000 / count
        print(f"SetTrustSettings in process: {cpu:.2f} ms CPU per edit")
        profile = cProfile.Profile()
        profile.runcall(edit, count)
        pstats.Stats(profile).sort_stats("cumulative").print_stats(25)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rates", type=float, nargs="+", default=[1, 10, 100])
    parser.add_argument("--cpu-edits", type=int, default=500)
    parser.add_argument("--profile", type=int, default=0, help="only profile this many edits")
    args = parser.parse_args()
    pki = PKI()
    if args.profile:
        profile_edits(args.profile, pki.root("Edited Root").der)
        return 0
    root = pki.root("Edits Root")
    ica = pki.intermediate(root, "Edits CA")
    edited = pki.root("Edited Root")
    leaf = pki.leaf(ica, dns=["www.example"], **SHORT)
    base = Path(tempfile.mkdtemp(prefix="trustd-edits-bench-"))
    (base / "bundle.pem").write_bytes(root.pem)
    process, sock = start_daemon(REPOSITORY, base / "this", base / "bundle.pem")
    context = multiprocessing.get_context("spawn")
    try:
        warm = [[evaluate_message(leaf.der, ica.der)]] * args.clients
        conn = socket.socket(socket.AF_UNIX)
        conn.connect(str(sock))
        results: list[tuple[float, float, float]] = []  # (requested, achieved, req/s)
        for rate in [0.0, *args.rates, 0.0]:
            stop, done = context.Event(), context.Value("d", 0.0)
            edits = None
            if rate:
                edits = context.Process(
                    target=editor, args=(str(sock), edited.der, rate, stop, done)
                )
                edits.start()
            throughput, _, _ = run(str(sock), warm, args.seconds)
            stop.set()
            if edits is not None:
                edits.join(30)
            results.append((rate, done.value, throughput))
            status = call(conn, {"method": "io.trustd.Trust.Status"})["parameters"]
            workers = status.get("workers", {}).get("evaluations", "?")
            print(
                f"  measured {rate:g} edits/s: {throughput:.0f} req/s"
                f" (worker evaluations so far: {workers})",
                flush=True,
            )
        reference = (results[0][2] + results[-1][2]) / 2
        print(
            f"warm Evaluate under edits, {os.cpu_count()} cores, {args.clients} clients,"
            f" {args.seconds:g} s per rate"
        )
        print(f"{'edits/s asked':>13} {'achieved':>9} {'warm req/s':>11} {'vs none':>8}")
        for rate, achieved, throughput in results[1:-1]:
            print(
                f"{rate:>13g} {achieved:>9.1f} {throughput:>11.0f} {throughput / reference:>7.2f}x"
            )
        print(f"{'0 (mean)':>13} {'':>9} {reference:>11.0f} {1:>7.2f}x")
        at_ten = [t / reference for r, _, t in results[1:-1] if r == 10]
        if at_ten:
            verdict = "MET" if at_ten[0] >= GOAL else "NOT MET"
            print(f"at 10 edits/s: {at_ten[0]:.2f}x of no edits, {verdict} (goal >= {GOAL}x)")
        if args.cpu_edits:
            cpu, wall = cpu_per_edit(str(sock), process.pid, edited.der, args.cpu_edits)
            print(
                f"SetTrustSettings, {args.cpu_edits} in a row: {cpu:.2f} ms CPU (daemon and"
                f" workers) and {wall:.2f} ms wall per edit"
            )
    finally:
        stop_daemons([process], base)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
