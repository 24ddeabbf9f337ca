"""The values the client sends and receives: typed mirrors of the io.trustd.Trust types.

Certificates are DER bytes here (base64 on the wire), SHA-1 and SHA-256 digests upper-case hex
strings, dates aware datetimes.  Every result also decodes strictly: a reply that does not have
the documented shape raises :class:`~trustd.client.errors.ProtocolError`.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Self, cast

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

# -- decoding: one decoder for every type, from its dataclass fields ----------------------------


def blob(text: str, key: str) -> bytes:
    """Base64 text of a reply field, decoded; ProtocolError if it is not base64."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolError(message=f"reply field {key!r}: not base64") from None


def b64(data: bytes) -> str:
    """Base64 text of `data`, as the wire wants it."""
    return base64.b64encode(bytes(data)).decode("ascii")


def _wrong(key: str, expected: str, value: Any) -> ProtocolError:
    return ProtocolError(message=f"reply field {key!r}: expected {expected}, got {value!r}")


Read = Callable[[Any, str], Any]
"""How a value is read from its wire form: (the wire value, its key for messages) -> the value."""


def _scalar(kind: type[Any]) -> Read:
    """A JSON scalar: an int is no bool, a float may be written as an int."""
    accepted = (int, float) if kind is float else kind

    def read(value: Any, key: str) -> Any:
        if type(value) is kind:  # the usual case, quickly
            return value
        if not isinstance(value, accepted) or (kind is not bool and isinstance(value, bool)):
            raise _wrong(key, kind.__name__, value)
        return float(value) if kind is float else value

    return read


def _text_as(convert: Callable[[str, str], Any]) -> Read:
    text = _scalar(str)
    return lambda value, key: convert(text(value, key), key)


