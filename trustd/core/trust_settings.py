"""Trust settings semantics: usage constraints and how one certificate's settings decide.

This is the modern trustd behaviour of shared/reference/apple-trust.md section 3.2: the admin
array is used when the certificate has an admin entry, else the calling user's array (the snapshot
makes that choice); within the array the first matching usage constraint wins; TrustRoot counts
only for a self-signed certificate and TrustAsRoot only for any other; an empty array means
TrustRoot for a self-signed certificate; Deny distrusts; Unspecified decides nothing but may carry
an allowed error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum, IntEnum, StrEnum
from typing import Any

from trustd.core.policy import Policy, PolicyKind


class SettingsResult(IntEnum):
    """SecTrustSettingsResult."""

    INVALID = 0
    TRUST_ROOT = 1
    TRUST_AS_ROOT = 2
    DENY = 3
    UNSPECIFIED = 4


class Domain(StrEnum):
    """SecTrustSettingsDomain: user (per uid), admin, system (read-only, from the OS bundle)."""

    USER = "user"
    ADMIN = "admin"
    SYSTEM = "system"


class KeyUsageBit(IntEnum):
    """SecTrustSettingsKeyUsage bits."""

    SIGNATURE = 0x01
    EN_DECRYPT_DATA = 0x02
    EN_DECRYPT_KEY = 0x04
    SIGN_CERT = 0x08
    SIGN_REVOCATION = 0x10
    KEY_EXCHANGE = 0x20


KEY_USAGE_ANY = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class UsageConstraint:
    """One dictionary of a certificate's trust settings array (reference section 2.4).

    Absent keys are None.  `policy_oid` is a dotted OID.  `extra` keeps keys this implementation
    does not interpret (kSecTrustSettingsPolicyOptions and unknown ones) so that an imported
    record exports unchanged.
    """

    policy_oid: str | None = None
    policy_name: str | None = None
    policy_string: str | None = None
    application: bytes | None = None
    allowed_error: int | None = None
    result: SettingsResult | None = None
    key_usage: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    policy_oid_as_string: bool = False  # stored as a dotted string rather than DER content

    @property
    def effective_result(self) -> SettingsResult:
        """A missing kSecTrustSettingsResult means TrustRoot."""
        return SettingsResult.TRUST_ROOT if self.result is None else self.result


@dataclass(frozen=True, slots=True)
class TrustSettings:
    """The trust settings one domain holds for one certificate."""

    domain: Domain
    constraints: tuple[UsageConstraint, ...] = ()


# The trustList key of the deprecated "default root certificate" setting (reference 2.3):
# preserved on import and export, never applied.
DEFAULT_ROOT_KEY = "kSecTrustRecordDefaultRootCert"


@dataclass(frozen=True, slots=True)
class TrustSettingsEntry:
    """One trustList entry with Apple's metadata (reference section 2.3).

    `key` is the certificate's SHA-1 in upper-case hex, or DEFAULT_ROOT_KEY.  `issuer_name` is the
    DER issuer Name and `serial_number` the serial's content octets; both may be empty (third
    party blocklists write them so).  `extra` keeps unknown per-entry keys.
    """

    key: str
    issuer_name: bytes
    serial_number: bytes
    mod_date: datetime
    constraints: tuple[UsageConstraint, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def sha1(self) -> bytes | None:
        """The certificate SHA-1 the key names, or None for a key that is not a SHA-1."""
        try:
            digest = bytes.fromhex(self.key)
        except ValueError:
            return None
        return digest if len(digest) == 20 else None


@dataclass(frozen=True, slots=True)
class Usage:
    """What a certificate is being used for at one position of one evaluation."""

    policy: Policy
    is_leaf: bool
    application: str | None = None

    @property
    def key_usage(self) -> int:
        """The usage Apple computes for the key-usage constraint: SignCert above the leaf."""
        return 0 if self.is_leaf else int(KeyUsageBit.SIGN_CERT)


def _strip_nul(text: str) -> str:
    return text[:-1] if text.endswith("\x00") else text


def policy_matches(constraint: UsageConstraint, policy: Policy) -> bool:
    """Policy OID and name agreement (reference 3.2 step 4, first bullet)."""
    if constraint.policy_oid is not None and constraint.policy_oid != policy.oid:
        return False
    if constraint.policy_name is None or constraint.policy_name == policy.apple_name:
        return True
    # A dictionary naming sslServer also matches other SSL-OID policies, except sslClient.
    return (
        constraint.policy_name == "sslServer"
        and policy.kind is PolicyKind.SSL
        and policy.apple_name != "sslClient"
    )


def constraint_matches(constraint: UsageConstraint, usage: Usage) -> bool:
    """Every key present in the constraint must match this usage."""
    if (constraint.policy_oid or constraint.policy_name) and not policy_matches(
        constraint, usage.policy
    ):
        return False
    if constraint.policy_string is not None:
        wanted = _strip_nul(constraint.policy_string).lower()
        if usage.policy.name is None or usage.policy.name.rstrip(".").lower() != wanted:
            return False
    if constraint.application is not None and (
        usage.application is None
        or constraint.application.rstrip(b"\x00") != usage.application.encode()
    ):
        return False
    if constraint.key_usage is not None:
        stored = constraint.key_usage & 0xFFFFFFFF
        if stored not in (KEY_USAGE_ANY, usage.key_usage):
            return False
    return True


def first_match(settings: TrustSettings, usage: Usage) -> tuple[int, UsageConstraint] | None:
    """The first matching usage constraint and its index, or None."""
    for index, constraint in enumerate(settings.constraints):
        if constraint_matches(constraint, usage):
            return index, constraint
    return None


class Decision(Enum):
    """What a certificate's trust settings say about it for one usage."""

    ANCHOR = "anchor"  # trusted as a root: the path ends here
    DENY = "deny"  # distrusted
    NONE = "none"  # no decision (no match, Unspecified, or a result that does not fit)


