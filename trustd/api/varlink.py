"""A varlink server over a Unix socket (https://varlink.org), with SO_PEERCRED identities.

Messages are JSON objects terminated by a NUL byte (trustd.varlink_framing, which the client
shares).  A call is
`{"method": "iface.Method", "parameters": {...}, "more": bool, "oneway": bool}`; a reply is
`{"parameters": {...}}`, with `"continues": true` on every reply of a `more` call but the last,
or `{"error": "iface.ErrorName", "parameters": {...}}`.  The standard interface
org.varlink.service (GetInfo, GetInterfaceDescription) is built in.

Each connection is served by its own thread; a connection that sends more than MAX_MESSAGE
bytes without a NUL gets RequestTooLarge and is closed, one that stays idle longer than
IDLE_TIMEOUT is closed, and nothing a client sends can affect another connection.  The bytes
of unfinished calls (and of calls being answered) beyond PENDING_FREE a connection are counted
against its user's budget (`max_pending_per_user`) and against one for all users
(`max_pending`): a connection that would go over either gets PendingTooLarge and is closed, so
that neither one user's connections nor all of them together hold memory without bound.

Every call's parameters are checked against the method's declaration in the interface
description before its handler runs (trustd.api.idl): undeclared, missing or mistyped
parameters get org.varlink.service.InvalidParameter; a method the description declares but
no handler implements gets MethodNotImplemented.  JSON nested deeper than the decoder can go
is answered InvalidParameter too.  A user
other than root and the daemon's own may hold at most `max_per_user` connections at once
(each holds a thread): one more is answered TooManyConnections and closed, so that no user
can take every thread from the others.

An interface may let the server answer a repeated call without decoding it (`Interface.recall`):
a handler's reply that carries a token (`Encoded.token`) is remembered under the caller's uid
and the SHA-256 of the call's bytes; when the same uid sends the same bytes again, the server
asks the interface for that token's reply, and answers with it if the interface still has one
that holds (an Evaluate verdict still in its reply cache).  Only plain calls are remembered (no
`more`, `oneway` or `upgrade`), at most RECALL_PER_USER of one uid and RECALL_ENTRIES in all.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import hashlib
import logging
import os
import selectors
import socket
import socketserver
import struct
import threading
import time
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from trustd.api import idl
from trustd.core.verdict_cache import VerdictCache
from trustd.varlink_framing import (
    INTERFACE,
    NUL,
    Malformed,
    decode,
    encode,
    encode_reply,
    peer_credentials,
)
from trustd.varlink_framing import MAX_MESSAGE as MAX_MESSAGE  # noqa: PLC0414 (the daemon's too)
from trustd.varlink_framing import SERVICE as SERVICE  # noqa: PLC0414 (the daemon's too)
from trustd.varlink_framing import error as _framed_error

log = logging.getLogger("trustd.api")

IDLE_TIMEOUT = 120.0
MAX_CONNECTIONS_PER_USER = 64
PENDING_FREE = 64 * 1024  # of a connection's unfinished bytes, not counted (any ordinary call)
MAX_PENDING_PER_USER = 2 * MAX_MESSAGE  # bytes of unfinished calls of one user, past the free
MAX_PENDING = 8 * MAX_MESSAGE  # of all users together
RECALL_PER_USER = 1000  # calls of one uid remembered for Interface.recall
RECALL_ENTRIES = 20_000  # of all users together (about 550 bytes each: 11 MB at most)


@dataclass(frozen=True, slots=True)
class Peer:
    """Who is on the other end of a connection, from SO_PEERCRED (and SO_PEERGROUPS)."""

    pid: int
    uid: int
    gid: int
    # The supplementary groups the client had when it connected; None: the kernel cannot say.
    supplementary: frozenset[int] | None = None

    def groups(self) -> frozenset[int]:
        """The peer's supplementary groups when it connected, plus its primary group.

        Never read from /proc/<pid>: once the client exits, its pid can belong to another
        process (of the admin group, say) while the connection lives on elsewhere.  Without
        SO_PEERGROUPS (Linux before 4.13) only the primary group counts.
        """
        return frozenset({self.gid, *(self.supplementary or ())})


SO_PEERGROUPS = getattr(socket, "SO_PEERGROUPS", 59)  # Linux 4.13; asm-generic value
_INT = struct.calcsize("I")


def _peer_groups(connection: socket.socket) -> frozenset[int] | None:
    for count in (64, 65536):  # a larger buffer when the first is too small (ERANGE)
        try:
            data = connection.getsockopt(socket.SOL_SOCKET, SO_PEERGROUPS, count * _INT)
        except OSError as problem:
            if problem.errno == errno.ERANGE:
                continue
            return None
        return frozenset(struct.unpack(f"{len(data) // _INT}I", data))
    return None


def peer_of(connection: socket.socket) -> Peer:
    return Peer(*peer_credentials(connection), _peer_groups(connection))


class Encoded(dict[str, Any]):
    """Reply parameters already encoded as JSON (`text`): sent as they are, not re-encoded.

    `token`: what the interface's `recall` takes to give this reply again (None: it cannot)."""

    def __init__(self, text: str, token: Hashable | None = None) -> None:
        super().__init__()
        self.text = text
        self.token = token


