"""Result types and Apple's check names: the stable reason codes of trustd.

Check names, their kind (recoverable, fatal, deny), CSSM status codes and OSStatus values come
from Apple's SecPolicyChecks.list as summarised in shared/reference/apple-trust.md section 6.1.
The wire protocol, the exceptions blob and `trustctl verify-cert -v` all use these names.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum


class TrustResult(IntEnum):
    """SecTrustResultType, with Apple's numeric values."""

    INVALID = 0
    PROCEED = 1
    CONFIRM = 2  # never produced, kept for the numbering
    DENY = 3
    UNSPECIFIED = 4
    RECOVERABLE_TRUST_FAILURE = 5
    FATAL_TRUST_FAILURE = 6
    OTHER_ERROR = 7

    @property
    def wire_name(self) -> str:
        """The camelCase name used on the wire and in output (kSecTrustResult<Name>)."""
        return _WIRE_NAMES[self]

    @property
    def trusted(self) -> bool:
        """SecTrustEvaluateWithError's answer: only proceed and unspecified are trusted."""
        return self in (TrustResult.PROCEED, TrustResult.UNSPECIFIED)

    @classmethod
    def from_wire(cls, name: str) -> TrustResult:
        for member, wire in _WIRE_NAMES.items():
            if wire == name:
                return member
        raise ValueError(f"unknown trust result {name!r}")


_WIRE_NAMES = {
    TrustResult.INVALID: "invalid",
    TrustResult.PROCEED: "proceed",
    TrustResult.CONFIRM: "confirm",
    TrustResult.DENY: "deny",
    TrustResult.UNSPECIFIED: "unspecified",
    TrustResult.RECOVERABLE_TRUST_FAILURE: "recoverableTrustFailure",
    TrustResult.FATAL_TRUST_FAILURE: "fatalTrustFailure",
    TrustResult.OTHER_ERROR: "otherError",
}


class Severity(Enum):
    """How a failed check affects the result (Apple's R, F and D types)."""

    RECOVERABLE = "recoverable"
    FATAL = "fatal"
    DENY = "deny"

    @property
    def result(self) -> TrustResult:
        return {
            Severity.RECOVERABLE: TrustResult.RECOVERABLE_TRUST_FAILURE,
            Severity.FATAL: TrustResult.FATAL_TRUST_FAILURE,
            Severity.DENY: TrustResult.DENY,
        }[self]


class Category(IntEnum):
    """Error subtypes, most important first (SecTrustInternal.h); picks the primary failure."""

    BLOCKED = 0
    REVOKED = 1
    KEY_SIZE = 2
    WEAK_HASH = 3
    DENIED = 4
    COMPLIANCE = 5
    PINNING = 6
    TRUST = 7
    USAGE = 8
    NAME = 9
    EXPIRED = 10


@dataclass(frozen=True, slots=True)
class Check:
    """One of Apple's policy checks."""

    name: str
    severity: Severity
    category: Category
    cssm: int  # CSSM_RETURN used in StatusCodes and by verify-cert
    osstatus: int
    message: str  # one line for people: what failed


R, F, D = Severity.RECOVERABLE, Severity.FATAL, Severity.DENY
C = Category


def _cssm(code: int) -> int:
    """A CSSM_RETURN as the signed 32-bit value Apple stores and prints."""
    return code - 2**32 if code >= 2**31 else code


CSSMERR_TP_INVALID_CERTIFICATE = _cssm(0x80012115)
CSSMERR_TP_CERT_EXPIRED = _cssm(0x8001210A)
CSSMERR_TP_NOT_TRUSTED = _cssm(0x8001212A)
CSSMERR_TP_CERT_REVOKED = _cssm(0x8001210C)
CSSMERR_APPLETP_HOSTNAME_MISMATCH = _cssm(0x80012400)
CSSMERR_APPLETP_SMIME_EMAIL_ADDRS_NOT_FOUND = _cssm(0x80012418)
CSSMERR_APPLETP_TRUST_SETTING_DENY = _cssm(0x80012436)

