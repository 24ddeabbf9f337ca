"""Drop-in files change the store one whole file at a time, under load and under kill -9.

A distrust file names a compromised CA X and 1,000 other certificates.  Replacing it (one
atomic rename, as configuration management does) while clients evaluate a chain through X
must never let one verdict trust X; kill -9 of the daemon at any moment of an apply must leave
each file's rows whole (its old version or its new one) or absent, X denied throughout, and a
restart must apply the newest files.
"""

from __future__ import annotations

import hashlib
import os
import random
import resource
import sqlite3
import ssl
import threading
import time
from pathlib import Path

import pytest
from daemons import Daemon, start_daemon
from pki import PKI, Issued
from reliability.faults import (
    DATABASE,
    Connection,
    b64,
    bulk_certificates,
    fresh_run_dirs,
    integrity,
    kill9,
    sha256s,
)
from waiting import eventually

from trustd.core.trust_settings import SettingsResult

pytestmark = pytest.mark.long(seconds=27)

OTHERS = 1000  # certificates in the distrust file besides X
KILLS = 3
KILL_OTHERS = 500  # smaller files in the kill test: each round restarts and re-applies
SETTLE = 60  # seconds a drop-in change may take to apply (a large file, a loaded machine)


def pem(der: bytes) -> bytes:
    return ssl.DER_cert_to_PEM_cert(der).encode()


def replace_file(path: Path, ders: list[bytes]) -> None:
    """Write the new version next to the file (a hidden name the watcher skips), rename it over
    the old one: readers of the directory see the old file or the new one, whole."""
    temporary = path.with_name(f".{path.name}.new")
    temporary.write_bytes(b"".join(pem(der) for der in ders))
    temporary.chmod(0o644)
    os.replace(temporary, path)


def stored(daemon: Daemon, der: bytes) -> bool:
    sha1 = hashlib.sha1(der).hexdigest()
    reply = daemon.call("FindCertificates", sha1=sha1)
    return bool(reply["parameters"]["certificates"])


def verdict(conn: Connection, chain: list[Issued]) -> str:
    reply = conn.call("Evaluate", certificates=[b64(c.der) for c in chain])
    assert "error" not in reply, reply
    result: str = reply["parameters"]["verdict"]["result"]
    return result


def _chain(pki: PKI) -> tuple[Issued, Issued, Issued]:
    root = pki.root("System Root")
    compromised = pki.intermediate(root, "Compromised Issuing CA")
    return root, compromised, pki.leaf(compromised, dns=("www.example.org",))


def _dropin_dirs(base: Path) -> tuple[Path, Path]:
    """The daemon's drop-in directories, kept across restarts (`fresh_run_dirs` removes the
    ones `start_daemon` makes)."""
    distrust, anchors = base / "dropins" / "distrust", base / "dropins" / "anchors"
    for directory in (base / "dropins", distrust, anchors):
        directory.mkdir(mode=0o755, exist_ok=True)
        directory.chmod(0o755)
    return distrust, anchors


def _options(base: Path, workers: int = 1) -> list[str]:
    return [
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--dropin-dir",  # the last one given wins over start_daemon's
        str(base / "dropins"),
    ]


def test_replacing_a_distrust_file_under_load_never_lifts_its_deny(
    tmp_path: Path, pki: PKI
) -> None:
    root, compromised, leaf = _chain(pki)
    distrust, _ = _dropin_dirs(tmp_path)
    daemon = start_daemon(tmp_path, root, *_options(tmp_path, workers=2))
    try:
        probe = Connection(daemon.socket)
        assert verdict(probe, [leaf, compromised]) == "unspecified"  # trusted before the deny
        bad = distrust / "compromised.pem"
        replace_file(bad, [compromised.der, *bulk_certificates(OTHERS, "version 0")])
        eventually(lambda: verdict(probe, [leaf, compromised]) == "deny", SETTLE)

        verdicts: list[str] = []
        stop = threading.Event()

        def evaluate() -> None:
            conn = Connection(daemon.socket)
            try:
                while not stop.is_set():
                    verdicts.append(verdict(conn, [leaf, compromised]))
            finally:
                conn.close()

        clients = [threading.Thread(target=evaluate) for _ in range(3)]
        for client in clients:
            client.start()
        try:
            for version in range(1, 3):
                others = bulk_certificates(OTHERS, f"version {version}")
                replace_file(bad, [compromised.der, *others])
                eventually(lambda others=others: stored(daemon, others[-1]), SETTLE)
                assert not stored(daemon, bulk_certificates(1, f"version {version - 1}")[0])
                time.sleep(0.2)
        finally:
            stop.set()
            for client in clients:
                client.join(timeout=60)
        trusted = [v for v in verdicts if v != "deny"]
        assert len(verdicts) > 30, len(verdicts)
        assert trusted == [], f"{len(trusted)} of {len(verdicts)} verdicts trusted X: {trusted[:3]}"
        probe.close()
    finally:
        daemon.stop()


