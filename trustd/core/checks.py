"""Judging one complete candidate path: every problem, per certificate, by Apple check name.

Evaluation does not stop at the first problem: allowed errors and exceptions need the full list.
Each rule cites where it comes from: RFC 5280 (path validation and the certificate profile),
Apple's policies (shared/reference/apple-trust.md section 4) or the CA/Browser Forum baseline
requirements.  Deliberate departures are listed in docs/deviations.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.x509.oid import ExtensionOID

from trustd.core.budget import Budget
from trustd.core.certificate_policies import (
    DEFAULT_POLICY_INPUTS,
    PolicyInputs,
    policy_failures,
)
from trustd.core.certificates import PROCESSED_EXTENSIONS, Certificate
from trustd.core.crl import RevocationEvidence, revocation_failures
from trustd.core.name_constraints import name_constraint_failures
from trustd.core.names import (
    email_matches,
    loose_ip,
    never_public,
    normalize_hostname,
    presented_names_match,
)
from trustd.core.policy import SERVER_AUTH, Policy, PolicyKind
from trustd.core.results import CheckName
from trustd.core.snapshot import Origin
from trustd.core.verdict import Failure

# Apple's hard floors (SecCertificate.c MIN_RSA_KEY_SIZE 128 bytes, MIN_EC_KEY_SIZE 20 bytes).
MIN_RSA_BITS = 1024
MIN_EC_BITS = 160
# Apple's TLS server strength rules since iOS 13 / macOS 10.15 (HT210176).
TLS_MIN_RSA_BITS = 2048
TLS_MIN_EC_BITS = 256
# RFC 5280 4.1.2.2: serial numbers are at most 20 octets.
MAX_SERIAL_OCTETS = 20

SUPPORTED_CURVES = frozenset({"secp256r1", "secp384r1", "secp521r1"})
BROKEN_HASHES = frozenset({"md2", "md4", "md5"})
_BROKEN_SIGNATURE_OIDS = frozenset(
    {"1.2.840.113549.1.1.2", "1.2.840.113549.1.1.3", "1.2.840.113549.1.1.4"}
)

# Apple's TLS leaf validity limits (SecPolicy.c set_ssl_validity_periods, SecPolicyServer.c).
_SLIP = timedelta(hours=1)
_SYSTEM_825_FROM = datetime(2018, 3, 1, tzinfo=UTC)
_SYSTEM_398_FROM = datetime(2020, 9, 1, tzinfo=UTC)
_OTHER_825_FROM = datetime(2019, 6, 30, 23, tzinfo=UTC)
_OTHER_EKU_FROM = datetime(2019, 7, 1, tzinfo=UTC)

_KEY_USAGE_ATTRIBUTES = {
    "digitalSignature": "digital_signature",
    "contentCommitment": "content_commitment",
    "nonRepudiation": "content_commitment",
    "keyEncipherment": "key_encipherment",
    "dataEncipherment": "data_encipherment",
    "keyAgreement": "key_agreement",
    "keyCertSign": "key_cert_sign",
    "cRLSign": "crl_sign",
    "encipherOnly": "encipher_only",
    "decipherOnly": "decipher_only",
}


@dataclass(frozen=True, slots=True)
class PathFacts:
    """A complete candidate path and what the checks need to know about it."""

    path: Sequence[Certificate]
    anchored: bool
    anchor_origin: Origin | None
    leaf_anchored_by_settings: bool
    moment: datetime
    policies: Sequence[Policy]
    revocation: RevocationEvidence
    max_intermediates: int | None
    is_public_suffix: Callable[[str], bool] = never_public
    policy_inputs: PolicyInputs = DEFAULT_POLICY_INPUTS
    # Whether CA-profile rules beyond path validation apply: a TLS server policy.
    web_profile: bool = field(init=False)
    last: int = field(init=False)  # the index of the path's last certificate

    def __post_init__(self) -> None:
        object.__setattr__(self, "web_profile", any(p.is_tls_server for p in self.policies))
        object.__setattr__(self, "last", len(self.path) - 1)

    @property
    def settings_anchored(self) -> bool:
        return self.anchor_origin in (Origin.ADMIN, Origin.USER)

    def is_anchor(self, index: int) -> bool:
        return self.anchored and index == self.last


def has_key_usage(usage: x509.KeyUsage, name: str) -> bool:
    attribute = _KEY_USAGE_ATTRIBUTES[name]
    if attribute in ("encipher_only", "decipher_only") and not usage.key_agreement:
        return False
    return bool(getattr(usage, attribute))


def _any_key_usage(usage: x509.KeyUsage) -> bool:
    """Whether any bit is set (encipherOnly and decipherOnly count only with keyAgreement, as
    has_key_usage reads them)."""
    return (
        usage.digital_signature
        or usage.content_commitment
        or usage.key_encipherment
        or usage.data_encipherment
        or usage.key_agreement
        or usage.key_cert_sign
        or usage.crl_sign
    )


def signature_hash_name(cert: Certificate) -> str | None:
    """Lower-case name of the signature's hash ('sha256', 'md5'), None for EdDSA or unknown."""
    if cert.x509.signature_algorithm_oid.dotted_string in _BROKEN_SIGNATURE_OIDS:
        return "md5"
    try:
        algorithm = cert.x509.signature_hash_algorithm
    except Exception:  # UnsupportedAlgorithm for hashes cryptography refuses (MD2, MD4)
        return "md2"
    return None if algorithm is None else algorithm.name.lower()


