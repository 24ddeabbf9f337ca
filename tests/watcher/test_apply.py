"""Reconcile and apply against a real SQLite store, with real files (no watching here)."""

from __future__ import annotations

import datetime as dt
import os
import plistlib
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from pki import PKI, Issued
from watcher.conftest import put

from trustd.core import (
    Domain,
    EvaluationRequest,
    Policy,
    PolicyKind,
    SettingsResult,
    TrustResult,
    UsageConstraint,
    evaluate,
    parse_certificate,
)
from trustd.store.repository import Actor, TrustStore
from trustd.watcher import DropinDirectories, DropinWatcher
from trustd.watcher.reconcile import DENY, TRUST_AS_ROOT

NOW = dt.datetime(2030, 6, 1, tzinfo=dt.UTC)
NOT_BEFORE = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
NOT_AFTER = dt.datetime(2030, 12, 1, tzinfo=dt.UTC)
SSL_OID_DATA = bytes.fromhex("2A864886F763640103")
API = Actor(uid=0, pid=1)


def key(issued: Issued) -> str:
    return issued.sha1.upper()


def admin(store: TrustStore) -> dict[str, tuple[UsageConstraint, ...]]:
    """The admin domain: certificate key -> constraints."""
    return {entry.key: entry.constraints for entry, _ in store.trust_settings(Domain.ADMIN, 0)}


def cert_sources(store: TrustStore) -> dict[str, str]:
    """Stored certificates: key -> source."""
    return {s.certificate.sha1.hex().upper(): s.source for s in store.find_certificates()}


def settings_plist(entries: dict[str, list[dict[str, Any]]], *, binary: bool = False) -> bytes:
    trust_list = {
        k: {"modDate": dt.datetime(2024, 1, 1), "trustSettings": v} for k, v in entries.items()
    }
    fmt = plistlib.FMT_BINARY if binary else plistlib.FMT_XML
    return plistlib.dumps({"trustList": trust_list, "trustVersion": 1}, fmt=fmt)


@pytest.fixture
def watcher(store: TrustStore, dirs: DropinDirectories) -> DropinWatcher:
    return DropinWatcher(store, dirs)


# -- anchors -------------------------------------------------------------------------------------


def test_anchors_add_edit_rename_remove(
    watcher: DropinWatcher, store: TrustStore, dirs: DropinDirectories, pki: PKI
) -> None:
    root, other = pki.root("Org Root"), pki.root("Other Root")
    inter = pki.intermediate(root, "Org Issuing CA")
    path = put(dirs.anchors, "org.pem", root.pem + inter.pem)

    report = watcher.reconcile_now()
    assert report.applied == [str(path)] and report.problems == []
    assert admin(store) == {key(root): (), key(inter): TRUST_AS_ROOT}
    assert cert_sources(store) == {key(root): str(path), key(inter): str(path)}
    audit = store.audit_entries(obj=key(root))
    assert {(a.uid, a.pid, a.source) for a in audit} == {(0, None, str(path))}

    assert not watcher.reconcile_now().changed  # unchanged: nothing written

    put(dirs.anchors, "org.pem", other.der)  # edit: only what the file holds now
    report = watcher.reconcile_now()
    assert report.applied == [str(path)] and report.removed == []
    assert admin(store) == {key(other): ()}
    assert cert_sources(store) == {key(other): str(path)}

    renamed = path.rename(dirs.anchors / "renamed.der")
    report = watcher.reconcile_now()
    assert (report.applied, report.removed) == ([str(renamed)], [str(path)])
    assert cert_sources(store) == {key(other): str(renamed)}
    assert admin(store) == {key(other): ()}

    renamed.unlink()
    report = watcher.reconcile_now()
    assert report.removed == [str(renamed)]
    assert admin(store) == {} and cert_sources(store) == {}