def _rows(database: Path, source: Path) -> tuple[set[bytes], dict[bytes, list[int]], bool]:
    """A source's certificate SHA-256s, its admin trust settings (SHA-1 -> results) and whether
    the store has a record of it, read with sqlite3 from the file the killed daemon left."""
    db = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10)
    try:
        certificates = {
            row[0]
            for row in db.execute(
                "SELECT sha256 FROM certificates WHERE source = ?", (str(source),)
            )
        }
        settings: dict[bytes, list[int]] = {}
        query = (
            "SELECT t.sha1, u.result FROM trust_settings t "
            "LEFT JOIN usage_constraints u ON u.trust_settings_id = t.id "
            "WHERE t.source = ? AND t.uid = -1 ORDER BY u.position"
        )
        for sha1, result in db.execute(query, (str(source),)):
            settings.setdefault(sha1, [])
            if result is not None:
                settings[sha1].append(result)
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        recorded = "dropin_sources" in tables and bool(
            db.execute("SELECT 1 FROM dropin_sources WHERE source = ?", (str(source),)).fetchall()
        )
        return certificates, settings, recorded
    finally:
        db.close()


def _sha1(der: bytes) -> bytes:
    return hashlib.sha1(der).digest()


def test_kill_9_during_a_drop_in_apply_leaves_each_file_whole_or_absent(
    tmp_path: Path, pki: PKI
) -> None:
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    root, compromised, _ = _chain(pki)
    database = tmp_path / "state" / DATABASE
    distrust, anchors = _dropin_dirs(tmp_path)
    daemon = start_daemon(tmp_path, root, *_options(tmp_path))
    bad, org = distrust / "compromised.pem", anchors / "org.pem"
    deny, trust_as_root = int(SettingsResult.DENY), int(SettingsResult.TRUST_AS_ROOT)

    def version(number: int) -> dict[Path, tuple[list[bytes], int]]:
        """Each file's certificates and the result its settings carry."""
        return {
            bad: ([compromised.der, *bulk_certificates(KILL_OTHERS, f"deny {number}")], deny),
            org: (bulk_certificates(100, f"anchor {number}"), trust_as_root),
        }

    def write(files: dict[Path, tuple[list[bytes], int]]) -> None:
        for path, (ders, _) in files.items():
            replace_file(path, ders)

    def applied(files: dict[Path, tuple[list[bytes], int]]) -> bool:
        return all(stored(daemon, ders[-1]) for ders, _ in files.values())

    versions = [version(0)]
    write(versions[0])
    eventually(lambda: applied(versions[0]), SETTLE)
    versions.append(version(1))
    started = time.monotonic()
    write(versions[1])
    eventually(lambda: applied(versions[1]), SETTLE)
    duration = time.monotonic() - started  # the debounce and one apply of both files

    for round_ in range(KILLS):
        versions.append(version(round_ + 2))
        fraction = (round_ + rng.random()) / KILLS * 1.1
        write(versions[-1])
        time.sleep(duration * fraction)
        kill9(daemon)
        context = f"seed {seed}, round {round_}, killed at {fraction:.2f} of {duration:.2f} s"
        assert integrity(database) == ["ok"], context
        for path in (bad, org):
            certificates, settings, recorded = _rows(database, path)
            whole = [
                number
                for number, files in enumerate(versions)
                if certificates == sha256s(files[path][0])
                and settings == {_sha1(der): [files[path][1]] for der in files[path][0]}
            ]
            assert whole, f"{path.name} is half applied ({len(certificates)} rows): {context}"
            assert recorded, f"{path.name} has rows but no record: {context}"
        _, settings, _ = _rows(database, bad)
        assert settings[_sha1(compromised.der)] == [deny], context

        fresh_run_dirs(tmp_path)
        daemon = start_daemon(tmp_path, root, *_options(tmp_path))
        eventually(lambda: applied(versions[-1]), SETTLE)
    daemon.stop()


def test_a_drop_in_change_the_database_cannot_hold_changes_nothing_and_says_so(
    tmp_path: Path, pki: PKI
) -> None:
    """The database files may not grow (RLIMIT_FSIZE on the daemon, as systemd's LimitFSIZE=
    would set): a bigger version of the distrust file is not applied, the old one stays whole
    and keeps denying, Status says why, and a reload once there is room applies it."""
    root, compromised, leaf = _chain(pki)
    distrust, _ = _dropin_dirs(tmp_path)
    daemon = start_daemon(tmp_path, root, *_options(tmp_path))
    pid = daemon.process.pid
    _, hard = resource.prlimit(pid, resource.RLIMIT_FSIZE)
    try:
        bad = distrust / "compromised.pem"
        old = [compromised.der, *bulk_certificates(100, "small version")]
        replace_file(bad, old)
        probe = Connection(daemon.socket)
        eventually(lambda: stored(daemon, old[-1]), SETTLE)
        files = [daemon.state / DATABASE, daemon.state / (DATABASE + "-wal")]
        limit = max(path.stat().st_size for path in files) + 2**16
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (limit, hard))
        new = [compromised.der, *bulk_certificates(1500, "big version")]  # under 1 MiB of PEM
        replace_file(bad, new)

        def problems() -> list[str]:
            found: list[str] = daemon.call("Status")["parameters"]["dropin_problems"]
            return found

        eventually(lambda: any("not appl" in p for p in problems()), 40)
        assert verdict(probe, [leaf, compromised]) == "deny"
        assert any(p.startswith("drop-ins not applied: ") for p in problems()), problems()
        assert stored(daemon, old[-1]) and not stored(daemon, new[-1])  # the old one, whole

        resource.prlimit(pid, resource.RLIMIT_FSIZE, (hard, hard))
        assert daemon.call("Reload") == {"parameters": {}}
        eventually(lambda: stored(daemon, new[-1]) and not stored(daemon, old[-1]), SETTLE)
        assert problems() == []
        assert verdict(probe, [leaf, compromised]) == "deny"
        probe.close()
    finally:
        daemon.stop()
    assert integrity(daemon.state / DATABASE) == ["ok"]
