"""Malformed input never raises out of evaluate(): it always gives a verdict.

A leaf that is not a certificate is the fatal MalformedCertificate; anything else that is broken
(intermediates, anchors, CRLs) is junk the evaluation ignores, so a valid chain sent along with
it is still trusted.  Property tests then mutate real certificates and CRLs byte by byte, and
feed arbitrary bytes, checking the invariants every verdict must keep.

Inputs that once made evaluate() raise (found by the property tests) are kept, one per bug and
role, as regression tests in test_former_crash.
"""

from __future__ import annotations

import base64
import functools
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeAlias, TypeVar

import pytest
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.x509.oid import ExtensionOID
from hypothesis import given, settings
from hypothesis import strategies as st
from pki import PKI, Issued, IssuedCRL, der_children, der_int, der_oid, der_tlv

from trustd.core import EvaluationRequest, MemorySnapshot, Policy, PolicyKind, TrustResult, Verdict
from trustd.core import evaluate as core_evaluate

VERIFY_AT = datetime(2030, 1, 1, tzinfo=UTC)
HOST = "example.com"
# What evaluate() may answer (INVALID, CONFIRM and OTHER_ERROR are never produced).
EVALUATED = frozenset(
    {
        TrustResult.PROCEED,
        TrustResult.DENY,
        TrustResult.UNSPECIFIED,
        TrustResult.RECOVERABLE_TRUST_FAILURE,
        TrustResult.FATAL_TRUST_FAILURE,
    }
)
# Warnings cryptography gives while decoding odd names, which the project's pytest configuration
# (filterwarnings = error) turns into exceptions out of evaluate().  Pinned below by
# test_pinned_crash; the property tests ignore exactly these to look for anything else.
PROPERTY = settings(max_examples=200, deadline=None, database=None)
Test = TypeVar("Test", bound=Callable[..., None])


@dataclass(frozen=True)
class Material:
    """A valid chain for HOST and a CRL of its intermediate (revoking nothing)."""

    root: Issued
    inter: Issued
    leaf: Issued
    crl: IssuedCRL


@functools.cache
def material() -> Material:
    """Built once, with the builder itself rather than the per-test fixture (hypothesis)."""
    pki = PKI()
    root = pki.root()
    inter = pki.intermediate(root)
    leaf = pki.leaf(
        inter,
        dns=[HOST],
        not_before=datetime(2029, 6, 1, tzinfo=UTC),
        not_after=datetime(2030, 6, 1, tzinfo=UTC),
    )
    return Material(root, inter, leaf, pki.crl(inter))


def evaluate(
    certificates: Sequence[bytes],
    anchors: Sequence[bytes] | None = None,
    crls: Sequence[bytes] = (),
) -> Verdict:
    """The ssl policy for HOST, anchored only by `anchors` (default: the valid root)."""
    request = EvaluationRequest(
        certificates=tuple(certificates),
        policies=(Policy(PolicyKind.SSL, name=HOST),),
        anchors=(material().root.der,) if anchors is None else tuple(anchors),
        anchors_only=True,
        crls=tuple(crls),
        verify_date=VERIFY_AT,
    )
    return core_evaluate(request, MemorySnapshot(), VERIFY_AT)


def assert_coherent(verdict: Verdict) -> None:
    """What every verdict keeps, whatever it was fed."""
    assert isinstance(verdict, Verdict)
    assert verdict.result in EVALUATED
    assert verdict.trusted == (not verdict.counted)
    assert all(0 <= failure.index < max(len(verdict.chain), 1) for failure in verdict.failures)
    if verdict.counted:
        assert verdict.primary is not None
        assert verdict.message
    if not verdict.chain:
        assert_malformed_leaf(verdict)


def assert_malformed_leaf(verdict: Verdict) -> None:
    assert verdict.result is TrustResult.FATAL_TRUST_FAILURE
    assert not verdict.trusted
    assert verdict.chain == ()
    assert [failure.check for failure in verdict.counted] == ["MalformedCertificate"]
    assert verdict.primary is not None and verdict.primary.check == "MalformedCertificate"


