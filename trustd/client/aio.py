"""The asyncio trustd client: the same methods as :class:`trustd.client.Client`, as coroutines.

::

    from trustd.client import AsyncClient

    async with AsyncClient() as trustd:
        verdict = await trustd.evaluate([leaf_der], "basic")
        async with trustd.monitor() as changes:
            async for generation in changes:
                ...

One :class:`AsyncClient` holds one connection (asyncio.open_unix_connection), opened on the
first call; an asyncio.Lock makes each call one request/reply exchange, so tasks may share it.
Reconnection follows the blocking client: a connection found closed is replaced before a call,
and one that breaks before any reply byte arrived is replaced and the call sent once more.  A
call that is cancelled or times out drops its connection (the stream position is unknown).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
from collections.abc import AsyncIterator, Sequence
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

__all__ = ["AsyncClient", "AsyncMonitor"]

_T = TypeVar("_T")
_Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class _Broken(Exception):
    """The connection failed mid-exchange; `received` if part of a reply had arrived."""

    def __init__(self, cause: BaseException | None, received: bool) -> None:
        super().__init__(str(cause) if cause is not None else "connection closed")
        self.cause = cause
        self.received = received


async def _open(path: Path) -> _Stream:
    try:
        reader, writer = await asyncio.open_unix_connection(str(path), limit=protocol.MAX_REPLY)
    except OSError as problem:
        raise protocol.connect_error(path, problem) from problem
    try:
        protocol.check_server(writer.get_extra_info("socket"), path)
    except BaseException:
        writer.close()
        raise
    return reader, writer


async def _read_message(reader: asyncio.StreamReader) -> bytes:
    try:
        data = await reader.readuntil(b"\0")
    except asyncio.IncompleteReadError as short:
        raise _Broken(None, received=bool(short.partial)) from None
    except asyncio.LimitOverrunError:
        raise ProtocolError(message=f"trustd sent more than {protocol.MAX_REPLY} bytes") from None
    except OSError as problem:
        raise _Broken(problem, received=False) from problem
    return data[:-1]


def _idle_and_open(writer: asyncio.StreamWriter) -> bool:
    """Whether an idle connection is still open: between calls nothing may be readable, so a
    readable socket means the daemon closed it (or sent stray bytes), even if the event loop
    has not noticed yet."""
    sock = writer.get_extra_info("socket")
    if sock is None:
        return True
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    return not poller.poll(0)


def _close(stream: _Stream | None) -> None:
    if stream is not None:
        stream[1].close()


class AsyncClient:
    """An asyncio connection to trustd (io.trustd.Trust), safe to share between tasks.

    ``socket_path`` defaults to TRUSTD_SOCKET, else the daemon's default for this user;
    ``timeout`` bounds each call, in seconds (None: wait forever).  Use it in one event loop.
    """

    def __init__(
        self,
        socket_path: str | os.PathLike[str] | None = None,
        *,
        timeout: float | None = protocol.DEFAULT_TIMEOUT,
    ) -> None:
        self.socket_path: Path = protocol.resolve_socket_path(socket_path)
        self.timeout = timeout
        self._lock = asyncio.Lock()
        self._stream: _Stream | None = None

    # -- connection -----------------------------------------------------------------------------

    async def connect(self) -> None:
        """Open the connection now rather than on the first call (DaemonNotRunning if absent)."""
        async with self._lock:
            await self._connection()

    async def close(self) -> None:
        """Close the connection; a later call opens a new one."""
        async with self._lock:
            await self._drop()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        state = "connected" if self._stream is not None else "not connected"
        return f"<trustd AsyncClient {str(self.socket_path)!r} {state}>"

    async def _connection(self) -> _Stream:
        if self._stream is not None:
            reader, writer = self._stream
            if reader.at_eof() or writer.is_closing() or not _idle_and_open(writer):
                await self._drop()  # closed by the daemon (idle timeout, restart): start afresh
        if self._stream is None:
            self._stream = await _open(self.socket_path)
        return self._stream

    async def _drop(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            stream[1].close()
            with contextlib.suppress(OSError):
                await stream[1].wait_closed()

    def _forget(self) -> None:
        """Drop the connection without waiting (for paths that must not await)."""
        stream, self._stream = self._stream, None
        _close(stream)

    async def _exchange(self, stream: _Stream, message: bytes) -> dict[str, Any]:
        reader, writer = stream
        try:
            writer.write(message)
            await writer.drain()
        except OSError as problem:
            raise _Broken(problem, received=False) from problem
        return protocol.decode_reply(await _read_message(reader))

    async def _call(self, call: protocol.Call[_T]) -> _T:
        message = call.message()
        async with self._lock:
            for attempt in (1, 2):
                stream = await self._connection()
                try:
                    async with asyncio.timeout(self.timeout):
                        reply = await self._exchange(stream, message)
                except _Broken as broken:
                    self._forget()
                    if attempt == 1 and not broken.received:
                        continue
                    raise ConnectionFailed(
                        parameters={"socket": str(self.socket_path)},
                        message=f"the connection to trustd broke during {call.method}: {broken}",
                    ) from broken.cause
                except TimeoutError as problem:
                    self._forget()
                    raise ConnectionFailed(
                        parameters={"socket": str(self.socket_path)},
                        message=f"trustd did not answer {call.method} within {self.timeout} s",
                    ) from problem
                except (ProtocolError, RequestTooLarge):
                    self._forget()
                    raise
                except TrustdError:
                    raise  # an error reply: the connection is fine
                except BaseException:
                    self._forget()  # cancelled mid-exchange: the stream position is unknown
                    raise
                return call.result(reply)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- io.trustd.Trust ------------------------------------------------------------------------

    async def evaluate(
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
        """Evaluate a chain (leaf first, DER); see :meth:`trustd.client.Client.evaluate`."""
        return await self._call(
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

    async def echo(self, text: str) -> str:
        """Round trip `text` without work."""
        return await self._call(protocol.echo(text))

    async def status(self) -> Status:
        """The daemon's version, database revision, counts, drop-in problems and generation."""
        return await self._call(protocol.status())

    async def add_certificates(
        self, certificates: Sequence[bytes], domain: str | None = None
    ) -> AddedCertificates:
        """Store certificates (DER) for path building: in the shared store (domain "admin", the
        default; needs admin rights) or in the caller's own (domain "user": searched for the
        caller only, like a login keychain)."""
        return await self._call(protocol.add_certificates(certificates, domain))

    async def find_certificates(
        self,
        *,
        sha1: str | bytes | None = None,
        sha256: str | bytes | None = None,
        subject: str | None = None,
        email: str | None = None,
    ) -> tuple[StoredCertificate, ...]:
        """Certificates of the shared store and the caller's own matching every criterion given
        (digests: hex or bytes)."""
        return await self._call(protocol.find_certificates(sha1, sha256, subject, email))

    async def list_anchors(
        self, policy: Policy | str | None = None
    ) -> tuple[StoredCertificate, ...]:
        """What ends paths as an anchor for the policy (default basic) for this user: system
        anchors nobody denied and certificates trusted as roots (``source``: the domain)."""
        return await self._call(protocol.list_anchors(policy))

    async def delete_certificate(self, sha1: str | bytes, domain: str | None = None) -> None:
        """Delete a certificate by SHA-1 from the shared store (domain "admin", the default) or
        the caller's own ("user"); NotFound if absent."""
        await self._call(protocol.delete_certificate(sha1, domain))

    async def set_trust_settings(
        self, domain: str, certificate: bytes, constraints: Sequence[UsageConstraint] = ()
    ) -> None:
        """Set a certificate's trust settings in "admin" or "user"."""
        await self._call(protocol.set_trust_settings(domain, certificate, constraints))

    async def remove_trust_settings(self, domain: str, sha1: str | bytes) -> None:
        """Remove a certificate's trust settings from a domain; NoTrustSettings if none."""
        await self._call(protocol.remove_trust_settings(domain, sha1))

    async def copy_trust_settings(self, domain: str) -> tuple[TrustSettingsEntry, ...]:
        """Every trust settings entry of a domain (the caller's own for "user")."""
        return await self._call(protocol.copy_trust_settings(domain))

    async def export_trust_settings(self, domain: str) -> bytes:
        """The domain's record as a macOS trust-settings XML plist (NoTrustSettings if none)."""
        return await self._call(protocol.export_trust_settings(domain))

    async def import_trust_settings(self, domain: str, plist: bytes) -> int:
        """Replace the whole domain with a macOS trust-settings plist; entries imported."""
        return await self._call(protocol.import_trust_settings(domain, plist))

    async def set_exceptions(self, host: str, port: int, exceptions: bytes) -> None:
        """Store an exceptions blob for evaluations of a host and port."""
        await self._call(protocol.set_exceptions(host, port, exceptions))

    async def list_exceptions(self) -> tuple[HostExceptions, ...]:
        """The exceptions the caller stored."""
        return await self._call(protocol.list_exceptions())

    async def remove_exceptions(self, host: str, port: int = 0) -> None:
        """Forget the exceptions stored for a host and port."""
        await self._call(protocol.remove_exceptions(host, port))

    async def reset_exceptions(self) -> int:
        """Invalidate every stored exception of the caller; the new epoch."""
        return await self._call(protocol.reset_exceptions())

    async def list_profiles(self) -> tuple[InstalledProfile, ...]:
        """The configuration profiles of the daemon's profiles directory."""
        return await self._call(protocol.list_profiles())

    async def install_profile(self, data: bytes) -> InstalledProfile:
        """Install a configuration profile (replacing one with its identifier); admin only."""
        return await self._call(protocol.install_profile(data))

    async def remove_profile(self, identifier: str) -> InstalledProfile:
        """Remove the installed profile with this identifier; admin only."""
        return await self._call(protocol.remove_profile(identifier))

    async def audit_log(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        domain: str | None = None,
        sha1: str | bytes | None = None,
        limit: int | None = None,
    ) -> tuple[AuditEntry, ...]:
        """The audit log, newest first; see :meth:`trustd.client.Client.audit_log`."""
        return await self._call(
            protocol.audit_log(since=since, until=until, domain=domain, sha1=sha1, limit=limit)
        )

    async def reload(self) -> None:
        """Make the daemon re-read its configuration, CA bundle and drop-ins; needs admin."""
        await self._call(protocol.reload())

    def monitor(self, *, timeout: float | None = None) -> AsyncMonitor:
        """Watch trust state: an async iterator of generations (the current one, then one per
        change) on a connection of its own.

        ``async with client.monitor() as changes`` subscribes before the block starts, so no
        change made inside it is missed; plain ``async for`` subscribes on the first step.
        """
        return AsyncMonitor(self.socket_path, timeout)


