"""`trustctl audit`: who changed what and when, from which uid and pid or drop-in file, with
filters and --json, against a real daemon; what a user who is not an administrator may read is
checked with a real second uid (a trustctl process that switched to nobody)."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cli.conftest import Run, trustctl
from daemons import Daemon
from pki import PKI, Issued
from waiting import eventually

NOBODY = 65534
ENTRY = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC  (\S+)(?: \((\w+)\))?  by uid (\d+) \((\w+)\), (.*)$"
)

# trustctl as another uid: the interpreter's own files may be unreadable to that uid, so
# everything the command needs is imported first (its modules, and what the command line
# machinery loads: `--help` of the same command), then the process switches uid and runs it.
AS_UID = """
import contextlib, io, os, sys
import trustctl.app
import trustd.client, trustd.core, trustd.certfiles, trustd.plist.trust_settings
for package in (trustd.client, trustd.core):  # their names are imported on first use
    for name in package.__all__:
        getattr(package, name)
uid, args = int(sys.argv[1]), sys.argv[2:]
with contextlib.redirect_stdout(io.StringIO()):
    trustctl.app.main([args[0], "--help"])
os.setgroups([]); os.setgid(uid); os.setuid(uid)
sys.exit(trustctl.app.main(args))
"""


def as_uid(daemon: Daemon, uid: int, *args: str) -> Run:
    return trustctl(daemon.socket, *args, via=(sys.executable, "-c", AS_UID, str(uid)))


def readable(daemon: Daemon, name: str, issued: Issued) -> str:
    """A certificate file any uid can read (beside the daemon's state, mode 0755)."""
    path = daemon.dropins.parent / f"{name}.pem"
    path.write_bytes(issued.pem)
    path.chmod(0o644)
    return str(path)


def entries(run: Run) -> list[dict[str, Any]]:
    assert run.code == 0, run.err
    listed: list[dict[str, Any]] = json.loads(run.out)
    return listed


def test_who_changed_what_and_when(
    cli: Callable[..., Run], daemon: Daemon, pki: PKI, tmp_path: Path
) -> None:
    org, ica = pki.root("Org Root"), pki.intermediate(daemon.root, "Audited CA")
    org_file, ica_file = readable(daemon, "org", org), readable(daemon, "ica", ica)
    assert cli("add-trusted-cert", "-d", org_file).code == 0
    assert cli("add-certificates", ica_file).code == 0
    assert cli("add-trusted-cert", "-r", "deny", ica_file).code == 0

    listed = cli("audit")
    assert listed.code == 0, listed.err
    lines = listed.out.splitlines()
    heads = [ENTRY.match(line) for line in lines[0::2]]
    assert all(heads), listed.out
    # Oldest first: the admin setting (with the certificate it stored), then the store, then
    # the user-domain setting; each by root, with the pid of the trustctl that asked.
    assert [(m.group(2), m.group(3)) for m in heads if m] == [
        ("add-certificate", None),
        ("set-trust-settings", "admin"),
        ("add-certificate", None),
        ("set-trust-settings", "user"),
    ]
    assert all(
        m.group(4, 5) == ("0", "root") and re.fullmatch(r"pid \d+", m.group(6)) for m in heads if m
    )
    assert lines[3] == f"    {org.sha1.upper()}: 0 usage constraints for Org Root"
    assert lines[5] == f"    {ica.sha1.upper()}: Audited CA"
    assert lines[7] == f"    {ica.sha1.upper()}: 1 usage constraints for Audited CA"

    # Filters: domain, certificate (file, SHA-1 or SHA-256), time, limit; --json for tools.
    admin = entries(cli("audit", "--json", "--domain", "admin"))
    assert [(e["operation"], e["object"], e["uid"], e["user"]) for e in admin] == [
        ("set-trust-settings", org.sha1.upper(), 0, "root")
    ]
    assert isinstance(admin[0]["pid"], int) and admin[0]["source"] is None
    for given in (ica_file, ica.sha1, ica.sha256.upper()):
        about = entries(cli("audit", "--json", "--cert", given))
        assert [e["operation"] for e in about] == ["add-certificate", "set-trust-settings"]
    assert [e["domain"] for e in entries(cli("audit", "--json", "-n", "1"))] == ["user"]
    assert len(entries(cli("audit", "--json", "--since", "1h"))) == 4
    assert entries(cli("audit", "--json", "--until", "2000-01-01")) == []
    future = cli("audit", "--since", "2999-01-01T00:00:00+00:00")
    assert (future.code, future.out) == (0, "No audit entries.\n")
    bad = cli("audit", "--since", "yesterday")
    assert bad.code == 1 and "is not a time" in bad.err
    wrong = cli("audit", "--domain", "system")
    assert wrong.code == 2 and wrong.err.startswith('trustctl: unknown domain "system"')
    assert "Usage: trustctl audit [OPTIONS]" in wrong.err


def test_changes_from_a_drop_in_file_name_it(
    cli: Callable[..., Run], daemon: Daemon, pki: PKI
) -> None:
    org = pki.root("Dropped Root")
    anchors = daemon.dropins / "anchors"
    anchors.mkdir(parents=True, exist_ok=True)
    dropped = anchors / "org.pem"
    dropped.write_bytes(org.pem)
    dropped.chmod(0o644)

    def both() -> list[dict[str, Any]]:
        found = entries(cli("audit", "--json", "--cert", org.sha1))
        return found if len(found) >= 2 else []

    found = eventually(both, 20, "the drop-in's two changes in the audit log")
    assert {(e["operation"], e["source"], e["uid"], e["pid"]) for e in found} == {
        ("add-certificate", str(dropped), 0, None),
        ("set-trust-settings", str(dropped), 0, None),
    }
    text = cli("audit", "--cert", org.sha1).out
    assert f"by uid 0 (root), from the drop-in file {dropped}\n" in text


def test_users_read_their_own_changes_and_shared_ones_only(daemon: Daemon, pki: PKI) -> None:
    if os.geteuid() != 0:
        pytest.skip("switching to another uid needs root")
    org, mine, roots = pki.root("Shared Org Root"), pki.root("Nobody's Root"), pki.root("Root's")
    assert trustctl(daemon.socket, "add-trusted-cert", "-d", readable(daemon, "org", org)).code == 0
    own = as_uid(daemon, NOBODY, "add-trusted-cert", readable(daemon, "mine", mine))
    assert own.code == 0, own.err
    roots_own = readable(daemon, "roots", roots)
    assert trustctl(daemon.socket, "add-trusted-cert", roots_own).code == 0
    assert trustctl(daemon.socket, "exceptions", "add", "secret.example", "-c", roots_own).code == 0

    seen = entries(as_uid(daemon, NOBODY, "audit", "--json"))
    assert [(e["operation"], e["domain"], e["uid"]) for e in seen] == [
        ("add-certificate", None, 0),  # the admin setting stored its certificate: shared
        ("set-trust-settings", "admin", 0),
        ("set-trust-settings", "user", NOBODY),  # nobody's own
    ]
    assert seen[2]["object"] == mine.sha1.upper() and seen[2]["user"] == "nobody"
    # Root's own domain and exceptions stay root's; the administrator reads everything.
    everything = entries(trustctl(daemon.socket, "audit", "--json"))
    assert [(e["operation"], e["uid"]) for e in everything][2:] == [
        ("set-trust-settings", NOBODY),
        ("set-trust-settings", 0),
        ("set-exceptions", 0),
    ]
    assert everything[-1]["object"] == "secret.example:0"
    assert entries(as_uid(daemon, NOBODY, "audit", "--json", "--domain", "user")) == seen[2:]
