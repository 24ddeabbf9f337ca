"""Tests of the test PKI builder (tests/pki.py): what it claims to build, it really builds."""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID, SignatureAlgorithmOID
from pki import (
    KEY_TYPES,
    NOT_AFTER,
    NOT_BEFORE,
    PKI,
    GeneralNameLike,
    Issued,
    KeyCache,
    KeyType,
    der_children,
    der_int,
    der_oid,
    der_read,
    der_tlv,
)

UTC = dt.UTC
BC, KU, EKU = (
    ExtensionOID.BASIC_CONSTRAINTS,
    ExtensionOID.KEY_USAGE,
    ExtensionOID.EXTENDED_KEY_USAGE,
)
SKI, AKI = ExtensionOID.SUBJECT_KEY_IDENTIFIER, ExtensionOID.AUTHORITY_KEY_IDENTIFIER
SAN, NC = ExtensionOID.SUBJECT_ALTERNATIVE_NAME, ExtensionOID.NAME_CONSTRAINTS


# --------------------------------------------------------------------------- helpers


def ext(issued: Issued, oid: x509.ObjectIdentifier) -> x509.Extension[x509.ExtensionType]:
    return issued.cert.extensions.get_extension_for_oid(oid)


def has_ext(issued: Issued, oid: x509.ObjectIdentifier) -> bool:
    return any(e.oid == oid for e in issued.cert.extensions)


def signature_parts(der: bytes) -> tuple[bytes, bytes, bytes]:
    """(TBS, AlgorithmIdentifier, raw signature) of a certificate or CRL, without parsing it."""
    tbs, algorithm, bit_string = der_children(der)
    _, start, end = der_read(bit_string)
    return tbs, algorithm, bit_string[start + 1 : end]


