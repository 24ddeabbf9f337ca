"""Load: many concurrent clients mixing evaluations and admin edits against a running trustd,
for a bounded time, against the daemon's own Echo round trip measured in the same run.

Starts a daemon on a temporary socket (worker processes: one per core), then

1. peer: --clients processes call io.trustd.Trust.Echo for --seconds (protocol and server only);
2. mixed: the same number of processes for --seconds; each call is, at random,
   - an evaluation (75%): a 3-certificate chain, half of them repeated (answer cache), half
     with a leaf nobody asked about before (worker processes verify), and
   - an edit (25%): admin SetTrustSettings of the client's own root, a user-domain
     SetTrustSettings, or a SetExceptions for a new host.

It reports requests per second, p50 and p99 latency per kind, mixed against echo as ratios,
and the daemon's memory (RSS of the daemon and its workers, sampled every half second).  It
fails (exit 1) on any error reply, on any acknowledged edit the daemon no longer holds, and
when memory in the last third of the mixed phase grows more than 5% over the middle third.
The bounded caches (answers, verdicts, parsed certificates: a few thousand entries each, per
process) fill during the first minute or two, so judge memory on runs of 120 s or more.
Run from the repository root: `python bench/load.py [--seconds 30] [--clients 16]`.
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import multiprocessing
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from daemon import SHORT, b64, bench_pki

FRESH = 100  # leaves per client, asked about in turn (new to the caches on the first round)
EXCEPTIONS = base64.b64encode(
    b"bplist00\xa0\x08\x00\x00\x00\x00\x00\x00\x01\x01\x00\x00\x00\x00\x00\x00\x00\x01"
    + bytes(15)
    + b"\t"
).decode()  # an empty array: a valid exceptions blob


class Conn:
    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(60)
        self.sock.connect(path)
        self.buffer = b""

    def call(self, method: str, parameters: dict[str, Any]) -> dict[str, Any]:
        message = {"method": f"io.trustd.Trust.{method}", "parameters": parameters}
        self.sock.sendall(json.dumps(message).encode() + b"\0")
        while b"\0" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buffer += chunk
        reply, _, self.buffer = self.buffer.partition(b"\0")
        result: dict[str, Any] = json.loads(reply)
        return result


def echo_client(args: tuple[str, float]) -> dict[str, Any]:
    path, seconds = args
    conn = Conn(path)
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        reply = conn.call("Echo", {"text": "x"})
        latencies.append(time.perf_counter() - started)
        errors += "error" in reply
    return {"echo": latencies, "errors": errors, "failures": []}


def mixed_client(args: tuple[str, float, int, dict[str, Any]]) -> dict[str, Any]:
    path, seconds, index, work = args
    rng = random.Random(index)
    conn = Conn(path)
    latencies: dict[str, list[float]] = {"warm": [], "cold": [], "edit": []}
    failures: list[Any] = []
    last: dict[str, str | None] = {"admin": None, "user": None}  # each domain's last edit
    hosts: list[str] = []
    fresh = itertools.cycle(work["fresh"])
    deadline = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < deadline:
        n += 1
        roll = rng.random()
        if roll < 0.375:
            kind, method, parameters = "warm", "Evaluate", work["warm"]
        elif roll < 0.75:
            certificates = [next(fresh), work["ica"]]
            kind, method = "cold", "Evaluate"
            parameters = {**work["warm"], "certificates": certificates}
        else:
            kind, which = "edit", rng.randrange(3)
            if which < 2:
                method, domain = "SetTrustSettings", ("admin", "user")[which]
                last[domain] = f"{domain[0]}{index}.{n}"
                constraints = [{"policy_string": last[domain], "result": 1}]
                parameters = {"domain": domain, "certificate": work[domain],
                              "constraints": constraints}  # fmt: skip
            else:
                method = "SetExceptions"
                hosts.append(f"c{index}-{n}.example")
                parameters = {"host": hosts[-1], "port": 443, "exceptions": EXCEPTIONS}
        started = time.perf_counter()
        reply = conn.call(method, parameters)
        latencies[kind].append(time.perf_counter() - started)
        if "error" in reply:
            failures.append(reply)
        elif kind != "edit" and reply["parameters"]["verdict"]["result"] != "unspecified":
            failures.append(reply["parameters"]["verdict"]["result"])
    return {**latencies, "failures": failures, "admin": last["admin"], "user": last["user"],
            "hosts": hosts}  # fmt: skip


def rss_kib(pid: int) -> int:
    """RSS of a process and its children (the worker processes), in KiB."""
    total = 0
    pids = [pid]
    try:  # each thread's children: the workers are started by a thread of the pool
        for task in Path(f"/proc/{pid}/task").iterdir():
            pids += [int(c) for c in (task / "children").read_text().split()]
    except OSError:
        pass
    for one in pids:
        try:
            for line in Path(f"/proc/{one}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] if ordered else 0.0


def line(name: str, latencies: list[float], seconds: float) -> tuple[float, float]:
    rate = len(latencies) / seconds
    p50 = statistics.median(latencies) * 1e3 if latencies else 0.0
    p99 = percentile(latencies, 0.99) * 1e3
    print(f"{name:<8} {len(latencies):>8} {rate:>9.0f} {p50:>8.2f} {p99:>8.2f}")
    return rate, p99


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="per phase")
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args()
    pki, root, ica, base = bench_pki("Load")
    leaf = pki.leaf(ica, dns=["www.example"], **SHORT)
    sock = base / "run" / "trustd.sock"
    log = (base / "trustd.log").open("wb")
    daemon = subprocess.Popen(
        [sys.executable, "-m", "trustd.daemon", "--socket", str(sock),
         "--state-dir", str(base / "state"), "--dropin-dir", str(base / "etc"),
         "--config", str(base / "none.conf"), "--ca-bundle", str(base / "root.pem"),
         "--log-level", "warning"],
        stderr=log,
        env={k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "LISTEN_FDS")},
    )  # fmt: skip
    failed = False
    try:
        deadline = time.monotonic() + 30
        while not sock.exists():
            assert daemon.poll() is None and time.monotonic() < deadline, "trustd did not start"
            time.sleep(0.05)
        time.sleep(0.5)
        print(f"trustd daemon, {os.cpu_count()} cores, {args.clients} clients, "
              f"{args.seconds:g} s per phase")  # fmt: skip
        print("generating certificates...", flush=True)
        warm = {"certificates": [b64(leaf.der), b64(ica.der)],
                "policies": [{"policy": "ssl", "name": "www.example"}]}  # fmt: skip
        works = []
        for index in range(args.clients):
            fresh = [b64(pki.leaf(ica, dns=["www.example"], key=leaf.key, **SHORT).der)
                     for _ in range(FRESH)]  # fmt: skip
            works.append({"warm": warm, "ica": b64(ica.der), "fresh": fresh,
                          "admin": b64(pki.root(f"Admin {index}", key=root.key).der),
                          "user": b64(pki.root(f"User {index}", key=root.key).der)})  # fmt: skip
        context = multiprocessing.get_context("spawn")
        print(f"{'kind':<8} {'calls':>8} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
        with context.Pool(args.clients) as pool:
            echoes = pool.map(echo_client, [(str(sock), args.seconds)] * args.clients)
        echo_rate, echo_p99 = line("echo", [x for r in echoes for x in r["echo"]], args.seconds)
        samples: list[tuple[float, int]] = []
        stop = threading.Event()

        def sample() -> None:
            started = time.monotonic()
            while not stop.wait(0.5):
                samples.append((time.monotonic() - started, rss_kib(daemon.pid)))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        with context.Pool(args.clients) as pool:
            mixed = pool.map(
                mixed_client,
                [(str(sock), args.seconds, i, works[i]) for i in range(args.clients)],
            )
        stop.set()
        sampler.join()
        everything: list[float] = []
        for kind in ("warm", "cold", "edit"):
            values = [x for r in mixed for x in r[kind]]
            everything += values
            line(kind, values, args.seconds)
        mixed_rate, mixed_p99 = line("mixed", everything, args.seconds)
        print(f"mixed/echo: throughput {mixed_rate / echo_rate:.2f}x, "
              f"p99 {mixed_p99 / echo_p99:.1f}x")  # fmt: skip

        errors = [f for r in mixed for f in r["failures"]]
        errors += ["an Echo failed"] * sum(r["errors"] for r in echoes)
        conn = Conn(str(sock))
        admin = {e["sha1"]: e for e in conn.call("CopyTrustSettings", {"domain": "admin"})[
            "parameters"]["entries"]}  # fmt: skip
        user = {e["sha1"]: e for e in conn.call("CopyTrustSettings", {"domain": "user"})[
            "parameters"]["entries"]}  # fmt: skip
        held_hosts = {e["host"] for e in conn.call("ListExceptions", {})["parameters"][
            "exceptions"]}  # fmt: skip
        lost = 0
        for result in mixed:
            lost += sum(host not in held_hosts for host in result["hosts"])
            for last, held in ((result["admin"], admin), (result["user"], user)):
                if last is not None:
                    values = {e["constraints"][0]["policy_string"] for e in held.values()}
                    lost += last not in values
        writes = sum(len(r["edit"]) for r in mixed)
        print(f"errors: {len(errors)}; acknowledged edits: {writes}; lost: {lost}")
        end = samples[-1][0] if samples else 0.0
        middle = max((kib for at, kib in samples if end / 3 < at <= 2 * end / 3), default=0)
        last = max((kib for at, kib in samples if at > 2 * end / 3), default=0)
        growth = (last - middle) / middle if middle else 0.0
        timeline = " ".join(
            f"{samples[int(i * (len(samples) - 1) / 9)][1] / 1024:.0f}" for i in range(10)
        )
        print(f"memory (daemon + workers, MiB, over the mixed phase): {timeline}")
        print(f"memory: peak of the middle third {middle / 1024:.0f} MiB, of the last third "
              f"{last / 1024:.0f} MiB ({growth:+.1%})")  # fmt: skip
        failed = bool(errors) or lost > 0 or growth > 0.05
        if errors:
            print("first errors:", errors[:3])
        print("goal: no errors, no lost edits, memory flat (last third within 5% of the middle "
              "third):", "MET" if not failed else "NOT MET")  # fmt: skip
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)
        log.close()
        shutil.rmtree(base, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
