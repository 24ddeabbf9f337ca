"""The certificate stores: the shared one (keychains every user searches) and users' own."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from trustd.core.certificates import Certificate
from trustd.core.trust_settings import Domain
from trustd.store.database import (
    Actor,
    Database,
    NotFound,
    QuotaExceeded,
    chunks,
    count,
    in_chunks,
    one,
    utc,
)
from trustd.store.models import ADMIN_UID, CertificateEmailRow, CertificateRow


@dataclass(frozen=True, slots=True)
class StoredCertificate:
    certificate: Certificate
    source: str
    added_at: datetime


def store_domain(uid: int) -> Domain | None:
    """The audit domain of a change to a certificate store: none for the shared one, "user"
    for a user's own (private to that user, as their trust settings are)."""
    return None if uid == ADMIN_UID else Domain.USER


def existing(session: Session, sha256s: Sequence[bytes], uid: int = ADMIN_UID) -> set[bytes]:
    """Which of these certificates (by SHA-256) `uid`'s store (or the shared one) holds."""
    query = select(CertificateRow.sha256).where(CertificateRow.uid == uid)
    return set(in_chunks(session, query, CertificateRow.sha256, sha256s))


def _add_emails(session: Session, uid: int, added: Sequence[Certificate]) -> None:
    """The e-mail address rows of certificates just added to `uid`'s store, which
    find-certificate -e searches."""
    emails = {
        cert.sha256: sorted({a.lower() for a in cert.email_addresses})
        for cert in added
        if cert.email_addresses
    }
    if not emails:
        return
    query = select(CertificateRow.sha256, CertificateRow.id).where(CertificateRow.uid == uid)
    ids: dict[bytes, int] = {}
    for chunk in chunks(list(emails)):
        ids.update(session.execute(query.where(CertificateRow.sha256.in_(chunk))).all())
    session.execute(
        insert(CertificateEmailRow.__table__),  # type: ignore[arg-type]
        [
            {"certificate_id": ids[sha256], "email": email}
            for sha256, addresses in emails.items()
            for email in addresses
        ],
    )


