"""The values the client sends and receives: typed mirrors of the io.trustd.Trust types.

Certificates are DER bytes here (base64 on the wire), SHA-1 and SHA-256 digests upper-case hex
strings, dates aware datetimes.  Every result also decodes strictly: a reply that does not have
the documented shape raises :class:`~trustd.client.errors.ProtocolError`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from trustd.client.errors import ProtocolError

__all__ = [
    "TRUSTED_RESULTS",
    "AddedCertificates",
    "AppliedSetting",
    "Attempt",
    "AuditEntry",
    "Counts",
    "EvaluationResult",
    "Failure",
    "HostExceptions",
    "Policy",
    "Status",
    "StoredCertificate",
    "TrustSettingsEntry",
    "UsageConstraint",
]

TRUSTED_RESULTS = frozenset({"proceed", "unspecified"})
"""The results SecTrustEvaluateWithError accepts."""

_T = TypeVar("_T")


# -- decoding helpers ---------------------------------------------------------------------------


def _field(data: Mapping[str, Any], key: str, kind: type[_T], optional: bool = False) -> _T:
    value = data.get(key)
    if value is None and optional:
        return value  # type: ignore[return-value]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)  # type: ignore[return-value]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ProtocolError(message=f"reply field {key!r}: expected {kind.__name__}, got {value!r}")
    return value


def _text(data: Mapping[str, Any], key: str) -> str:
    return _field(data, key, str)


def _optional_text(data: Mapping[str, Any], key: str) -> str | None:
    value: str | None = _field(data, key, str, optional=True)
    return value


def _integer(data: Mapping[str, Any], key: str) -> int:
    return _field(data, key, int)


def _optional_integer(data: Mapping[str, Any], key: str) -> int | None:
    value: int | None = _field(data, key, int, optional=True)
    return value


def _objects(data: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    values = _field(data, key, list)
    for value in values:
        if not isinstance(value, dict):
            raise ProtocolError(message=f"reply field {key!r}: expected objects, got {value!r}")
    return values


def _texts(data: Mapping[str, Any], key: str) -> tuple[str, ...]:
    values = _field(data, key, list)
    if not all(isinstance(value, str) for value in values):
        raise ProtocolError(message=f"reply field {key!r}: expected strings, got {values!r}")
    return tuple(values)


def blob(text: str, key: str) -> bytes:
    """Base64 text of a reply field, decoded; ProtocolError if it is not base64."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolError(message=f"reply field {key!r}: not base64") from None


def _date(data: Mapping[str, Any], key: str) -> datetime:
    text = _text(data, key)
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise ProtocolError(message=f"reply field {key!r}: not an ISO 8601 date") from None


def b64(data: bytes) -> str:
    """Base64 text of `data`, as the wire wants it."""
    return base64.b64encode(bytes(data)).decode("ascii")


# -- what the caller sends ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Policy:
    """A policy to evaluate for (SecPolicyRef).

    ``kind`` is one of basic, ssl, smime, codeSign, eap, IPSec, swUpdate, pkgSign, appleID,
    macappstore, timestamping.  ``name`` is the host name or IP address to check (ssl, eap,
    IPSec) or the e-mail address (smime); ``client`` evaluates the client side of the protocol
    (SecPolicyCreateSSL(false, ...)).
    """

    kind: str = "basic"
    name: str | None = None
    client: bool = False

    @classmethod
    def ssl(cls, hostname: str | None = None, *, client: bool = False) -> Policy:
        """The TLS policy; with a hostname, the SSLHostname check applies."""
        return cls("ssl", hostname, client)

    def to_wire(self) -> dict[str, Any]:
        """The io.trustd.Trust Policy object."""
        wire: dict[str, Any] = {"policy": self.kind}
        if self.client:
            wire["client"] = True
        if self.name is not None:
            wire["name"] = self.name
        return wire


