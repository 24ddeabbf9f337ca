"""The audit log: every change to the store, who made it, and who may read it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select

from trustd.core.trust_settings import Domain
from trustd.store.database import Actor, Database, as_utc, utc
from trustd.store.models import AuditRow

# Audit rows about state every user shares, readable by all: the admin domain, and the
# shared certificate store (candidate issuers for everyone; drop-in files removed), whose rows
# have no domain.  Users' own domains, own certificate stores (rows with domain "user") and
# exceptions are readable by their owner alone.
SHARED_AUDIT_DOMAINS = ("admin",)
SHARED_AUDIT_OPERATIONS = ("add-certificate", "delete-certificate", "remove-source")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: datetime
    uid: int
    pid: int | None
    operation: str
    domain: str | None
    object: str
    summary: str
    source: str | None


class Audit(Database):
    """Reading the audit log, and writing the rows of changes made outside the database."""

    def record(self, actor: Actor, operation: str, obj: str, summary: str) -> None:
        """An audit row of the admin domain for a change made outside the database (a
        configuration profile installed or removed: its rows follow through the drop-ins)."""
        with self._write() as session:
            self._audit(session, actor, operation, obj, summary, domain=Domain.ADMIN)

    def audit_entries(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        obj: str | None = None,
        domain: Domain | None = None,
        limit: int = 1000,
        visible_to: int | None = None,
    ) -> list[AuditEntry]:
        """The newest `limit` audit rows matching every filter given, newest first.

        `since` and `until` bound the time (inclusive, exclusive); `obj` is the object changed
        (a certificate's upper-case SHA-1, host:port, a drop-in file); with `visible_to`, only
        the rows that uid may read: its own changes and those of state shared by everyone
        (SHARED_AUDIT_DOMAINS, SHARED_AUDIT_OPERATIONS), never another user's own domain or
        exceptions.
        """
        query = select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)
        if since is not None:
            query = query.where(AuditRow.at >= as_utc(since))
        if until is not None:
            query = query.where(AuditRow.at < as_utc(until))
        if obj is not None:
            query = query.where(AuditRow.object == obj)
        if domain is not None:
            query = query.where(AuditRow.domain == domain.value)
        if visible_to is not None:
            query = query.where(
                or_(
                    AuditRow.uid == visible_to,
                    AuditRow.domain.in_(SHARED_AUDIT_DOMAINS),
                    and_(
                        AuditRow.operation.in_(SHARED_AUDIT_OPERATIONS),
                        AuditRow.domain.is_(None),
                    ),
                )
            )
        with self._read() as session:
            return [
                AuditEntry(
                    utc(r.at), r.uid, r.pid, r.operation, r.domain, r.object, r.summary, r.source
                )
                for r in session.scalars(query)
            ]