# (name, kind, subtype, CSSM code, OSStatus or 0 where not recorded, message) from
# SecPolicyChecks.list and SecFrameworkStrings.h (docs/research/apple-strings.md sections 1, 4).
_CHECKS = [
    Check(*row)
    for row in (
        (
            "SSLHostname",
            R,
            C.NAME,
            0x80012400,
            -67602,
            "SSL hostname does not match name(s) in certificate",
        ),
        (
            "Email",
            R,
            C.NAME,
            0x80012418,
            -67623,
            "Email address does not match name(s) in certificate",
        ),
        (
            "TemporalValidity",
            R,
            C.EXPIRED,
            0x8001210A,
            -67818,
            "Certificate is not temporally valid",
        ),
        ("ValidLeaf", R, C.EXPIRED, 0x8001210A, -67818, "Certificate is not temporally valid"),
        ("ValidRoot", R, C.EXPIRED, 0x8001210A, -67818, "Root is not temporally valid"),
        (
            "WeakKeySize",
            F,
            C.KEY_SIZE,
            0x80012115,
            -67735,
            "Certificate is using a broken key size",
        ),
        (
            "WeakSignature",
            F,
            C.WEAK_HASH,
            0x80010955,
            -67815,
            "Certificate is using a broken signature algorithm",
        ),
        ("KeyUsage", R, C.USAGE, 0x80012406, -67608, "Key usage does not match certificate usage"),
        (
            "ExtendedKeyUsage",
            R,
            C.USAGE,
            0x80012407,
            -67609,
            "Extended key usage does not match certificate usage",
        ),
        ("NotCA", R, C.COMPLIANCE, 0x80012116, -67902, "Leaf certificate is a CA"),
        ("BlackListedLeaf", F, C.BLOCKED, 0x8001210C, -67820, "Certificate is blocked"),
        ("GrayListedLeaf", R, C.TRUST, 0x8001212A, -67843, "Certificate is listed as untrusted"),
        (
            "BasicConstraints",
            R,
            C.COMPLIANCE,
            0x80012402,
            -67604,
            "Basic constraints are required but missing",
        ),
        (
            "BasicConstraintsCA",
            R,
            C.COMPLIANCE,
            0x80012403,
            -67605,
            "Non-CA certificate used as a CA",
        ),
        (
            "BasicConstraintsPathLen",
            R,
            C.COMPLIANCE,
            0x80012409,
            -67611,
            "Chain exceeded constrained path length",
        ),
        ("AnchorTrusted", R, C.TRUST, 0x8001212A, -67843, "Root is not trusted"),
        (
            "MissingIntermediate",
            R,
            C.TRUST,
            0x8001212A,
            -25318,
            "Unable to build chain to root (possible missing intermediate)",
        ),
        ("NonEmptySubject", R, C.COMPLIANCE, 0x80012437, -67655, "Certificate missing a name"),
        (
            "IdLinkage",
            R,
            C.COMPLIANCE,
            0x80012404,
            -67610,
            "SubjectKeyID/AuthorityKeyID mismatch in chain",
        ),
        ("KeySize", R, C.KEY_SIZE, 0x80010918, -67735, "Key size is not permitted for this use"),
        (
            "SignatureHashAlgorithms",
            R,
            C.WEAK_HASH,
            0x80010913,
            -67815,
            "Signature hash algorithm is not permitted for this use",
        ),
        (
            "CertificatePolicy",
            R,
            C.PINNING,
            0x80012439,
            -67835,
            "Missing project-specific Certificate Policy OID",
        ),
        (
            "CriticalExtensions",
            R,
            C.COMPLIANCE,
            0x80012401,
            -67603,
            "Found unknown critical extensions",
        ),
        (
            "ChainLength",
            R,
            C.PINNING,
            0x80012409,
            -67611,
            "Chain does not match expected path length",
        ),
        (
            "BasicCertificateProcessing",
            R,
            C.COMPLIANCE,
            0x80012115,
            -67690,
            "Certificate is not standards compliant",
        ),
        ("NameConstraints", R, C.COMPLIANCE, 0x80012115, -67689, "Name constraints violated"),
        ("PolicyConstraints", R, C.COMPLIANCE, 0x80012115, -67835, "Policy constraints violated"),
        ("GrayListedKey", R, C.TRUST, 0x8001212A, -67843, "Key is listed as untrusted"),
        ("BlackListedKey", F, C.BLOCKED, 0x8001210C, -67820, "Key is blocked"),
        (
            "UsageConstraints",
            D,
            C.DENIED,
            0x80012436,
            -67654,
            "User or administrator set certificate as distrusted",
        ),
        ("Revocation", F, C.REVOKED, 0x8001210C, -67820, "Certificate is revoked"),
        (
            "RevocationResponseRequired",
            R,
            C.PINNING,
            0x80012423,
            -67635,
            "Failed to check revocation",
        ),
        (
            "ValidityPeriodMaximums",
            R,
            C.COMPLIANCE,
            0x8001210D,
            -67901,
            "Certificate exceeds maximum temporal validity period",
        ),
        (
            "OtherTrustValidityPeriod",
            R,
            C.COMPLIANCE,
            0x8001210D,
            -67901,
            "Certificate exceeds maximum temporal validity period",
        ),
        (
            "SystemTrustValidityPeriod",
            R,
            C.COMPLIANCE,
            0x8001210D,
            -67901,
            "Certificate exceeds maximum temporal validity period",
        ),
        (
            "ServerAuthEKU",
            R,
            C.USAGE,
            0x80012407,
            -67609,
            "Extended key usage does not match certificate usage",
        ),
        (
            "EmailProtectionEKU",
            R,
            C.USAGE,
            0x80012407,
            -67609,
            "Extended key usage does not match certificate usage",
        ),
        (
            "UnparseableExtension",
            R,
            C.COMPLIANCE,
            0x80012410,
            -67618,
            "Unable to parse known extension",
        ),
        (
            "DuplicateExtension",
            R,
            C.COMPLIANCE,
            0x80012410,
            -67903,
            "Multiple extensions with the same extension ID",
        ),
        # trustd's own checks: Apple's client refuses such input before evaluation.
        (
            "MalformedCertificate",
            F,
            C.COMPLIANCE,
            0x80012115,
            -26275,
            "Certificate could not be parsed",
        ),
        (
            "BudgetExhausted",
            F,
            C.TRUST,
            0x8001212A,
            -67843,
            "Path building gave up: the certificates form a pathological graph",
        ),
    )
]
_CHECKS = [
    Check(c.name, c.severity, c.category, _cssm(c.cssm), c.osstatus, c.message) for c in _CHECKS
]