@dataclass(frozen=True, slots=True)
class UsageConstraint:
    """One usage-constraint dictionary of a trust settings entry (kSecTrustSettings* keys).

    ``result`` is kSecTrustSettingsResult: 1 trustRoot, 2 trustAsRoot, 3 deny, 4 unspecified;
    no field at all (``UsageConstraint()``) is an unconstrained entry.  ``application`` is the
    opaque application reference as bytes.
    """

    policy_oid: str | None = None
    policy_name: str | None = None
    policy_string: str | None = None
    application: bytes | None = None
    allowed_error: int | None = None
    result: int | None = None
    key_usage: int | None = None

    def to_wire(self) -> dict[str, Any]:
        """The io.trustd.Trust UsageConstraint object (absent fields left out)."""
        wire: dict[str, Any] = {}
        for key in ("policy_oid", "policy_name", "policy_string"):
            value = getattr(self, key)
            if value is not None:
                wire[key] = value
        if self.application is not None:
            wire["application"] = b64(self.application)
        for key in ("allowed_error", "result", "key_usage"):
            value = getattr(self, key)
            if value is not None:
                wire[key] = value
        return wire

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> UsageConstraint:
        """Decode a UsageConstraint object."""
        application = _optional_text(data, "application")
        return cls(
            policy_oid=_optional_text(data, "policy_oid"),
            policy_name=_optional_text(data, "policy_name"),
            policy_string=_optional_text(data, "policy_string"),
            application=None if application is None else blob(application, "application"),
            allowed_error=_optional_integer(data, "allowed_error"),
            result=_optional_integer(data, "result"),
            key_usage=_optional_integer(data, "key_usage"),
        )


# -- what the daemon answers --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Failure:
    """A failed check at one chain position.

    ``severity`` is recoverable, fatal or deny; ``rescued_by`` says what let it pass anyway
    (an allowed error of the trust settings, or an exception), None if it counted.
    """

    index: int
    check: str
    severity: str
    detail: str
    rescued_by: str | None

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> Failure:
        """Decode a Failure object."""
        return cls(
            index=_integer(data, "index"),
            check=_text(data, "check"),
            severity=_text(data, "severity"),
            detail=_text(data, "detail"),
            rescued_by=_optional_text(data, "rescued_by"),
        )


@dataclass(frozen=True, slots=True)
class AppliedSetting:
    """A trust settings entry that decided something for the chain position ``index``."""

    index: int
    domain: str
    constraint_index: int | None
    effect: str

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> AppliedSetting:
        """Decode an AppliedSetting object."""
        return cls(
            index=_integer(data, "index"),
            domain=_text(data, "domain"),
            constraint_index=_optional_integer(data, "constraint_index"),
            effect=_text(data, "effect"),
        )


@dataclass(frozen=True, slots=True)
class Attempt:
    """One step of the path search, recorded when evaluating with ``explain=True``.

    The attempts are the search's trace, depth first.  ``certificate`` is the SHA-1 (upper-case
    hex) of the certificate considered at chain position ``depth``; ``origin`` where it came
    from (request, callerAnchor, intermediates, system, admin, user, network: AIA).
    ``outcome`` is ``extended`` (a candidate issuer whose signature verifies; the search goes
    on from it), ``signature`` (it does not verify the certificate below), ``loop`` (already on
    the path), or the end of a path: ``anchor``, ``denied``, ``no issuer`` (``detail``: the
    issuer name not found), ``depth`` (too many intermediates), ``budget`` (``detail``: the
    limit that ran out).  A path's end carries that path's ``result`` and ``failures``
    (positions on that path); ``setting`` is the certificate's trust setting there
    (``effect``: anchor, deny, noMatch, noDecision).
    """

    depth: int
    certificate: str
    subject: str
    origin: str
    outcome: str
    detail: str
    result: str | None = None
    failures: tuple[Failure, ...] = ()
    setting: AppliedSetting | None = None

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> Attempt:
        """Decode an Attempt object."""
        failures = data.get("failures")
        setting = data.get("setting")
        if setting is not None and not isinstance(setting, dict):
            raise ProtocolError(message=f"reply field 'setting': expected an object: {setting!r}")
        return cls(
            depth=_integer(data, "depth"),
            certificate=_text(data, "certificate"),
            subject=_text(data, "subject"),
            origin=_text(data, "origin"),
            outcome=_text(data, "outcome"),
            detail=_text(data, "detail"),
            result=_optional_text(data, "result"),
            failures=()
            if failures is None
            else tuple(Failure.from_wire(f) for f in _objects(data, "failures")),
            setting=None if setting is None else AppliedSetting.from_wire(setting),
        )


