"""Drop-in sources: what each drop-in file put in the store, replaced in one transaction.

A source is a drop-in file's path; its certificates go to the shared store and its trust
settings to the admin domain, and a record (`DropinSourceRow`) keeps the fingerprint of what it
applied, so that the watcher re-applies only the files that changed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from trustd.core.certificates import Certificate
from trustd.core.trust_settings import Domain, UsageConstraint
from trustd.store.certificates import Certificates, existing
from trustd.store.database import (
    UNSYNCHRONISED,
    Actor,
    StorageFailure,
    chunks,
    in_chunks,
    under,
)
from trustd.store.engine import first_line
from trustd.store.models import ADMIN_UID, CertificateRow, DropinSourceRow, TrustSettingsRow
from trustd.store.trust_settings import TrustSettingsStore, constraint_row, settings_summary

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """What the store remembers of an applied drop-in file: the fingerprint of what it put in,
    and the SHA-1s of its trust-settings entries that wait for their certificate."""

    fingerprint: str
    pending: frozenset[bytes] = frozenset()


@dataclass(frozen=True, slots=True)
class SourceContents:
    """Everything one drop-in file puts in the store: certificates (added to the shared store
    unless it holds them already) and admin trust settings as (SHA-1, the certificate when
    known, usage constraints)."""

    source: str
    fingerprint: str
    certificates: Sequence[Certificate]
    settings: Sequence[tuple[bytes, Certificate | None, Sequence[UsageConstraint]]]


@dataclass(frozen=True, slots=True)
class SourcesReplaced:
    """What `replace_sources` did: the sources stored, each with its pending SHA-1s, and the
    sources left out (with the store's reason), whose old rows stay as they were."""

    stored: dict[str, frozenset[bytes]]
    failed: dict[str, str]


class _SourceRefused(Exception):
    """The store refused rows of `source` (None: of a flush of several sources)."""

    def __init__(self, source: str | None, reason: str) -> None:
        super().__init__(reason)
        self.source, self.reason = source, reason


@contextmanager
def _refusing(source: str | None) -> Iterator[None]:
    """A refusal of this source's rows (a constraint, a value) names the source; a failure of
    the database itself (OperationalError) is everyone's and passes on."""
    try:
        yield
    except OperationalError:
        raise
    except (SQLAlchemyError, ValueError) as problem:
        raise _SourceRefused(source, first_line(problem)) from None


class DropinSources(Certificates, TrustSettingsStore):
    """Replacing and removing what drop-in files put in the store; what they applied."""

    def delete_by_source(self, source: str, *, actor: Actor) -> int:
        """Remove exactly what one drop-in file added (certificates and trust settings)."""
        with self._write() as session:
            return self._remove_source(session, source, actor)

    def _remove_source(self, session: Session, source: str, actor: Actor) -> int:
        settings = session.execute(
            delete(TrustSettingsRow).where(TrustSettingsRow.source == source),
            execution_options=UNSYNCHRONISED,
        ).rowcount  # type: ignore[attr-defined]
        certificates = session.execute(
            delete(CertificateRow).where(CertificateRow.source == source),
            execution_options=UNSYNCHRONISED,
        ).rowcount  # type: ignore[attr-defined]
        session.execute(
            delete(DropinSourceRow).where(DropinSourceRow.source == source),
            execution_options=UNSYNCHRONISED,
        )
        removed = (settings or 0) + (certificates or 0)
        if removed:
            self._audit(session, actor, "remove-source", source, f"{removed} rows")
        return removed

    def sources_under(self, prefixes: Iterable[str]) -> dict[str, SourceRecord | None]:
        """Every source under these prefixes (drop-in directories, ending in "/") that has
        rows or a record of what it applied: its record, or None for rows without one or
        rows that no longer are what it recorded (an administrator deleted some)."""
        found: dict[str, SourceRecord | None] = {}
        with self._read() as session:
            for prefix in prefixes:
                counts: dict[str, list[int]] = {}
                for index, column in enumerate((CertificateRow.source, TrustSettingsRow.source)):
                    query = select(column, func.count()).where(under(column, prefix))
                    for source, count in session.execute(query.group_by(column)):
                        counts.setdefault(source, [0, 0])[index] = count
                        found[source] = None
                records = session.scalars(
                    select(DropinSourceRow).where(under(DropinSourceRow.source, prefix))
                )
                for row in records:
                    if counts.get(row.source, [0, 0]) != [row.certificates, row.settings]:
                        # its rows were changed by other means: not what it applied
                        found[row.source] = None
                        continue
                    pending = frozenset(
                        row.pending[i : i + 20] for i in range(0, len(row.pending), 20)
                    )
                    found[row.source] = SourceRecord(row.fingerprint, pending)
        return found

    def admin_settings_by_source(self, prefix: str) -> dict[str, frozenset[bytes]]:
        """The SHA-1s each source under `prefix` holds admin trust settings for."""
        query = select(TrustSettingsRow.source, TrustSettingsRow.sha1).where(
            under(TrustSettingsRow.source, prefix), TrustSettingsRow.uid == ADMIN_UID
        )
        found: dict[str, set[bytes]] = {}
        with self._read() as session:
            for source, sha1 in session.execute(query):
                if sha1 is not None:
                    found.setdefault(source, set()).add(sha1)
        return {source: frozenset(sha1s) for source, sha1s in found.items()}

    def replace_sources(
        self,
        removals: Sequence[str],
        contents: Sequence[SourceContents],
        *,
        actor: Callable[[str], Actor],
    ) -> SourcesReplaced:
        """Remove the rows of `removals` (which must name every source in `contents` that has
        rows already), then store each source's certificates, admin trust settings and record,
        in ONE transaction:
        readers see every file's old rows or its new ones, never a file half applied or a
        deny lifted in between, and a crash leaves each file whole or absent.

        Certificates go in before trust settings, so an entry finds a certificate another
        source adds in the same call; an entry whose certificate is still unknown is pending
        (not stored) and listed.  A source whose rows the store refuses (a constraint, a
        value; `failed`) is left out and the call is done again without it, so one file never
        blocks the others; a failure of the database itself (disk full, I/O, locked) ends the
        call with StorageFailure and nothing changed.
        """
        skipped: dict[str, str] = {}
        careful = False  # flush after each source, to tell whose rows are refused
        while True:
            try:
                with self._write() as session:
                    pending = self._replace_sources(
                        session, removals, contents, skipped, actor, careful=careful
                    )
                return SourcesReplaced(pending, skipped)
            except _SourceRefused as refused:
                log.debug("drop-in rows refused (%s): %s", refused.source, refused.reason)
                if refused.source is not None:
                    skipped[refused.source] = refused.reason
                elif careful:  # refused, but not for one source's rows
                    raise StorageFailure(refused.reason) from None
                careful = True

    def _replace_sources(
        self,
        session: Session,
        removals: Sequence[str],
        contents: Sequence[SourceContents],
        skipped: Mapping[str, str],
        actor: Callable[[str], Actor],
        *,
        careful: bool,
    ) -> dict[str, frozenset[bytes]]:
        todo = [c for c in contents if c.source not in skipped]
        # old rows first: a certificate moving from one file to another must not be taken
        # for one the store already holds, and then go with its old file
        for source in sorted(set(removals) - set(skipped)):
            with _refusing(source):
                self._remove_source(session, source, actor(source))
        # Certificates: each source's in a few statements, run at once, so a refusal names
        # its source.  `held`: the SHA-256s the shared store holds, growing as sources add.
        held = existing(session, [c.sha256 for item in todo for c in item.certificates])
        added: dict[str, int] = {}
        for item in todo:
            with _refusing(item.source):
                new = self._add_unheld(
                    session,
                    item.certificates,
                    held,
                    source=item.source,
                    uid=ADMIN_UID,
                    actor=actor(item.source),
                )
                added[item.source] = sum(new)
        # Settings: flushing once, not once per source, saves most of the time of thousands
        # of files; a refusal then names no source, and the call is made again carefully.
        pending: dict[str, frozenset[bytes]] = {}
        wanted = [sha1 for item in todo for sha1, _, _ in item.settings]
        query = select(CertificateRow).where(CertificateRow.uid == ADMIN_UID)
        stored = {row.sha1: row for row in in_chunks(session, query, CertificateRow.sha1, wanted)}
        known = [
            sha1.hex().upper()
            for item in todo
            for sha1, given, _ in item.settings
            if given is not None or sha1 in stored
        ]
        if known:
            self._ensure_domain(session, ADMIN_UID)
            # each certificate's array is replaced, as set_trust_settings does
            for chunk in chunks(known):
                session.execute(
                    delete(TrustSettingsRow).where(
                        TrustSettingsRow.uid == ADMIN_UID, TrustSettingsRow.key.in_(chunk)
                    ),
                    execution_options=UNSYNCHRONISED,
                )
            session.flush()
        with session.no_autoflush:
            for item in todo:
                with _refusing(item.source):
                    pending[item.source] = self._add_source_settings(
                        session, item, actor(item.source), stored, added[item.source]
                    )
                    if careful:
                        session.flush()
        with _refusing(None):
            session.flush()
        # rows of other sources that pointed at a certificate removed and added again above
        shared = select(CertificateRow.id).where(
            CertificateRow.sha1 == TrustSettingsRow.sha1, CertificateRow.uid == ADMIN_UID
        )
        session.execute(
            update(TrustSettingsRow)
            .where(TrustSettingsRow.certificate_id.is_(None), shared.exists())
            .values(certificate_id=shared.scalar_subquery()),
            execution_options=UNSYNCHRONISED,
        )
        return pending

    def _add_source_settings(
        self,
        session: Session,
        item: SourceContents,
        actor: Actor,
        stored: Mapping[bytes, CertificateRow],
        certificates: int,
    ) -> frozenset[bytes]:
        """The source's admin trust settings (their keys' old rows are gone) and its record;
        the SHA-1s left pending.  `stored`: the shared store's certificates by SHA-1."""
        pending, entries = set(), []
        for sha1, given, constraints in item.settings:
            row = stored.get(sha1)
            cert = given or (None if row is None else self._certificate(row))
            if cert is None:
                pending.add(sha1)
            else:
                entries.append((cert, row, constraints))
        keys = [cert.sha1.hex().upper() for cert, _, _ in entries]
        for (cert, row, constraints), key in zip(entries, keys, strict=True):
            settings = TrustSettingsRow(
                uid=ADMIN_UID,
                key=key,
                sha1=cert.sha1,
                certificate_id=None if row is None else row.id,
                issuer_name=cert.issuer_der,
                serial_number=cert.parts.serial,
                mod_date=self.clock(),
                extra=None,
                source=item.source,
            )
            settings.constraints = [constraint_row(i, c) for i, c in enumerate(constraints)]
            session.add(settings)
            summary = settings_summary(cert, constraints)
            self._audit(session, actor, "set-trust-settings", key, summary, domain=Domain.ADMIN)
        session.add(
            DropinSourceRow(
                source=item.source,
                fingerprint=item.fingerprint,
                pending=b"".join(sorted(pending)),
                certificates=certificates,
                settings=len(entries),
                applied_at=self.clock(),
            )
        )
        return frozenset(pending)