def verify_raw(
    der: bytes, issuer: Issued, hash_alg: hashes.HashAlgorithm | None, *, pss: bool = False
) -> None:
    """Check the signature of ``der`` with the issuer's public key; raises InvalidSignature."""
    tbs, _, signature = signature_parts(der)
    public = issuer.key.public_key()
    if isinstance(public, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        public.verify(signature, tbs)
        return
    assert hash_alg is not None
    if isinstance(public, rsa.RSAPublicKey):
        pad: padding.AsymmetricPadding = (
            padding.PSS(padding.MGF1(hash_alg), hash_alg.digest_size) if pss else padding.PKCS1v15()
        )
        public.verify(signature, tbs, pad, hash_alg)
    elif isinstance(public, ec.EllipticCurvePublicKey):
        public.verify(signature, tbs, ec.ECDSA(hash_alg))
    else:
        assert isinstance(public, dsa.DSAPublicKey)
        public.verify(signature, tbs, hash_alg)


def raw_extensions(der: bytes) -> dict[bytes, tuple[bool, bytes]]:
    """extnID DER -> (critical, extnValue contents), read from the DER without cryptography."""
    tbs = der_children(der)[0]
    explicit = der_children(tbs)[-1]
    assert explicit[0] == 0xA3
    result = {}
    for extension in der_children(der_children(explicit)[0]):
        oid, *middle, octets = der_children(extension)
        critical = bool(middle) and middle[0] == der_tlv(0x01, b"\xff")
        _, start, end = der_read(octets)
        result[oid] = (critical, octets[start:end])
    return result


def tbs_fields(der: bytes) -> list[bytes]:
    return der_children(der_children(der)[0])


def run_openssl(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", *args],
        input=None if stdin is None else stdin.decode(),
        capture_output=True,
        text=True,
        check=False,
    )


needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl CLI")


# --------------------------------------------------------------------------- chains


def test_chain_verifies_with_default_profile(pki: PKI) -> None:
    root = pki.root()
    inter = pki.intermediate(root)
    leaf = pki.leaf(inter, dns=["www.example.com", "example.com"])

    root.cert.verify_directly_issued_by(root.cert)
    inter.cert.verify_directly_issued_by(root.cert)
    leaf.cert.verify_directly_issued_by(inter.cert)

    assert root.name.rfc4514_string() == "CN=Root CA"
    assert inter.name.rfc4514_string() == "CN=Intermediate CA"
    assert leaf.name.rfc4514_string() == "CN=www.example.com"
    assert inter.cert.issuer == root.name and leaf.cert.issuer == inter.name

    for ca in (root, inter):
        bc = ext(ca, BC)
        assert bc.critical and bc.value == x509.BasicConstraints(ca=True, path_length=None)
        ku = ext(ca, KU)
        assert ku.critical
        assert isinstance(ku.value, x509.KeyUsage)
        assert ku.value.key_cert_sign and ku.value.crl_sign and not ku.value.digital_signature
        assert not has_ext(ca, EKU)

    assert not has_ext(leaf, BC)
    ku = ext(leaf, KU)
    assert ku.critical and ku.value == x509.KeyUsage(
        True, False, False, False, False, False, False, False, False
    )
    eku = ext(leaf, EKU)
    assert not eku.critical and list(eku.value) == [ExtendedKeyUsageOID.SERVER_AUTH]  # type: ignore[call-overload]
    san = ext(leaf, SAN)
    assert not san.critical
    assert isinstance(san.value, x509.SubjectAlternativeName)
    assert san.value.get_values_for_type(x509.DNSName) == ["www.example.com", "example.com"]

    # SKI on every cert; AKI on every non-self-signed one, equal to its issuer's SKI.
    for issued in (root, inter, leaf):
        expected = x509.SubjectKeyIdentifier.from_public_key(issued.cert.public_key())
        assert issued.ski == expected.digest
    assert not has_ext(root, AKI)
    for child, parent in ((inter, root), (leaf, inter)):
        aki = ext(child, AKI).value
        assert isinstance(aki, x509.AuthorityKeyIdentifier)
        assert aki.key_identifier == parent.ski
        assert aki.authority_cert_issuer is None

    for issued in (root, inter, leaf):
        assert issued.cert.version == x509.Version.v3
        assert issued.cert.not_valid_before_utc == NOT_BEFORE == dt.datetime(2020, 1, 1, tzinfo=UTC)
        assert issued.cert.not_valid_after_utc == NOT_AFTER == dt.datetime(2040, 1, 1, tzinfo=UTC)
        assert issued.cert.signature_hash_algorithm is not None
        assert issued.cert.signature_hash_algorithm.name == "sha256"
        serial_tlv = tbs_fields(issued.der)[1]
        assert serial_tlv[:2] == b"\x02\x10" and serial_tlv[2] < 0x80  # 16 bytes, positive
        assert issued.cert.serial_number > 0
    assert len({i.cert.serial_number for i in (root, inter, leaf)}) == 3
    keys = [i.cert.public_key() for i in (root, inter, leaf)]
    assert keys[0] != keys[1] != keys[2] != keys[0]  # a distinct key for each certificate


def test_issued_value_type(pki: PKI) -> None:
    root = pki.root()
    assert root.der == root.cert.public_bytes(serialization.Encoding.DER)
    assert x509.load_pem_x509_certificate(root.pem) == root.cert
    assert root.pem.startswith(b"-----BEGIN CERTIFICATE-----\n")
    assert root.sha256 == hashlib.sha256(root.der).hexdigest()
    assert root.sha256 == root.cert.fingerprint(hashes.SHA256()).hex()
    assert root.sha1 == root.cert.fingerprint(hashes.SHA1()).hex()
    assert root.name == root.cert.subject
    with pytest.raises(AttributeError):
        root.der = b""  # type: ignore[misc]


@pytest.mark.alone  # it measures the builder's speed
def test_three_cert_ec_chain_takes_milliseconds(pki: PKI) -> None:
    PKI(pki.keys).leaf(PKI(pki.keys).root())  # warm the key cache
    rounds = 20
    start = time.perf_counter()
    for _ in range(rounds):
        builder = PKI(pki.keys)
        root = builder.root()
        builder.leaf(builder.intermediate(root), dns=["example.com"])
    per_chain = (time.perf_counter() - start) / rounds
    assert per_chain < 0.02, f"{per_chain * 1000:.1f} ms per chain"


# --------------------------------------------------------------------------- keys

EXPECTED_KEYS: dict[str, tuple[type, int | None]] = {
    "ec-p192": (ec.EllipticCurvePrivateKey, 192),
    "ec-p224": (ec.EllipticCurvePrivateKey, 224),
    "ec-p256": (ec.EllipticCurvePrivateKey, 256),
    "ec-p384": (ec.EllipticCurvePrivateKey, 384),
    "ec-p521": (ec.EllipticCurvePrivateKey, 521),
    "ec-secp256k1": (ec.EllipticCurvePrivateKey, 256),
    "rsa-1024": (rsa.RSAPrivateKey, 1024),
    "rsa-2048": (rsa.RSAPrivateKey, 2048),
    "rsa-3072": (rsa.RSAPrivateKey, 3072),
    "rsa-4096": (rsa.RSAPrivateKey, 4096),
    "ed25519": (ed25519.Ed25519PrivateKey, None),
    "ed448": (ed448.Ed448PrivateKey, None),
    "dsa-2048": (dsa.DSAPrivateKey, 2048),
}


def test_expected_keys_cover_all_key_types() -> None:
    assert set(EXPECTED_KEYS) == set(KEY_TYPES)


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_key_types_have_right_size_and_sign(
    pki: PKI, pki_keys: KeyCache, key_type: KeyType
) -> None:
    try:
        pki_keys.get(key_type)
    except UnsupportedAlgorithm:
        pytest.skip(f"this OpenSSL cannot generate {key_type} keys")
    root = pki.root(key_type=key_type)
    leaf = pki.leaf(root, key_type=key_type)
    key_class, size = EXPECTED_KEYS[key_type]
    for issued in (root, leaf):
        assert isinstance(issued.key, key_class)
        if size is not None:
            assert issued.key.key_size == size  # type: ignore[union-attr]
    assert root.key is not leaf.key
    if key_type == "ec-secp256k1":
        assert isinstance(root.key, ec.EllipticCurvePrivateKey)
        assert root.key.curve.name == "secp256k1"
    root.cert.verify_directly_issued_by(root.cert)
    leaf.cert.verify_directly_issued_by(root.cert)


def test_new_key_is_distinct_and_session_cached(pki: PKI, pki_keys: KeyCache) -> None:
    first = pki.new_key("rsa-2048")
    second = pki.new_key("rsa-2048")
    assert first.public_key() != second.public_key()
    # Another builder of the same session gets the same keys back, without generating.
    other = PKI(pki_keys)
    assert other.new_key("rsa-2048") is first
    assert other.new_key("rsa-2048") is second
    assert pki_keys.get("rsa-2048", 0) is first
    # The default key type is ec-p256.
    assert isinstance(pki.new_key(), ec.EllipticCurvePrivateKey)
    with pytest.raises(ValueError, match="unknown key type"):
        pki_keys.get("rsa-512")  # type: ignore[arg-type]


def test_same_key_can_be_reused(pki: PKI) -> None:
    key = pki.new_key("rsa-2048")
    first = pki.root("First", key=key)
    second = pki.root("Second", key=key)
    assert first.key is second.key is key
    assert first.cert.public_key() == second.cert.public_key()
    assert first.ski == second.ski
    second.cert.verify_directly_issued_by(second.cert)


def test_cross_sign_reuses_subject_and_key(pki: PKI) -> None:
    old_root = pki.root("Old Root")
    new_root = pki.root("New Root", key_type="rsa-2048")
    inter = pki.intermediate(new_root, path_length=0)
    leaf = pki.leaf(inter, dns=["example.com"])

    cross = pki.cross_sign(inter, old_root)
    assert cross.name == inter.name
    assert cross.key is inter.key
    assert cross.cert.public_key() == inter.cert.public_key()
    assert cross.cert.issuer == old_root.name
    assert cross.cert.serial_number != inter.cert.serial_number
    cross.cert.verify_directly_issued_by(old_root.cert)
    with pytest.raises(ValueError):
        cross.cert.verify_directly_issued_by(new_root.cert)  # issuer name differs
    # Both certificates of the intermediate vouch for the same leaf signature.
    leaf.cert.verify_directly_issued_by(inter.cert)
    leaf.cert.verify_directly_issued_by(cross.cert)
    # Extensions are copied except the AKI, which now names the new issuer.
    assert cross.ski == inter.ski
    assert ext(cross, BC) == ext(inter, BC)
    assert ext(cross, KU) == ext(inter, KU)
    cross_aki = ext(cross, AKI).value
    assert isinstance(cross_aki, x509.AuthorityKeyIdentifier)
    assert cross_aki.key_identifier == old_root.ski != new_root.ski
    assert cross.cert.not_valid_after_utc == inter.cert.not_valid_after_utc
    # Options still apply.
    short = pki.cross_sign(inter, old_root, not_after=dt.datetime(2030, 1, 1), key_usage=None)
    assert short.cert.not_valid_after_utc == dt.datetime(2030, 1, 1, tzinfo=UTC)
    assert not has_ext(short, KU)


# --------------------------------------------------------------------------- extensions


def test_extensions_can_be_omitted(pki: PKI) -> None:
    bare_root = pki.root(basic_constraints=None, key_usage=None, ski=False)
    assert len(bare_root.cert.extensions) == 0
    bare_root.cert.verify_directly_issued_by(bare_root.cert)

    root = pki.root()
    leaf = pki.leaf(root, ski=False, aki=False, key_usage=None, eku=None)
    assert len(leaf.cert.extensions) == 0
    leaf.cert.verify_directly_issued_by(root.cert)
    inter = pki.intermediate(root, aki=False, basic_constraints=None)
    assert {e.oid for e in inter.cert.extensions} == {KU, SKI}


def test_extensions_can_be_altered(pki: PKI) -> None:
    root = pki.root(path_length=2, name_constraints=None)
    assert ext(root, BC).value == x509.BasicConstraints(ca=True, path_length=2)

    inter = pki.intermediate(
        root,
        basic_constraints=(True, 0, False),
        key_usage={"key_cert_sign"},
        key_usage_critical=False,
        ski=b"\x02" * 8,
        aki=b"\x01" * 20,
    )
    bc = ext(inter, BC)
    assert not bc.critical and bc.value == x509.BasicConstraints(ca=True, path_length=0)
    ku = ext(inter, KU)
    assert not ku.critical
    assert isinstance(ku.value, x509.KeyUsage)
    assert ku.value.key_cert_sign and not ku.value.crl_sign
    assert inter.ski == b"\x02" * 8
    aki = ext(inter, AKI).value
    assert isinstance(aki, x509.AuthorityKeyIdentifier)
    assert aki.key_identifier == b"\x01" * 20 != root.ski

    assert ext(pki.leaf(inter, key_usage="crlSign", eku="clientAuth"), KU).value == (
        x509.KeyUsage(False, False, False, False, False, False, True, False, False)
    )
    leaf = pki.leaf(
        inter,
        eku=["clientAuth", "1.2.3.4", ExtendedKeyUsageOID.CODE_SIGNING, "any"],
        eku_critical=True,
        key_usage=["nonRepudiation", "keyEncipherment", "keyAgreement", "decipher_only"],
    )
    eku = ext(leaf, EKU)
    assert eku.critical
    assert list(eku.value) == [  # type: ignore[call-overload]
        ExtendedKeyUsageOID.CLIENT_AUTH,
        x509.ObjectIdentifier("1.2.3.4"),
        ExtendedKeyUsageOID.CODE_SIGNING,
        ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
    ]
    assert ext(leaf, KU).value == x509.KeyUsage(
        False, True, True, False, True, False, False, False, True
    )
    # An AKI pointing at the wrong key does not change the signature: it still verifies.
    leaf.cert.verify_directly_issued_by(inter.cert)
    empty_eku = raw_extensions(pki.leaf(root, eku=[]).der)[der_oid(EKU.dotted_string)]
    assert empty_eku == (False, bytes.fromhex("3000"))  # invalid per RFC 5280, but encodable


def test_invalid_extension_encodings_are_made_by_hand(pki: PKI) -> None:
    root = pki.root()
    leaf = pki.leaf(root, basic_constraints=(False, 3, True), key_usage={"encipherOnly"})
    raw = raw_extensions(leaf.der)
    assert raw[der_oid(BC.dotted_string)] == (True, bytes.fromhex("3003020103"))  # pathLen 3
    assert raw[der_oid(KU.dotted_string)] == (True, bytes.fromhex("03020001"))  # bit 7 only
    with pytest.raises(ValueError):
        _ = leaf.cert.extensions  # cryptography rejects what it would not build
    negative = pki.intermediate(root, basic_constraints=(True, -1, True))
    raw = raw_extensions(negative.der)
    assert raw[der_oid(BC.dotted_string)] == (True, bytes.fromhex("30060101ff0201ff"))


def test_aki_on_self_signed_when_asked(pki: PKI) -> None:
    root = pki.root(aki=True)
    aki = ext(root, AKI).value
    assert isinstance(aki, x509.AuthorityKeyIdentifier)
    assert aki.key_identifier == root.ski
    # Without an SKI on the issuer, the AKI is still derived from the issuer's public key.
    no_ski = pki.root(ski=False)
    child = pki.leaf(no_ski)
    child_aki = ext(child, AKI).value
    assert isinstance(child_aki, x509.AuthorityKeyIdentifier)
    expected = x509.SubjectKeyIdentifier.from_public_key(no_ski.cert.public_key()).digest
    assert child_aki.key_identifier == expected


def test_subject_alt_names(pki: PKI) -> None:
    root = pki.root()
    leaf = pki.leaf(
        root,
        "Named",
        dns=["a.example"],
        ips=["192.0.2.1", ipaddress.ip_address("2001:db8::1"), "10.0.0.0/8"],
        emails=["user@example.com"],
        uris=["https://example.com/x"],
        san_critical=True,
    )
    assert leaf.name.rfc4514_string() == "CN=Named"
    san = ext(leaf, SAN)
    assert san.critical
    assert isinstance(san.value, x509.SubjectAlternativeName)
    assert san.value.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("192.0.2.1"),
        ipaddress.ip_address("2001:db8::1"),
        ipaddress.ip_network("10.0.0.0/8"),
    ]
    assert san.value.get_values_for_type(x509.RFC822Name) == ["user@example.com"]
    assert san.value.get_values_for_type(x509.UniformResourceIdentifier) == [
        "https://example.com/x"
    ]
    # No names, no SAN; an empty subject makes the SAN critical by default.
    assert not has_ext(pki.leaf(root), SAN)
    assert pki.leaf(root).name.rfc4514_string() == "CN=Leaf"
    anonymous = pki.leaf(root, subject=x509.Name([]), dns=["a.example"])
    assert len(anonymous.name) == 0 and ext(anonymous, SAN).critical


