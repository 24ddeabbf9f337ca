"""Certificates as the evaluator sees them: parsed once, facts computed on first use.

A `Certificate` wraps `cryptography`'s parsed certificate together with the DER it came from and
the derived values the path builder and the checks need (fingerprints, normalised name keys, key
identifiers, extension values).  Parsing problems inside extensions are recorded, not raised: a
certificate with a malformed extension still takes part in evaluation and fails the matching
check, so that the verdict can say which certificate is broken and how.
"""

from __future__ import annotations

import hashlib
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar, overload

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtensionOID, NameOID

from trustd.core.der import (
    IA5_STRING,
    PRINTABLE_STRING,
    UTF8_STRING,
    CertificateParts,
    DERProblem,
    certificate_parts,
    children,
    has_explicit_ec_parameters,
    raw_extensions,
    read_tlv,
    simple_name_attributes,
)
from trustd.core.names import NormalizedRDNs, normalized_rdns
from trustd.core.pem import is_pem, pem_certificate
from trustd.core.results import CheckName

# cryptography warns (and will one day refuse) when it loads a certificate whose serial number
# is not positive, and when it builds a Name attribute of the wrong length (a country name or
# jurisdiction country of other than 2 characters, a common name of 0 or more than 64; in the
# subject, the issuer or a name inside an extension).  We read the serial ourselves (der.py) and
# report it as a check failure, so a certificate that may warn (`_may_warn`, a scan of its DER)
# is loaded, and its extensions, names and keys decoded, with warnings silenced, whatever
# filters the process runs with.  catch_warnings changes process-wide state, hence the lock; a
# certificate that cannot warn (nearly all) needs neither.
_PARSE_LOCK = threading.Lock()

PEM_MARKER = b"-----BEGIN"
_DESCRIPTION = x509.ObjectIdentifier("2.5.4.13")


def _attribute_text(value: str | bytes) -> str:
    return value if isinstance(value, str) else value.hex()


ExtensionValue = TypeVar("ExtensionValue", bound=x509.ExtensionType)
Computed = TypeVar("Computed")


class cached_property(Generic[Computed]):
    """functools.cached_property without its per-descriptor lock (Python 3.11 takes one on
    every first access, a cost and a contention point on the evaluation hot path).  Computing a
    value twice in a race is harmless here: every value is a pure function of the DER."""

    def __init__(self, function: Callable[[Any], Computed]) -> None:
        self.function = function
        self.name = function.__name__
        self.__doc__ = function.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type) -> cached_property[Computed]: ...
    @overload
    def __get__(self, instance: object, owner: type) -> Computed: ...
    def __get__(self, instance: object | None, owner: type) -> Any:
        if instance is None:
            return self
        value = self.function(instance)
        instance.__dict__[self.name] = value
        return value


# Name keys by DER: an issuer's subject is every child's issuer, so each name is hashed once.
_NAME_KEYS: dict[bytes, bytes] = {}
_NAME_KEYS_LIMIT = 50_000


def _remember_name_key(der: bytes, key: bytes) -> bytes:
    if len(_NAME_KEYS) >= _NAME_KEYS_LIMIT:
        _NAME_KEYS.clear()
    _NAME_KEYS[der] = key
    return key


# The algorithm of each public-key class met.  cryptography's key classes are registered with
# its abstract ones, and Python never caches a positive isinstance() for a registered class: each
# costs a call of ABCMeta.__subclasscheck__.  The classes are few and fixed for the process.
_KEY_ALGORITHMS: dict[type, str] = {}
_KEY_CLASSES = (
    ("RSA", rsa.RSAPublicKey),
    ("EC", ec.EllipticCurvePublicKey),
    ("Ed25519", ed25519.Ed25519PublicKey),
    ("Ed448", ed448.Ed448PublicKey),
    ("DSA", dsa.DSAPublicKey),
)


