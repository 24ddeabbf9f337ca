"""The exceptions of the trustd client library.

Every error the daemon can answer with (the ``error`` lines of ``io.trustd.Trust.varlink``, and
the standard ``org.varlink.service`` errors it sends: InvalidParameter, MethodNotFound,
InterfaceNotFound, MethodNotImplemented, ExpectedMore) has its own class here, all derived from
:class:`TrustdError`, which carries the qualified varlink error name in ``.name`` and the
error's parameters in ``.parameters``.  Any error this version does not know arrives as a plain
:class:`TrustdError`.

Problems on the client's side of the socket are :class:`ConnectionFailed` (the connection broke,
timed out or could not be made), its subclass :class:`DaemonNotRunning` (no socket, or nobody
listening on it) and :class:`ProtocolError` (the daemon's answer was not a varlink reply).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

__all__ = [
    "ERRORS",
    "ConnectionFailed",
    "DaemonNotRunning",
    "ExpectedMore",
    "InterfaceNotFound",
    "InvalidCertificate",
    "InvalidParameter",
    "InvalidTrustSettings",
    "MethodNotFound",
    "MethodNotImplemented",
    "NoTrustSettings",
    "NotFound",
    "PendingTooLarge",
    "PermissionDenied",
    "ProtocolError",
    "QuotaExceeded",
    "RequestTooLarge",
    "StorageFailure",
    "TooManyConnections",
    "TrustdError",
    "UnknownPolicy",
    "from_reply",
]

INTERFACE = "io.trustd.Trust"
SERVICE = "org.varlink.service"
START_HINT = (
    "start the system service with `sudo systemctl enable --now trustd.socket`, "
    "or a daemon of your own with `trustd`"
)


class _Missing(dict[str, Any]):
    """format_map() helper: a parameter the daemon left out reads as "?"."""

    def __missing__(self, key: str) -> str:
        return "?"


class TrustdError(Exception):
    """An error answered by trustd (or met on the way to it).

    ``name`` is the qualified varlink error name (``io.trustd.Trust.NotFound``, or
    ``trustd.client.<Class>`` for problems found by the client itself) and ``parameters`` the
    error's parameters as sent.
    """

    error_name: ClassVar[str] = ""
    template: ClassVar[str] = ""

    def __init__(
        self,
        name: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        message: str | None = None,
    ) -> None:
        self.name: str = name or self.error_name or f"trustd.client.{type(self).__name__}"
        self.parameters: dict[str, Any] = dict(parameters or {})
        super().__init__(message if message is not None else self.describe())

    def describe(self) -> str:
        """A one-line explanation built from the error's parameters."""
        if self.template:
            return self.template.format_map(_Missing(self.parameters))
        if not self.parameters:
            return self.name
        details = ", ".join(f"{key}={value!r}" for key, value in sorted(self.parameters.items()))
        return f"{self.name} ({details})"

    def _text(self, key: str) -> str:
        value = self.parameters.get(key)
        return "" if value is None else str(value)


class InvalidProfile(TrustdError):
    """A configuration profile the daemon would refuse (its reason); nothing was installed."""

    error_name = f"{INTERFACE}.InvalidProfile"
    template = "invalid configuration profile: {reason}"


class InvalidCertificate(TrustdError):
    """A certificate given to the daemon does not parse."""

    error_name = f"{INTERFACE}.InvalidCertificate"
    template = "invalid certificate: {reason}"

    @property
    def reason(self) -> str:
        """Why the certificate was refused."""
        return self._text("reason")


class UnknownPolicy(TrustdError):
    """A policy name the daemon does not know (see the Policy type of the interface)."""

    error_name = f"{INTERFACE}.UnknownPolicy"
    template = "unknown policy {policy!r}"

    @property
    def policy(self) -> str:
        """The policy name as sent."""
        return self._text("policy")


class InvalidParameter(TrustdError):
    """A parameter is missing, of the wrong type, not one the method takes, or out of range
    (the standard org.varlink.service.InvalidParameter; earlier daemons sent
    io.trustd.Trust.InvalidParameter, which maps here too)."""

    error_name = f"{SERVICE}.InvalidParameter"
    template = "invalid parameter {parameter}: {reason}"

    def describe(self) -> str:
        if "reason" not in self.parameters:  # the standard error needs only the name
            return "invalid parameter {parameter}".format_map(_Missing(self.parameters))
        return super().describe()

    @property
    def parameter(self) -> str:
        """The parameter's name."""
        return self._text("parameter")

    @property
    def reason(self) -> str:
        """What is wrong with it."""
        return self._text("reason")


class PermissionDenied(TrustdError):
    """The caller (identified by its socket credentials) may not do this."""

    error_name = f"{INTERFACE}.PermissionDenied"
    template = "permission denied: {reason}"

    @property
    def reason(self) -> str:
        """Why the daemon refused."""
        return self._text("reason")


class NotFound(TrustdError):
    """The certificate or exceptions named do not exist."""

    error_name = f"{INTERFACE}.NotFound"
    template = "not found: {what}"

    @property
    def what(self) -> str:
        """What was looked for."""
        return self._text("what")


