"""Result types and Apple's check names: the stable reason codes of trustd.

Check names, their kind (recoverable, fatal, deny), CSSM status codes and OSStatus values come
from Apple's SecPolicyChecks.list as summarised in shared/reference/apple-trust.md section 6.1.
The wire protocol, the exceptions blob and `trustctl verify-cert -v` all use these names.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum, StrEnum


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


class CheckName(StrEnum):
    """The name of one of Apple's policy checks (SecPolicyChecks.list), spelt as the wire
    protocol, the exceptions blob and `verify-cert -v` spell it.  CheckName(text) refuses any
    other text with ValueError; a CheckName is a str, equal to its name."""

    SSLHostname = "SSLHostname"
    Email = "Email"
    TemporalValidity = "TemporalValidity"
    ValidLeaf = "ValidLeaf"
    ValidRoot = "ValidRoot"
    WeakKeySize = "WeakKeySize"
    WeakSignature = "WeakSignature"
    KeyUsage = "KeyUsage"
    ExtendedKeyUsage = "ExtendedKeyUsage"
    NotCA = "NotCA"
    BlackListedLeaf = "BlackListedLeaf"
    GrayListedLeaf = "GrayListedLeaf"
    BasicConstraints = "BasicConstraints"
    BasicConstraintsCA = "BasicConstraintsCA"
    BasicConstraintsPathLen = "BasicConstraintsPathLen"
    AnchorTrusted = "AnchorTrusted"
    MissingIntermediate = "MissingIntermediate"
    NonEmptySubject = "NonEmptySubject"
    IdLinkage = "IdLinkage"
    KeySize = "KeySize"
    SignatureHashAlgorithms = "SignatureHashAlgorithms"
    CertificatePolicy = "CertificatePolicy"
    CriticalExtensions = "CriticalExtensions"
    ChainLength = "ChainLength"
    BasicCertificateProcessing = "BasicCertificateProcessing"
    NameConstraints = "NameConstraints"
    PolicyConstraints = "PolicyConstraints"
    GrayListedKey = "GrayListedKey"
    BlackListedKey = "BlackListedKey"
    UsageConstraints = "UsageConstraints"
    Revocation = "Revocation"
    RevocationResponseRequired = "RevocationResponseRequired"
    ValidityPeriodMaximums = "ValidityPeriodMaximums"
    OtherTrustValidityPeriod = "OtherTrustValidityPeriod"
    SystemTrustValidityPeriod = "SystemTrustValidityPeriod"
    ServerAuthEKU = "ServerAuthEKU"
    EmailProtectionEKU = "EmailProtectionEKU"
    UnparseableExtension = "UnparseableExtension"
    DuplicateExtension = "DuplicateExtension"
    # trustd's own checks: Apple's client refuses such input before evaluation.
    MalformedCertificate = "MalformedCertificate"
    BudgetExhausted = "BudgetExhausted"


@dataclass(frozen=True, slots=True)
class Check:
    """One of Apple's policy checks."""

    name: str  # a CheckName, or a name another version sent (peer_check)
    severity: Severity
    category: Category
    cssm: int  # CSSM_RETURN used in StatusCodes and by verify-cert
    osstatus: int
    message: str  # one line for people: what failed


R, F, D = Severity.RECOVERABLE, Severity.FATAL, Severity.DENY
C = Category
N = CheckName


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