def key_algorithm(key: object) -> str:
    """ "RSA", "EC", "Ed25519", "Ed448", "DSA" or "unknown" (None, anything else)."""
    kind = type(key)
    algorithm = _KEY_ALGORITHMS.get(kind)
    if algorithm is None:
        algorithm = next(
            (name for name, abstract in _KEY_CLASSES if isinstance(key, abstract)), "unknown"
        )
        if len(_KEY_ALGORITHMS) < 64:
            _KEY_ALGORITHMS[kind] = algorithm
    return algorithm


class MalformedCertificate(ValueError):
    """Bytes that are not a certificate we can evaluate."""


@dataclass(frozen=True, slots=True)
class PublicKeyFacts:
    """What the key-strength checks need to know about a subject public key."""

    algorithm: str  # "RSA", "EC", "Ed25519", "Ed448", "DSA" or "unknown"
    bits: int
    curve: str | None = None


def name_key(name: x509.Name) -> bytes:
    """Hash of a normalised Name: two names are the same for path building when keys are equal."""
    return _rdns_key(normalized_rdns(name))


def _rdns_key(rdns: NormalizedRDNs) -> bytes:
    return hashlib.sha256(repr(rdns).encode()).digest()


def _simple_name_key(attributes: list[tuple[str, str]]) -> bytes:
    """name_key of a Name read from its DER by simple_name_attributes (the same normalisation,
    without building cryptography's Name)."""
    return _rdns_key([((oid, " ".join(text.split()).casefold()),) for oid, text in attributes])


def _quietly(build: Callable[[], Computed]) -> Computed:
    """build() with warnings silenced (see _PARSE_LOCK)."""
    with _PARSE_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build()


# The attribute types whose length cryptography checks when it builds a Name (x509/name.py
# _NAMEOID_LENGTH_LIMIT), as encoded OBJECT IDENTIFIER TLVs, with the lengths allowed.
_CHECKED_ATTRIBUTES = (
    (b"\x06\x03\x55\x04\x06", 2, 2),  # countryName
    (b"\x06\x0b\x2b\x06\x01\x04\x01\x82\x37\x3c\x02\x01\x03", 2, 2),  # jurisdictionCountryName
    (b"\x06\x03\x55\x04\x03", 1, 64),  # commonName
)
_ONE_BYTE_PER_CHARACTER = frozenset({PRINTABLE_STRING, IA5_STRING})


def _may_warn(der: bytes, serial: bytes) -> bool:
    """Whether decoding this certificate with cryptography may warn: a serial number that is
    not positive, or an attribute of a checked type anywhere in the DER (subject, issuer,
    names inside extensions) whose value is not a UTF8String, PrintableString or IA5String of
    an allowed length.  Errs towards True: bytes that merely look like such an attribute (in a
    key or a signature) only cost the warnings filter."""
    if not serial or serial[0] & 0x80 or not any(serial):
        return True
    for oid, shortest, longest in _CHECKED_ATTRIBUTES:
        at = der.find(oid)
        while at >= 0:
            try:
                tag, start, end = read_tlv(der, at + len(oid))
            except DERProblem:
                return True
            value = der[start:end]
            if tag == UTF8_STRING or (tag in _ONE_BYTE_PER_CHARACTER and value.isascii()):
                if not shortest <= end - start <= longest:
                    return True
            else:
                return True
            at = der.find(oid, at + 1)
    return False


