"""Answers fetched from the network (OCSP responses, CRLs, issuers), kept until they expire."""

from __future__ import annotations

from datetime import datetime

from trustd.store.database import Database, one, utc
from trustd.store.models import NetworkCacheRow


class NetworkCache(Database):
    """The network cache, by kind and key."""

    def cache_put(self, kind: str, key: str, data: bytes, expires_at: datetime) -> None:
        with self._write() as session:
            row = one(session, NetworkCacheRow, kind=kind, key=key)
            if row is None:
                row = NetworkCacheRow(kind=kind, key=key)
                session.add(row)
            row.data, row.fetched_at, row.expires_at = data, self.clock(), expires_at

    def cache_get(self, kind: str, key: str) -> tuple[bytes, datetime] | None:
        """The cached answer and its expiry (the caller decides whether stale is usable)."""
        with self._read() as session:
            row = one(session, NetworkCacheRow, kind=kind, key=key)
            return None if row is None else (row.data, utc(row.expires_at))
