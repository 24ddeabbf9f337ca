"""Exceptions (reference section 5) and TN2232's expired-certificate scenario."""

from __future__ import annotations

import datetime as dt

from core.helpers import SHORT, cert, failed, run, ssl
from pki import PKI

from trustd.core import CertificateExceptions, ExceptionList, MemorySnapshot, TrustResult
from trustd.plist.exceptions import decode_exceptions, encode_exceptions

EXPIRED = {
    "not_before": dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
    "not_after": dt.datetime(2021, 1, 1, tzinfo=dt.UTC),
}


def test_tn2232_exception_for_an_expired_certificate(pki: PKI) -> None:
    root = pki.root()
    leaf = pki.leaf(root, dns=["example.com"], **EXPIRED)
    snapshot = MemorySnapshot(system_anchors=[cert(root)])

    refused = run([leaf], policies=[ssl()], snapshot=snapshot)
    assert refused.result is TrustResult.RECOVERABLE_TRUST_FAILURE
    assert failed(refused) == {(0, "TemporalValidity")}

    # The user accepts the failure: the blob travels as Apple's binary plist.
    blob = encode_exceptions(refused.exceptions)
    assert blob.startswith(b"bplist00")
    accepted = decode_exceptions(blob)
    assert accepted.entries[0] is not None
    assert accepted.entries[0].sha1 == cert(leaf).sha1
    assert dict(accepted.entries[0].checks) == {"TemporalValidity": False}

    verdict = run([leaf], policies=[ssl()], snapshot=snapshot, exceptions=accepted)
    assert verdict.result is TrustResult.PROCEED
    assert verdict.exceptions_applied

    # An impostor: another expired certificate for the same host.
    impostor = pki.leaf(root, dns=["example.com"], key=pki.new_key(), **EXPIRED)
    assert run([impostor], policies=[ssl()], snapshot=snapshot, exceptions=accepted).result is (
        TrustResult.RECOVERABLE_TRUST_FAILURE
    )

    # The same certificate with a new kind of failure (another host name).
    other_host = run(
        [leaf], policies=[ssl("other.example.com")], snapshot=snapshot, exceptions=accepted
    )
    assert other_host.result is TrustResult.RECOVERABLE_TRUST_FAILURE
    assert failed(other_host) == {(0, "SSLHostname")}

    # After the epoch is reset, nothing from the old epoch applies.
    reset = MemorySnapshot(system_anchors=[cert(root)], exceptions_epoch=1)
    assert run([leaf], policies=[ssl()], snapshot=reset, exceptions=accepted).result is (
        TrustResult.RECOVERABLE_TRUST_FAILURE
    )


def test_exceptions_made_in_an_epoch_carry_it(pki: PKI) -> None:
    root = pki.root()
    leaf = pki.leaf(root, dns=["example.com"], **EXPIRED)
    snapshot = MemorySnapshot(system_anchors=[cert(root)], exceptions_epoch=3)
    refused = run([leaf], policies=[ssl()], snapshot=snapshot)
    entry = refused.exceptions.entries[0]
    assert entry is not None and entry.reset_count == 3
    assert run(
        [leaf], policies=[ssl()], snapshot=snapshot, exceptions=refused.exceptions
    ).result is (TrustResult.PROCEED)


def test_exceptions_never_rescue_fatal_or_deny(pki: PKI) -> None:
    root = pki.root()
    leaf = pki.leaf(root, dns=["example.com"], **SHORT)
    crl = pki.crl(root, revoked=[leaf])
    snapshot = MemorySnapshot(system_anchors=[cert(root)])
    revoked = run([leaf], policies=[ssl()], snapshot=snapshot, crls=[crl.der])
    assert revoked.result is TrustResult.FATAL_TRUST_FAILURE
    again = run(
        [leaf], policies=[ssl()], snapshot=snapshot, crls=[crl.der], exceptions=revoked.exceptions
    )
    assert again.result is TrustResult.FATAL_TRUST_FAILURE
    assert not again.exceptions_applied


def test_exceptions_for_an_untrusted_root_name_the_root(pki: PKI) -> None:
    root = pki.root()
    ica = pki.intermediate(root)
    leaf = pki.leaf(ica, dns=["example.com"], **SHORT)
    verdict = run([leaf, ica, root], policies=[ssl()])
    entries = verdict.exceptions.entries
    assert len(entries) == 3
    assert entries[1] is None
    assert entries[2] is not None and entries[2].checks == {"AnchorTrusted": False}
    assert run([leaf, ica, root], policies=[ssl()], exceptions=verdict.exceptions).result is (
        TrustResult.PROCEED
    )


def test_blob_round_trip_and_generic_entries() -> None:
    generic = ExceptionList((CertificateExceptions(sha1=None, checks={"TemporalValidity": False}),))
    decoded = decode_exceptions(encode_exceptions(generic))
    assert decoded == generic
    assert decoded.is_generic()
    assert decoded.usable_for(b"\x01" * 20, 0)


def test_blob_that_is_not_an_array_means_no_exceptions() -> None:
    import plistlib

    assert decode_exceptions(plistlib.dumps({"a": 1}, fmt=plistlib.FMT_BINARY)).entries == ()


def test_required_revocation_needs_a_crl_for_every_certificate_below_the_anchor(
    pki: PKI,
) -> None:
    from trustd.core import EvaluationRequest, evaluate

    root = pki.root()
    ica = pki.intermediate(root)
    leaf = pki.leaf(ica, dns=["example.com"], **SHORT)
    ica_crl = pki.crl(ica)
    root_crl = pki.crl(root)

    def run_with(crls: list[bytes]) -> set[tuple[int, str]]:
        request = EvaluationRequest(
            (leaf.der, ica.der),
            anchors=(root.der,),
            anchors_only=True,
            crls=tuple(crls),
            require_revocation=True,
            verify_date=dt.datetime(2030, 6, 1, tzinfo=dt.UTC),
        )
        return failed(evaluate(request, MemorySnapshot(), dt.datetime(2030, 6, 1, tzinfo=dt.UTC)))

    assert run_with([]) == {(0, "RevocationResponseRequired"), (1, "RevocationResponseRequired")}
    assert run_with([ica_crl.der]) == {(1, "RevocationResponseRequired")}
    assert run_with([ica_crl.der, root_crl.der]) == set()


def test_crl_with_an_unprocessed_critical_extension_is_not_used(pki: PKI) -> None:
    """RFC 5280 5.2: a CRL with a critical extension we cannot process MUST NOT be used."""
    from cryptography import x509
    from cryptography.x509.oid import ObjectIdentifier

    root = pki.root()
    leaf = pki.leaf(root, dns=["example.com"], **SHORT)
    odd = x509.UnrecognizedExtension(ObjectIdentifier("1.3.6.1.4.1.99999.7"), b"\x05\x00")
    crl = pki.crl(root, extra_extensions=[(odd, True)])
    snapshot = MemorySnapshot(system_anchors=[cert(root)])
    verdict = run([leaf], policies=[ssl()], snapshot=snapshot, crls=[crl.der])
    assert failed(verdict) == {(0, "RevocationResponseRequired")}
    fine = pki.crl(root, extra_extensions=[(odd, False)])
    assert run([leaf], policies=[ssl()], snapshot=snapshot, crls=[fine.der]).trusted
