"""certificates may belong to one user (a login keychain) as well as to everyone

`certificates.uid` is -1 for the shared store (the admin's, like System.keychain) or the uid
of the user whose own keychain holds the certificate: path building finds it for that user
only, as a Mac finds a root in the login keychain.  Uniqueness becomes per owner.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 18:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.add_column(sa.Column("uid", sa.Integer(), server_default="-1", nullable=False))
        batch_op.drop_constraint("uq_certificates_sha1", type_="unique")
        batch_op.drop_constraint("uq_certificates_sha256", type_="unique")
        batch_op.create_unique_constraint("uq_certificates_uid_sha1", ["uid", "sha1"])
        batch_op.create_unique_constraint("uq_certificates_uid_sha256", ["uid", "sha256"])
        batch_op.create_index(batch_op.f("ix_certificates_sha1"), ["sha1"], unique=False)


def downgrade() -> None:
    # Users' own certificates have no place in 0001.  Migrations run with foreign keys off
    # (trustd.store.engine), so what points at those rows is removed or unlinked by hand.
    own = "SELECT id FROM certificates WHERE uid != -1"
    op.execute(f"DELETE FROM certificate_emails WHERE certificate_id IN ({own})")
    op.execute(f"UPDATE trust_settings SET certificate_id = NULL WHERE certificate_id IN ({own})")
    op.execute("DELETE FROM certificates WHERE uid != -1")
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_certificates_sha1"))
        batch_op.drop_constraint("uq_certificates_uid_sha256", type_="unique")
        batch_op.drop_constraint("uq_certificates_uid_sha1", type_="unique")
        batch_op.create_unique_constraint("uq_certificates_sha256", ["sha256"])
        batch_op.create_unique_constraint("uq_certificates_sha1", ["sha1"])
        batch_op.drop_column("uid")