class VarlinkError(Exception):
    """A varlink error reply: a qualified error name and its parameters."""

    def __init__(self, name: str, **parameters: Any) -> None:
        super().__init__(f"{name} {parameters}")
        self.name = name
        self.parameters = parameters


Handler = Callable[[Peer, Mapping[str, Any]], "Mapping[str, Any] | Iterator[Mapping[str, Any]]"]
# The reply for a token one of an interface's handlers gave (Encoded.token), if the interface
# still has one that holds now; None otherwise (the call is then decoded and answered anew).
Recall = Callable[[Peer, Hashable], Encoded | None]


@dataclass
class Interface:
    """One varlink interface: its name, its description text and its method handlers.

    A handler returns the reply parameters, or an iterator of them for a streaming method (all
    but the last sent with continues=true when the caller asked for more).
    """

    name: str
    description: str
    methods: dict[str, Handler]
    streaming: frozenset[str] = frozenset()
    recall: Recall | None = None
    definition: idl.Definition = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.definition = idl.parse(self.description)
        if self.definition.name != self.name:
            raise ValueError(f"the description is of {self.definition.name}, not {self.name}")
        undeclared = set(self.methods) - set(self.definition.methods)
        if undeclared:
            raise ValueError(f"{self.name} does not declare {', '.join(sorted(undeclared))}")


@dataclass
class ServiceInfo:
    vendor: str
    product: str
    version: str
    url: str