def judge_path(facts: PathFacts, budget: Budget) -> list[Failure]:
    """Every failure of the path (trust settings and exceptions are applied by the caller)."""
    failures: list[Failure] = []
    for index, cert in enumerate(facts.path):
        failures.extend(certificate_failures(cert, index, facts))
    failures.extend(path_length_failures(facts))
    failures.extend(key_identifier_failures(facts))
    failures.extend(name_constraint_failures(facts.path, budget))
    failures.extend(policy_failures(facts.path, facts.anchored, facts.policy_inputs))
    if facts.anchored:
        failures.extend(revocation_failures(facts.path, facts.revocation, facts.moment))
    failures.extend(anchor_failures(facts))
    return failures


# -- every certificate ------------------------------------------------------------------------


def certificate_failures(cert: Certificate, index: int, facts: PathFacts) -> Iterator[Failure]:
    yield from _structure_failures(cert, index, facts)
    yield from _key_failures(cert, index, facts)
    yield from _signature_algorithm_failures(cert, index, facts)
    if not cert.valid_at(facts.moment):
        # RFC 5280 6.1.3 (a)(2); Apple checks the anchor's validity too.
        when = "expired" if facts.moment > cert.not_after else "not yet valid"
        yield Failure(index, CheckName.TemporalValidity, detail=when)
    if index == 0:
        yield from _leaf_failures(cert, facts)
    else:
        yield from _issuer_failures(cert, index, facts)


def _structure_failures(cert: Certificate, index: int, facts: PathFacts) -> Iterator[Failure]:
    parts = cert.parts
    if parts.inner_signature_algorithm != parts.outer_signature_algorithm:
        # RFC 5280 4.1.1.2: signatureAlgorithm MUST equal tbsCertificate.signature.
        yield Failure(
            index, CheckName.BasicCertificateProcessing, detail="signature algorithms differ"
        )
    if parts.version != 2 and (parts.extensions_span is not None or index > 0):
        # RFC 5280 4.1.2.1: extensions need v3; 6.1.4 (k): an issuer must be a v3 CA.
        yield Failure(
            index, CheckName.BasicCertificateProcessing, detail=f"version {parts.version + 1}"
        )
    if not facts.is_anchor(index):
        # RFC 5280 4.1.2.2: positive, at most 20 octets.  Not enforced on anchors: a few roots
        # in real stores have serial 0.
        serial = parts.serial
        if len(serial) > MAX_SERIAL_OCTETS + (1 if serial[:1] == b"\x00" else 0):
            yield Failure(
                index, CheckName.BasicCertificateProcessing, detail="serial number too long"
            )
        if serial[0] & 0x80 or not any(serial):
            yield Failure(
                index, CheckName.BasicCertificateProcessing, detail="serial number not positive"
            )
    if not cert.issuer_der or cert.issuer_der == b"\x30\x00":
        # RFC 5280 4.1.2.4: the issuer field MUST contain a non-empty name.
        yield Failure(index, CheckName.BasicCertificateProcessing, detail="empty issuer name")
    if cert.extension_problem is not None:
        yield Failure(index, cert.extension_problem)
    unknown = [
        oid
        for oid, critical in cert.raw_extension_oids.items()
        if critical and oid not in PROCESSED_EXTENSIONS
    ]
    if unknown:
        # RFC 5280 4.2: reject a certificate with a critical extension we do not process.
        yield Failure(index, CheckName.CriticalExtensions, detail=", ".join(unknown))
    empty_subject = cert.subject_der == b"\x30\x00"
    if empty_subject and (index > 0 or not cert.is_critical(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)):
        # RFC 5280 4.1.2.6: a CA's subject is non-empty; an empty subject needs a critical SAN.
        yield Failure(index, CheckName.NonEmptySubject)
    if (
        facts.web_profile
        and cert.has_extension(ExtensionOID.POLICY_CONSTRAINTS)
        and not cert.is_critical(ExtensionOID.POLICY_CONSTRAINTS)
    ):
        # RFC 5280 4.2.1.11: conforming CAs MUST mark policy constraints critical.  A rule of
        # the CA profile, not of path validation (6.1), and Apple does not check it: enforced
        # for TLS servers only (docs/deviations.md).
        yield Failure(index, CheckName.PolicyConstraints, detail="policy constraints not critical")
    if index == 0 and cert.has_extension(ExtensionOID.NAME_CONSTRAINTS) and not cert.is_ca:
        # RFC 5280 4.2.1.10: name constraints MUST be used only in a CA certificate.
        yield Failure(index, CheckName.NameConstraints, detail="name constraints in an end-entity")
    usage = cert.key_usage
    if usage is not None and not _any_key_usage(usage):
        # RFC 5280 4.2.1.3: when the extension appears, at least one bit MUST be set.
        yield Failure(index, CheckName.KeyUsage, detail="key usage with no bit set")
    elif usage is not None and usage.key_cert_sign != cert.is_ca:
        # RFC 5280 4.2.1.9 and 4.2.1.3: keyCertSign only with cA asserted, and a CA whose key
        # usage omits keyCertSign is inconsistent (a certificate pretending to be both).
        detail = "keyCertSign without cA" if usage.key_cert_sign else "cA without keyCertSign"
        yield Failure(index, CheckName.KeyUsage, detail=detail)


