"""The state directory belongs to one daemon, and a directory it cannot write is called that.

- A second daemon on the same state directory is refused with one line naming the first
  (an fcntl lock in the directory), whatever socket it was given; so is a daemon whose socket
  path another daemon answers on.  The lock goes with the process, also after kill -9.
- A daemon removes at exit only the socket file it made, not one another daemon put there.
- A state directory on a read-only mount, or one the daemon's user may not write, stops the
  daemon with the real reason and never with advice to move the intact database away.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemons import Daemon, call, start_daemon
from pki import PKI
from reliability.faults import DATABASE, environment, kill9, wait_gone

from trustd.store.engine import migrate, open_engine

ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (mounts, other uids)")
DESTRUCTIVE_ADVICE = ("restore it", "backup", "move it away", "empty store")


def _command(base: Path, socket: Path, state: Path) -> list[str]:
    return [
        sys.executable, "-m", "trustd.daemon",
        "--socket", str(socket),
        "--state-dir", str(state),
        "--dropin-dir", str(base / "etc"),
        "--config", str(base / "none.conf"),
        "--ca-bundle", str(base / "bundle.pem"),
        "--workers", "1",
    ]  # fmt: skip


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, capture_output=True, text=True, timeout=30, check=False, env=environment()
    )


def _alive(path: Path) -> bool:
    try:
        return "parameters" in call(path, "org.varlink.service.GetInfo")
    except OSError:
        return False


@pytest.fixture
def first(tmp_path: Path, pki: PKI) -> Iterator[Daemon]:
    daemon = start_daemon(tmp_path, pki.root("System Root"), "--workers", "1")
    try:
        yield daemon
    finally:
        if daemon.process.poll() is None:
            daemon.stop()


def test_a_second_daemon_on_the_same_state_directory_is_refused(
    first: Daemon, tmp_path: Path
) -> None:
    pid = first.process.pid
    socket = tmp_path / "run" / "second.sock"  # on a socket of its own
    done = _run(_command(tmp_path, socket, first.state))
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"another trustd (pid {pid}) is running on the state directory" in lines[0]
    assert not socket.exists()
    assert _alive(first.socket)  # the first one still serves

    # A daemon on another state directory may not take the socket path of a live one either.
    done = _run(_command(tmp_path, first.socket, tmp_path / "other-state"))
    assert done.returncode == 1 and "another daemon is answering on" in done.stderr, done.stderr
    assert _alive(first.socket)

    # The lock goes with the process, however it ends: after kill -9 a new daemon starts.
    kill9(first)
    (tmp_path / "again").mkdir()
    second = start_daemon(tmp_path / "again", first.root, "--state-dir", str(first.state))
    try:
        assert second.call("Echo", text="x") == {"parameters": {"text": "x"}}
    finally:
        assert second.stop() == 0


def test_the_socket_is_removed_only_by_the_daemon_that_made_it(
    first: Daemon, tmp_path: Path
) -> None:
    """The first daemon's socket is moved away and another daemon (with its own state) binds
    the path; when the first stops, the path is the other's, and stays."""
    os.rename(first.socket, first.socket.with_name("moved.sock"))
    other = subprocess.Popen(
        _command(tmp_path, first.socket, tmp_path / "other-state"),
        stderr=subprocess.DEVNULL,
        env=environment(),
    )
    try:
        deadline = time.monotonic() + 20
        while not _alive(first.socket):
            assert other.poll() is None, "the other daemon exited"
            assert time.monotonic() < deadline, "the other daemon did not come up"
            time.sleep(0.05)
        assert first.stop() == 0
        assert first.socket.exists() and _alive(first.socket)  # the other's socket is left
    finally:
        other.send_signal(signal.SIGTERM)
        assert wait_gone(other) == 0
    assert not first.socket.exists()  # the other removed its own at exit


def _intact_database(base: Path) -> tuple[Path, str]:
    """A migrated database in `base`/state, and its digest."""
    state = base / "state"
    engine = open_engine(state / DATABASE)
    migrate(engine)
    engine.dispose()
    database = state / DATABASE
    return database, hashlib.sha256(database.read_bytes()).hexdigest()


def _assert_reason_without_advice(done: subprocess.CompletedProcess[str], reason: str) -> None:
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert reason in lines[0] and "cannot write to the state directory" in lines[0], lines[0]
    assert "left untouched" in lines[0]
    advice = [words for words in DESTRUCTIVE_ADVICE if words in lines[0]]
    assert advice == [], lines[0]


@ROOT_ONLY
def test_a_read_only_state_directory_is_reported_as_read_only(tmp_path: Path) -> None:
    database, digest = _intact_database(tmp_path)
    state = database.parent
    mount = f"mount --bind {state} {state} && mount -o remount,bind,ro {state} && " + " ".join(
        _command(tmp_path, tmp_path / "run" / "trustd.sock", state)
    )
    (tmp_path / "run").mkdir()
    done = _run(["unshare", "-m", "--propagation", "private", "sh", "-c", mount])
    _assert_reason_without_advice(done, "Read-only file system")
    assert hashlib.sha256(database.read_bytes()).hexdigest() == digest


@ROOT_ONLY
def test_a_state_directory_the_daemon_may_not_write_is_reported_as_such() -> None:
    """The daemon's user (nobody here) owns the database but may not write the directory."""
    base = Path(tempfile.mkdtemp(prefix="trustd-test-", dir="/tmp"))
    try:
        base.chmod(0o755)
        database, digest = _intact_database(base)
        nobody = 65534
        for path in (database.parent, *database.parent.iterdir()):
            os.chown(path, nobody, nobody)
        database.parent.chmod(0o500)
        (base / "run").mkdir()
        command = _command(base, base / "run" / "trustd.sock", database.parent)
        done = _run(["setpriv", f"--reuid={nobody}", f"--regid={nobody}", "--clear-groups",
                     *command])  # fmt: skip
        _assert_reason_without_advice(done, "Permission denied")
        assert hashlib.sha256(database.read_bytes()).hexdigest() == digest
    finally:
        shutil.rmtree(base, ignore_errors=True)
