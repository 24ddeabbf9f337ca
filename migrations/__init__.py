"""Alembic migrations of the trust store (installed as the package trustd.migrations)."""