def _key_failures(cert: Certificate, index: int, facts: PathFacts) -> Iterator[Failure]:
    key = cert.key_facts
    if cert.has_explicit_curve:
        yield Failure(index, CheckName.KeySize, detail="EC key with explicit curve parameters")
        return
    if key.algorithm in {"unknown", "DSA"} or (
        key.algorithm == "EC" and key.curve not in SUPPORTED_CURVES
    ):
        # CA/B 6.1.5 and 7.1.3.1 allow RSA and the P-256, P-384 and P-521 curves; these are also
        # the only curves Apple's SecKey verifies with.
        yield Failure(
            index, CheckName.KeySize, detail=f"unsupported {key.curve or key.algorithm} key"
        )
        return
    if (key.algorithm == "RSA" and key.bits < MIN_RSA_BITS) or (
        key.algorithm == "EC" and key.bits < MIN_EC_BITS
    ):
        yield Failure(index, CheckName.WeakKeySize, detail=f"{key.algorithm} {key.bits} bits")
        return
    if key.algorithm == "RSA" and key.bits % 8:
        # CA/B 6.1.5: the modulus size in bits MUST be divisible by 8.
        yield Failure(index, CheckName.KeySize, detail=f"RSA modulus of {key.bits} bits")
    if (
        facts.web_profile
        and not facts.leaf_anchored_by_settings
        and (
            (key.algorithm == "RSA" and key.bits < TLS_MIN_RSA_BITS)
            or (key.algorithm == "EC" and key.bits < TLS_MIN_EC_BITS)
        )
    ):
        yield Failure(index, CheckName.KeySize, detail=f"{key.algorithm} {key.bits} bits")


def _signature_algorithm_failures(
    cert: Certificate, index: int, facts: PathFacts
) -> Iterator[Failure]:
    if facts.is_anchor(index) and cert.is_self_issued:
        return  # the anchor's self-signature is never checked, so its hash does not matter
    hash_name = signature_hash_name(cert)
    if hash_name in BROKEN_HASHES:
        yield Failure(index, CheckName.WeakSignature, detail=hash_name or "")
    elif hash_name == "sha1" and facts.web_profile:
        if not (facts.is_anchor(index) and facts.settings_anchored):
            yield Failure(index, CheckName.SignatureHashAlgorithms, detail="sha1")


# -- the leaf ---------------------------------------------------------------------------------


def _leaf_failures(cert: Certificate, facts: PathFacts) -> Iterator[Failure]:
    for policy in facts.policies:
        yield from _leaf_policy_failures(cert, policy, facts)


