"""io.trustd.Trust: wire parameters <-> service calls.  Thin: decode, call, encode."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from importlib import resources
from typing import Any, Protocol

from trustd.api.varlink import SERVICE, Encoded, Interface, Peer, VarlinkError
from trustd.core.certificates import Certificate, MalformedCertificate, parse_certificate
from trustd.core.der import is_dotted_oid
from trustd.core.policy import Policy, PolicyKind
from trustd.core.request import EvaluationRequest
from trustd.core.results import check
from trustd.core.trust_settings import Domain, SettingsResult, UsageConstraint
from trustd.core.verdict import AppliedSetting, Attempt, Failure, Verdict
from trustd.net.completion import FetchOptions, fetch_options
from trustd.plist.exceptions import InvalidExceptions, decode_exceptions, encode_exceptions
from trustd.plist.profiles import InvalidProfile, ProfileRecord
from trustd.plist.safe import xml_can_hold
from trustd.plist.trust_settings import INT32, InvalidRecord, decode_record, encode_record
from trustd.service import (
    AUDIT_LIMIT,
    MAX_AUDIT_LIMIT,
    Caller,
    EvaluationFailed,
    InvalidTrustSettings,
    PermissionDenied,
    TrustService,
)
from trustd.store.repository import NotFound, NoTrustSettings, QuotaExceeded, StorageFailure

NAME = "io.trustd.Trust"
REPLY_CACHE_BYTES = 32 * 1024 * 1024  # encoded replies kept, all users together
REPLY_CACHE_PER_USER = 1000  # replies kept for one uid
REPLY_CACHE_LARGEST = 1024 * 1024  # a larger reply is not kept
MAX_CERTIFICATES = 64  # per evaluation: more is not a chain, it is an attack on the builder
MAX_PORT = 65535
MAX_HOST = 255  # RFC 1035's 253 characters and a trailing dot, with room


def _err(name: str, **parameters: Any) -> VarlinkError:
    return VarlinkError(f"{NAME}.{name}", **parameters)


def _invalid(parameter: str, reason: str) -> VarlinkError:
    """The standard error for a parameter the call cannot have (missing, mistyped, unknown or
    out of range), with what is wrong with it."""
    return VarlinkError(f"{SERVICE}.InvalidParameter", parameter=parameter, reason=reason)


def _caller(peer: Peer) -> Caller:
    return Caller(uid=peer.uid, pid=peer.pid, groups=peer.groups)


# -- decoding ---------------------------------------------------------------------------------


def _get(
    parameters: Mapping[str, Any], name: str, kind: type | tuple[type, ...], default: Any = None
) -> Any:
    value = parameters.get(name, default)
    if value is None:
        return default
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _invalid(parameter=name, reason="wrong type")
    return value


def _required(parameters: Mapping[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = _get(parameters, name, kind)
    if value is None:
        raise _invalid(parameter=name, reason="missing")
    return value


def _bytes(value: Any, parameter: str) -> bytes:
    if not isinstance(value, str):
        raise _invalid(parameter=parameter, reason="not base64 text")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise _invalid(parameter=parameter, reason="not base64") from None


def _blobs(parameters: Mapping[str, Any], name: str) -> tuple[bytes, ...]:
    values = _get(parameters, name, list, [])
    if len(values) > MAX_CERTIFICATES:
        raise _invalid(parameter=name, reason=f"more than {MAX_CERTIFICATES}")
    return tuple(_bytes(value, name) for value in values)


def _certificate(value: Any, parameter: str) -> Certificate:
    try:
        return parse_certificate(_bytes(value, parameter))
    except MalformedCertificate as problem:
        raise _err("InvalidCertificate", reason=str(problem)) from None


def _domain(parameters: Mapping[str, Any]) -> Domain:
    text = _required(parameters, "domain", str)
    try:
        return Domain(text)
    except ValueError:
        raise _invalid(parameter="domain", reason="admin, user or system") from None


def _store_domain(parameters: Mapping[str, Any]) -> Domain:
    """Whose certificate store: "admin" (the shared one, the default) or "user" (the caller's)."""
    return Domain.ADMIN if parameters.get("domain") is None else _domain(parameters)


def _moment(parameters: Mapping[str, Any], name: str) -> datetime | None:
    """An optional ISO 8601 moment parameter (naive means UTC)."""
    text = _get(parameters, name, str)
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _invalid(parameter=name, reason="ISO 8601") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _policy(value: Any) -> Policy:
    if not isinstance(value, dict):
        raise _invalid(parameter="policies", reason="not an object")
    name = value.get("policy")
    try:
        kind = PolicyKind.parse(name if isinstance(name, str) else "")
    except ValueError:
        raise _err("UnknownPolicy", policy=str(name)) from None
    return Policy(kind, client=_get(value, "client", bool, False), name=_get(value, "name", str))


def _host(parameters: Mapping[str, Any], *, required: bool = True) -> Any:
    """A host name or address as exceptions are stored under (at most a DNS name's length)."""
    host = (_required if required else _get)(parameters, "host", str)
    if host is not None and len(host) > MAX_HOST:
        raise _invalid(parameter="host", reason=f"longer than {MAX_HOST}")
    return host


def _port(parameters: Mapping[str, Any]) -> int:
    port = _get(parameters, "port", int, 0)
    if not 0 <= port <= MAX_PORT:
        raise _invalid(parameter="port", reason=f"0 to {MAX_PORT}")
    return int(port)


def _sha1(parameters: Mapping[str, Any], name: str = "sha1") -> bytes:
    text = _required(parameters, name, str)
    try:
        digest = bytes.fromhex(text)
    except ValueError:
        digest = b""
    if len(digest) != 20:
        raise _invalid(parameter=name, reason="40 hex digits")
    return digest


def _constraint(value: Any) -> UsageConstraint:
    """A usage constraint from the wire, held to the rules of one read from a plist: what is
    accepted here can be stored, exported and imported again."""
    if not isinstance(value, dict):
        raise _err("InvalidTrustSettings", reason="a usage constraint is an object")
    numbers = {name: _get(value, name, int) for name in ("result", "allowed_error", "key_usage")}
    for name, number in numbers.items():
        if number is not None and number not in INT32:
            raise _err("InvalidTrustSettings", reason=f"{name} is not a 32-bit integer")
    result = numbers["result"]
    if result is not None and result not in SettingsResult._value2member_map_:
        raise _err("InvalidTrustSettings", reason=f"unknown result {result!r}")
    policy_oid = _get(value, "policy_oid", str)
    if policy_oid is not None and not is_dotted_oid(policy_oid):
        raise _err("InvalidTrustSettings", reason=f"policy_oid {policy_oid!r} is not an OID")
    texts = {name: _get(value, name, str) for name in ("policy_name", "policy_string")}
    if not all(xml_can_hold(text) for text in texts.values() if text is not None):
        raise _err("InvalidTrustSettings", reason="control characters in a policy name")
    application = value.get("application")
    return UsageConstraint(
        policy_oid=policy_oid,
        policy_name=texts["policy_name"],
        policy_string=texts["policy_string"],
        application=None if application is None else _bytes(application, "application"),
        allowed_error=numbers["allowed_error"],
        result=None if result is None else SettingsResult(result),
        key_usage=numbers["key_usage"],
    )


# -- encoding ---------------------------------------------------------------------------------


def _certificate_out(cert: Certificate, source: str) -> dict[str, Any]:
    """A certificate on the wire (the interface's Certificate type)."""
    return {
        "certificate": _b64(cert.der),
        "sha1": cert.sha1.hex().upper(),
        "sha256": cert.sha256.hex().upper(),
        "subject": cert.subject_summary,
        "source": source,
    }


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _parse_time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _failure_out(failure: Failure) -> dict[str, Any]:
    """A Failure on the wire."""
    return {
        "index": failure.index,
        "check": failure.check,
        "severity": check(failure.check).severity.value,
        "detail": failure.detail,
        "rescued_by": None if failure.rescued_by is None else failure.rescued_by.value,
    }


def _setting_out(setting: AppliedSetting) -> dict[str, Any]:
    """An AppliedSetting on the wire."""
    return {
        "index": setting.index,
        "domain": setting.domain.value,
        "constraint_index": setting.constraint_index,
        "effect": setting.effect,
    }


def _attempt_out(attempt: Attempt) -> dict[str, Any]:
    """An Attempt on the wire: a path's end carries its result, failures and setting."""
    return {
        "depth": attempt.depth,
        "certificate": attempt.certificate.sha1.hex().upper(),
        "subject": attempt.certificate.subject_summary,
        "origin": attempt.origin.value,
        "outcome": attempt.outcome,
        "detail": attempt.detail,
        "result": None if attempt.result is None else attempt.result.wire_name,
        "failures": [_failure_out(f) for f in attempt.failures],
        "setting": None if attempt.setting is None else _setting_out(attempt.setting),
    }


def encode_verdict(
    verdict: Verdict, since: datetime | None = None, until: datetime | None = None
) -> dict[str, Any]:
    """The wire form of a verdict; [valid_from, valid_until) is when it holds (None: unbounded)."""
    return {
        "valid_from": None if since is None else since.isoformat(),
        "valid_until": None if until is None else until.isoformat(),
        "result": verdict.result.wire_name,
        "result_code": int(verdict.result),
        "trusted": verdict.trusted,
        "message": verdict.message,
        "chain": [_b64(c.der) for c in verdict.chain],
        "anchor_origin": None if verdict.anchor_origin is None else verdict.anchor_origin.value,
        "details": [sorted(d) for d in verdict.details],
        "failures": [_failure_out(f) for f in verdict.failures],
        "trust_settings": [_setting_out(s) for s in verdict.trust_settings],
        "exceptions_applied": verdict.exceptions_applied,
        "exceptions_usable": verdict.exceptions_usable,
        "exceptions": _b64(encode_exceptions(verdict.exceptions)),
        "attempts": None
        if verdict.attempts is None
        else [_attempt_out(a) for a in verdict.attempts],
    }


def _constraint_out(constraint: UsageConstraint) -> dict[str, Any]:
    return {
        "policy_oid": constraint.policy_oid,
        "policy_name": constraint.policy_name,
        "policy_string": constraint.policy_string,
        "application": None if constraint.application is None else _b64(constraint.application),
        "allowed_error": constraint.allowed_error,
        "result": None if constraint.result is None else int(constraint.result),
        "key_usage": constraint.key_usage,
    }


# -- recent replies ---------------------------------------------------------------------------


Window = tuple[datetime | None, datetime | None]


class ReplyCache:
    """Encoded Evaluate replies by (uid, store generation, digest of the decoded request):
    at most `max_bytes` of replies in all and `per_user` replies of one uid, least recently
    used first out.  A key is 32 bytes of digest whatever the request's size, and the request
    itself is never kept."""

    def __init__(
        self,
        max_bytes: int = REPLY_CACHE_BYTES,
        per_user: int = REPLY_CACHE_PER_USER,
        largest: int = REPLY_CACHE_LARGEST,
    ) -> None:
        self.max_bytes, self.per_user, self.largest = max_bytes, per_user, largest
        self.bytes = 0
        self._items: OrderedDict[tuple[int, int, bytes], tuple[Encoded, Window]] = OrderedDict()
        self._by_user: dict[int, OrderedDict[tuple[int, int, bytes], None]] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[int, int, bytes]) -> tuple[Encoded, Window] | None:
        with self._lock:
            entry = self._items.get(key)
            if entry is not None:
                self._items.move_to_end(key)
                self._by_user[key[0]].move_to_end(key)
            return entry

    def put(self, key: tuple[int, int, bytes], reply: Encoded, window: Window) -> None:
        size = len(reply.text)
        if size > self.largest:
            return
        with self._lock:
            if key in self._items:
                self._drop(key)
            self._items[key] = (reply, window)
            mine = self._by_user.setdefault(key[0], OrderedDict())
            mine[key] = None
            self.bytes += size
            while len(mine) > self.per_user:
                self._drop(next(iter(mine)))
            while self.bytes > self.max_bytes:
                self._drop(next(iter(self._items)))

    def _drop(self, key: tuple[int, int, bytes]) -> None:
        reply, _ = self._items.pop(key)
        self.bytes -= len(reply.text)
        mine = self._by_user[key[0]]
        del mine[key]
        if not mine:
            del self._by_user[key[0]]

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