def test_anchor_already_stored_elsewhere_keeps_its_row(
    watcher: DropinWatcher, store: TrustStore, dirs: DropinDirectories, pki: PKI
) -> None:
    root = pki.root()
    store.add_certificate(parse_certificate(root.der), source="api", actor=API)
    path = put(dirs.anchors, "root.pem", root.pem)
    watcher.reconcile_now()
    assert admin(store) == {key(root): ()}
    path.unlink()
    watcher.reconcile_now()
    assert admin(store) == {}
    assert cert_sources(store) == {key(root): "api"}  # the file did not add it: not removed


# -- distrust ------------------------------------------------------------------------------------


def test_distrust_add_edit_rename_remove(
    watcher: DropinWatcher, store: TrustStore, dirs: DropinDirectories, pki: PKI
) -> None:
    bad, worse = pki.root("Bad Root"), pki.root("Worse Root")
    path = put(dirs.distrust, "bad.pem", bad.pem)
    assert watcher.reconcile_now().applied == [str(path)]
    assert admin(store) == {key(bad): DENY}

    put(dirs.distrust, "bad.pem", bad.pem + worse.pem)
    watcher.reconcile_now()
    assert admin(store) == {key(bad): DENY, key(worse): DENY}

    renamed = path.rename(dirs.distrust / "zz.pem")
    report = watcher.reconcile_now()
    assert (report.applied, report.removed) == ([str(renamed)], [str(path)])
    assert set(cert_sources(store).values()) == {str(renamed)}

    renamed.unlink()
    watcher.reconcile_now()
    assert admin(store) == {} and cert_sources(store) == {}


# -- trust-settings ------------------------------------------------------------------------------


def test_trust_settings_add_edit_rename_remove(
    watcher: DropinWatcher, store: TrustStore, dirs: DropinDirectories, pki: PKI
) -> None:
    root = pki.root()
    store.add_certificate(parse_certificate(root.der), source="api", actor=API)
    ssl = {"kSecTrustSettingsPolicy": SSL_OID_DATA, "kSecTrustSettingsPolicyName": "sslServer"}
    path = put(dirs.trust_settings, "org.plist", settings_plist({key(root): [ssl]}))

    report = watcher.reconcile_now()
    assert report.applied == [str(path)] and report.problems == []
    expected = UsageConstraint(policy_oid="1.2.840.113635.100.1.3", policy_name="sslServer")
    assert admin(store) == {key(root): (expected,)}

    deny = {"kSecTrustSettingsResult": 3, "vendorKey": "kept"}
    put(dirs.trust_settings, "org.plist", settings_plist({key(root): [deny]}, binary=True))
    watcher.reconcile_now()
    assert admin(store) == {
        key(root): (UsageConstraint(result=SettingsResult.DENY, extra={"vendorKey": "kept"}),)
    }

    renamed = path.rename(dirs.trust_settings / "other.plist")
    report = watcher.reconcile_now()
    assert (report.applied, report.removed) == ([str(renamed)], [str(path)])
    assert len(admin(store)) == 1

    renamed.unlink()
    watcher.reconcile_now()
    assert admin(store) == {}
    assert cert_sources(store) == {key(root): "api"}


def test_trust_settings_for_an_unknown_certificate_wait_for_it(
    watcher: DropinWatcher, store: TrustStore, dirs: DropinDirectories, pki: PKI
) -> None:
    root = pki.root()
    path = put(
        dirs.trust_settings,
        "block.plist",
        settings_plist({key(root): [{"kSecTrustSettingsResult": 3}]}),
    )
    report = watcher.reconcile_now()
    assert report.applied == [str(path)]
    assert admin(store) == {}
    assert watcher.problems == [
        f"{path}: certificate {key(root)} not known; its trust settings apply once the "
        "certificate is in the store"
    ]
    assert not watcher.reconcile_now().changed  # still unknown: nothing written
    assert len(watcher.problems) == 1

    store.add_certificate(parse_certificate(root.der), source="api", actor=API)
    report = watcher.reconcile_now()
    assert report.applied == [str(path)]
    assert admin(store) == {key(root): DENY}
    assert watcher.problems == []


