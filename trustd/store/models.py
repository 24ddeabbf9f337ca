"""The database schema: SQLAlchemy 2.0 typed models.

The schema is owned by the Alembic migrations in the top-level `migrations/` folder; these
models must match them (`alembic check` in the tests).  Rows never leave trustd.store: the
repository turns them into core values.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Stable constraint names, so that migrations can alter them on SQLite (batch mode).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# The admin domain's rows use this uid; user-domain rows carry the owner's uid.
ADMIN_UID = -1


def _belongs_to(table: str) -> Mapped[int]:
    """The column of a row that belongs to one row of `table`, and goes with it."""
    return mapped_column(ForeignKey(f"{table}.id", ondelete="CASCADE"), index=True)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class CertificateRow(Base):
    """A certificate known to the store (keychain-like): a candidate issuer for path building."""

    __tablename__ = "certificates"
    __table_args__ = (
        UniqueConstraint("uid", "sha1", name="uq_certificates_uid_sha1"),
        UniqueConstraint("uid", "sha256", name="uq_certificates_uid_sha256"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # ADMIN_UID: the shared store (System.keychain); a uid: that user's own (login keychain).
    uid: Mapped[int] = mapped_column(Integer, server_default="-1")  # as migration 0002 wrote it
    sha1: Mapped[bytes] = mapped_column(LargeBinary(20), index=True)
    sha256: Mapped[bytes] = mapped_column(LargeBinary(32))
    der: Mapped[bytes] = mapped_column(LargeBinary)
    subject_key: Mapped[bytes] = mapped_column(LargeBinary(32), index=True)
    issuer_key: Mapped[bytes] = mapped_column(LargeBinary(32), index=True)
    ski: Mapped[bytes | None] = mapped_column(LargeBinary, index=True)
    aki: Mapped[bytes | None] = mapped_column(LargeBinary, index=True)
    serial: Mapped[bytes] = mapped_column(LargeBinary)
    not_before: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    not_after: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    summary: Mapped[str] = mapped_column(Text)  # subject summary, for find-certificate -c
    source: Mapped[str] = mapped_column(String(4096), index=True)
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    emails: Mapped[list[CertificateEmailRow]] = relationship(
        back_populates="certificate", cascade="all, delete-orphan"
    )


class CertificateEmailRow(Base):
    """An e-mail address of a certificate (SAN rfc822Name or subject emailAddress), lower case."""

    __tablename__ = "certificate_emails"
    __table_args__ = (UniqueConstraint("certificate_id", "email"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    certificate_id: Mapped[int] = _belongs_to("certificates")
    email: Mapped[str] = mapped_column(String(320), index=True)

    certificate: Mapped[CertificateRow] = relationship(back_populates="emails")


class TrustDomainRow(Base):
    """A domain that has a trust-settings record (possibly empty).

    Apple tells "no record" (export fails: No Trust Settings were found) from an empty record
    (removing the last entry leaves an empty trustList).
    """

    __tablename__ = "trust_domains"

    uid: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    mod_date: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TrustSettingsRow(Base):
    """One certificate's trust settings in one domain (a trustList entry)."""

    __tablename__ = "trust_settings"
    __table_args__ = (UniqueConstraint("uid", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[int] = mapped_column(Integer, index=True)  # ADMIN_UID for the admin domain
    key: Mapped[str] = mapped_column(String(64))  # upper-case SHA-1 hex, or the default-root key
    sha1: Mapped[bytes | None] = mapped_column(LargeBinary(20), index=True)
    certificate_id: Mapped[int | None] = mapped_column(
        ForeignKey("certificates.id", ondelete="SET NULL"), index=True
    )
    issuer_name: Mapped[bytes] = mapped_column(LargeBinary)
    serial_number: Mapped[bytes] = mapped_column(LargeBinary)
    mod_date: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    extra: Mapped[bytes | None] = mapped_column(LargeBinary)  # unknown keys, binary plist
    source: Mapped[str] = mapped_column(String(4096), index=True)

    constraints: Mapped[list[UsageConstraintRow]] = relationship(
        back_populates="settings",
        cascade="all, delete-orphan",
        order_by="UsageConstraintRow.position",
    )


class UsageConstraintRow(Base):
    """One usage-constraint dictionary, at its position in the array."""

    __tablename__ = "usage_constraints"
    __table_args__ = (UniqueConstraint("trust_settings_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trust_settings_id: Mapped[int] = _belongs_to("trust_settings")
    position: Mapped[int] = mapped_column(Integer)
    policy_oid: Mapped[str | None] = mapped_column(String(256))
    policy_oid_as_string: Mapped[bool] = mapped_column(default=False)
    policy_name: Mapped[str | None] = mapped_column(Text)
    policy_string: Mapped[str | None] = mapped_column(Text)
    application: Mapped[bytes | None] = mapped_column(LargeBinary)
    allowed_error: Mapped[int | None] = mapped_column(Integer)
    result: Mapped[int | None] = mapped_column(Integer)
    key_usage: Mapped[int | None] = mapped_column(BigInteger)
    extra: Mapped[bytes | None] = mapped_column(LargeBinary)  # other keys, binary plist

    settings: Mapped[TrustSettingsRow] = relationship(back_populates="constraints")


class ExceptionRow(Base):
    """Exceptions a user stored for a host (and port)."""

    __tablename__ = "exceptions"
    __table_args__ = (UniqueConstraint("uid", "host", "port"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[int] = mapped_column(Integer, index=True)
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer)  # 0 = any port
    blob: Mapped[bytes] = mapped_column(LargeBinary)  # Apple's binary-plist exceptions
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ExceptionEpochRow(Base):
    """A user's ExceptionResetCount."""

    __tablename__ = "exception_epochs"

    uid: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    epoch: Mapped[int] = mapped_column(Integer)


class NetworkCacheRow(Base):
    """A cached network answer: AIA certificates, OCSP responses, CRLs."""

    __tablename__ = "network_cache"
    __table_args__ = (UniqueConstraint("kind", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # "aia", "ocsp", "crl"
    key: Mapped[str] = mapped_column(String(4096))  # URL, or OCSP certificate ID
    data: Mapped[bytes] = mapped_column(LargeBinary)
    fetched_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class AuditRow(Base):
    """Who changed what, when."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    uid: Mapped[int] = mapped_column(Integer)
    pid: Mapped[int | None] = mapped_column(Integer)
    operation: Mapped[str] = mapped_column(String(64))
    domain: Mapped[str | None] = mapped_column(String(16))
    object: Mapped[str] = mapped_column(String(4096))  # certificate SHA-1, host, file...
    summary: Mapped[str] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(String(4096))  # drop-in file, if any


class DropinSourceRow(Base):
    """A drop-in file as last applied, written in the same transaction as its rows: the
    digest of what it put in the store, so that a restart re-applies only changed files."""

    __tablename__ = "dropin_sources"

    source: Mapped[str] = mapped_column(String(4096), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    # SHA-1s (20 bytes each) of its trust-settings entries whose certificate is not stored yet
    pending: Mapped[bytes] = mapped_column(LargeBinary)
    # the rows it stored: fewer now means another change (an administrator's call) took some
    certificates: Mapped[int] = mapped_column(Integer)
    settings: Mapped[int] = mapped_column(Integer)
    applied_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
