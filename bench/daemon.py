"""Throughput and latency of a running trustd: Evaluate against Echo on the same server.

Starts a daemon on a temporary socket (worker processes: one per core), then for 1, 8 and 32
concurrent clients (each its own process and connection) runs, for --seconds each:

- echo: io.trustd.Trust.Echo, the cost of the protocol and the server alone;
- warm: Evaluate of one 3-certificate chain again and again (the answer cache is hit);
- cold: Evaluate of a chain no one has asked about yet (fresh leaves, the workers verify).

It prints requests per second, p50 and p99 latency, and the ratio evaluate/echo throughput.
Goal (issue 4): warm evaluations reach at least half of the echo throughput.  CI does not run
this.  Run: `python bench/daemon.py [--seconds 3]`.
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
from pki import PKI

NOW = dt.datetime.now(dt.UTC)
SHORT = {"not_before": NOW - dt.timedelta(days=10), "not_after": NOW + dt.timedelta(days=300)}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def client(args: tuple[str, list[dict[str, Any]], float]) -> list[float]:
    """Send the messages round-robin for `seconds`; the latency of each call."""
    path, messages, seconds = args
    conn = socket.socket(socket.AF_UNIX)
    conn.connect(path)
    encoded = [json.dumps(m).encode() + b"\0" for m in messages]
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    index = 0
    buffer = b""
    while time.perf_counter() < deadline:
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
    return latencies


def run(
    path: str, messages: list[list[dict[str, Any]]], seconds: float
) -> tuple[float, float, float]:
    """(requests/s, p50 ms, p99 ms) for one client per message list."""
    with multiprocessing.get_context("spawn").Pool(len(messages)) as pool:
        results = pool.map(client, [(path, m, seconds) for m in messages])
    latencies = sorted(x for r in results for x in r)
    total = len(latencies)
    p99 = latencies[min(total - 1, int(total * 0.99))]
    return total / seconds, statistics.median(latencies) * 1e3, p99 * 1e3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    pki = PKI()
    root = pki.root("Bench Root")
    ica = pki.intermediate(root, "Bench CA")
    base = Path(tempfile.mkdtemp(prefix="trustd-bench-"))
    (base / "bundle.pem").write_bytes(root.pem)
    sock = base / "trustd.sock"
    log = (base / "trustd.log").open("wb")
    daemon = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "trustd.daemon",
            "--socket",
            str(sock),
            "--state-dir",
            str(base / "state"),
            "--dropin-dir",
            str(base / "etc"),
            "--config",
            str(base / "x"),
            "--ca-bundle",
            str(base / "bundle.pem"),
            "--log-level",
            "warning",
        ],
        stderr=log,
    )
    try:
        while not sock.exists():
            time.sleep(0.05)
        time.sleep(0.5)
        leaf = pki.leaf(ica, dns=["www.example"], **SHORT)
        warm = {
            "method": "io.trustd.Trust.Evaluate",
            "parameters": {
                "certificates": [b64(leaf.der), b64(ica.der)],
                "policies": [{"policy": "ssl", "name": "www.example"}],
            },
        }
        echo = {"method": "io.trustd.Trust.Echo", "parameters": {"text": "x"}}
        print(f"trustd daemon, {os.cpu_count()} cores, {args.seconds:g} s per measurement")
        print(f"{'clients':>7} {'kind':<5} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'vs echo':>8}")
        for clients in (1, 8, 32):
            echo_rate, p50, p99 = run(str(sock), [[echo]] * clients, args.seconds)
            print(f"{clients:>7} {'echo':<5} {echo_rate:>9.0f} {p50:>8.2f} {p99:>8.2f}")
            rate, p50, p99 = run(str(sock), [[warm]] * clients, args.seconds)
            print(
                f"{clients:>7} {'warm':<5} {rate:>9.0f} {p50:>8.2f} {p99:>8.2f}"
                f" {rate / echo_rate:>7.2f}x"
            )
            fresh = [
                [
                    {
                        "method": "io.trustd.Trust.Evaluate",
                        "parameters": {
                            "certificates": [
                                b64(pki.leaf(ica, dns=["www.example"], **SHORT).der),
                                b64(ica.der),
                            ],
                            "policies": [{"policy": "ssl", "name": "www.example"}],
                        },
                    }
                    for _ in range(200)
                ]
                for _ in range(clients)
            ]
            rate, p50, p99 = run(str(sock), fresh, args.seconds)
            print(
                f"{clients:>7} {'cold':<5} {rate:>9.0f} {p50:>8.2f} {p99:>8.2f}"
                f" {rate / echo_rate:>7.2f}x"
            )
        print("goal: warm >= 0.5x echo throughput")
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
        log.close()
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
