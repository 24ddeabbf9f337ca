"""Decoding drop-in files and the pure reconcile diff (no store, no watching)."""

from __future__ import annotations

import datetime as dt
import plistlib
from typing import Any

import pytest
from pki import PKI

from trustd.core import SettingsResult, UsageConstraint, parse_certificate
from trustd.core.trust_settings import DEFAULT_ROOT_KEY
from trustd.watcher.parse import BrokenFile, parse_certificate_file, parse_trust_settings_file
from trustd.watcher.reconcile import (
    DENY,
    TRUST_AS_ROOT,
    Applied,
    DirectoryContents,
    Kind,
    ReadProblem,
    reconcile,
)

SSL_OID_DATA = bytes.fromhex("2A864886F763640103")  # 1.2.840.113635.100.1.3, content octets
A = "/etc/trustd/anchors"
D = "/etc/trustd/distrust"
T = "/etc/trustd/trust-settings"


def plist(trust_list: dict[str, Any], *, version: Any = 1, binary: bool = False) -> bytes:
    record: dict[str, Any] = {"trustList": trust_list}
    if version is not None:
        record["trustVersion"] = version
    return plistlib.dumps(record, fmt=plistlib.FMT_BINARY if binary else plistlib.FMT_XML)


def contents(
    anchors: dict[str, Any] | None = None,
    distrust: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
) -> list[DirectoryContents]:
    return [
        DirectoryContents(Kind.ANCHORS, A, {f"{A}/{k}": v for k, v in (anchors or {}).items()}),
        DirectoryContents(Kind.DISTRUST, D, {f"{D}/{k}": v for k, v in (distrust or {}).items()}),
        DirectoryContents(
            Kind.TRUST_SETTINGS, T, {f"{T}/{k}": v for k, v in (settings or {}).items()}
        ),
    ]


# -- certificate files ---------------------------------------------------------------------------


def test_pem_file_with_several_blocks_and_other_block_types(pki: PKI) -> None:
    one, two = pki.root("One"), pki.root("Two")
    key = b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
    data = b"# org roots\n" + one.pem + key + b"text between\n" + two.pem
    assert [c.der for c in parse_certificate_file(data)] == [one.der, two.der]


def test_der_file(pki: PKI) -> None:
    root = pki.root()
    assert [c.der for c in parse_certificate_file(root.der)] == [root.der]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty file"),
        (b"\x00garbage\xff" * 10, "neither PEM nor DER"),
        (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "no PEM CERTIFICATE"),
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "PEM block 1"),
    ],
)
def test_broken_certificate_files(data: bytes, reason: str) -> None:
    with pytest.raises(BrokenFile, match=reason):
        parse_certificate_file(data)


def test_one_bad_block_breaks_the_whole_file(pki: PKI) -> None:
    bad = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    with pytest.raises(BrokenFile, match="PEM block 2"):
        parse_certificate_file(pki.root().pem + bad)


# -- trust-settings plists -----------------------------------------------------------------------