class NoTrustSettings(TrustdError):
    """The domain has no trust settings for the certificate (errSecItemNotFound on macOS)."""

    error_name = f"{INTERFACE}.NoTrustSettings"
    template = "no trust settings: {domain}"

    @property
    def domain(self) -> str:
        """The trust settings domain (as described by the daemon)."""
        return self._text("domain")


class InvalidTrustSettings(TrustdError):
    """Trust settings the daemon refuses (a bad constraint, or settings a leaf cannot carry)."""

    error_name = f"{INTERFACE}.InvalidTrustSettings"
    template = "invalid trust settings: {reason}"

    @property
    def reason(self) -> str:
        """Why the settings were refused."""
        return self._text("reason")


class RequestTooLarge(TrustdError):
    """The request exceeded the daemon's message size limit; it closed the connection."""

    error_name = f"{INTERFACE}.RequestTooLarge"
    template = "request too large (the limit is {limit} bytes)"

    @property
    def limit(self) -> int:
        """The limit in bytes."""
        value = self.parameters.get("limit")
        return value if isinstance(value, int) else 0


class StorageFailure(TrustdError):
    """The daemon's database could not do the operation (disk full, I/O error); nothing of it
    was stored and nothing stored before was lost."""

    error_name = f"{INTERFACE}.StorageFailure"
    template = "trustd could not use its database: {reason}"

    @property
    def reason(self) -> str:
        """SQLite's reason."""
        return self._text("reason")


class QuotaExceeded(TrustdError):
    """The change would store more than one user may; nothing was changed."""

    error_name = f"{INTERFACE}.QuotaExceeded"
    template = "a user may store at most {limit} {what}"


class TooManyConnections(TrustdError):
    """This user already holds as many connections to trustd as one user may."""

    error_name = f"{INTERFACE}.TooManyConnections"
    template = "too many connections to trustd from this user (the limit is {limit})"


class PendingTooLarge(TrustdError):
    """This user's unfinished calls (or all users') hold as many bytes as the daemon allows;
    it closed the connection.  Sending the call again later can succeed."""

    error_name = f"{INTERFACE}.PendingTooLarge"
    template = (
        "trustd is holding too many bytes of unfinished requests (the limit is {limit} bytes); "
        "try again when other requests are done"
    )


class MethodNotFound(TrustdError):
    """The daemon does not know the method (it is older than this client)."""

    error_name = f"{SERVICE}.MethodNotFound"
    template = "trustd does not know the method {method} (is the daemon older than the client?)"


class MethodNotImplemented(TrustdError):
    """The daemon's interface declares the method but the daemon does not implement it."""

    error_name = f"{SERVICE}.MethodNotImplemented"
    template = "trustd does not implement the method {method}"


class InterfaceNotFound(TrustdError):
    """The daemon does not serve the interface."""

    error_name = f"{SERVICE}.InterfaceNotFound"
    template = "trustd does not serve the interface {interface}"


class ExpectedMore(TrustdError):
    """The method streams its replies and must be called with ``more``."""

    error_name = f"{SERVICE}.ExpectedMore"
    template = "the method streams its replies and needs to be called with more"


class ConnectionFailed(TrustdError):
    """The connection to trustd could not be made, broke, or timed out."""

    error_name = "trustd.client.ConnectionFailed"


class DaemonNotRunning(ConnectionFailed):
    """Nothing answers on the socket: it does not exist, or nobody listens on it."""

    error_name = "trustd.client.DaemonNotRunning"

    def __init__(
        self, socket_path: str | Path, detail: str = "no socket", also: Sequence[Path] = ()
    ) -> None:
        """`also`: the other places the client looked, each without a socket."""
        self.socket_path = Path(socket_path)
        elsewhere = "".join(f"; no socket at {path} either" for path in also)
        super().__init__(
            parameters={"socket": str(socket_path), "detail": detail},
            message=f"trustd is not running ({detail} at {socket_path}{elsewhere}): {START_HINT}",
        )


class ProtocolError(TrustdError):
    """The daemon's answer is not a valid varlink reply, or not the reply expected."""

    error_name = "trustd.client.ProtocolError"


ERRORS: dict[str, type[TrustdError]] = {
    cls.error_name: cls
    for cls in (
        InvalidCertificate,
        InvalidProfile,
        UnknownPolicy,
        InvalidParameter,
        PermissionDenied,
        NotFound,
        NoTrustSettings,
        InvalidTrustSettings,
        RequestTooLarge,
        StorageFailure,
        TooManyConnections,
        QuotaExceeded,
        PendingTooLarge,
        MethodNotFound,
        MethodNotImplemented,
        InterfaceNotFound,
        ExpectedMore,
    )
}
"""The errors the daemon answers with, by qualified varlink name."""
ERRORS[f"{INTERFACE}.InvalidParameter"] = InvalidParameter  # as earlier daemons sent it


def from_reply(name: str, parameters: Mapping[str, Any] | None) -> TrustdError:
    """The exception for an error reply: its own class if known, else a plain TrustdError."""
    cls = ERRORS.get(name, TrustdError)
    return cls(name, parameters)
