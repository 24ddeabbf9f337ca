"""The exceptions of the trustd client library.

Every error the daemon can answer with (the ``error`` lines of ``io.trustd.Trust.varlink``, and
the standard ``org.varlink.service`` errors it sends: InvalidParameter, MethodNotFound,
InterfaceNotFound, MethodNotImplemented, ExpectedMore) has its own class here, all derived from
:class:`TrustdError`, which carries the qualified varlink error name in ``.name`` and the
error's parameters in ``.parameters``.  Any error this version does not know arrives as a plain
:class:`TrustdError`.

Each class is the error's whole description: its interface and name (the class's), its message
(``message=``, a template of its fields) and its fields (annotations: each an attribute, "" or
0 when the daemon left it out).  :data:`ERRORS`, the table from wire names to classes, is made
from them; tests/client/test_interface.py holds it against the interface description.

Problems on the client's side of the socket are :class:`ConnectionFailed` (the connection broke,
timed out or could not be made), its subclass :class:`DaemonNotRunning` (no socket, or nobody
listening on it) and :class:`ProtocolError` (the daemon's answer was not a varlink reply).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from trustd.varlink_framing import INTERFACE, SERVICE

__all__ = [
    "ERRORS",
    "ConnectionFailed",
    "DaemonNotRunning",
    "EvaluationFailed",
    "ExpectedMore",
    "InterfaceNotFound",
    "InvalidCertificate",
    "InvalidParameter",
    "InvalidProfile",
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

START_HINT = (
    "start the system service with `sudo systemctl enable --now trustd.socket`, "
    "or a daemon of your own with `trustd`"
)

ERRORS: dict[str, type[TrustdError]] = {}
"""The errors the daemon answers with, by qualified varlink name (filled as they are declared)."""

# How a field of each declared type reads a parameter (the daemon may leave one out).
_FIELD_TYPES: dict[str, Callable[[Any], Any]] = {  # by the annotation's text
    "str": lambda value: "" if value is None else str(value),
    "int": lambda value: value if isinstance(value, int) and not isinstance(value, bool) else 0,
}


class _Missing(dict[str, Any]):
    """format_map() helper: a parameter the daemon left out reads as "?"."""

    def __missing__(self, key: str) -> str:
        return "?"


class TrustdError(Exception):
    """An error answered by trustd (or met on the way to it).

    ``name`` is the qualified varlink error name (``io.trustd.Trust.NotFound``, or
    ``trustd.client.<Class>`` for problems found by the client itself) and ``parameters`` the
    error's parameters as sent.

    A subclass declares a wire error with ``interface=`` (the interface whose error it is;
    its name is the class's), ``message=`` (a template of its fields, for ``str()``) and its
    fields as annotations (``reason: str``), which become attributes.
    """

    error_name: ClassVar[str] = ""
    template: ClassVar[str] = ""
    field_types: ClassVar[dict[str, Callable[[Any], Any]]] = {}

    def __init_subclass__(
        cls, *, interface: str | None = None, message: str = "", **kwargs: Any
    ) -> None:
        super().__init_subclass__(**kwargs)
        own = inspect.get_annotations(cls)
        if clash := set(own) & {"name", "parameters", "args"}:
            raise TypeError(f"{cls.__name__}: a field may not be named {', '.join(sorted(clash))}")
        cls.field_types = {**cls.field_types, **{f: _FIELD_TYPES[t] for f, t in own.items()}}
        if message:
            cls.template = message
        if interface is not None:
            cls.error_name = f"{interface}.{cls.__name__}"
            ERRORS[cls.error_name] = cls
        elif not cls.error_name.startswith(("io.", "org.")):  # the client's own (not on the wire)
            cls.error_name = f"trustd.client.{cls.__name__}"

    def __init__(
        self,
        name: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        message: str | None = None,
    ) -> None:
        self.name: str = name or self.error_name or f"trustd.client.{type(self).__name__}"
        self.parameters: dict[str, Any] = dict(parameters or {})
        for field, read in self.field_types.items():
            setattr(self, field, read(self.parameters.get(field)))
        super().__init__(message if message is not None else self.describe())

    def describe(self) -> str:
        """A one-line explanation built from the error's parameters."""
        if self.template:
            return self.template.format_map(_Missing(self.parameters))
        if not self.parameters:
            return self.name
        details = ", ".join(f"{key}={value!r}" for key, value in sorted(self.parameters.items()))
        return f"{self.name} ({details})"


# -- io.trustd.Trust ----------------------------------------------------------------------------


class InvalidProfile(
    TrustdError, interface=INTERFACE, message="invalid configuration profile: {reason}"
):
    """A configuration profile the daemon would refuse (its reason); nothing was installed."""

    reason: str


class InvalidCertificate(TrustdError, interface=INTERFACE, message="invalid certificate: {reason}"):
    """A certificate given to the daemon does not parse."""

    reason: str  # why the certificate was refused


class UnknownPolicy(TrustdError, interface=INTERFACE, message="unknown policy {policy!r}"):
    """A policy name the daemon does not know (see the Policy type of the interface)."""

    policy: str  # as sent


class PermissionDenied(TrustdError, interface=INTERFACE, message="permission denied: {reason}"):
    """The caller (identified by its socket credentials) may not do this."""

    reason: str


class NotFound(TrustdError, interface=INTERFACE, message="not found: {what}"):
    """The certificate or exceptions named do not exist."""

    what: str  # what was looked for


class NoTrustSettings(TrustdError, interface=INTERFACE, message="no trust settings: {domain}"):
    """The domain has no trust settings for the certificate (errSecItemNotFound on macOS)."""

    domain: str  # the trust settings domain (as described by the daemon)


class InvalidTrustSettings(
    TrustdError, interface=INTERFACE, message="invalid trust settings: {reason}"
):
    """Trust settings the daemon refuses (a bad constraint, or settings a leaf cannot carry)."""

    reason: str


class RequestTooLarge(
    TrustdError, interface=INTERFACE, message="request too large (the limit is {limit} bytes)"
):
    """The request exceeded the daemon's message size limit; it closed the connection."""

    limit: int  # in bytes


class StorageFailure(
    TrustdError, interface=INTERFACE, message="trustd could not use its database: {reason}"
):
    """The daemon's database could not do the operation (disk full, I/O error); nothing of it
    was stored and nothing stored before was lost."""

    reason: str  # SQLite's


class EvaluationFailed(
    TrustdError, interface=INTERFACE, message="trustd could not evaluate: {reason}"
):
    """No evaluation worker could answer: one died or hung while it held the call (the daemon
    replaced it), or none was free.  Sending the call again can succeed."""

    reason: str


class QuotaExceeded(
    TrustdError, interface=INTERFACE, message="a user may store at most {limit} {what}"
):
    """The change would store more than one user may; nothing was changed."""

    what: str
    limit: int


class TooManyConnections(
    TrustdError,
    interface=INTERFACE,
    message="too many connections to trustd from this user (the limit is {limit})",
):
    """This user already holds as many connections to trustd as one user may."""

    limit: int


class PendingTooLarge(
    TrustdError,
    interface=INTERFACE,
    message="trustd is holding too many bytes of unfinished requests (the limit is {limit} "
    "bytes); try again when other requests are done",
):
    """This user's unfinished calls (or all users') hold as many bytes as the daemon allows;
    it closed the connection.  Sending the call again later can succeed."""

    limit: int


# -- org.varlink.service ------------------------------------------------------------------------


class InvalidParameter(
    TrustdError, interface=SERVICE, message="invalid parameter {parameter}: {reason}"
):
    """A parameter is missing, of the wrong type, not one the method takes, or out of range
    (the standard org.varlink.service.InvalidParameter; earlier daemons sent
    io.trustd.Trust.InvalidParameter, which maps here too)."""

    parameter: str  # the parameter's name
    reason: str  # what is wrong with it (trustd's addition to the standard error)

    def describe(self) -> str:
        if "reason" not in self.parameters:  # the standard error needs only the name
            return "invalid parameter {parameter}".format_map(_Missing(self.parameters))
        return super().describe()


ERRORS[f"{INTERFACE}.InvalidParameter"] = InvalidParameter  # as earlier daemons sent it


class MethodNotFound(
    TrustdError,
    interface=SERVICE,
    message="trustd does not know the method {method} (is the daemon older than the client?)",
):
    """The daemon does not know the method (it is older than this client)."""

    method: str


class MethodNotImplemented(
    TrustdError, interface=SERVICE, message="trustd does not implement the method {method}"
):
    """The daemon's interface declares the method but the daemon does not implement it."""

    method: str


class InterfaceNotFound(
    TrustdError, interface=SERVICE, message="trustd does not serve the interface {interface}"
):
    """The daemon does not serve the interface."""

    interface: str


class ExpectedMore(
    TrustdError,
    interface=SERVICE,
    message="the method streams its replies and needs to be called with more",
):
    """The method streams its replies and must be called with ``more``."""


# -- the client's own ---------------------------------------------------------------------------


class ConnectionFailed(TrustdError):
    """The connection to trustd could not be made, broke, or timed out."""


class DaemonNotRunning(ConnectionFailed):
    """Nothing answers on the socket: it does not exist, or nobody listens on it."""

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


def from_reply(name: str, parameters: Mapping[str, Any] | None) -> TrustdError:
    """The exception for an error reply: its own class if known, else a plain TrustdError."""
    cls = ERRORS.get(name, TrustdError)
    return cls(name, parameters)