def assert_valid_chain_trusted(verdict: Verdict) -> None:
    m = material()
    assert verdict.result is TrustResult.UNSPECIFIED, [f.check for f in verdict.counted]
    assert [cert.der for cert in verdict.chain] == [m.leaf.der, m.inter.der, m.root.der]


# --------------------------------------------------------------------------- broken inputs


def _pem(der: bytes, label: bytes = b"CERTIFICATE") -> bytes:
    body = base64.encodebytes(der)
    return b"-----BEGIN " + label + b"-----\n" + body + b"-----END " + label + b"-----\n"


def _broken_base64(m: Material) -> bytes:
    lines = m.leaf.pem.splitlines(keepends=True)
    lines[2] = b"!!!!" + lines[2][4:]
    return b"".join(lines)


def _truncated(cut: Callable[[int], int]) -> Callable[[Material], bytes]:
    return lambda m: m.leaf.der[: cut(len(m.leaf.der))]


Broken: TypeAlias = Callable[[Material], bytes]

BROKEN: dict[str, Broken] = {
    "empty": lambda m: b"",
    "one-byte": lambda m: b"\x30",
    "garbage": lambda m: b"this is not a certificate, not even DER",
    "zeros": lambda m: bytes(600),
    "ones": lambda m: b"\xff" * 600,
    "sequence-of-nothing": lambda m: b"\x30\x00",
    "huge-length": lambda m: b"\x30\x84\x7f\xff\xff\xff" + m.leaf.der[4:],
    "truncated-header": _truncated(lambda n: 3),
    "truncated-at-16": _truncated(lambda n: 16),
    "truncated-at-quarter": _truncated(lambda n: n // 4),
    "truncated-at-half": _truncated(lambda n: n // 2),
    "truncated-last-byte": _truncated(lambda n: n - 1),
    "trailing-byte": lambda m: m.leaf.der + b"\x00",
    "tbs-only": lambda m: m.leaf.cert.tbs_certificate_bytes,
    "pem-broken-base64": _broken_base64,
    "pem-missing-end-line": lambda m: m.leaf.pem.replace(b"-----END CERTIFICATE-----\n", b""),
    "pem-truncated-body": lambda m: _pem(m.leaf.der[:-40]),
    "pem-private-key-block": lambda m: _pem(b"\x30\x03\x02\x01\x00", b"PRIVATE KEY"),
    "pem-crl-block": lambda m: m.crl.pem,
    "pem-empty-certificate-block": lambda m: _pem(b""),
    "crl-der": lambda m: m.crl.der,
    "truncated-crl": lambda m: m.crl.der[: len(m.crl.der) // 2],
}
BROKEN_IDS = sorted(BROKEN)


@pytest.mark.parametrize("case", BROKEN_IDS)
def test_broken_leaf_is_malformed(case: str) -> None:
    m = material()
    verdict = evaluate([BROKEN[case](m), m.inter.der])
    assert_malformed_leaf(verdict)
    assert verdict.failures == verdict.counted  # nothing can rescue a fatal failure


def test_no_certificates_at_all_is_malformed() -> None:
    assert_malformed_leaf(evaluate([]))


@pytest.mark.parametrize("case", BROKEN_IDS)
def test_junk_intermediates_are_ignored(case: str) -> None:
    m = material()
    junk = BROKEN[case](m)
    verdict = evaluate([m.leaf.der, junk, m.inter.der, junk])
    assert_valid_chain_trusted(verdict)


@pytest.mark.parametrize("case", BROKEN_IDS)
def test_junk_anchors_are_ignored(case: str) -> None:
    m = material()
    verdict = evaluate([m.leaf.der, m.inter.der], anchors=[BROKEN[case](m), m.root.der])
    assert_valid_chain_trusted(verdict)


@pytest.mark.parametrize("case", BROKEN_IDS)
def test_junk_crls_are_ignored(case: str) -> None:
    m = material()
    verdict = evaluate([m.leaf.der, m.inter.der], crls=[BROKEN[case](m)])
    assert_valid_chain_trusted(verdict)


def test_only_junk_anchors_leave_the_chain_unanchored() -> None:
    m = material()
    anchors = [BROKEN[case](m) for case in BROKEN_IDS]
    verdict = evaluate([m.leaf.der, m.inter.der], anchors=anchors)
    assert_coherent(verdict)
    assert not verdict.trusted
    assert verdict.anchor_origin is None
    checks = {failure.check for failure in verdict.counted}
    assert "MalformedCertificate" not in checks
    assert checks & {"MissingIntermediate", "AnchorTrusted"}


def test_pem_everywhere_is_fine() -> None:
    """The control: the same chain in PEM, with text after the END line, is trusted."""
    m = material()
    verdict = evaluate(
        [m.leaf.pem + b"trailing words\n", m.inter.pem], anchors=[m.root.pem], crls=[m.crl.pem]
    )
    assert_valid_chain_trusted(verdict)


def test_the_valid_crl_is_really_checked() -> None:
    """The control for the junk CRL tests: a readable CRL of the issuer takes part."""
    m = material()
    revoking = PKI().crl(m.inter, revoked=[m.leaf])
    verdict = evaluate([m.leaf.der, m.inter.der], crls=[revoking.der])
    assert not verdict.trusted
    assert "Revocation" in {failure.check for failure in verdict.counted}


@pytest.mark.parametrize("role", ["leaf", "intermediate", "anchor"])
def test_non_positive_serial_with_warnings_as_errors(role: str) -> None:
    """cryptography warns about serial 0; trustd reports it as a check, never as an exception."""
    m = material()
    pki = PKI()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        if role == "leaf":
            verdict = evaluate([pki.with_serial(m.leaf, 0, issuer=m.inter), m.inter.der])
            assert_coherent(verdict)
            assert "BasicCertificateProcessing" in {f.check for f in verdict.counted}
        elif role == "intermediate":
            zero = pki.with_serial(m.inter, 0, issuer=m.root)
            assert_valid_chain_trusted(evaluate([m.leaf.der, zero, m.inter.der]))
        else:
            # An anchor is exempt from the serial rules (some real roots have serial 0).
            zero = pki.with_serial(m.root, 0, issuer=m.root)
            verdict = evaluate([m.leaf.der, m.inter.der], anchors=[zero])
            assert verdict.result is TrustResult.UNSPECIFIED, [f.check for f in verdict.counted]
            assert verdict.chain[-1].der == zero


# --------------------------------------------------------------------------- former crashes
#
# Inputs that made evaluate() raise before trustd decoded every field up front, under its own
# warnings filter (trustd/core/certificates.py, crl.py).  `raises` is what escaped then.


def with_tbs_field(der: bytes, index: int, edit: Callable[[bytes], bytes]) -> bytes:
    """The DER with field `index` of its TBS edited (the signature no longer matches)."""
    tbs, algorithm, signature = der_children(der)
    fields = der_children(tbs)
    fields[index] = edit(fields[index])
    return der_tlv(0x30, der_tlv(0x30, b"".join(fields)) + algorithm + signature)


EC_PUBLIC_KEY = der_oid("1.2.840.10045.2.1")
P256 = der_oid("1.2.840.10045.3.1.7")
COMMON_NAME = der_oid("2.5.4.3")
UTF8_STRING, NOT_A_STRING = b"\x0c", b"\x56"
# TBSCertificate fields of a v3 certificate, TBSCertList fields of a v2 CRL.
VERSION, ISSUER, SUBJECT, SPKI = 0, 3, 5, 6
CRL_VERSION, CRL_ISSUER = 0, 2


def unknown_key_algorithm(der: bytes) -> bytes:
    unknown = der_oid("1.2.840.10045.2.9")
    return with_tbs_field(der, SPKI, lambda spki: spki.replace(EC_PUBLIC_KEY, unknown))


def unknown_curve(der: bytes) -> bytes:
    unknown = der_oid("1.2.840.10045.3.1.9")
    return with_tbs_field(der, SPKI, lambda spki: spki.replace(P256, unknown))


def bad_version(der: bytes) -> bytes:
    """Version 21 (an INTEGER of 20): only v1 to v3 exist."""
    return with_tbs_field(der, VERSION, lambda _: der_tlv(0xA0, der_int(20)))


def unknown_string_tag(der: bytes, field: int = ISSUER) -> bytes:
    cn_utf8, cn_odd = COMMON_NAME + UTF8_STRING, COMMON_NAME + NOT_A_STRING
    return with_tbs_field(der, field, lambda name: name.replace(cn_utf8, cn_odd))


def long_country_name(der: bytes, field: int = SUBJECT) -> bytes:
    """The common name attribute relabelled countryName, whose values have 2 letters."""
    country = der_oid("2.5.4.6")
    return with_tbs_field(der, field, lambda name: name.replace(COMMON_NAME, country))


def edi_party_name_san(subject_cn: str, m: Material) -> bytes:
    """A certificate issued by the root whose SAN holds an ediPartyName (RFC 5280 4.2.1.6)."""
    edi_party = der_tlv(0xA5, der_tlv(0xA1, der_tlv(0x0C, b"party")))
    san = der_tlv(0x30, edi_party + der_tlv(0x82, HOST.encode()))
    extension = x509.UnrecognizedExtension(ExtensionOID.SUBJECT_ALTERNATIVE_NAME, san)
    return (
        PKI()
        .leaf(
            m.root,
            subject_cn,
            dns=[HOST],
            not_before=datetime(2029, 6, 1, tzinfo=UTC),
            not_after=datetime(2030, 6, 1, tzinfo=UTC),
            extra_extensions=[(extension, False)],
        )
        .der
    )


@dataclass(frozen=True)
class Crash:
    role: str  # where the broken bytes go: "leaf", "intermediate" (extra), "anchor" or "crl"
    corrupt: Callable[[Material], bytes]
    raises: type[BaseException]
    bug: str
    warnings_as_errors: bool = False


UNKNOWN_KEY = (
    "Certificate.public_key catches ValueError, TypeError and NotImplementedError, but "
    "cryptography raises UnsupportedAlgorithm for a key algorithm or curve it does not know"
)
BAD_VERSION = (
    "x509.InvalidVersion (not a ValueError) from cryptography's loader is not caught by "
    "parse_certificate or parse_crl"
)
STRING_TAG = (
    "decoding a Name whose attribute value has a non-string tag raises KeyError in "
    "cryptography, which parse_certificate and parse_crl do not catch"
)
EDI_PARTY = (
    "Certificate._extensions does not catch x509.UnsupportedGeneralNameType, raised for an "
    "x400Address or ediPartyName GeneralName (both valid in RFC 5280)"
)
WARNING = (
    "parse_certificate and parse_crl decode names outside any local warnings filter: with "
    "warnings as errors (pytest's filterwarnings = error here, or warnings.simplefilter('error') "
    "in an application) cryptography's UserWarning about a countryName that is not two letters "
    "escapes evaluate()"
)

CRASHES: dict[str, Crash] = {
    "unknown-key-algorithm-leaf": Crash(
        "leaf", lambda m: unknown_key_algorithm(m.leaf.der), UnsupportedAlgorithm, UNKNOWN_KEY
    ),
    "unknown-key-algorithm-intermediate": Crash(
        "intermediate",
        lambda m: unknown_key_algorithm(m.inter.der),
        UnsupportedAlgorithm,
        UNKNOWN_KEY,
    ),
    "unknown-key-algorithm-anchor": Crash(
        "anchor", lambda m: unknown_key_algorithm(m.root.der), UnsupportedAlgorithm, UNKNOWN_KEY
    ),
    "unknown-curve-leaf": Crash(
        "leaf", lambda m: unknown_curve(m.leaf.der), UnsupportedAlgorithm, UNKNOWN_KEY
    ),
    "unknown-curve-intermediate": Crash(
        "intermediate", lambda m: unknown_curve(m.inter.der), UnsupportedAlgorithm, UNKNOWN_KEY
    ),
    "invalid-version-leaf": Crash(
        "leaf", lambda m: bad_version(m.leaf.der), x509.InvalidVersion, BAD_VERSION
    ),
    "invalid-version-intermediate": Crash(
        "intermediate", lambda m: bad_version(m.inter.der), x509.InvalidVersion, BAD_VERSION
    ),
    "invalid-version-anchor": Crash(
        "anchor", lambda m: bad_version(m.root.der), x509.InvalidVersion, BAD_VERSION
    ),
    "invalid-version-crl": Crash(
        "crl",
        lambda m: with_tbs_field(m.crl.der, CRL_VERSION, lambda _: der_int(59)),
        x509.InvalidVersion,
        BAD_VERSION,
    ),
    "unknown-string-tag-leaf": Crash(
        "leaf", lambda m: unknown_string_tag(m.leaf.der), KeyError, STRING_TAG
    ),
    "unknown-string-tag-intermediate": Crash(
        "intermediate", lambda m: unknown_string_tag(m.inter.der), KeyError, STRING_TAG
    ),
    "unknown-string-tag-anchor": Crash(
        "anchor", lambda m: unknown_string_tag(m.root.der), KeyError, STRING_TAG
    ),
    "unknown-string-tag-crl": Crash(
        "crl", lambda m: unknown_string_tag(m.crl.der, CRL_ISSUER), KeyError, STRING_TAG
    ),
    "edi-party-name-san-leaf": Crash(
        "leaf",
        lambda m: edi_party_name_san(HOST, m),
        x509.UnsupportedGeneralNameType,
        EDI_PARTY,
    ),
    "edi-party-name-san-intermediate": Crash(
        "intermediate",
        lambda m: edi_party_name_san("Intermediate CA", m),
        x509.UnsupportedGeneralNameType,
        EDI_PARTY,
    ),
    "long-country-name-leaf": Crash(
        "leaf",
        lambda m: long_country_name(m.leaf.der),
        UserWarning,
        WARNING,
        warnings_as_errors=True,
    ),
    "long-country-name-intermediate": Crash(
        "intermediate",
        lambda m: long_country_name(m.inter.der),
        UserWarning,
        WARNING,
        warnings_as_errors=True,
    ),
    "long-country-name-crl": Crash(
        "crl",
        lambda m: long_country_name(m.crl.der, CRL_ISSUER),
        UserWarning,
        WARNING,
        warnings_as_errors=True,
    ),
}


@pytest.mark.parametrize("case", sorted(CRASHES))
def test_former_crash(case: str) -> None:
    """A broken leaf gets an untrusted verdict, broken extras are ignored."""
    crash = CRASHES[case]
    m = material()
    broken = crash.corrupt(m)
    with warnings.catch_warnings():
        if crash.warnings_as_errors:
            warnings.simplefilter("error")
        if crash.role == "leaf":
            verdict = evaluate([broken, m.inter.der])
            assert_coherent(verdict)
            assert not verdict.trusted
        elif crash.role == "intermediate":
            assert_valid_chain_trusted(evaluate([m.leaf.der, broken, m.inter.der]))
        elif crash.role == "anchor":
            verdict = evaluate([m.leaf.der, m.inter.der], anchors=[broken, m.root.der])
            assert_valid_chain_trusted(verdict)
        else:
            assert_valid_chain_trusted(evaluate([m.leaf.der, m.inter.der], crls=[broken]))


# --------------------------------------------------------------------------- properties

Edit: TypeAlias = tuple[str, int, bytes]

EDITS = st.lists(
    st.one_of(
        st.tuples(st.just("set"), st.integers(0, 1 << 16), st.binary(min_size=1, max_size=1)),
        st.tuples(st.just("insert"), st.integers(0, 1 << 16), st.binary(min_size=1, max_size=8)),
        st.tuples(st.just("delete"), st.integers(0, 1 << 16), st.binary(min_size=1, max_size=1)),
        st.tuples(st.just("cut"), st.integers(0, 1 << 16), st.just(b"")),
    ),
    min_size=1,
    max_size=6,
)


def mutate(der: bytes, edits: Sequence[Edit]) -> bytes:
    """Apply the edits; positions wrap around the current length."""
    data = bytearray(der)
    for kind, position, value in edits:
        if not data:
            break
        at = position % len(data)
        if kind == "set":
            data[at] = value[0]
        elif kind == "insert":
            data[at:at] = value
        elif kind == "delete":
            del data[at : at + value[0] % 8 + 1]
        else:
            del data[at:]
    return bytes(data)


@PROPERTY
@given(edits=EDITS)
def test_mutated_leaf_gives_a_verdict(edits: list[Edit]) -> None:
    m = material()
    leaf = mutate(m.leaf.der, edits)
    verdict = evaluate([leaf, m.inter.der])
    assert_coherent(verdict)
    if leaf != m.leaf.der:
        # Every byte of a certificate is either signed or breaks the encoding.
        assert not verdict.trusted, [f.check for f in verdict.counted]


@PROPERTY
@given(edits=EDITS)
def test_mutated_intermediate_gives_a_verdict(edits: list[Edit]) -> None:
    m = material()
    inter = mutate(m.inter.der, edits)
    verdict = evaluate([m.leaf.der, inter])
    assert_coherent(verdict)
    assert verdict.chain[0].der == m.leaf.der  # the leaf is intact, so never malformed
    if inter != m.inter.der:
        assert not verdict.trusted, [f.check for f in verdict.counted]


@PROPERTY
@given(edits=EDITS)
def test_mutated_anchor_gives_a_verdict(edits: list[Edit]) -> None:
    """An anchor is only a name and a key: a mutated one may still anchor, as itself."""
    m = material()
    anchor = mutate(m.root.der, edits)
    verdict = evaluate([m.leaf.der, m.inter.der], anchors=[anchor])
    assert_coherent(verdict)
    if verdict.trusted:
        assert verdict.chain[-1].der == anchor


@PROPERTY
@given(edits=EDITS)
def test_mutated_crl_gives_a_verdict(edits: list[Edit]) -> None:
    m = material()
    verdict = evaluate([m.leaf.der, m.inter.der], crls=[mutate(m.crl.der, edits)])
    assert_coherent(verdict)
    assert verdict.chain[0].der == m.leaf.der


@PROPERTY
@given(
    leaf=st.binary(max_size=2048),
    extras=st.lists(st.binary(max_size=512), max_size=4),
    anchors=st.lists(st.binary(max_size=512), max_size=3),
    crls=st.lists(st.binary(max_size=512), max_size=3),
)
def test_arbitrary_bytes_give_a_verdict(
    leaf: bytes, extras: list[bytes], anchors: list[bytes], crls: list[bytes]
) -> None:
    verdict = evaluate([leaf, *extras], anchors=anchors, crls=crls)
    assert_coherent(verdict)
    assert not verdict.trusted


@PROPERTY
@given(
    label=st.sampled_from([b"CERTIFICATE", b"X509 CRL", b"TRUSTED CERTIFICATE", b"JUNK"]),
    body=st.binary(max_size=1024),
    encode=st.booleans(),
    end_line=st.booleans(),
)
def test_pem_shaped_garbage_gives_a_verdict(
    label: bytes, body: bytes, encode: bool, end_line: bool
) -> None:
    text = base64.encodebytes(body) if encode else body
    pem = b"-----BEGIN " + label + b"-----\n" + text
    if end_line:
        pem += b"-----END " + label + b"-----\n"
    m = material()
    verdict = evaluate([pem, pem, m.inter.pem], anchors=[pem, m.root.pem], crls=[pem])
    assert_coherent(verdict)
    assert not verdict.trusted