def test_name_constraints(pki: PKI) -> None:
    directory = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example")])
    permitted: list[GeneralNameLike] = ["example.com", "10.0.0.0/8", "user@example.com", directory]
    excluded: list[GeneralNameLike] = [
        ".bad.example.com",
        ipaddress.ip_network("2001:db8::/32"),
        x509.RFC822Name(".mail"),
    ]
    root = pki.root(name_constraints=(permitted, excluded))
    nc = ext(root, NC)
    assert nc.critical
    assert nc.value == x509.NameConstraints(
        permitted_subtrees=[
            x509.DNSName("example.com"),
            x509.IPAddress(ipaddress.ip_network("10.0.0.0/8")),
            x509.RFC822Name("user@example.com"),
            x509.DirectoryName(directory),
        ],
        excluded_subtrees=[
            x509.DNSName(".bad.example.com"),
            x509.IPAddress(ipaddress.ip_network("2001:db8::/32")),
            x509.RFC822Name(".mail"),
        ],
    )
    inter = pki.intermediate(
        root, name_constraints=(None, ["evil.example"]), name_constraints_critical=False
    )
    nc = ext(inter, NC)
    assert not nc.critical
    assert isinstance(nc.value, x509.NameConstraints)
    assert nc.value.permitted_subtrees is None
    # Name constraints on a leaf are possible too (a negative case).
    assert has_ext(pki.leaf(inter, name_constraints=(["example.com"], None)), NC)