def parse_certificate(data: bytes, digest: bytes | None = None) -> Certificate:
    """Parse one certificate from DER or PEM (the first CERTIFICATE block, whatever blocks come
    before it); raise MalformedCertificate.

    `digest`, when the caller has it, is the SHA-256 of `data` (DER only).  Everything later
    checks read is decoded or validated here, so that no decoding problem or warning can
    surface later, whatever filters the process has.  Names made of UTF8String,
    PrintableString and IA5String attributes, one per RDN (nearly all), are read from the DER;
    their cryptography Name is built when asked for.
    """
    try:
        if is_pem(data):
            der = pem_certificate(data)
            digest = None
        else:
            der = bytes(data)
        try:
            parts = certificate_parts(der)
        except DERProblem:
            _quietly(lambda: x509.load_der_x509_certificate(der))  # its reason first, if any
            raise
        quiet = _may_warn(der, parts.serial)
        parsed, extensions = _quietly(lambda: _load(der)) if quiet else _load(der)
        certificate = Certificate(der, parsed, parts, quiet)
        if digest is not None:
            certificate.__dict__["sha256"] = digest
        subject_attributes = simple_name_attributes(parts.subject)
        certificate._subject_attributes = subject_attributes
        for field, name_der in (("subject", parts.subject), ("issuer", parts.issuer)):
            key = _NAME_KEYS.get(name_der)
            if key is None:
                attributes = (
                    subject_attributes if field == "subject" else simple_name_attributes(name_der)
                )
                if attributes is not None:
                    key = _simple_name_key(attributes)
                else:  # decoded by cryptography now, so that a problem shows here
                    name = certificate._decoded(lambda f=field: getattr(parsed, f))  # type: ignore[misc]
                    certificate.__dict__[field] = name
                    key = name_key(name)
            certificate.__dict__[f"{field}_key"] = _remember_name_key(name_der, key)
        certificate.not_before = parsed.not_valid_before_utc
        certificate.not_after = parsed.not_valid_after_utc
        certificate._extensions = extensions
    except Exception as problem:
        raise MalformedCertificate(f"not a valid X.509 certificate: {problem}") from None
    return certificate


def _load(
    der: bytes,
) -> tuple[x509.Certificate, tuple[x509.Extensions | None, CheckName | None]]:
    """cryptography's certificate and its extensions (decoded now, so that a problem shows
    here; names inside them may warn, so the caller silences warnings when _may_warn says so)."""
    parsed = x509.load_der_x509_certificate(der)
    return parsed, _decode_extensions(parsed)


def _decode_extensions(
    parsed: x509.Certificate,
) -> tuple[x509.Extensions | None, CheckName | None]:
    """The extensions, or the Apple check name saying why they cannot be read."""
    try:
        return parsed.extensions, None
    except x509.DuplicateExtension:
        return None, CheckName.DuplicateExtension
    except Exception:
        return None, CheckName.UnparseableExtension


