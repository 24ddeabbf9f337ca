"""The io.trustd.Trust calls as methods, declared once for the blocking and the asyncio client.

:class:`Methods` holds one method per interface method: its parameters and docstring, how they
go on the wire, and the result's type and reply field (a :class:`~trustd.client._protocol.Call`
of that type): the reply is decoded by the type, as the models' fields are.  Each is written
without ``self``: :class:`method` binds it to the client it is read from, as a plain method of
:class:`~trustd.client.Client` (a :class:`Blocking` transport: the call's result) or a
coroutine method of :class:`~trustd.client.AsyncClient` (an :class:`Asynchronous` one).  The
clients themselves only move bytes (their ``_call``); Monitor, a stream, is theirs too.
"""

from __future__ import annotations

import abc
import functools
import inspect
import re
import typing
from collections.abc import Callable, Coroutine, Sequence
from datetime import datetime
from types import MethodType
from typing import Any, Concatenate, Generic, ParamSpec, Self, TypeVar, overload

from trustd.client import _protocol as protocol
from trustd.client import models
from trustd.client._protocol import Call

__all__ = ["Asynchronous", "Blocking", "Methods", "method"]

_P = ParamSpec("_P")
_T = TypeVar("_T")
_F = TypeVar("_F", bound=Callable[..., Any])


class Blocking(protocol.Transport):
    """A transport whose ``_call`` answers the call before it returns (:class:`Client`)."""

    @abc.abstractmethod
    def _call(self, call: Call[_T], read: models.Read) -> _T:
        """Send `call` and return its decoded reply."""


class Asynchronous(protocol.Transport):
    """A transport whose ``_call`` is a coroutine (:class:`AsyncClient`)."""

    @abc.abstractmethod
    async def _call(self, call: Call[_T], read: models.Read) -> _T:
        """Send `call` and return its decoded reply."""


