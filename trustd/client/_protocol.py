"""What the synchronous and the asyncio clients share: the socket path, message framing, and
one :class:`Call` per interface method (its parameters on the way out, its decoder on the way
back), so that both clients only move bytes.

The framing itself (NUL-terminated JSON messages, the size limit, SO_PEERCRED) is
trustd.varlink_framing, which the daemon uses too.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

from trustd import varlink_framing as framing
from trustd.client.errors import (
    ConnectionFailed,
    DaemonNotRunning,
    ProtocolError,
    RequestTooLarge,
    TrustdError,
    from_reply,
)
from trustd.client.models import (
    AddedCertificates,
    AuditEntry,
    EvaluationResult,
    HostExceptions,
    InstalledProfile,
    Policy,
    Status,
    StoredCertificate,
    TrustSettingsEntry,
    UsageConstraint,
    b64,
    blob,
    policies_to_wire,
)
from trustd.paths import client_socket, client_sockets

INTERFACE = framing.INTERFACE
MAX_REQUEST = framing.MAX_MESSAGE  # the daemon answers a longer one with RequestTooLarge, hangs up
MAX_REPLY = 64 * 1024 * 1024  # FindCertificates over a big store is large; more is not trustd
DEFAULT_TIMEOUT = 30.0

_T = TypeVar("_T")


def default_socket_path() -> Path:
    """The socket clients use unless told otherwise (the rule is trustd.paths.client_socket).

    TRUSTD_SOCKET if set; else the system daemon's /run/trustd/trustd.sock when it exists; else
    the caller's own per-user daemon's socket when that one exists; else the system socket.
    """
    return client_socket()


def resolve_socket_path(socket_path: str | os.PathLike[str] | None) -> Path:
    """`socket_path` as a Path, or the default one."""
    return default_socket_path() if socket_path is None else Path(socket_path)


def connect_error(path: Path, problem: OSError) -> TrustdError:
    """The client error for a failed connect() to `path`."""
    if isinstance(problem, (FileNotFoundError, NotADirectoryError)):
        looked = client_sockets()
        also = [other for other in looked if other != path] if path in looked else []
        return DaemonNotRunning(path, "no socket", also)
    if isinstance(problem, ConnectionRefusedError):
        return DaemonNotRunning(path, "nothing listening")
    return ConnectionFailed(
        parameters={"socket": str(path)}, message=f"cannot connect to trustd at {path}: {problem}"
    )


def check_server(sock: socket.socket, path: Path) -> None:
    """Refuse a socket served by anyone but root or this user.

    Whoever answers on the socket decides what this program trusts; a socket in a place others
    could write (a wrong TRUSTD_SOCKET, a runtime directory that is not ours) might be answered
    by another user's impostor.  SO_PEERCRED says who listens, as the kernel saw them.
    """
    _, uid, _ = framing.peer_credentials(sock)
    if uid not in (0, os.geteuid()):
        raise ConnectionFailed(
            parameters={"socket": str(path), "uid": uid},
            message=f"refusing trustd at {path}: it is served by uid {uid}, not by root or you",
        )


# -- framing ------------------------------------------------------------------------------------


def encode_call(method: str, parameters: Mapping[str, Any], more: bool = False) -> bytes:
    """One call message, NUL-terminated; RequestTooLarge if the daemon would refuse its size."""
    data = framing.encode(framing.call(f"{INTERFACE}.{method}", parameters, more=more))
    if len(data) > MAX_REQUEST + len(framing.NUL):
        raise RequestTooLarge(parameters={"limit": MAX_REQUEST})
    return data


def decode_reply(data: bytes) -> dict[str, Any]:
    """One reply message (without its NUL) as a dict: parameters, or raise its error."""
    try:
        reply = framing.decode(data)
    except framing.Malformed as problem:
        raise ProtocolError(message=f"trustd sent a message that is {problem.reason}") from None
    parameters = reply.get("parameters", {})
    if not isinstance(parameters, dict):
        raise ProtocolError(message="trustd sent a reply whose parameters are not an object")
    error = reply.get("error")
    if error is not None:
        raise from_reply(str(error), parameters)
    return reply


# -- the calls ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Call(Generic[_T]):
    """One method call: what to send and how to read the reply's parameters."""

    method: str
    parameters: dict[str, Any]
    decode: Callable[[Mapping[str, Any]], _T]

    def message(self) -> bytes:
        """The call as a NUL-terminated message."""
        return encode_call(self.method, self.parameters)

    def result(self, reply: Mapping[str, Any]) -> _T:
        """The typed result of a (non-error) reply message."""
        parameters = reply.get("parameters", {})
        assert isinstance(parameters, dict)  # checked by decode_reply
        return self.decode(parameters)


def _nothing(parameters: Mapping[str, Any]) -> None:
    return None


