"""The daemon over its socket: evaluation, administration, authorisation and bad clients."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pytest
import varlink
from daemons import Daemon, call, read_message, restart_daemon, running_daemon
from pki import PKI
from waiting import eventually

pytestmark = pytest.mark.long(seconds=25)

NOBODY = 65534
SHORT = {
    "not_before": dt.datetime.now(dt.UTC) - dt.timedelta(days=10),
    "not_after": dt.datetime.now(dt.UTC) + dt.timedelta(days=300),
}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_introspection_with_the_pypi_varlink_client(daemon: Daemon) -> None:
    """An independent client (the varlink package) parses our interface and calls it."""
    with varlink.Client(address=f"unix:{daemon.socket}") as client:
        assert "io.trustd.Trust" in client.get_interfaces()
        with client.open("io.trustd.Trust") as trust:
            assert trust.Echo("hello") == {"text": "hello"}
            status = trust.Status()
            assert status["counts"]["system_anchors"] == 1
            assert status["version"]


def test_evaluate_with_the_pypi_client(daemon: Daemon, pki: PKI) -> None:
    leaf = pki.leaf(daemon.root, dns=["www.example"], **SHORT)
    with (
        varlink.Client(address=f"unix:{daemon.socket}") as client,
        client.open("io.trustd.Trust", namespaced=True) as trust,
    ):
        reply = trust.Evaluate(
            certificates=[b64(leaf.der)], policies=[{"policy": "ssl", "name": "www.example"}]
        )
        assert reply.verdict.result == "unspecified"
        assert reply.verdict.trusted is True


def test_an_empty_policy_name_is_checked_over_the_wire(daemon: Daemon, pki: PKI) -> None:
    leaf = pki.leaf(daemon.root, dns=["www.example"], **SHORT)
    for name, trusted in (("www.example", True), ("", False)):
        verdict = daemon.call(
            "Evaluate", certificates=[b64(leaf.der)], policies=[{"policy": "ssl", "name": name}]
        )["parameters"]["verdict"]
        assert verdict["trusted"] is trusted, name
    failures = [f["check"] for f in verdict["failures"]]
    assert failures == ["SSLHostname"]


def test_unknown_policy_and_bad_certificate_are_typed_errors(daemon: Daemon) -> None:
    reply = daemon.call("Evaluate", certificates=[b64(b"junk")], policies=[{"policy": "nope"}])
    assert reply["error"] == "io.trustd.Trust.UnknownPolicy"
    reply = daemon.call("Evaluate", certificates=[b64(b"junk")])
    assert reply["parameters"]["verdict"]["result"] == "fatalTrustFailure"
    assert daemon.call("Evaluate", certificates=["***"])["error"] == (
        "org.varlink.service.InvalidParameter"
    )
    assert daemon.call("Evaluate", certificates="x")["error"] == (
        "org.varlink.service.InvalidParameter"
    )
    assert daemon.call("Nope")["error"] == "org.varlink.service.MethodNotFound"


def test_stored_exceptions_apply_to_their_host(daemon: Daemon, pki: PKI) -> None:
    expired = pki.leaf(
        daemon.root,
        dns=["old.example"],
        not_before=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
        not_after=dt.datetime(2021, 1, 1, tzinfo=dt.UTC),
    )
    ssl = [{"policy": "ssl", "name": "old.example"}]
    refused = daemon.call(
        "Evaluate", certificates=[b64(expired.der)], policies=ssl, host="old.example", port=443
    )["parameters"]["verdict"]
    assert refused["result"] == "recoverableTrustFailure"
    assert daemon.call(
        "SetExceptions", host="old.example", port=443, exceptions=refused["exceptions"]
    ) == {"parameters": {}}
    accepted = daemon.call(
        "Evaluate", certificates=[b64(expired.der)], policies=ssl, host="old.example", port=443
    )["parameters"]["verdict"]
    assert accepted["result"] == "proceed" and accepted["exceptions_applied"]
    other_port = daemon.call(
        "Evaluate", certificates=[b64(expired.der)], policies=ssl, host="old.example", port=8443
    )["parameters"]["verdict"]
    assert other_port["result"] == "recoverableTrustFailure"
    assert daemon.call("ResetExceptions")["parameters"]["epoch"] == 1
    after_reset = daemon.call(
        "Evaluate", certificates=[b64(expired.der)], policies=ssl, host="old.example", port=443
    )["parameters"]["verdict"]
    assert after_reset["result"] == "recoverableTrustFailure"


def test_admin_trust_settings_and_deny(daemon: Daemon, pki: PKI) -> None:
    org = pki.root("Org Root")
    leaf = pki.leaf(org, dns=["intranet.example"], **SHORT)
    request = {
        "certificates": [b64(leaf.der)],
        "policies": [{"policy": "ssl", "name": "intranet.example"}],
    }
    before = daemon.call("Evaluate", **request)["parameters"]["verdict"]
    assert before["result"] == "recoverableTrustFailure"
    assert daemon.call("AddCertificates", certificates=[b64(org.der)])["parameters"]["added"]
    assert "error" not in daemon.call(
        "SetTrustSettings", domain="admin", certificate=b64(org.der), constraints=[]
    )
    assert daemon.call("Evaluate", **request)["parameters"]["verdict"]["result"] == "proceed"
    entries = daemon.call("CopyTrustSettings", domain="admin")["parameters"]["entries"]
    assert [e["subject"] for e in entries] == ["Org Root"]
    assert "error" not in daemon.call(
        "SetTrustSettings", domain="admin", certificate=b64(org.der), constraints=[{"result": 3}]
    )
    assert daemon.call("Evaluate", **request)["parameters"]["verdict"]["result"] == "deny"
    invalid = daemon.call(
        "SetTrustSettings", domain="admin", certificate=b64(leaf.der), constraints=[]
    )
    assert invalid["error"] == "io.trustd.Trust.InvalidTrustSettings"
    missing = daemon.call("RemoveTrustSettings", domain="user", sha1="AA" * 20)
    assert missing["error"] == "io.trustd.Trust.NoTrustSettings"


def _as_nobody(daemon: Daemon, method: str, parameters: dict[str, object]) -> dict[str, object]:
    """Call the daemon from a real second uid: a client process that switched to nobody."""
    script = textwrap.dedent(
        f"""
        import json, os, socket
        os.setgid({NOBODY}); os.setgroups([]); os.setuid({NOBODY})
        s = socket.socket(socket.AF_UNIX)
        s.connect({str(daemon.socket)!r})
        s.sendall(json.dumps({{"method": "io.trustd.Trust." + {method!r},
                               "parameters": {json.dumps(parameters)!r} and
                               json.loads({json.dumps(parameters)!r})}}).encode() + b"\\0")
        data = b""
        while b"\\0" not in data:
            data += s.recv(65536)
        print(data.split(b"\\0")[0].decode())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=True
    )
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_authorisation_comes_from_peer_credentials(daemon: Daemon, pki: PKI) -> None:
    if os.geteuid() != 0:
        import pytest

        pytest.skip("switching to another uid needs root")
    org = pki.root("Org Root")
    denied = _as_nobody(
        daemon,
        "SetTrustSettings",
        {"domain": "admin", "certificate": b64(org.der), "constraints": []},
    )
    assert denied["error"] == "io.trustd.Trust.PermissionDenied"
    assert _as_nobody(daemon, "AddCertificates", {"certificates": [b64(org.der)]})["error"] == (
        "io.trustd.Trust.PermissionDenied"
    )
    own = _as_nobody(
        daemon,
        "SetTrustSettings",
        {"domain": "user", "certificate": b64(org.der), "constraints": []},
    )
    assert own == {"parameters": {}}
    # nobody's user settings are nobody's: root sees none of them.
    assert daemon.call("CopyTrustSettings", domain="user")["parameters"]["entries"] == []
    mine = _as_nobody(daemon, "CopyTrustSettings", {"domain": "user"})
    entries = mine["parameters"]["entries"]  # type: ignore[index]
    assert [e["sha1"] for e in entries] == [org.sha1.upper()]
    leaf = pki.leaf(org, dns=["x.example"], **SHORT)
    chain = [b64(leaf.der), b64(org.der)]  # a user's settings do not add the root to the store
    as_nobody = _as_nobody(daemon, "Evaluate", {"certificates": chain})
    assert as_nobody["parameters"]["verdict"]["result"] == "proceed"  # type: ignore[index]
    as_root = daemon.call("Evaluate", certificates=chain)
    assert as_root["parameters"]["verdict"]["result"] == "recoverableTrustFailure"


