"""Throughput and latency of a running trustd: Evaluate against Echo on the same server.

Starts a daemon on a temporary socket (worker processes: one per core), then for 1, 8 and 32
concurrent clients (each its own process and connection) runs, for --seconds each:

- echo: io.trustd.Trust.Echo, the cost of the protocol and the server alone;
- warm: Evaluate of one 3-certificate chain again and again (the answer cache is hit);
- cold: Evaluate of chains no one has asked about yet: every call a leaf never sent before
  (--leaves of them, shared among the clients; a client stops early when its share runs out).

It prints requests per second, p50 and p99 latency, and the ratio evaluate/echo throughput.
With `--baseline DIR` (a checkout of another revision, e.g. `git archive main | tar -x -C
DIR`), a second daemon runs from DIR and each measurement is taken on both, one after the
other, with the same certificates; the last column is this revision's throughput over the
baseline's.  Goal: warm evaluations reach at least half of the echo throughput.  CI does not
run this.  Run: `python bench/daemon.py [--seconds 3] [--baseline DIR]`.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import multiprocessing
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from daemons import daemon_command
from pki import PKI, Issued

REPOSITORY = Path(__file__).resolve().parents[1]
NOW = dt.datetime.now(dt.UTC)
SHORT = {"not_before": NOW - dt.timedelta(days=10), "not_after": NOW + dt.timedelta(days=300)}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def client(args: tuple[str, list[dict[str, Any]], float, bool]) -> tuple[list[float], float]:
    """Send the messages round-robin for `seconds` (each once with `once`); the latency of
    each call and the time taken."""
    path, messages, seconds, once = args
    conn = socket.socket(socket.AF_UNIX)
    conn.connect(path)
    encoded = [json.dumps(m).encode() + b"\0" for m in messages]
    latencies: list[float] = []
    began = time.perf_counter()
    deadline = began + seconds
    index = 0
    buffer = b""
    while time.perf_counter() < deadline and not (once and index >= len(encoded)):
        start = time.perf_counter()
        conn.sendall(encoded[index % len(encoded)])
        while b"\0" not in buffer:
            buffer += conn.recv(65536)
        reply, _, buffer = buffer.partition(b"\0")
        latencies.append(time.perf_counter() - start)
        if b'"error"' in reply:
            raise RuntimeError(reply.decode())
        index += 1
    conn.close()
    return latencies, time.perf_counter() - began


def run(
    path: str, messages: list[list[dict[str, Any]]], seconds: float, once: bool = False
) -> tuple[float, float, float]:
    """(requests/s, p50 ms, p99 ms) for one client per message list."""
    with multiprocessing.get_context("spawn").Pool(len(messages)) as pool:
        results = pool.map(client, [(path, m, seconds, once) for m in messages])
    latencies = sorted(x for r, _ in results for x in r)
    elapsed = max(t for _, t in results)
    total = len(latencies)
    p99 = latencies[min(total - 1, int(total * 0.99))]
    return total / elapsed, statistics.median(latencies) * 1e3, p99 * 1e3


def start_daemon(source: Path, base: Path, bundle: Path) -> tuple[subprocess.Popen[bytes], Path]:
    """A daemon running the code in `source`, its state under `base`; (process, socket)."""
    base.mkdir(parents=True)
    sock = base / "trustd.sock"
    log = (base / "trustd.log").open("wb")
    env = {**os.environ, "PYTHONPATH": str(source)}
    daemon = subprocess.Popen(
        daemon_command(sock, base, bundle, "--log-level", "warning"),
        stderr=log,
        env=env,
        cwd=base,
    )
    log.close()
    while not sock.exists():
        if daemon.poll() is not None:
            raise SystemExit(f"the daemon from {source} did not start: see {base / 'trustd.log'}")
        time.sleep(0.05)
    time.sleep(0.5)
    return daemon, sock


def bench_pki(name: str) -> tuple[PKI, Issued, Issued, Path]:
    """A PKI with a root "<name> Root" and its intermediate "<name> CA", and a new temporary
    directory holding the root as root.pem (the daemons' CA bundle)."""
    pki = PKI()
    root = pki.root(f"{name} Root")
    ica = pki.intermediate(root, f"{name} CA")
    base = Path(tempfile.mkdtemp(prefix=f"trustd-bench-{name.lower().replace(' ', '-')}-"))
    (base / "root.pem").write_bytes(root.pem)
    return pki, root, ica, base


def stop_daemons(processes: list[subprocess.Popen[bytes]], base: Path) -> None:
    """Stop the daemons (SIGTERM, as systemd does) and remove the bench's directory."""
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        process.wait(timeout=30)
    shutil.rmtree(base, ignore_errors=True)


def evaluate_message(der: bytes, ica: bytes) -> dict[str, Any]:
    return {
        "method": "io.trustd.Trust.Evaluate",
        "parameters": {
            "certificates": [b64(der), b64(ica)],
            "policies": [{"policy": "ssl", "name": "www.example"}],
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--leaves", type=int, default=4000, help="fresh leaves per cold run")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--baseline", type=Path, help="a checkout of the revision to compare")
    args = parser.parse_args()
    pki, _, ica, base = bench_pki("Bench")
    sources = [("this", REPOSITORY)]
    if args.baseline is not None:
        sources.append(("base", args.baseline.resolve()))
    daemons: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}
    try:
        for name, source in sources:
            daemons[name] = start_daemon(source, base / name, base / "root.pem")
        leaf = pki.leaf(ica, dns=["www.example"], **SHORT)
        warm = evaluate_message(leaf.der, ica.der)
        echo = {"method": "io.trustd.Trust.Echo", "parameters": {"text": "x"}}
        print(f"trustd daemon, {os.cpu_count()} cores, {args.seconds:g} s per measurement")
        print(
            f"{'clients':>7} {'rev':<4} {'kind':<5} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}"
            f" {'vs echo':>8} {'vs base':>8}"
        )
        for clients in args.clients:
            share = max(1, args.leaves // clients)
            fresh = [
                [
                    evaluate_message(pki.leaf(ica, dns=["www.example"], **SHORT).der, ica.der)
                    for _ in range(share)
                ]
                for _ in range(clients)
            ]
            rates: dict[tuple[str, str], float] = {}
            for kind in ("echo", "warm", "cold"):
                for name, _ in sources:
                    path = str(daemons[name][1])
                    if kind == "echo":
                        rate, p50, p99 = run(path, [[echo]] * clients, args.seconds)
                    elif kind == "warm":
                        rate, p50, p99 = run(path, [[warm]] * clients, args.seconds)
                    else:
                        rate, p50, p99 = run(path, fresh, args.seconds, once=True)
                    rates[name, kind] = rate
                    versus_echo = "" if kind == "echo" else f"{rate / rates[name, 'echo']:>7.2f}x"
                    versus_base = f"{rates['this', kind] / rate:>7.2f}x" if name == "base" else ""
                    print(
                        f"{clients:>7} {name:<4} {kind:<5} {rate:>9.0f} {p50:>8.2f} {p99:>8.2f}"
                        f" {versus_echo:>8} {versus_base:>8}",
                        flush=True,
                    )
        print("goal: warm >= 0.5x echo throughput; 'vs base': this revision / the baseline")
    finally:
        stop_daemons([process for process, _ in daemons.values()], base)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
