"""Trust settings of the admin domain and of each user's: Apple's trustList, entry by entry."""

from __future__ import annotations

import plistlib
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, selectinload

from trustd.core.certificates import Certificate
from trustd.core.trust_settings import (
    Domain,
    SettingsResult,
    TrustSettings,
    TrustSettingsEntry,
    UsageConstraint,
)
from trustd.store.database import (
    Actor,
    Database,
    NotFound,
    NoTrustSettings,
    QuotaExceeded,
    count,
    owner_uid,
    utc,
)
from trustd.store.models import (
    ADMIN_UID,
    CertificateRow,
    TrustDomainRow,
    TrustSettingsRow,
    UsageConstraintRow,
)

# The statements of set_trust_settings and remove_trust_settings (compiled once, then taken
# from SQLAlchemy's cache).
_DOMAIN = sqlite_insert(TrustDomainRow.__table__)  # type: ignore[arg-type]
_UPSERT_DOMAIN = _DOMAIN.on_conflict_do_update(
    index_elements=["uid"], set_={"mod_date": _DOMAIN.excluded.mod_date}
)
_HAS_DOMAIN = select(TrustDomainRow.uid).where(TrustDomainRow.uid == bindparam("owner"))
_DATE_DOMAIN = (
    update(TrustDomainRow.__table__)  # type: ignore[arg-type]
    .where(TrustDomainRow.uid == bindparam("owner"))
    .values(mod_date=bindparam("mod_date"))
)
_DELETE_ENTRY = delete(TrustSettingsRow.__table__).where(  # type: ignore[arg-type]
    TrustSettingsRow.uid == bindparam("owner"), TrustSettingsRow.key == bindparam("key")
)
_COUNT_ENTRIES = (
    select(func.count())
    .select_from(TrustSettingsRow.__table__)
    .where(TrustSettingsRow.uid == bindparam("owner"))
)
_INSERT_ENTRY = insert(TrustSettingsRow.__table__).values(  # type: ignore[arg-type]
    # linked to its certificate when the shared store has it
    certificate_id=select(CertificateRow.id)
    .where(CertificateRow.sha1 == bindparam("certificate_sha1"), CertificateRow.uid == ADMIN_UID)
    .scalar_subquery()
)
_INSERT_CONSTRAINT = insert(UsageConstraintRow.__table__)  # type: ignore[arg-type]

# Cached stand-in for "no settings" (the cache takes None for a miss).
_NO_SETTINGS = TrustSettings(Domain.SYSTEM)

# The fields of a usage constraint stored as they are, in columns of the same names.
_CONSTRAINT_COLUMNS = (
    "policy_oid",
    "policy_oid_as_string",
    "policy_name",
    "policy_string",
    "application",
    "allowed_error",
    "key_usage",
)
_ROW_COLUMNS = (*_CONSTRAINT_COLUMNS, "result", "extra")


# -- row <-> value ----------------------------------------------------------------------------


def _pack_extra(extra: dict[str, Any] | Any) -> bytes | None:
    return plistlib.dumps(dict(extra), fmt=plistlib.FMT_BINARY) if extra else None


def _unpack_extra(blob: bytes | None) -> dict[str, Any]:
    if not blob:
        return {}
    value = plistlib.loads(blob)
    return value if isinstance(value, dict) else {}


def constraint_columns(position: int, constraint: UsageConstraint) -> dict[str, Any]:
    """The column values of a usage constraint's row (without its entry's id)."""
    columns: dict[str, Any] = {name: getattr(constraint, name) for name in _CONSTRAINT_COLUMNS}
    columns["position"] = position
    columns["result"] = None if constraint.result is None else int(constraint.result)
    columns["extra"] = _pack_extra(constraint.extra)
    return columns


def constraint_row(position: int, constraint: UsageConstraint) -> UsageConstraintRow:
    return UsageConstraintRow(**constraint_columns(position, constraint))


def _constraint_of(columns: dict[str, Any]) -> UsageConstraint:
    """A usage constraint from its row's column values (as `constraint_columns` gives them)."""
    stored: int | None = columns["result"]
    result: SettingsResult | int | None = stored
    if stored is not None and stored in SettingsResult._value2member_map_:
        result = SettingsResult(stored)
    kept: dict[str, Any] = {name: columns[name] for name in _CONSTRAINT_COLUMNS}
    extra = _unpack_extra(columns["extra"])
    return UsageConstraint(result=result, extra=extra, **kept)  # type: ignore[arg-type]


def constraint_value(row: UsageConstraintRow) -> UsageConstraint:
    return _constraint_of({name: getattr(row, name) for name in _ROW_COLUMNS})


