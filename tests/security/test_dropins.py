"""Drop-in files and imported plists are untrusted input, end to end through the daemon.

The watcher's unit tests (tests/watcher/test_apply.py) prove each refusal rule on the store;
here the running daemon shows that a refused file changes no evaluation, that Status reports
why, and that plists over the API are held to the same limits.
"""

from __future__ import annotations

import codecs
import datetime as dt
import hashlib
import os
import plistlib
import socket
from pathlib import Path

from daemons import Daemon, read_message
from pki import PKI
from security.clients import b64
from waiting import eventually

NOW = dt.datetime.now(dt.UTC)
SHORT = {"not_before": NOW - dt.timedelta(days=10), "not_after": NOW + dt.timedelta(days=300)}
SETTLE = 5  # seconds a drop-in change may take to apply
LAUGHS = """<?xml version="1.0" encoding="{encoding}"?>
<!DOCTYPE plist [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>
<plist version="1.0"><dict><key>trustVersion</key><integer>1</integer>
<key>trustList</key><dict><key>{key}</key><dict><key>x</key><string>&b;</string></dict>
</dict></dict></plist>"""


def test_refused_dropins_change_nothing_and_are_reported(
    daemon: Daemon, pki: PKI, tmp_path: Path
) -> None:
    org = pki.root("Dropin Refused Root")
    leaf = pki.leaf(org, dns=["intranet.example"], **SHORT)
    request = {
        "certificates": [b64(leaf.der)],
        "policies": [{"policy": "ssl", "name": "intranet.example"}],
    }

    def result() -> str:
        verdict = daemon.call("Evaluate", **request)["parameters"]["verdict"]
        return str(verdict["result"])

    def problems() -> list[str]:
        return list(daemon.call("Status")["parameters"]["dropin_problems"])

    anchors = daemon.dropins / "anchors"
    anchors.mkdir(mode=0o755)
    outside = tmp_path / "org.pem"  # root's own file, but outside the directory
    outside.write_bytes(org.pem)
    outside.chmod(0o644)
    (anchors / "linked.pem").symlink_to(outside)
    (anchors / "escape.pem").symlink_to(os.path.relpath(outside, anchors))  # ../../../x/org.pem
    writable = anchors / "writable.pem"
    writable.write_bytes(org.pem)
    writable.chmod(0o666)
    daemon.process.send_signal(1)  # SIGHUP: reconcile now rather than wait for the watcher
    eventually(lambda: len(problems()) == 3, SETTLE, daemon.with_log("every refusal reported"))
    assert sorted(problems()) == [
        f"{anchors / 'escape.pem'}: symbolic link to {outside}, outside the directory",
        f"{anchors / 'linked.pem'}: symbolic link to {outside}, outside the directory",
        f"{writable}: the file is writable by group or others (mode 0666)",
    ]
    assert result() == "recoverableTrustFailure"

    # Fixing the mode is what makes the same bytes count: the refusal was the reason.
    writable.chmod(0o644)
    eventually(lambda: result() == "proceed", SETTLE, daemon.with_log("the fixed file applies"))
    assert len(problems()) == 2  # the links are still refused

    # A parent directory others may write: every file is refused (the directory could be
    # swapped for any other); the anchor stops applying.
    daemon.dropins.chmod(0o777)
    (anchors / "touch").write_bytes(b"")  # wake the watcher
    eventually(
        lambda: result() == "recoverableTrustFailure",
        SETTLE,
        daemon.with_log("unsafe parent refused"),
    )
    assert any("a parent directory is unsafe" in p for p in problems())
    daemon.dropins.chmod(0o755)


