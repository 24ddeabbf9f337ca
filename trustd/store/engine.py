"""Opening the SQLite database: pragmas, transactions, permissions and migrations.

Every connection runs with WAL, foreign keys, a busy timeout and synchronous=FULL (an
acknowledged write survives a power cut).  Writes take the database lock at BEGIN (BEGIN
IMMEDIATE) so that two writers never deadlock upgrading a read lock, and the writers of one
engine take turns on a lock first, so that none waits on SQLite's polling busy handler while
others overtake it.  The daemon upgrades the schema to the newest migration at start
(`migrate`), from a checkout or an installed package.

Whoever can write the database decides what every program trusts, so `open_engine` refuses a
state directory that someone else could change (`UnsafeLocation`: owned by another user, or
below a directory others may write without the sticky bit) and a database file owned by
another user.  `check_integrity` runs SQLite's quick_check: the daemon refuses a damaged file
at start (`DamagedDatabase`) rather than serving from it or replacing it.
"""

from __future__ import annotations

import errno
import fcntl
import functools
import os
import stat
import threading
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError, OperationalError

if TYPE_CHECKING:
    from alembic.config import Config

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


_TURN = "trustd_writer_turn"


def _on_begin(turns: threading.Lock, connection: Any) -> None:
    """BEGIN, or BEGIN IMMEDIATE for writers, who first wait their turn in this process.

    SQLite's busy handler is no scheduler: a writer that finds the database locked sleeps (up
    to 100 ms at a time) while the others take the lock again and again, so under steady
    writes one client waited seconds (and, past the busy timeout, would fail with "database is
    locked").  Waiting on a lock instead wakes the next writer as soon as one ends.  Past the
    busy timeout a writer goes on without its turn and SQLite's locking decides, as before;
    other processes meet SQLite's locking only.
    """
    if not connection.get_execution_options().get(IMMEDIATE, False):
        connection.exec_driver_sql("BEGIN")
        return
    if turns.acquire(timeout=BUSY_TIMEOUT_MS / 1000):
        connection.info[_TURN] = turns
    try:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    except BaseException:
        _end_write(connection)
        raise


def _end_write(connection: Any) -> None:
    """After COMMIT or ROLLBACK: the next writer's turn."""
    turns = connection.info.pop(_TURN, None)
    if turns is not None:
        turns.release()


class StoreUnusable(RuntimeError):
    """The database cannot be used as it is; the message is one line for the administrator."""


class UnsafeLocation(StoreUnusable):
    """A directory or file of trustd's that another user could replace or change."""


class DamagedDatabase(StoreUnusable):
    """The database file fails SQLite's integrity check."""


def _trusted_owner(uid: int) -> bool:
    return uid in (0, os.geteuid())


def location_problem(directory: Path) -> str | None:
    """Why another user could replace `directory` or what is in it, or None when nobody can.

    The directory and every ancestor must belong to root or to this process's user, and no
    ancestor may be writable by group or others unless it has the sticky bit (as /tmp has:
    there nobody may rename or remove another user's entries).  The directory itself must not
    be writable by group or others at all.  The sshd StrictModes rule.
    """
    path = Path(os.path.abspath(directory))
    for current in (path, *path.parents):
        try:
            info = current.stat()
        except OSError as problem:
            return f"{current}: {problem.strerror}"
        if not _trusted_owner(info.st_uid):
            return f"{current} is owned by uid {info.st_uid}"
        writable = info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
        if writable and (current == path or not info.st_mode & stat.S_ISVTX):
            return (
                f"{current} is writable by group or others (mode {stat.S_IMODE(info.st_mode):04o})"
            )
    return None


def _secure_directory(directory: Path) -> None:
    """Create the state directory; nobody but its owner may write to it."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    info = directory.stat()
    if _trusted_owner(info.st_uid) and info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        directory.chmod(stat.S_IMODE(info.st_mode) & ~(stat.S_IWGRP | stat.S_IWOTH))
    problem = location_problem(directory)
    if problem is not None:
        raise UnsafeLocation(f"unsafe state directory: {problem}")


LOCK_FILE = "trustd.lock"


class AlreadyRunning(StoreUnusable):
    """Another daemon holds the state directory's lock."""


class NotWritable(StoreUnusable):
    """The state directory or the database cannot be written (read-only, permissions)."""


