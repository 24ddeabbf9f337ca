"""The trust store's API: core values in, core values out, one transaction per operation.

`TrustStore` wraps the database and the system anchors.  It never hands out ORM rows.  Every
change writes an audit row in the same transaction.  `snapshot(uid)` serves the evaluation
core's Snapshot interface from indexed lookups with a bounded cache, so evaluation cost does not
grow with the number of stored certificates.
"""

from __future__ import annotations

import itertools
import logging
import plistlib
import threading
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, and_, delete, func, or_, select, update
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, selectinload

from trustd.core.certificates import Certificate, MalformedCertificate, parse_certificate
from trustd.core.exceptions import ExceptionList
from trustd.core.lru import LRU
from trustd.core.snapshot import Origin
from trustd.core.trust_settings import (
    Domain,
    SettingsResult,
    TrustSettings,
    TrustSettingsEntry,
    UsageConstraint,
)
from trustd.plist.exceptions import decode_exceptions, encode_exceptions
from trustd.store.engine import first_line, writer
from trustd.store.models import (
    ADMIN_UID,
    AuditRow,
    CertificateEmailRow,
    CertificateRow,
    DropinSourceRow,
    ExceptionEpochRow,
    ExceptionRow,
    NetworkCacheRow,
    TrustDomainRow,
    TrustSettingsRow,
    UsageConstraintRow,
)
from trustd.store.system_anchors import SystemAnchors

log = logging.getLogger(__name__)

CACHE_SIZE = 4096
_INSTANCES = itertools.count()
# Cached stand-in for "no settings" (the LRU treats None as a miss).
_NO_SETTINGS = TrustSettings(Domain.SYSTEM)


class NotFound(LookupError):
    """The object asked for is not in the store."""


class NoTrustSettings(LookupError):
    """The domain has no trust-settings record at all (errSecNoTrustSettings)."""


class QuotaExceeded(RuntimeError):
    """A user's change would store more than a user may (`what`, `limit`); nothing changed."""

    def __init__(self, what: str, limit: int) -> None:
        super().__init__(f"at most {limit} {what}")
        self.what, self.limit = what, limit


class StorageFailure(RuntimeError):
    """The database could not do the operation (disk full, I/O error, locked past the busy
    timeout).  The transaction was rolled back: nothing of it is stored, nothing before it is
    lost.  The message is SQLite's."""


@contextmanager
def _storage_errors() -> Iterator[None]:
    try:
        yield
    except OperationalError as problem:
        reason = first_line(problem.orig or problem)
        log.error("the database failed: %s", reason)
        raise StorageFailure(reason) from None


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is changing the store: written to the audit log."""

    uid: int
    pid: int | None = None
    source: str | None = None  # the drop-in file a change comes from


@dataclass(frozen=True, slots=True)
class StoredCertificate:
    certificate: Certificate
    source: str
    added_at: datetime


@dataclass(frozen=True, slots=True)
class StoredExceptions:
    uid: int
    host: str
    port: int
    exceptions: ExceptionList
    created_at: datetime
    last_used_at: datetime | None


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


# Bulk deletes and updates in a session that adds rows for thousands of files: matching them
# against every object in the session would cost O(rows) each.  The rows they touch are never
# used again in that session (each file's old rows go before its new ones come).
_UNSYNCHRONISED = {"synchronize_session": False}
_CHUNK = 500  # values per IN (...): well below SQLite's limit on bound parameters


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _in_chunks(session: Session, query: Any, column: Any, values: Sequence[Any]) -> Iterator[Any]:
    """The rows of `query` whose `column` is one of `values`, asked in chunks."""
    for chunk in _chunks(values):
        yield from session.scalars(query.where(column.in_(chunk)))


def _existing(session: Session, sha256s: Sequence[bytes]) -> set[bytes]:
    """Which of these certificates (by SHA-256) the shared store holds."""
    query = select(CertificateRow.sha256).where(CertificateRow.uid == ADMIN_UID)
    return set(_in_chunks(session, query, CertificateRow.sha256, sha256s))


def _under(column: Any, prefix: str) -> ColumnElement[bool]:
    """`column` starts with `prefix`, as a range the column's index answers (LIKE does not,
    under SQLite's default case-insensitive LIKE)."""
    end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return and_(column >= prefix, column < end)