# Kind, subtype, CSSM code and OSStatus (0 where not recorded) of each check, and its message,
# from SecPolicyChecks.list and SecFrameworkStrings.h (docs/research/apple-strings.md sections
# 1, 4).
_KINDS: dict[CheckName, tuple[Severity, Category, int, int]] = {
    N.SSLHostname: (R, C.NAME, 0x80012400, -67602),
    N.Email: (R, C.NAME, 0x80012418, -67623),
    N.TemporalValidity: (R, C.EXPIRED, 0x8001210A, -67818),
    N.ValidLeaf: (R, C.EXPIRED, 0x8001210A, -67818),
    N.ValidRoot: (R, C.EXPIRED, 0x8001210A, -67818),
    N.WeakKeySize: (F, C.KEY_SIZE, 0x80012115, -67735),
    N.WeakSignature: (F, C.WEAK_HASH, 0x80010955, -67815),
    N.KeyUsage: (R, C.USAGE, 0x80012406, -67608),
    N.ExtendedKeyUsage: (R, C.USAGE, 0x80012407, -67609),
    N.NotCA: (R, C.COMPLIANCE, 0x80012116, -67902),
    N.BlackListedLeaf: (F, C.BLOCKED, 0x8001210C, -67820),
    N.GrayListedLeaf: (R, C.TRUST, 0x8001212A, -67843),
    N.BasicConstraints: (R, C.COMPLIANCE, 0x80012402, -67604),
    N.BasicConstraintsCA: (R, C.COMPLIANCE, 0x80012403, -67605),
    N.BasicConstraintsPathLen: (R, C.COMPLIANCE, 0x80012409, -67611),
    N.AnchorTrusted: (R, C.TRUST, 0x8001212A, -67843),
    N.MissingIntermediate: (R, C.TRUST, 0x8001212A, -25318),
    N.NonEmptySubject: (R, C.COMPLIANCE, 0x80012437, -67655),
    N.IdLinkage: (R, C.COMPLIANCE, 0x80012404, -67610),
    N.KeySize: (R, C.KEY_SIZE, 0x80010918, -67735),
    N.SignatureHashAlgorithms: (R, C.WEAK_HASH, 0x80010913, -67815),
    N.CertificatePolicy: (R, C.PINNING, 0x80012439, -67835),
    N.CriticalExtensions: (R, C.COMPLIANCE, 0x80012401, -67603),
    N.ChainLength: (R, C.PINNING, 0x80012409, -67611),
    N.BasicCertificateProcessing: (R, C.COMPLIANCE, 0x80012115, -67690),
    N.NameConstraints: (R, C.COMPLIANCE, 0x80012115, -67689),
    N.PolicyConstraints: (R, C.COMPLIANCE, 0x80012115, -67835),
    N.GrayListedKey: (R, C.TRUST, 0x8001212A, -67843),
    N.BlackListedKey: (F, C.BLOCKED, 0x8001210C, -67820),
    N.UsageConstraints: (D, C.DENIED, 0x80012436, -67654),
    N.Revocation: (F, C.REVOKED, 0x8001210C, -67820),
    N.RevocationResponseRequired: (R, C.PINNING, 0x80012423, -67635),
    N.ValidityPeriodMaximums: (R, C.COMPLIANCE, 0x8001210D, -67901),
    N.OtherTrustValidityPeriod: (R, C.COMPLIANCE, 0x8001210D, -67901),
    N.SystemTrustValidityPeriod: (R, C.COMPLIANCE, 0x8001210D, -67901),
    N.ServerAuthEKU: (R, C.USAGE, 0x80012407, -67609),
    N.EmailProtectionEKU: (R, C.USAGE, 0x80012407, -67609),
    N.UnparseableExtension: (R, C.COMPLIANCE, 0x80012410, -67618),
    N.DuplicateExtension: (R, C.COMPLIANCE, 0x80012410, -67903),
    # trustd's own checks: Apple's client refuses such input before evaluation.
    N.MalformedCertificate: (F, C.COMPLIANCE, 0x80012115, -26275),
    N.BudgetExhausted: (F, C.TRUST, 0x8001212A, -67843),
}
_MESSAGES: dict[CheckName, str] = {
    N.SSLHostname: "SSL hostname does not match name(s) in certificate",
    N.Email: "Email address does not match name(s) in certificate",
    N.TemporalValidity: "Certificate is not temporally valid",
    N.ValidLeaf: "Certificate is not temporally valid",
    N.ValidRoot: "Root is not temporally valid",
    N.WeakKeySize: "Certificate is using a broken key size",
    N.WeakSignature: "Certificate is using a broken signature algorithm",
    N.KeyUsage: "Key usage does not match certificate usage",
    N.ExtendedKeyUsage: "Extended key usage does not match certificate usage",
    N.NotCA: "Leaf certificate is a CA",
    N.BlackListedLeaf: "Certificate is blocked",
    N.GrayListedLeaf: "Certificate is listed as untrusted",
    N.BasicConstraints: "Basic constraints are required but missing",
    N.BasicConstraintsCA: "Non-CA certificate used as a CA",
    N.BasicConstraintsPathLen: "Chain exceeded constrained path length",
    N.AnchorTrusted: "Root is not trusted",
    N.MissingIntermediate: "Unable to build chain to root (possible missing intermediate)",
    N.NonEmptySubject: "Certificate missing a name",
    N.IdLinkage: "SubjectKeyID/AuthorityKeyID mismatch in chain",
    N.KeySize: "Key size is not permitted for this use",
    N.SignatureHashAlgorithms: "Signature hash algorithm is not permitted for this use",
    N.CertificatePolicy: "Missing project-specific Certificate Policy OID",
    N.CriticalExtensions: "Found unknown critical extensions",
    N.ChainLength: "Chain does not match expected path length",
    N.BasicCertificateProcessing: "Certificate is not standards compliant",
    N.NameConstraints: "Name constraints violated",
    N.PolicyConstraints: "Policy constraints violated",
    N.GrayListedKey: "Key is listed as untrusted",
    N.BlackListedKey: "Key is blocked",
    N.UsageConstraints: "User or administrator set certificate as distrusted",
    N.Revocation: "Certificate is revoked",
    N.RevocationResponseRequired: "Failed to check revocation",
    N.ValidityPeriodMaximums: "Certificate exceeds maximum temporal validity period",
    N.OtherTrustValidityPeriod: "Certificate exceeds maximum temporal validity period",
    N.SystemTrustValidityPeriod: "Certificate exceeds maximum temporal validity period",
    N.ServerAuthEKU: "Extended key usage does not match certificate usage",
    N.EmailProtectionEKU: "Extended key usage does not match certificate usage",
    N.UnparseableExtension: "Unable to parse known extension",
    N.DuplicateExtension: "Multiple extensions with the same extension ID",
    N.MalformedCertificate: "Certificate could not be parsed",
    N.BudgetExhausted: "Path building gave up: the certificates form a pathological graph",
}

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

