"""Certificates decoded once, from their DER: the facts read there (name keys, the TBS, the
SHA-256) are the ones cryptography's parser gives, for every kind of Name."""

from __future__ import annotations

import hashlib
import random
import warnings

import pytest
from cryptography import x509
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID
from pki import PKI

from trustd.core.certificates import name_key, parse_certificate
from trustd.core.der import (
    DERProblem,
    _checked_certificate_parts,
    _plain_certificate_parts,
    certificate_parts,
    simple_name_attributes,
)
from trustd.core.evaluate import ParseCache


def attribute(oid: x509.ObjectIdentifier, value: str, kind: _ASN1Type | None = None) -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a country name of the wrong length warns
        return x509.NameAttribute(oid, value, kind, _validate=False)


NAMES = {
    "common name": [[attribute(NameOID.COMMON_NAME, "Example  CA ")]],
    "printable and utf8": [
        [attribute(NameOID.COUNTRY_NAME, "DE")],
        [attribute(NameOID.ORGANIZATION_NAME, "Müller GmbH")],
        [attribute(NameOID.COMMON_NAME, "Root (2)", _ASN1Type.PrintableString)],
    ],
    "ia5 e-mail": [[attribute(NameOID.EMAIL_ADDRESS, "CA@Example.COM")]],
    "bmp string": [[attribute(NameOID.COMMON_NAME, "Wide", _ASN1Type.BMPString)]],
    "teletex": [[attribute(NameOID.COMMON_NAME, "Tele", _ASN1Type.T61String)]],
    "universal string": [[attribute(NameOID.COMMON_NAME, "Uni", _ASN1Type.UniversalString)]],
    "multi-valued rdn": [
        [attribute(NameOID.COMMON_NAME, "Two"), attribute(NameOID.ORGANIZATION_NAME, "Org")]
    ],
    "country of the wrong length": [[attribute(NameOID.COUNTRY_NAME, "DEU")]],
    "empty value": [[attribute(NameOID.COMMON_NAME, "")]],
}


@pytest.mark.parametrize("label", sorted(NAMES))
def test_name_keys_from_the_der_match_cryptography(pki: PKI, label: str) -> None:
    name = x509.Name([x509.RelativeDistinguishedName(rdn) for rdn in NAMES[label]])  # type: ignore[arg-type]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the builder reads cryptography's Names, which may warn
        issuer = pki.root(subject=name)
        leaf = pki.leaf(issuer, dns=["example.com"])
    for der in (issuer.der, leaf.der):
        cert = parse_certificate(der)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # cryptography's own Name may warn
            subject, issuer_name = cert.x509.subject, cert.x509.issuer
        assert cert.subject_key == name_key(subject)
        assert cert.issuer_key == name_key(issuer_name)
        assert cert.subject == subject
        assert cert.tbs_der == cert.x509.tbs_certificate_bytes
    simple = simple_name_attributes(parse_certificate(issuer.der).parts.subject)
    if label in ("common name", "printable and utf8", "ia5 e-mail", "empty value"):
        assert simple is not None and len(simple) == len(NAMES[label])
    elif label != "country of the wrong length":
        assert simple is None  # left to cryptography


def test_a_name_built_later_gives_no_warning(pki: PKI) -> None:
    name = x509.Name([x509.RelativeDistinguishedName(NAMES["country of the wrong length"][0])])  # type: ignore[arg-type]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        der = pki.root(subject=name).der
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cert = parse_certificate(der)
        assert cert.subject.rfc4514_string() == "C=DEU"


def test_a_serial_that_is_not_positive_parses_without_a_warning(pki: PKI) -> None:
    leaf = pki.leaf(pki.root(), dns=["example.com"])
    for serial in (-5, 0):
        der = pki.with_serial(leaf, serial)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            cert = parse_certificate(der)
        assert cert.parts.serial[:1] in (b"\xfb", b"\x00")