@pytest.mark.parametrize("binary", [False, True])
def test_trust_settings_every_key_decoded(pki: PKI, binary: bool) -> None:
    cert = parse_certificate(pki.root().der)
    key = cert.sha1.hex().upper()
    mod = dt.datetime(2024, 5, 1, 12, 0, 0)
    data = plist(
        {
            key.lower(): {
                "issuerName": cert.issuer_der,
                "serialNumber": cert.parts.serial,
                "modDate": mod,
                "vendorKey": "kept",
                "trustSettings": [
                    {
                        "kSecTrustSettingsPolicy": SSL_OID_DATA,
                        "kSecTrustSettingsPolicyName": "sslServer",
                        "kSecTrustSettingsPolicyString": "intranet.example",
                        "kSecTrustSettingsApplication": b"app",
                        "kSecTrustSettingsAllowedError": -2147409654,
                        "kSecTrustSettingsResult": 2,
                        "kSecTrustSettingsKeyUsage": -1,
                        "kSecTrustSettingsPolicyOptions": {"x": 1},
                    },
                    {"kSecTrustSettingsPolicy": "1.2.840.113635.100.1.72"},
                    {},
                ],
            },
            DEFAULT_ROOT_KEY: {"issuerName": b"", "serialNumber": b"", "modDate": mod},
        },
        binary=binary,
    )
    [entry] = parse_trust_settings_file(data)
    assert entry.key == key
    assert (entry.issuer_name, entry.serial_number) == (cert.issuer_der, cert.parts.serial)
    assert entry.mod_date == mod.replace(tzinfo=dt.UTC)
    assert entry.extra == {"vendorKey": "kept"}
    assert entry.constraints == (
        UsageConstraint(
            policy_oid="1.2.840.113635.100.1.3",
            policy_name="sslServer",
            policy_string="intranet.example",
            application=b"app",
            allowed_error=-2147409654,
            result=SettingsResult.TRUST_AS_ROOT,
            key_usage=-1,
            extra={"kSecTrustSettingsPolicyOptions": {"x": 1}},
        ),
        UsageConstraint(policy_oid="1.2.840.113635.100.1.72", policy_oid_as_string=True),
        UsageConstraint(),
    )


def test_entry_without_trust_settings_is_an_empty_array() -> None:
    [entry] = parse_trust_settings_file(plist({"AB" * 20: {}}))
    assert entry.constraints == ()
    assert entry.issuer_name == entry.serial_number == b""


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"not a plist at all", "not a property list"),
        (plistlib.dumps([1, 2]), "not a dictionary"),
        (plist({}, version=None), "no trustVersion"),
        (plist({}, version=2), "unsupported trustVersion 2"),
        (plist({}, version="1"), "unsupported trustVersion"),
        (plistlib.dumps({"trustVersion": 1}), "no trustList"),
        (plist({"XYZ": {}}), "not a SHA-1"),
        (plist({"AB" * 20: []}), "not a dictionary"),
        (plist({"AB" * 20: {"trustSettings": {}}}), "trustSettings is not an array"),
        (plist({"AB" * 20: {"issuerName": "text"}}), "issuerName is not data"),
        (plist({"AB" * 20: {"trustSettings": [1]}}), r"trustSettings\[0\]: not a dictionary"),
        (
            plist({"AB" * 20: {"trustSettings": [{"kSecTrustSettingsResult": 9}]}}),
            "unknown kSecTrustSettingsResult 9",
        ),
        (
            plist({"AB" * 20: {"trustSettings": [{"kSecTrustSettingsResult": 0}]}}),
            "Invalid",
        ),
        (
            plist({"AB" * 20: {"trustSettings": [{"kSecTrustSettingsResult": True}]}}),
            "not a 32-bit integer",
        ),
        (
            plist({"AB" * 20: {"trustSettings": [{"kSecTrustSettingsPolicy": b"\x80"}]}}),
            "not an OID",
        ),
        (
            plist({"AB" * 20: {"trustSettings": [{"kSecTrustSettingsPolicy": "ssl"}]}}),
            "not a dotted OID",
        ),
        (plist({"AB" * 20: {}, "ab" * 20: {}}), "appears twice"),
        (b"<!DOCTYPE x [<!ENTITY a 'b'>]><plist/>", "entities"),
    ],
)
def test_broken_trust_settings_files(data: bytes, reason: str) -> None:
    with pytest.raises(BrokenFile, match=reason):
        parse_trust_settings_file(data)


# -- reconcile -----------------------------------------------------------------------------------


def test_new_files_are_applied_and_self_signed_decides_the_anchor_settings(pki: PKI) -> None:
    root = pki.root()
    inter = pki.intermediate(root)
    plan = reconcile(contents(anchors={"root.pem": root.pem + inter.pem}), set(), {})
    assert plan.remove == ()
    [source] = plan.apply
    assert source.source == f"{A}/root.pem"
    assert [c.der for c in source.certificates] == [root.der, inter.der]
    assert [
        (s.certificate.der if s.certificate else None, s.constraints) for s in source.settings
    ] == [
        (root.der, ()),
        (inter.der, TRUST_AS_ROOT),
    ]


