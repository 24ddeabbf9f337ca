"""A write that cannot be stored is reported to its client, and loses nothing stored before.

Two real ways for a write to fail, no hook in trustd:

- a full file system: the state directory on a small tmpfs that the test fills (root only;
  skipped elsewhere);
- a file-size limit (RLIMIT_FSIZE, set on the running daemon with prlimit, as systemd's
  LimitFSIZE= would): the database files may not grow, for any user.

In both, the write in progress gets an error reply (never a hang, never a success), everything
acknowledged before is still there, reads go on, and once there is room again the same write
succeeds; the database passes integrity_check afterwards.
"""

from __future__ import annotations

import contextlib
import errno
import os
import resource
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from daemons import Daemon, start_daemon
from pki import PKI
from reliability.faults import (
    DATABASE,
    Connection,
    b64,
    bulk_certificates,
    integrity,
    sha256s,
    stored_sha256s,
)

STORAGE_FAILURE = "io.trustd.Trust.StorageFailure"
REASONS = {"database or disk is full", "disk I/O error"}  # SQLite's words for ENOSPC, EFBIG
STORED = 200  # certificates acknowledged before the disk fills
IMPORT = 2000  # an import that needs MBs more than there is


def _scenario(
    daemon: Daemon, database: Path, fill: Callable[[], None], free: Callable[[], None], pki: PKI
) -> None:
    root = pki.root("Kept Admin Root")
    before = bulk_certificates(STORED, "stored before")
    conn = Connection(daemon.socket, timeout=60)
    try:
        assert (
            len(
                conn.call("AddCertificates", certificates=[b64(d) for d in before])["parameters"][
                    "added"
                ]
            )
            == STORED
        )
        assert conn.call("SetTrustSettings", domain="admin", certificate=b64(root.der),
                         constraints=[]) == {"parameters": {}}  # fmt: skip
        acknowledged = sha256s([*before, root.der])
        fill()
        big = bulk_certificates(IMPORT, "after the disk filled")
        reply = conn.call("AddCertificates", certificates=[b64(d) for d in big])
        assert reply.get("error") == STORAGE_FAILURE, reply  # reported, not acknowledged
        assert reply["parameters"]["reason"] in REASONS, reply
        # Small writes may fit in space SQLite already has; each is an answer either way.
        for _ in range(20):
            answer = conn.call("ResetExceptions")
            assert answer.get("error") == STORAGE_FAILURE or answer["parameters"]["epoch"] >= 1
        # Reads go on, and show everything stored before and nothing of the failed import.
        assert conn.call("Echo", text="alive") == {"parameters": {"text": "alive"}}
        status = conn.call("Status")["parameters"]
        assert status["counts"]["certificates"] == STORED + 1
        assert status["counts"]["admin_settings"] == 1
        free()
        again = conn.call("AddCertificates", certificates=[b64(d) for d in big])
        assert len(again["parameters"]["added"]) == IMPORT, again
    finally:
        conn.close()
    assert daemon.stop() == 0
    assert integrity(database) == ["ok"]
    stored = stored_sha256s(database)
    assert acknowledged | sha256s(big) <= stored
    log = daemon.log.read_text()
    assert any(f"the database failed: {reason}" in log for reason in REASONS)


@contextlib.contextmanager
def _tmpfs(path: Path, size: str) -> Iterator[None]:
    path.mkdir(mode=0o700)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_full_file_system(pki: PKI) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root")
    base = Path(tempfile.mkdtemp(prefix="trustd-full-", dir="/tmp"))
    small = base / "small"
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, base, ignore_errors=True)  # after the unmount
        cleanup.enter_context(_tmpfs(small, "8m"))
        state = small / "state"
        daemon = start_daemon(base, pki.root("System Root"), "--workers", "1",
                              "--state-dir", str(state))  # fmt: skip
        filler = small / "filler"

        def fill() -> None:
            with filler.open("wb") as stream:
                try:
                    while True:
                        stream.write(b"\0" * 65536)
                        stream.flush()
                except OSError as problem:
                    assert problem.errno == errno.ENOSPC
            assert os.statvfs(small).f_bavail == 0

        try:
            _scenario(daemon, state / DATABASE, fill, filler.unlink, pki)
        finally:
            if daemon.process.poll() is None:
                daemon.process.kill()
                daemon.process.wait()


def test_file_size_limit(tmp_path: Path, pki: PKI) -> None:
    daemon = start_daemon(tmp_path, pki.root("System Root"), "--workers", "1",
                          "--log-level", "warning")  # fmt: skip
    pid = daemon.process.pid
    _, hard = resource.prlimit(pid, resource.RLIMIT_FSIZE)
    wal = daemon.state / (DATABASE + "-wal")

    def fill() -> None:  # the files may not grow past 1 MiB more than the WAL has now
        limit = max(wal.stat().st_size, (daemon.state / DATABASE).stat().st_size) + 2**20
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (limit, hard))

    def free() -> None:
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (hard, hard))

    try:
        _scenario(daemon, daemon.state / DATABASE, fill, free, pki)
    finally:
        if daemon.process.poll() is None:
            daemon.process.kill()
            daemon.process.wait()