# Audit rows about state every user shares, readable by all: the admin domain, and the
# shared certificate store (candidate issuers for everyone; drop-in files removed), whose rows
# have no domain.  Users' own domains, own certificate stores (rows with domain "user") and
# exceptions are readable by their owner alone.
SHARED_AUDIT_DOMAINS = ("admin",)
SHARED_AUDIT_OPERATIONS = ("add-certificate", "delete-certificate", "remove-source")


def _store_domain(uid: int) -> Domain | None:
    """The audit domain of a change to a certificate store: none for the shared one, "user"
    for a user's own (private to that user, as their trust settings are)."""
    return None if uid == ADMIN_UID else Domain.USER


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


def owner_uid(domain: Domain, uid: int) -> int:
    """The uid column for a domain: ADMIN_UID for admin, the user's uid for user."""
    if domain is Domain.ADMIN:
        return ADMIN_UID
    if domain is Domain.USER:
        return uid
    raise ValueError("the system domain is read-only")


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _as_utc(moment: datetime) -> datetime:
    """A moment for comparing with stored times (UTC): naive means UTC, others are converted."""
    return _utc(moment).astimezone(UTC)


# -- row <-> value ----------------------------------------------------------------------------


def _pack_extra(extra: dict[str, Any] | Any) -> bytes | None:
    return plistlib.dumps(dict(extra), fmt=plistlib.FMT_BINARY) if extra else None


def _unpack_extra(blob: bytes | None) -> dict[str, Any]:
    if not blob:
        return {}
    value = plistlib.loads(blob)
    return value if isinstance(value, dict) else {}


def _constraint_row(position: int, constraint: UsageConstraint) -> UsageConstraintRow:
    return UsageConstraintRow(
        position=position,
        policy_oid=constraint.policy_oid,
        policy_oid_as_string=constraint.policy_oid_as_string,
        policy_name=constraint.policy_name,
        policy_string=constraint.policy_string,
        application=constraint.application,
        allowed_error=constraint.allowed_error,
        result=None if constraint.result is None else int(constraint.result),
        key_usage=constraint.key_usage,
        extra=_pack_extra(constraint.extra),
    )


def _constraint_value(row: UsageConstraintRow) -> UsageConstraint:
    result: SettingsResult | int | None = row.result
    if row.result is not None and row.result in SettingsResult._value2member_map_:
        result = SettingsResult(row.result)
    return UsageConstraint(
        policy_oid=row.policy_oid,
        policy_name=row.policy_name,
        policy_string=row.policy_string,
        application=row.application,
        allowed_error=row.allowed_error,
        result=result,  # type: ignore[arg-type]
        key_usage=row.key_usage,
        extra=_unpack_extra(row.extra),
        policy_oid_as_string=row.policy_oid_as_string,
    )


def _entry_value(row: TrustSettingsRow) -> TrustSettingsEntry:
    return TrustSettingsEntry(
        key=row.key,
        issuer_name=row.issuer_name,
        serial_number=row.serial_number,
        mod_date=_utc(row.mod_date),
        constraints=tuple(_constraint_value(c) for c in row.constraints),
        extra=_unpack_extra(row.extra),
    )


