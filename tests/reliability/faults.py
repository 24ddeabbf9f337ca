"""Helpers for the fault and load tests: many cheap certificates, daemons to kill, and the
database read back the way an administrator would (sqlite3 and the store itself)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from daemons import Daemon, read_message

from trustd.store.engine import open_engine
from trustd.store.repository import TrustStore

DATABASE = "trustd.sqlite3"
_KEY = ed25519.Ed25519PrivateKey.generate()
_ISSUER = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Bulk Issuing CA")])


def bulk_certificates(count: int, tag: str) -> list[bytes]:
    """`count` distinct real certificates (DER) whose subjects start with `tag`: one Ed25519
    key signs them all, so 10,000 take well under a second."""
    public = _KEY.public_key()
    out = []
    for index in range(count):
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{tag} {index}")]))
            .issuer_name(_ISSUER)
            .public_key(public)
            .serial_number(index + 1)
            .not_valid_before(dt.datetime(2020, 1, 1))
            .not_valid_after(dt.datetime(2040, 1, 1))
        )
        out.append(builder.sign(_KEY, None).public_bytes(Encoding.DER))
    return out


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def sha256s(ders: list[bytes]) -> set[bytes]:
    return {hashlib.sha256(der).digest() for der in ders}


def message(method: str, **parameters: Any) -> bytes:
    return json.dumps({"method": f"io.trustd.Trust.{method}", "parameters": parameters}).encode()


class Connection:
    """One client connection that sends a call and waits for its reply."""

    def __init__(self, path: Path, timeout: float = 60) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))

    def call(self, method: str, **parameters: Any) -> dict[str, Any]:
        self.sock.sendall(message(method, **parameters) + b"\0")
        return read_message(self.sock)

    def close(self) -> None:
        self.sock.close()


def kill9(daemon: Daemon) -> None:
    """SIGKILL: no handler runs, nothing is flushed or closed by the daemon."""
    daemon.process.send_signal(signal.SIGKILL)
    daemon.process.wait(timeout=30)
    assert daemon.process.returncode == -signal.SIGKILL


def integrity(database: Path) -> list[str]:
    """PRAGMA integrity_check on the file as it is (the WAL is recovered as SQLite always does)."""
    connection = sqlite3.connect(f"file:{database}?mode=rw", uri=True, timeout=10)
    try:
        return [row[0] for row in connection.execute("PRAGMA integrity_check")]
    finally:
        connection.close()


@contextmanager
def store_of(database: Path) -> Iterator[TrustStore]:
    """The trust store of a daemon that is not running, read through the repository."""
    engine = open_engine(database)
    try:
        yield TrustStore(engine)
    finally:
        engine.dispose()


def stored_sha256s(database: Path) -> set[bytes]:
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10)
    try:
        return {row[0] for row in connection.execute("SELECT sha256 FROM certificates")}
    finally:
        connection.close()


def fresh_run_dirs(base: Path) -> None:
    """Let api.conftest.start_daemon start again on `base` (it creates these itself)."""
    import shutil

    for leftover in ("run", "etc"):
        shutil.rmtree(base / leftover, ignore_errors=True)
    (base / "bundle.pem").unlink(missing_ok=True)


def rss_kib(pid: int) -> int:
    """Resident memory of a process, from /proc (KiB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise LookupError(pid)


def wait_gone(process: subprocess.Popen[bytes], seconds: float = 30) -> int:
    deadline = time.monotonic() + seconds
    while process.poll() is None:
        assert time.monotonic() < deadline, "the daemon did not exit"
        time.sleep(0.05)
    return process.returncode


def environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "LISTEN_FDS")}
