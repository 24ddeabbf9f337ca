"""Inputs a differential run against pyca and OpenSSL found accepted too easily: each must now
fail closed (or be read for what it is), with real certificates from the PKI builder."""

from __future__ import annotations

import pytest
from core.helpers import NOW, SHORT, failed, run
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtensionOID
from pki import PKI

from trustd.core import (
    EvaluationRequest,
    MalformedCertificate,
    MemorySnapshot,
    Policy,
    PolicyKind,
    evaluate,
    parse_certificate,
)
from trustd.core.names import hostname_matches


def test_an_empty_hostname_is_a_name_to_check(pki: PKI) -> None:
    """SecPolicyCreateSSL checks any non-NULL hostname; the empty one matches nothing."""
    root = pki.root()
    leaf = pki.leaf(root, dns=["example.com"], **SHORT)
    assert (0, "SSLHostname") in failed(
        run([leaf], anchors=[root], policies=[Policy(PolicyKind.SSL, name="")])
    )
    assert (0, "SSLHostname") not in failed(
        run([leaf], anchors=[root], policies=[Policy(PolicyKind.SSL, name=None)])
    )
    assert failed(run([leaf], anchors=[root], policies=[Policy(PolicyKind.SSL)])) == set()


def _raw_dns_constraint(tag: int, name: bytes) -> tuple[x509.UnrecognizedExtension, bool]:
    """NameConstraints with one dNSName subtree, its IA5String bytes exactly as given."""
    general = bytes([0x82, len(name)]) + name
    subtree = bytes([0x30, len(general)]) + general
    subtrees = bytes([tag, len(subtree)]) + subtree
    value = bytes([0x30, len(subtrees)]) + subtrees
    return x509.UnrecognizedExtension(ExtensionOID.NAME_CONSTRAINTS, value), True


@pytest.mark.parametrize("tag", [0xA1, 0xA0], ids=["excluded", "permitted"])
def test_a_u_label_dns_constraint_fails_closed(pki: PKI, tag: int) -> None:
    """`bücher.example` in a constraint is malformed (not an A-label); it must not be ignored."""
    root = pki.root()
    ica = pki.intermediate(
        root, extra_extensions=[_raw_dns_constraint(tag, "bücher.example".encode())]
    )
    assert ica.cert.extensions.get_extension_for_class(x509.NameConstraints)  # as parsed
    leaf = pki.leaf(ica, dns=["xn--bcher-kva.example"], **SHORT)
    assert (0, "NameConstraints") in failed(run([leaf, ica], anchors=[root]))
    ascii_ica = pki.intermediate(
        root, key=ica.key, extra_extensions=[_raw_dns_constraint(tag, b"other.example")]
    )
    expected = {(0, "NameConstraints")} if tag == 0xA0 else set()
    assert failed(run([leaf, ascii_ica], anchors=[root])) == expected


def test_key_usage_with_no_bit_set_is_refused(pki: PKI) -> None:
    """RFC 5280 4.2.1.3: when keyUsage appears, at least one bit must be set."""
    root = pki.root()
    leaf = pki.leaf(root, dns=["example.com"], key_usage=[], **SHORT)
    usage = leaf.cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert not usage.digital_signature and not usage.key_encipherment
    assert (0, "KeyUsage") in failed(run([leaf], anchors=[root]))
    signing = pki.leaf(root, dns=["example.com"], key_usage=["digitalSignature"], **SHORT)
    assert failed(run([signing], anchors=[root])) == set()


def test_a_san_with_an_empty_label_never_matches(pki: PKI) -> None:
    root = pki.root()
    doubled = pki.leaf(root, dns=["example.com.."], **SHORT)
    for reference in ("example.com", "example.com.", "example.com.."):
        assert not hostname_matches(
            doubled.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value,
            reference,
        )
    assert (0, "SSLHostname") in failed(
        run([doubled], anchors=[root], policies=[Policy(PolicyKind.SSL, name="example.com")])
    )
    absolute = pki.leaf(root, dns=["example.com."], **SHORT)
    assert (
        failed(
            run([absolute], anchors=[root], policies=[Policy(PolicyKind.SSL, name="example.com")])
        )
        == set()
    )


def test_parse_certificate_reads_past_a_private_key_block(pki: PKI) -> None:
    root = pki.root()
    key = root.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    assert parse_certificate(key + root.pem).der == root.der
    assert parse_certificate(root.pem + key).der == root.der
    # Text before the block, as `openssl x509 -text` and `openssl pkcs12` write it.
    assert parse_certificate(b"Bag Attributes\n    friendlyName: x\n" + root.pem).der == root.der
    assert parse_certificate(b"Certificate:\n    Data: ...\n" + root.pem).der == root.der
    with pytest.raises(
        MalformedCertificate, match="no certificate in the PEM data, only PRIVATE KEY"
    ):
        parse_certificate(key)
    request = EvaluationRequest(certificates=(key + root.pem,), anchors=(root.der,))
    verdict = evaluate(request, MemorySnapshot(), NOW)
    assert verdict.trusted and verdict.chain[0].der == root.der
