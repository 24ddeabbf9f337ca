"""The blocking trustd client.

::

    from trustd.client import Client, Policy

    with Client() as trustd:                      # TRUSTD_SOCKET or the default socket
        verdict = trustd.evaluate([leaf_der, intermediate_der], Policy.ssl("www.example.com"))
        if not verdict.trusted:
            print(verdict.message, verdict.checks)

One :class:`Client` holds one connection, opened on the first call (or by :meth:`Client.connect`)
and shared by all threads: a lock makes each call a single request/reply exchange.  A connection
the daemon closed in the meantime (idle timeout, restart) is noticed and replaced before the next
call; a connection that breaks during a call before any reply byte arrived is replaced and the
call sent once more.  Monitor streams on a connection of its own.
"""

from __future__ import annotations

import abc
import select
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

from trustd.client import _protocol as protocol
from trustd.client._protocol import Broken
from trustd.client._surface import Blocking, Methods
from trustd.client.errors import ProtocolError
from trustd.client.models import Read

__all__ = ["Client", "Monitor"]

_T = TypeVar("_T")
SALVAGE_TIMEOUT = 1.0  # how long a reply may take to follow a failed send


def _open(path: Path, timeout: float | None) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(path))
    except OSError as problem:
        sock.close()
        raise protocol.connect_error(path, problem) from problem
    try:
        protocol.check_server(sock, path)
    except BaseException:
        sock.close()
        raise
    return sock


def _alive(sock: socket.socket) -> bool:
    """Whether an idle connection is still open and clean (no EOF, no unsolicited bytes)."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    if not poller.poll(0):
        return True
    try:
        return not sock.recv(1, socket.MSG_PEEK)  # readable while idle: EOF or stray data
    except OSError:
        return False


def _read_message(sock: socket.socket, buffer: bytearray) -> bytes:
    """The next NUL-terminated message, keeping what follows it in `buffer`."""
    while (end := buffer.find(b"\0")) < 0:
        if len(buffer) > protocol.MAX_REPLY:
            raise ProtocolError(message=f"trustd sent more than {protocol.MAX_REPLY} bytes")
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            raise
        except OSError as problem:
            raise Broken(problem, received=bool(buffer)) from problem
        if not chunk:
            raise Broken(None, received=bool(buffer))
        buffer.extend(chunk)
    message = bytes(buffer[:end])
    del buffer[: end + 1]
    return message


class _ClosedByWith(abc.ABC):
    """``with`` closes it when the block ends."""

    @abc.abstractmethod
    def close(self) -> None:
        """Close it."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class Client(Methods, Blocking, _ClosedByWith):
    """A connection to trustd (io.trustd.Trust), safe to share between threads.

    ``socket_path`` defaults to TRUSTD_SOCKET, else the daemon's default for this user.
    ``timeout`` bounds each call, in seconds (None: wait forever).  Errors are
    :class:`~trustd.client.errors.TrustdError` subclasses; the daemon not running is
    :class:`~trustd.client.errors.DaemonNotRunning`.
    """

    def _disconnected(self) -> None:
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._buffer = bytearray()

    # -- connection -----------------------------------------------------------------------------

    def connect(self) -> None:
        """Open the connection now rather than on the first call (DaemonNotRunning if absent)."""
        with self._lock:
            self._connection()

    def close(self) -> None:
        """Close the connection; a later call opens a new one."""
        with self._lock:
            self._drop()

    def __repr__(self) -> str:
        state = "connected" if self._sock is not None else "not connected"
        return f"<trustd Client {str(self.socket_path)!r} {state}>"

    def _connection(self) -> socket.socket:
        if self._sock is not None and not _alive(self._sock):
            self._drop()
        if self._sock is None:
            self._sock = _open(self.socket_path, self.timeout)
            self._buffer.clear()
        return self._sock

    def _drop(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._buffer.clear()

    _forget = _drop

    def _salvage(self, sock: socket.socket) -> bytes | None:
        """After a failed send: the reply the daemon sent before closing, if any (it answers
        an oversized request with RequestTooLarge, then hangs up)."""
        try:
            sock.settimeout(SALVAGE_TIMEOUT)
            return _read_message(sock, self._buffer)
        except (Broken, OSError):
            return None

    def _exchange(self, sock: socket.socket, message: bytes) -> dict[str, Any]:
        try:
            sock.sendall(message)
        except TimeoutError:
            raise
        except OSError as problem:
            data = self._salvage(sock)
            if data is None:
                raise Broken(problem, received=False) from problem
            self._drop()  # the answer got through, the connection did not
        else:
            data = _read_message(sock, self._buffer)
        return protocol.decode_reply(data)

    def _call(self, call: protocol.Call[_T], read: Read) -> _T:
        message = call.message()
        with self._lock:
            for attempt in (1, 2):
                sock = self._connection()
                try:
                    reply = self._exchange(sock, message)
                except BaseException as problem:
                    self._retry_or_raise(call, problem, attempt)
                else:
                    return call.decode(reply, read)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- io.trustd.Trust: the methods of Methods, and Monitor ----------------------------------

    def monitor(self, *, timeout: float | None = None) -> Monitor:
        """Watch trust state: the current generation, then one per change.

        The stream has its own connection, opened (and the first generation read) before this
        returns, so no change made afterwards is missed.  ``timeout`` bounds each wait.
        """
        return Monitor(self.socket_path, timeout)


class Monitor(Iterator[int], _ClosedByWith):
    """An io.trustd.Trust.Monitor stream: iterate for generations; close() when done.

    ``generation`` is the generation at subscription time, which is also the first value the
    iteration yields.  The daemon ending the stream (it stopped) raises ConnectionFailed.
    """

    def __init__(self, socket_path: Path, timeout: float | None = None) -> None:
        self.socket_path = socket_path
        self._sock: socket.socket | None = _open(socket_path, timeout)
        self._buffer = bytearray()
        try:
            self._sock.sendall(protocol.MONITOR_CALL)
            first = self._next_reply()
        except BaseException:
            self.close()
            raise
        self.generation: int = protocol.monitor_generation(first)
        self._pending: list[int] = [self.generation]

    def _next_reply(self) -> dict[str, Any]:
        assert self._sock is not None
        try:
            data = _read_message(self._sock, self._buffer)
        except Broken as broken:
            self.close()
            raise protocol.monitor_closed(self.socket_path) from broken.cause
        except TimeoutError as problem:
            raise protocol.monitor_silent(self.socket_path) from problem
        reply = protocol.decode_reply(data)
        if not reply.get("continues", False):
            self.close()  # the last reply of the stream
        return reply

    def __next__(self) -> int:
        if self._pending:
            return self._pending.pop()
        if self._sock is None:
            raise StopIteration
        self.generation = protocol.monitor_generation(self._next_reply())
        return self.generation

    def __iter__(self) -> Self:
        return self

    def close(self) -> None:
        """End the stream (closes its connection)."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
