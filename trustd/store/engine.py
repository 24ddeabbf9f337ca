"""Opening the SQLite database: pragmas, transactions, permissions and migrations.

Every connection runs with WAL, foreign keys, a busy timeout and synchronous=FULL (an
acknowledged write survives a power cut).  Writes take the database lock at BEGIN (BEGIN
IMMEDIATE) so that two writers never deadlock upgrading a read lock.  The daemon upgrades the
schema to the newest migration at start (`migrate`), from a checkout or an installed package.
"""

from __future__ import annotations

import os
import stat
from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event

BUSY_TIMEOUT_MS = 10_000
IMMEDIATE = "trustd_immediate"


def _on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's begin event issue BEGIN itself (pysqlite's implicit BEGIN is disabled).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in (
        "PRAGMA journal_mode=WAL",
        "PRAGMA foreign_keys=ON",
        f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}",
        "PRAGMA synchronous=FULL",
    ):
        cursor.execute(pragma)
    cursor.close()


def _on_begin(connection: Any) -> None:
    immediate = connection.get_execution_options().get(IMMEDIATE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _secure_directory(directory: Path) -> None:
    """Create the state directory; nobody but its owner may write to it."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    mode = directory.stat().st_mode
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        directory.chmod(stat.S_IMODE(mode) & ~(stat.S_IWGRP | stat.S_IWOTH))


def _secure_files(path: Path) -> None:
    """The database and its WAL files are readable and writable by the owner only."""
    for candidate in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if candidate.exists():
            candidate.chmod(0o600)


def open_engine(path: Path) -> Engine:
    """An Engine on the SQLite file at `path`, creating it (and its directory) if needed."""
    _secure_directory(path.parent)
    old_umask = os.umask(0o077)
    try:
        engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _on_connect)
        event.listen(engine, "begin", _on_begin)
        with engine.connect():
            pass  # creates the file under the umask
    finally:
        os.umask(old_umask)
    _secure_files(path)
    return engine


def writer(engine: Engine) -> Engine:
    """The same Engine, beginning its transactions with BEGIN IMMEDIATE."""
    return engine.execution_options(**{IMMEDIATE: True})


# -- migrations -------------------------------------------------------------------------------


def migrations_location() -> str:
    """The migrations folder, inside the installed package (trustd.migrations)."""
    return str(resources.files("trustd.migrations"))


def alembic_config(engine: Engine | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", migrations_location())
    if engine is not None:
        config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database to `revision` (the newest by default) in one transaction."""
    config = alembic_config(engine)
    with writer(engine).begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str) -> None:
    config = alembic_config(engine)
    with writer(engine).begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)