def test_edited_file_is_removed_then_applied(pki: PKI) -> None:
    root = pki.root()
    first = reconcile(contents(distrust={"bad.pem": root.pem}), set(), {})
    applied = {p.source: Applied(p.fingerprint) for p in first.apply}
    # Same certificate, now in DER: other bytes, so the file is re-applied.
    edited = reconcile(contents(distrust={"bad.pem": root.der}), set(), applied)
    assert edited.remove == (f"{D}/bad.pem",)
    [plan] = edited.apply
    assert plan.settings[0].constraints == DENY
    assert plan.fingerprint != applied[plan.source].fingerprint


def test_identical_bytes_mean_no_change(pki: PKI) -> None:
    data = pki.root().pem
    first = reconcile(contents(anchors={"r.pem": data}), set(), {})
    applied = {p.source: Applied(p.fingerprint) for p in first.apply}
    plan = reconcile(contents(anchors={"r.pem": data}), {f"{A}/r.pem"}, applied)
    assert not plan.changes
    assert plan.keep == applied


def test_gone_and_broken_files_are_removed_other_sources_never(pki: PKI) -> None:
    stored = {f"{A}/gone.pem", f"{A}/broken.pem", "api", "/elsewhere/x.pem", f"{A}/sub/x.pem"}
    plan = reconcile(
        contents(anchors={"broken.pem": b"junk", "ok.pem": pki.root().pem}), stored, {}
    )
    assert plan.remove == (f"{A}/broken.pem", f"{A}/gone.pem")
    assert [p.source for p in plan.apply] == [f"{A}/ok.pem"]
    assert [b.source for b in plan.broken] == [f"{A}/broken.pem"]


def test_read_problems_and_directory_problems_are_reported() -> None:
    dirs = contents(anchors={"link.pem": ReadProblem("symbolic link to /tmp/x, outside")})
    dirs.append(DirectoryContents(Kind.DISTRUST, "/other", problem="not a directory"))
    plan = reconcile(dirs, set(), {})
    assert [str(b) for b in plan.broken] == [
        f"{A}/link.pem: symbolic link to /tmp/x, outside",
        "/other: not a directory",
    ]


def test_distrust_beats_trust_settings_beats_anchors(pki: PKI) -> None:
    root = pki.root()
    cert = parse_certificate(root.der)
    ssl_only = {"trustSettings": [{"kSecTrustSettingsPolicy": SSL_OID_DATA}]}
    files = {
        "anchors": {"root.pem": root.pem},
        "settings": {"ssl.plist": plist({cert.sha1.hex().upper(): ssl_only})},
    }
    plan = reconcile(contents(**files), set(), {})
    by_source = {p.source: p for p in plan.apply}
    assert by_source[f"{A}/root.pem"].settings == ()
    assert by_source[f"{A}/root.pem"].certificates == (cert,)
    [change] = by_source[f"{T}/ssl.plist"].settings
    assert change.certificate == cert  # found in the anchors directory
    assert change.constraints == (UsageConstraint(policy_oid="1.2.840.113635.100.1.3"),)
    assert plan.notes == (
        f"{A}/root.pem: trust settings for {cert.sha1.hex().upper()} are overridden by "
        f"{T}/ssl.plist",
    )

    applied = {p.source: Applied(p.fingerprint) for p in plan.apply}
    denied = reconcile(contents(**files, distrust={"root.pem": root.der}), set(), applied)
    by_source = {p.source: p for p in denied.apply}
    # The anchors file loses its certificate row, the plist its settings: both re-applied.
    assert set(by_source) == {f"{A}/root.pem", f"{T}/ssl.plist", f"{D}/root.pem"}
    assert by_source[f"{A}/root.pem"].certificates == ()
    assert by_source[f"{T}/ssl.plist"].settings == ()
    assert by_source[f"{D}/root.pem"].settings[0].constraints == DENY
    assert set(denied.remove) == {f"{A}/root.pem", f"{T}/ssl.plist"}