def test_bad_clients_do_not_affect_others(daemon: Daemon) -> None:
    # An oversized message without a terminator.
    with socket.socket(socket.AF_UNIX) as big:
        big.settimeout(10)
        big.connect(str(daemon.socket))
        try:
            big.sendall(b"x" * (9 * 1024 * 1024))
            assert read_message(big)["error"] == "io.trustd.Trust.RequestTooLarge"
        except (BrokenPipeError, ConnectionResetError):
            pass  # closed on us: equally fine
    # Invalid JSON: an error, then the connection is closed.
    with socket.socket(socket.AF_UNIX) as bad:
        bad.settimeout(10)
        bad.connect(str(daemon.socket))
        bad.sendall(b"{not json\0")
        assert read_message(bad)["error"] == "org.varlink.service.InvalidParameter"
    # A half-sent message keeps its connection busy, not the daemon.
    half = socket.socket(socket.AF_UNIX)
    half.connect(str(daemon.socket))
    half.sendall(b'{"method": "io.trustd.Trust.Ech')
    try:
        assert call(daemon.socket, "io.trustd.Trust.Echo", {"text": "still here"}) == {
            "parameters": {"text": "still here"}
        }
    finally:
        half.close()


def test_monitor_streams_changes(daemon: Daemon, pki: PKI) -> None:
    conn = socket.socket(socket.AF_UNIX)
    conn.settimeout(10)
    conn.connect(str(daemon.socket))
    conn.sendall(json.dumps({"method": "io.trustd.Trust.Monitor", "more": True}).encode() + b"\0")
    first = read_message(conn)
    assert first["continues"] is True
    start = first["parameters"]["generation"]
    threading.Timer(0.2, lambda: daemon.call("ResetExceptions")).start()
    changed = read_message(conn)
    assert changed["parameters"]["event"] == "changed"
    assert changed["parameters"]["generation"] > start
    conn.close()
    assert daemon.call("Monitor")["error"] == "org.varlink.service.ExpectedMore"


