"""HTTP for trust answers: short, bounded and polite, as Apple's trustd fetches.

- `http:` only (AIA and CRL locations are plain HTTP by design: the answers are signed, and
  fetching them over TLS would need the trust being decided), redirects (at most 5) only to
  `http:`;
- one wall-clock deadline per fetch, 3 s, covering everything: name resolution, connect, the
  request, the headers, every redirect and the whole body.  A server that sends one byte every
  2 s is cut at the deadline (a watchdog shuts the socket down), not only one that goes silent;
- a size limit per kind;
- a (host, port) that timed out is not asked again for a minute (Apple skips a server for
  60 s); the back-off is kept per `scope` (the daemon passes the caller's uid), so one user's
  timeouts never skip another user's fetch.  A skipped fetch fails like the timeout did;
- at most `per_scope` fetches of one scope at once: one user's slow peers hold that user's
  fetches only (waiting for a turn counts against the deadline);
- the answer's freshness from `Cache-Control: max-age`, for callers that cache.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import re
import socket
import threading
import time
import urllib.parse
from collections.abc import Hashable
from dataclasses import dataclass

TIMEOUT = 3.0  # seconds per fetch, in all (TrustURLSessionGetResourceTimeout)
BACKOFF = 60.0  # seconds a (host, port) that timed out is skipped, for the scope that saw it
PER_SCOPE = 4  # fetches of one scope (one uid) at once
MAX_REDIRECTS = 5
CHUNK = 65536
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*(\d+)", re.IGNORECASE)
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class FetchFailed(Exception):
    """The resource could not be fetched (with why, for the log)."""


class _TimedOut(Exception):
    """The fetch's deadline passed."""


@dataclass(frozen=True, slots=True)
class Response:
    body: bytes
    max_age: int | None  # seconds, from Cache-Control


@dataclass(frozen=True, slots=True)
class _Redirect:
    status: int
    location: str


class _Watchdog:
    """Shuts a socket down at the deadline, so that whatever blocks on it returns."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.fired = False
        self._sock = sock
        self._timer = threading.Timer(max(0.0, deadline - time.monotonic()), self._cut)
        self._timer.daemon = True
        self._timer.start()

    def _cut(self) -> None:
        self.fired = True
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        self._timer.cancel()


class HttpClient:
    """Fetches with a deadline, remembers (host, port)s that timed out (thread-safe)."""

    def __init__(
        self, timeout: float = TIMEOUT, backoff: float = BACKOFF, per_scope: int = PER_SCOPE
    ) -> None:
        self.timeout = timeout
        self.backoff = backoff
        self.per_scope = per_scope
        self._skip_until: dict[tuple[Hashable, str, int], float] = {}
        self._in_flight: dict[Hashable, int] = {}
        self._lock = threading.Condition()

    def get(self, url: str, *, limit: int, scope: Hashable = None) -> Response:
        return self._fetch("GET", url, None, {}, limit=limit, scope=scope)

    def post(
        self, url: str, body: bytes, content_type: str, *, limit: int, scope: Hashable = None
    ) -> Response:
        headers = {"Content-Type": content_type}
        return self._fetch("POST", url, body, headers, limit=limit, scope=scope)

    def _fetch(
        self,
        method: str,
        url: str,
        body: bytes | None,
        headers: dict[str, str],
        *,
        limit: int,
        scope: Hashable,
    ) -> Response:
        deadline = time.monotonic() + self.timeout
        target = _target(url)
        self._skip_if_backing_off(scope, *target)
        self._take_turn(scope, deadline)
        try:
            for _ in range(MAX_REDIRECTS + 1):
                try:
                    answer = _exchange(method, url, body, headers, limit=limit, deadline=deadline)
                except _TimedOut:
                    self._timed_out(scope, *target)
                    raise FetchFailed(
                        f"{target[0]}:{target[1]} did not answer within {self.timeout:g} s"
                    ) from None
                if isinstance(answer, Response):
                    return answer
                url = urllib.parse.urljoin(url, answer.location)
                if urllib.parse.urlsplit(url).scheme != "http":
                    raise FetchFailed(f"redirect to a non-http location {url}")
                if method == "POST":  # as urllib: 301-303 turn a POST into a GET
                    if answer.status not in {301, 302, 303}:
                        raise FetchFailed(f"HTTP {answer.status} from {url} for a POST")
                    method, body, headers = "GET", None, {}
                target = _target(url)
                self._skip_if_backing_off(scope, *target)
            raise FetchFailed(f"more than {MAX_REDIRECTS} redirects from {url}")
        finally:
            self._end_turn(scope)

    # -- back-off and turns --------------------------------------------------------------------

    def _skip_if_backing_off(self, scope: Hashable, host: str, port: int) -> None:
        with self._lock:
            if self._skip_until.get((scope, host, port), 0.0) > time.monotonic():
                raise FetchFailed(f"{host}:{port} timed out recently; not asked again yet")

    def _timed_out(self, scope: Hashable, host: str, port: int) -> None:
        now = time.monotonic()
        with self._lock:
            for key in [k for k, until in self._skip_until.items() if until <= now]:
                del self._skip_until[key]  # expired entries go: the table stays small
            self._skip_until[(scope, host, port)] = now + self.backoff

    def _take_turn(self, scope: Hashable, deadline: float) -> None:
        with self._lock:
            free = self._lock.wait_for(
                lambda: self._in_flight.get(scope, 0) < self.per_scope,
                timeout=max(0.0, deadline - time.monotonic()),
            )
            if not free:
                raise FetchFailed(f"{self.per_scope} fetches for the same user already running")
            self._in_flight[scope] = self._in_flight.get(scope, 0) + 1

    def _end_turn(self, scope: Hashable) -> None:
        with self._lock:
            left = self._in_flight[scope] - 1
            if left:
                self._in_flight[scope] = left
            else:
                del self._in_flight[scope]
            self._lock.notify_all()


def _target(url: str) -> tuple[str, int]:
    parts = urllib.parse.urlsplit(url)
    try:
        port = parts.port or 80
    except ValueError:
        raise FetchFailed(f"bad port in {url}") from None
    if parts.scheme != "http" or not parts.hostname:
        raise FetchFailed(f"not an http URL: {url}")
    return parts.hostname, port


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise _TimedOut
    return left


def _resolve(host: str, port: int, deadline: float) -> list[tuple[int, tuple[str, int]]]:
    """Addresses for host, within the deadline (getaddrinfo has no timeout of its own: it runs
    in a thread of its own that the caller stops waiting for)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
        return [(family, (host, port))]
    found: list[list[tuple[int, tuple[str, int]]]] = []
    failed: list[OSError] = []

    def lookup() -> None:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            found.append([(info[0], (str(info[4][0]), int(info[4][1]))) for info in infos])
        except OSError as problem:
            failed.append(problem)

    thread = threading.Thread(target=lookup, daemon=True)
    thread.start()
    thread.join(_remaining(deadline))
    if found:
        return found[0]
    if failed:
        raise FetchFailed(f"{host}: {failed[0]}")
    raise _TimedOut