class VarlinkServer:
    """Serves interfaces on listening Unix sockets, one thread per connection."""

    def __init__(
        self,
        info: ServiceInfo,
        interfaces: list[Interface],
        *,
        idle_timeout: float = IDLE_TIMEOUT,
        max_per_user: int = MAX_CONNECTIONS_PER_USER,
        max_pending_per_user: int = MAX_PENDING_PER_USER,
        max_pending: int = MAX_PENDING,
    ) -> None:
        self.info = info
        self.idle_timeout = idle_timeout
        self.max_per_user = max_per_user
        self.max_pending_per_user = max_pending_per_user
        self.max_pending = max_pending
        self._connections: collections.Counter[int] = collections.Counter()
        self._pending: collections.Counter[int] = collections.Counter()
        self._pending_total = 0
        self._unlimited = frozenset({0, os.geteuid()})
        self.interfaces = {i.name: i for i in interfaces}
        self._servers: list[_ThreadedServer] = []
        self._threads: list[threading.Thread] = []
        self.active = 0
        self._active_lock = threading.Lock()
        self.idle = threading.Condition(self._active_lock)
        self._open: set[socket.socket] = set()  # connections being served
        # (uid, SHA-256 of a call) -> (its interface's recall, its method, its reply's token)
        self._recalls: VerdictCache[tuple[int, bytes], tuple[Recall, str, Hashable]] | None = (
            VerdictCache(RECALL_ENTRIES, per_owner=RECALL_PER_USER)
            if any(i.recall is not None for i in interfaces)
            else None
        )

    # -- sockets -------------------------------------------------------------------------------

    def listen(self, path: str) -> None:
        """Listen on a new socket at `path`, replacing a stale one; mode 0666 (all may connect)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        server = _ThreadedServer(path, _Connection, bind_and_activate=True)
        server.own = True
        os.chmod(path, 0o666)
        self._adopt(server)

    def adopt(self, listening: socket.socket) -> None:
        """Serve an already listening socket (systemd socket activation)."""
        server = _ThreadedServer("", _Connection, bind_and_activate=False)
        server.socket.close()
        server.socket = listening
        server.server_address = listening.getsockname()
        self._adopt(server)

    def _adopt(self, server: _ThreadedServer) -> None:
        server.varlink = self
        self._servers.append(server)
        thread = threading.Thread(target=server.serve_forever, name="varlink-accept", daemon=True)
        thread.start()
        self._threads.append(thread)

    def shutdown(self, timeout: float = 30.0, grace: float = 1.0) -> None:
        """Stop, answering every call already accepted; wait at most `timeout` for them.

        The accept loops stop; connections the kernel has queued on our own sockets (the
        backlog) are accepted and served like the others, before the listening socket is
        closed: closing it would reset them, with their requests unanswered.  (A socket
        systemd passed keeps its queue for the next start.)  Connections then have `grace`
        seconds to send their next call; after that the reading side of each is shut: what a
        client already sent is read and answered, then it sees the end of the connection.
        """
        for server in self._servers:
            server.shutdown()
        for server in self._servers:
            if server.own:
                server.drain()
            server.server_close()
        deadline = time.monotonic() + timeout
        with self.idle:
            self.idle.wait_for(lambda: not self._open, timeout=grace)
            open_now = list(self._open)
        for connection in open_now:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RD)
        with self.idle:
            self.idle.wait_for(
                lambda: self.active == 0 and not self._open,
                timeout=max(0.0, deadline - time.monotonic()),
            )

    @contextlib.contextmanager
    def answering(self) -> Iterator[None]:
        """Count a call being answered (shutdown() waits for none to be)."""
        with self.idle:
            self.active += 1
        try:
            yield
        finally:
            with self.idle:
                self.active -= 1
                self.idle.notify_all()

    def opened(self, connection: socket.socket) -> None:
        with self.idle:
            self._open.add(connection)

    def closed(self, connection: socket.socket) -> None:
        with self.idle:
            self._open.discard(connection)
            self.idle.notify_all()

    # -- connections per user ------------------------------------------------------------------

    def admit(self, uid: int) -> bool:
        """Count a new connection of `uid`; False (not counted) when it has too many."""
        with self._active_lock:
            if uid not in self._unlimited and self._connections[uid] >= self.max_per_user:
                return False
            self._connections[uid] += 1
            return True

    def release(self, uid: int) -> None:
        """A counted connection of `uid` ended."""
        with self._active_lock:
            self._connections[uid] -= 1
            if not self._connections[uid]:
                del self._connections[uid]

    # -- bytes of unfinished calls per user ----------------------------------------------------

    def hold(self, uid: int, more: int) -> int:
        """Count `more` bytes against `uid`'s budget and the total; 0 when they fit, else the
        limit that they would exceed (nothing counted)."""
        with self._active_lock:
            if self._pending[uid] + more > self.max_pending_per_user:
                return self.max_pending_per_user
            if self._pending_total + more > self.max_pending:
                return self.max_pending
            self._pending[uid] += more
            self._pending_total += more
            return 0

    def unhold(self, uid: int, less: int) -> None:
        """`less` bytes of `uid` counted by hold() are gone."""
        with self._active_lock:
            self._pending[uid] -= less
            self._pending_total -= less
            if not self._pending[uid]:
                del self._pending[uid]

    # -- dispatch ------------------------------------------------------------------------------

    def recall_key(self, peer: Peer, message: bytes) -> tuple[int, bytes] | None:
        """Under what a call's reply may be remembered (None: no interface recalls)."""
        if self._recalls is None:
            return None
        return peer.uid, hashlib.sha256(message).digest()

    def recalled(self, peer: Peer, key: tuple[int, bytes]) -> Encoded | None:
        """The reply to a call this uid made before with the same bytes, if its interface
        still gives it, logged as the call's would be."""
        remembered = None if self._recalls is None else self._recalls.get(key, None)
        if remembered is None:
            return None
        recall, method, token = remembered
        reply = recall(peer, token)
        if reply is not None:
            log.info("uid=%d pid=%d %s: ok", peer.uid, peer.pid, method)
        return reply

    def replies(
        self, peer: Peer, call: Mapping[str, Any], recall_key: tuple[int, bytes] | None = None
    ) -> Iterator[dict[str, Any]]:
        """The reply messages for one call, logging its outcome in one line; a reply that
        can be recalled is remembered under `recall_key`."""
        outcome = "ok"
        try:
            for reply in self._replies(peer, call, recall_key):
                if "error" in reply:
                    outcome = str(reply["error"])
                yield reply
        finally:
            log.info("uid=%d pid=%d %s: %s", peer.uid, peer.pid, call.get("method"), outcome)

    def _replies(
        self, peer: Peer, call: Mapping[str, Any], recall_key: tuple[int, bytes] | None
    ) -> Iterator[dict[str, Any]]:
        """The reply messages for one call (errors become error replies)."""
        method = call.get("method")
        parameters = call.get("parameters")
        parameters = {} if parameters is None else parameters
        more = bool(call.get("more", False))
        if not isinstance(method, str) or "." not in method:
            yield _error(f"{SERVICE}.InvalidParameter", parameter="method")
            return
        interface_name, _, member = method.rpartition(".")
        try:
            definition = (
                SERVICE_DEFINITION
                if interface_name == SERVICE
                else getattr(self.interfaces.get(interface_name), "definition", None)
            )
            if definition is None:
                yield _error(f"{SERVICE}.InterfaceNotFound", interface=_clip(interface_name))
                return
            declared = definition.methods.get(member)
            if declared is None:
                yield _error(f"{SERVICE}.MethodNotFound", method=_clip(method))
                return
            try:
                idl.check_parameters(definition, declared, parameters)
            except idl.Invalid as problem:
                yield _error(
                    f"{SERVICE}.InvalidParameter",
                    parameter=problem.parameter,
                    reason=problem.reason,
                )
                return
            if interface_name == SERVICE:
                yield {"parameters": self._service(member, parameters)}
                return
            interface = self.interfaces[interface_name]
            handler = interface.methods.get(member)
            if handler is None:
                yield _error(f"{SERVICE}.MethodNotImplemented", method=method)
                return
            if member in interface.streaming:
                if not more:
                    yield _error(f"{SERVICE}.ExpectedMore")
                    return
                stream = handler(peer, parameters)
                assert isinstance(stream, Iterator)
                for reply in stream:
                    yield {"parameters": dict(reply), "continues": True}
                return
            result = handler(peer, parameters)
            assert isinstance(result, Mapping)
            if isinstance(result, Encoded):
                if recall_key is not None and result.token is not None and _plain(call):
                    self._remember(recall_key, interface.recall, method, result.token)
                yield {"parameters": result}
            else:
                yield {"parameters": dict(result)}
        except VarlinkError as problem:
            yield _error(problem.name, **problem.parameters)
        except Exception:
            log.exception("internal error in %s", method)
            yield _error(f"{SERVICE}.InvalidParameter", parameter="(internal error)")

    def _remember(
        self, key: tuple[int, bytes], recall: Recall | None, method: str, token: Hashable
    ) -> None:
        if recall is not None and self._recalls is not None:
            self._recalls.put(key, (recall, method, token), (None, None), owner=key[0])

    def _service(self, member: str, parameters: Mapping[str, Any]) -> dict[str, Any]:
        if member == "GetInfo":
            return {
                "vendor": self.info.vendor,
                "product": self.info.product,
                "version": self.info.version,
                "url": self.info.url,
                "interfaces": [SERVICE, *self.interfaces],
            }
        if member == "GetInterfaceDescription":
            name = parameters.get("interface")
            if name == SERVICE:
                return {"description": SERVICE_DESCRIPTION}
            interface = self.interfaces.get(name) if isinstance(name, str) else None
            if interface is None:
                raise VarlinkError(f"{SERVICE}.InterfaceNotFound", interface=name)
            return {"description": interface.description}
        raise VarlinkError(f"{SERVICE}.MethodNotFound", method=f"{SERVICE}.{member}")