def _one(key: str, kind: type[_T]) -> Callable[[Mapping[str, Any]], _T]:
    def decode(parameters: Mapping[str, Any]) -> _T:
        value = parameters.get(key)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ProtocolError(message=f"reply field {key!r}: expected {kind.__name__}")
        return value

    return decode


def _list_of(
    key: str, item: Callable[[Mapping[str, Any]], _T]
) -> Callable[[Mapping[str, Any]], tuple[_T, ...]]:
    def decode(parameters: Mapping[str, Any]) -> tuple[_T, ...]:
        values = parameters.get(key)
        if not isinstance(values, list) or not all(isinstance(v, dict) for v in values):
            raise ProtocolError(message=f"reply field {key!r}: expected a list of objects")
        return tuple(item(v) for v in values)

    return decode


def _verdict(parameters: Mapping[str, Any]) -> EvaluationResult:
    verdict = parameters.get("verdict")
    if not isinstance(verdict, dict):
        raise ProtocolError(message="reply field 'verdict': expected an object")
    return EvaluationResult.from_wire(verdict)


def _sha1_text(sha1: str | bytes) -> str:
    return sha1.hex().upper() if isinstance(sha1, bytes) else sha1


def _timestamp(moment: datetime) -> str:
    return moment.isoformat()


def evaluate(
    certificates: Sequence[bytes],
    policies: Policy | str | Sequence[Policy | str] | None = None,
    *,
    host: str | None = None,
    port: int = 0,
    anchors: Sequence[bytes] = (),
    anchors_only: bool = False,
    verify_date: datetime | None = None,
    exceptions: bytes | None = None,
    crls: Sequence[bytes] = (),
    explain: bool = False,
    network: bool | None = None,
    revocation: Sequence[str] = (),
    ocsp_responses: Sequence[bytes] = (),
) -> Call[EvaluationResult]:
    """Evaluate (see Client.evaluate)."""
    if isinstance(certificates, (bytes, bytearray, memoryview)):
        raise TypeError("certificates is a sequence of DER certificates, not one certificate")
    parameters: dict[str, Any] = {"certificates": [b64(c) for c in certificates]}
    if policies is not None:
        parameters["policies"] = policies_to_wire(policies)
    if host is not None:
        parameters["host"] = host
        parameters["port"] = port
    if anchors:
        parameters["anchors"] = [b64(a) for a in anchors]
    if anchors_only:
        parameters["anchors_only"] = True
    if verify_date is not None:
        parameters["verify_date"] = _timestamp(verify_date)
    if exceptions is not None:
        parameters["exceptions"] = b64(exceptions)
    if crls:
        parameters["crls"] = [b64(c) for c in crls]
    if explain:
        parameters["explain"] = True
    if network is not None:
        parameters["network"] = network
    if revocation:
        parameters["revocation"] = list(revocation)
    if ocsp_responses:
        parameters["ocsp_responses"] = [b64(r) for r in ocsp_responses]
    return Call("Evaluate", parameters, _verdict)


def echo(text: str) -> Call[str]:
    """Echo."""
    return Call("Echo", {"text": text}, _one("text", str))


def status() -> Call[Status]:
    """Status."""
    return Call("Status", {}, Status.from_wire)


def add_certificates(
    certificates: Sequence[bytes], domain: str | None = None
) -> Call[AddedCertificates]:
    """AddCertificates (domain: "admin", the shared store, or "user", the caller's own)."""
    if isinstance(certificates, (bytes, bytearray, memoryview)):
        raise TypeError("certificates is a sequence of DER certificates, not one certificate")
    parameters: dict[str, Any] = {"certificates": [b64(c) for c in certificates]}
    if domain is not None:
        parameters["domain"] = domain
    return Call("AddCertificates", parameters, AddedCertificates.from_wire)


def find_certificates(
    sha1: str | bytes | None = None,
    sha256: str | bytes | None = None,
    subject: str | None = None,
    email: str | None = None,
) -> Call[tuple[StoredCertificate, ...]]:
    """FindCertificates."""
    parameters: dict[str, Any] = {}
    if sha1 is not None:
        parameters["sha1"] = _sha1_text(sha1)
    if sha256 is not None:
        parameters["sha256"] = _sha1_text(sha256)
    if subject is not None:
        parameters["subject"] = subject
    if email is not None:
        parameters["email"] = email
    return Call(
        "FindCertificates", parameters, _list_of("certificates", StoredCertificate.from_wire)
    )


def list_anchors(policy: Policy | str | None = None) -> Call[tuple[StoredCertificate, ...]]:
    """ListAnchors: what ends paths as an anchor for the policy; ``source`` is the domain."""
    parameters = {} if policy is None else {"policy": policies_to_wire(policy)[0]}
    return Call("ListAnchors", parameters, _list_of("certificates", StoredCertificate.from_wire))