def test_names_validity_and_serial(pki: PKI) -> None:
    root = pki.root()
    other = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Somebody Else")])
    mismatch = pki.leaf(root, issuer_name=other)
    assert mismatch.cert.issuer == other
    with pytest.raises(ValueError):
        mismatch.cert.verify_directly_issued_by(root.cert)  # the names do not chain...
    verify_raw(mismatch.der, root, hashes.SHA256())  # ...but the signature is root's

    dated = pki.leaf(
        root,
        serial=12345,
        not_before=dt.datetime(2021, 6, 1, 12, 0),  # naive means UTC
        not_after=dt.datetime(2051, 6, 1, tzinfo=UTC),  # GeneralizedTime territory
    )
    assert dated.cert.serial_number == 12345
    assert dated.cert.not_valid_before_utc == dt.datetime(2021, 6, 1, 12, 0, tzinfo=UTC)
    assert dated.cert.not_valid_after_utc == dt.datetime(2051, 6, 1, tzinfo=UTC)

    inverted = pki.leaf(root, not_before=dt.datetime(2030, 1, 1), not_after=dt.datetime(2025, 1, 1))
    assert inverted.cert.not_valid_before_utc == dt.datetime(2030, 1, 1, tzinfo=UTC)
    assert inverted.cert.not_valid_after_utc == dt.datetime(2025, 1, 1, tzinfo=UTC)
    inverted.cert.verify_directly_issued_by(root.cert)