# SecTrustCopyErrorStrings' simple error, per subtype; %s is the subject summary.
SUBTYPE_TEMPLATES = {
    Category.BLOCKED: "“%s” certificate is blocked",
    Category.REVOKED: "“%s” certificate is revoked",
    Category.KEY_SIZE: "“%s” certificate is using a broken key size",
    Category.WEAK_HASH: "“%s” certificate is using a broken signature algorithm",
    Category.DENIED: "User or administrator set “%s” certificate as distrusted",
    Category.COMPLIANCE: "“%s” certificate is not standards compliant",
    Category.PINNING: "%s certificates do not meet pinning requirements",
    Category.TRUST: "“%s” certificate is not trusted",
    Category.USAGE: "“%s” certificate is not permitted for this usage",
    Category.NAME: "“%s” certificate name does not match input",
    Category.EXPIRED: "“%s” certificate is expired",
}

CHECKS: dict[str, Check] = {check.name: check for check in _CHECKS}


def check(name: str) -> Check:
    """The Check called `name`; unknown names (from newer peers) are recoverable compliance."""
    return CHECKS.get(name) or Check(
        name, R, C.COMPLIANCE, CSSMERR_TP_INVALID_CERTIFICATE, 0, f"[{name}]"
    )


# The three allowed errors trust settings can carry, and the checks each one covers
# (SecPolicyServer.c detailKeyToCssmErr).
ALLOWED_ERROR_CHECKS: dict[int, frozenset[str]] = {
    CSSMERR_TP_CERT_EXPIRED: frozenset({"TemporalValidity", "ValidLeaf"}),
    CSSMERR_APPLETP_HOSTNAME_MISMATCH: frozenset({"SSLHostname"}),
    CSSMERR_APPLETP_SMIME_EMAIL_ADDRS_NOT_FOUND: frozenset({"Email"}),
}
