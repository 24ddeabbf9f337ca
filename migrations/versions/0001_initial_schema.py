"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23 13:16:11.016609
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("uid", sa.Integer(), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("operation", sa.String(length=64), nullable=False),
        sa.Column("domain", sa.String(length=16), nullable=True),
        sa.Column("object", sa.String(length=4096), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=4096), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_log_at", ["at"], unique=False)

    op.create_table(
        "certificates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha1", sa.LargeBinary(length=20), nullable=False),
        sa.Column("sha256", sa.LargeBinary(length=32), nullable=False),
        sa.Column("der", sa.LargeBinary(), nullable=False),
        sa.Column("subject_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("issuer_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("ski", sa.LargeBinary(), nullable=True),
        sa.Column("aki", sa.LargeBinary(), nullable=True),
        sa.Column("serial", sa.LargeBinary(), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=4096), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificates")),
        sa.UniqueConstraint("sha1", name=op.f("uq_certificates_sha1")),
        sa.UniqueConstraint("sha256", name=op.f("uq_certificates_sha256")),
    )
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_certificates_aki"), ["aki"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_certificates_issuer_key"), ["issuer_key"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_certificates_ski"), ["ski"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_certificates_subject_key"), ["subject_key"], unique=False
        )

    op.create_table(
        "exception_epochs",
        sa.Column("uid", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("uid", name=op.f("pk_exception_epochs")),
    )
    op.create_table(
        "exceptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("blob", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exceptions")),
        sa.UniqueConstraint("uid", "host", "port", name=op.f("uq_exceptions_uid")),
    )
    with op.batch_alter_table("exceptions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_exceptions_uid"), ["uid"], unique=False)

    op.create_table(
        "network_cache",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=4096), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_network_cache")),
        sa.UniqueConstraint("kind", "key", name=op.f("uq_network_cache_kind")),
    )
    with op.batch_alter_table("network_cache", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_network_cache_expires_at"), ["expires_at"], unique=False
        )

    op.create_table(
        "trust_domains",
        sa.Column("uid", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("mod_date", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("uid", name=op.f("pk_trust_domains")),
    )
    op.create_table(
        "certificate_emails",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("certificate_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["certificates.id"],
            name=op.f("fk_certificate_emails_certificate_id_certificates"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificate_emails")),
        sa.UniqueConstraint(
            "certificate_id", "email", name=op.f("uq_certificate_emails_certificate_id")
        ),
    )
    with op.batch_alter_table("certificate_emails", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_certificate_emails_certificate_id"), ["certificate_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_certificate_emails_email"), ["email"], unique=False)

    op.create_table(
        "trust_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("sha1", sa.LargeBinary(length=20), nullable=True),
        sa.Column("certificate_id", sa.Integer(), nullable=True),
        sa.Column("issuer_name", sa.LargeBinary(), nullable=False),
        sa.Column("serial_number", sa.LargeBinary(), nullable=False),
        sa.Column("mod_date", sa.DateTime(timezone=True), nullable=False),
        sa.Column("extra", sa.LargeBinary(), nullable=True),
        sa.Column("source", sa.String(length=4096), nullable=False),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["certificates.id"],
            name=op.f("fk_trust_settings_certificate_id_certificates"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trust_settings")),
        sa.UniqueConstraint("uid", "key", name=op.f("uq_trust_settings_uid")),
    )
    with op.batch_alter_table("trust_settings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_trust_settings_certificate_id"), ["certificate_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_trust_settings_sha1"), ["sha1"], unique=False)
        batch_op.create_index(batch_op.f("ix_trust_settings_uid"), ["uid"], unique=False)

    op.create_table(
        "usage_constraints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trust_settings_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("policy_oid", sa.String(length=256), nullable=True),
        sa.Column("policy_oid_as_string", sa.Boolean(), nullable=False),
        sa.Column("policy_name", sa.Text(), nullable=True),
        sa.Column("policy_string", sa.Text(), nullable=True),
        sa.Column("application", sa.LargeBinary(), nullable=True),
        sa.Column("allowed_error", sa.Integer(), nullable=True),
        sa.Column("result", sa.Integer(), nullable=True),
        sa.Column("key_usage", sa.BigInteger(), nullable=True),
        sa.Column("extra", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(
            ["trust_settings_id"],
            ["trust_settings.id"],
            name=op.f("fk_usage_constraints_trust_settings_id_trust_settings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_constraints")),
        sa.UniqueConstraint(
            "trust_settings_id", "position", name=op.f("uq_usage_constraints_trust_settings_id")
        ),
    )
    with op.batch_alter_table("usage_constraints", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_usage_constraints_trust_settings_id"),
            ["trust_settings_id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("usage_constraints", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_usage_constraints_trust_settings_id"))

    op.drop_table("usage_constraints")
    with op.batch_alter_table("trust_settings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trust_settings_uid"))
        batch_op.drop_index(batch_op.f("ix_trust_settings_sha1"))
        batch_op.drop_index(batch_op.f("ix_trust_settings_certificate_id"))

    op.drop_table("trust_settings")
    with op.batch_alter_table("certificate_emails", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_certificate_emails_email"))
        batch_op.drop_index(batch_op.f("ix_certificate_emails_certificate_id"))

    op.drop_table("certificate_emails")
    op.drop_table("trust_domains")
    with op.batch_alter_table("network_cache", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_network_cache_expires_at"))

    op.drop_table("network_cache")
    with op.batch_alter_table("exceptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_exceptions_uid"))

    op.drop_table("exceptions")
    op.drop_table("exception_epochs")
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_certificates_subject_key"))
        batch_op.drop_index(batch_op.f("ix_certificates_ski"))
        batch_op.drop_index(batch_op.f("ix_certificates_issuer_key"))
        batch_op.drop_index(batch_op.f("ix_certificates_aki"))

    op.drop_table("certificates")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_at")

    op.drop_table("audit_log")
