"""TLS through trustd against the standard library: handshake and verification per connection.

Starts a daemon on a temporary socket (this checkout's code; its system anchor is the bench's
root) and real `openssl s_server` processes on 127.0.0.1, each serving its own leaf (for
localhost) and the intermediate.  Each timed call opens a TCP connection, completes the TLS
handshake with the server's chain verified, and closes it, through one of two contexts:

- stdlib: `ssl.create_default_context(cafile=root.pem)`: OpenSSL verifies;
- trustd: `trustd.client.ssl.create_context()`: trustd's Evaluate verifies.

Two workloads, each run alternately on both contexts (connection i of one, then connection i
of the other) so that both see the same load:

- warm: `--warm` connections to one server again and again (trustd answers from its cache);
- new certificate: one connection to each of `--servers` servers, every one a leaf trustd has
  never seen, so each evaluation is a worker's.

It prints the median milliseconds per connection and the ratio trustd / stdlib.  Goals: <= 1.15x
warm, <= 1.5x with a new certificate.  Run: `python bench/tls.py [--servers 40] [--warm 200]`.
`--profile N` instead profiles N warm connections through the trustd context in this process
(cProfile) and prints where the client's time goes.  `--client N` times, N times over, the
client's Python work for one verification without the round trip (the request encoded, a reply
received from this daemon decoded): the context's own path against Client.evaluate's.
CI does not run this.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import ssl
import statistics
import subprocess
import sys
import time
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from cryptography.hazmat.primitives import serialization

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY / "tests"))
sys.path.insert(0, str(REPOSITORY))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from daemon import SHORT, bench_pki, start_daemon, stop_daemons  # noqa: E402
from pki import Issued  # noqa: E402

from trustd.client import Client, Policy  # noqa: E402
from trustd.client import _protocol as protocol  # noqa: E402
from trustd.client._surface import Methods  # noqa: E402
from trustd.client.models import EvaluationResult, reader  # noqa: E402
from trustd.client.ssl import TrustdSSLContext, _read_verdict, create_context  # noqa: E402

GOALS = {"warm": 1.15, "new certificate": 1.5}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_s_server(
    directory: Path, leaf: Issued, intermediate: Issued
) -> tuple[subprocess.Popen[bytes], int]:
    """`openssl s_server` serving leaf + intermediate; (process, port) once it accepts."""
    directory.mkdir(parents=True)
    (directory / "leaf.pem").write_bytes(leaf.pem)
    (directory / "chain.pem").write_bytes(intermediate.pem)
    (directory / "key.pem").write_bytes(
        leaf.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    port = free_port()
    process = subprocess.Popen(
        [
            "openssl",
            "s_server",
            "-quiet",
            "-www",
            "-accept",
            f"127.0.0.1:{port}",
            "-cert",
            str(directory / "leaf.pem"),
            "-cert_chain",
            str(directory / "chain.pem"),
            "-key",
            str(directory / "key.pem"),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process, port
        except OSError:
            time.sleep(0.05)
    raise SystemExit("openssl s_server did not start")


def connect(context: ssl.SSLContext, port: int) -> float:
    """Seconds for one connection: TCP connect, handshake with verification, close."""
    return timed_connect(context, port)[0]


def timed_connect(context: ssl.SSLContext, port: int) -> tuple[float, float]:
    """(wall seconds, this process's CPU seconds) for one connection, as `connect` makes it.

    The CPU time is the client's own work (OpenSSL's share of the handshake, and for trustd
    the request and the verdict), which the machine's load hardly changes; the wall time also
    holds the waits for the server and the daemon."""
    start, cpu = time.perf_counter(), time.process_time()
    with (
        socket.create_connection(("127.0.0.1", port)) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.version()
    return time.perf_counter() - start, time.process_time() - cpu


Samples = dict[str, tuple[list[float], list[float]]]


def alternate(contexts: dict[str, ssl.SSLContext], ports: list[int]) -> Samples:
    """One connection per port through each context in turn: wall and CPU seconds."""
    samples: Samples = {name: ([], []) for name in contexts}
    for port in ports:
        for name, context in contexts.items():
            wall, cpu = timed_connect(context, port)
            samples[name][0].append(wall)
            samples[name][1].append(cpu)
    return samples


def profile_connections(context: ssl.SSLContext, port: int, count: int) -> None:
    """cProfile of `count` connections through `context`: where the client's time goes."""
    import cProfile
    import pstats

    profile = cProfile.Profile()
    profile.enable()
    for _ in range(count):
        connect(context, port)
    profile.disable()
    stats = pstats.Stats(profile)
    stats.sort_stats("tottime").print_stats(20)
    stats.sort_stats("cumulative").print_stats(30)