def _error(name: str, **parameters: Any) -> dict[str, Any]:
    return _framed_error(name, parameters)


def _clip(name: str) -> str:
    """A name the caller sent, short enough to send back and log."""
    return name if len(name) <= idl.MAX_NAME else name[: idl.MAX_NAME] + "..."


class _ThreadedServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog is 5: a burst of clients connecting at once got EAGAIN
    # from connect() (a Unix socket with a timeout does not wait for room in the backlog).
    request_queue_size = socket.SOMAXCONN
    # shutdown() waits for connections itself, with a deadline (server_close would wait for
    # every connection thread, however long its client stays)
    block_on_close = False
    varlink: VarlinkServer
    own = False  # a socket we bound (not one systemd passed): its backlog is drained at stop

    def __init__(self, address: str, handler: type[_Connection], bind_and_activate: bool) -> None:
        super().__init__(address, handler, bind_and_activate)
        self._wake_read, self._wake_write = os.pipe()
        self._stopping = False
        self._stopped = threading.Event()
        self._stopped.set()  # until serve_forever runs

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Accept connections until shutdown(), which wakes this loop at once (socketserver's
        own loop looks for a shutdown every poll_interval, so a daemon took up to half a second
        to stop)."""
        self._stopped.clear()
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(self, selectors.EVENT_READ)
                selector.register(self._wake_read, selectors.EVENT_READ)
                while not self._stopping:
                    ready = selector.select()
                    if self._stopping:
                        break
                    if any(key.fileobj is self for key, _ in ready):
                        self.handle_request()  # the socket is readable: accepts at once
        finally:
            self._stopped.set()

    def shutdown(self) -> None:
        """Stop the accept loop and wait until it has stopped."""
        self._stopping = True
        os.write(self._wake_write, b"\0")
        self._stopped.wait()

    def server_close(self) -> None:
        super().server_close()
        for end in (self._wake_read, self._wake_write):
            with contextlib.suppress(OSError):
                os.close(end)

    def drain(self) -> None:
        """Accept and serve every connection waiting in the backlog (the accept loop has
        stopped)."""
        self.socket.setblocking(False)
        while True:
            try:
                request, address = self.socket.accept()
            except OSError:  # BlockingIOError: the backlog is empty
                return
            request.setblocking(True)
            self.process_request(request, address)


class _Connection(socketserver.BaseRequestHandler):
    """One client connection: read NUL-terminated calls, write replies, until EOF."""

    request: socket.socket
    server: _ThreadedServer
    held: int  # bytes of unfinished calls counted against the budgets

    def handle(self) -> None:
        varlink = self.server.varlink
        self.request.settimeout(varlink.idle_timeout)
        varlink.opened(self.request)
        try:
            self._handle(varlink)
        finally:
            varlink.closed(self.request)

    def _handle(self, varlink: VarlinkServer) -> None:
        try:
            peer = peer_of(self.request)
        except OSError:
            return
        if not varlink.admit(peer.uid):
            log.warning("uid %d has %d connections open; refusing one more", peer.uid,
                        varlink.max_per_user)  # fmt: skip
            self._send(_error(f"{INTERFACE}.TooManyConnections", limit=varlink.max_per_user))
            return
        try:
            self._serve(varlink, peer)
        finally:
            varlink.release(peer.uid)

    def _serve(self, varlink: VarlinkServer, peer: Peer) -> None:
        self.held = 0  # bytes counted against the budgets of unfinished calls
        try:
            self._read(varlink, peer)
        finally:
            varlink.unhold(peer.uid, self.held)

    def _hold(self, varlink: VarlinkServer, peer: Peer, size: int) -> bool:
        """Count `size` bytes of unfinished calls for this connection (the first PENDING_FREE
        free); False, after answering PendingTooLarge, when they do not fit."""
        counted = max(0, size - PENDING_FREE)
        if counted < self.held:
            varlink.unhold(peer.uid, self.held - counted)
        elif counted > self.held:
            limit = varlink.hold(peer.uid, counted - self.held)
            if limit:
                log.warning("uid %d: unfinished calls hold too many bytes; closing one", peer.uid)
                self._send(_error(f"{INTERFACE}.PendingTooLarge", limit=limit))
                return False
        self.held = counted
        return True

    def _read(self, varlink: VarlinkServer, peer: Peer) -> None:
        buffer = bytearray()
        while True:
            try:
                chunk = self.request.recv(65536)
            except (TimeoutError, OSError):
                return
            if not chunk:
                return
            searched = len(buffer)
            buffer.extend(chunk)
            if len(buffer) > MAX_MESSAGE and buffer.find(NUL, searched) < 0:
                self._send(_error(f"{INTERFACE}.RequestTooLarge", limit=MAX_MESSAGE))
                return
            if not self._hold(varlink, peer, len(buffer)):
                return
            while (end := buffer.find(NUL, searched)) >= 0:
                message = bytes(buffer[:end])
                buffer = buffer[end + 1 :]  # a new, smaller buffer: the old one's memory goes
                searched = 0
                answered = self._answer(varlink, peer, message)
                del message
                if not answered or not self._hold(varlink, peer, len(buffer)):
                    return

    def _answer(self, varlink: VarlinkServer, peer: Peer, message: bytes) -> bool:
        with varlink.answering():
            recall_key = varlink.recall_key(peer, message)
            again = None if recall_key is None else varlink.recalled(peer, recall_key)
            if again is not None:
                return self._send({"parameters": again})
            try:
                call = decode(message)
            except Malformed as problem:
                if problem.reason == "nested too deeply":
                    log.warning("uid %d pid %d: a message nested too deeply", peer.uid, peer.pid)
                    self._send(_error(f"{SERVICE}.InvalidParameter", parameter="message",
                                      reason=problem.reason))  # fmt: skip
                else:
                    self._send(_error(f"{SERVICE}.InvalidParameter", parameter="message"))
                return False
            oneway = bool(call.get("oneway", False))
            for reply in varlink.replies(peer, call, recall_key):
                if not oneway and not self._send(reply):
                    return False
            return True

    def _send(self, reply: Mapping[str, Any]) -> bool:
        parameters = reply.get("parameters")
        if isinstance(parameters, Encoded) and len(reply) == 1:
            data = encode_reply(parameters.text)
        else:
            data = encode(reply)
        try:
            self.request.sendall(data)
        except OSError:
            return False
        return True


def _plain(call: Mapping[str, Any]) -> bool:
    """A call with one reply, wanted: neither `more`, `oneway` nor `upgrade` asked for."""
    return not (call.get("more") or call.get("oneway") or call.get("upgrade"))


SERVICE_DESCRIPTION = """# The Varlink Service Interface is provided by every varlink service. It
# describes the service and the interfaces it implements.
interface org.varlink.service

# Get a list of all the interfaces a service provides and information
# about the implementation.
method GetInfo() -> (
  vendor: string,
  product: string,
  version: string,
  url: string,
  interfaces: []string
)

# Get the description of an interface that is implemented by this service.
method GetInterfaceDescription(interface: string) -> (description: string)

# The requested interface was not found.
error InterfaceNotFound (interface: string)

# The requested method was not found
error MethodNotFound (method: string)

# The interface defines the requested method, but the service does not
# implement it.
error MethodNotImplemented (method: string)

# One of the passed parameters is invalid.
error InvalidParameter (parameter: string)

# Client is denied access
error PermissionDenied ()

# Method is expected to be called with 'more' set to true, but wasn't
error ExpectedMore ()
"""

SERVICE_DEFINITION = idl.parse(SERVICE_DESCRIPTION)