def request_digest(
    request: EvaluationRequest, host: str | None, port: int, fetch: FetchOptions | None
) -> bytes:
    """SHA-256 of the decoded request: equal digests, equal requests (every field is in the
    dataclasses' repr, which shows bytes, text and numbers exactly)."""
    return hashlib.sha256(repr((request, host, port, fetch)).encode()).digest()


# -- the interface ----------------------------------------------------------------------------


EvaluateWire = Callable[
    [Caller, EvaluationRequest, str | None, int, FetchOptions | None], dict[str, Any]
]


class ProfileDirectory(Protocol):
    """Where configuration profiles are installed (the drop-in watcher's profiles directory)."""

    @property
    def profiles(self) -> list[ProfileRecord]: ...

    def install_profile(self, data: bytes) -> ProfileRecord: ...

    def remove_profile(self, identifier: str) -> ProfileRecord: ...


def _profile_out(record: ProfileRecord) -> dict[str, Any]:
    return {
        "identifier": record.identifier,
        "display_name": record.display_name,
        "organization": record.organization,
        "file": record.source,
        "signed": record.signed,
        "signer": record.signer,
        "verified": record.verified,
        "trust": record.trust,
        "certificates": [_b64(der) for der in record.certificates],
        "roots": [hashlib.sha1(der).hexdigest().upper() for der in record.roots],
        "ignored": list(record.ignored),
    }