def settings_summary(cert: Certificate, constraints: Sequence[UsageConstraint]) -> str:
    """The audit summary of a certificate's new trust settings."""
    return f"{len(constraints)} usage constraints for {cert.subject_summary}"


def _entry_value(row: TrustSettingsRow) -> TrustSettingsEntry:
    return TrustSettingsEntry(
        key=row.key,
        issuer_name=row.issuer_name,
        serial_number=row.serial_number,
        mod_date=utc(row.mod_date),
        constraints=tuple(constraint_value(c) for c in row.constraints),
        extra=_unpack_extra(row.extra),
    )


class TrustSettingsStore(Database):
    """Setting, removing, exporting and importing trust settings; what evaluation reads."""

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
        # SQL statements alone, compiled once: the unit of work would load the old entry and
        # its constraints to delete them one by one (the foreign keys cascade instead), and
        # look the certificate up in a query of its own.
        with self._write_statements() as connection:
            connection.execute(_UPSERT_DOMAIN, {"uid": owner, "mod_date": self.clock()})
            replaced = connection.execute(_DELETE_ENTRY, {"owner": owner, "key": key}).rowcount
            if not replaced and max_entries is not None:
                held = connection.execute(_COUNT_ENTRIES, {"owner": owner}).scalar_one()
                if held >= max_entries:
                    raise QuotaExceeded("certificates with trust settings", max_entries)
            entry = TrustSettingsEntry(
                key, cert.issuer_der, cert.parts.serial, self.clock(), tuple(constraints)
            )
            extra = _pack_extra(entry.extra)
            row_id = connection.execute(
                _INSERT_ENTRY,
                {
                    "uid": owner,
                    "key": entry.key,
                    "sha1": entry.sha1,
                    "certificate_sha1": entry.sha1,
                    "issuer_name": entry.issuer_name,
                    "serial_number": entry.serial_number,
                    "mod_date": entry.mod_date,
                    "extra": extra,
                    "source": source,
                },
            ).lastrowid
            rows = [constraint_columns(i, c) for i, c in enumerate(entry.constraints)]
            if rows:
                connection.execute(
                    _INSERT_CONSTRAINT, [{**r, "trust_settings_id": row_id} for r in rows]
                )
            summary = settings_summary(cert, constraints)
            self._audit(connection, actor, "set-trust-settings", key, summary, domain=domain)
        return TrustSettingsEntry(
            key=entry.key,
            issuer_name=entry.issuer_name,
            serial_number=entry.serial_number,
            mod_date=utc(entry.mod_date),
            constraints=tuple(_constraint_of(r) for r in rows),
            extra=_unpack_extra(extra),
        )

    def remove_trust_settings(self, domain: Domain, uid: int, sha1: bytes, *, actor: Actor) -> None:
        owner = owner_uid(domain, uid)
        key = sha1.hex().upper()
        with self._write_statements() as connection:
            if connection.execute(_HAS_DOMAIN, {"owner": owner}).first() is None:
                raise NoTrustSettings(domain.value)
            if not connection.execute(_DELETE_ENTRY, {"owner": owner, "key": key}).rowcount:
                raise NotFound(key)
            connection.execute(_DATE_DOMAIN, {"owner": owner, "mod_date": self.clock()})
            self._audit(connection, actor, "remove-trust-settings", key, "removed", domain=domain)

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
        row.constraints = [constraint_row(i, c) for i, c in enumerate(entry.constraints)]
        session.add(row)
        return row

    def _ensure_domain(self, session: Session, owner: int) -> None:
        row = session.get(TrustDomainRow, owner)
        if row is None:
            session.add(TrustDomainRow(uid=owner, mod_date=self.clock()))
        else:
            row.mod_date = self.clock()

    def count_user_settings(self) -> int:
        """Trust-settings entries in all user domains together."""
        with self._read() as session:
            return count(session, TrustSettingsRow.uid != ADMIN_UID)

    # -- what evaluation reads -----------------------------------------------------------------

    def _settings_keys(self, uid: int) -> frozenset[str]:
        """The keys (upper-case SHA-1 hex) with trust settings in the admin domain or the uid's
        own (cached per generation): most certificates have none, and are answered from it."""

        def load() -> frozenset[str]:
            with self._read() as session:
                query = select(TrustSettingsRow.key).where(
                    TrustSettingsRow.uid.in_((ADMIN_UID, uid))
                )
                return frozenset(session.scalars(query))

        return self._cached(("settings-keys", uid), load)

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
                return TrustSettings(domain, tuple(constraint_value(c) for c in row.constraints))

        settings = self._cached(("settings", uid, sha1), lambda: load() or _NO_SETTINGS)
        return None if settings is _NO_SETTINGS else settings