def client_work(context: TrustdSSLContext, chain: list[bytes], count: int) -> None:
    """Microseconds of Python per verification, round trip left out: the request encoded, a
    recorded reply decoded, as Client.evaluate does it and as the TLS context does it."""
    verdict = context.client.evaluate(chain, [Policy.ssl("localhost")]).raw
    reply = json.dumps({"parameters": {"verdict": verdict}}, separators=(",", ":")).encode()
    full = reader(EvaluationResult)

    def evaluate() -> None:
        call = Methods.evaluate.__wrapped__(chain, [Policy.ssl("localhost")])
        call.message()
        assert call.decode(protocol.decode_reply(reply), full).trusted

    def tls() -> None:
        call = context._evaluate_call(chain, "localhost", cast(Any, None))  # no port needed
        call.message()
        assert isinstance(call.decode(protocol.decode_reply(reply), _read_verdict), dict)

    for name, work in (("Client.evaluate", evaluate), ("TLS context", tls)) * 2:
        best = min(timeit.repeat(work, number=count, repeat=5)) / count
        print(f"{name:<16} {best * 1e6:7.1f} us per verification (request, reply, verdict)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=40, help="servers, each a new leaf")
    parser.add_argument("--warm", type=int, default=200, help="connections to one server")
    parser.add_argument("--profile", type=int, metavar="N", help="profile N trustd connections")
    parser.add_argument("--client", type=int, metavar="N", help="time the client's work N times")
    args = parser.parse_args()
    pki, _, intermediate, base = bench_pki("TLS Bench")
    daemon, sock = start_daemon(REPOSITORY, base / "daemon", base / "root.pem")
    servers: list[subprocess.Popen[bytes]] = []
    try:
        ports = []
        for index in range(1 if args.profile or args.client else args.servers + 1):
            leaf = pki.leaf(intermediate, dns=["localhost"], ips=["127.0.0.1"], **SHORT)
            process, port = start_s_server(base / f"server{index}", leaf, intermediate)
            servers.append(process)
            ports.append(port)
        client = Client(sock)
        ours = create_context(client)
        contexts: dict[str, ssl.SSLContext] = {
            "stdlib": ssl.create_default_context(cafile=str(base / "root.pem")),
            "trustd": ours,
        }
        for context in contexts.values():  # both accept the chain, or the figures mean nothing
            connect(context, ports[0])
        if args.profile:
            profile_connections(contexts["trustd"], ports[0], args.profile)
            return 0
        if args.client:
            client_work(ours, [leaf.der, intermediate.der], args.client)
            return 0
        workloads: dict[str, Callable[[], Samples]] = {
            "warm": lambda: alternate(contexts, [ports[0]] * args.warm),
            "new certificate": lambda: alternate(contexts, ports[1:]),
        }
        print(f"TLS handshake + verification, {os.cpu_count()} cores, openssl s_server on loopback")
        print(
            f"{'workload':<16} {'stdlib ms':>10} {'trustd ms':>10} {'ratio':>7}  {'goal':<16}"
            f" {'client CPU us: stdlib':>21} {'trustd':>7}"
        )
        for name, workload in workloads.items():
            samples = workload()
            stdlib, trustd = (statistics.median(samples[k][0]) for k in ("stdlib", "trustd"))
            cpu = {k: statistics.median(samples[k][1]) * 1e6 for k in ("stdlib", "trustd")}
            ratio = trustd / stdlib
            goal = GOALS[name]
            verdict = ("MET" if ratio <= goal else "NOT MET") + f" <= {goal:g}x"
            print(
                f"{name:<16} {stdlib * 1e3:>10.2f} {trustd * 1e3:>10.2f} {ratio:>6.2f}x  "
                f"{verdict:<16} {cpu['stdlib']:>21.0f} {cpu['trustd']:>7.0f}"
            )
        print(f"(medians; warm: {args.warm} connections each, new: {args.servers} servers)")
    finally:
        for process in servers:
            process.terminate()
        for process in servers:
            process.wait(timeout=10)
        stop_daemons([daemon], base)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