def _leaf_policy_failures(cert: Certificate, policy: Policy, facts: PathFacts) -> Iterator[Failure]:
    wanted = policy.leaf_ekus
    ekus = cert.extended_key_usage
    if wanted is not None and ekus is not None:
        if policy.extended_key_usages is not None:
            ok = policy.extended_key_usages <= ekus
        else:
            ok = bool(wanted & ekus)
        if not ok:
            yield Failure(0, CheckName.ExtendedKeyUsage, detail="leaf EKU does not allow this use")
    usage = cert.key_usage
    if usage is not None:
        missing = [name for name in sorted(policy.key_usages) if not has_key_usage(usage, name)]
        if missing:
            yield Failure(0, CheckName.KeyUsage, detail="missing " + ", ".join(missing))
    # A name given is a name to check, the empty one too (it matches nothing), as
    # SecPolicyCreateSSL does for any non-NULL hostname.
    named = (PolicyKind.SSL, PolicyKind.EAP, PolicyKind.IPSEC)
    if policy.kind in named and policy.name is not None:
        if cert.subject_alt_names is None or not presented_names_match(
            cert.dns_names, cert.ip_addresses, policy.name, facts.is_public_suffix
        ):
            yield Failure(0, CheckName.SSLHostname, detail=policy.name)
    if policy.kind is PolicyKind.SMIME and policy.name is not None:
        if not email_matches(cert.email_addresses, policy.name):
            yield Failure(0, CheckName.Email, detail=policy.name)
    if policy.is_tls_server:
        yield from _tls_server_leaf_failures(cert, facts)


def _tls_server_leaf_failures(cert: Certificate, facts: PathFacts) -> Iterator[Failure]:
    """Apple's TLS server leaf rules (reference 4.3 table), which depend on the anchor.

    Chains anchored by user or admin trust settings are exempt, as on Apple platforms.
    """
    if facts.leaf_anchored_by_settings or facts.settings_anchored or not facts.anchored:
        return
    yield from _subject_name_failures(cert)
    lifetime = cert.not_after - cert.not_before
    ekus = cert.extended_key_usage or frozenset()
    if facts.anchor_origin is Origin.SYSTEM:
        if cert.not_before >= _SYSTEM_398_FROM and lifetime > timedelta(days=398):
            yield Failure(0, CheckName.SystemTrustValidityPeriod, detail="more than 398 days")
        elif cert.not_before >= _SYSTEM_825_FROM and lifetime > timedelta(days=825) + _SLIP:
            yield Failure(0, CheckName.SystemTrustValidityPeriod, detail="more than 825 days")
        if SERVER_AUTH not in ekus:
            yield Failure(0, CheckName.ServerAuthEKU)
    else:
        if cert.not_before > _OTHER_825_FROM and lifetime > timedelta(days=825) + _SLIP:
            yield Failure(0, CheckName.OtherTrustValidityPeriod, detail="more than 825 days")
        if cert.not_before > _OTHER_EKU_FROM and SERVER_AUTH not in ekus:
            yield Failure(0, CheckName.ServerAuthEKU)