def delete_certificate(sha1: str | bytes, domain: str | None = None) -> Call[None]:
    """DeleteCertificate (domain: "admin", the shared store, or "user", the caller's own)."""
    parameters = {"sha1": _sha1_text(sha1)}
    if domain is not None:
        parameters["domain"] = domain
    return Call("DeleteCertificate", parameters, _nothing)


def set_trust_settings(
    domain: str, certificate: bytes, constraints: Sequence[UsageConstraint] = ()
) -> Call[None]:
    """SetTrustSettings."""
    return Call(
        "SetTrustSettings",
        {
            "domain": domain,
            "certificate": b64(certificate),
            "constraints": [c.to_wire() for c in constraints],
        },
        _nothing,
    )


def remove_trust_settings(domain: str, sha1: str | bytes) -> Call[None]:
    """RemoveTrustSettings."""
    return Call("RemoveTrustSettings", {"domain": domain, "sha1": _sha1_text(sha1)}, _nothing)


def copy_trust_settings(domain: str) -> Call[tuple[TrustSettingsEntry, ...]]:
    """CopyTrustSettings."""
    return Call(
        "CopyTrustSettings", {"domain": domain}, _list_of("entries", TrustSettingsEntry.from_wire)
    )


def _plist_reply(parameters: Mapping[str, Any]) -> bytes:
    value = parameters.get("plist")
    if not isinstance(value, str):
        raise ProtocolError(message=f"reply field 'plist': unexpected {value!r}")
    return blob(value, "plist")


def _entries_reply(parameters: Mapping[str, Any]) -> int:
    value = parameters.get("entries")
    if not isinstance(value, int) or isinstance(value, bool):
        raise ProtocolError(message=f"reply field 'entries': unexpected {value!r}")
    return value


def export_trust_settings(domain: str) -> Call[bytes]:
    """ExportTrustSettings: the domain's record as a macOS XML plist."""
    return Call("ExportTrustSettings", {"domain": domain}, _plist_reply)


def import_trust_settings(domain: str, plist: bytes) -> Call[int]:
    """ImportTrustSettings: replace the domain; the number of entries imported."""
    return Call("ImportTrustSettings", {"domain": domain, "plist": b64(plist)}, _entries_reply)


def set_exceptions(host: str, port: int, exceptions: bytes) -> Call[None]:
    """SetExceptions."""
    return Call(
        "SetExceptions", {"host": host, "port": port, "exceptions": b64(exceptions)}, _nothing
    )


def list_exceptions() -> Call[tuple[HostExceptions, ...]]:
    """ListExceptions."""
    return Call("ListExceptions", {}, _list_of("exceptions", HostExceptions.from_wire))


def remove_exceptions(host: str, port: int = 0) -> Call[None]:
    """RemoveExceptions."""
    return Call("RemoveExceptions", {"host": host, "port": port}, _nothing)


def reset_exceptions() -> Call[int]:
    """ResetExceptions."""
    return Call("ResetExceptions", {}, _one("epoch", int))


def list_profiles() -> Call[tuple[InstalledProfile, ...]]:
    """ListProfiles."""
    return Call("ListProfiles", {}, _list_of("profiles", InstalledProfile.from_wire))


def install_profile(data: bytes) -> Call[InstalledProfile]:
    """InstallProfile."""
    return Call("InstallProfile", {"profile": b64(data)}, _object("installed"))


def remove_profile(identifier: str) -> Call[InstalledProfile]:
    """RemoveProfile."""
    return Call("RemoveProfile", {"identifier": identifier}, _object("removed"))


def _object(key: str) -> Callable[[Mapping[str, Any]], InstalledProfile]:
    def decode(parameters: Mapping[str, Any]) -> InstalledProfile:
        value = parameters.get(key)
        if not isinstance(value, dict):
            raise ProtocolError(message=f"reply field {key!r}: expected an object")
        return InstalledProfile.from_wire(value)

    return decode


def audit_log(
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    domain: str | None = None,
    sha1: str | bytes | None = None,
    limit: int | None = None,
) -> Call[tuple[AuditEntry, ...]]:
    """AuditLog."""
    parameters: dict[str, Any] = {}
    if since is not None:
        parameters["since"] = _timestamp(since)
    if until is not None:
        parameters["until"] = _timestamp(until)
    if domain is not None:
        parameters["domain"] = domain
    if sha1 is not None:
        parameters["sha1"] = _sha1_text(sha1)
    if limit is not None:
        parameters["limit"] = limit
    return Call("AuditLog", parameters, _list_of("entries", AuditEntry.from_wire))


def reload() -> Call[None]:
    """Reload."""
    return Call("Reload", {}, _nothing)


MONITOR_CALL = encode_call("Monitor", {}, more=True)


def monitor_generation(reply: Mapping[str, Any]) -> int:
    """The generation a Monitor reply announces."""
    parameters = reply.get("parameters", {})
    assert isinstance(parameters, dict)
    return _one("generation", int)(parameters)