def test_unknown_certificates_are_left_for_the_store_and_retried(pki: PKI) -> None:
    data = plist({"AB" * 20: {"trustSettings": [{"kSecTrustSettingsResult": 3}]}})
    plan = reconcile(contents(settings={"block.plist": data}), set(), {})
    [change] = plan.apply[0].settings
    assert change.certificate is None
    pending = frozenset({bytes.fromhex("AB" * 20)})
    applied = {plan.apply[0].source: Applied(plan.apply[0].fingerprint, pending)}
    again = reconcile(contents(settings={"block.plist": data}), set(), applied)
    assert not again.changes
    assert [(p.source, s) for p, s in again.retry] == [(f"{T}/block.plist", pending)]


@pytest.mark.parametrize(
    "broken", [b"half-written -----BEGIN CERT", ReadProblem("the file is writable by others")]
)
def test_a_distrust_file_that_breaks_keeps_its_denies(pki: PKI, broken: Any) -> None:
    """Fail closed: a deny goes when its file goes, never because the file went bad."""
    root = pki.root()
    bad, source = parse_certificate(root.der), f"{D}/bad.pem"
    first = reconcile(contents(distrust={"bad.pem": root.pem}), set(), {})
    applied = {p.source: Applied(p.fingerprint) for p in first.apply}
    denies = {source: frozenset({bad.sha1})}
    # Broken, with an anchors file naming the same certificate: the deny still wins.
    files = contents(distrust={"bad.pem": broken}, anchors={"root.pem": root.pem})
    plan = reconcile(files, {source}, applied, denies)
    assert source not in plan.remove and plan.keep[source] == applied[source]
    [anchor] = plan.apply
    assert anchor.source == f"{A}/root.pem" and anchor.settings == ()
    [problem] = [b for b in plan.broken if b.source == source]
    assert problem.reason.endswith("its denies stay in force until it is fixed or removed")
    # Removed: the deny goes, and the anchor file's setting applies.
    now = {**plan.keep, anchor.source: Applied(anchor.fingerprint)}
    gone = reconcile(contents(anchors={"root.pem": root.pem}), {source}, now, denies)
    assert gone.remove == (anchor.source, source)
    assert [c.constraints for p in gone.apply for c in p.settings] == [()]


def test_an_unsafe_distrust_directory_keeps_every_deny(pki: PKI) -> None:
    root = pki.root()
    source = f"{D}/bad.pem"
    first = reconcile(contents(distrust={"bad.pem": root.pem}), set(), {})
    applied = {p.source: Applied(p.fingerprint) for p in first.apply}
    unsafe = [*contents()[:1], DirectoryContents(Kind.DISTRUST, D, problem="writable by others")]
    denies = {source: frozenset({parse_certificate(root.der).sha1})}
    plan = reconcile(unsafe, {source}, applied, denies)
    assert not plan.remove and plan.keep == applied
    [problem] = plan.broken
    assert problem.source == D and problem.reason.endswith(
        "stay in force until it is fixed or removed"
    )


def test_a_broken_anchors_file_loses_its_anchors(pki: PKI) -> None:
    """The other direction fails closed by removing: a broken anchor file trusts nothing."""
    root = pki.root()
    first = reconcile(contents(anchors={"r.pem": root.pem}), set(), {})
    applied = {p.source: Applied(p.fingerprint) for p in first.apply}
    plan = reconcile(contents(anchors={"r.pem": b"junk"}), {f"{A}/r.pem"}, applied)
    assert plan.remove == (f"{A}/r.pem",) and not plan.apply