def test_reload_and_clean_stop(daemon: Daemon, pki: PKI) -> None:
    second = pki.root("Second System Root")
    daemon.bundle.write_bytes(daemon.root.pem + second.pem)
    os.utime(daemon.bundle, ns=(1, time.time_ns() + 10**9))
    daemon.process.send_signal(signal.SIGHUP)
    eventually(
        lambda: daemon.call("Status")["parameters"]["counts"]["system_anchors"] == 2,
        10,
        daemon.with_log("the second system anchor loaded"),
    )
    assert daemon.stop() == 0
    log = daemon.log.read_text()
    assert "ready" in log and "stopped" in log
    assert "io.trustd.Trust.Status: ok" in log  # one line per request outcome


def test_database_survives_restart(daemon: Daemon, pki: PKI) -> None:
    org = pki.root("Kept Root")
    daemon.call("AddCertificates", certificates=[b64(org.der)])
    assert daemon.stop() == 0
    again = restart_daemon(daemon)
    try:
        found = again.call("FindCertificates", subject="kept")["parameters"]["certificates"]
        assert [c["subject"] for c in found] == ["Kept Root"]
    finally:
        again.stop()


def test_dropin_anchor_and_distrust_apply_live(daemon: Daemon, pki: PKI) -> None:
    """Administrators distribute an org CA as a file; removing the file undoes it."""
    org = pki.root("Dropin Org Root")
    leaf = pki.leaf(org, dns=["intranet.example"], **SHORT)
    request = {
        "certificates": [b64(leaf.der)],
        "policies": [{"policy": "ssl", "name": "intranet.example"}],
    }

    def result_within(expected: str) -> None:
        def result() -> str:
            return str(daemon.call("Evaluate", **request)["parameters"]["verdict"]["result"])

        eventually(lambda: result() == expected, 5, daemon.with_log(f"not {expected}"))

    result_within("recoverableTrustFailure")
    anchors = daemon.dropins / "anchors"
    anchors.mkdir()
    (anchors / "org.pem").write_bytes(org.pem)
    result_within("proceed")
    distrust = daemon.dropins / "distrust"
    distrust.mkdir()
    (distrust / "org.pem").write_bytes(org.pem)
    result_within("deny")
    (distrust / "org.pem").unlink()
    (anchors / "org.pem").unlink()
    result_within("recoverableTrustFailure")
    (anchors / "broken.pem").write_bytes(b"-----BEGIN CERTIFICATE-----\nAAAA\n")
    eventually(lambda: daemon.call("Status")["parameters"]["dropin_problems"], 5)


def test_export_and_import_a_domain(daemon: Daemon, pki: PKI) -> None:
    org = pki.root("Exported Root")
    assert daemon.call("ExportTrustSettings", domain="admin")["error"] == (
        "io.trustd.Trust.NoTrustSettings"
    )
    daemon.call("SetTrustSettings", domain="admin", certificate=b64(org.der), constraints=[])
    exported = daemon.call("ExportTrustSettings", domain="admin")["parameters"]["plist"]
    plist = base64.b64decode(exported)
    assert org.sha1.upper().encode() in plist
    daemon.call("RemoveTrustSettings", domain="admin", sha1=org.sha1.upper())
    assert daemon.call("ImportTrustSettings", domain="admin", plist=exported) == {
        "parameters": {"entries": 1}
    }
    entries = daemon.call("CopyTrustSettings", domain="admin")["parameters"]["entries"]
    assert [e["sha1"] for e in entries] == [org.sha1.upper()]
    bad = daemon.call("ImportTrustSettings", domain="admin", plist=b64(b"<plist>nope"))
    assert bad["error"] == "io.trustd.Trust.InvalidTrustSettings"


def test_sighup_rereads_the_configuration_file(daemon: Daemon) -> None:
    (daemon.base / "none.conf").write_text('log_level = "debug"\n')
    daemon.process.send_signal(signal.SIGHUP)

    def reread() -> bool:
        daemon.call("Echo", text="x")
        return "configuration re-read: log level debug" in daemon.log.read_text()

    eventually(reread, 10, daemon.with_log("the configuration re-read"))
    assert daemon.stop() == 0


def test_idle_connections_are_closed(pki: PKI) -> None:
    with running_daemon(pki.root("Root"), "--idle-timeout", "0.5", "--workers", "1") as running:
        idle = socket.socket(socket.AF_UNIX)
        idle.settimeout(10)
        idle.connect(str(running.socket))
        start = time.monotonic()
        assert idle.recv(1) == b""  # closed by the daemon, not by our timeout
        assert time.monotonic() - start < 5
        idle.close()
        assert running.call("Echo", text="alive") == {"parameters": {"text": "alive"}}
