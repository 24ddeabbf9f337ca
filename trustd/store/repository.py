"""The trust store's API: core values in, core values out, one transaction per operation.

`TrustStore` wraps the database and the system anchors.  It never hands out ORM rows.  Every
change writes an audit row in the same transaction.  `snapshot(uid)` serves the evaluation
core's Snapshot interface from indexed lookups with a bounded cache, so evaluation cost does not
grow with the number of stored certificates.

Each concern has its module, all over one database helper (`trustd.store.database`):
certificates (`certificates`), trust settings (`trust_settings`), exceptions (`exceptions`),
drop-in sources (`sources`), the audit log (`audit`) and the network cache (`network_cache`).
`TrustStore` is all of them; the rest of trustd imports it, and the values it takes and
returns, from here.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from datetime import UTC, datetime

from sqlalchemy import Engine

from trustd.core.certificates import Certificate
from trustd.core.snapshot import Origin
from trustd.core.trust_settings import Domain, TrustSettings
from trustd.store.audit import SHARED_AUDIT_DOMAINS, SHARED_AUDIT_OPERATIONS, Audit, AuditEntry
from trustd.store.certificates import StoredCertificate
from trustd.store.database import (
    CACHE_SIZE,
    Actor,
    NotFound,
    NoTrustSettings,
    QuotaExceeded,
    StorageFailure,
    owner_uid,
)
from trustd.store.exceptions import Exceptions, StoredExceptions
from trustd.store.network_cache import NetworkCache
from trustd.store.sources import DropinSources, SourceContents, SourceRecord, SourcesReplaced
from trustd.store.system_anchors import SystemAnchors

__all__ = [
    "CACHE_SIZE",
    "SHARED_AUDIT_DOMAINS",
    "SHARED_AUDIT_OPERATIONS",
    "Actor",
    "AuditEntry",
    "NoTrustSettings",
    "NotFound",
    "QuotaExceeded",
    "SourceContents",
    "SourceRecord",
    "SourcesReplaced",
    "StorageFailure",
    "StoreSnapshot",
    "StoredCertificate",
    "StoredExceptions",
    "TrustStore",
    "owner_uid",
]


class TrustStore(DropinSources, Exceptions, Audit, NetworkCache):
    """The persistent stores of trustd over one SQLite database, and the system anchors."""

    def __init__(
        self,
        engine: Engine,
        system: SystemAnchors | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(engine, clock)
        self.system = system

    def follow(self, generation: int) -> None:
        """Adopt the writer's generation (a read-only copy in another process calls this)."""
        if generation != self._generation:
            with self._generation_lock:
                self._generation = generation
            self.clear_caches()
            if self.system is not None:
                self.system.refresh()

    def snapshot(self, uid: int) -> StoreSnapshot:
        return StoreSnapshot(self, uid)


class StoreSnapshot:
    """The evaluation core's Snapshot, served from the store for one uid."""

    def __init__(self, store: TrustStore, uid: int) -> None:
        self._store = store
        self._uid = uid
        self._epoch: int | None = None
        system = store.system
        self.cache_token: Hashable | None = (
            "store",
            store.instance,
            store.generation,
            uid,
            None if system is None else system.version,
        )

    @property
    def exceptions_epoch(self) -> int:
        if self._epoch is None:
            self._epoch = self._store.exceptions_epoch(self._uid)
        return self._epoch

    def issuers_of(self, issuer_key: bytes) -> Iterable[tuple[Certificate, Origin]]:
        found: list[tuple[Certificate, Origin]] = []
        system = self._store.system
        if system is not None:
            found.extend((cert, Origin.SYSTEM) for cert in system.by_subject(issuer_key))
        for cert in self._store.stored_issuers(issuer_key, self._uid):
            settings = self._store.settings_for(cert.sha1, self._uid)
            if settings is None:
                found.append((cert, Origin.INTERMEDIATES))
            else:
                found.append(
                    (cert, Origin.ADMIN if settings.domain is Domain.ADMIN else Origin.USER)
                )
        return found

    def trust_settings_for(self, certificate: Certificate) -> TrustSettings | None:
        return self._store.settings_for(certificate.sha1, self._uid)

    def is_system_anchor(self, certificate: Certificate) -> bool:
        system = self._store.system
        return system is not None and system.contains(certificate)
