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

import os
import select
import socket
import threading
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

from trustd.client import _protocol as protocol
from trustd.client.errors import ConnectionFailed, ProtocolError, RequestTooLarge, TrustdError
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
)

__all__ = ["Client", "Monitor"]

_T = TypeVar("_T")
SALVAGE_TIMEOUT = 1.0  # how long a reply may take to follow a failed send


class _Broken(Exception):
    """The connection failed mid-exchange; `received` if part of a reply had arrived."""

    def __init__(self, cause: BaseException | None, received: bool) -> None:
        super().__init__(str(cause) if cause is not None else "connection closed")
        self.cause = cause
        self.received = received


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
            raise _Broken(problem, received=bool(buffer)) from problem
        if not chunk:
            raise _Broken(None, received=bool(buffer))
        buffer.extend(chunk)
    message = bytes(buffer[:end])
    del buffer[: end + 1]
    return message


class Client:
    """A connection to trustd (io.trustd.Trust), safe to share between threads.

    ``socket_path`` defaults to TRUSTD_SOCKET, else the daemon's default for this user.
    ``timeout`` bounds each call, in seconds (None: wait forever).  Errors are
    :class:`~trustd.client.errors.TrustdError` subclasses; the daemon not running is
    :class:`~trustd.client.errors.DaemonNotRunning`.
    """

    def __init__(
        self,
        socket_path: str | os.PathLike[str] | None = None,
        *,
        timeout: float | None = protocol.DEFAULT_TIMEOUT,
    ) -> None:
        self.socket_path: Path = protocol.resolve_socket_path(socket_path)
        self.timeout = timeout
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

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

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

    def _salvage(self, sock: socket.socket) -> bytes | None:
        """After a failed send: the reply the daemon sent before closing, if any (it answers
        an oversized request with RequestTooLarge, then hangs up)."""
        try:
            sock.settimeout(SALVAGE_TIMEOUT)
            return _read_message(sock, self._buffer)
        except (_Broken, OSError):
            return None

    def _call(self, call: protocol.Call[_T]) -> _T:
        message = call.message()
        with self._lock:
            for attempt in (1, 2):
                sock = self._connection()
                try:
                    try:
                        sock.sendall(message)
                    except TimeoutError:
                        raise
                    except OSError as problem:
                        data = self._salvage(sock)
                        if data is None:
                            raise _Broken(problem, received=False) from problem
                        self._drop()  # the answer got through, the connection did not
                    else:
                        data = _read_message(sock, self._buffer)
                    reply = protocol.decode_reply(data)
                except _Broken as broken:
                    self._drop()
                    if attempt == 1 and not broken.received:
                        continue
                    raise ConnectionFailed(
                        parameters={"socket": str(self.socket_path)},
                        message=f"the connection to trustd broke during {call.method}: {broken}",
                    ) from broken.cause
                except TimeoutError as problem:
                    self._drop()
                    raise ConnectionFailed(
                        parameters={"socket": str(self.socket_path)},
                        message=f"trustd did not answer {call.method} within {self.timeout} s",
                    ) from problem
                except (ProtocolError, RequestTooLarge):
                    self._drop()  # closed by the daemon after RequestTooLarge, or garbled
                    raise
                except TrustdError:
                    raise  # an error reply: the connection is fine
                except BaseException:
                    self._drop()  # interrupted mid-exchange: the stream position is unknown
                    raise
                return call.result(reply)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- io.trustd.Trust ------------------------------------------------------------------------

    def evaluate(
        self,
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
    ) -> EvaluationResult:
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
        return self._call(
            protocol.evaluate(
                certificates,
                policies,
                host=host,
                port=port,
                anchors=anchors,
                anchors_only=anchors_only,
                verify_date=verify_date,
                exceptions=exceptions,
                crls=crls,
                explain=explain,
                network=network,
                revocation=revocation,
                ocsp_responses=ocsp_responses,
            )
        )

    def echo(self, text: str) -> str:
        """Round trip `text` without work (for latency baselines and liveness checks)."""
        return self._call(protocol.echo(text))

    def status(self) -> Status:
        """The daemon's version, database revision, counts, drop-in problems and generation."""
        return self._call(protocol.status())

    def add_certificates(
        self, certificates: Sequence[bytes], domain: str | None = None
    ) -> AddedCertificates:
        """Store certificates (DER) for path building: in the shared store (domain "admin", the
        default; needs admin rights) or in the caller's own (domain "user": searched for the
        caller only, like a login keychain)."""
        return self._call(protocol.add_certificates(certificates, domain))

    def find_certificates(
        self,
        *,
        sha1: str | bytes | None = None,
        sha256: str | bytes | None = None,
        subject: str | None = None,
        email: str | None = None,
    ) -> tuple[StoredCertificate, ...]:
        """Certificates of the shared store and the caller's own matching every criterion given
        (digests: hex or bytes)."""
        return self._call(protocol.find_certificates(sha1, sha256, subject, email))

    def list_anchors(self, policy: Policy | str | None = None) -> tuple[StoredCertificate, ...]:
        """What ends paths as an anchor for the policy (default basic) for this user: system
        anchors nobody denied and certificates trusted as roots (``source``: the domain)."""
        return self._call(protocol.list_anchors(policy))

    def delete_certificate(self, sha1: str | bytes, domain: str | None = None) -> None:
        """Delete a certificate by SHA-1 from the shared store (domain "admin", the default) or
        the caller's own ("user"); NotFound if absent."""
        self._call(protocol.delete_certificate(sha1, domain))

    def set_trust_settings(
        self, domain: str, certificate: bytes, constraints: Sequence[UsageConstraint] = ()
    ) -> None:
        """Set a certificate's trust settings in "admin" or "user" (SecTrustSettingsSet...).

        No constraints means "always trust as root" for a self-signed certificate.
        """
        self._call(protocol.set_trust_settings(domain, certificate, constraints))

    def remove_trust_settings(self, domain: str, sha1: str | bytes) -> None:
        """Remove a certificate's trust settings from a domain; NoTrustSettings if none."""
        self._call(protocol.remove_trust_settings(domain, sha1))

    def copy_trust_settings(self, domain: str) -> tuple[TrustSettingsEntry, ...]:
        """Every trust settings entry of a domain (the caller's own for "user")."""
        return self._call(protocol.copy_trust_settings(domain))

    def export_trust_settings(self, domain: str) -> bytes:
        """The domain's record as a macOS trust-settings XML plist (NoTrustSettings if none)."""
        return self._call(protocol.export_trust_settings(domain))

    def import_trust_settings(self, domain: str, plist: bytes) -> int:
        """Replace the whole domain with a macOS trust-settings plist; entries imported."""
        return self._call(protocol.import_trust_settings(domain, plist))

    def set_exceptions(self, host: str, port: int, exceptions: bytes) -> None:
        """Store an exceptions blob (EvaluationResult.exceptions) for evaluations of a host."""
        self._call(protocol.set_exceptions(host, port, exceptions))

    def list_exceptions(self) -> tuple[HostExceptions, ...]:
        """The exceptions the caller stored."""
        return self._call(protocol.list_exceptions())

    def remove_exceptions(self, host: str, port: int = 0) -> None:
        """Forget the exceptions stored for a host and port."""
        self._call(protocol.remove_exceptions(host, port))

    def reset_exceptions(self) -> int:
        """Invalidate every stored exception of the caller (SecTrustSettingsResetExceptions)."""
        return self._call(protocol.reset_exceptions())

    def list_profiles(self) -> tuple[InstalledProfile, ...]:
        """The configuration profiles of the daemon's profiles directory."""
        return self._call(protocol.list_profiles())

    def install_profile(self, data: bytes) -> InstalledProfile:
        """Install a configuration profile (replacing one with its identifier); admin only."""
        return self._call(protocol.install_profile(data))

    def remove_profile(self, identifier: str) -> InstalledProfile:
        """Remove the installed profile with this identifier; admin only."""
        return self._call(protocol.remove_profile(identifier))

    def audit_log(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        domain: str | None = None,
        sha1: str | bytes | None = None,
        limit: int | None = None,
    ) -> tuple[AuditEntry, ...]:
        """The audit log, newest first: changes at or after ``since`` and before ``until``
        (naive means UTC), in ``domain`` ("admin", "user"), of the certificate ``sha1``; at most
        ``limit`` entries (default 1000, at most 10000).  Administrators read every entry; other
        users their own changes and those of shared state (admin domain, certificate store,
        drop-in files)."""
        return self._call(
            protocol.audit_log(since=since, until=until, domain=domain, sha1=sha1, limit=limit)
        )

    def reload(self) -> None:
        """Make the daemon re-read its configuration, CA bundle and drop-ins; needs admin."""
        self._call(protocol.reload())

    def monitor(self, *, timeout: float | None = None) -> Monitor:
        """Watch trust state: the current generation, then one per change.

        The stream has its own connection, opened (and the first generation read) before this
        returns, so no change made afterwards is missed.  ``timeout`` bounds each wait.
        """
        return Monitor(self.socket_path, timeout)


class Monitor(Iterator[int]):
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
        except _Broken as broken:
            self.close()
            raise ConnectionFailed(
                parameters={"socket": str(self.socket_path)},
                message="trustd closed the Monitor stream",
            ) from broken.cause
        except TimeoutError as problem:
            raise ConnectionFailed(
                parameters={"socket": str(self.socket_path)},
                message="no change announced within the monitor timeout",
            ) from problem
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

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