def _subject_name_failures(cert: Certificate) -> Iterator[Failure]:
    """CA/B 7.1.4.3 and 7.1.2.7.12 on how a TLS server certificate names its subject."""
    san = cert.subject_alt_names
    if (
        san is not None
        and cert.subject_der != b"\x30\x00"
        and cert.is_critical(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    ):
        yield Failure(0, CheckName.BasicCertificateProcessing, detail="critical SAN with a subject")
    for value in cert.common_names:
        twin = respelled_identity(value, cert)
        if twin is not None:
            yield Failure(
                0,
                CheckName.BasicCertificateProcessing,
                detail=f"common name {value!r} respells {twin!r}",
            )
            break


def respelled_identity(common_name: str, cert: Certificate) -> str | None:
    """The SAN value that `common_name` names in another spelling, if any.

    trustd, like Apple, never reads the common name for identity, so a common name naming
    something else entirely is ignored.  But one that names a SAN host or address in a different
    form (other case, U-label for A-label, hex or zero-padded IPv4, uncompressed IPv6) breaks
    CA/B 7.1.4.3, which wants a byte-for-byte copy, and is the material of name-confusion attacks
    on software that still reads common names.
    """
    san = cert.subject_alt_names
    if san is None:
        return None
    dns = cert.dns_names
    addresses = [str(ip) for ip in cert.ip_addresses]
    if common_name in dns or common_name in addresses:
        return None
    address = loose_ip(common_name)
    if address is not None and str(address) in addresses:
        return str(address)
    folded = normalize_hostname(common_name)
    for name in dns:
        if folded is not None and folded == name.lower():
            return name
    return None


# -- issuers ----------------------------------------------------------------------------------


def _issuer_failures(cert: Certificate, index: int, facts: PathFacts) -> Iterator[Failure]:
    constraints = cert.basic_constraints
    if constraints is None or not constraints.ca:
        # RFC 5280 6.1.4 (k): every issuer must be a CA.
        yield Failure(index, CheckName.BasicConstraintsCA)
    elif (
        facts.web_profile
        and not cert.is_critical(ExtensionOID.BASIC_CONSTRAINTS)
        and not facts.is_anchor(index)
    ):
        # RFC 5280 4.2.1.9: CAs MUST mark basic constraints critical.  Anchors are exempt:
        # trusted roots with a non-critical one exist (Go Daddy Class 2, ePKI Root).  Like the
        # rule for policy constraints, a CA-profile rule Apple does not check: enforced for TLS
        # servers only, so that other policies accept what Apple accepts (PKITS 4.6.4).
        yield Failure(index, CheckName.BasicConstraints, detail="basic constraints not critical")
    usage = cert.key_usage
    if usage is not None and not usage.key_cert_sign:
        # RFC 5280 6.1.4 (n).
        yield Failure(index, CheckName.KeyUsage, detail="issuer without keyCertSign")
    ekus = cert.extended_key_usage
    if ekus is not None:
        for policy in facts.policies:
            wanted = policy.leaf_ekus
            if wanted is not None and not (ekus & (wanted | {"2.5.29.37.0"})):
                # Apple: a CA carrying an EKU must include anyEKU or one of the policy's EKUs.
                yield Failure(
                    index, CheckName.ExtendedKeyUsage, detail="issuer EKU does not allow this use"
                )
                break


def path_length_failures(facts: PathFacts) -> Iterator[Failure]:
    """RFC 5280 6.1.4 (l), (m): pathLenConstraint counts non-self-issued intermediates below."""
    below = 0
    for index in range(1, len(facts.path)):
        cert = facts.path[index]
        constraints = cert.basic_constraints
        if constraints is not None and constraints.path_length is not None:
            if below > constraints.path_length:
                yield Failure(index, CheckName.BasicConstraintsPathLen)
        if not cert.is_self_issued:
            below += 1
    if facts.max_intermediates is not None:
        inner = facts.path[1 : facts.last] if facts.anchored else facts.path[1:]
        logical = sum(1 for cert in inner if not cert.is_self_issued)
        if logical > facts.max_intermediates:
            yield Failure(facts.last, CheckName.ChainLength, detail=f"{logical} intermediates")


def key_identifier_failures(facts: PathFacts) -> Iterator[Failure]:
    """RFC 5280 4.2.1.1 and 4.2.1.2, and Apple's IdLinkage."""
    path = facts.path
    for index, cert in enumerate(path):
        aki = cert.authority_key_identifier
        self_signed_end = cert.is_self_issued and index == facts.last
        if aki is None:
            if (
                not facts.is_anchor(index)
                and not self_signed_end
                and cert.extension_problem is None
            ):
                # AKI keyIdentifier MUST be present except in self-signed certificates.  An
                # anchor is exempt: RFC 5280 6.2 uses only its name and key.
                yield Failure(index, CheckName.IdLinkage, detail="no authority key identifier")
        elif aki.key_identifier is None:
            yield Failure(
                index, CheckName.IdLinkage, detail="authority key identifier without keyIdentifier"
            )
        elif self_signed_end and cert.subject_key_identifier not in (None, aki.key_identifier):
            # A root's AKI names its own key.  Issuer and serial may follow: trusted roots in
            # every store carry them (Go Daddy and Starfield Class 2, QuoVadis, Certigna), so
            # CA/B 7.1.2.1.3's "only the key identifier" is not enforced (docs/deviations.md).
            yield Failure(index, CheckName.IdLinkage, detail="root authority key identifier")
        elif index < facts.last:
            issuer_ski = path[index + 1].subject_key_identifier
            if issuer_ski is not None and aki.key_identifier != issuer_ski:
                yield Failure(
                    index, CheckName.IdLinkage, detail="AKI does not match the issuer's SKI"
                )
        if (
            index > 0
            and not facts.is_anchor(index)
            and cert.subject_key_identifier is None
            and cert.extension_problem is None
        ):
            # RFC 5280 4.2.1.2: SKI MUST appear in all conforming CA certificates.  Anchors are
            # exempt: trusted roots without one exist (Hongkong Post Root CA 1, TWCA Global).
            yield Failure(index, CheckName.IdLinkage, detail="CA without subject key identifier")


def anchor_failures(facts: PathFacts) -> Iterator[Failure]:
    if facts.anchored:
        return
    last = facts.path[facts.last]
    if last.is_self_issued:
        yield Failure(facts.last, CheckName.AnchorTrusted)
    else:
        yield Failure(facts.last, CheckName.MissingIntermediate)
