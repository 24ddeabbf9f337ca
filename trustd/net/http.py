"""HTTP for trust answers: short, bounded and polite, as Apple's trustd fetches.

- `http:` only (AIA and CRL locations are plain HTTP by design: the answers are signed, and
  fetching them over TLS would need the trust being decided), redirects only to `http:`;
- 3 seconds per resource in all (connect, send and read), and a size limit per kind;
- a host that timed out is not asked again for a minute (Apple skips it for 60 s);
- the answer's freshness from `Cache-Control: max-age`, for callers that cache.
"""

from __future__ import annotations

import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from http.client import HTTPMessage
from typing import IO, Any

TIMEOUT = 3.0  # seconds per resource (TrustURLSessionGetResourceTimeout)
BACKOFF = 60.0  # seconds a host that timed out is skipped
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*(\d+)", re.IGNORECASE)


class FetchFailed(Exception):
    """The resource could not be fetched (with why, for the log)."""


@dataclass(frozen=True, slots=True)
class Response:
    body: bytes
    max_age: int | None  # seconds, from Cache-Control


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(  # noqa: PLR0917 - urllib's signature
        self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str,
        headers: HTTPMessage, newurl: str,
    ) -> urllib.request.Request | None:  # fmt: skip
        if urllib.parse.urlsplit(newurl).scheme != "http":
            raise FetchFailed(f"redirect to a non-http location {newurl}")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class HttpClient:
    """Fetches with a deadline and remembers hosts that timed out (thread-safe)."""

    def __init__(self, timeout: float = TIMEOUT, backoff: float = BACKOFF) -> None:
        self.timeout = timeout
        self.backoff = backoff
        self._skip_until: dict[str, float] = {}
        self._lock = threading.Lock()
        # No proxies: trust answers come from where the certificate says, on this host's network.
        self._opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), _HttpOnlyRedirects()
        )

    def get(self, url: str, *, limit: int) -> Response:
        return self._fetch(urllib.request.Request(url), limit)

    def post(self, url: str, body: bytes, content_type: str, *, limit: int) -> Response:
        request = urllib.request.Request(
            url, data=body, headers={"Content-Type": content_type}, method="POST"
        )
        return self._fetch(request, limit)

    def _fetch(self, request: urllib.request.Request, limit: int) -> Response:
        parts = urllib.parse.urlsplit(request.full_url)
        if parts.scheme != "http" or not parts.hostname:
            raise FetchFailed(f"not an http URL: {request.full_url}")
        host = parts.hostname
        with self._lock:
            if self._skip_until.get(host, 0.0) > time.monotonic():
                raise FetchFailed(f"{host} timed out recently; not asked again yet")
        deadline = time.monotonic() + self.timeout
        try:
            with self._opener.open(request, timeout=self.timeout) as answer:
                body = _read(answer, limit, deadline)
                control = answer.headers.get("Cache-Control", "")
        except TimeoutError:
            self._timed_out(host)
            raise FetchFailed(f"{host} did not answer within {self.timeout:g} s") from None
        except urllib.error.HTTPError as problem:
            raise FetchFailed(f"HTTP {problem.code} from {request.full_url}") from None
        except urllib.error.URLError as problem:
            if isinstance(problem.reason, TimeoutError):
                self._timed_out(host)
            raise FetchFailed(f"{request.full_url}: {problem.reason}") from None
        except (OSError, ValueError) as problem:
            raise FetchFailed(f"{request.full_url}: {problem}") from None
        match = _MAX_AGE.search(control)
        return Response(body, int(match.group(1)) if match else None)

    def _timed_out(self, host: str) -> None:
        with self._lock:
            self._skip_until[host] = time.monotonic() + self.backoff


def _read(answer: Any, limit: int, deadline: float) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := answer.read(65536):
        size += len(chunk)
        if size > limit:
            raise FetchFailed(f"answer larger than {limit} bytes")
        if time.monotonic() > deadline:
            raise TimeoutError
        chunks.append(chunk)
    return b"".join(chunks)
