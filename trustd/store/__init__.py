"""The persistent trust store: SQLite through SQLAlchemy 2.0, schema owned by Alembic."""
