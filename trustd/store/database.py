"""The database helper every part of the store stands on: sessions, caches, audit rows.

`Database` holds the engine (and its writer), the generation that every committed change
increases, the bounded caches of parsed certificates and lookups, and the clock.  Reads and
writes go through `_read()` and `_write()` (or `_write_statements()`, a bare connection for the
frequent edits written with SQL statements alone): one transaction each, SQLite's failures
turned into `StorageFailure`, and the lookup caches dropped when a write commits.  The store's
concerns (certificates, trust settings, exceptions, drop-in sources, audit, network cache) are
classes over it, and `TrustStore` is all of them.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Connection, Engine, and_, func, insert, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from trustd.core.certificates import Certificate, MalformedCertificate, parse_certificate
from trustd.core.lru import LRU
from trustd.core.trust_settings import Domain
from trustd.store.engine import first_line, writer
from trustd.store.models import ADMIN_UID, AuditRow, Base, CertificateRow

log = logging.getLogger(__name__)

CACHE_SIZE = 4096
_INSTANCES = itertools.count()
Value = TypeVar("Value")
Row = TypeVar("Row", bound=Base)


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
def storage_errors() -> Iterator[None]:
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


def owner_uid(domain: Domain, uid: int) -> int:
    """The uid column for a domain: ADMIN_UID for admin, the user's uid for user."""
    if domain is Domain.ADMIN:
        return ADMIN_UID
    if domain is Domain.USER:
        return uid
    raise ValueError("the system domain is read-only")


def utc(moment: datetime) -> datetime:
    """A stored time (SQLite keeps no zone: naive means UTC) as an aware one."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def as_utc(moment: datetime) -> datetime:
    """A moment for comparing with stored times (UTC): naive means UTC, others are converted."""
    return utc(moment).astimezone(UTC)


# -- queries ------------------------------------------------------------------------------------

# Bulk deletes and updates in a session that adds rows for thousands of files: matching them
# against every object in the session would cost O(rows) each.  The rows they touch are never
# used again in that session (each file's old rows go before its new ones come).
UNSYNCHRONISED = {"synchronize_session": False}
_CHUNK = 500  # values per IN (...): well below SQLite's limit on bound parameters


def chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def in_chunks(session: Session, query: Any, column: Any, values: Sequence[Any]) -> Iterator[Any]:
    """The rows of `query` whose `column` is one of `values`, asked in chunks."""
    for chunk in chunks(values):
        yield from session.scalars(query.where(column.in_(chunk)))


def under(column: Any, prefix: str) -> ColumnElement[bool]:
    """`column` starts with `prefix`, as a range the column's index answers (LIKE does not,
    under SQLite's default case-insensitive LIKE)."""
    end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return and_(column >= prefix, column < end)


def count(session: Session, condition: ColumnElement[bool]) -> int:
    """How many rows of the condition's table meet it."""
    return session.scalar(select(func.count()).where(condition)) or 0


def one(session: Session, model: type[Row], **columns: object) -> Row | None:
    """The row of `model` with these column values (a unique key), or None."""
    return session.scalar(select(model).filter_by(**columns))


def stored_certificate(sha256: bytes, der: bytes) -> Certificate:
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


class Database:
    """One SQLite database: its sessions, generation, caches and audit rows."""

    def __init__(
        self,
        engine: Engine,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.engine = engine
        self._writer = writer(engine)
        self.clock = clock
        self._generation = 0
        self._generation_lock = threading.Lock()
        self._parsed: LRU[bytes, Certificate] = LRU(CACHE_SIZE)
        self._lookups: LRU[Hashable, Any] = LRU(CACHE_SIZE)
        self.instance = next(_INSTANCES)

    # -- sessions ------------------------------------------------------------------------------

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with storage_errors(), Session(self.engine) as session, session.begin():
            yield session

    @contextmanager
    def _write(self) -> Iterator[Session]:
        """One write transaction; caches are invalidated when it commits."""
        with storage_errors(), Session(self._writer, expire_on_commit=False) as session:
            with session.begin():
                yield session
            self._committed()

    @contextmanager
    def _write_statements(self) -> Iterator[Connection]:
        """One write transaction on a bare connection, for changes made with SQL statements
        alone (no unit of work to flush); caches are invalidated when it commits, as
        `_write()` does."""
        with storage_errors(), self._writer.begin() as connection:
            yield connection
        self._committed()

    def _committed(self) -> None:
        """A change is stored: a new generation, and the lookups cached for the old one go."""
        with self._generation_lock:
            self._generation += 1
        self._lookups.clear()

    # -- caches --------------------------------------------------------------------------------

    def _cached(self, key: tuple[Hashable, ...], load: Callable[[], Value]) -> Value:
        """`load()`, cached under `key` until the next committed change (never None: the
        cache takes None for a miss)."""
        value: Value = self._lookups.get_or_compute((key[0], self._generation, *key[1:]), load)
        return value

    def clear_caches(self) -> None:
        """Forget cached lookups and parsed certificates (they are rebuilt on demand)."""
        self._lookups.clear()
        self._parsed.clear()

    def bump(self) -> None:
        """Mark a change made outside the database (the system bundle was re-read)."""
        self._committed()
        self._parsed.clear()

    @property
    def generation(self) -> int:
        """Increases with every committed change (cache keys and Monitor use it)."""
        return self._generation

    def _certificate(self, row: CertificateRow) -> Certificate:
        key, der = row.sha256, row.der
        return self._parsed.get_or_compute(key, lambda: stored_certificate(key, der))

    # -- audit rows ----------------------------------------------------------------------------

    def _audit(
        self,
        transaction: Session | Connection,
        actor: Actor,
        operation: str,
        obj: str,
        summary: str,
        *,
        domain: Domain | None = None,
    ) -> None:
        """One audit row, in the caller's transaction (an ORM session or a bare connection)."""
        self._audit_all(transaction, actor, operation, [(obj, summary)], domain=domain)

    def _audit_all(
        self,
        transaction: Session | Connection,
        actor: Actor,
        operation: str,
        entries: Sequence[tuple[str, str]],
        *,
        domain: Domain | None = None,
    ) -> None:
        """An audit row for each (object, summary), in one statement."""
        at = self.clock()
        transaction.execute(
            _INSERT_AUDIT,
            [
                {
                    "at": at,
                    "uid": actor.uid,
                    "pid": actor.pid,
                    "operation": operation,
                    "domain": None if domain is None else domain.value,
                    "object": obj,
                    "summary": summary,
                    "source": actor.source,
                }
                for obj, summary in entries
            ],
        )


_INSERT_AUDIT = insert(AuditRow.__table__)  # type: ignore[arg-type]
