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

import abc
import asyncio
import contextlib
import select
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

from trustd.client import _protocol as protocol
from trustd.client._protocol import Broken
from trustd.client._surface import Asynchronous, Methods
from trustd.client.errors import ProtocolError
from trustd.client.models import Read

__all__ = ["AsyncClient", "AsyncMonitor"]

_T = TypeVar("_T")
_Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


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
        raise Broken(None, received=bool(short.partial)) from None
    except asyncio.LimitOverrunError:
        raise ProtocolError(message=f"trustd sent more than {protocol.MAX_REPLY} bytes") from None
    except OSError as problem:
        raise Broken(problem, received=False) from problem
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


async def _close_and_wait(stream: _Stream | None) -> None:
    _close(stream)
    if stream is not None:
        with contextlib.suppress(OSError):
            await stream[1].wait_closed()


class _ClosedByAsyncWith(abc.ABC):
    """``async with`` closes it when the block ends."""

    @abc.abstractmethod
    async def _end(self) -> None:
        """Close it."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._end()


class AsyncClient(Methods, Asynchronous, _ClosedByAsyncWith):
    """An asyncio connection to trustd (io.trustd.Trust), safe to share between tasks.

    ``socket_path`` defaults to TRUSTD_SOCKET, else the daemon's default for this user;
    ``timeout`` bounds each call, in seconds (None: wait forever).  Use it in one event loop.
    """

    def _disconnected(self) -> None:
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

    _end = close

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
        await _close_and_wait(stream)

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
            raise Broken(problem, received=False) from problem
        return protocol.decode_reply(await _read_message(reader))

    async def _call(self, call: protocol.Call[_T], read: Read) -> _T:
        message = call.message()
        async with self._lock:
            for attempt in (1, 2):
                stream = await self._connection()
                try:
                    async with asyncio.timeout(self.timeout):
                        reply = await self._exchange(stream, message)
                except BaseException as problem:  # cancelled too: the stream position is unknown
                    self._retry_or_raise(call, problem, attempt)
                else:
                    return call.decode(reply, read)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- io.trustd.Trust: the methods of Methods, and Monitor ----------------------------------

    def monitor(self, *, timeout: float | None = None) -> AsyncMonitor:
        """Watch trust state: an async iterator of generations (the current one, then one per
        change) on a connection of its own.

        ``async with client.monitor() as changes`` subscribes before the block starts, so no
        change made inside it is missed; plain ``async for`` subscribes on the first step.
        """
        return AsyncMonitor(self.socket_path, timeout)


class AsyncMonitor(AsyncIterator[int], _ClosedByAsyncWith):
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
        except Broken as broken:
            await self.aclose()
            raise protocol.monitor_closed(self.socket_path) from broken.cause
        except TimeoutError as problem:
            raise protocol.monitor_silent(self.socket_path) from problem
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
        await _close_and_wait(stream)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    _end = aclose
