"""A damaged database at start: one clear line, a non-zero exit, and the file left as it was.

The daemon never serves from a file that fails SQLite's quick_check, and never replaces it
with an empty store: the trust settings in it are the administrator's, to restore from a
backup.  Damage inside a certificate's bytes, which no SQLite check can see, is caught when
the row is read (its DER no longer hashes to its key) and answered with StorageFailure.
"""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from pki import PKI
from reliability.faults import DATABASE, environment

from trustd.core.certificates import parse_certificate
from trustd.core.trust_settings import Domain
from trustd.store.engine import migrate, open_engine
from trustd.store.repository import Actor, TrustStore

PAGE = 4096


@pytest.fixture(scope="module")
def good_database(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real store with a few hundred certificates and admin settings (many pages)."""
    from pki import PKI

    pki = PKI()
    path = tmp_path_factory.mktemp("good") / DATABASE
    engine = open_engine(path)
    migrate(engine)
    store = TrustStore(engine)
    root = pki.root("Kept Root")
    leaves = [parse_certificate(pki.leaf(root, f"leaf {i}", key=root.key).der) for i in range(300)]
    store.add_certificates(leaves, source="api", actor=Actor(0, 1))
    store.set_trust_settings(Domain.ADMIN, 0, parse_certificate(root.der), [], actor=Actor(0, 1))
    engine.dispose()  # checkpoints: everything is in the main file
    assert not path.with_name(DATABASE + "-wal").exists()
    return path.read_bytes()


def _overwrite_page(page: int) -> Callable[[bytes], bytes]:
    def damage(data: bytes) -> bytes:
        noise = random.Random(page).randbytes(PAGE)
        return data[: page * PAGE] + noise + data[(page + 1) * PAGE :]

    return damage


def _unknown_revision(data: bytes, path: Path) -> None:
    path.write_bytes(data)
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE alembic_version SET version_num = 'ffffffffffff'")
    connection.close()


DAMAGE: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "garbage": (lambda data: random.Random(1).randbytes(len(data)), "file is not a database"),
    "no header": (lambda data: bytes(100) + data[100:], "file is not a database"),
    "truncated": (lambda data: data[: len(data) // 2], "malformed"),
    "schema page": (_overwrite_page(1), ""),
    "table page": (_overwrite_page(40), ""),
    "last page": (lambda data: _overwrite_page(len(data) // PAGE - 1)(data), ""),
}


def _start(base: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable, "-m", "trustd.daemon",
            "--socket", str(base / "run" / "trustd.sock"),
            "--state-dir", str(base / "state"),
            "--dropin-dir", str(base / "etc"),
            "--config", str(base / "none.conf"),
            "--ca-bundle", str(base / "none.pem"),
            "--workers", "1",
        ],
        capture_output=True, text=True, timeout=60, check=False, env=environment(),
    )  # fmt: skip


def _assert_refused(done: subprocess.CompletedProcess[str], path: Path, words: str) -> None:
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"trustd: the database {path} cannot be ")
    assert "it was left untouched" in lines[0]
    assert words in lines[0]


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_damaged_database_stops_the_daemon_and_is_left_as_it_was(
    good_database: bytes, tmp_path: Path, kind: str
) -> None:
    damage, words = DAMAGE[kind]
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    path = state / DATABASE
    damaged = damage(good_database)
    path.write_bytes(damaged)
    path.chmod(0o600)
    done = _start(tmp_path)
    _assert_refused(done, path, words)
    assert path.read_bytes() == damaged  # not repaired, not replaced, not reset
    assert not (tmp_path / "run" / "trustd.sock").exists()  # it never served


def test_database_of_an_unknown_schema_is_refused(good_database: bytes, tmp_path: Path) -> None:
    """A database written by a newer trustd: refused, not downgraded or reset."""
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    path = state / DATABASE
    _unknown_revision(good_database, path)
    path.chmod(0o600)
    before = path.read_bytes()
    done = _start(tmp_path)
    _assert_refused(done, path, "ffffffffffff")
    assert "cannot be migrated" in done.stderr
    assert path.read_bytes() == before


def test_the_undamaged_copy_starts(good_database: bytes, tmp_path: Path, pki: PKI) -> None:
    """The same file, undamaged, is served: the refusals above are about the damage."""
    from daemons import start_daemon

    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    (state / DATABASE).write_bytes(good_database)
    (state / DATABASE).chmod(0o600)
    running = start_daemon(tmp_path, pki.root("System Root"), "--workers", "1")
    try:
        status = running.call("Status")["parameters"]
        assert status["counts"]["certificates"] == 300
        assert status["counts"]["admin_settings"] == 1
    finally:
        assert running.stop() == 0


def test_a_damaged_certificate_row_is_reported_not_served(
    good_database: bytes, tmp_path: Path, pki: PKI
) -> None:
    from daemons import start_daemon

    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    path = state / DATABASE
    path.write_bytes(good_database)
    with sqlite3.connect(path) as connection:  # one bit of one certificate's DER flips
        sha256, der = connection.execute("SELECT sha256, der FROM certificates LIMIT 1").fetchone()
        damaged = der[:-10] + bytes([der[-10] ^ 1]) + der[-9:]
        connection.execute("UPDATE certificates SET der = ? WHERE sha256 = ?", (damaged, sha256))
    connection.close()
    path.chmod(0o600)
    running = start_daemon(tmp_path, pki.root("System Root"), "--workers", "1")
    try:
        reply = running.call("FindCertificates", sha256=sha256.hex())
        assert reply["error"] == "io.trustd.Trust.StorageFailure", reply
        assert reply["parameters"]["reason"] == (
            f"the stored certificate {sha256.hex().upper()} is damaged"
        )
        assert running.call("Echo", text="still here") == {"parameters": {"text": "still here"}}
    finally:
        assert running.stop() == 0