def test_settings_plist_overrides_anchor_and_distrust_overrides_both(
    watcher: DropinWatcher, store: TrustStore, dirs: DropinDirectories, pki: PKI
) -> None:
    root = pki.root()
    put(dirs.anchors, "root.pem", root.pem)
    ssl = UsageConstraint(policy_oid="1.2.840.113635.100.1.3")
    plist_path = put(
        dirs.trust_settings,
        "ssl.plist",
        settings_plist({key(root): [{"kSecTrustSettingsPolicy": "1.2.840.113635.100.1.3"}]}),
    )
    watcher.reconcile_now()
    as_string = UsageConstraint(policy_oid=ssl.policy_oid, policy_oid_as_string=True)
    assert admin(store) == {key(root): (as_string,)}
    assert any("overridden by" in p for p in watcher.problems)

    distrust = put(dirs.distrust, "root.pem", root.der)
    watcher.reconcile_now()
    assert admin(store) == {key(root): DENY}
    assert cert_sources(store) == {key(root): str(distrust)}

    distrust.unlink()
    watcher.reconcile_now()
    assert admin(store) == {key(root): (as_string,)}
    assert cert_sources(store) == {key(root): str(dirs.anchors / "root.pem")}

    plist_path.unlink()
    watcher.reconcile_now()
    assert admin(store) == {key(root): ()}  # the anchors file's own settings come back
    assert watcher.problems == []


# -- broken and refused files --------------------------------------------------------------------


@pytest.mark.parametrize(
    "case",
    [
        ("anchors", b"garbage", "neither PEM nor DER"),
        ("distrust", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "PEM"),
        ("trust_settings", b"<plist><dict><key>x</key>", "not a property list"),
        (
            "trust_settings",
            plistlib.dumps({"trustList": {}, "trustVersion": 2}),
            "unsupported trustVersion 2",
        ),
    ],
)
def test_broken_file_is_reported_and_the_others_apply(
    watcher: DropinWatcher,
    dirs: DropinDirectories,
    pki: PKI,
    case: tuple[str, bytes, str],
) -> None:
    directory, data, reason = case
    good, bad = pki.root("Good"), pki.root("Bad")
    broken = put(getattr(dirs, directory), "aaa-broken", data)
    put(dirs.anchors, "good.pem", good.pem)
    put(dirs.distrust, "bad.pem", bad.pem)
    report = watcher.reconcile_now()
    assert len(report.applied) == 2
    assert admin(watcher.store) == {key(good): (), key(bad): DENY}
    [problem] = watcher.problems
    assert problem.startswith(f"{broken}: ") and reason in problem


def test_file_broken_by_an_edit_loses_what_it_added(
    watcher: DropinWatcher, store: TrustStore, dirs: DropinDirectories, pki: PKI
) -> None:
    root = pki.root()
    path = put(dirs.anchors, "root.pem", root.pem)
    watcher.reconcile_now()
    put(dirs.anchors, "root.pem", root.pem[:100])
    report = watcher.reconcile_now()
    assert report.removed == [str(path)]
    assert admin(store) == {} and cert_sources(store) == {}
    put(dirs.anchors, "root.pem", root.pem)
    assert watcher.reconcile_now().applied == [str(path)]
    assert watcher.problems == []


def test_symlinks_only_within_the_directory(
    watcher: DropinWatcher, store: TrustStore, dirs: DropinDirectories, pki: PKI, tmp_path: Path
) -> None:
    inside, outside = pki.root("Inside"), pki.root("Outside")
    put(dirs.anchors, "inside.pem", inside.pem)
    (dirs.anchors / "1a2b3c4d.0").symlink_to("inside.pem")  # OpenSSL hash link
    elsewhere = put(tmp_path, "elsewhere.pem", outside.pem)
    (dirs.anchors / "outside.pem").symlink_to(elsewhere)
    (dirs.anchors / "escape.pem").symlink_to("../anchors/../distrust/../../elsewhere.pem")
    watcher.reconcile_now()
    assert admin(store) == {key(inside): ()}
    assert sorted(watcher.problems) == [
        f"{dirs.anchors / 'escape.pem'}: symbolic link to {elsewhere}, outside the directory",
        f"{dirs.anchors / 'outside.pem'}: symbolic link to {elsewhere}, outside the directory",
    ]