def decide(settings: TrustSettings, usage: Usage, self_signed: bool) -> tuple[Decision, int | None]:
    """Decision and the index of the constraint that made it (None for an empty array)."""
    if not settings.constraints:
        return (Decision.ANCHOR if self_signed else Decision.NONE), None
    found = first_match(settings, usage)
    if found is None:
        return Decision.NONE, None
    index, constraint = found
    result = constraint.effective_result
    if result is SettingsResult.DENY:
        return Decision.DENY, index
    if (result is SettingsResult.TRUST_ROOT and self_signed) or (
        result is SettingsResult.TRUST_AS_ROOT and not self_signed
    ):
        return Decision.ANCHOR, index
    return Decision.NONE, index


def anchor_domain(
    settings: TrustSettings | None, usage: Usage, *, self_signed: bool, system_anchor: bool
) -> Domain | None:
    """The domain that makes a certificate an anchor for this usage, as evaluation decides it
    (a Deny wins, then trust settings, then membership of the system anchors), or None."""
    decision = Decision.NONE if settings is None else decide(settings, usage, self_signed)[0]
    if decision is Decision.DENY:
        return None
    if decision is Decision.ANCHOR and settings is not None:
        return settings.domain
    return Domain.SYSTEM if system_anchor else None


def allowed_errors(settings: TrustSettings, usage: Usage) -> frozenset[int]:
    """Allowed errors of every matching constraint (reference 3.2 step 7)."""
    return frozenset(
        c.allowed_error
        for c in settings.constraints
        if c.allowed_error is not None and constraint_matches(c, usage)
    )


def validate_for_storage(constraints: tuple[UsageConstraint, ...], self_signed: bool) -> str | None:
    """Apple's validateApiTrustSettings: why these settings cannot be stored, or None."""
    if not constraints and not self_signed:
        return "an unconstrained (TrustRoot) setting needs a self-signed certificate"
    for constraint in constraints:
        result = constraint.effective_result
        if result is SettingsResult.INVALID or result not in SettingsResult:
            return "invalid trust settings result"
        if result is SettingsResult.TRUST_ROOT and not self_signed:
            return "TrustRoot needs a self-signed certificate; use TrustAsRoot"
        if result is SettingsResult.TRUST_AS_ROOT and self_signed:
            return "TrustAsRoot is for certificates that are not self-signed; use TrustRoot"
    return None