def _connect(host: str, port: int, deadline: float) -> socket.socket:
    problem: OSError | None = None
    for family, address in _resolve(host, port, deadline):
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(_remaining(deadline))
        try:
            sock.connect(address)
        except TimeoutError:
            sock.close()
            raise _TimedOut from None
        except OSError as error:
            sock.close()
            problem = error
            continue
        return sock
    raise FetchFailed(f"{host}:{port}: {problem or 'no address'}")


def _exchange(
    method: str,
    url: str,
    body: bytes | None,
    headers: dict[str, str],
    *,
    limit: int,
    deadline: float,
) -> Response | _Redirect:
    """One request and its answer, all before `deadline`."""
    host, port = _target(url)
    parts = urllib.parse.urlsplit(url)
    path = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
    sock = _connect(host, port, deadline)
    watchdog = _Watchdog(sock, deadline)
    connection = http.client.HTTPConnection(host, port)
    connection.sock = sock
    try:
        connection.request(method, path, body, {**headers, "Connection": "close"})
        answer = connection.getresponse()
        if answer.status in _REDIRECTS and answer.getheader("Location"):
            return _Redirect(answer.status, answer.getheader("Location", ""))
        if answer.status != 200:
            raise FetchFailed(f"HTTP {answer.status} from {url}")
        length = answer.getheader("Content-Length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise FetchFailed(f"answer larger than {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        while chunk := answer.read(CHUNK):
            size += len(chunk)
            if size > limit:
                raise FetchFailed(f"answer larger than {limit} bytes")
            chunks.append(chunk)
        if watchdog.fired:
            raise _TimedOut  # what came before the cut is not the whole answer
        control = answer.getheader("Cache-Control", "")
    except (OSError, http.client.HTTPException, ValueError) as problem:
        if watchdog.fired or time.monotonic() > deadline or isinstance(problem, TimeoutError):
            raise _TimedOut from None
        raise FetchFailed(f"{url}: {problem!r}") from None
    finally:
        watchdog.cancel()
        connection.close()
    match = _MAX_AGE.search(control)
    return Response(b"".join(chunks), int(match.group(1)) if match else None)