def test_files_others_could_write_are_refused(
    watcher: DropinWatcher, store: TrustStore, dirs: DropinDirectories, pki: PKI
) -> None:
    group, world, fine = pki.root("G"), pki.root("W"), pki.root("F")
    put(dirs.anchors, "group.pem", group.pem, mode=0o664)
    put(dirs.anchors, "world.pem", world.pem, mode=0o646)
    put(dirs.anchors, "fine.pem", fine.pem, mode=0o600)
    watcher.reconcile_now()
    assert admin(store) == {key(fine): ()}
    assert sorted(watcher.problems) == [
        f"{dirs.anchors / 'group.pem'}: the file is writable by group or others (mode 0664)",
        f"{dirs.anchors / 'world.pem'}: the file is writable by group or others (mode 0646)",
    ]
    # Fixing the mode is enough: the same bytes are then applied.
    (dirs.anchors / "group.pem").chmod(0o644)
    watcher.reconcile_now()
    assert key(group) in admin(store)


def test_group_writable_directory_refuses_every_file(
    watcher: DropinWatcher, store: TrustStore, dirs: DropinDirectories, pki: PKI
) -> None:
    root = pki.root()
    put(dirs.anchors, "root.pem", root.pem)
    watcher.reconcile_now()
    dirs.anchors.chmod(0o775)
    watcher.reconcile_now()
    assert admin(store) == {}
    assert watcher.problems == [
        f"{dirs.anchors}: every file refused: the directory is writable by group or others "
        "(mode 0775)"
    ]


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_file_owned_by_another_user_is_refused(
    watcher: DropinWatcher, store: TrustStore, dirs: DropinDirectories, pki: PKI
) -> None:
    path = put(dirs.anchors, "root.pem", pki.root().pem)
    os.chown(path, 1234, -1)
    watcher.reconcile_now()
    assert admin(store) == {}
    assert watcher.problems == [f"{path}: the file is owned by uid 1234, not root"]


def test_large_files_fifos_and_ignored_names(
    watcher: DropinWatcher, store: TrustStore, dirs: DropinDirectories, pki: PKI
) -> None:
    big = put(dirs.anchors, "big.pem", pki.root().pem + b"#" * (1024 * 1024))
    os.mkfifo(dirs.anchors / "fifo.pem", 0o644)
    (dirs.anchors / "subdir").mkdir()
    for name in (".hidden.pem", "old.pem~", "new.pem.dpkg-new", ".root.pem.swp"):
        put(dirs.anchors, name, b"garbage")
    watcher.reconcile_now()
    assert admin(store) == {}
    assert sorted(watcher.problems) == [
        f"{big}: larger than 1048576 bytes",
        f"{dirs.anchors / 'fifo.pem'}: not a regular file",
    ]


# -- start, restart, missing directories ---------------------------------------------------------


def test_reconcile_at_start_picks_up_files_and_drops_rows_of_vanished_files(
    store: TrustStore, dirs: DropinDirectories, pki: PKI
) -> None:
    stays, goes = pki.root("Stays"), pki.root("Goes")
    put(dirs.anchors, "stays.pem", stays.pem)
    gone = put(dirs.distrust, "goes.pem", goes.pem)
    DropinWatcher(store, dirs).reconcile_now()
    assert admin(store) == {key(stays): (), key(goes): DENY}

    gone.unlink()  # while the daemon is stopped
    report = DropinWatcher(store, dirs).reconcile_now()  # a new process knows nothing
    assert report.removed == [str(gone)]
    assert admin(store) == {key(stays): ()}
    assert cert_sources(store) == {key(stays): str(dirs.anchors / "stays.pem")}


def test_missing_directories_hold_nothing(store: TrustStore, tmp_path: Path) -> None:
    missing = DropinDirectories(tmp_path / "a", tmp_path / "d", tmp_path / "t")
    report = DropinWatcher(store, missing).reconcile_now()
    assert not report.changed and report.problems == []