def test_plists_with_entities_or_too_large_are_refused_with_a_clear_error(
    daemon: Daemon, pki: PKI
) -> None:
    key = hashlib.sha1(pki.root("Entity Root").der).hexdigest().upper()
    for encoding, bom in (("UTF-8", b""), ("UTF-16", codecs.BOM_UTF16_LE)):
        text = LAUGHS.format(encoding=encoding, key=key)
        data = bom + (text.encode("utf-16-le") if bom else text.encode())
        reply = daemon.call("ImportTrustSettings", domain="admin", plist=b64(data))
        assert reply["error"] == "io.trustd.Trust.InvalidTrustSettings", reply
        assert "entit" in reply["parameters"]["reason"]
    # Larger than a message may be: RequestTooLarge, and the connection is closed.
    huge = plistlib.dumps({"trustVersion": 1, "trustList": {}, "pad": b"x" * (7 * 1024 * 1024)})
    with socket.socket(socket.AF_UNIX) as conn:
        conn.settimeout(30)
        conn.connect(str(daemon.socket))
        message = (
            b'{"method":"io.trustd.Trust.ImportTrustSettings","parameters":{"domain":"admin",'
            b'"plist":"' + b64(huge).encode() + b'"}}\0'
        )
        try:
            conn.sendall(message)
            assert read_message(conn)["error"] == "io.trustd.Trust.RequestTooLarge"
        except (BrokenPipeError, ConnectionResetError):
            pass  # closed on us first: equally a refusal
    # A drop-in plist over 1 MiB is refused by the watcher with its size.
    settings = daemon.dropins / "trust-settings"
    settings.mkdir(mode=0o755)
    big = settings / "big.plist"
    big.write_bytes(plistlib.dumps({"trustVersion": 1, "trustList": {}, "pad": b"x" * 2**20}))
    big.chmod(0o644)
    entity = settings / "entity.plist"
    entity.write_bytes(LAUGHS.format(encoding="UTF-8", key=key).encode())
    entity.chmod(0o644)
    daemon.process.send_signal(1)

    def reported() -> bool:
        found = daemon.call("Status")["parameters"]["dropin_problems"]
        return f"{big}: larger than 1048576 bytes" in found and any(
            p.startswith(f"{entity}:") and "entities" in p for p in found
        )

    eventually(reported, SETTLE, daemon.with_log("oversized and entity plists reported"))
    assert daemon.call("CopyTrustSettings", domain="admin")["parameters"]["entries"] == []
    assert daemon.call("Echo", text="alive") == {"parameters": {"text": "alive"}}


def test_a_distrust_file_that_goes_bad_keeps_denying_until_removed(
    daemon: Daemon, pki: PKI
) -> None:
    """Fail closed: a mistaken chmod or a half-written edit never lifts a deny."""
    bad = pki.root("Compromised Root")
    leaf = pki.leaf(bad, dns=["bad.example"], **SHORT)
    assert daemon.call("SetTrustSettings", domain="admin", certificate=b64(bad.der),
                       constraints=[]) == {"parameters": {}}  # fmt: skip
    request = {"certificates": [b64(leaf.der)],
               "policies": [{"policy": "ssl", "name": "bad.example"}]}  # fmt: skip

    def result() -> str:
        return str(daemon.call("Evaluate", **request)["parameters"]["verdict"]["result"])

    assert result() == "proceed"
    distrust = daemon.dropins / "distrust"
    distrust.mkdir(mode=0o755)
    denied = distrust / "compromised.pem"
    denied.write_bytes(bad.pem)
    denied.chmod(0o644)
    eventually(lambda: result() == "deny", SETTLE, daemon.with_log("the deny applies"))

    def held() -> str | None:
        """The file's reported problem, when it says the file's denies are held."""
        reason = "its denies stay in force until it is fixed or removed"
        found = [p for p in daemon.call("Status")["parameters"]["dropin_problems"]
                 if p.startswith(f"{denied}: ") and reason in p]  # fmt: skip
        return found[0] if found else None

    denied.chmod(0o666)  # by mistake
    daemon.process.send_signal(1)
    writable = eventually(held, SETTLE, daemon.with_log("the refusal reported"))
    assert result() == "deny"
    denied.chmod(0o644)
    denied.write_bytes(bad.pem[:40])  # an editor's half-written file
    daemon.process.send_signal(1)
    # The daemon has read the half-written file once it reports that file's own problem.
    eventually(lambda: held() not in (None, writable), SETTLE, daemon.with_log("re-read"))
    assert result() == "deny"

    denied.unlink()  # only removing the file lifts the deny (and the API's setting it replaced)
    eventually(
        lambda: result() == "recoverableTrustFailure",
        SETTLE,
        daemon.with_log("the deny goes with its file"),
    )