def test_extra_extensions_and_mutate(pki: PKI) -> None:
    private_oid = x509.ObjectIdentifier("1.3.6.1.4.1.55555.1")
    root = pki.root(
        extra_extensions=[
            (x509.UnrecognizedExtension(private_oid, b"\x05\x00"), True),
            (x509.BasicConstraints(ca=True, path_length=5), False),  # replaces the default
        ],
        mutate=lambda builder: builder.add_extension(x509.OCSPNoCheck(), critical=False),
    )
    unknown = ext(root, private_oid)
    assert unknown.critical
    assert isinstance(unknown.value, x509.UnrecognizedExtension)
    assert unknown.value.value == b"\x05\x00"
    bc = ext(root, BC)
    assert not bc.critical and bc.value == x509.BasicConstraints(ca=True, path_length=5)
    assert sum(e.oid == BC for e in root.cert.extensions) == 1
    assert isinstance(ext(root, ExtensionOID.OCSP_NO_CHECK).value, x509.OCSPNoCheck)
    root.cert.verify_directly_issued_by(root.cert)


def test_self_signed_leaf(pki: PKI) -> None:
    leaf = pki.leaf(None, dns=["self.example"])
    assert leaf.cert.issuer == leaf.name
    assert not has_ext(leaf, BC) and not has_ext(leaf, AKI)
    assert has_ext(leaf, SKI)
    leaf.cert.verify_directly_issued_by(leaf.cert)


# --------------------------------------------------------------------------- signatures


@pytest.mark.parametrize("hash_alg", ["sha256", "SHA-384", "sha512", hashes.SHA384(), "sha224"])
def test_modern_hashes(pki: PKI, hash_alg: str | hashes.HashAlgorithm) -> None:
    root = pki.root(key_type="rsa-2048")
    leaf = pki.leaf(root, hash_alg=hash_alg)
    expected = hash_alg if isinstance(hash_alg, str) else hash_alg.name
    assert leaf.cert.signature_hash_algorithm is not None
    assert leaf.cert.signature_hash_algorithm.name == expected.lower().replace("-", "")
    leaf.cert.verify_directly_issued_by(root.cert)