@dataclass(frozen=True, slots=True)
class EvaluationResult:
    """trustd's verdict on a chain (SecTrustEvaluate's result, chain and details).

    ``result`` is the SecTrustResultType name (proceed, unspecified, deny,
    recoverableTrustFailure, fatalTrustFailure, invalid, otherError), ``code`` its number and
    ``trusted`` whether it is proceed or unspecified.  ``chain`` is the chosen path, leaf first,
    as DER.  ``failures`` lists every failed check found on it, including rescued ones;
    ``checks`` the names of those that counted.  ``exceptions`` is the exceptions blob that
    would let exactly this evaluation pass (SecTrustCopyExceptions): store it with
    ``set_exceptions`` or pass it back to ``evaluate``.  ``raw`` is the verdict as received.
    """

    result: str
    code: int
    trusted: bool
    message: str
    chain: tuple[bytes, ...]
    failures: tuple[Failure, ...]
    exceptions: bytes
    anchor_origin: str | None
    details: tuple[frozenset[str], ...]
    trust_settings: tuple[AppliedSetting, ...]
    exceptions_applied: bool
    attempts: tuple[Attempt, ...] | None
    raw: Mapping[str, Any] = field(repr=False, compare=False, hash=False)
    exceptions_usable: bool | None = None

    @property
    def checks(self) -> tuple[str, ...]:
        """Names of the failed checks that decided the result (not rescued), in order, once."""
        names: dict[str, None] = {}
        for failure in self.failures:
            if failure.rescued_by is None:
                names.setdefault(failure.check)
        return tuple(names)

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> EvaluationResult:
        """Decode a Verdict object."""
        details = _field(data, "details", list)
        if not all(isinstance(d, list) and all(isinstance(n, str) for n in d) for d in details):
            raise ProtocolError(message="reply field 'details': expected lists of strings")
        attempts = data.get("attempts")
        return cls(
            result=_text(data, "result"),
            code=_integer(data, "result_code"),
            trusted=_field(data, "trusted", bool),
            message=_text(data, "message"),
            chain=tuple(blob(c, "chain") for c in _texts(data, "chain")),
            failures=tuple(Failure.from_wire(f) for f in _objects(data, "failures")),
            exceptions=blob(_text(data, "exceptions"), "exceptions"),
            anchor_origin=_optional_text(data, "anchor_origin"),
            details=tuple(frozenset(d) for d in details),
            trust_settings=tuple(
                AppliedSetting.from_wire(s) for s in _objects(data, "trust_settings")
            ),
            exceptions_applied=_field(data, "exceptions_applied", bool),
            attempts=None
            if attempts is None
            else tuple(Attempt.from_wire(a) for a in _objects(data, "attempts")),
            raw=dict(data),
            exceptions_usable=_field(data, "exceptions_usable", bool, optional=True),
        )


@dataclass(frozen=True, slots=True)
class Counts:
    """How much the daemon's store holds."""

    certificates: int
    system_anchors: int
    admin_settings: int
    user_settings: int

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> Counts:
        """Decode a Counts object."""
        return cls(
            certificates=_integer(data, "certificates"),
            system_anchors=_integer(data, "system_anchors"),
            admin_settings=_integer(data, "admin_settings"),
            user_settings=_integer(data, "user_settings"),
        )


@dataclass(frozen=True, slots=True)
class Status:
    """The daemon's state: version, database revision, counts, problems, load, generation."""

    version: str
    database_revision: str
    counts: Counts
    dropin_problems: tuple[str, ...]
    uptime_seconds: float
    requests_served: int
    generation: int
    trust_stores: Mapping[str, Any] | None = None  # the projection's state (TrustStores)

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> Status:
        """Decode Status's reply."""
        return cls(
            version=_text(data, "version"),
            database_revision=_text(data, "database_revision"),
            counts=Counts.from_wire(_field(data, "counts", dict)),
            dropin_problems=_texts(data, "dropin_problems"),
            uptime_seconds=_field(data, "uptime_seconds", float),
            requests_served=_integer(data, "requests_served"),
            generation=_integer(data, "generation"),
            trust_stores=data.get("trust_stores")
            if isinstance(data.get("trust_stores"), dict)
            else None,
        )


@dataclass(frozen=True, slots=True)
class AddedCertificates:
    """AddCertificates's answer: SHA-1 digests of the new and the already stored ones."""

    added: tuple[str, ...]
    existing: tuple[str, ...]

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> AddedCertificates:
        """Decode AddCertificates's reply."""
        return cls(added=_texts(data, "added"), existing=_texts(data, "existing"))


