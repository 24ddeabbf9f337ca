"""Who may do what, over the real socket, with clients that really run as other uids.

Identity is SO_PEERCRED's (uid, and the groups the client had when it connected); nothing in a
request can change it.  Every local user may evaluate; the admin domain and the certificate
store need root (or the admin group); a user's trust settings and exceptions are that user's
alone, to read and to change.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import plistlib
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from daemons import Daemon, read_message, start_daemon
from pki import PKI
from security.clients import NOBODY, OTHER, as_uid, b64, require_root

pytestmark = pytest.mark.long(seconds=18)

NOW = dt.datetime.now(dt.UTC)
SHORT = {"not_before": NOW - dt.timedelta(days=10), "not_after": NOW + dt.timedelta(days=300)}
DENIED = "io.trustd.Trust.PermissionDenied"


def _record(*certificates: bytes) -> bytes:
    """A trust-settings plist with one unconstrained entry per certificate."""
    import hashlib

    trust_list = {
        hashlib.sha1(der).hexdigest().upper(): {
            "issuerName": b"",
            "serialNumber": b"\x01",
            "modDate": dt.datetime(2024, 1, 1),
        }
        for der in certificates
    }
    return plistlib.dumps({"trustList": trust_list, "trustVersion": 1})


def _admin_state(daemon: Daemon) -> tuple[Any, Any]:
    entries = daemon.call("CopyTrustSettings", domain="admin")["parameters"]["entries"]
    certificates = daemon.call("FindCertificates")["parameters"]["certificates"]
    return (
        sorted((e["sha1"], json.dumps(e["constraints"])) for e in entries),
        sorted(c["sha256"] for c in certificates),
    )


def test_other_users_cannot_change_admin_state(daemon: Daemon, pki: PKI) -> None:
    require_root()
    kept, stranger = pki.root("Admin Kept Root"), pki.root("Stranger Root")
    assert "error" not in daemon.call(
        "SetTrustSettings", domain="admin", certificate=b64(kept.der), constraints=[]
    )
    before = _admin_state(daemon)
    plist = b64(_record(stranger.der))
    replies = as_uid(
        daemon.socket,
        NOBODY,
        [
            ("SetTrustSettings", {"domain": "admin", "certificate": b64(stranger.der),
                                  "constraints": []}),
            ("SetTrustSettings", {"domain": "system", "certificate": b64(stranger.der),
                                  "constraints": []}),
            ("RemoveTrustSettings", {"domain": "admin", "sha1": kept.sha1}),
            ("ImportTrustSettings", {"domain": "admin", "plist": plist}),
            ("ImportTrustSettings", {"domain": "system", "plist": plist}),
            ("AddCertificates", {"certificates": [b64(stranger.der)]}),
            ("DeleteCertificate", {"sha1": kept.sha1}),
            ("Reload", {}),
        ],
    )  # fmt: skip
    assert [reply.get("error") for reply in replies] == [DENIED] * len(replies), replies
    assert _admin_state(daemon) == before
    # Reading the admin domain is open to all, as on macOS.
    [copy] = as_uid(daemon.socket, NOBODY, [("CopyTrustSettings", {"domain": "admin"})])
    assert [e["sha1"] for e in copy["parameters"]["entries"]] == [kept.sha1.upper()]


def test_users_cannot_read_or_change_each_others_settings_or_exceptions(
    daemon: Daemon, pki: PKI
) -> None:
    require_root()
    mine = pki.root("Other's Own Root")
    expired = pki.leaf(
        daemon.root,
        dns=["old.example"],
        not_before=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
        not_after=dt.datetime(2021, 1, 1, tzinfo=dt.UTC),
    )
    evaluate = {
        "certificates": [b64(expired.der)],
        "policies": [{"policy": "ssl", "name": "old.example"}],
        "host": "old.example",
        "port": 443,
    }
    [refused] = as_uid(daemon.socket, OTHER, [("Evaluate", evaluate)])
    blob = refused["parameters"]["verdict"]["exceptions"]
    setup = as_uid(
        daemon.socket,
        OTHER,
        [
            ("SetTrustSettings", {"domain": "user", "certificate": b64(mine.der),
                                  "constraints": []}),
            ("SetExceptions", {"host": "old.example", "port": 443, "exceptions": blob}),
            ("Evaluate", evaluate),
        ],
    )  # fmt: skip
    assert setup[0] == setup[1] == {"parameters": {}}
    assert setup[2]["parameters"]["verdict"]["result"] == "proceed"

    attempts = as_uid(
        daemon.socket,
        NOBODY,
        [
            ("CopyTrustSettings", {"domain": "user"}),
            ("ExportTrustSettings", {"domain": "user"}),
            ("ListExceptions", {}),
            ("RemoveTrustSettings", {"domain": "user", "sha1": mine.sha1}),
            ("RemoveExceptions", {"host": "old.example", "port": 443}),
            ("ResetExceptions", {}),
            ("ImportTrustSettings", {"domain": "user", "plist": b64(_record())}),
            ("Evaluate", evaluate),
        ],
    )
    assert attempts[0] == {"parameters": {"entries": []}}
    assert attempts[1]["error"] == "io.trustd.Trust.NoTrustSettings"
    assert attempts[2] == {"parameters": {"exceptions": []}}
    assert attempts[3]["error"] == "io.trustd.Trust.NoTrustSettings"
    assert attempts[4]["error"] == "io.trustd.Trust.NotFound"
    assert attempts[5] == {"parameters": {"epoch": 1}}  # nobody's own epoch
    assert attempts[6] == {"parameters": {"entries": 0}}  # nobody's own (empty) domain
    assert attempts[7]["parameters"]["verdict"]["result"] == "recoverableTrustFailure"

    after = as_uid(
        daemon.socket,
        OTHER,
        [("CopyTrustSettings", {"domain": "user"}), ("ListExceptions", {}), ("Evaluate", evaluate)],
    )
    assert [e["sha1"] for e in after[0]["parameters"]["entries"]] == [mine.sha1.upper()]
    assert [(e["host"], e["port"]) for e in after[1]["parameters"]["exceptions"]] == [
        ("old.example", 443)
    ]
    assert after[2]["parameters"]["verdict"]["result"] == "proceed"
    # Root is a user too: its own user domain is not anybody else's.
    assert daemon.call("CopyTrustSettings", domain="user")["parameters"]["entries"] == []
    assert daemon.call("ListExceptions")["parameters"]["exceptions"] == []


def test_a_request_cannot_claim_another_uid(daemon: Daemon, pki: PKI) -> None:
    require_root()
    theirs = pki.root("Claimed Root")
    as_uid(
        daemon.socket,
        OTHER,
        [("SetTrustSettings", {"domain": "user", "certificate": b64(theirs.der),
                               "constraints": []})],
    )  # fmt: skip
    forged = pki.root("Forged Root")
    claims: list[dict[str, Any]] = [{"uid": OTHER}, {"uid": 0}, {"caller": {"uid": 0}}]
    calls: list[tuple[str, dict[str, Any]]] = []
    for claim in claims:
        calls += [
            ("CopyTrustSettings", {"domain": "user", **claim}),
            ("ListExceptions", claim),
            ("SetTrustSettings", {"domain": "user", "certificate": b64(forged.der),
                                  "constraints": [], **claim}),
            ("SetExceptions", {"host": "claimed.example", "exceptions": b64(plistlib.dumps([])),
                               **claim}),
            ("SetTrustSettings", {"domain": "admin", "certificate": b64(forged.der),
                                  "constraints": [], **claim}),
        ]  # fmt: skip
    replies = as_uid(daemon.socket, NOBODY, calls)
    # No method takes an identity: each claim is refused as a parameter it does not declare.
    for index, reply in enumerate(replies):
        assert reply == {
            "error": "org.varlink.service.InvalidParameter",
            "parameters": {"parameter": next(iter(claims[index // 5])), "reason": "unknown"},
        }
    # Nothing was written: root's, OTHER's and nobody's own state are as they were.
    assert daemon.call("CopyTrustSettings", domain="user")["parameters"]["entries"] == []
    assert daemon.call("ListExceptions")["parameters"]["exceptions"] == []
    assert daemon.call("CopyTrustSettings", domain="admin")["parameters"]["entries"] == []
    [other] = as_uid(daemon.socket, OTHER, [("CopyTrustSettings", {"domain": "user"})])
    assert [e["sha1"] for e in other["parameters"]["entries"]] == [theirs.sha1.upper()]
    mine, raw = as_uid(daemon.socket, NOBODY, [("CopyTrustSettings", {"domain": "user"}),
                                               ("ListExceptions", {})])  # fmt: skip
    assert mine["parameters"]["entries"] == []
    assert raw["parameters"]["exceptions"] == []


# -- the admin group is the one the client had when it connected ------------------------------

ADMIN_GROUP = 4242

_HAND_OVER = textwrap.dedent(
    """
    import os, socket, sys
    os.setgroups([]); os.setgid(65534); os.setuid(65534)
    conn = socket.socket(socket.AF_UNIX)
    conn.connect(sys.argv[1])
    courier = socket.socket(fileno=int(sys.argv[2]))
    socket.send_fds(courier, [b"x"], [conn.fileno()])
    """
)


@pytest.fixture
def admin_group_daemon(pki: PKI) -> Iterator[Daemon]:
    require_root()
    base = Path(tempfile.mkdtemp(prefix="trustd-group-", dir="/tmp"))
    (base / "none.conf").write_text(f"admin_group = {ADMIN_GROUP}\n")
    running = start_daemon(base, pki.root("System Root"), "--workers", "1")
    try:
        yield running
    finally:
        running.process.kill()
        running.process.wait()
        shutil.rmtree(base, ignore_errors=True)


def _connection_of_a_dead_nobody(path: Path) -> tuple[socket.socket, int]:
    """A connection made by a process running as nobody (no groups) that has exited since."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with ours, theirs:
        child = subprocess.Popen(
            [sys.executable, "-c", _HAND_OVER, str(path), str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
        )
        _, fds, _, _ = socket.recv_fds(ours, 16, 1)
        assert child.wait(timeout=30) == 0
    return socket.socket(fileno=fds[0]), child.pid


def test_admin_group_is_the_one_the_client_had_when_it_connected(
    admin_group_daemon: Daemon, pki: PKI
) -> None:
    """A client's pid may be reused by another process after it exits: its groups must come
    from the connection (SO_PEERGROUPS), not from whatever /proc/<pid> holds at request time,
    or a client of nobody's could wait for an admin-group process to take its pid."""
    require_root()
    last_pid = Path("/proc/sys/kernel/ns_last_pid")
    if not os.access(last_pid, os.W_OK):
        pytest.skip("choosing the next pid needs a writable /proc/sys/kernel/ns_last_pid")
    org = pki.root("Pid Reuse Root")
    request = {
        "method": "io.trustd.Trust.SetTrustSettings",
        "parameters": {"domain": "admin", "certificate": b64(org.der), "constraints": []},
    }
    for _ in range(20):
        conn, pid = _connection_of_a_dead_nobody(admin_group_daemon.socket)
        with conn:
            last_pid.write_text(str(pid - 1))
            holder = subprocess.Popen(
                ["sleep", "30"], user=OTHER, group=OTHER, extra_groups=[ADMIN_GROUP]
            )
            try:
                if holder.pid != pid:
                    continue  # someone else took the pid first: try again
                assert f"\t{ADMIN_GROUP}" in Path(f"/proc/{pid}/status").read_text()
                conn.settimeout(30)
                conn.sendall(json.dumps(request).encode() + b"\0")
                reply = read_message(conn)
            finally:
                holder.kill()
                holder.wait()
        assert reply.get("error") == DENIED, reply
        entries = admin_group_daemon.call("CopyTrustSettings", domain="admin")
        assert entries["parameters"]["entries"] == []
        return
    pytest.skip("could not hand the pid over to another process in 20 tries")


def test_members_of_the_admin_group_may_change_admin_state(
    admin_group_daemon: Daemon, pki: PKI
) -> None:
    """The same path with a client that really is in the group: allowed (the check above is
    not just refusing everyone)."""
    require_root()
    org = pki.root("Group Member Root")
    request = ("SetTrustSettings", {"domain": "admin", "certificate": b64(org.der),
                                    "constraints": []})  # fmt: skip
    denied, allowed = (
        as_uid(admin_group_daemon.socket, OTHER, [request], groups=groups)[0]
        for groups in ((), (ADMIN_GROUP,))
    )
    assert denied.get("error") == DENIED
    assert allowed == {"parameters": {}}
    entries = admin_group_daemon.call("CopyTrustSettings", domain="admin")["parameters"]["entries"]
    assert [e["sha1"] for e in entries] == [org.sha1.upper()]


def test_a_users_own_certificates_serve_their_path_building_only(daemon: Daemon, pki: PKI) -> None:
    """`trustctl add-trusted-cert -k login.keychain org-root.pem` as a user: the root goes to
    the user's own store (their login keychain) and a server sending leaf and intermediate
    only validates for that user; for other users the root is unknown, and the shared store
    is not changed.  Without the keychain the root is found nowhere, as on a Mac."""
    require_root()
    org = pki.root("A User's Org Root")
    inter = pki.intermediate(org, "A User's Org CA")
    leaf = pki.leaf(inter, dns=["intranet.example"], **SHORT)
    evaluate = {"certificates": [b64(leaf.der), b64(inter.der)],
                "policies": [{"policy": "ssl", "name": "intranet.example"}]}  # fmt: skip
    trust = {"domain": "user", "certificate": b64(org.der), "constraints": []}
    own = {"certificates": [b64(org.der)], "domain": "user"}
    mine = as_uid(daemon.socket, OTHER, [
        ("SetTrustSettings", trust), ("Evaluate", evaluate),  # trusted, but in no keychain
        ("AddCertificates", own), ("Evaluate", evaluate), ("FindCertificates", {}),
    ])  # fmt: skip
    assert mine[0] == {"parameters": {}}
    assert mine[1]["parameters"]["verdict"]["result"] == "recoverableTrustFailure"
    assert mine[2] == {"parameters": {"added": [org.sha1.upper()], "existing": []}}
    verdict = mine[3]["parameters"]["verdict"]
    assert (verdict["result"], verdict["anchor_origin"]) == ("proceed", "user")
    assert [(c["sha1"], c["source"]) for c in mine[4]["parameters"]["certificates"]] == [
        (org.sha1.upper(), "user")
    ]
    theirs = as_uid(daemon.socket, NOBODY, [
        ("Evaluate", evaluate), ("FindCertificates", {}),
        ("DeleteCertificate", {"sha1": org.sha1, "domain": "user"}),
        ("AddCertificates", {"certificates": [b64(org.der)]}),  # the shared store: refused
    ])  # fmt: skip
    assert theirs[0]["parameters"]["verdict"]["result"] == "recoverableTrustFailure"
    assert theirs[1] == {"parameters": {"certificates": []}}
    assert theirs[2]["error"] == "io.trustd.Trust.NotFound"
    assert theirs[3]["error"] == DENIED
    assert daemon.call("FindCertificates")["parameters"]["certificates"] == []
    [removed, after] = as_uid(daemon.socket, OTHER, [
        ("DeleteCertificate", {"sha1": org.sha1, "domain": "user"}), ("Evaluate", evaluate),
    ])  # fmt: skip
    assert removed == {"parameters": {}}
    assert after["parameters"]["verdict"]["result"] == "recoverableTrustFailure"