def test_on_change_runs_after_changes_only(
    store: TrustStore, dirs: DropinDirectories, pki: PKI
) -> None:
    calls: list[int] = []
    watcher = DropinWatcher(store, dirs, on_change=lambda: calls.append(store.generation))
    watcher.reconcile_now()
    assert calls == []
    put(dirs.anchors, "root.pem", pki.root().pem)
    watcher.reconcile_now()
    watcher.reconcile_now()
    assert len(calls) == 1


# -- evaluation ----------------------------------------------------------------------------------


def test_anchor_file_makes_a_leaf_trusted_and_distrust_file_denies_it(
    watcher: DropinWatcher, store: TrustStore, dirs: DropinDirectories, pki: PKI
) -> None:
    root = pki.root("Org Root")
    inter = pki.intermediate(root, "Org Issuing CA")
    leaf = pki.leaf(inter, dns=["intranet.example"], not_before=NOT_BEFORE, not_after=NOT_AFTER)
    request = EvaluationRequest(
        (leaf.der, inter.der), (Policy(PolicyKind.SSL, name="intranet.example"),)
    )
    before = evaluate(request, store.snapshot(1000), NOW)
    assert before.result is TrustResult.RECOVERABLE_TRUST_FAILURE

    put(dirs.anchors, "org-root.pem", root.pem)
    watcher.reconcile_now()
    trusted = evaluate(request, store.snapshot(1000), NOW)
    assert trusted.result is TrustResult.PROCEED
    assert [c.der for c in trusted.chain] == [leaf.der, inter.der, root.der]

    put(dirs.distrust, "org-issuing.pem", inter.pem)
    watcher.reconcile_now()
    denied = evaluate(request, store.snapshot(1000), NOW)
    assert denied.result is TrustResult.DENY


# -- restarts ------------------------------------------------------------------------------------


def test_a_restart_re_applies_only_the_files_that_changed(
    store: TrustStore, dirs: DropinDirectories, db_path: Path, pki: PKI
) -> None:
    """What each file applied is recorded with its rows: a new watcher (a restarted daemon)
    writes nothing for unchanged files, and re-applies exactly the one edited meanwhile."""
    root, bad, other = pki.root("Org Root"), pki.root("Bad Root"), pki.root("Other Root")
    anchors = put(dirs.anchors, "org.pem", root.pem)
    distrust = put(dirs.distrust, "bad.pem", bad.pem)
    assert sorted(DropinWatcher(store, dirs).reconcile_now().applied) == sorted(
        [str(anchors), str(distrust)]
    )
    audited = len(store.audit_entries())

    report = DropinWatcher(store, dirs).reconcile_now()
    assert not report.changed and report.problems == []
    assert len(store.audit_entries()) == audited  # nothing written

    put(dirs.distrust, "bad.pem", bad.pem + other.pem)  # edited while "stopped"
    report = DropinWatcher(store, dirs).reconcile_now()
    assert (report.applied, report.removed) == ([str(distrust)], [])
    assert admin(store) == {key(root): (), key(bad): DENY, key(other): DENY}

    # rows stored before records were kept (an older database) are applied again, once
    with sqlite3.connect(db_path) as db:
        db.execute("DELETE FROM dropin_sources")
    assert sorted(DropinWatcher(store, dirs).reconcile_now().applied) == sorted(
        [str(anchors), str(distrust)]
    )
    assert admin(store) == {key(root): (), key(bad): DENY, key(other): DENY}
    assert not DropinWatcher(store, dirs).reconcile_now().changed

    # a deny of a file removed by other means (an administrator's call) comes back with the
    # next reconcile (a restart, SIGHUP, any drop-in change): the files say what applies
    store.remove_trust_settings(Domain.ADMIN, 0, parse_certificate(bad.der).sha1, actor=API)
    assert DropinWatcher(store, dirs).reconcile_now().applied == [str(distrust)]
    assert admin(store) == {key(root): (), key(bad): DENY, key(other): DENY}