@dataclass(frozen=True, slots=True)
class StoredCertificate:
    """A certificate of the store, with its digests, subject summary and source."""

    certificate: bytes
    sha1: str
    sha256: str
    subject: str
    source: str

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> StoredCertificate:
        """Decode a Certificate object."""
        return cls(
            certificate=blob(_text(data, "certificate"), "certificate"),
            sha1=_text(data, "sha1"),
            sha256=_text(data, "sha256"),
            subject=_text(data, "subject"),
            source=_text(data, "source"),
        )


@dataclass(frozen=True, slots=True)
class TrustSettingsEntry:
    """One certificate's trust settings in a domain (SecTrustSettingsCopyTrustSettings).

    ``certificate`` and ``subject`` are None for an entry whose certificate the store does
    not hold (the entry is keyed by SHA-1 alone).
    """

    sha1: str
    certificate: bytes | None
    subject: str | None
    mod_date: datetime
    constraints: tuple[UsageConstraint, ...]

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> TrustSettingsEntry:
        """Decode a TrustSettingsEntry object."""
        certificate = _optional_text(data, "certificate")
        return cls(
            sha1=_text(data, "sha1"),
            certificate=None if certificate is None else blob(certificate, "certificate"),
            subject=_optional_text(data, "subject"),
            mod_date=_date(data, "mod_date"),
            constraints=tuple(UsageConstraint.from_wire(c) for c in _objects(data, "constraints")),
        )


@dataclass(frozen=True, slots=True)
class HostExceptions:
    """Exceptions the caller stored for one host and port."""

    host: str
    port: int
    exceptions: bytes
    created: datetime

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> HostExceptions:
        """Decode a HostExceptions object."""
        return cls(
            host=_text(data, "host"),
            port=_integer(data, "port"),
            exceptions=blob(_text(data, "exceptions"), "exceptions"),
            created=_date(data, "created"),
        )


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One change of trust state in the audit log.

    ``uid`` and ``pid`` say who made it (``pid`` is None for a drop-in file, whose path is
    ``source``); ``operation`` what (set-trust-settings, add-certificate, ...), in ``domain``
    (admin, user, or None) on ``object`` (a certificate's SHA-1, host:port, a file).
    """

    at: datetime
    uid: int
    pid: int | None
    operation: str
    domain: str | None
    object: str
    summary: str
    source: str | None

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> AuditEntry:
        """Decode an AuditEntry object."""
        return cls(
            at=_date(data, "at"),
            uid=_integer(data, "uid"),
            pid=_optional_integer(data, "pid"),
            operation=_text(data, "operation"),
            domain=_optional_text(data, "domain"),
            object=_text(data, "object"),
            summary=_text(data, "summary"),
            source=_optional_text(data, "source"),
        )


def policies_to_wire(policies: Policy | str | Sequence[Policy | str]) -> list[dict[str, Any]]:
    """Policies (objects or bare names) as the wire list."""
    if isinstance(policies, (Policy, str)):
        policies = [policies]
    return [(p if isinstance(p, Policy) else Policy(p)).to_wire() for p in policies]


@dataclass(frozen=True, slots=True)
class InstalledProfile:
    """A configuration profile of the daemon's profiles directory (``trustctl profiles``).

    ``certificates`` are its certificate payloads (DER), ``roots`` the SHA-1s (hex) of those
    trusted as roots; ``signer`` is the signer's subject ("" when unsigned) and ``verified``
    says that the signature holds and trustd trusts the signer (``trust`` says why not).
    """

    identifier: str
    display_name: str
    organization: str
    file: str
    signed: bool
    signer: str
    verified: bool
    trust: str
    certificates: tuple[bytes, ...]
    roots: tuple[str, ...]
    ignored: tuple[str, ...]

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> InstalledProfile:
        """Decode a Profile object."""
        return cls(
            identifier=_text(data, "identifier"),
            display_name=_text(data, "display_name"),
            organization=_text(data, "organization"),
            file=_text(data, "file"),
            signed=_field(data, "signed", bool),
            signer=_text(data, "signer"),
            verified=_field(data, "verified", bool),
            trust=_text(data, "trust"),
            certificates=tuple(blob(b, "certificates") for b in _texts(data, "certificates")),
            roots=_texts(data, "roots"),
            ignored=_texts(data, "ignored"),
        )
