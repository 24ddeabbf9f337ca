"""System anchors come from the OS bundle: found, parsed, re-read when it changes."""

from __future__ import annotations

import os
from pathlib import Path

from pki import PKI

from trustd.store.system_anchors import (
    BUNDLE_CANDIDATES,
    SystemAnchors,
    certifi_bundle,
    find_bundle,
    parse_bundle,
)


def test_standard_locations_cover_the_distributions() -> None:
    for path in (
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
        "/etc/ssl/cert.pem",
        "/etc/ssl/ca-bundle.pem",
        "/etc/ca-certificates/extracted/tls-ca-bundle.pem",
    ):
        assert path in BUNDLE_CANDIDATES


def test_first_existing_candidate_wins_and_configured_path_beats_all(tmp_path: Path) -> None:
    first, second = tmp_path / "a.pem", tmp_path / "b.pem"
    second.write_bytes(b"")
    assert find_bundle(None, [str(first), str(second)]) == second
    first.write_bytes(b"")
    assert find_bundle(None, [str(first), str(second)]) == first
    assert find_bundle(tmp_path / "mine.pem", [str(first)]) == tmp_path / "mine.pem"


def test_certifi_is_the_fallback(tmp_path: Path) -> None:
    assert find_bundle(None, [str(tmp_path / "missing.pem")]) == certifi_bundle()
    assert certifi_bundle().is_file()


def test_parse_bundle_skips_broken_blocks_and_duplicates(pki: PKI) -> None:
    one, two = pki.root("One"), pki.root("Two")
    broken = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    certs, bad = parse_bundle(one.pem + b"junk\n" + broken + two.pem + one.pem)
    assert [c.subject_summary for c in certs] == ["One", "Two"]
    assert bad == 1


def test_reread_when_the_bundle_changes(tmp_path: Path, pki: PKI) -> None:
    bundle = tmp_path / "ca.pem"
    one, two = pki.root("One"), pki.root("Two")
    bundle.write_bytes(one.pem)
    anchors = SystemAnchors(bundle)
    assert anchors.count == 1
    assert not anchors.refresh()
    bundle.write_bytes(one.pem + two.pem)
    os.utime(bundle, ns=(1, 10**18))
    assert anchors.refresh()
    assert anchors.count == 2
    from trustd.core import parse_certificate

    assert anchors.contains(parse_certificate(two.der))
    assert anchors.by_subject(parse_certificate(two.der).subject_key)


def test_real_system_bundle_loads() -> None:
    anchors = SystemAnchors()
    assert anchors.count > 50
    assert anchors.broken == 0


def test_every_real_system_root_passes_the_anchor_profile() -> None:
    """Real roots carry old encodings (AKI with issuer and serial, no SKI, non-critical basic
    constraints); trustd's profile rules must not refuse any of them as anchors.  Only expiry
    may fail (the bundle still ships a few expired roots)."""
    from datetime import UTC, datetime

    from trustd.core.checks import PathFacts, certificate_failures, key_identifier_failures
    from trustd.core.crl import RevocationEvidence
    from trustd.core.policy import Policy, PolicyKind
    from trustd.core.snapshot import Origin

    refused = {}
    for root in SystemAnchors().all():
        facts = PathFacts(
            path=[root, root],
            anchored=True,
            anchor_origin=Origin.SYSTEM,
            leaf_anchored_by_settings=False,
            moment=datetime.now(UTC),
            policies=[Policy(PolicyKind.SSL)],
            revocation=RevocationEvidence(),
            max_intermediates=None,
        )
        failures = [*certificate_failures(root, 1, facts), *key_identifier_failures(facts)]
        checks = {f.check for f in failures if f.index == 1} - {"TemporalValidity"}
        if checks:
            refused[root.subject_summary] = checks
    assert refused == {}
