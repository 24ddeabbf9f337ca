"""A real trustd daemon on a temporary socket, and a minimal raw varlink client for tests.

Every test that runs the daemon starts it here: `start_daemon` (a daemon on a directory of the
test's), `running_daemon` (one on a fresh directory, stopped and removed afterwards) and
`restart_daemon` (the same state again after a stop or a kill).  The fixtures that hand a
daemon to tests (`daemon` in tests/api/conftest.py and its module-scoped variant) use them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pki import Issued
from waiting import eventually


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

    @property
    def base(self) -> Path:
        """The directory `start_daemon` was given."""
        return self.socket.parent.parent

    def call(self, method: str, **parameters: Any) -> dict[str, Any]:
        return call(self.socket, f"io.trustd.Trust.{method}", parameters)

    def with_log(self, what: str) -> Callable[[], str]:
        """`what` and the end of the daemon's log, read when asked: a failure message for
        `eventually`."""
        return lambda: f"{what}: {self.log.read_text()[-2000:]}"

    def stop(self) -> int:
        """SIGTERM, as systemd stops it; the exit status."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)

    def shut_down(self) -> None:
        """Stop it if it still runs (a test's clean-up): SIGTERM, SIGKILL if it hangs."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def daemon_command(sock: Path, base: Path, bundle: Path, *extra: str) -> list[str]:
    """The command line of a daemon on `sock`, its state and drop-ins under `base` (`state`,
    `etc`), no configuration file, `bundle` as its CA bundle."""
    return [
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
        str(base / "none.conf"),
        "--ca-bundle",
        str(bundle),
        *extra,
    ]


@pytest.fixture(scope="module")
def daemon_per_module(module_daemon: Daemon) -> Daemon:
    """`module_daemon` as a module's `daemon` (`daemon = daemon_per_module`): for modules whose
    tests each bring their own certificates, so that they can share one daemon."""
    return module_daemon


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
            daemon_command(sock, base, bundle, *extra),
            stderr=stderr,
            env={k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "LISTEN_FDS")},
        )

    def answers() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"trustd exited: {log.read_text()}")
        try:
            return "parameters" in call(sock, "org.varlink.service.GetInfo")
        except OSError:
            return False

    try:
        eventually(answers, 60, lambda: f"trustd did not come up: {log.read_text()}")
    except AssertionError:
        process.kill()
        process.wait()
        raise
    return Daemon(sock, state, dropins, bundle, process, log, root)


def restart_daemon(stopped: Daemon, *extra: str) -> Daemon:
    """A new daemon on the directory, state and system anchor of one that has exited."""
    assert stopped.process.poll() is not None, "stop or kill it first"
    base = stopped.base
    for leftover in ("run", "etc"):
        shutil.rmtree(base / leftover, ignore_errors=True)
    (base / "bundle.pem").unlink(missing_ok=True)
    return start_daemon(base, stopped.root, *extra)


@contextmanager
def running_daemon(root: Issued, *extra: str, prefix: str = "trustd-test-") -> Iterator[Daemon]:
    """A daemon whose system anchor is `root`, on a fresh directory of /tmp (a socket path
    stays short), stopped and removed afterwards."""
    base = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    try:
        running = start_daemon(base, root, *extra)
        try:
            yield running
        finally:
            running.shut_down()
    finally:
        shutil.rmtree(base, ignore_errors=True)
