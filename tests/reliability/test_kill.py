"""kill -9 of the daemon in the middle of writes, again and again.

After every kill the database opens, passes PRAGMA integrity_check, holds each change whole
or not at all, and holds every change the daemon acknowledged.  A change is one call: an
AddCertificates of 10,000 certificates, a SetTrustSettings, an ImportTrustSettings of a whole
domain, a SetExceptions (each with its audit row).  The kill points are spread over the
import's duration, which is measured first; the seed is in every assertion message.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import plistlib
import random
import select
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from daemons import Daemon, read_message, start_daemon
from pki import PKI, Issued
from reliability.faults import (
    DATABASE,
    Connection,
    b64,
    bulk_certificates,
    fresh_run_dirs,
    integrity,
    kill9,
    message,
    sha256s,
    store_of,
    stored_sha256s,
)

from trustd.core.trust_settings import Domain

pytestmark = pytest.mark.long(seconds=46)

BULK = 10_000
IMPORT_KILLS = 4  # plus one import that is acknowledged and killed right after its reply
EDIT_ROUNDS = 10


def audited(database: Path, operation: str) -> int:
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        query = "SELECT count(*) FROM audit_log WHERE operation = ?"
        count: int = connection.execute(query, (operation,)).fetchone()[0]
        return count
    finally:
        connection.close()


def _start(base: Path, root: Issued) -> Daemon:
    fresh_run_dirs(base)
    return start_daemon(base, root, "--workers", "1", "--log-level", "warning")


def _import_until(daemon: Daemon, ders: list[bytes], kill_after: float | None) -> bool:
    """Send one AddCertificates of `ders`; kill -9 after `kill_after` seconds (None: after the
    reply).  Whether the daemon acknowledged the import before it died."""
    conn = Connection(daemon.socket, timeout=300)
    try:
        started = time.monotonic()
        conn.sock.sendall(message("AddCertificates", certificates=[b64(d) for d in ders]) + b"\0")
        wait = None if kill_after is None else max(0.0, started + kill_after - time.monotonic())
        ready, _, _ = select.select([conn.sock], [], [], wait)
        acknowledged = False
        if ready:
            reply = read_message(conn.sock)
            assert "error" not in reply, reply
            assert len(reply["parameters"]["added"]) == len(ders)
            acknowledged = True
        kill9(daemon)
        return acknowledged
    finally:
        conn.close()


def test_kill_9_during_an_import_of_10000_certificates(tmp_path: Path, pki: PKI) -> None:
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    root = pki.root("System Root")
    database = tmp_path / "state" / DATABASE
    daemon = start_daemon(tmp_path, root, "--workers", "1", "--log-level", "warning")
    small = [pki.root(f"Small Root {i}") for i in range(IMPORT_KILLS + 2)]
    assert "error" not in daemon.call("AddCertificates", certificates=[b64(small[0].der)])
    acknowledged = sha256s([small[0].der])
    batch_number = 0
    batch = bulk_certificates(BULK, f"bulk {batch_number}")

    # The whole import, acknowledged, then kill -9 at once: every certificate is there.
    started = time.monotonic()
    assert _import_until(daemon, batch, None)
    duration = time.monotonic() - started
    assert integrity(database) == ["ok"]
    acknowledged |= sha256s(batch)
    assert acknowledged <= stored_sha256s(database)

    outcomes = []
    batch_number += 1
    batch = bulk_certificates(BULK, f"bulk {batch_number}")
    for round_ in range(IMPORT_KILLS):
        daemon = _start(tmp_path, root)  # the database opens after the previous kill
        extra = small[round_ + 1]
        assert "error" not in daemon.call(
            "SetTrustSettings", domain="admin", certificate=b64(extra.der), constraints=[]
        )
        acknowledged |= sha256s([extra.der])  # an admin anchor is added to the store
        # Spread over the import: stratified, so that early, middle and late kills all occur.
        fraction = (round_ + rng.random()) / IMPORT_KILLS * 1.05
        acked = _import_until(daemon, batch, duration * fraction)
        context = f"seed {seed}, round {round_}, killed at {fraction:.2f} of {duration:.1f} s"
        assert integrity(database) == ["ok"], context
        stored = stored_sha256s(database)
        assert acknowledged <= stored, context
        landed = stored & sha256s(batch)
        assert len(landed) in (0, BULK), f"{len(landed)} of {BULK} certificates: {context}"
        if acked:
            assert len(landed) == BULK, context
        outcomes.append("whole" if landed else "none")
        if landed:
            acknowledged |= landed
            batch_number += 1
            batch = bulk_certificates(BULK, f"bulk {batch_number}")  # a new one to import
        # The audit rows went with their change: one per certificate added, no more, no less.
        assert audited(database, "add-certificate") == len(stored), context
    assert "none" in outcomes, f"no kill interrupted an import ({outcomes}, seed {seed})"

    daemon = _start(tmp_path, root)
    try:
        status = daemon.call("Status")["parameters"]
        assert status["counts"]["certificates"] == len(stored_sha256s(database))
    finally:
        assert daemon.stop() == 0


# -- trust-settings edits -------------------------------------------------------------------


class Editor(threading.Thread):
    """One client editing in a loop until the daemon dies; remembers what was acknowledged
    and what was in flight when the connection broke."""

    def __init__(self, daemon: Daemon, calls: Any) -> None:
        super().__init__(daemon=True)
        self.conn = Connection(daemon.socket, timeout=30)
        self.calls = calls  # iterator of (tag, method, parameters)
        self.acknowledged: list[str] = []
        self.in_flight: str | None = None
        self.errors: list[dict[str, Any]] = []

    def run(self) -> None:
        try:
            for tag, method, parameters in self.calls:
                self.in_flight = tag
                reply = self.conn.call(method, **parameters)
                if "error" in reply:
                    self.errors.append(reply)
                    return
                self.acknowledged.append(tag)
                self.in_flight = None
        except OSError:
            return  # the daemon died under us
        finally:
            self.conn.close()


def _domain_record(certificates: list[Issued], tag: str) -> str:
    trust_list = {
        hashlib.sha1(cert.der).hexdigest().upper(): {
            "issuerName": b"",
            "serialNumber": b"\x01",
            "modDate": dt.datetime(2024, 1, 1),
            "trustSettings": [{"kSecTrustSettingsPolicyString": tag, "kSecTrustSettingsResult": 1}],
        }
        for cert in certificates
    }
    return b64(plistlib.dumps({"trustList": trust_list, "trustVersion": 1}))


def test_kill_9_during_trust_settings_edits(tmp_path: Path, pki: PKI) -> None:
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    root = pki.root("System Root")
    database = tmp_path / "state" / DATABASE
    edited = [pki.root(f"Edited Root {i}") for i in range(4)]
    imported = [pki.root(f"Imported Root {i}") for i in range(8)]
    admin: dict[str, set[str]] = {}  # sha1 -> the values it may hold now
    domain: set[str] = {"(none)"}  # the tags the user domain may carry now
    hosts: set[str] = set()  # exceptions stored for certain
    blob = b64(plistlib.dumps([{"SSLHostname": False}], fmt=plistlib.FMT_BINARY))

    for round_ in range(EDIT_ROUNDS):
        daemon = _start(tmp_path, root)

        def admin_calls(r: int = round_) -> Any:
            for n in range(10**6):
                cert = edited[n % len(edited)]
                tag = f"{r}.{n}"
                constraints = [{"policy_string": tag, "result": 1}]
                yield (f"{cert.sha1.upper()}={tag}", "SetTrustSettings",
                       {"domain": "admin", "certificate": b64(cert.der),
                        "constraints": constraints})  # fmt: skip

        def import_calls(r: int = round_) -> Any:
            for n in range(10**6):
                tag = f"{r}.{n}"
                record = _domain_record(imported, tag)
                yield tag, "ImportTrustSettings", {"domain": "user", "plist": record}

        def exception_calls(r: int = round_) -> Any:
            for n in range(10**6):
                host = f"r{r}-{n}.example"
                yield host, "SetExceptions", {"host": host, "port": 443, "exceptions": blob}

        editors = [
            Editor(daemon, admin_calls()),
            Editor(daemon, import_calls()),
            Editor(daemon, exception_calls()),
        ]
        for editor in editors:
            editor.start()
        # Every client gets work done (writers take turns), then the kill comes at random.
        deadline = time.monotonic() + 10
        while not all(e.acknowledged for e in editors) and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.5))
        kill9(daemon)
        for editor in editors:
            editor.join(timeout=30)
        context = f"seed {seed}, round {round_}"
        assert not any(e.errors for e in editors), ([e.errors for e in editors], context)
        assert all(e.acknowledged for e in editors), (
            [len(e.acknowledged) for e in editors],
            context,
        )
        assert integrity(database) == ["ok"], context

        # What each client may find now: its last acknowledged value, or the one in flight.
        setter, importer, excepter = editors
        for cert in edited:
            key = cert.sha1.upper()
            done = [t.split("=")[1] for t in setter.acknowledged if t.startswith(key)]
            if done:
                admin[key] = {done[-1]}
        if setter.in_flight is not None:
            key, tag = setter.in_flight.split("=")
            admin[key] = admin.get(key, {"(none)"}) | {tag}
        if importer.acknowledged:
            domain = {importer.acknowledged[-1]}
        if importer.in_flight is not None:
            domain = domain | {importer.in_flight}
        hosts |= set(excepter.acknowledged)
        possible_hosts = hosts | ({excepter.in_flight} if excepter.in_flight else set())

        with store_of(database) as store:
            stored_admin = {
                entry.key: entry.constraints[0].policy_string or "(none)"
                for entry, _ in store.trust_settings(Domain.ADMIN, 0)
            }
            user_entries = [entry for entry, _ in store.trust_settings(Domain.USER, 0)]
            stored_hosts = {e.host for e in store.list_exceptions(0)}
        for key, allowed in admin.items():
            assert stored_admin.get(key, "(none)") in allowed, (key, stored_admin, context)
        tags = {e.constraints[0].policy_string for e in user_entries} or {"(none)"}
        assert len(tags) == 1, f"a domain import was applied in part: {tags}, {context}"
        assert len(user_entries) in (0, len(imported)), context
        assert tags <= domain, (tags, domain, context)
        assert hosts <= stored_hosts <= possible_hosts, context
        # Each change and its audit row are one transaction.
        assert audited(database, "set-exceptions") == len(stored_hosts), context
        # What is stored now is what the next round must keep.
        admin = {key: {value} for key, value in stored_admin.items()}
        domain = tags
        hosts = stored_hosts

    daemon = _start(tmp_path, root)
    try:
        entries = daemon.call("CopyTrustSettings", domain="admin")["parameters"]["entries"]
        assert {e["sha1"]: e["constraints"][0]["policy_string"] for e in entries} == {
            key: next(iter(values)) for key, values in admin.items()
        }
    finally:
        assert daemon.stop() == 0