class AsyncMonitor(AsyncIterator[int]):
    """An io.trustd.Trust.Monitor stream as an async iterator; aclose() when done."""

    def __init__(self, socket_path: Path, timeout: float | None = None) -> None:
        self.socket_path = socket_path
        self.timeout = timeout
        self.generation: int | None = None
        self._stream: _Stream | None = None
        self._started = False
        self._pending: list[int] = []

    async def start(self) -> None:
        """Subscribe now: connect, send the call and read the current generation."""
        if self._started:
            return
        self._stream = await _open(self.socket_path)
        self._started = True
        try:
            self._stream[1].write(protocol.MONITOR_CALL)
            await self._stream[1].drain()
            first = await self._next_reply()
        except BaseException:
            await self.aclose()
            raise
        self.generation = protocol.monitor_generation(first)
        self._pending.append(self.generation)

    async def _next_reply(self) -> dict[str, Any]:
        assert self._stream is not None
        try:
            async with asyncio.timeout(self.timeout):
                data = await _read_message(self._stream[0])
        except _Broken as broken:
            await self.aclose()
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
            await self.aclose()
        return reply

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> int:
        await self.start()
        if self._pending:
            return self._pending.pop()
        if self._stream is None:
            raise StopAsyncIteration
        self.generation = protocol.monitor_generation(await self._next_reply())
        return self.generation

    async def aclose(self) -> None:
        """End the stream (closes its connection)."""
        stream, self._stream = self._stream, None
        if stream is not None:
            stream[1].close()
            with contextlib.suppress(OSError):
                await stream[1].wait_closed()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