class TrustStore:
    """The persistent stores of trustd over one SQLite database."""

    def __init__(
        self,
        engine: Engine,
        system: SystemAnchors | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.engine = engine
        self._writer = writer(engine)
        self.system = system
        self.clock = clock
        self._generation = 0
        self._generation_lock = threading.Lock()
        self._parsed: LRU[bytes, Certificate] = LRU(CACHE_SIZE)
        self._lookups: LRU[Hashable, Any] = LRU(CACHE_SIZE)
        self.instance = next(_INSTANCES)

    # -- sessions ------------------------------------------------------------------------------

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with _storage_errors(), Session(self.engine) as session, session.begin():
            yield session

    @contextmanager
    def _write(self) -> Iterator[Session]:
        """One write transaction; caches are invalidated when it commits."""
        with _storage_errors(), Session(self._writer, expire_on_commit=False) as session:
            with session.begin():
                yield session
            with self._generation_lock:
                self._generation += 1
            self._lookups.clear()

    def clear_caches(self) -> None:
        """Forget cached lookups and parsed certificates (they are rebuilt on demand)."""
        self._lookups.clear()
        self._parsed.clear()

    def follow(self, generation: int) -> None:
        """Adopt the writer's generation (a read-only copy in another process calls this)."""
        if generation != self._generation:
            with self._generation_lock:
                self._generation = generation
            self.clear_caches()
            if self.system is not None:
                self.system.refresh()

    def bump(self) -> None:
        """Mark a change made outside the database (the system bundle was re-read)."""
        with self._generation_lock:
            self._generation += 1
        self.clear_caches()

    @property
    def generation(self) -> int:
        """Increases with every committed change (cache keys and Monitor use it)."""
        return self._generation

    def _audit(
        self,
        session: Session,
        actor: Actor,
        operation: str,
        obj: str,
        summary: str,
        *,
        domain: Domain | None = None,
    ) -> None:
        session.add(
            AuditRow(
                at=self.clock(),
                uid=actor.uid,
                pid=actor.pid,
                operation=operation,
                domain=None if domain is None else domain.value,
                object=obj,
                summary=summary,
                source=actor.source,
            )
        )

    def record(self, actor: Actor, operation: str, obj: str, summary: str) -> None:
        """An audit row of the admin domain for a change made outside the database (a
        configuration profile installed or removed: its rows follow through the drop-ins)."""
        with self._write() as session:
            self._audit(session, actor, operation, obj, summary, domain=Domain.ADMIN)

    def _certificate(self, row: CertificateRow) -> Certificate:
        key, der = row.sha256, row.der
        return self._parsed.get_or_compute(key, lambda: _stored_certificate(key, der))

    # -- certificates --------------------------------------------------------------------------

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
        results: list[tuple[Certificate, bool]] = []
        with self._write() as session:
            for cert in certificates:
                exists = session.scalar(
                    select(CertificateRow.id).where(
                        CertificateRow.sha256 == cert.sha256, CertificateRow.uid == uid
                    )
                )
                if exists is not None:
                    results.append((cert, False))
                    continue
                session.add(self._certificate_row(cert, source, uid))
                self._audit(
                    session,
                    actor,
                    "add-certificate",
                    cert.sha1.hex().upper(),
                    cert.subject_summary,
                    domain=_store_domain(uid),
                )
                results.append((cert, True))
            if max_count is not None and _count(session, CertificateRow.uid == uid) > max_count:
                raise QuotaExceeded("certificates of their own", max_count)
        return results

    def add_certificate(self, cert: Certificate, *, source: str, actor: Actor) -> bool:
        return self.add_certificates([cert], source=source, actor=actor)[0][1]

    def _certificate_row(self, cert: Certificate, source: str, uid: int) -> CertificateRow:
        row = CertificateRow(
            uid=uid,
            sha1=cert.sha1,
            sha256=cert.sha256,
            der=cert.der,
            subject_key=cert.subject_key,
            issuer_key=cert.issuer_key,
            ski=cert.subject_key_identifier,
            aki=cert.authority_key_id,
            serial=cert.parts.serial,
            not_before=cert.not_before,
            not_after=cert.not_after,
            summary=cert.subject_summary,
            source=source,
            added_at=self.clock(),
        )
        row.emails = [
            CertificateEmailRow(email=e) for e in sorted({a.lower() for a in cert.email_addresses})
        ]
        return row

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
                StoredCertificate(self._certificate(row), row.source, _utc(row.added_at))
                for row in session.scalars(query)
            ]

    def delete_certificate(self, sha1: bytes, *, actor: Actor, uid: int = ADMIN_UID) -> None:
        """Remove the certificate from the shared store, or from `uid`'s own."""
        with self._write() as session:
            row = session.scalar(
                select(CertificateRow).where(CertificateRow.sha1 == sha1, CertificateRow.uid == uid)
            )
            if row is None:
                raise NotFound(sha1.hex().upper())
            session.delete(row)
            self._audit(
                session,
                actor,
                "delete-certificate",
                sha1.hex().upper(),
                row.summary,
                domain=_store_domain(uid),
            )

    def count_user_settings(self) -> int:
        """Trust-settings entries in all user domains together."""
        with self._read() as session:
            return _count(session, TrustSettingsRow.uid != ADMIN_UID)

    def count_certificates(self) -> int:
        with self._read() as session:
            return _count(session, CertificateRow.uid == ADMIN_UID)

    def delete_by_source(self, source: str, *, actor: Actor) -> int:
        """Remove exactly what one drop-in file added (certificates and trust settings)."""
        with self._write() as session:
            return self._remove_source(session, source, actor)

    def _remove_source(self, session: Session, source: str, actor: Actor) -> int:
        settings = session.execute(
            delete(TrustSettingsRow).where(TrustSettingsRow.source == source),
            execution_options=_UNSYNCHRONISED,
        ).rowcount  # type: ignore[attr-defined]
        certificates = session.execute(
            delete(CertificateRow).where(CertificateRow.source == source),
            execution_options=_UNSYNCHRONISED,
        ).rowcount  # type: ignore[attr-defined]
        session.execute(
            delete(DropinSourceRow).where(DropinSourceRow.source == source),
            execution_options=_UNSYNCHRONISED,
        )
        removed = (settings or 0) + (certificates or 0)
        if removed:
            self._audit(session, actor, "remove-source", source, f"{removed} rows")
        return removed

    # -- drop-in files -------------------------------------------------------------------------

    def sources_under(self, prefixes: Iterable[str]) -> dict[str, SourceRecord | None]:
        """Every source under these prefixes (drop-in directories, ending in "/") that has
        rows or a record of what it applied: its record, or None for rows without one or
        rows that no longer are what it recorded (an administrator deleted some)."""
        found: dict[str, SourceRecord | None] = {}
        with self._read() as session:
            for prefix in prefixes:
                counts: dict[str, list[int]] = {}
                for index, column in enumerate((CertificateRow.source, TrustSettingsRow.source)):
                    query = select(column, func.count()).where(_under(column, prefix))
                    for source, count in session.execute(query.group_by(column)):
                        counts.setdefault(source, [0, 0])[index] = count
                        found[source] = None
                records = session.scalars(
                    select(DropinSourceRow).where(_under(DropinSourceRow.source, prefix))
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
            _under(TrustSettingsRow.source, prefix), TrustSettingsRow.uid == ADMIN_UID
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
        # Flushing once per phase, not once per source, saves most of the time of thousands
        # of files; a refusal then names no source, and the call is made again carefully.
        held = _existing(session, [c.sha256 for item in todo for c in item.certificates])
        added: dict[str, int] = {}
        with session.no_autoflush:
            for item in todo:
                with _refusing(item.source):
                    added[item.source] = self._add_source_certificates(
                        session, item, actor(item.source), held
                    )
                    if careful:
                        session.flush()
        with _refusing(None):
            session.flush()
        pending: dict[str, frozenset[bytes]] = {}
        wanted = [sha1 for item in todo for sha1, _, _ in item.settings]
        query = select(CertificateRow).where(CertificateRow.uid == ADMIN_UID)
        stored = {row.sha1: row for row in _in_chunks(session, query, CertificateRow.sha1, wanted)}
        known = [
            sha1.hex().upper()
            for item in todo
            for sha1, given, _ in item.settings
            if given is not None or sha1 in stored
        ]
        if known:
            self._ensure_domain(session, ADMIN_UID)
            # each certificate's array is replaced, as set_trust_settings does
            for chunk in _chunks(known):
                session.execute(
                    delete(TrustSettingsRow).where(
                        TrustSettingsRow.uid == ADMIN_UID, TrustSettingsRow.key.in_(chunk)
                    ),
                    execution_options=_UNSYNCHRONISED,
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
            execution_options=_UNSYNCHRONISED,
        )
        return pending

    def _add_source_certificates(
        self, session: Session, item: SourceContents, actor: Actor, held: set[bytes]
    ) -> int:
        """The certificates the shared store does not hold yet (`held`: SHA-256s it holds),
        with their audit rows; how many."""
        added = 0
        for cert in item.certificates:
            if cert.sha256 in held:
                continue
            held.add(cert.sha256)
            added += 1
            session.add(self._certificate_row(cert, item.source, ADMIN_UID))
            self._audit(
                session, actor, "add-certificate", cert.sha1.hex().upper(), cert.subject_summary
            )
        return added

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
            settings.constraints = [_constraint_row(i, c) for i, c in enumerate(constraints)]
            session.add(settings)
            self._audit(
                session,
                actor,
                "set-trust-settings",
                key,
                f"{len(constraints)} usage constraints for {cert.subject_summary}",
                domain=Domain.ADMIN,
            )
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

    # -- trust settings ------------------------------------------------------------------------

    def set_trust_settings(
        self,
        domain: Domain,
        uid: int,
        cert: Certificate,
        constraints: Sequence[UsageConstraint],
        *,
        actor: Actor,
        source: str = "api",
        max_entries: int | None = None,
    ) -> TrustSettingsEntry:
        """Replace the certificate's whole array in the domain (Apple does not merge).

        QuotaExceeded when the domain would hold more than `max_entries` certificates."""
        owner = owner_uid(domain, uid)
        key = cert.sha1.hex().upper()
        with self._write() as session:
            self._ensure_domain(session, owner)
            existing = session.scalar(
                select(TrustSettingsRow).where(
                    TrustSettingsRow.uid == owner, TrustSettingsRow.key == key
                )
            )
            if existing is not None:
                session.delete(existing)
                session.flush()
            elif max_entries is not None and _count(session, TrustSettingsRow.uid == owner) >= (
                max_entries
            ):
                raise QuotaExceeded("certificates with trust settings", max_entries)
            entry = TrustSettingsEntry(
                key, cert.issuer_der, cert.parts.serial, self.clock(), tuple(constraints)
            )
            row = self._add_settings_row(session, owner, entry, source)
            self._audit(
                session,
                actor,
                "set-trust-settings",
                key,
                f"{len(constraints)} usage constraints for {cert.subject_summary}",
                domain=domain,
            )
            session.flush()
            return _entry_value(row)

    def remove_trust_settings(self, domain: Domain, uid: int, sha1: bytes, *, actor: Actor) -> None:
        owner = owner_uid(domain, uid)
        key = sha1.hex().upper()
        with self._write() as session:
            if session.get(TrustDomainRow, owner) is None:
                raise NoTrustSettings(domain.value)
            row = session.scalar(
                select(TrustSettingsRow).where(
                    TrustSettingsRow.uid == owner, TrustSettingsRow.key == key
                )
            )
            if row is None:
                raise NotFound(key)
            session.delete(row)
            self._touch_domain(session, owner)
            self._audit(session, actor, "remove-trust-settings", key, "removed", domain=domain)

    def trust_settings(
        self, domain: Domain, uid: int
    ) -> list[tuple[TrustSettingsEntry, Certificate | None]]:
        """Every entry of a domain with its certificate when the store has it."""
        owner = owner_uid(domain, uid)
        query = (
            select(TrustSettingsRow)
            .where(TrustSettingsRow.uid == owner)
            .options(selectinload(TrustSettingsRow.constraints))
            .order_by(TrustSettingsRow.key)
        )
        with self._read() as session:
            # A user's own store is searched too (bounded by the user quota): read it once.
            own: dict[bytes | None, CertificateRow] = (
                {}
                if owner == ADMIN_UID
                else {
                    r.sha1: r
                    for r in session.scalars(
                        select(CertificateRow).where(CertificateRow.uid == owner)
                    )
                }
            )
            out = []
            for row in session.scalars(query):
                cert_row = (
                    session.get(CertificateRow, row.certificate_id)
                    if row.certificate_id
                    else own.get(row.sha1)
                )
                out.append((_entry_value(row), self._certificate(cert_row) if cert_row else None))
            return out

    def export_domain(self, domain: Domain, uid: int) -> list[TrustSettingsEntry]:
        """The domain's whole record; NoTrustSettings when it has none."""
        owner = owner_uid(domain, uid)
        with self._read() as session:
            if session.get(TrustDomainRow, owner) is None:
                raise NoTrustSettings(domain.value)
        return [entry for entry, _ in self.trust_settings(domain, uid)]

    def import_domain(
        self,
        domain: Domain,
        uid: int,
        entries: Sequence[TrustSettingsEntry],
        *,
        actor: Actor,
        source: str = "import",
    ) -> None:
        """Replace the whole domain with `entries`, in one transaction (Apple does not merge)."""
        owner = owner_uid(domain, uid)
        with self._write() as session:
            session.execute(delete(TrustSettingsRow).where(TrustSettingsRow.uid == owner))
            self._ensure_domain(session, owner)
            for entry in entries:
                self._add_settings_row(session, owner, entry, source)
            self._audit(
                session,
                actor,
                "import-trust-settings",
                domain.value,
                f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}",
                domain=domain,
            )

    def _add_settings_row(
        self, session: Session, owner: int, entry: TrustSettingsEntry, source: str
    ) -> TrustSettingsRow:
        """Insert one entry, linked to its certificate when the store has it."""
        sha1 = entry.sha1
        cert_id = (
            None
            if sha1 is None
            else session.scalar(
                select(CertificateRow.id).where(
                    CertificateRow.sha1 == sha1, CertificateRow.uid == ADMIN_UID
                )
            )
        )
        row = TrustSettingsRow(
            uid=owner,
            key=entry.key,
            sha1=sha1,
            certificate_id=cert_id,
            issuer_name=entry.issuer_name,
            serial_number=entry.serial_number,
            mod_date=entry.mod_date,
            extra=_pack_extra(entry.extra),
            source=source,
        )
        row.constraints = [_constraint_row(i, c) for i, c in enumerate(entry.constraints)]
        session.add(row)
        return row

    def _ensure_domain(self, session: Session, owner: int) -> None:
        row = session.get(TrustDomainRow, owner)
        if row is None:
            session.add(TrustDomainRow(uid=owner, mod_date=self.clock()))
        else:
            row.mod_date = self.clock()

    def _touch_domain(self, session: Session, owner: int) -> None:
        row = session.get(TrustDomainRow, owner)
        if row is not None:
            row.mod_date = self.clock()

    # -- exceptions ----------------------------------------------------------------------------

    def set_exceptions(
        self,
        uid: int,
        host: str,
        port: int,
        exceptions: ExceptionList,
        *,
        actor: Actor,
        max_hosts: int | None = None,
    ) -> None:
        """Store the uid's exceptions for host:port; QuotaExceeded past `max_hosts` of them."""
        host = host.lower().rstrip(".")
        with self._write() as session:
            row = session.scalar(
                select(ExceptionRow).where(
                    ExceptionRow.uid == uid, ExceptionRow.host == host, ExceptionRow.port == port
                )
            )
            blob = encode_exceptions(exceptions)
            if row is None and max_hosts is not None:
                if _count(session, ExceptionRow.uid == uid) >= max_hosts:
                    raise QuotaExceeded("hosts with exceptions", max_hosts)
            if row is None:
                session.add(
                    ExceptionRow(
                        uid=uid,
                        host=host,
                        port=port,
                        blob=blob,
                        created_at=self.clock(),
                        last_used_at=None,
                    )
                )
            else:
                row.blob = blob
                row.created_at = self.clock()
            self._audit(
                session,
                actor,
                "set-exceptions",
                f"{host}:{port}",
                f"{len(exceptions.entries)} positions",
            )

    def exceptions_for(self, uid: int, host: str, port: int) -> ExceptionList | None:
        """Exceptions stored for this host and port, else for the host on any port (port 0).

        Which (host, port) pairs the uid has is known per generation, so a host without
        exceptions is answered without a query."""
        host = host.lower().rstrip(".")
        hosts = self._exception_hosts(uid)
        if (host, port) not in hosts and (host, 0) not in hosts:
            return None
        with self._read() as session:
            for candidate in (port, 0):
                row = session.scalar(
                    select(ExceptionRow).where(
                        ExceptionRow.uid == uid,
                        ExceptionRow.host == host,
                        ExceptionRow.port == candidate,
                    )
                )
                if row is not None:
                    return decode_exceptions(row.blob)
        return None

    def list_exceptions(self, uid: int) -> list[StoredExceptions]:
        with self._read() as session:
            rows = session.scalars(
                select(ExceptionRow)
                .where(ExceptionRow.uid == uid)
                .order_by(ExceptionRow.host, ExceptionRow.port)
            )
            return [
                StoredExceptions(
                    row.uid,
                    row.host,
                    row.port,
                    decode_exceptions(row.blob),
                    _utc(row.created_at),
                    None if row.last_used_at is None else _utc(row.last_used_at),
                )
                for row in rows
            ]

    def remove_exceptions(self, uid: int, host: str, port: int, *, actor: Actor) -> None:
        host = host.lower().rstrip(".")
        with self._write() as session:
            removed = session.execute(
                delete(ExceptionRow).where(
                    ExceptionRow.uid == uid, ExceptionRow.host == host, ExceptionRow.port == port
                )
            ).rowcount  # type: ignore[attr-defined]
            if not removed:
                raise NotFound(f"{host}:{port}")
            self._audit(session, actor, "remove-exceptions", f"{host}:{port}", "removed")

    def _exception_hosts(self, uid: int) -> frozenset[tuple[str, int]]:
        """The (host, port) pairs the uid has exceptions for (cached per generation)."""

        def load() -> frozenset[tuple[str, int]]:
            with self._read() as session:
                query = select(ExceptionRow.host, ExceptionRow.port).where(ExceptionRow.uid == uid)
                return frozenset((host, port) for host, port in session.execute(query))

        result: frozenset[tuple[str, int]] = self._lookups.get_or_compute(
            ("hosts", self._generation, uid), load
        )
        return result

    def exceptions_epoch(self, uid: int) -> int:
        """The uid's exceptions epoch (cached per generation: a reset is a write)."""

        def load() -> int:
            with self._read() as session:
                row = session.get(ExceptionEpochRow, uid)
                return 0 if row is None else row.epoch

        # Boxed: the LRU takes None for a miss, and an epoch is an int that may be 0.
        result: tuple[int] = self._lookups.get_or_compute(
            ("epoch", self._generation, uid), lambda: (load(),)
        )
        return result[0]

    def reset_exceptions(self, uid: int, *, actor: Actor) -> int:
        """Increment the user's epoch: every exception made before stops applying."""
        with self._write() as session:
            row = session.get(ExceptionEpochRow, uid)
            if row is None:
                row = ExceptionEpochRow(uid=uid, epoch=0)
                session.add(row)
            row.epoch += 1
            self._audit(session, actor, "reset-exceptions", str(uid), f"epoch {row.epoch}")
            return row.epoch

    # -- network cache -------------------------------------------------------------------------

    def cache_put(self, kind: str, key: str, data: bytes, expires_at: datetime) -> None:
        with self._write() as session:
            row = session.scalar(
                select(NetworkCacheRow).where(
                    NetworkCacheRow.kind == kind, NetworkCacheRow.key == key
                )
            )
            if row is None:
                session.add(
                    NetworkCacheRow(
                        kind=kind,
                        key=key,
                        data=data,
                        fetched_at=self.clock(),
                        expires_at=expires_at,
                    )
                )
            else:
                row.data, row.fetched_at, row.expires_at = data, self.clock(), expires_at

    def cache_get(self, kind: str, key: str) -> tuple[bytes, datetime] | None:
        """The cached answer and its expiry (the caller decides whether stale is usable)."""
        with self._read() as session:
            row = session.scalar(
                select(NetworkCacheRow).where(
                    NetworkCacheRow.kind == kind, NetworkCacheRow.key == key
                )
            )
            return None if row is None else (row.data, _utc(row.expires_at))

    # -- audit ---------------------------------------------------------------------------------

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
            query = query.where(AuditRow.at >= _as_utc(since))
        if until is not None:
            query = query.where(AuditRow.at < _as_utc(until))
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
                    _utc(r.at), r.uid, r.pid, r.operation, r.domain, r.object, r.summary, r.source
                )
                for r in session.scalars(query)
            ]

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

        result: tuple[Certificate, ...] = self._lookups.get_or_compute(
            ("issuers", self._generation, owner, issuer_key), load
        )
        return result

    def _owners(self) -> frozenset[int]:
        """The uids that have a certificate store of their own (cached)."""

        def load() -> frozenset[int]:
            with self._read() as session:
                # uids are never below ADMIN_UID (-1): a range the (uid, sha1) index answers
                query = select(CertificateRow.uid).where(CertificateRow.uid > ADMIN_UID)
                return frozenset(session.scalars(query.distinct()))

        result: frozenset[int] = self._lookups.get_or_compute(("owners", self._generation), load)
        return result

    def _settings_keys(self, uid: int) -> frozenset[str]:
        """The keys (upper-case SHA-1 hex) with trust settings in the admin domain or the uid's
        own (cached per generation): most certificates have none, and are answered from it."""

        def load() -> frozenset[str]:
            with self._read() as session:
                query = select(TrustSettingsRow.key).where(
                    TrustSettingsRow.uid.in_((ADMIN_UID, uid))
                )
                return frozenset(session.scalars(query))

        result: frozenset[str] = self._lookups.get_or_compute(
            ("settings-keys", self._generation, uid), load
        )
        return result

    def settings_for(self, sha1: bytes, uid: int) -> TrustSettings | None:
        """Admin settings if the certificate has any, else the user's (cached)."""
        key = sha1.hex().upper()
        if key not in self._settings_keys(uid):
            return None

        def load() -> TrustSettings | None:
            with self._read() as session:
                rows = session.scalars(
                    select(TrustSettingsRow)
                    .where(TrustSettingsRow.key == key, TrustSettingsRow.uid.in_((ADMIN_UID, uid)))
                    .options(selectinload(TrustSettingsRow.constraints))
                )
                by_owner = {row.uid: row for row in rows}
                row = by_owner.get(ADMIN_UID) or by_owner.get(uid)
                if row is None:
                    return None
                domain = Domain.ADMIN if row.uid == ADMIN_UID else Domain.USER
                return TrustSettings(domain, tuple(_constraint_value(c) for c in row.constraints))

        settings: TrustSettings | None = self._lookups.get_or_compute(
            ("settings", self._generation, uid, sha1), lambda: load() or _NO_SETTINGS
        )
        return None if settings is _NO_SETTINGS else settings

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


def _count(session: Session, condition: ColumnElement[bool]) -> int:
    """How many rows of the condition's table meet it."""
    return session.scalar(select(func.count()).where(condition)) or 0


def _stored_certificate(sha256: bytes, der: bytes) -> Certificate:
    """A stored certificate, checked against the digest it is stored under: damage inside a
    row passes SQLite's own checks, and is reported rather than evaluated."""
    try:
        certificate = parse_certificate(der)
    except MalformedCertificate:
        certificate = None
    if certificate is None or certificate.sha256 != sha256:
        reason = f"the stored certificate {sha256.hex().upper()} is damaged"
        log.error("the database failed: %s", reason)
        raise StorageFailure(reason)
    return certificate


def parse_certificates(blobs: Iterable[bytes]) -> tuple[list[Certificate], int]:
    """Parse what can be parsed; the count of what could not."""
    parsed, broken = [], 0
    for blob in blobs:
        try:
            parsed.append(parse_certificate(blob))
        except MalformedCertificate:
            broken += 1
    return parsed, broken