@pytest.mark.parametrize(
    ("key_type", "hash_alg", "pss", "oid"),
    [
        ("rsa-2048", hashes.SHA1(), False, SignatureAlgorithmOID.RSA_WITH_SHA1),
        ("rsa-2048", hashes.MD5(), False, SignatureAlgorithmOID.RSA_WITH_MD5),
        ("rsa-2048", hashes.SHA1(), True, SignatureAlgorithmOID.RSASSA_PSS),
        ("ec-p256", hashes.SHA1(), False, SignatureAlgorithmOID.ECDSA_WITH_SHA1),
        ("dsa-2048", hashes.SHA1(), False, SignatureAlgorithmOID.DSA_WITH_SHA1),
    ],
)
def test_legacy_hashes_are_signed_by_hand(
    pki: PKI,
    key_type: KeyType,
    hash_alg: hashes.HashAlgorithm,
    pss: bool,
    oid: x509.ObjectIdentifier,
) -> None:
    root = pki.root(key_type=key_type)
    leaf = pki.leaf(root, hash_alg=hash_alg.name, rsa_pss=pss)
    assert leaf.cert.signature_algorithm_oid == oid
    assert leaf.cert.signature_hash_algorithm is not None
    assert leaf.cert.signature_hash_algorithm.name == hash_alg.name
    tbs, algorithm, _ = signature_parts(leaf.der)
    assert tbs == leaf.cert.tbs_certificate_bytes
    assert tbs_fields(leaf.der)[2] == algorithm  # the TBS names the same algorithm
    verify_raw(leaf.der, root, hash_alg, pss=pss)
    with pytest.raises(InvalidSignature):
        verify_raw(pki.corrupt_signature(leaf), root, hash_alg, pss=pss)
    # Legacy roots can sign too.
    legacy_root = pki.root(key_type=key_type, hash_alg=hash_alg, rsa_pss=pss)
    verify_raw(legacy_root.der, legacy_root, hash_alg, pss=pss)


def test_rsa_pss_and_eddsa(pki: PKI) -> None:
    root = pki.root(key_type="rsa-3072")
    leaf = pki.leaf(root, rsa_pss=True, hash_alg="sha384")
    assert leaf.cert.signature_algorithm_oid == SignatureAlgorithmOID.RSASSA_PSS
    assert isinstance(leaf.cert.signature_algorithm_parameters, padding.PSS)
    leaf.cert.verify_directly_issued_by(root.cert)

    ed_root = pki.root(key_type="ed25519", hash_alg="sha384")  # EdDSA ignores hash_alg
    assert ed_root.cert.signature_algorithm_oid == SignatureAlgorithmOID.ED25519
    assert ed_root.cert.signature_hash_algorithm is None


def test_bad_signing_options_are_refused(pki: PKI) -> None:
    ec_root = pki.root()
    with pytest.raises(ValueError, match="rsa_pss"):
        pki.leaf(ec_root, rsa_pss=True)
    with pytest.raises(ValueError, match="no signature algorithm"):
        pki.leaf(ec_root, hash_alg="md5")
    with pytest.raises(ValueError, match="unknown hash"):
        pki.leaf(ec_root, hash_alg="sha0")
    with pytest.raises(ValueError, match="unknown key usage"):
        pki.leaf(ec_root, key_usage={"signEverything"})
    with pytest.raises(ValueError, match="unknown extended key usage"):
        pki.leaf(ec_root, eku=["serverAuthh"])


# --------------------------------------------------------------------------- DER tampering


@pytest.mark.parametrize("key_type", ["ec-p256", "rsa-2048", "ed25519", "ed448", "dsa-2048"])
def test_corrupt_signature_fails_verification(pki: PKI, key_type: KeyType) -> None:
    root = pki.root(key_type=key_type)
    leaf = pki.leaf(root)
    bad = pki.corrupt_signature(leaf)
    assert len(bad) == len(leaf.der)
    assert sum(a != b for a, b in zip(bad, leaf.der, strict=True)) == 1
    assert signature_parts(bad)[2] != signature_parts(leaf.der)[2]
    parsed = x509.load_der_x509_certificate(bad)
    assert parsed.tbs_certificate_bytes == leaf.cert.tbs_certificate_bytes
    with pytest.raises(InvalidSignature):
        parsed.verify_directly_issued_by(root.cert)
    # The corruption of a self-signed certificate fails against itself.
    with pytest.raises(InvalidSignature):
        x509.load_der_x509_certificate(pki.corrupt_signature(root)).verify_directly_issued_by(
            root.cert
        )