def interface(
    service: TrustService,
    status: Callable[[], dict[str, Any]],
    reload: Callable[[], None],
    evaluate_wire: EvaluateWire | None = None,
    profiles: ProfileDirectory | None = None,
) -> Interface:
    """io.trustd.Trust bound to a service; `status()` gives Status's reply, `reload()` reloads.

    `evaluate_wire`, when given, evaluates and encodes (the daemon's worker pool); by default
    the service evaluates in the calling thread.  `profiles` serves the profile methods.
    """

    def in_thread(
        caller: Caller,
        request: EvaluationRequest,
        host: str | None,
        port: int,
        fetch: FetchOptions | None,
    ) -> dict[str, Any]:
        return encode_verdict(*service.evaluate_with_window(caller, request, host, port, fetch))

    run_evaluation = evaluate_wire or in_thread
    # Encoded replies of recent evaluations: a repeated request is answered without evaluating
    # or re-encoding, inside its verdict's validity window.
    replies = ReplyCache()

    def errors(call: Any) -> Any:
        def wrapped(peer: Peer, parameters: Mapping[str, Any]) -> Any:
            try:
                return call(peer, parameters)
            except PermissionDenied as problem:
                raise _err("PermissionDenied", reason=str(problem)) from None
            except NoTrustSettings as problem:
                raise _err("NoTrustSettings", domain=str(problem)) from None
            except NotFound as problem:
                raise _err("NotFound", what=str(problem)) from None
            except InvalidTrustSettings as problem:
                raise _err("InvalidTrustSettings", reason=str(problem)) from None
            except StorageFailure as problem:  # logged by the store; nothing was changed
                raise _err("StorageFailure", reason=str(problem)) from None
            except QuotaExceeded as problem:
                raise _err("QuotaExceeded", what=problem.what, limit=problem.limit) from None
            except EvaluationFailed as problem:  # the worker was replaced; the caller may retry
                raise _err("EvaluationFailed", reason=str(problem)) from None

        return wrapped

    def evaluate(peer: Peer, p: Mapping[str, Any]) -> Mapping[str, Any]:
        generation = service.store.generation
        request, host, port, fetch = _decode_evaluation(p)
        key = (peer.uid, generation, request_digest(request, host, port, fetch))
        cached = replies.get(key)
        if cached is not None:
            reply, (since, until) = cached
            moment = _now() if request.verify_date is None else None
            if moment is None or (
                (since is None or since <= moment) and (until is None or moment < until)
            ):
                service.requests += 1
                return reply
        verdict = run_evaluation(_caller(peer), request, host, port, fetch)
        encoded = Encoded(json.dumps({"verdict": verdict}, separators=(",", ":")))
        window = verdict.get("valid_from"), verdict.get("valid_until")
        replies.put(key, encoded, (_parse_time(window[0]), _parse_time(window[1])))
        return encoded

    def _decode_evaluation(
        p: Mapping[str, Any],
    ) -> tuple[EvaluationRequest, str | None, int, FetchOptions | None]:
        certificates = _blobs(p, "certificates")
        if not certificates:
            raise _invalid(parameter="certificates", reason="empty")
        policies = tuple(_policy(v) for v in _get(p, "policies", list, [])) or (Policy(),)
        verify_date = _get(p, "verify_date", str)
        exceptions = _get(p, "exceptions", str)
        revocation = _get(p, "revocation", list, [])
        try:
            fetch, require = fetch_options(
                policies, _get(p, "network", bool), [str(word) for word in revocation]
            )
        except ValueError as problem:
            raise _invalid(parameter="revocation", reason=str(problem)) from None
        try:
            request = EvaluationRequest(
                certificates=certificates,
                policies=policies,
                verify_date=None if verify_date is None else datetime.fromisoformat(verify_date),
                anchors=_blobs(p, "anchors"),
                anchors_only=_get(p, "anchors_only", bool, False),
                exceptions=None
                if exceptions is None
                else decode_exceptions(_bytes(exceptions, "exceptions")),
                crls=_blobs(p, "crls"),
                record_paths=_get(p, "explain", bool, False),
                require_revocation=_get(p, "require_revocation", bool, False) or require,
                ocsp_responses=_blobs(p, "ocsp_responses"),
            )
        except ValueError as problem:
            if isinstance(problem, InvalidExceptions):
                raise _invalid(parameter="exceptions", reason=str(problem)) from None
            raise _invalid(parameter="verify_date", reason="ISO 8601") from None
        return request, _host(p, required=False), _port(p), fetch

    def add_certificates(peer: Peer, p: Mapping[str, Any]) -> dict[str, Any]:
        values = _required(p, "certificates", list)
        certificates = [_certificate(v, "certificates") for v in values]
        results = service.add_certificates(_caller(peer), certificates, _store_domain(p))
        return {
            "added": [c.sha1.hex().upper() for c, new in results if new],
            "existing": [c.sha1.hex().upper() for c, new in results if not new],
        }

    def find_certificates(peer: Peer, p: Mapping[str, Any]) -> dict[str, Any]:
        criteria: dict[str, object] = {}
        for name in ("sha1", "sha256"):
            if p.get(name) is not None:
                try:
                    criteria[name] = bytes.fromhex(_required(p, name, str))
                except ValueError:
                    raise _invalid(parameter=name, reason="hex") from None
        for name in ("subject", "email"):
            if p.get(name) is not None:
                criteria[name] = _required(p, name, str)
        found = service.find_certificates(_caller(peer), **criteria)
        return {"certificates": [_certificate_out(s.certificate, s.source) for s in found]}

    def list_anchors(peer: Peer, p: Mapping[str, Any]) -> dict[str, Any]:
        policy = p.get("policy")
        found = service.anchors(_caller(peer), Policy() if policy is None else _policy(policy))
        return {"certificates": [_certificate_out(cert, str(domain)) for cert, domain in found]}

    def delete_certificate(peer: Peer, p: Mapping[str, Any]) -> dict[str, Any]:
        service.delete_certificate(_caller(peer), _sha1(p), _store_domain(p))
        return {}

    def set_trust_settings(peer: Peer, p: Mapping[str, Any]) -> dict[str, Any]:
        constraints = [_constraint(v) for v in _required(p, "constraints", list)]
        certificate = _certificate(_required(p, "certificate", str), "certificate")
        service.set_trust_settings(_caller(peer), _domain(p), certificate, constraints)
        return {}

    def remove_trust_settings(peer: Peer, p: Mapping[str, Any]) -> dict[str, Any]:
        service.remove_trust_settings(_caller(peer), _domain(p), _sha1(p))
        return {}

    def copy_trust_settings(peer: Peer, p: Mapping[str, Any]) -> dict[str, Any]:
        entries = service.trust_settings(_caller(peer), _domain(p))
        return {
            "entries": [
                {
                    "sha1": entry.key,
                    "certificate": None if cert is None else _b64(cert.der),
                    "subject": None if cert is None else cert.subject_summary,
                    "mod_date": entry.mod_date.isoformat(),
                    "constraints": [_constraint_out(c) for c in entry.constraints],
                }
                for entry, cert in entries
            ]
        }

    def export_trust_settings(peer: Peer, p: Mapping[str, Any]) -> dict[str, Any]:
        entries = service.export_trust_settings(_caller(peer), _domain(p))
        return {"plist": _b64(encode_record(entries))}

    def import_trust_settings(peer: Peer, p: Mapping[str, Any]) -> dict[str, Any]:
        domain = _domain(p)
        try:
            entries = decode_record(_bytes(_required(p, "plist", str), "plist"))
        except InvalidRecord as problem:
            raise _err("InvalidTrustSettings", reason=str(problem)) from None
        service.import_trust_settings(_caller(peer), domain, entries)
        return {"entries": len(entries)}

    def set_exceptions(peer: Peer, p: Mapping[str, Any]) -> dict[str, Any]:
        try:
            exceptions = decode_exceptions(_bytes(_required(p, "exceptions", str), "exceptions"))
        except InvalidExceptions as problem:
            raise _invalid(parameter="exceptions", reason=str(problem)) from None
        service.set_exceptions(_caller(peer), _host(p), _port(p), exceptions)
        return {}

    def list_exceptions(peer: Peer, p: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "exceptions": [
                {
                    "host": e.host,
                    "port": e.port,
                    "exceptions": _b64(encode_exceptions(e.exceptions)),
                    "created": e.created_at.isoformat(),
                }
                for e in service.list_exceptions(_caller(peer))
            ]
        }

    def remove_exceptions(peer: Peer, p: Mapping[str, Any]) -> dict[str, Any]:
        service.remove_exceptions(_caller(peer), _host(p), _port(p))
        return {}

    def reset_exceptions(peer: Peer, p: Mapping[str, Any]) -> dict[str, Any]:
        return {"epoch": service.reset_exceptions(_caller(peer))}

    def audit_log(peer: Peer, p: Mapping[str, Any]) -> dict[str, Any]:
        limit = _get(p, "limit", int, AUDIT_LIMIT)
        if not 1 <= limit <= MAX_AUDIT_LIMIT:
            raise _invalid(parameter="limit", reason=f"1 to {MAX_AUDIT_LIMIT}")
        domain = None if p.get("domain") is None else _domain(p)
        entries = service.audit_log(
            _caller(peer),
            since=_moment(p, "since"),
            until=_moment(p, "until"),
            domain=domain,
            obj=None if p.get("sha1") is None else _sha1(p).hex().upper(),
            limit=limit,
        )
        return {
            "entries": [
                {
                    "at": e.at.isoformat(),
                    "uid": e.uid,
                    "pid": e.pid,
                    "operation": e.operation,
                    "domain": e.domain,
                    "object": e.object,
                    "summary": e.summary,
                    "source": e.source,
                }
                for e in entries
            ]
        }

    def monitor(peer: Peer, p: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        for generation in service.watch():
            yield {"event": "changed", "generation": generation}

    def reload_(peer: Peer, p: Mapping[str, Any]) -> dict[str, Any]:
        if not service.is_admin(_caller(peer)):
            raise _err("PermissionDenied", reason="reloading needs root or the admin group")
        reload()
        return {}

    def echo(peer: Peer, p: Mapping[str, Any]) -> dict[str, Any]:
        return {"text": _required(p, "text", str)}

    def profile_directory() -> ProfileDirectory:
        if profiles is None:
            raise _err("NotFound", what="this daemon has no profiles directory")
        return profiles

    def list_profiles(peer: Peer, p: Mapping[str, Any]) -> dict[str, Any]:
        return {"profiles": [_profile_out(r) for r in profile_directory().profiles]}

    def install_profile(peer: Peer, p: Mapping[str, Any]) -> dict[str, Any]:
        caller = _caller(peer)
        service.require_admin(caller, "installing a configuration profile")
        try:
            record = profile_directory().install_profile(_bytes(p.get("profile"), "profile"))
        except InvalidProfile as problem:
            raise _err("InvalidProfile", reason=str(problem)) from None
        service.store.record(
            service.actor(caller),
            "install-profile",
            record.identifier,
            f"{record.display_name or record.identifier} ({record.source})",
        )
        return {"installed": _profile_out(record)}

    def remove_profile(peer: Peer, p: Mapping[str, Any]) -> dict[str, Any]:
        caller = _caller(peer)
        service.require_admin(caller, "removing a configuration profile")
        identifier = _required(p, "identifier", str)
        try:
            record = profile_directory().remove_profile(identifier)
        except KeyError:
            raise _err("NotFound", what=f"no installed profile {identifier}") from None
        service.store.record(service.actor(caller), "remove-profile", identifier, record.source)
        return {"removed": _profile_out(record)}

    methods: dict[str, Any] = {
        "Evaluate": evaluate,
        "Echo": echo,
        "Status": lambda peer, p: status(),
        "Reload": reload_,
        "AddCertificates": add_certificates,
        "FindCertificates": find_certificates,
        "DeleteCertificate": delete_certificate,
        "ListAnchors": list_anchors,
        "SetTrustSettings": set_trust_settings,
        "RemoveTrustSettings": remove_trust_settings,
        "CopyTrustSettings": copy_trust_settings,
        "ExportTrustSettings": export_trust_settings,
        "ImportTrustSettings": import_trust_settings,
        "SetExceptions": set_exceptions,
        "ListExceptions": list_exceptions,
        "RemoveExceptions": remove_exceptions,
        "ResetExceptions": reset_exceptions,
        "AuditLog": audit_log,
        "Monitor": monitor,
        "ListProfiles": list_profiles,
        "InstallProfile": install_profile,
        "RemoveProfile": remove_profile,
    }
    return Interface(
        name=NAME,
        description=description(),
        methods={name: errors(call) for name, call in methods.items()},
        streaming=frozenset({"Monitor"}),
    )


def description() -> str:
    return resources.files("trustd.api").joinpath(f"{NAME}.varlink").read_text()
