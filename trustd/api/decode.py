"""io.trustd.Trust's parameters decoded: wire values to the core's, or the standard error.

Moments are made aware here, once: a time without an offset is UTC.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from trustd.api.varlink import SERVICE, VarlinkError
from trustd.core.certificates import Certificate, MalformedCertificate, parse_certificate
from trustd.core.der import is_dotted_oid
from trustd.core.policy import Policy, PolicyKind
from trustd.core.request import EvaluationRequest
from trustd.core.trust_settings import Domain, SettingsResult, UsageConstraint
from trustd.net.completion import FetchOptions, fetch_options
from trustd.plist.exceptions import InvalidExceptions, decode_exceptions
from trustd.plist.safe import xml_can_hold
from trustd.plist.trust_settings import INT32

NAME = "io.trustd.Trust"
MAX_CERTIFICATES = 64  # per evaluation: more is not a chain, it is an attack on the builder
MAX_PORT = 65535
MAX_HOST = 255  # RFC 1035's 253 characters and a trailing dot, with room


def error(name: str, **parameters: Any) -> VarlinkError:
    return VarlinkError(f"{NAME}.{name}", **parameters)


def invalid(parameter: str, reason: str) -> VarlinkError:
    """The standard error for a parameter the call cannot have (missing, mistyped, unknown or
    out of range), with what is wrong with it."""
    return VarlinkError(f"{SERVICE}.InvalidParameter", parameter=parameter, reason=reason)


def optional(
    parameters: Mapping[str, Any], name: str, kind: type | tuple[type, ...], default: Any = None
) -> Any:
    value = parameters.get(name, default)
    if value is None:
        return default
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise invalid(parameter=name, reason="wrong type")
    return value


def required(parameters: Mapping[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = optional(parameters, name, kind)
    if value is None:
        raise invalid(parameter=name, reason="missing")
    return value


def blob(value: Any, parameter: str) -> bytes:
    if not isinstance(value, str):
        raise invalid(parameter=parameter, reason="not base64 text")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise invalid(parameter=parameter, reason="not base64") from None


def blobs(parameters: Mapping[str, Any], name: str) -> tuple[bytes, ...]:
    values = optional(parameters, name, list, [])
    if len(values) > MAX_CERTIFICATES:
        raise invalid(parameter=name, reason=f"more than {MAX_CERTIFICATES}")
    return tuple(blob(value, name) for value in values)


def certificate(value: Any, parameter: str) -> Certificate:
    try:
        return parse_certificate(blob(value, parameter))
    except MalformedCertificate as problem:
        raise error("InvalidCertificate", reason=str(problem)) from None


def domain(parameters: Mapping[str, Any]) -> Domain:
    text = required(parameters, "domain", str)
    try:
        return Domain(text)
    except ValueError:
        raise invalid(parameter="domain", reason="admin, user or system") from None


def store_domain(parameters: Mapping[str, Any]) -> Domain:
    """Whose certificate store: "admin" (the shared one, the default) or "user" (the caller's)."""
    return Domain.ADMIN if parameters.get("domain") is None else domain(parameters)


def moment(parameters: Mapping[str, Any], name: str) -> datetime | None:
    """An optional ISO 8601 moment parameter, aware (naive means UTC)."""
    text = optional(parameters, name, str)
    if text is None:
        return None
    try:
        found = datetime.fromisoformat(text)
    except ValueError:
        raise invalid(parameter=name, reason="ISO 8601") from None
    return found if found.tzinfo else found.replace(tzinfo=UTC)


def policy(value: Any) -> Policy:
    if not isinstance(value, dict):
        raise invalid(parameter="policies", reason="not an object")
    name = value.get("policy")
    try:
        kind = PolicyKind.parse(name if isinstance(name, str) else "")
    except ValueError:
        raise error("UnknownPolicy", policy=str(name)) from None
    return Policy(
        kind, client=optional(value, "client", bool, False), name=optional(value, "name", str)
    )


def host(parameters: Mapping[str, Any], *, is_required: bool = True) -> Any:
    """A host name or address as exceptions are stored under (at most a DNS name's length)."""
    host = (required if is_required else optional)(parameters, "host", str)
    if host is not None and len(host) > MAX_HOST:
        raise invalid(parameter="host", reason=f"longer than {MAX_HOST}")
    return host


def port(parameters: Mapping[str, Any]) -> int:
    port = optional(parameters, "port", int, 0)
    if not 0 <= port <= MAX_PORT:
        raise invalid(parameter="port", reason=f"0 to {MAX_PORT}")
    return int(port)


def sha1(parameters: Mapping[str, Any], name: str = "sha1") -> bytes:
    text = required(parameters, name, str)
    try:
        digest = bytes.fromhex(text)
    except ValueError:
        digest = b""
    if len(digest) != 20:
        raise invalid(parameter=name, reason="40 hex digits")
    return digest


def constraint(value: Any) -> UsageConstraint:
    """A usage constraint from the wire, held to the rules of one read from a plist: what is
    accepted here can be stored, exported and imported again."""
    if not isinstance(value, dict):
        raise error("InvalidTrustSettings", reason="a usage constraint is an object")
    numbers = {
        name: optional(value, name, int) for name in ("result", "allowed_error", "key_usage")
    }
    for name, number in numbers.items():
        if number is not None and number not in INT32:
            raise error("InvalidTrustSettings", reason=f"{name} is not a 32-bit integer")
    result = numbers["result"]
    if result is not None and result not in SettingsResult._value2member_map_:
        raise error("InvalidTrustSettings", reason=f"unknown result {result!r}")
    policy_oid = optional(value, "policy_oid", str)
    if policy_oid is not None and not is_dotted_oid(policy_oid):
        raise error("InvalidTrustSettings", reason=f"policy_oid {policy_oid!r} is not an OID")
    texts = {name: optional(value, name, str) for name in ("policy_name", "policy_string")}
    if not all(xml_can_hold(text) for text in texts.values() if text is not None):
        raise error("InvalidTrustSettings", reason="control characters in a policy name")
    application = value.get("application")
    return UsageConstraint(
        policy_oid=policy_oid,
        policy_name=texts["policy_name"],
        policy_string=texts["policy_string"],
        application=None if application is None else blob(application, "application"),
        allowed_error=numbers["allowed_error"],
        result=None if result is None else SettingsResult(result),
        key_usage=numbers["key_usage"],
    )


Evaluation = tuple[EvaluationRequest, str | None, int, FetchOptions | None]


def evaluation(p: Mapping[str, Any]) -> Evaluation:
    """Evaluate's parameters: the request, host, port and what the network may be asked."""
    certificates = blobs(p, "certificates")
    if not certificates:
        raise invalid(parameter="certificates", reason="empty")
    policies = tuple(policy(v) for v in optional(p, "policies", list, [])) or (Policy(),)
    exceptions = optional(p, "exceptions", str)
    revocation = optional(p, "revocation", list, [])
    try:
        fetch, require = fetch_options(
            policies, optional(p, "network", bool), [str(word) for word in revocation]
        )
    except ValueError as problem:
        raise invalid(parameter="revocation", reason=str(problem)) from None
    verify_date = moment(p, "verify_date")
    try:
        request = EvaluationRequest(
            certificates=certificates,
            policies=policies,
            verify_date=verify_date,
            anchors=blobs(p, "anchors"),
            anchors_only=optional(p, "anchors_only", bool, False),
            exceptions=None
            if exceptions is None
            else decode_exceptions(blob(exceptions, "exceptions")),
            crls=blobs(p, "crls"),
            record_paths=optional(p, "explain", bool, False),
            require_revocation=optional(p, "require_revocation", bool, False) or require,
            ocsp_responses=blobs(p, "ocsp_responses"),
        )
    except InvalidExceptions as problem:
        raise invalid(parameter="exceptions", reason=str(problem)) from None
    return request, host(p, is_required=False), port(p), fetch
