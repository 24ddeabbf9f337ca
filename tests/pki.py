"""A PKI builder for tests: real X.509 certificates and CRLs, valid or deliberately broken.

Typical use, through the ``pki`` fixture of ``tests/conftest.py``::

    root = pki.root()
    inter = pki.intermediate(root, path_length=0)
    leaf = pki.leaf(inter, dns=["example.com"])
    no_aki = pki.leaf(inter, aki=False)  # extension omitted
    bad_sig = pki.corrupt_signature(leaf)  # DER bytes whose signature fails

Every option left out gets a conventional, valid default; ``None`` omits an extension.
Things ``cryptography`` refuses to produce are made by editing and re-signing the DER:
SHA-1 and MD5 signatures, inverted validity, a pathLen on a non-CA, encipherOnly
without keyAgreement, any version or serial (``with_version``, ``with_serial``).
The post-signing helpers return DER bytes, since their output may not parse.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import re
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias, TypedDict, Unpack, cast, get_args

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509 import ocsp
from cryptography.x509.oid import (
    AuthorityInformationAccessOID,
    ExtendedKeyUsageOID,
    ExtensionOID,
    NameOID,
    SignatureAlgorithmOID,
)

__all__ = [
    "DEFAULT_KEYS",
    "KEY_TYPES",
    "NOT_AFTER",
    "NOT_BEFORE",
    "PKI",
    "CertOptions",
    "GeneralNameLike",
    "Issued",
    "IssuedCRL",
    "KeyCache",
    "KeyType",
    "aia",
    "crl_distribution",
    "der_children",
    "der_int",
    "der_oid",
    "der_read",
    "der_tlv",
]

PrivateKey: TypeAlias = CertificateIssuerPrivateKeyTypes
KeyType: TypeAlias = Literal[
    "ec-p192",
    "ec-p224",
    "ec-p256",
    "ec-p384",
    "ec-p521",
    "ec-secp256k1",
    "rsa-1024",
    "rsa-2048",
    "rsa-3072",
    "rsa-4096",
    "ed25519",
    "ed448",
    "dsa-2048",
]
KEY_TYPES: tuple[KeyType, ...] = get_args(KeyType)

HashSpec: TypeAlias = hashes.HashAlgorithm | str
IPLike: TypeAlias = (
    str
    | ipaddress.IPv4Address
    | ipaddress.IPv6Address
    | ipaddress.IPv4Network
    | ipaddress.IPv6Network
)
GeneralNameLike: TypeAlias = (
    x509.GeneralName | x509.Name | ipaddress.IPv4Network | ipaddress.IPv6Network | str
)
NameConstraintsSpec: TypeAlias = (
    x509.NameConstraints | tuple[Sequence[GeneralNameLike] | None, Sequence[GeneralNameLike] | None]
)
ExtensionSpec: TypeAlias = tuple[x509.ExtensionType, bool]
ReasonSpec: TypeAlias = x509.ReasonFlags | str

NOT_BEFORE = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
NOT_AFTER = dt.datetime(2040, 1, 1, tzinfo=dt.UTC)


class CertOptions(TypedDict, total=False):
    """Options shared by ``root``, ``intermediate``, ``leaf`` and ``cross_sign``.

    An absent option takes the role's default; ``None`` omits the extension.
    """

    key_type: KeyType  # key generated for the subject (builder default: "ec-p256")
    key: PrivateKey  # reuse this key instead (same key in two certs, cross-signing)
    subject: x509.Name  # full subject override
    issuer_name: x509.Name  # issuer field override (the signing key stays the issuer's)
    serial: int  # 1 <= serial < 2**159; see PKI.with_serial for anything else
    not_before: dt.datetime  # naive datetimes are UTC; after not_after is allowed
    not_after: dt.datetime
    hash_alg: HashSpec  # "sha256" (default), "sha1", "md5", "sha384", hashes.SHA512()...
    rsa_pss: bool  # sign with RSASSA-PSS (RSA issuer keys only)
    ski: bool | bytes  # True: from the public key; False: omit; bytes: this identifier
    aki: bool | bytes | None  # None: iff not self-signed; True/False: force; bytes: explicit
    basic_constraints: tuple[bool, int | None, bool] | None  # (ca, path_length, critical)
    key_usage: Iterable[str] | None  # names such as "digitalSignature" or "key_cert_sign"
    key_usage_critical: bool  # default True
    eku: Sequence[str | x509.ObjectIdentifier] | None  # "serverAuth", "1.2.3", an OID...
    eku_critical: bool  # default False
    name_constraints: NameConstraintsSpec | None  # (permitted, excluded) or NameConstraints
    name_constraints_critical: bool  # default True
    dns: Sequence[str]  # subjectAltName entries
    ips: Sequence[IPLike]
    emails: Sequence[str]
    uris: Sequence[str]
    san_critical: bool  # default: True iff the subject is empty
    extra_extensions: Sequence[ExtensionSpec]  # added last; replaces a default of same OID
    mutate: Callable[[x509.CertificateBuilder], x509.CertificateBuilder]  # last, pre-signing


# --------------------------------------------------------------------------- keys


class KeyCache:
    """Private keys generated once per (key type, slot) and kept for the whole session."""

    def __init__(self) -> None:
        self._keys: dict[tuple[str, int], PrivateKey] = {}
        self._dsa_parameters: dict[int, dsa.DSAParameters] = {}

    def get(self, key_type: KeyType, slot: int = 0) -> PrivateKey:
        """The key in ``slot`` for ``key_type``, generating it on first use."""
        if key_type not in KEY_TYPES:
            raise ValueError(f"unknown key type {key_type!r}; choose from {KEY_TYPES}")
        key = self._keys.get((key_type, slot))
        if key is None:
            key = self._keys[(key_type, slot)] = self._generate(key_type)
        return key

    def _generate(self, key_type: KeyType) -> PrivateKey:
        family, _, size = key_type.partition("-")
        if family == "ec":
            return ec.generate_private_key(_CURVES[size]())
        if family == "rsa":
            return rsa.generate_private_key(public_exponent=65537, key_size=int(size))
        if family == "dsa":
            # Parameter generation is the slow part; keys sharing them is standard practice.
            parameters = self._dsa_parameters.get(int(size))
            if parameters is None:
                parameters = self._dsa_parameters[int(size)] = dsa.generate_parameters(int(size))
            return parameters.generate_private_key()
        if key_type == "ed25519":
            return ed25519.Ed25519PrivateKey.generate()
        return ed448.Ed448PrivateKey.generate()


_CURVES: dict[str, Callable[[], ec.EllipticCurve]] = {
    "p192": ec.SECP192R1,
    "p224": ec.SECP224R1,
    "p256": ec.SECP256R1,
    "p384": ec.SECP384R1,
    "p521": ec.SECP521R1,
    "secp256k1": ec.SECP256K1,
}

DEFAULT_KEYS = KeyCache()
"""The process-wide cache used by ``PKI()`` and by the ``pki`` fixture."""


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Issued:
    """A signed certificate with its subject's private key."""

    cert: x509.Certificate
    key: PrivateKey
    der: bytes
    pem: bytes
    name: x509.Name

    @classmethod
    def of(cls, cert: x509.Certificate, key: PrivateKey) -> Issued:
        return cls(
            cert=cert,
            key=key,
            der=cert.public_bytes(serialization.Encoding.DER),
            pem=cert.public_bytes(serialization.Encoding.PEM),
            name=cert.subject,
        )

    @property
    def sha1(self) -> str:
        """Hex SHA-1 of the DER (the usual certificate fingerprint)."""
        return hashlib.sha1(self.der).hexdigest()

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the DER."""
        return hashlib.sha256(self.der).hexdigest()

    @property
    def ski(self) -> bytes | None:
        """The subjectKeyIdentifier, or None if the certificate has none."""
        try:
            ext = self.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        except x509.ExtensionNotFound:
            return None
        return ext.value.digest


SerialLike: TypeAlias = int | Issued
RevokedSpec: TypeAlias = (
    SerialLike | tuple[SerialLike, dt.datetime] | tuple[SerialLike, dt.datetime, ReasonSpec | None]
)


@dataclass(frozen=True)
class IssuedCRL:
    """A signed CRL."""

    crl: x509.CertificateRevocationList
    der: bytes
    pem: bytes

    @classmethod
    def of(cls, crl: x509.CertificateRevocationList) -> IssuedCRL:
        return cls(
            crl=crl,
            der=crl.public_bytes(serialization.Encoding.DER),
            pem=crl.public_bytes(serialization.Encoding.PEM),
        )


# --------------------------------------------------------------------------- DER


def der_read(data: bytes, offset: int = 0) -> tuple[int, int, int]:
    """Parse the TLV header at ``offset``: (tag, content start, content end)."""
    if offset + 2 > len(data):
        raise ValueError("truncated DER")
    tag, first = data[offset], data[offset + 1]
    if tag & 0x1F == 0x1F:
        raise ValueError("multi-byte tags are not supported")
    start = offset + 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if not 1 <= count <= 4 or start + count > len(data):
            raise ValueError("bad DER length")
        length = int.from_bytes(data[start : start + count], "big")
        start += count
    if start + length > len(data):
        raise ValueError("truncated DER")
    return tag, start, start + length


def der_children(tlv: bytes) -> list[bytes]:
    """The child TLVs of a constructed TLV such as a SEQUENCE."""
    tag, pos, end = der_read(tlv)
    if not tag & 0x20:
        raise ValueError(f"tag {tag:#04x} is not constructed")
    children = []
    while pos < end:
        _, _, child_end = der_read(tlv, pos)
        children.append(tlv[pos:child_end])
        pos = child_end
    return children


def der_tlv(tag: int, content: bytes) -> bytes:
    """Encode one TLV."""
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    raw = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(raw)]) + raw + content


def der_int(value: int) -> bytes:
    """Encode an INTEGER (any sign, minimal two's complement)."""
    magnitude = value if value >= 0 else ~value
    return der_tlv(0x02, value.to_bytes(magnitude.bit_length() // 8 + 1, "big", signed=True))


def der_oid(dotted: str) -> bytes:
    """Encode an OBJECT IDENTIFIER."""
    arcs = [int(arc) for arc in dotted.split(".")]
    body = bytearray()
    for arc in [arcs[0] * 40 + arcs[1], *arcs[2:]]:
        top_shift = 7 * (max(arc.bit_length() - 1, 0) // 7)
        septets = [arc >> shift & 0x7F for shift in range(top_shift, -1, -7)]
        body += bytes([0x80 | s for s in septets[:-1]] + septets[-1:])
    return der_tlv(0x06, bytes(body))


def _der_sequence(*children: bytes) -> bytes:
    return der_tlv(0x30, b"".join(children))


def _signed(tbs: bytes, algorithm: bytes, signature: bytes) -> bytes:
    """Certificate or CertificateList: SEQUENCE { tbs, algorithm, BIT STRING signature }."""
    return _der_sequence(tbs, algorithm, der_tlv(0x03, b"\x00" + signature))


def _named_bits(bits: Sequence[bool]) -> bytes:
    """A DER named-bit-list BIT STRING (trailing zero bits dropped)."""
    used = max((i + 1 for i, bit in enumerate(bits) if bit), default=0)
    body = bytearray((used + 7) // 8)
    for i in range(used):
        if bits[i]:
            body[i // 8] |= 0x80 >> (i % 8)
    return der_tlv(0x03, bytes([len(body) * 8 - used]) + bytes(body))


# --------------------------------------------------------------------------- signing


def _norm(name: str) -> str:
    return re.sub(r"[-_ ]", "", name).lower()


_HASHES: dict[str, hashes.HashAlgorithm] = {
    _norm(h.name): h
    for h in (
        hashes.MD5(),
        hashes.SHA1(),
        hashes.SHA224(),
        hashes.SHA256(),
        hashes.SHA384(),
        hashes.SHA512(),
        hashes.SHA3_256(),
        hashes.SHA3_384(),
        hashes.SHA3_512(),
    )
}
_LEGACY_HASHES = ("md5", "sha1")  # cryptography refuses to sign certificates with these
_NULL = b"\x05\x00"
_LEGACY_ALGORITHMS: dict[tuple[str, str], bytes] = {
    ("rsa", "md5"): _der_sequence(der_oid("1.2.840.113549.1.1.4"), _NULL),
    ("rsa", "sha1"): _der_sequence(der_oid("1.2.840.113549.1.1.5"), _NULL),
    # RSASSA-PSS parameters all at their defaults: SHA-1, MGF1-SHA-1, 20-byte salt.
    ("rsa-pss", "sha1"): _der_sequence(der_oid("1.2.840.113549.1.1.10"), _der_sequence()),
    ("ec", "sha1"): _der_sequence(der_oid("1.2.840.10045.4.1")),
    ("dsa", "sha1"): _der_sequence(der_oid("1.2.840.10040.4.3")),
}


@dataclass(frozen=True)
class _Signing:
    """How a certificate or CRL is signed: key, hash (None for EdDSA), RSA padding."""

    key: PrivateKey
    hash_alg: hashes.HashAlgorithm | None
    pss: bool = False

    @classmethod
    def make(cls, key: PrivateKey, hash_spec: HashSpec, pss: bool) -> _Signing:
        if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
            return cls(key, None)  # EdDSA has its hash built in: hash_alg is ignored
        if pss and not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("rsa_pss=True needs an RSA signing key")
        if isinstance(hash_spec, str):
            try:
                hash_spec = _HASHES[_norm(hash_spec)]
            except KeyError:
                raise ValueError(
                    f"unknown hash {hash_spec!r}; choose from {list(_HASHES)}"
                ) from None
        return cls(key, hash_spec, pss)

    @property
    def legacy(self) -> bool:
        """Whether cryptography refuses this hash, so the TBS must be signed by hand."""
        return self.hash_alg is not None and self.hash_alg.name in _LEGACY_HASHES

    def sign_with_cryptography(
        self, builder: x509.CertificateBuilder | x509.CertificateRevocationListBuilder
    ) -> Any:
        """Sign with cryptography; a legacy hash becomes a SHA-256 stand-in to re-sign."""
        algorithm = hashes.SHA256() if self.legacy else self.hash_alg
        rsa_padding = (
            padding.PSS(padding.MGF1(algorithm), padding.PSS.DIGEST_LENGTH)
            if self.pss and algorithm is not None
            else None
        )
        return builder.sign(self.key, cast(Any, algorithm), rsa_padding=rsa_padding)

    def legacy_algorithm(self) -> bytes:
        """The AlgorithmIdentifier DER for a legacy hash with this key."""
        assert self.hash_alg is not None
        if isinstance(self.key, rsa.RSAPrivateKey):
            family = "rsa-pss" if self.pss else "rsa"
        elif isinstance(self.key, ec.EllipticCurvePrivateKey):
            family = "ec"
        else:
            family = "dsa"
        try:
            return _LEGACY_ALGORITHMS[(family, self.hash_alg.name)]
        except KeyError:
            raise ValueError(
                f"no signature algorithm for {family} with {self.hash_alg.name}"
            ) from None

    def sign(self, data: bytes) -> bytes:
        """A raw signature over ``data``."""
        key, hash_alg = self.key, self.hash_alg
        if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
            return key.sign(data)
        if hash_alg is None:
            raise ValueError("a hash algorithm is needed for this key")
        if isinstance(key, rsa.RSAPrivateKey):
            pad: padding.AsymmetricPadding = (
                padding.PSS(padding.MGF1(hash_alg), hash_alg.digest_size)
                if self.pss
                else padding.PKCS1v15()
            )
            return key.sign(data, pad, hash_alg)
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(data, ec.ECDSA(hash_alg))
        return key.sign(data, hash_alg)

    def finish(self, signed_der: bytes, tbs: bytes, edit: Callable[[bytes], bytes] | None) -> bytes:
        """Re-sign a stand-in's TBS by hand, after the legacy algorithm and ``edit``."""
        algorithm = der_children(signed_der)[1]
        if self.legacy:
            algorithm = self.legacy_algorithm()
            tbs = _replace_tbs_algorithm(tbs, algorithm)
        if edit is not None:
            tbs = edit(tbs)
        return _signed(tbs, algorithm, self.sign(tbs))


def _replace_tbs_algorithm(tbs: bytes, algorithm: bytes) -> bytes:
    """Set the signature AlgorithmIdentifier inside a TBSCertificate or TBSCertList.

    In both it is the first SEQUENCE child (after the optional version and the serial).
    """
    fields = der_children(tbs)
    index = next(i for i, field in enumerate(fields) if field[0] == 0x30)
    fields[index] = algorithm
    return _der_sequence(*fields)


def _swap_validity(tbs: bytes) -> bytes:
    """Swap notBefore and notAfter in a v3 TBSCertificate (for inverted validity)."""
    fields = der_children(tbs)
    not_before, not_after = der_children(fields[4])
    fields[4] = _der_sequence(not_after, not_before)
    return _der_sequence(*fields)


# --------------------------------------------------------------------------- extensions

_KEY_USAGE_BITS = (
    "digitalsignature",
    "contentcommitment",
    "keyencipherment",
    "dataencipherment",
    "keyagreement",
    "keycertsign",
    "crlsign",
    "encipheronly",
    "decipheronly",
)
_KEY_USAGE_ALIASES = {"nonrepudiation": "contentcommitment"}
_EKU_NAMES: dict[str, x509.ObjectIdentifier] = {
    _norm(name): oid
    for name, oid in vars(ExtendedKeyUsageOID).items()
    if isinstance(oid, x509.ObjectIdentifier)
}
_EKU_NAMES["any"] = ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE
_REASONS: dict[str, x509.ReasonFlags] = {
    _norm(text): reason for reason in x509.ReasonFlags for text in (reason.name, reason.value)
}


def _basic_constraints(ca: bool, path_length: int | None) -> x509.ExtensionType:
    if (ca or path_length is None) and (path_length is None or path_length >= 0):
        return x509.BasicConstraints(ca=ca, path_length=path_length)
    # A pathLen without cA, or a negative one: invalid, so encoded by hand.
    content = (der_tlv(0x01, b"\xff") if ca else b"") + (
        der_int(path_length) if path_length is not None else b""
    )
    return x509.UnrecognizedExtension(ExtensionOID.BASIC_CONSTRAINTS, der_tlv(0x30, content))


def _key_usage(names: Iterable[str]) -> x509.ExtensionType:
    if isinstance(names, str):
        names = [names]
    wanted = set()
    for name in names:
        bit = _KEY_USAGE_ALIASES.get(_norm(name), _norm(name))
        if bit not in _KEY_USAGE_BITS:
            raise ValueError(f"unknown key usage {name!r}")
        wanted.add(bit)
    bits = [bit in wanted for bit in _KEY_USAGE_BITS]
    try:
        return x509.KeyUsage(*bits)
    except ValueError:  # encipherOnly/decipherOnly without keyAgreement
        return x509.UnrecognizedExtension(ExtensionOID.KEY_USAGE, _named_bits(bits))


def _eku(usages: Sequence[str | x509.ObjectIdentifier]) -> x509.ExtendedKeyUsage:
    if isinstance(usages, str):
        usages = [usages]
    oids = []
    for usage in usages:
        if isinstance(usage, x509.ObjectIdentifier):
            oids.append(usage)
        elif re.fullmatch(r"\d+(\.\d+)+", usage):
            oids.append(x509.ObjectIdentifier(usage))
        elif _norm(usage) in _EKU_NAMES:
            oids.append(_EKU_NAMES[_norm(usage)])
        else:
            raise ValueError(f"unknown extended key usage {usage!r}")
    return x509.ExtendedKeyUsage(oids)


def _ip(value: IPLike) -> x509.IPAddress:
    if isinstance(value, str):
        return x509.IPAddress(
            ipaddress.ip_network(value) if "/" in value else ipaddress.ip_address(value)
        )
    return x509.IPAddress(value)


def _general_name(value: GeneralNameLike) -> x509.GeneralName:
    """Coerce a name-constraint subtree: strings are DNS names, or e-mail with "@",
    or IP networks with "/"; an x509.Name is a directory name."""
    if isinstance(value, x509.GeneralName):
        return value
    if isinstance(value, x509.Name):
        return x509.DirectoryName(value)
    if not isinstance(value, str):
        return x509.IPAddress(value)
    if "@" in value:
        return x509.RFC822Name(value)
    if "/" in value:
        return x509.IPAddress(ipaddress.ip_network(value))
    return x509.DNSName(value)


def _name_constraints(spec: NameConstraintsSpec) -> x509.NameConstraints:
    if isinstance(spec, x509.NameConstraints):
        return spec
    permitted, excluded = spec
    return x509.NameConstraints(
        permitted_subtrees=[_general_name(n) for n in permitted] if permitted else None,
        excluded_subtrees=[_general_name(n) for n in excluded] if excluded else None,
    )


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _random_serial() -> int:
    """Random, positive, and exactly 16 bytes once DER-encoded."""
    return secrets.randbits(127) | (1 << 126)


def _cn_name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _der_of(obj: Issued | IssuedCRL | bytes) -> bytes:
    return obj if isinstance(obj, bytes) else obj.der


_CA_KEY_USAGE = ("keyCertSign", "cRLSign")


# --------------------------------------------------------------------------- builder


class PKI:
    """Builds certificates and CRLs; each new certificate gets its own key by default.

    Keys come from a ``KeyCache``: slot n of a key type is generated once per session,
    and this builder hands out slots 0, 1, 2... so keys within one builder are distinct.
    """

    def __init__(
        self, keys: KeyCache | None = None, *, default_key_type: KeyType = "ec-p256"
    ) -> None:
        self.keys = DEFAULT_KEYS if keys is None else keys
        self.default_key_type: KeyType = default_key_type
        self._next_slot: dict[str, int] = {}
        self._signer_keys: dict[bytes, PrivateKey] = {}  # DER -> key that signed it

    def new_key(self, key_type: KeyType | None = None) -> PrivateKey:
        """A key no other certificate of this builder got by default (cached per session)."""
        key_type = key_type or self.default_key_type
        slot = self._next_slot.get(key_type, 0)
        self._next_slot[key_type] = slot + 1
        return self.keys.get(key_type, slot)

    # ------------------------------------------------------------------ certificates

    def root(
        self, cn: str = "Root CA", *, path_length: int | None = None, **opts: Unpack[CertOptions]
    ) -> Issued:
        """A self-signed CA."""
        defaults: CertOptions = {
            "basic_constraints": (True, path_length, True),
            "key_usage": _CA_KEY_USAGE,
        }
        return self._issue(_cn_name(cn), None, {**defaults, **opts})

    def intermediate(
        self,
        issuer: Issued,
        cn: str = "Intermediate CA",
        *,
        path_length: int | None = None,
        **opts: Unpack[CertOptions],
    ) -> Issued:
        """A CA signed by ``issuer``."""
        defaults: CertOptions = {
            "basic_constraints": (True, path_length, True),
            "key_usage": _CA_KEY_USAGE,
        }
        return self._issue(_cn_name(cn), issuer, {**defaults, **opts})

    def leaf(
        self, issuer: Issued | None, cn: str | None = None, **opts: Unpack[CertOptions]
    ) -> Issued:
        """An end-entity certificate; ``issuer=None`` makes it self-signed.

        Defaults: no basicConstraints, keyUsage digitalSignature (critical), EKU serverAuth,
        CN = ``cn`` or the first DNS name or "Leaf", SAN from dns/ips/emails/uris.
        """
        defaults: CertOptions = {
            "basic_constraints": None,
            "key_usage": ("digitalSignature",),
            "eku": ("serverAuth",),
        }
        dns = opts.get("dns", ())
        subject = _cn_name(cn if cn is not None else dns[0] if dns else "Leaf")
        return self._issue(subject, issuer, {**defaults, **opts})

    def cross_sign(
        self, subject_cert: Issued, issuer: Issued, **opts: Unpack[CertOptions]
    ) -> Issued:
        """Re-issue ``subject_cert`` (same subject, same key) under ``issuer``.

        Its extensions and validity are copied, with a new AKI and serial;
        options override them as usual.
        """
        cert = subject_cert.cert
        base = {ext.oid: (ext.value, ext.critical) for ext in cert.extensions}
        base.pop(ExtensionOID.AUTHORITY_KEY_IDENTIFIER, None)
        merged: CertOptions = {
            "key": subject_cert.key,
            "not_before": cert.not_valid_before_utc,
            "not_after": cert.not_valid_after_utc,
            **opts,
        }
        return self._issue(cert.subject, issuer, merged, base=base)

    def _issue(
        self,
        subject: x509.Name,
        issuer: Issued | None,
        opts: CertOptions,
        base: dict[x509.ObjectIdentifier, ExtensionSpec] | None = None,
    ) -> Issued:
        key = opts.get("key")
        if key is None:
            key = self.new_key(opts.get("key_type", self.default_key_type))
        subject = opts.get("subject", subject)
        signing_key = key if issuer is None else issuer.key
        issuer_name = opts.get("issuer_name", subject if issuer is None else issuer.cert.subject)
        not_before = _utc(opts.get("not_before", NOT_BEFORE))
        not_after = _utc(opts.get("not_after", NOT_AFTER))
        edit = None
        if not_after < not_before:  # cryptography refuses: build swapped, swap back in DER
            not_before, not_after, edit = not_after, not_before, _swap_validity
        serial = opts.get("serial")

        exts = dict(base or {})
        self._apply_extension_options(exts, opts, subject, key, issuer, fresh=base is None)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer_name)
            .public_key(key.public_key())
            .serial_number(_random_serial() if serial is None else serial)
            .not_valid_before(not_before)
            .not_valid_after(not_after)
        )
        for value, critical in exts.values():
            builder = builder.add_extension(value, critical)
        mutate = opts.get("mutate")
        if mutate is not None:
            builder = mutate(builder)

        signing = _Signing.make(
            signing_key, opts.get("hash_alg", "sha256"), opts.get("rsa_pss", False)
        )
        cert: x509.Certificate = signing.sign_with_cryptography(builder)
        if signing.legacy or edit is not None:
            der = cert.public_bytes(serialization.Encoding.DER)
            der = signing.finish(der, cert.tbs_certificate_bytes, edit)
            cert = x509.load_der_x509_certificate(der)
        issued = Issued.of(cert, key)
        self._signer_keys[issued.der] = signing_key
        return issued

    @staticmethod
    def _apply_extension_options(
        exts: dict[x509.ObjectIdentifier, ExtensionSpec],
        opts: CertOptions,
        subject: x509.Name,
        key: PrivateKey,
        issuer: Issued | None,
        *,
        fresh: bool,
    ) -> None:
        """Set (or, for None, remove) the extensions the options describe."""

        def put(oid: x509.ObjectIdentifier, spec: ExtensionSpec | None) -> None:
            if spec is None:
                exts.pop(oid, None)
            else:
                exts[oid] = spec

        if "basic_constraints" in opts:
            bc = opts["basic_constraints"]
            put(
                ExtensionOID.BASIC_CONSTRAINTS,
                None if bc is None else (_basic_constraints(bc[0], bc[1]), bc[2]),
            )
        if "key_usage" in opts:
            usage = opts["key_usage"]
            critical = opts.get("key_usage_critical", True)
            put(ExtensionOID.KEY_USAGE, None if usage is None else (_key_usage(usage), critical))
        if "eku" in opts:
            eku = opts["eku"]
            critical = opts.get("eku_critical", False)
            put(ExtensionOID.EXTENDED_KEY_USAGE, None if eku is None else (_eku(eku), critical))

        san: list[x509.GeneralName] = [
            *(x509.DNSName(name) for name in opts.get("dns", ())),
            *(_ip(ip) for ip in opts.get("ips", ())),
            *(x509.RFC822Name(email) for email in opts.get("emails", ())),
            *(x509.UniformResourceIdentifier(uri) for uri in opts.get("uris", ())),
        ]
        if san:
            critical = opts.get("san_critical", len(subject) == 0)
            put(ExtensionOID.SUBJECT_ALTERNATIVE_NAME, (x509.SubjectAlternativeName(san), critical))

        if "name_constraints" in opts:
            nc = opts["name_constraints"]
            critical = opts.get("name_constraints_critical", True)
            put(
                ExtensionOID.NAME_CONSTRAINTS,
                None if nc is None else (_name_constraints(nc), critical),
            )

        ski = opts.get("ski", True if fresh else None)  # None: keep the copied one
        if ski is not None:
            ski_ext = (
                x509.SubjectKeyIdentifier.from_public_key(key.public_key())
                if ski is True
                else None
                if ski is False
                else x509.SubjectKeyIdentifier(ski)
            )
            put(ExtensionOID.SUBJECT_KEY_IDENTIFIER, None if ski_ext is None else (ski_ext, False))

        aki = opts.get("aki")
        if aki is None:
            aki = issuer is not None
        if aki is True:
            if issuer is not None:
                key_id = issuer.ski or _key_id(issuer.key)
            else:
                own = exts.get(ExtensionOID.SUBJECT_KEY_IDENTIFIER)
                own_ski = own[0] if own else None
                key_id = (
                    own_ski.digest
                    if isinstance(own_ski, x509.SubjectKeyIdentifier)
                    else _key_id(key)
                )
            aki = key_id
        put(
            ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
            None if aki is False else (x509.AuthorityKeyIdentifier(aki, None, None), False),
        )

        for value, critical in opts.get("extra_extensions", ()):
            exts[value.oid] = (value, critical)

    # ------------------------------------------------------------------ CRLs

    def crl(
        self,
        issuer: Issued,
        revoked: Iterable[RevokedSpec] = (),
        *,
        this_update: dt.datetime | None = None,
        next_update: dt.datetime | None = None,
        crl_number: int | None = 1,
        issuer_name: x509.Name | None = None,
        hash_alg: HashSpec = "sha256",
        rsa_pss: bool = False,
        aki: bool | bytes = True,
        extra_extensions: Sequence[ExtensionSpec] = (),
        mutate: Callable[
            [x509.CertificateRevocationListBuilder], x509.CertificateRevocationListBuilder
        ]
        | None = None,
    ) -> IssuedCRL:
        """A CRL signed by ``issuer``.

        ``revoked`` items are a serial (or an Issued), or (serial, revocation date[, reason]);
        reasons are ReasonFlags or names such as "keyCompromise". Dates default to
        this_update = 2020-01-01 and next_update = 2040-01-01; ``crl_number=None`` omits it.
        """
        this_update = _utc(this_update or NOT_BEFORE)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(issuer.cert.subject if issuer_name is None else issuer_name)
            .last_update(this_update)
            .next_update(_utc(next_update or NOT_AFTER))
        )
        for item in revoked:
            serial, date, reason = _revoked_entry(item, this_update)
            entry = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(date)
            if reason is not None:
                entry = entry.add_extension(x509.CRLReason(reason), critical=False)
            builder = builder.add_revoked_certificate(entry.build())
        if crl_number is not None:
            builder = builder.add_extension(x509.CRLNumber(crl_number), critical=False)
        if aki is not False:
            key_id = (issuer.ski or _key_id(issuer.key)) if aki is True else aki
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier(key_id, None, None), critical=False
            )
        for value, critical in extra_extensions:
            builder = builder.add_extension(value, critical)
        if mutate is not None:
            builder = mutate(builder)

        signing = _Signing.make(issuer.key, hash_alg, rsa_pss)
        crl: x509.CertificateRevocationList = signing.sign_with_cryptography(builder)
        if signing.legacy:
            der = crl.public_bytes(serialization.Encoding.DER)
            der = signing.finish(der, crl.tbs_certlist_bytes, None)
            crl = x509.load_der_x509_crl(der)
        return IssuedCRL.of(crl)

    def ocsp_response(
        self,
        issuer: Issued,
        cert: Issued,
        status: Literal["good", "revoked", "unknown"] = "good",
        *,
        responder: Issued | None = None,
        this_update: dt.datetime | None = None,
        next_update: dt.datetime | None = None,
        reason: ReasonSpec | None = None,
        hash_alg: HashSpec = "sha256",
        by_key_hash: bool = False,
    ) -> bytes:
        """A DER OCSP response about ``cert``, signed by ``issuer`` or a delegated
        ``responder`` (embedded in the response).  Dates default to NOT_BEFORE and NOT_AFTER;
        ``next_update=None`` keeps the default, pass ``dt.datetime.max`` for none at all."""
        cert_status = {
            "good": ocsp.OCSPCertStatus.GOOD,
            "revoked": ocsp.OCSPCertStatus.REVOKED,
            "unknown": ocsp.OCSPCertStatus.UNKNOWN,
        }[status]
        this = _utc(this_update or NOT_BEFORE)
        upcoming = next_update or NOT_AFTER
        builder = ocsp.OCSPResponseBuilder().add_response(
            cert=cert.cert,
            issuer=issuer.cert,
            algorithm=hashes.SHA1(),
            cert_status=cert_status,
            this_update=this,
            next_update=None if upcoming == dt.datetime.max else _utc(upcoming),
            revocation_time=this if status == "revoked" else None,
            revocation_reason=None if status != "revoked" else _reason_flag(reason),
        )
        signer = responder or issuer
        encoding = (
            ocsp.OCSPResponderEncoding.HASH if by_key_hash else ocsp.OCSPResponderEncoding.NAME
        )
        builder = builder.responder_id(encoding, signer.cert)
        if responder is not None:
            builder = builder.certificates([responder.cert])
        signing = _Signing.make(signer.key, hash_alg, False)
        response = builder.sign(signer.key, cast(Any, signing.hash_alg))
        return response.public_bytes(serialization.Encoding.DER)

    # ------------------------------------------------------------------ DER tampering

    def corrupt_signature(self, obj: Issued | IssuedCRL | bytes, *, bit: int = 0) -> bytes:
        """The DER with one bit of the signature value flipped (its last byte's ``bit``)."""
        der = _der_of(obj)
        fields = der_children(der)
        if len(fields) != 3 or fields[2][0] != 0x03 or der_read(fields[2])[2] - 2 < 2:
            raise ValueError("not a signed object: SEQUENCE { tbs, algorithm, BIT STRING }")
        end = der_read(der)[2]  # the signature is the last thing in the outer SEQUENCE
        tampered = bytearray(der)
        tampered[end - 1] ^= 1 << bit
        return bytes(tampered)

    def truncate(self, obj: Issued | IssuedCRL | bytes, length: int | None = None) -> bytes:
        """The first ``length`` bytes of the DER (default: half of it)."""
        der = _der_of(obj)
        return der[: len(der) // 2 if length is None else length]

    def resign(self, issued: Issued, tbs: bytes, *, issuer: Issued | None = None) -> bytes:
        """Sign ``tbs`` as ``issued`` was signed (same algorithm, same signer) -> DER.

        The signer is remembered for certificates this builder made; else pass ``issuer``.
        """
        key = issuer.key if issuer is not None else self._signer_keys.get(issued.der)
        if key is None:
            raise ValueError("unknown signer: pass issuer=")
        cert = issued.cert
        pss = cert.signature_algorithm_oid == SignatureAlgorithmOID.RSASSA_PSS
        signing = _Signing(key, cert.signature_hash_algorithm, pss)
        return _signed(tbs, der_children(issued.der)[1], signing.sign(tbs))

    def with_version(
        self,
        issued: Issued,
        version: int,
        *,
        explicit: bool = False,
        issuer: Issued | None = None,
    ) -> bytes:
        """Re-signed DER with the version field set to ``version`` (0 = v1, 2 = v3).

        v1 is encoded by omitting the field, as DER requires, unless ``explicit``.
        """
        fields = der_children(issued.cert.tbs_certificate_bytes)
        if fields[0][0] == 0xA0:
            del fields[0]
        if version != 0 or explicit:
            fields.insert(0, der_tlv(0xA0, der_int(version)))
        return self.resign(issued, _der_sequence(*fields), issuer=issuer)

    def with_serial(self, issued: Issued, serial: int, *, issuer: Issued | None = None) -> bytes:
        """Re-signed DER with any serial: zero, negative, or longer than 20 bytes."""
        fields = der_children(issued.cert.tbs_certificate_bytes)
        fields[1 if fields[0][0] == 0xA0 else 0] = der_int(serial)
        return self.resign(issued, _der_sequence(*fields), issuer=issuer)


def aia(ca_issuers: Sequence[str] = (), ocsp_urls: Sequence[str] = ()) -> ExtensionSpec:
    """An Authority Information Access extension, for ``extra_extensions``."""
    descriptions = [
        x509.AccessDescription(
            AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(u)
        )
        for u in ca_issuers
    ] + [
        x509.AccessDescription(
            AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(u)
        )
        for u in ocsp_urls
    ]
    return x509.AuthorityInformationAccess(descriptions), False


def crl_distribution(*urls: str) -> ExtensionSpec:
    """A CRL Distribution Points extension, for ``extra_extensions``."""
    point = x509.DistributionPoint(
        [x509.UniformResourceIdentifier(u) for u in urls], None, None, None
    )
    return x509.CRLDistributionPoints([point]), False


def _key_id(key: PrivateKey) -> bytes:
    return x509.SubjectKeyIdentifier.from_public_key(key.public_key()).digest


def _reason_flag(reason: ReasonSpec | None) -> x509.ReasonFlags | None:
    if isinstance(reason, str):
        try:
            return _REASONS[_norm(reason)]
        except KeyError:
            raise ValueError(f"unknown revocation reason {reason!r}") from None
    return reason


def _revoked_entry(
    item: RevokedSpec, default_date: dt.datetime
) -> tuple[int, dt.datetime, x509.ReasonFlags | None]:
    if not isinstance(item, tuple):
        item = (item, default_date)
    target, date, *rest = item
    serial = target.cert.serial_number if isinstance(target, Issued) else target
    return serial, _utc(date), _reason_flag(rest[0] if rest else None)
