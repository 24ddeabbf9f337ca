"""What the network can tell about a certificate: its issuers (AIA caIssuers), its OCSP status
and its CRLs, each answer cached with an expiry.

Rules (reference section 7.4 and 7.5, after Apple's SecCAIssuerRequest.m and
SecRevocationNetworking.m):
- AIA: only `http:` caIssuers URIs, at most 3 tried in turn, none at all for a certificate that
  lists 10 or more, none for an expired certificate; the answer may be DER, PEM or PKCS#7 and
  only certificates whose subject is the child's issuer are kept.  Cached for the answer's
  `Cache-Control: max-age`, 1 day by default, clamped to 1 hour .. 7 days.
- OCSP: the request names the certificate by SHA-1 CertID; sent with GET when it is at most
  255 bytes (RFC 6960 appendix A), else POST.  Cached until the response's nextUpdate (1 day
  without one).
- CRLs: `http:` distribution points, cached until the CRL's nextUpdate (1 day without one).
- A cached answer that is still fresh is used without asking (unless `online`); a stale one is
  used when the network fails; `offline` uses the cache alone.

Whether an answer is believed is the core's business (trustd.core.ocsp, trustd.core.crl): this
module only finds candidates.
"""

from __future__ import annotations

import base64
import copy
import functools
import hashlib
import logging
import urllib.parse
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from trustd.core.certificates import Certificate
from trustd.core.crl import parse_crl
from trustd.core.ocsp import parse_response
from trustd.net.http import FetchFailed, HttpClient, Response

log = logging.getLogger("trustd.net")

MAX_AIA_URIS = 3  # tried per certificate
AIA_URI_LIMIT = 10  # a certificate with this many caIssuers URIs is not chased at all
AIA_DEFAULT_TTL = timedelta(days=1)
AIA_MIN_TTL, AIA_MAX_TTL = timedelta(hours=1), timedelta(days=7)
DEFAULT_TTL = timedelta(days=1)  # OCSP and CRL answers without nextUpdate
OCSP_GET_LIMIT = 255  # bytes of DER request above which POST is used
LIMITS = {"aia": 1 << 20, "ocsp": 1 << 20, "crl": 16 << 20}


class Cache(Protocol):
    """Where answers are kept (the store's network cache)."""

    def cache_get(self, kind: str, key: str) -> tuple[bytes, datetime] | None: ...

    def cache_put(self, kind: str, key: str, data: bytes, expires_at: datetime) -> None: ...


@dataclass(frozen=True, slots=True)
class Mode:
    """offline: the cache alone; online: ask even when the cache is fresh."""

    offline: bool = False
    online: bool = False


