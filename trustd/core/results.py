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

# CSSM codes used below.
CSSMERR_TP_INVALID_CERTIFICATE = 0x80012115 - 2**32
CSSMERR_TP_CERT_EXPIRED = 0x8001210A - 2**32
CSSMERR_TP_NOT_TRUSTED = 0x8001212A - 2**32
CSSMERR_TP_CERT_REVOKED = 0x8001210C - 2**32
CSSMERR_APPLETP_HOSTNAME_MISMATCH = 0x80012400 - 2**32
CSSMERR_APPLETP_SMIME_EMAIL_ADDRS_NOT_FOUND = 0x80012418 - 2**32
CSSMERR_APPLETP_TRUST_SETTING_DENY = 0x80012436 - 2**32

_CHECKS = [
    Check("SSLHostname", R, C.NAME, CSSMERR_APPLETP_HOSTNAME_MISMATCH, -67602,
          "Host name not found in Subject Alternative Name extension"),
    Check("Email", R, C.NAME, CSSMERR_APPLETP_SMIME_EMAIL_ADDRS_NOT_FOUND, -67623,
          "E-mail address not found in the certificate"),
    Check("TemporalValidity", R, C.EXPIRED, CSSMERR_TP_CERT_EXPIRED, -67818,
          "Certificate has expired or is not yet valid"),
    Check("ValidLeaf", R, C.EXPIRED, CSSMERR_TP_CERT_EXPIRED, -67818,
          "Leaf certificate is not valid at the verification time"),
    Check("ValidRoot", R, C.EXPIRED, CSSMERR_TP_CERT_EXPIRED, -67818,
          "Root certificate has expired or is not yet valid"),
    Check("WeakKeySize", F, C.KEY_SIZE, 0x80012115 - 2**32, -67735,
          "Public key is too weak (RSA below 1024 bits or EC below 160 bits)"),
    Check("WeakSignature", F, C.WEAK_HASH, 0x80010955 - 2**32, -67815,
          "Signature uses a broken hash algorithm (MD2, MD4 or MD5)"),
    Check("KeyUsage", R, C.USAGE, 0x80012406 - 2**32, -67608,
          "Key usage does not allow this use"),
    Check("ExtendedKeyUsage", R, C.USAGE, 0x80012407 - 2**32, -67609,
          "Extended key usage does not allow this use"),
    Check("NotCA", R, C.USAGE, 0x80012116 - 2**32, -67902,
          "Leaf certificate is a certificate authority"),
    Check("BasicConstraints", R, C.COMPLIANCE, 0x80012402 - 2**32, -67604,
          "Basic constraints extension is missing or wrong"),
    Check("BasicConstraintsCA", R, C.COMPLIANCE, 0x80012403 - 2**32, -67605,
          "Certificate used as an issuer is not a certificate authority"),
    Check("BasicConstraintsPathLen", R, C.COMPLIANCE, 0x80012409 - 2**32, -67611,
          "Path length constraint exceeded"),
    Check("AnchorTrusted", R, C.TRUST, CSSMERR_TP_NOT_TRUSTED, -67843,
          "Root certificate is not trusted"),
    Check("MissingIntermediate", R, C.TRUST, CSSMERR_TP_NOT_TRUSTED, -25318,
          "Unable to build chain to a trusted root (possible missing intermediate)"),
    Check("NonEmptySubject", R, C.COMPLIANCE, 0x80012437 - 2**32, -67655,
          "Empty subject name without a critical subject alternative name"),
    Check("IdLinkage", R, C.COMPLIANCE, 0x80012404 - 2**32, -67610,
          "Authority and subject key identifiers do not link"),
    Check("KeySize", R, C.KEY_SIZE, 0x80010918 - 2**32, -67735,
          "Public key is smaller than this policy allows"),
    Check("SignatureHashAlgorithms", R, C.WEAK_HASH, 0x80010913 - 2**32, -67815,
          "Signature hash algorithm is not allowed by this policy"),
    Check("CertificatePolicy", R, C.COMPLIANCE, 0x80012439 - 2**32, -67835,
          "Required certificate policy is missing"),
    Check("CriticalExtensions", R, C.COMPLIANCE, 0x80012401 - 2**32, -67603,
          "Unrecognized critical extension"),
    Check("ChainLength", R, C.PINNING, 0x80012409 - 2**32, -67611,
          "Chain is longer than allowed"),
    Check("BasicCertificateProcessing", R, C.COMPLIANCE, CSSMERR_TP_INVALID_CERTIFICATE, -67690,
          "Certificate is not standards compliant"),
    Check("NameConstraints", R, C.COMPLIANCE, CSSMERR_TP_INVALID_CERTIFICATE, -67689,
          "Name is not permitted by the issuer's name constraints"),
    Check("PolicyConstraints", R, C.COMPLIANCE, CSSMERR_TP_INVALID_CERTIFICATE, -67835,
          "Certificate policy constraints are not met"),
    Check("UsageConstraints", D, C.DENIED, CSSMERR_APPLETP_TRUST_SETTING_DENY, -67654,
          "User or administrator set the certificate as distrusted"),
    Check("Revocation", F, C.REVOKED, CSSMERR_TP_CERT_REVOKED, -67820,
          "Certificate has been revoked"),
    Check("RevocationResponseRequired", R, C.REVOKED, 0x80012423 - 2**32, -67635,
          "A required revocation response could not be obtained"),
    Check("UnparseableExtension", R, C.COMPLIANCE, 0x80012410 - 2**32, -67618,
          "An extension could not be parsed"),
    Check("DuplicateExtension", R, C.COMPLIANCE, 0x80012410 - 2**32, -67903,
          "An extension appears more than once"),
    Check("OtherTrustValidityPeriod", R, C.COMPLIANCE, 0x8001210D - 2**32, -67901,
          "Certificate exceeds maximum temporal validity period"),
    Check("SystemTrustValidityPeriod", R, C.COMPLIANCE, 0x8001210D - 2**32, -67901,
          "Certificate exceeds maximum temporal validity period"),
    Check("ServerAuthEKU", R, C.USAGE, 0x80012407 - 2**32, -67609,
          "Extended key usage does not include server authentication"),
    Check("EmailProtectionEKU", R, C.USAGE, 0x80012407 - 2**32, -67609,
          "Extended key usage does not include e-mail protection"),
    # trustd's own checks; Apple's client refuses such input before evaluation.
    Check("MalformedCertificate", F, C.COMPLIANCE, CSSMERR_TP_INVALID_CERTIFICATE, -26275,
          "Certificate could not be parsed"),
    Check("BudgetExhausted", F, C.TRUST, CSSMERR_TP_NOT_TRUSTED, -67843,
          "Path building gave up: the certificates form a pathological graph"),
]

CHECKS: dict[str, Check] = {check.name: check for check in _CHECKS}


def check(name: str) -> Check:
    """The Check called `name`; unknown names (from newer peers) are recoverable compliance."""
    return CHECKS.get(name) or Check(name, R, C.COMPLIANCE, CSSMERR_TP_INVALID_CERTIFICATE, 0, name)


# The three allowed errors trust settings can carry, and the checks each one covers
# (SecPolicyServer.c detailKeyToCssmErr).
ALLOWED_ERROR_CHECKS: dict[int, frozenset[str]] = {
    CSSMERR_TP_CERT_EXPIRED: frozenset({"TemporalValidity", "ValidLeaf"}),
    CSSMERR_APPLETP_HOSTNAME_MISMATCH: frozenset({"SSLHostname"}),
    CSSMERR_APPLETP_SMIME_EMAIL_ADDRS_NOT_FOUND: frozenset({"Email"}),
}