CHECKS: dict[CheckName, Check] = {
    name: Check(name, severity, category, _cssm(cssm), osstatus, _MESSAGES[name])
    for name, (severity, category, cssm, osstatus) in _KINDS.items()
}


def check(name: str) -> Check:
    """The Check called `name`; ValueError for a name that is not a CheckName."""
    return CHECKS[CheckName(name)]


def peer_check(name: str) -> Check:
    """The Check called `name` as another version of trustd may send it: a name this version
    does not know reads as a recoverable compliance failure, its message the name itself."""
    try:
        return check(name)
    except ValueError:
        return Check(name, R, C.COMPLIANCE, CSSMERR_TP_INVALID_CERTIFICATE, 0, f"[{name}]")


# The three allowed errors trust settings can carry, and the checks each one covers
# (SecPolicyServer.c detailKeyToCssmErr).
ALLOWED_ERROR_CHECKS: dict[int, frozenset[CheckName]] = {
    CSSMERR_TP_CERT_EXPIRED: frozenset({N.TemporalValidity, N.ValidLeaf}),
    CSSMERR_APPLETP_HOSTNAME_MISMATCH: frozenset({N.SSLHostname}),
    CSSMERR_APPLETP_SMIME_EMAIL_ADDRS_NOT_FOUND: frozenset({N.Email}),
}