def lock_state_directory(directory: Path) -> int:
    """Take the state directory's lock for the life of this process; the file descriptor
    (keep it open: closing it releases the lock).

    One daemon per state directory: two would each cache what the other changes and take
    the socket from each other.  A POSIX record lock (fcntl) is released by the kernel when
    the process ends, however it ends, and is not held by child processes.  AlreadyRunning
    names the holder's pid; NotWritable when the directory cannot be written.
    """
    _secure_directory(directory)
    path = directory / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as problem:
        raise NotWritable(not_writable(directory, problem)) from None
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as problem:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
        os.close(fd)
        if problem.errno not in (errno.EACCES, errno.EAGAIN):
            raise NotWritable(not_writable(directory, problem)) from None
        who = f"another trustd (pid {holder})" if holder.isdigit() else "another trustd"
        raise AlreadyRunning(
            f"{who} is running on the state directory {directory}; one daemon per state "
            "directory: stop it first, or give this one another --state-dir"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def not_writable(directory: Path, problem: OSError) -> str:
    """Why the state directory cannot be written, without advice that would lose data."""
    reason = problem.strerror or str(problem)
    return (
        f"cannot write to the state directory {directory} ({reason}); trustd needs to write "
        "its database there: make it writable for trustd (a read-only mount, ownership or "
        "permissions); the database was left untouched"
    )


def _database_files(path: Path) -> tuple[Path, Path, Path]:
    return path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")


def _check_owner(path: Path) -> None:
    """Files someone else created in the state directory are not ours to trust."""
    for candidate in _database_files(path):
        try:
            info = candidate.lstat()
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(info.st_mode) or not stat.S_ISREG(info.st_mode):
            raise UnsafeLocation(f"unsafe database: {candidate} is not a regular file")
        if not _trusted_owner(info.st_uid):
            raise UnsafeLocation(f"unsafe database: {candidate} is owned by uid {info.st_uid}")


def _secure_files(path: Path) -> None:
    """The database and its WAL files are readable and writable by the owner only."""
    for candidate in _database_files(path):
        if candidate.exists():
            candidate.chmod(0o600)


def open_engine(path: Path) -> Engine:
    """An Engine on the SQLite file at `path`, creating it (and its directory) if needed.

    Raises UnsafeLocation when another user could have written the directory or the file.
    """
    _secure_directory(path.parent)
    _check_owner(path)
    old_umask = os.umask(0o077)
    try:
        engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _on_connect)
        event.listen(engine, "begin", functools.partial(_on_begin, threading.Lock()))
        event.listen(engine, "commit", _end_write)
        event.listen(engine, "rollback", _end_write)
        with engine.connect():
            pass  # creates the file under the umask
    finally:
        os.umask(old_umask)
    _secure_files(path)
    return engine


def check_integrity(engine: Engine) -> None:
    """SQLite's quick_check (every page and b-tree, not the index contents); DamagedDatabase
    with SQLite's first complaint when it fails.  About a second at a million certificates."""
    try:
        with engine.connect() as connection:
            rows = connection.exec_driver_sql("PRAGMA quick_check").scalars().all()
    except DBAPIError as problem:
        if not _damage(problem):
            raise  # cannot read it (locked, permissions, I/O): says nothing about damage
        raise DamagedDatabase(first_line(problem.orig or problem)) from None
    if rows != ["ok"]:
        found = [
            line
            for row in rows
            for line in str(row).splitlines()
            if line.strip() and not line.startswith("*** ")  # "*** in database main ***"
        ] or ["quick_check gave no answer"]
        more = f"; {len(found) - 1} more problems" if len(found) > 1 else ""
        raise DamagedDatabase(f"{found[0].strip()}{more}")


def open_database(path: Path) -> Engine:
    """What the daemon does at start: open_engine, check_integrity and migrate.

    Raises StoreUnusable with a one-line reason when the file cannot be used; a damaged file is
    never replaced or repaired (that is the administrator's decision, from their backups).
    """
    try:
        engine = open_engine(path)
        check_integrity(engine)
    except OSError as problem:  # creating, or tightening the mode of, the directory or files
        if problem.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise NotWritable(not_writable(path.parent, problem)) from None
        raise StoreUnusable(_untouched(path, problem.strerror or str(problem))) from None
    except DBAPIError as problem:
        reason = first_line(problem.orig or problem)
        if _damage(problem):
            raise DamagedDatabase(_unusable(path, reason)) from None
        unwritable = _unwritable(path)
        if unwritable is not None:
            raise NotWritable(not_writable(path.parent, unwritable)) from None
        raise StoreUnusable(_untouched(path, reason)) from None
    except DamagedDatabase as problem:
        raise DamagedDatabase(_unusable(path, str(problem))) from None
    try:
        migrate(engine)
    except Exception as problem:
        engine.dispose()
        reason = f"{type(problem).__name__}: {first_line(problem)}"
        raise StoreUnusable(
            f"the database {path} cannot be migrated ({reason}); it was left untouched"
        ) from None
    return engine


def _damage(problem: DBAPIError) -> bool:
    """Whether SQLite says the file itself is damaged or not a database (as opposed to: it
    cannot be opened, written or locked, which says nothing about its contents)."""
    name = str(getattr(problem.orig, "sqlite_errorname", ""))
    return name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB"))


def _unwritable(path: Path) -> OSError | None:
    """Why the database or its directory cannot be written by this process, if so (SQLite
    says only "unable to open database file" or "attempt to write a readonly database")."""
    for candidate, must_exist in ((path.parent, True), (path, False)):
        try:
            writable = os.access(candidate, os.W_OK, effective_ids=True)
        except OSError as problem:
            return problem
        if not writable and (must_exist or candidate.exists()):
            try:
                statvfs = os.statvfs(candidate)
            except OSError as problem:
                return problem
            if statvfs.f_flag & os.ST_RDONLY:
                return OSError(errno.EROFS, os.strerror(errno.EROFS))
            return OSError(errno.EACCES, os.strerror(errno.EACCES))
    return None


