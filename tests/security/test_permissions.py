"""Files and directories: what the daemon creates is private, and what others could have
written is refused at start with one clear line (sshd's StrictModes, for trustd's state)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from daemons import Daemon
from security.clients import OTHER, require_root

from trustd.store.engine import UnsafeLocation, location_problem, open_engine


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_socket_database_and_state_directory_permissions(daemon: Daemon) -> None:
    me = os.geteuid()
    # Everyone may connect (identity comes from SO_PEERCRED), nobody else may replace it.
    assert stat.S_ISSOCK(daemon.socket.lstat().st_mode)
    assert _mode(daemon.socket) == 0o666
    assert daemon.socket.lstat().st_uid == me
    assert location_problem(daemon.socket.parent) is None
    assert _mode(daemon.state) & 0o077 == 0  # created 0700
    assert daemon.state.stat().st_uid == me
    files = [daemon.state / name for name in os.listdir(daemon.state)]
    assert daemon.state / "trustd.sqlite3" in files
    for path in files:
        assert _mode(path) == 0o600, path
        assert path.stat().st_uid == me


def _start(
    tmp_path: Path, state: Path, socket_dir: Path | None = None
) -> subprocess.CompletedProcess[str]:
    socket_dir = socket_dir or tmp_path / "run"
    return subprocess.run(
        [
            sys.executable, "-m", "trustd.daemon",
            "--socket", str(socket_dir / "trustd.sock"),
            "--state-dir", str(state),
            "--dropin-dir", str(tmp_path / "etc"),
            "--config", str(tmp_path / "none.conf"),
            "--ca-bundle", str(tmp_path / "none.pem"),
            "--workers", "1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "LISTEN_FDS")},
    )  # fmt: skip


def _refused(done: subprocess.CompletedProcess[str], *words: str) -> None:
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith("trustd: ")
    for word in words:
        assert word in lines[0], lines[0]


def test_state_below_a_directory_others_may_write_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # not sticky: anyone could rename the state directory and replace it
    done = _start(tmp_path, shared / "state")
    _refused(done, "unsafe state directory", f"{shared} is writable by group or others (mode 0777)")
    assert not (shared / "state" / "trustd.sqlite3").exists()
    # The sticky bit (as on /tmp) makes it safe: nobody may rename another user's entries.
    shared.chmod(0o1777)
    assert location_problem(shared / "state") is None


def test_socket_in_a_directory_others_may_write_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "run"
    shared.mkdir()
    shared.chmod(0o777)
    done = _start(tmp_path, tmp_path / "state", shared)
    _refused(done, "unsafe socket directory", f"{shared} is writable by group or others")
    assert not (shared / "trustd.sock").exists()
    (tmp_path / "run2").mkdir(mode=0o1777)
    (tmp_path / "run2").chmod(0o1777)  # even sticky: the socket's own directory is private
    assert "writable" in (location_problem(tmp_path / "run2") or "")


def test_a_group_writable_state_directory_of_our_own_is_tightened(tmp_path: Path) -> None:
    """The existing rule (tests/store: permissions): our own directory is fixed, not refused."""
    state = tmp_path / "state"
    state.mkdir()
    state.chmod(0o775)
    open_engine(state / "trustd.sqlite3").dispose()
    assert _mode(state) == 0o755
    assert _mode(state / "trustd.sqlite3") == 0o600


def test_state_directory_of_another_user_is_refused(tmp_path: Path) -> None:
    require_root()
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    os.chown(state, OTHER, OTHER)
    done = _start(tmp_path, state)
    _refused(done, f"{state} is owned by uid {OTHER}")
    assert os.listdir(state) == []


def test_database_planted_by_another_user_is_refused(tmp_path: Path) -> None:
    """Someone who could create the file would have chosen every admin trust setting in it."""
    require_root()
    state = tmp_path / "state"
    engine = open_engine(state / "trustd.sqlite3")
    engine.dispose()
    planted = state / "trustd.sqlite3"
    os.chown(planted, OTHER, OTHER)
    before = planted.read_bytes()
    done = _start(tmp_path, state)
    _refused(done, f"{planted} is owned by uid {OTHER}")
    assert planted.read_bytes() == before
    with pytest.raises(UnsafeLocation, match="owned by uid"):
        open_engine(planted)
    os.chown(planted, 0, 0)
    shutil.rmtree(state)
    # A symbolic link in its place is refused as well.
    state.mkdir(mode=0o700)
    target = tmp_path / "elsewhere.sqlite3"
    open_engine(target).dispose()
    (state / "trustd.sqlite3").symlink_to(target)
    with pytest.raises(UnsafeLocation, match="not a regular file"):
        open_engine(state / "trustd.sqlite3")