def test_truncate(pki: PKI) -> None:
    leaf = pki.leaf(pki.root())
    half = pki.truncate(leaf)
    assert half == leaf.der[: len(leaf.der) // 2]
    assert pki.truncate(leaf.der, 10) == leaf.der[:10]
    for broken in (half, pki.truncate(leaf, len(leaf.der) - 1)):
        with pytest.raises(ValueError):
            x509.load_der_x509_certificate(broken)
        with pytest.raises(ValueError, match="truncated"):
            der_children(broken)


def test_with_version_resigns(pki: PKI) -> None:
    root = pki.root()
    leaf = pki.leaf(root)
    v1 = pki.with_version(leaf, 0)
    assert tbs_fields(v1)[0][0] == 0x02  # no [0] version field: DEFAULT v1
    assert x509.load_der_x509_certificate(v1).version == x509.Version.v1
    x509.load_der_x509_certificate(v1).verify_directly_issued_by(root.cert)

    explicit_v1 = pki.with_version(leaf, 0, explicit=True)
    assert tbs_fields(explicit_v1)[0] == bytes.fromhex("a003020100")
    v4 = pki.with_version(leaf, 3)
    assert tbs_fields(v4)[0] == bytes.fromhex("a003020103")
    verify_raw(v4, root, hashes.SHA256())
    # A self-signed root is re-signed with its own key.
    v1_root = pki.with_version(pki.root(basic_constraints=None, key_usage=None, ski=False), 0)
    parsed = x509.load_der_x509_certificate(v1_root)
    assert parsed.version == x509.Version.v1
    parsed.verify_directly_issued_by(parsed)


def test_with_serial_resigns(pki: PKI) -> None:
    root = pki.root(key_type="rsa-2048")
    leaf = pki.leaf(root, hash_alg="sha1")
    for serial in (0, -1, 2**200):
        der = pki.with_serial(leaf, serial)
        assert tbs_fields(der)[1] == der_int(serial)
        verify_raw(der, root, hashes.SHA1())
    assert der_int(0) == bytes.fromhex("020100")
    assert der_int(-1) == bytes.fromhex("0201ff")
    assert der_int(128) == bytes.fromhex("02020080")
    assert der_int(-128) == bytes.fromhex("020180")
    assert der_int(-129) == bytes.fromhex("0202ff7f")


def test_resign_needs_a_known_signer(pki: PKI) -> None:
    root = pki.root()
    leaf = pki.leaf(root)
    stranger = PKI(pki.keys)
    with pytest.raises(ValueError, match="unknown signer"):
        stranger.with_version(leaf, 0)
    der = stranger.with_version(leaf, 0, issuer=root)
    x509.load_der_x509_certificate(der).verify_directly_issued_by(root.cert)


def test_der_helpers() -> None:
    assert der_oid("1.2.840.113549.1.1.11") == bytes.fromhex("06092a864886f70d01010b")
    assert der_oid("2.5.29.19") == bytes.fromhex("0603551d13")
    assert der_oid("1.2.0.127.128.16383.16384") == bytes.fromhex("060a2a007f8100ff7f818000")
    long = der_tlv(0x04, b"x" * 300)
    assert long[:4] == bytes.fromhex("0482012c")
    assert der_read(long) == (0x04, 4, 304)
    assert der_children(der_tlv(0x30, der_int(1) + der_int(2))) == [der_int(1), der_int(2)]
    with pytest.raises(ValueError, match="not constructed"):
        der_children(der_int(1))


# --------------------------------------------------------------------------- CRLs


def test_crl_lists_revoked_serials(pki: PKI) -> None:
    root = pki.root()
    leaf = pki.leaf(root)
    when = dt.datetime(2021, 3, 4, tzinfo=UTC)
    crl = pki.crl(
        root,
        [leaf, (1234, when, "keyCompromise"), (5678, when, x509.ReasonFlags.superseded)],
        crl_number=7,
    )
    assert crl.crl.is_signature_valid(root.key.public_key())
    assert crl.crl.issuer == root.name
    assert crl.crl.last_update_utc == NOT_BEFORE and crl.crl.next_update_utc == NOT_AFTER
    assert sorted(r.serial_number for r in crl.crl) == sorted([leaf.cert.serial_number, 1234, 5678])
    entry = crl.crl.get_revoked_certificate_by_serial_number(1234)
    assert entry is not None and entry.revocation_date_utc == when
    reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    assert reason == x509.ReasonFlags.key_compromise
    superseded = crl.crl.get_revoked_certificate_by_serial_number(5678)
    assert superseded is not None
    assert superseded.extensions.get_extension_for_class(x509.CRLReason).value.reason == (
        x509.ReasonFlags.superseded
    )
    plain = crl.crl.get_revoked_certificate_by_serial_number(leaf.cert.serial_number)
    assert plain is not None and len(plain.extensions) == 0
    assert plain.revocation_date_utc == NOT_BEFORE
    assert crl.crl.get_revoked_certificate_by_serial_number(999) is None
    assert crl.crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 7
    aki = crl.crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == root.ski
    assert x509.load_der_x509_crl(crl.der) == crl.crl
    assert crl.pem.startswith(b"-----BEGIN X509 CRL-----")


def test_crl_options_and_corruption(pki: PKI) -> None:
    root = pki.root(key_type="rsa-2048")
    bare = pki.crl(
        root,
        crl_number=None,
        aki=False,
        this_update=dt.datetime(2024, 1, 1),
        next_update=dt.datetime(2024, 2, 1),
    )
    assert len(bare.crl.extensions) == 0 and len(bare.crl) == 0
    assert bare.crl.next_update_utc == dt.datetime(2024, 2, 1, tzinfo=UTC)

    bad = x509.load_der_x509_crl(pki.corrupt_signature(bare))
    assert not bad.is_signature_valid(root.key.public_key())

    legacy = pki.crl(root, [42], hash_alg="sha1")
    assert legacy.crl.signature_algorithm_oid == SignatureAlgorithmOID.RSA_WITH_SHA1
    assert der_children(legacy.crl.tbs_certlist_bytes)[1] == signature_parts(legacy.der)[1]
    verify_raw(legacy.der, root, hashes.SHA1())

    other = pki.root("Other")
    mutated = pki.crl(
        root,
        issuer_name=other.name,
        mutate=lambda b: b.add_extension(x509.DeltaCRLIndicator(1), critical=True),
    )
    assert mutated.crl.issuer == other.name
    delta = mutated.crl.extensions.get_extension_for_class(x509.DeltaCRLIndicator)
    assert delta.critical and delta.value.crl_number == 1
    assert mutated.crl.is_signature_valid(root.key.public_key())


# --------------------------------------------------------------------------- openssl


@needs_openssl
def test_openssl_parses_and_verifies_the_output(pki: PKI, tmp_path: Path) -> None:
    root = pki.root(key_type="rsa-2048", name_constraints=(["example.com"], None))
    inter = pki.intermediate(root, path_length=0)
    leaf = pki.leaf(inter, dns=["www.example.com"], ips=["192.0.2.7"])
    for name, issued in (("root", root), ("inter", inter), ("leaf", leaf)):
        (tmp_path / f"{name}.pem").write_bytes(issued.pem)

    text = run_openssl("x509", "-noout", "-text", "-in", str(tmp_path / "inter.pem"))
    assert text.returncode == 0, text.stderr
    out = text.stdout
    assert "Version: 3 (0x2)" in out
    assert "Issuer: CN = Root CA" in out and "Subject: CN = Intermediate CA" in out
    assert "X509v3 Basic Constraints: critical" in out and "CA:TRUE, pathlen:0" in out
    assert "Certificate Sign, CRL Sign" in out
    assert "X509v3 Authority Key Identifier" in out
    assert "id-ecPublicKey" in out and "sha256WithRSAEncryption" in out

    leaf_text = run_openssl("x509", "-noout", "-text", "-in", str(tmp_path / "leaf.pem")).stdout
    assert "DNS:www.example.com, IP Address:192.0.2.7" in leaf_text
    assert "TLS Web Server Authentication" in leaf_text

    ok = run_openssl(
        "verify",
        "-CAfile",
        str(tmp_path / "root.pem"),
        "-untrusted",
        str(tmp_path / "inter.pem"),
        str(tmp_path / "leaf.pem"),
    )
    assert ok.returncode == 0 and ok.stdout.strip().endswith("OK"), ok.stdout + ok.stderr

    bad = x509.load_der_x509_certificate(pki.corrupt_signature(leaf))
    (tmp_path / "bad.pem").write_bytes(bad.public_bytes(serialization.Encoding.PEM))
    failed = run_openssl(
        "verify",
        "-CAfile",
        str(tmp_path / "root.pem"),
        "-untrusted",
        str(tmp_path / "inter.pem"),
        str(tmp_path / "bad.pem"),
    )
    assert failed.returncode != 0
    assert "signature failure" in failed.stdout + failed.stderr

    md5 = run_openssl("x509", "-noout", "-text", stdin=pki.leaf(root, hash_alg="md5").pem)
    assert md5.returncode == 0 and "md5WithRSAEncryption" in md5.stdout

    crl = pki.crl(root, [(leaf.cert.serial_number, NOT_BEFORE, "keyCompromise")])
    crl_text = run_openssl("crl", "-noout", "-text", stdin=crl.pem)
    assert crl_text.returncode == 0, crl_text.stderr
    assert f"Serial Number: {leaf.cert.serial_number:X}" in crl_text.stdout
    assert "Key Compromise" in crl_text.stdout
