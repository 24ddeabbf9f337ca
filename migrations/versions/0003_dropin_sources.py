"""drop-in files remember what they applied; rows are found by their source

`dropin_sources` holds, for each drop-in file applied, the digest of what it put in the store,
how many certificate and trust-settings rows that was, and the SHA-1s of its entries still
waiting for their certificate, written in the same transaction as the file's rows: a restart
re-applies only the files that changed (or whose rows were changed by other means).
`certificates.source` and `trust_settings.source` get indexes, so a file's rows are replaced
without scanning the tables.

Audit rows of changes to a user's own certificate store now carry the domain "user" (they are
that user's alone); rows written before are marked where the certificate still says whose
store it is in (one of the user's own, not also in the shared store).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 09:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dropin_sources",
        sa.Column("source", sa.String(length=4096), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("pending", sa.LargeBinary(), nullable=False),
        sa.Column("certificates", sa.Integer(), nullable=False),
        sa.Column("settings", sa.Integer(), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_dropin_sources")),
    )
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_certificates_source"), ["source"], unique=False)
    with op.batch_alter_table("trust_settings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trust_settings_source"), ["source"], unique=False)
    op.execute(
        "UPDATE audit_log SET domain = 'user' WHERE domain IS NULL "
        "AND operation IN ('add-certificate', 'delete-certificate') "
        "AND EXISTS (SELECT 1 FROM certificates c WHERE c.uid = audit_log.uid "
        "AND upper(hex(c.sha1)) = audit_log.object) "
        "AND NOT EXISTS (SELECT 1 FROM certificates c WHERE c.uid = -1 "
        "AND upper(hex(c.sha1)) = audit_log.object)"
    )


def downgrade() -> None:
    with op.batch_alter_table("trust_settings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trust_settings_source"))
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_certificates_source"))
    op.drop_table("dropin_sources")
