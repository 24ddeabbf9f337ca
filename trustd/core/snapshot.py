"""What the evaluator may know about stored trust state, as an interface.

A `Snapshot` answers the three questions evaluation asks of the store: which known
certificates could have issued this one (looked up by normalised issuer name, so that a store
of a million certificates serves it from an index), what trust settings apply to a certificate
for the calling user, and whether a certificate is a system anchor.  `MemorySnapshot` is the
in-memory implementation used by tests, the conformance harness and small deployments.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from trustd.core.certificates import Certificate
from trustd.core.trust_settings import Domain, TrustSettings

_TOKENS = itertools.count()


class Origin(StrEnum):
    """Where a certificate of a path came from."""

    REQUEST = "request"  # sent with the request (by the TLS peer, usually)
    CALLER_ANCHOR = "callerAnchor"  # an anchor the caller passed with the request
    INTERMEDIATES = "intermediates"  # the intermediates store
    SYSTEM = "system"  # the operating system's CA bundle
    ADMIN = "admin"  # a certificate with admin-domain trust settings
    USER = "user"  # a certificate with the caller's user-domain trust settings
    NETWORK = "network"  # fetched from an AIA caIssuers location


class Snapshot(Protocol):
    """Stored trust state as seen by one caller at one moment."""

    @property
    def exceptions_epoch(self) -> int:
        """The caller's ExceptionResetCount: exceptions from another epoch do not apply."""

    @property
    def cache_token(self) -> Hashable | None:
        """Equal tokens promise equal answers to every question below; None: never cache."""

    def issuers_of(self, issuer_key: bytes) -> Iterable[tuple[Certificate, Origin]]:
        """Stored certificates whose normalised subject key is `issuer_key`."""

    def trust_settings_for(self, certificate: Certificate) -> TrustSettings | None:
        """The admin settings if the certificate has any, else the caller's user settings."""

    def is_system_anchor(self, certificate: Certificate) -> bool:
        """Whether the certificate is in the operating system's CA bundle."""


@dataclass
class MemorySnapshot:
    """A Snapshot held in dictionaries."""

    system_anchors: Iterable[Certificate] = ()
    intermediates: Iterable[Certificate] = ()
    admin: Iterable[tuple[Certificate, TrustSettings]] = ()
    user: Iterable[tuple[Certificate, TrustSettings]] = ()
    exceptions_epoch: int = 0
    user_settings_enabled: bool = True
    _by_subject: dict[bytes, list[tuple[Certificate, Origin]]] = field(init=False, repr=False)
    _settings: dict[Domain, dict[bytes, TrustSettings]] = field(init=False, repr=False)
    _system: set[bytes] = field(init=False, repr=False)
    cache_token: Hashable | None = field(init=False)

    def __post_init__(self) -> None:
        # A MemorySnapshot does not change after construction: one token per instance.
        self.cache_token = ("memory", next(_TOKENS))
        self._by_subject = defaultdict(list)
        self._settings = {Domain.ADMIN: {}, Domain.USER: {}}
        self._system = set()
        for cert in self.system_anchors:
            self._system.add(cert.sha256)
            self._add(cert, Origin.SYSTEM)
        for domain, origin, entries in (
            (Domain.ADMIN, Origin.ADMIN, self.admin),
            (Domain.USER, Origin.USER, self.user),
        ):
            for cert, settings in entries:
                self._settings[domain][cert.sha1] = settings
                self._add(cert, origin)
        for cert in self.intermediates:
            self._add(cert, Origin.INTERMEDIATES)

    def _add(self, cert: Certificate, origin: Origin) -> None:
        bucket = self._by_subject[cert.subject_key]
        if all(known != cert for known, _ in bucket):
            bucket.append((cert, origin))

    def issuers_of(self, issuer_key: bytes) -> Iterable[tuple[Certificate, Origin]]:
        return tuple(self._by_subject.get(issuer_key, ()))

    def trust_settings_for(self, certificate: Certificate) -> TrustSettings | None:
        admin = self._settings[Domain.ADMIN].get(certificate.sha1)
        if admin is not None or not self.user_settings_enabled:
            return admin
        return self._settings[Domain.USER].get(certificate.sha1)

    def is_system_anchor(self, certificate: Certificate) -> bool:
        return certificate.sha256 in self._system


EMPTY_SNAPSHOT = MemorySnapshot()