class Certificates(Database):
    """Adding, finding and deleting certificates; the issuers evaluation asks for."""

    def add_certificates(
        self,
        certificates: Iterable[Certificate],
        *,
        source: str,
        actor: Actor,
        uid: int = ADMIN_UID,
        max_count: int | None = None,
    ) -> list[tuple[Certificate, bool]]:
        """Add certificates in one transaction; (certificate, newly added) for each.

        `uid` ADMIN_UID adds to the shared store; a user's uid to that user's own.  Duplicates
        are per store, as keychains have them: a user's own store may hold its own copy of a
        certificate the shared store holds.  QuotaExceeded when the user's own would hold more
        than `max_count`."""
        certificates = list(certificates)
        with self._write() as session:
            held = existing(session, [cert.sha256 for cert in certificates], uid)
            added = self._add_unheld(
                session, certificates, held, source=source, uid=uid, actor=actor
            )
            results = list(zip(certificates, added, strict=True))
            if max_count is not None and count(session, CertificateRow.uid == uid) > max_count:
                raise QuotaExceeded("certificates of their own", max_count)
        return results

    def add_certificate(self, cert: Certificate, *, source: str, actor: Actor) -> bool:
        return self.add_certificates([cert], source=source, actor=actor)[0][1]

    def _add_unheld(
        self,
        session: Session,
        certificates: Iterable[Certificate],
        held: set[bytes],
        *,
        source: str,
        uid: int,
        actor: Actor,
    ) -> list[bool]:
        """Add those certificates whose SHA-256 is not in `held` (which grows, so a second copy
        is not added) to `uid`'s store (or the shared one), with their e-mail addresses and
        audit rows; for each, whether it was added.  A few statements for thousands of rows."""
        added, new = [], []
        for cert in certificates:
            unheld = cert.sha256 not in held
            if unheld:
                held.add(cert.sha256)
                new.append(cert)
            added.append(unheld)
        if not new:
            return added
        now = self.clock()
        session.execute(
            insert(CertificateRow.__table__),  # type: ignore[arg-type]
            [
                {
                    "uid": uid,
                    "sha1": cert.sha1,
                    "sha256": cert.sha256,
                    "der": cert.der,
                    "subject_key": cert.subject_key,
                    "issuer_key": cert.issuer_key,
                    "ski": cert.subject_key_identifier,
                    "aki": cert.authority_key_id,
                    "serial": cert.parts.serial,
                    "not_before": cert.not_before,
                    "not_after": cert.not_after,
                    "summary": cert.subject_summary,
                    "source": source,
                    "added_at": now,
                }
                for cert in new
            ],
        )
        _add_emails(session, uid, new)
        self._audit_all(
            session,
            actor,
            "add-certificate",
            [(cert.sha1.hex().upper(), cert.subject_summary) for cert in new],
            domain=store_domain(uid),
        )
        return added

    def find_certificates(
        self,
        *,
        sha1: bytes | None = None,
        sha256: bytes | None = None,
        subject: str | None = None,
        email: str | None = None,
        limit: int | None = None,
        uid: int | None = None,
    ) -> list[StoredCertificate]:
        """Certificates matching every criterion given (subject: case-insensitive substring):
        the shared store's, and with `uid` that user's own too."""
        owners = (ADMIN_UID,) if uid is None else (ADMIN_UID, uid)
        query = (
            select(CertificateRow)
            .where(CertificateRow.uid.in_(owners))
            .order_by(CertificateRow.uid, CertificateRow.id)
        )
        if sha1 is not None:
            query = query.where(CertificateRow.sha1 == sha1)
        if sha256 is not None:
            query = query.where(CertificateRow.sha256 == sha256)
        if subject is not None:
            pattern = (
                "%"
                + subject.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                + "%"
            )
            query = query.where(func.lower(CertificateRow.summary).like(pattern, escape="\\"))
        if email is not None:
            query = query.join(CertificateRow.emails).where(
                CertificateEmailRow.email == email.lower()
            )
        if limit is not None:
            query = query.limit(limit)
        with self._read() as session:
            return [
                StoredCertificate(self._certificate(row), row.source, utc(row.added_at))
                for row in session.scalars(query)
            ]

    def delete_certificate(self, sha1: bytes, *, actor: Actor, uid: int = ADMIN_UID) -> None:
        """Remove the certificate from the shared store, or from `uid`'s own."""
        with self._write() as session:
            row = one(session, CertificateRow, sha1=sha1, uid=uid)
            if row is None:
                raise NotFound(sha1.hex().upper())
            session.delete(row)
            self._audit(
                session,
                actor,
                "delete-certificate",
                sha1.hex().upper(),
                row.summary,
                domain=store_domain(uid),
            )

    def count_certificates(self) -> int:
        with self._read() as session:
            return count(session, CertificateRow.uid == ADMIN_UID)

    # -- what evaluation reads -----------------------------------------------------------------

    def stored_issuers(self, issuer_key: bytes, uid: int = ADMIN_UID) -> tuple[Certificate, ...]:
        """Certificates with this normalised subject in the shared store, then in `uid`'s own
        (index lookups, cached).  The shared store's answer is cached for everyone; a user's
        own store is asked only when that user has one."""
        shared = self._issuers(issuer_key, ADMIN_UID)
        if uid == ADMIN_UID or uid not in self._owners():
            return shared
        known = {cert.sha256 for cert in shared}  # in both stores: one candidate
        return shared + tuple(c for c in self._issuers(issuer_key, uid) if c.sha256 not in known)

    def _issuers(self, issuer_key: bytes, owner: int) -> tuple[Certificate, ...]:
        def load() -> tuple[Certificate, ...]:
            with self._read() as session:
                rows = session.scalars(
                    select(CertificateRow)
                    .where(CertificateRow.subject_key == issuer_key, CertificateRow.uid == owner)
                    .order_by(CertificateRow.id)
                    .limit(64)
                )
                return tuple(self._certificate(row) for row in rows)

        return self._cached(("issuers", owner, issuer_key), load)

    def _owners(self) -> frozenset[int]:
        """The uids that have a certificate store of their own (cached)."""

        def load() -> frozenset[int]:
            with self._read() as session:
                # uids are never below ADMIN_UID (-1): a range the (uid, sha1) index answers
                query = select(CertificateRow.uid).where(CertificateRow.uid > ADMIN_UID)
                return frozenset(session.scalars(query.distinct()))

        return self._cached(("owners",), load)
