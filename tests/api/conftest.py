"""A real trustd daemon on a temporary socket, and a minimal raw varlink client for tests."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pki import PKI, Issued


def call(
    path: Path, method: str, parameters: dict[str, Any] | None = None, **flags: bool
) -> dict[str, Any]:
    """One varlink call on a fresh connection; the reply message (parameters or error)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(10)
        conn.connect(str(path))
        message = {"method": method, "parameters": parameters or {}, **flags}
        conn.sendall(json.dumps(message).encode() + b"\0")
        return read_message(conn)


def read_message(conn: socket.socket) -> dict[str, Any]:
    buffer = b""
    while b"\0" not in buffer:
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionError("closed before a reply")
        buffer += chunk
    reply: dict[str, Any] = json.loads(buffer.split(b"\0", 1)[0])
    return reply


@dataclass
class Daemon:
    socket: Path
    state: Path
    dropins: Path
    bundle: Path
    process: subprocess.Popen[bytes]
    log: Path
    root: Issued  # the system anchor in the bundle

    def call(self, method: str, **parameters: Any) -> dict[str, Any]:
        return call(self.socket, f"io.trustd.Trust.{method}", parameters)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


def start_daemon(base: Path, root: Issued, *extra: str) -> Daemon:
    """A daemon on a private socket, state and drop-in directory under `base`.

    It evaluates in its own process (`--workers 1`, a second faster to start and stop than a
    pool) unless `extra` asks for workers: the tests about the pool say so.
    """
    if "--workers" not in extra:
        extra = ("--workers", "1", *extra)
    base.chmod(0o755)  # the socket must be reachable by other uids
    runtime = base / "run"
    state, dropins, bundle = base / "state", base / "etc", base / "bundle.pem"
    runtime.mkdir(mode=0o755)
    dropins.mkdir()
    bundle.write_bytes(root.pem)
    log = base / "trustd.log"
    sock = runtime / "trustd.sock"
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "trustd.daemon",
                "--socket",
                str(sock),
                "--state-dir",
                str(state),
                "--dropin-dir",
                str(dropins),
                "--config",
                str(base / "none.conf"),
                "--ca-bundle",
                str(bundle),
                *extra,
            ],
            stderr=stderr,
            env={k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "LISTEN_FDS")},
        )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"trustd exited: {log.read_text()}")
        try:
            if "parameters" in call(sock, "org.varlink.service.GetInfo"):
                break
        except OSError:
            time.sleep(0.05)
    else:
        process.kill()
        raise RuntimeError(f"trustd did not come up: {log.read_text()}")
    return Daemon(sock, state, dropins, bundle, process, log, root)


@contextmanager
def running_daemon(pki: PKI, *extra: str) -> Iterator[Daemon]:
    """A daemon whose system anchor is "System Root", stopped and removed afterwards."""
    base = Path(tempfile.mkdtemp(prefix="trustd-test-", dir="/tmp"))
    running = start_daemon(base, pki.root("System Root"), *extra)
    try:
        yield running
    finally:
        if running.process.poll() is None:
            running.process.terminate()
            try:
                running.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                running.process.kill()
                running.process.wait()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def daemon(pki: PKI) -> Iterator[Daemon]:
    with running_daemon(pki) as running:
        yield running