class Fetcher:
    def __init__(
        self,
        cache: Cache | None = None,
        http: HttpClient | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        ocsp_get_limit: int = OCSP_GET_LIMIT,
        scope: Hashable = None,
    ) -> None:
        self.cache = cache
        self.http = http or HttpClient()
        self.clock = clock
        self.ocsp_get_limit = ocsp_get_limit
        self.scope = scope  # whose fetches these are (a uid): back-off and turns are per scope

    def for_user(self, uid: int) -> Fetcher:
        """This fetcher (same cache, same HTTP client) fetching for `uid`: that user's slow
        peers and back-offs are that user's alone (trustd.net.http)."""
        scoped = copy.copy(self)
        scoped.scope = uid
        return scoped

    # -- the three questions -------------------------------------------------------------------

    def issuers(self, cert: Certificate, moment: datetime, mode: Mode = Mode()) -> list[bytes]:
        """DER certificates served at the certificate's caIssuers locations that could be its
        issuer (subject equal to its issuer name)."""
        from trustd.certfiles import UndecodableData, read_certificates
        from trustd.core.certificates import MalformedCertificate, parse_certificate

        uris = cert.ca_issuer_urls
        if len(uris) >= AIA_URI_LIMIT or moment > cert.not_after:
            return []
        found: list[bytes] = []
        for uri in [u for u in uris if u.lower().startswith("http:")][:MAX_AIA_URIS]:
            body = self._answer("aia", uri, uri, mode, functools.partial(self._aia, uri))
            if body is None:
                continue
            try:
                candidates = read_certificates(body)
            except UndecodableData:
                continue
            for der in candidates:
                try:
                    parent = parse_certificate(der)
                except MalformedCertificate:
                    continue
                if parent.subject_key == cert.issuer_key and der not in found:
                    found.append(der)
            if found:
                break
        return found

    def ocsp(self, cert: Certificate, issuer: Certificate, mode: Mode = Mode()) -> list[bytes]:
        """OCSP responses about `cert` from its responders (the first that answers)."""
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.x509 import ocsp

        request = (
            ocsp.OCSPRequestBuilder()
            .add_certificate(cert.x509, issuer.x509, hashes.SHA1())
            .build()
            .public_bytes(serialization.Encoding.DER)
        )
        key = hashlib.sha256(request).hexdigest()
        for uri in [u for u in cert.ocsp_urls if u.lower().startswith("http:")][:MAX_AIA_URIS]:
            fetch = functools.partial(self._ocsp, uri, request)
            body = self._answer("ocsp", f"{uri} {key}", uri, mode, fetch)
            if body is not None:
                return [body]
        return []

    def crls(self, cert: Certificate, mode: Mode = Mode()) -> list[bytes]:
        """CRLs from the certificate's distribution points (the first that answers)."""
        for uri in [u for u in cert.crl_urls if u.lower().startswith("http:")][:MAX_AIA_URIS]:
            body = self._answer("crl", uri, uri, mode, functools.partial(self._crl, uri))
            if body is not None:
                return [body]
        return []

    # -- fetching and caching ------------------------------------------------------------------

    def _answer(
        self,
        kind: str,
        key: str,
        uri: str,
        mode: Mode,
        fetch: Callable[[], tuple[bytes, datetime] | None],
    ) -> bytes | None:
        cached = None if self.cache is None else self.cache.cache_get(kind, key)
        now = self.clock()
        if cached is not None and (mode.offline or (cached[1] > now and not mode.online)):
            return cached[0]
        if mode.offline:
            return None
        try:
            fetched = fetch()
        except FetchFailed as problem:
            log.info("network: %s", problem)
            fetched = None
        if fetched is None:
            return None if cached is None else cached[0]  # stale beats nothing
        body, expires = fetched
        if self.cache is not None:
            self.cache.cache_put(kind, key, body, expires)
        log.info("network: fetched %s %s (%d bytes)", kind, uri, len(body))
        return body

    def _aia(self, uri: str) -> tuple[bytes, datetime]:
        response = self.http.get(uri, limit=LIMITS["aia"], scope=self.scope)
        ttl = AIA_DEFAULT_TTL
        if response.max_age is not None:
            ttl = min(max(timedelta(seconds=response.max_age), AIA_MIN_TTL), AIA_MAX_TTL)
        return response.body, self.clock() + ttl

    def _ocsp(self, uri: str, request: bytes) -> tuple[bytes, datetime] | None:
        response: Response
        if len(request) <= self.ocsp_get_limit:
            encoded = urllib.parse.quote(base64.b64encode(request).decode(), safe="")
            response = self.http.get(
                f"{uri.rstrip('/')}/{encoded}", limit=LIMITS["ocsp"], scope=self.scope
            )
        else:
            response = self.http.post(
                uri, request, "application/ocsp-request", limit=LIMITS["ocsp"], scope=self.scope
            )
        parsed = parse_response(response.body)
        if parsed is None:
            raise FetchFailed(f"{uri}: not a successful OCSP response")
        updates = [s.next_update_utc or s.this_update_utc + DEFAULT_TTL for s in parsed.responses]
        return response.body, min(updates, default=self.clock() + DEFAULT_TTL)

    def _crl(self, uri: str) -> tuple[bytes, datetime]:
        response = self.http.get(uri, limit=LIMITS["crl"], scope=self.scope)
        parsed = parse_crl(response.body)
        if parsed is None:
            raise FetchFailed(f"{uri}: not a CRL")
        return response.body, parsed.next_update or self.clock() + DEFAULT_TTL
