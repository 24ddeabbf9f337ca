"""What the blocking and the asyncio clients share below their methods: the socket path, the
checks on connecting, message framing, :class:`Call` (a method call's parameters on the way out,
its decoder on the way back), the reply decoders, and what a failed exchange becomes.  The
methods themselves are declared once in trustd.client._surface.

The framing itself (NUL-terminated JSON messages, the size limit, SO_PEERCRED) is
trustd.varlink_framing, which the daemon uses too.
"""

from __future__ import annotations

import abc
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar, cast

from trustd import varlink_framing as framing
from trustd.client.errors import (
    ConnectionFailed,
    DaemonNotRunning,
    ProtocolError,
    RequestTooLarge,
    TrustdError,
    from_reply,
)
from trustd.client.models import Read, reader
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


def checked_size(data: bytes) -> bytes:
    """`data`, a NUL-terminated call message; RequestTooLarge if the daemon would refuse it."""
    if len(data) > MAX_REQUEST + len(framing.NUL):
        raise RequestTooLarge(parameters={"limit": MAX_REQUEST})
    return data


def encode_call(method: str, parameters: Mapping[str, Any], more: bool = False) -> bytes:
    """One call message, NUL-terminated; RequestTooLarge if the daemon would refuse its size."""
    return checked_size(
        framing.encode(framing.call(f"{INTERFACE}.{method}", parameters, more=more))
    )


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
    """One method call: its name and parameters, and the reply field that holds its result
    (None: the reply's parameters are the result, or there is none).  The result's type, _T,
    says how the reply is decoded: trustd.client._surface.method reads it off the builder."""

    method: str
    parameters: dict[str, Any]
    result: str | None = None

    def message(self) -> bytes:
        """The call as a NUL-terminated message."""
        return encode_call(self.method, self.parameters)

    def decode(self, reply: Mapping[str, Any], read: Read) -> _T:
        """The result of a (non-error) reply message, as `read` (_T's reader) makes it."""
        parameters = reply.get("parameters", {})
        if self.result is None:
            return cast(_T, read(parameters, "parameters"))
        return cast(_T, read(parameters.get(self.result), self.result))


@dataclass(frozen=True, slots=True)
class Encoded(Call[_T]):
    """A call whose message was encoded by its maker (`data`, NUL-terminated, size checked);
    `parameters` may then be left empty."""

    data: bytes = b""

    def message(self) -> bytes:
        """The call as a NUL-terminated message, as it was given."""
        return self.data


MONITOR: Call[int] = Call("Monitor", {}, "generation")  # its replies announce generations
MONITOR_CALL = encode_call(MONITOR.method, MONITOR.parameters, more=True)
_GENERATION = reader(int)


def monitor_generation(reply: Mapping[str, Any]) -> int:
    """The generation a Monitor reply announces."""
    return MONITOR.decode(reply, _GENERATION)


# -- what a failed exchange becomes -------------------------------------------------------------


class Broken(Exception):
    """The connection failed mid-exchange; `received` if part of a reply had arrived."""

    def __init__(self, cause: BaseException | None, received: bool) -> None:
        super().__init__(str(cause) if cause is not None else "connection closed")
        self.cause = cause
        self.received = received


def connection_failed(path: Path, message: str) -> ConnectionFailed:
    """ConnectionFailed for the socket `path`."""
    return ConnectionFailed(parameters={"socket": str(path)}, message=message)


def monitor_closed(path: Path) -> ConnectionFailed:
    """What a Monitor stream raises when the daemon ends it (it stopped)."""
    return connection_failed(path, "trustd closed the Monitor stream")


def monitor_silent(path: Path) -> ConnectionFailed:
    """What a Monitor stream raises when no change came within its timeout."""
    return connection_failed(path, "no change announced within the monitor timeout")


class Transport(abc.ABC):
    """The part of a client below the methods: where the daemon listens, how long a call may
    take, and what a failed call raises."""

    def __init__(
        self,
        socket_path: str | os.PathLike[str] | None = None,
        *,
        timeout: float | None = DEFAULT_TIMEOUT,
    ) -> None:
        self.socket_path: Path = resolve_socket_path(socket_path)
        self.timeout = timeout
        self._disconnected()

    @abc.abstractmethod
    def _disconnected(self) -> None:
        """Set up the transport's own state, without a connection (called by __init__)."""

    @abc.abstractmethod
    def _forget(self) -> None:
        """Drop the connection at once (the next call opens a new one)."""

    @abc.abstractmethod
    def _call(self, call: Call[_T], read: Read) -> Any:
        """Send `call`, and decode its reply with `read`: the result, or (Asynchronous) a
        coroutine of it."""

    def _retry_or_raise(self, call: Call[Any], problem: BaseException, attempt: int) -> None:
        """After the `attempt`th exchange of `call` raised `problem`: return to send the call
        once more on a new connection (the first broke before any reply byte arrived), else
        raise what the caller gets.

        Only an error reply leaves the connection usable; after anything else (a broken,
        timed-out or garbled exchange, RequestTooLarge, after which the daemon hangs up, an
        interruption) the stream position is unknown, and the connection is dropped.
        """
        if not isinstance(problem, TrustdError) or isinstance(
            problem, (ProtocolError, RequestTooLarge)
        ):
            self._forget()
        if isinstance(problem, Broken):
            if attempt == 1 and not problem.received:
                return
            raise connection_failed(
                self.socket_path, f"the connection to trustd broke during {call.method}: {problem}"
            ) from problem.cause
        if isinstance(problem, TimeoutError):
            raise connection_failed(
                self.socket_path, f"trustd did not answer {call.method} within {self.timeout} s"
            ) from problem
        raise problem