def _date(text: str, key: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise ProtocolError(message=f"reply field {key!r}: not an ISO 8601 date") from None


def _object(value: Any, key: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise _wrong(key, "an object", value)
    return value


def _many(item: Read, collect: Callable[[Any], Any]) -> Read:
    def read(values: Any, key: str) -> Any:
        if not isinstance(values, list):
            raise _wrong(key, "list", values)
        return collect(item(value, key) for value in values)

    return read


def reader(hint: Any) -> Read:
    """How a value of the Python type `hint` is read from its wire form."""
    origin, arguments = typing.get_origin(hint), typing.get_args(hint)
    if hint is None or hint is type(None):  # no result
        return lambda value, key: None
    if origin in (types.UnionType, typing.Union):  # X | None: absent or null is None
        (inner,) = (argument for argument in arguments if argument is not type(None))
        read = reader(inner)
        return lambda value, key: None if value is None else read(value, key)
    if origin is tuple and arguments[1:] == (Ellipsis,):
        return _many(reader(arguments[0]), tuple)
    if origin is frozenset:
        return _many(reader(arguments[0]), frozenset)
    if origin is not None and issubclass(origin, Mapping):
        return _object
    if hint is bytes:
        return _text_as(blob)
    if hint is datetime:
        return _text_as(_date)
    if isinstance(hint, type) and issubclass(hint, WireObject):
        return lambda value, key: hint.from_wire(_object(value, key))
    if hint in (str, int, bool, float):
        return _scalar(hint)
    raise TypeError(f"no wire form for {hint!r}")


def _encoded(value: Any) -> Any:
    """A field's value in its wire form (what a Read reads back)."""
    if isinstance(value, WireObject):
        return value.to_wire()
    if isinstance(value, bytes):
        return b64(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (tuple, list, frozenset)):
        return [_encoded(item) for item in value]
    return value


def wire(
    key: str | None = None, *, read: Read | None = None, whole: bool = False
) -> dict[str, Any]:
    """A field's metadata when its decoding is not what its name and type say: `key` on the
    wire, its own `read`, or `whole`, the entire object as received."""
    return {"wire": {"key": key, "read": read, "whole": whole}}


class _Field(typing.NamedTuple):
    """How one field is decoded."""

    name: str
    key: str
    read: Read
    default: Any  # _REQUIRED: none
    whole: bool


_REQUIRED = dataclasses.MISSING


class WireObject:
    """A typed mirror of an io.trustd.Trust object, decoded and encoded field by field (its
    dataclass fields, their types, and the :func:`wire` metadata where the name or type does
    not say it all).

    A subclass names what it mirrors: ``wire=`` an interface type, or ``reply=`` the reply of
    a method (for tests/client/test_interface.py, which holds the two together).
    """

    __slots__ = ()
    wire_type: ClassVar[str | None] = None
    reply_of: ClassVar[str | None] = None
    _plan: ClassVar[tuple[_Field, ...] | None] = None

    def __init_subclass__(
        cls, *, wire: str | None = None, reply: str | None = None, **kwargs: Any
    ) -> None:
        super().__init_subclass__(**kwargs)
        cls.wire_type = wire if wire is not None else cls.wire_type
        cls.reply_of = reply if reply is not None else cls.reply_of
        cls._plan = None

    @classmethod
    def fields_on_wire(cls) -> tuple[_Field, ...]:
        """How each field is decoded (worked out once, on first use)."""
        if cls._plan is None:
            hints = typing.get_type_hints(cls)
            plan = []
            for each in dataclasses.fields(cast(Any, cls)):
                custom = each.metadata.get("wire", {})
                default = each.default
                if (
                    default is dataclasses.MISSING
                    and each.default_factory is not dataclasses.MISSING
                ):
                    default = each.default_factory()
                plan.append(
                    _Field(
                        each.name,
                        custom.get("key") or each.name,
                        custom.get("read") or reader(hints[each.name]),
                        default,
                        custom.get("whole", False),
                    )
                )
            cls._plan = tuple(plan)
        return cls._plan

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> Self:
        """Decode the object (ProtocolError if it has not the declared shape)."""
        values = {}
        for name, key, read, default, whole in cls._plan or cls.fields_on_wire():
            if whole:
                values[name] = dict(data)
                continue
            value = data.get(key)
            if value is None and default is not _REQUIRED:
                values[name] = default
            else:
                values[name] = read(value, key)
        return cls(**values)

    def to_wire(self) -> dict[str, Any]:
        """The io.trustd.Trust object; fields that are None or False (what the daemon assumes
        for an absent one) are left out."""
        wire: dict[str, Any] = {}
        for each in self.fields_on_wire():
            value = getattr(self, each.name)
            if not each.whole and value is not None and value is not False:
                wire[each.key] = _encoded(value)
        return wire


# -- what the caller sends ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Policy(WireObject, wire="Policy"):
    """A policy to evaluate for (SecPolicyRef).

    ``kind`` is one of basic, ssl, smime, codeSign, eap, IPSec, swUpdate, pkgSign, appleID,
    macappstore, timestamping.  ``name`` is the host name or IP address to check (ssl, eap,
    IPSec) or the e-mail address (smime); ``client`` evaluates the client side of the protocol
    (SecPolicyCreateSSL(false, ...)).
    """

    kind: str = field(default="basic", metadata=wire("policy"))
    name: str | None = None
    client: bool = False

    @classmethod
    def ssl(cls, hostname: str | None = None, *, client: bool = False) -> Policy:
        """The TLS policy; with a hostname, the SSLHostname check applies."""
        return cls("ssl", hostname, client)


@dataclass(frozen=True, slots=True)
class UsageConstraint(WireObject, wire="UsageConstraint"):
    """One usage-constraint dictionary of a trust settings entry (kSecTrustSettings* keys).

    No field at all (``UsageConstraint()``) is an unconstrained entry.
    """

    policy_oid: str | None = None  # kSecTrustSettingsPolicy, as a dotted OID
    policy_name: str | None = None  # kSecTrustSettingsPolicyName: Apple's (sslServer, ...)
    policy_string: str | None = None  # kSecTrustSettingsPolicyString: a host name, an e-mail
    application: bytes | None = None  # kSecTrustSettingsApplication: an opaque reference
    allowed_error: int | None = None  # kSecTrustSettingsAllowedError: an OSStatus
    # kSecTrustSettingsResult: 1 trustRoot, 2 trustAsRoot, 3 deny, 4 unspecified
    result: int | None = None
    key_usage: int | None = None  # kSecTrustSettingsKeyUsage: a bit mask


# -- what the daemon answers --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Failure(WireObject, wire="Failure"):
    """A failed check at one chain position.

    ``severity`` is recoverable, fatal or deny; ``rescued_by`` says what let it pass anyway
    (an allowed error of the trust settings, or an exception), None if it counted.
    """

    index: int
    check: str
    severity: str
    detail: str
    rescued_by: str | None


@dataclass(frozen=True, slots=True)
class AppliedSetting(WireObject, wire="AppliedSetting"):
    """A trust settings entry that decided something for the chain position ``index``."""

    index: int
    domain: str
    constraint_index: int | None
    effect: str


@dataclass(frozen=True, slots=True)
class Attempt(WireObject, wire="Attempt"):
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


@dataclass(frozen=True, slots=True)
class EvaluationResult(WireObject, wire="Verdict"):
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
    code: int = field(metadata=wire("result_code"))
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
    raw: Mapping[str, Any] = field(repr=False, compare=False, hash=False, metadata=wire(whole=True))
    exceptions_usable: bool | None = None

    @property
    def checks(self) -> tuple[str, ...]:
        """Names of the failed checks that decided the result (not rescued), in order, once."""
        names: dict[str, None] = {}
        for failure in self.failures:
            if failure.rescued_by is None:
                names.setdefault(failure.check)
        return tuple(names)


@dataclass(frozen=True, slots=True)
class Counts(WireObject, wire="Counts"):
    """How much the daemon's store holds."""

    certificates: int
    system_anchors: int
    admin_settings: int
    user_settings: int


def _lenient(value: Any, key: str) -> Mapping[str, Any] | None:
    return value if isinstance(value, dict) else None


@dataclass(frozen=True, slots=True)
class Status(WireObject, reply="Status"):
    """The daemon's state: version, database revision, counts, problems, load, generation."""

    version: str
    database_revision: str
    counts: Counts
    dropin_problems: tuple[str, ...]
    uptime_seconds: float
    requests_served: int
    generation: int
    # The projection's state (TrustStores), as received; anything but an object reads as None.
    trust_stores: Mapping[str, Any] | None = field(
        default=None,
        metadata=wire(read=lambda value, key: value if isinstance(value, dict) else None),
    )


@dataclass(frozen=True, slots=True)
class AddedCertificates(WireObject, reply="AddCertificates"):
    """AddCertificates's answer: SHA-1 digests of the new and the already stored ones."""

    added: tuple[str, ...]
    existing: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StoredCertificate(WireObject, wire="Certificate"):
    """A certificate of the store, with its digests (upper-case hex) and subject summary.

    ``source`` says how it came to the shared store ("api", or a drop-in file's path), or is
    "user" for one of the caller's own; for ListAnchors, the domain that makes it an anchor.
    """

    certificate: bytes
    sha1: str
    sha256: str
    subject: str
    source: str


@dataclass(frozen=True, slots=True)
class TrustSettingsEntry(WireObject, wire="TrustSettingsEntry"):
    """One certificate's trust settings in a domain (SecTrustSettingsCopyTrustSettings).

    ``certificate`` and ``subject`` are None for an entry whose certificate the store does
    not hold (the entry is keyed by SHA-1 alone).
    """

    sha1: str
    certificate: bytes | None
    subject: str | None
    mod_date: datetime
    constraints: tuple[UsageConstraint, ...]


@dataclass(frozen=True, slots=True)
class HostExceptions(WireObject, wire="HostExceptions"):
    """Exceptions the caller stored for one host and port (port 0: any port), as the blob
    EvaluationResult.exceptions gave, and when they were stored."""

    host: str
    port: int
    exceptions: bytes
    created: datetime


@dataclass(frozen=True, slots=True)
class AuditEntry(WireObject, wire="AuditEntry"):
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


def policies_to_wire(policies: Policy | str | Sequence[Policy | str]) -> list[dict[str, Any]]:
    """Policies (objects or bare names) as the wire list."""
    if isinstance(policies, (Policy, str)):
        policies = [policies]
    return [(p if isinstance(p, Policy) else Policy(p)).to_wire() for p in policies]


@dataclass(frozen=True, slots=True)
class InstalledProfile(WireObject, wire="Profile"):
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