class Certificate:
    """One parsed certificate.  Equality and hashing follow the DER bytes."""

    not_before: datetime
    not_after: datetime
    _extensions: tuple[x509.Extensions | None, CheckName | None]
    # The subject's (OID, text) pairs when simple_name_attributes reads it (nearly always).
    _subject_attributes: list[tuple[str, str]] | None

    def __init__(
        self, der: bytes, parsed: x509.Certificate, parts: CertificateParts, quiet: bool = True
    ) -> None:
        """Use parse_certificate(), which fills in the rest."""
        self.der = der
        self.x509 = parsed
        self.parts = parts
        self._quiet = quiet  # decode with warnings silenced (it may warn: _may_warn)

    def _decoded(self, build: Callable[[], Computed]) -> Computed:
        """build(), with warnings silenced if this certificate may warn."""
        return _quietly(build) if self._quiet else build()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Certificate) and other.der == self.der

    def __hash__(self) -> int:
        return hash(self.sha256)

    def __repr__(self) -> str:
        return f"<Certificate {self.subject_summary!r} sha1={self.sha1.hex().upper()}>"

    # -- identity ------------------------------------------------------------------------------

    @cached_property
    def sha1(self) -> bytes:
        return hashlib.sha1(self.der, usedforsecurity=False).digest()

    @cached_property
    def sha256(self) -> bytes:
        return hashlib.sha256(self.der).digest()

    @property
    def subject_der(self) -> bytes:
        return self.parts.subject

    @property
    def issuer_der(self) -> bytes:
        return self.parts.issuer

    # subject_key and issuer_key (normalised names: the index key for issuer lookup) are set
    # by parse_certificate.
    subject_key: bytes
    issuer_key: bytes

    @cached_property
    def subject(self) -> x509.Name:
        return self._decoded(lambda: self.x509.subject)

    @cached_property
    def issuer(self) -> x509.Name:
        return self._decoded(lambda: self.x509.issuer)

    @property
    def tbs_der(self) -> bytes:
        """The TBSCertificate as encoded: what the issuer signed."""
        start, end = self.parts.tbs_span
        return self.der[start:end]

    @property
    def spki_der(self) -> bytes:
        """The SubjectPublicKeyInfo as encoded in the certificate."""
        return self.parts.subject_public_key_info

    @cached_property
    def has_explicit_curve(self) -> bool:
        """An EC key that spells its curve out (only EC keys can; others skip the DER walk)."""
        return self.key_facts.algorithm in ("EC", "unknown") and has_explicit_ec_parameters(
            self.parts.subject_public_key_info
        )

    @cached_property
    def public_key_bits(self) -> bytes:
        """The subjectPublicKey BIT STRING's bits (what OCSP's issuerKeyHash and Apple's
        `hpky` hash); empty when the SubjectPublicKeyInfo cannot be walked."""
        try:
            _, start, end = read_tlv(self.spki_der)
            _, (_, _, bits_start, bits_end) = children(self.spki_der, start, end)
        except (DERProblem, ValueError):
            return b""
        return self.spki_der[bits_start + 1 : bits_end]  # after the unused-bits octet

    @cached_property
    def spki_sha256(self) -> bytes:
        return hashlib.sha256(self.spki_der).digest()

    @cached_property
    def identity(self) -> tuple[bytes, bytes]:
        """(subject, key): two certificates with the same identity are one CA (RFC 4158 loops)."""
        return (self.subject_key, self.spki_sha256)

    @cached_property
    def is_self_issued(self) -> bool:
        """Subject and issuer are the same name (RFC 5280 6.1)."""
        return self.subject_key == self.issuer_key

    # -- validity ------------------------------------------------------------------------------

    def valid_at(self, moment: datetime) -> bool:
        return self.not_before <= moment <= self.not_after

    # -- signature -----------------------------------------------------------------------------

    @cached_property
    def signature_algorithm(self) -> tuple[object, hashes.HashAlgorithm | None] | None:
        """cryptography's (padding or ECDSA parameters, hash) of the signature on this
        certificate, or None when cryptography does not support the algorithm."""
        try:
            return (
                self.x509.signature_algorithm_parameters,
                self.x509.signature_hash_algorithm,
            )
        except (UnsupportedAlgorithm, ValueError):
            return None

    # -- public key ----------------------------------------------------------------------------

    @cached_property
    def public_key(self) -> Any:
        """The subject public key, or None when it cannot be loaded (explicit curves, junk);
        loaded on first use, which is for issuers and the key-strength checks."""
        try:
            return self._decoded(self.x509.public_key)
        except Exception:
            return None

    @cached_property
    def key_facts(self) -> PublicKeyFacts:
        key = self.public_key
        algorithm = key_algorithm(key)
        if algorithm in {"RSA", "DSA"}:
            return PublicKeyFacts(algorithm, key.key_size)
        if algorithm == "EC":
            return PublicKeyFacts("EC", key.curve.key_size, key.curve.name)
        if algorithm == "Ed25519":
            return PublicKeyFacts("Ed25519", 256)
        if algorithm == "Ed448":
            return PublicKeyFacts("Ed448", 456)
        return PublicKeyFacts("unknown", 0)

    # -- extensions ----------------------------------------------------------------------------

    @property
    def extension_problem(self) -> CheckName | None:
        """Apple's check name for extensions that could not be read, or None."""
        return self._extensions[1]

    @cached_property
    def _by_type(self) -> dict[type, x509.Extension[Any]]:
        """Extensions by value type; one pass that also fills raw_extension_oids."""
        extensions = self._extensions[0]
        if extensions is None:
            return {}
        by_type: dict[type, x509.Extension[Any]] = {}
        oids: dict[str, bool] = {}
        for extension in extensions:
            by_type[type(extension.value)] = extension
            oids[extension.oid.dotted_string] = extension.critical
        self.__dict__["raw_extension_oids"] = oids
        return by_type

    @cached_property
    def raw_extension_oids(self) -> dict[str, bool]:
        """OID -> critical for every extension present (read from the DER if need be)."""
        if self._extensions[0] is not None:
            self._by_type  # noqa: B018 - fills this in the same pass
            oids: dict[str, bool] = self.__dict__["raw_extension_oids"]
            return oids
        try:
            return {e.oid: e.critical for e in raw_extensions(self.der, self.parts.extensions_span)}
        except DERProblem:
            return {}

    def raw_extension_value(self, oid: str) -> bytes | None:
        """The extnValue octets of an extension cryptography does not interpret, or None."""
        extensions = self._extensions[0]
        if extensions is not None:
            for extension in extensions:
                if extension.oid.dotted_string == oid and isinstance(
                    extension.value, x509.UnrecognizedExtension
                ):
                    value: bytes = extension.value.value
                    return value
            return None
        try:
            for raw in raw_extensions(self.der, self.parts.extensions_span):
                if raw.oid == oid:
                    return raw.value
        except DERProblem:
            return None
        return None

    def extension(self, kind: type[ExtensionValue]) -> x509.Extension[ExtensionValue] | None:
        return self._by_type.get(kind)

    def _value(self, kind: type[ExtensionValue]) -> ExtensionValue | None:
        found = self._by_type.get(kind)
        return None if found is None else found.value

    @cached_property
    def basic_constraints(self) -> x509.BasicConstraints | None:
        return self._value(x509.BasicConstraints)

    @cached_property
    def is_ca(self) -> bool:
        constraints = self.basic_constraints
        return constraints is not None and constraints.ca

    @cached_property
    def key_usage(self) -> x509.KeyUsage | None:
        return self._value(x509.KeyUsage)

    @cached_property
    def extended_key_usage(self) -> frozenset[str] | None:
        """Dotted EKU OIDs, or None when the extension is absent."""
        value = self._value(x509.ExtendedKeyUsage)
        return None if value is None else frozenset(oid.dotted_string for oid in value)

    @cached_property
    def subject_alt_names(self) -> x509.SubjectAlternativeName | None:
        return self._value(x509.SubjectAlternativeName)

    @cached_property
    def name_constraints(self) -> x509.NameConstraints | None:
        return self._value(x509.NameConstraints)

    @cached_property
    def subject_key_identifier(self) -> bytes | None:
        value = self._value(x509.SubjectKeyIdentifier)
        return None if value is None else value.digest

    @cached_property
    def authority_key_identifier(self) -> x509.AuthorityKeyIdentifier | None:
        return self._value(x509.AuthorityKeyIdentifier)

    @cached_property
    def authority_key_id(self) -> bytes | None:
        aki = self.authority_key_identifier
        return None if aki is None else aki.key_identifier

    def has_extension(self, oid: x509.ObjectIdentifier) -> bool:
        return oid.dotted_string in self.raw_extension_oids

    def is_critical(self, oid: x509.ObjectIdentifier) -> bool:
        return self.raw_extension_oids.get(oid.dotted_string, False)

    # -- names a person reads ------------------------------------------------------------------

    @cached_property
    def dns_names(self) -> tuple[str, ...]:
        """The SAN's dNSName values (ip_addresses is filled in the same pass)."""
        dns: list[str] = []
        addresses: list[Any] = []
        for name in self.subject_alt_names or ():
            if isinstance(name, x509.DNSName):
                dns.append(name.value)
            elif isinstance(name, x509.IPAddress):
                addresses.append(name.value)
        self.__dict__["ip_addresses"] = tuple(addresses)
        return tuple(dns)

    @cached_property
    def ip_addresses(self) -> tuple[Any, ...]:
        """The SAN's iPAddress values, as cryptography gives them (ipaddress objects)."""
        self.dns_names  # noqa: B018 - fills this in the same pass
        addresses: tuple[Any, ...] = self.__dict__["ip_addresses"]
        return addresses

    def _subject_values(self, oid: x509.ObjectIdentifier) -> tuple[str, ...]:
        """The subject's values of one attribute type, in order, as text."""
        attributes = self._subject_attributes
        if attributes is not None:
            dotted = oid.dotted_string
            return tuple(text for found, text in attributes if found == dotted)
        return tuple(str(a.value) for a in self.subject.get_attributes_for_oid(oid))

    @cached_property
    def email_addresses(self) -> tuple[str, ...]:
        san = self.subject_alt_names
        from_san = () if san is None else tuple(san.get_values_for_type(x509.RFC822Name))
        return from_san + self._subject_values(NameOID.EMAIL_ADDRESS)

    @cached_property
    def common_names(self) -> tuple[str, ...]:
        return self._subject_values(NameOID.COMMON_NAME)

    @cached_property
    def subject_summary(self) -> str:
        """A short human name, after Apple's SecCertificateCopySubjectSummary.

        The most telling attribute type present wins (common name, then organisational unit,
        then organisation, then any other); all its values are listed, last first, joined by
        ", ".  Description attributes follow a common-name summary in parentheses.  A subject
        with nothing to show falls back to the first e-mail address, then the first DNS name.
        """
        rank = {
            NameOID.COMMON_NAME: 3,
            NameOID.ORGANIZATIONAL_UNIT_NAME: 2,
            NameOID.ORGANIZATION_NAME: 1,
        }
        best, values, descriptions = 0, list[str](), list[str]()
        for attribute in self.subject:
            text = _attribute_text(attribute.value)
            if attribute.oid == _DESCRIPTION:
                descriptions.insert(0, text)
            level = rank.get(attribute.oid, 0)
            if level > best or not values:
                best, values = level, [text]
            elif level == best:
                values.insert(0, text)
        if values:
            summary = ", ".join(values)
            if descriptions and best == 3:
                summary = f"{summary} ({', '.join(descriptions)})"
            return summary
        if self.email_addresses:
            return self.email_addresses[0]
        return self.dns_names[0] if self.dns_names else ""

    def _access_urls(self, method: x509.ObjectIdentifier) -> tuple[str, ...]:
        value = self._value(x509.AuthorityInformationAccess)
        if value is None:
            return ()
        return tuple(
            d.access_location.value
            for d in value
            if d.access_method == method
            and isinstance(d.access_location, x509.UniformResourceIdentifier)
        )

    @cached_property
    def ca_issuer_urls(self) -> tuple[str, ...]:
        """caIssuers URIs of the Authority Information Access extension."""
        return self._access_urls(AuthorityInformationAccessOID.CA_ISSUERS)

    @cached_property
    def ocsp_urls(self) -> tuple[str, ...]:
        """OCSP responder URIs of the Authority Information Access extension."""
        return self._access_urls(AuthorityInformationAccessOID.OCSP)

    @cached_property
    def crl_urls(self) -> tuple[str, ...]:
        """URIs of the CRL distribution points (full names only)."""
        value = self._value(x509.CRLDistributionPoints)
        return tuple(
            name.value
            for point in value or ()
            for name in point.full_name or ()
            if isinstance(name, x509.UniformResourceIdentifier)
        )


# Extensions this implementation processes, so they may be critical (RFC 5280 4.2: "A
# certificate-using system MUST reject the certificate if it encounters a critical extension it
# does not recognize").  AKI, SKI and AIA are absent on purpose: RFC 5280 4.2.1.1, 4.2.1.2 and
# 4.2.2.1 say conforming CAs MUST mark them non-critical, so a critical one is refused the same way.
PROCESSED_EXTENSIONS = frozenset(
    oid.dotted_string
    for oid in (
        ExtensionOID.BASIC_CONSTRAINTS,
        ExtensionOID.KEY_USAGE,
        ExtensionOID.EXTENDED_KEY_USAGE,
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
        ExtensionOID.NAME_CONSTRAINTS,
        ExtensionOID.CERTIFICATE_POLICIES,
        ExtensionOID.POLICY_CONSTRAINTS,
        ExtensionOID.POLICY_MAPPINGS,
        ExtensionOID.INHIBIT_ANY_POLICY,
    )
)