def _untouched(path: Path, reason: str) -> str:
    return f"the database {path} cannot be opened ({reason}); it was left untouched"


def _unusable(path: Path, reason: str) -> str:
    return (
        f"the database {path} cannot be used ({reason}); it was left untouched: restore it "
        "from a backup, or move it away to start with an empty store"
    )


def first_line(problem: BaseException) -> str:
    """An exception's message in one line, for logs and error replies."""
    lines = str(problem).strip().splitlines()
    return lines[0] if lines else type(problem).__name__


def writer(engine: Engine) -> Engine:
    """The same Engine, beginning its transactions with BEGIN IMMEDIATE."""
    return engine.execution_options(**{IMMEDIATE: True})


# -- migrations -------------------------------------------------------------------------------


def migrations_location() -> str:
    """The migrations folder, inside the installed package (trustd.migrations)."""
    return str(resources.files("trustd.migrations"))


# The newest migration (migrations/versions): a database already there needs no migration, and
# Alembic is then not even imported (a fifth of the daemon's start).  tests/store hold it against
# Alembic's own head.
HEAD_REVISION = "0003"


def alembic_config(engine: Engine | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", migrations_location())
    if engine is not None:
        config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return config


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (Alembic's alembic_version row), None before any."""
    with engine.connect() as connection:
        return _revision_of(connection)


def _revision_of(connection: Connection) -> str | None:
    try:
        rows = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    except OperationalError:  # no such table: never migrated
        return None
    if len(rows) > 1:
        raise StoreUnusable(f"the database has {len(rows)} schema revisions; one was expected")
    return str(rows[0][0]) if rows else None


def _is_empty(connection: Connection) -> bool:
    """No table at all: a database file just created."""
    found = connection.exec_driver_sql(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' LIMIT 1"
    )
    return found.first() is None


def _create_at_head(connection: Connection) -> None:
    """The models' tables and Alembic's version table at HEAD_REVISION (what `alembic stamp`
    writes), in the caller's transaction."""
    from trustd.store.models import Base

    Base.metadata.create_all(connection)
    connection.exec_driver_sql(
        "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
        "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
    )
    connection.execute(
        text("INSERT INTO alembic_version (version_num) VALUES (:head)"), {"head": HEAD_REVISION}
    )


class ForeignKeysBroken(StoreUnusable):
    """A migration would leave rows pointing at rows that do not exist; it was rolled back."""


def _foreign_keys(connection: Connection, on: bool) -> None:
    """PRAGMA foreign_keys, set outside any transaction (inside one, SQLite ignores it)."""
    raw = connection.connection.dbapi_connection
    assert raw is not None and not connection.in_transaction()
    cursor = raw.cursor()
    try:
        cursor.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")
    finally:
        cursor.close()


def _run_migrations(engine: Engine, step: Callable[[Config], None]) -> None:
    """Run an Alembic command in one transaction, foreign keys off, as SQLite's procedure for
    schema changes says (https://sqlite.org/lang_altertable.html#otheralter): SQLite alters a
    table by copying it, and with foreign keys on, dropping the old copy would delete (ON
    DELETE CASCADE) or unlink (SET NULL) every row that points at it.  Before the commit,
    foreign_key_check must find nothing; the connection gets its foreign keys back after."""
    config = alembic_config(engine)
    with writer(engine).connect() as connection:
        _foreign_keys(connection, on=False)
        try:
            with connection.begin():
                config.attributes["connection"] = connection
                before = _revision_of(connection)
                step(config)
                after = _revision_of(connection)
                # the check reads every link: only when a migration ran (not at every start)
                broken = (
                    connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if after != before
                    else []
                )
                if broken:
                    table, rowid, parent, _ = broken[0]
                    raise ForeignKeysBroken(
                        f"{len(broken)} rows would point at missing rows, the first "
                        f"{table} row {rowid} at {parent}; nothing was changed"
                    )
        finally:
            if connection.in_transaction():
                connection.rollback()
            _foreign_keys(connection, on=True)


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database to `revision` (the newest by default) in one transaction.

    A new, empty database is created at the newest revision directly from the models, as
    Alembic's own advice for new databases goes (create the tables, stamp the head): the same
    schema as running every migration (tests/store/test_migrations.py compares the two) without
    importing Alembic, a third of a daemon's start.
    """
    if revision in ("head", HEAD_REVISION):
        if current_revision(engine) == HEAD_REVISION:  # a read: no write lock at every start
            return
        with writer(engine).begin() as connection:
            if _revision_of(connection) is None and _is_empty(connection):
                _create_at_head(connection)
                return
    from alembic import command

    _run_migrations(engine, lambda config: command.upgrade(config, revision))


def downgrade(engine: Engine, revision: str) -> None:
    from alembic import command

    _run_migrations(engine, lambda config: command.downgrade(config, revision))