def test_the_parse_cache_digest_is_the_certificates(pki: PKI) -> None:
    leaf = pki.leaf(pki.root(), dns=["example.com"])
    cert = ParseCache().parse(leaf.der)
    assert cert.sha256 == hashlib.sha256(leaf.der).digest()
    pem = parse_certificate(leaf.pem)
    assert pem.der == leaf.der and pem.sha256 == cert.sha256


def _warning_prone(label: str) -> x509.Name:
    return x509.Name([x509.RelativeDistinguishedName(NAMES[label][0])])  # type: ignore[arg-type]


LONG_COMMON_NAME = [[attribute(NameOID.COMMON_NAME, "x" * 65)]]


@pytest.mark.parametrize(
    "where", ["subject", "issuer", "san directory name", "name constraints", "long common name"]
)
def test_a_certificate_that_may_warn_is_decoded_quietly(pki: PKI, where: str) -> None:
    """A Name of the wrong length anywhere in a certificate (subject, issuer, a name inside an
    extension) is decoded with warnings silenced: nothing the evaluation reads warns."""
    odd = _warning_prone("country of the wrong length")
    if where == "long common name":
        odd = x509.Name([x509.RelativeDistinguishedName(LONG_COMMON_NAME[0])])  # type: ignore[arg-type]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if where in {"subject", "long common name"}:
            der = pki.leaf(pki.root(), subject=odd, dns=["example.com"]).der
        elif where == "issuer":
            der = pki.leaf(pki.root(subject=odd), dns=["example.com"]).der
        elif where == "san directory name":
            san = x509.SubjectAlternativeName(
                [x509.DNSName("example.com"), x509.DirectoryName(odd)]
            )
            der = pki.leaf(pki.root(), extra_extensions=[(san, False)]).der
        else:
            der = pki.intermediate(pki.root(), name_constraints=([x509.DirectoryName(odd)], [])).der
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cert = parse_certificate(der)
        assert cert._quiet
        assert cert.subject.rfc4514_string() and cert.issuer.rfc4514_string()
        assert cert.public_key is not None and cert.extension_problem is None
        assert cert.subject_alt_names is not None or cert.name_constraints is not None


def test_a_plain_certificate_is_decoded_without_the_warnings_filter(pki: PKI) -> None:
    """Nearly every certificate cannot warn, and is decoded without the process-wide filter."""
    leaf = pki.leaf(pki.intermediate(pki.root()), dns=["example.com"])
    cert = parse_certificate(leaf.der)
    assert not cert._quiet
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cert.subject.rfc4514_string() == "CN=example.com"
        assert cert.public_key is not None


def test_the_plain_certificate_split_agrees_with_the_checked_one(pki: PKI) -> None:
    """certificate_parts' fast path (certificates shaped as nearly all are) gives what the
    checked walk gives, on real certificates and on byte edits of them, and leaves the rest
    to the checked walk and its reasons."""
    root = pki.root()
    issued = [root, pki.intermediate(root), pki.leaf(root, dns=["example.com"])]
    samples = [pki.with_version(issued[2], 0), pki.with_serial(issued[2], -5)]
    rng = random.Random(5280)
    for cert in issued:
        samples.append(cert.der)
        samples.extend(cert.der[:cut] for cut in range(0, len(cert.der), 7))
        for _ in range(400):
            edited = bytearray(cert.der)
            at = rng.randrange(len(edited))
            if rng.random() < 0.7:
                edited[at] = rng.randrange(256)
            else:
                edited.insert(at, rng.randrange(256))
            samples.append(bytes(edited))
    plain = 0
    for der in samples:
        try:
            expected: object = _checked_certificate_parts(der)
        except DERProblem as problem:
            expected = str(problem)
        fast = _plain_certificate_parts(der)
        if fast is not None:
            plain += 1
            assert fast == expected
        try:
            assert certificate_parts(der) == expected
        except DERProblem as problem:
            assert str(problem) == expected
    assert plain > len(issued)