class method(Generic[_P, _T]):
    """A method of both clients from one function that builds its :class:`Call`.

    Read from a :class:`Blocking` client it is a bound method returning the result; from an
    :class:`Asynchronous` one a bound coroutine method; from their classes the plain function
    (taking the client first).  Its name, docstring and signature are the builder's, but for the
    result: ``Call[X]`` becomes ``X``.
    """

    def __init__(self, build: Callable[_P, Call[_T]]) -> None:
        signature = inspect.signature(build)
        returns = re.fullmatch(r"Call\[(.*)\]", str(signature.return_annotation))
        self.__signature__ = signature.replace(
            parameters=[
                inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY),
                *signature.parameters.values(),
            ],
            return_annotation=returns.group(1) if returns else signature.return_annotation,
        )
        self.__doc__ = build.__doc__
        self.__name__ = build.__name__
        self.__wrapped__ = build
        self._read: models.Read | None = None

        def blocking(client: Blocking, /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
            return client._call(build(*args, **kwargs), self._reader())

        async def asynchronous(client: Asynchronous, /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
            return await client._call(build(*args, **kwargs), self._reader())

        self._blocking = self._like(blocking)
        self._asynchronous = self._like(asynchronous)

    def _reader(self) -> models.Read:
        """How the result is read: by its type, X of the builder's ``Call[X]`` (resolved on the
        first call, not at import)."""
        if self._read is None:
            returns = typing.get_type_hints(self.__wrapped__)["return"]
            (result,) = typing.get_args(returns)
            self._read = models.reader(result)
        return self._read

    def _like(self, function: _F) -> _F:
        """`function` with the builder's name, docstring and the method's signature."""
        functools.update_wrapper(function, self.__wrapped__)
        function.__signature__ = self.__signature__  # type: ignore[attr-defined]
        return function

    def __set_name__(self, owner: type[Any], name: str) -> None:
        for function in (self._blocking, self._asynchronous):
            function.__qualname__ = f"{owner.__qualname__}.{name}"

    @overload
    def __get__(
        self, client: None, owner: type[Asynchronous]
    ) -> Callable[Concatenate[Asynchronous, _P], Coroutine[Any, Any, _T]]: ...
    @overload
    def __get__(
        self, client: None, owner: type[Blocking]
    ) -> Callable[Concatenate[Blocking, _P], _T]: ...
    @overload
    def __get__(self, client: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, client: Blocking, owner: type[Any]) -> Callable[_P, _T]: ...
    @overload
    def __get__(
        self, client: Asynchronous, owner: type[Any]
    ) -> Callable[_P, Coroutine[Any, Any, _T]]: ...
    def __get__(self, client: object, owner: type[Any]) -> Any:
        if client is None:
            if issubclass(owner, Asynchronous):
                return self._asynchronous
            return self._blocking if issubclass(owner, Blocking) else self
        if isinstance(client, Asynchronous):
            return MethodType(self._asynchronous, client)
        return MethodType(self._blocking, client)


def _given(**values: Any) -> dict[str, Any]:
    """Call parameters: those with a value (None leaves one out: the daemon's default)."""
    return {key: value for key, value in values.items() if value is not None}


def _blobs(values: Sequence[bytes]) -> list[str] | None:
    """Blobs (DER) as the wire's base64 strings; None for none."""
    return [models.b64(value) for value in values] or None


def _certificates(certificates: Sequence[bytes]) -> list[str]:
    """DER certificates as the wire's base64 strings; one certificate alone is refused (its
    bytes would be taken for certificates)."""
    if isinstance(certificates, (bytes, bytearray, memoryview)):
        raise TypeError("certificates is a sequence of DER certificates, not one certificate")
    return [models.b64(certificate) for certificate in certificates]


def _hex(digest: str | bytes | None) -> str | None:
    return digest.hex().upper() if isinstance(digest, bytes) else digest


def _timestamp(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


class Methods:
    """The io.trustd.Trust methods of :class:`~trustd.client.Client` (blocking) and
    :class:`~trustd.client.AsyncClient` (the same, as coroutines)."""

    @method
    def evaluate(
        certificates: Sequence[bytes],
        policies: models.Policy | str | Sequence[models.Policy | str] | None = None,
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
    ) -> Call[models.EvaluationResult]:
        """Evaluate a chain (leaf first, DER) for the policies (default: basic X.509).

        With ``host`` (and ``port``) the exceptions the caller stored for that host apply.
        ``anchors`` are extra anchors, the only ones with ``anchors_only``; ``verify_date``
        evaluates at another moment (naive means UTC); ``exceptions`` is an exceptions blob to
        apply; ``crls`` are DER CRLs to check revocation against; ``explain`` records every path
        the search tried (``EvaluationResult.attempts``).  ``network`` allows fetching missing
        issuers (AIA) and revocation answers (default: unless a policy is basic or eap);
        ``revocation`` holds ``verify-cert -R`` words (ocsp, crl, require, offline, online);
        ``ocsp_responses`` are stapled OCSP responses (DER).
        """
        parameters = _given(
            certificates=_certificates(certificates),
            policies=None if policies is None else models.policies_to_wire(policies),
            host=host,
            port=None if host is None else port,
            anchors=_blobs(anchors),
            anchors_only=anchors_only or None,
            verify_date=_timestamp(verify_date),
            exceptions=None if exceptions is None else models.b64(exceptions),
            crls=_blobs(crls),
            explain=explain or None,
            network=network,
            revocation=list(revocation) or None,
            ocsp_responses=_blobs(ocsp_responses),
        )
        return Call("Evaluate", parameters, "verdict")

    @method
    def echo(text: str) -> Call[str]:
        """Round trip `text` without work (for latency baselines and liveness checks)."""
        return Call("Echo", {"text": text}, "text")

    @method
    def status() -> Call[models.Status]:
        """The daemon's version, database revision, counts, drop-in problems and generation."""
        return Call("Status", {})

    @method
    def add_certificates(
        certificates: Sequence[bytes], domain: str | None = None
    ) -> Call[models.AddedCertificates]:
        """Store certificates (DER) for path building: in the shared store (domain "admin", the
        default; needs admin rights) or in the caller's own (domain "user": searched for the
        caller only, like a login keychain)."""
        parameters = _given(certificates=_certificates(certificates), domain=domain)
        return Call("AddCertificates", parameters)

    @method
    def find_certificates(
        *,
        sha1: str | bytes | None = None,
        sha256: str | bytes | None = None,
        subject: str | None = None,
        email: str | None = None,
    ) -> Call[tuple[models.StoredCertificate, ...]]:
        """Certificates of the shared store and the caller's own matching every criterion given
        (digests: hex or bytes)."""
        parameters = _given(sha1=_hex(sha1), sha256=_hex(sha256), subject=subject, email=email)
        return Call("FindCertificates", parameters, "certificates")

    @method
    def list_anchors(
        policy: models.Policy | str | None = None,
    ) -> Call[tuple[models.StoredCertificate, ...]]:
        """What ends paths as an anchor for the policy (default basic) for this user: system
        anchors nobody denied and certificates trusted as roots (``source``: the domain)."""
        parameters = {} if policy is None else {"policy": models.policies_to_wire(policy)[0]}
        return Call("ListAnchors", parameters, "certificates")

    @method
    def delete_certificate(sha1: str | bytes, domain: str | None = None) -> Call[None]:
        """Delete a certificate by SHA-1 from the shared store (domain "admin", the default) or
        the caller's own ("user"); NotFound if absent."""
        return Call("DeleteCertificate", _given(sha1=_hex(sha1), domain=domain))

    @method
    def set_trust_settings(
        domain: str, certificate: bytes, constraints: Sequence[models.UsageConstraint] = ()
    ) -> Call[None]:
        """Set a certificate's trust settings in "admin" or "user" (SecTrustSettingsSet...).

        No constraints means "always trust as root" for a self-signed certificate.
        """
        parameters = {
            "domain": domain,
            "certificate": models.b64(certificate),
            "constraints": [c.to_wire() for c in constraints],
        }
        return Call("SetTrustSettings", parameters)

    @method
    def remove_trust_settings(domain: str, sha1: str | bytes) -> Call[None]:
        """Remove a certificate's trust settings from a domain; NoTrustSettings if none."""
        parameters = {"domain": domain, "sha1": _hex(sha1)}
        return Call("RemoveTrustSettings", parameters)

    @method
    def copy_trust_settings(domain: str) -> Call[tuple[models.TrustSettingsEntry, ...]]:
        """Every trust settings entry of a domain (the caller's own for "user")."""
        return Call(
            "CopyTrustSettings",
            {"domain": domain},
            "entries",
        )

    @method
    def export_trust_settings(domain: str) -> Call[bytes]:
        """The domain's record as a macOS trust-settings XML plist (NoTrustSettings if none)."""
        return Call("ExportTrustSettings", {"domain": domain}, "plist")

    @method
    def import_trust_settings(domain: str, plist: bytes) -> Call[int]:
        """Replace the whole domain with a macOS trust-settings plist; entries imported."""
        parameters = {"domain": domain, "plist": models.b64(plist)}
        return Call("ImportTrustSettings", parameters, "entries")

    @method
    def set_exceptions(host: str, port: int, exceptions: bytes) -> Call[None]:
        """Store an exceptions blob (EvaluationResult.exceptions) for evaluations of a host."""
        parameters = {"host": host, "port": port, "exceptions": models.b64(exceptions)}
        return Call("SetExceptions", parameters)

    @method
    def list_exceptions() -> Call[tuple[models.HostExceptions, ...]]:
        """The exceptions the caller stored."""
        return Call("ListExceptions", {}, "exceptions")

    @method
    def remove_exceptions(host: str, port: int = 0) -> Call[None]:
        """Forget the exceptions stored for a host and port."""
        return Call("RemoveExceptions", {"host": host, "port": port})

    @method
    def reset_exceptions() -> Call[int]:
        """Invalidate every stored exception of the caller (SecTrustSettingsResetExceptions);
        the new epoch."""
        return Call("ResetExceptions", {}, "epoch")

    @method
    def list_profiles() -> Call[tuple[models.InstalledProfile, ...]]:
        """The configuration profiles of the daemon's profiles directory."""
        return Call("ListProfiles", {}, "profiles")

    @method
    def install_profile(data: bytes) -> Call[models.InstalledProfile]:
        """Install a configuration profile (replacing one with its identifier); admin only."""
        return Call(
            "InstallProfile",
            {"profile": models.b64(data)},
            "installed",
        )

    @method
    def remove_profile(identifier: str) -> Call[models.InstalledProfile]:
        """Remove the installed profile with this identifier; admin only."""
        parameters = {"identifier": identifier}
        return Call("RemoveProfile", parameters, "removed")

    @method
    def audit_log(
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        domain: str | None = None,
        sha1: str | bytes | None = None,
        limit: int | None = None,
    ) -> Call[tuple[models.AuditEntry, ...]]:
        """The audit log, newest first: changes at or after ``since`` and before ``until``
        (naive means UTC), in ``domain`` ("admin", "user"), of the certificate ``sha1``; at most
        ``limit`` entries (default 1000, at most 10000).  Administrators read every entry; other
        users their own changes and those of shared state (admin domain, certificate store,
        drop-in files)."""
        parameters = _given(
            since=_timestamp(since),
            until=_timestamp(until),
            domain=domain,
            sha1=_hex(sha1),
            limit=limit,
        )
        return Call("AuditLog", parameters, "entries")

    @method
    def reload() -> Call[None]:
        """Make the daemon re-read its configuration, CA bundle and drop-ins; needs admin."""
        return Call("Reload", {})
