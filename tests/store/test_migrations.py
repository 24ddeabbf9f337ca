"""Alembic owns the schema: upgrade, downgrade, no drift, and it works from an installed wheel."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from alembic import command
from sqlalchemy import Engine, inspect, text

from trustd.store.engine import (
    HEAD_REVISION,
    alembic_config,
    current_revision,
    downgrade,
    head_revision,
    migrate,
    open_engine,
)

REPO = Path(__file__).resolve().parents[2]
TABLES = {
    "audit_log",
    "certificate_emails",
    "certificates",
    "exception_epochs",
    "exceptions",
    "network_cache",
    "trust_domains",
    "trust_settings",
    "usage_constraints",
}


def test_the_known_head_is_alembics_head() -> None:
    assert head_revision() == HEAD_REVISION


def test_a_database_at_head_opens_without_alembic(db_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from trustd.store.engine import current_revision, open_database
        engine = open_database(Path({str(db_path)!r}))
        print(current_revision(engine), "alembic" in sys.modules)
        """
    )
    run = [sys.executable, "-c", script]
    first = subprocess.run(run, capture_output=True, text=True, check=True)
    again = subprocess.run(run, capture_output=True, text=True, check=True)
    assert first.stdout.split() == [HEAD_REVISION, "False"], first.stderr  # created at head
    assert again.stdout.split() == [HEAD_REVISION, "False"], again.stderr


def schema(engine: Engine) -> dict[str, object]:
    """Every table's columns, foreign keys and indexes as SQLite reports them, and the
    revision.  Column positions and index names are left out: a column added by a migration
    comes last, and SQLite names the indexes of UNIQUE constraints itself."""
    found: dict[str, object] = {"revision": current_revision(engine)}
    with engine.connect() as connection:

        def rows(pragma: str) -> list[tuple[object, ...]]:
            return [tuple(row) for row in connection.exec_driver_sql(pragma)]

        tables = [name for (name,) in rows("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in sorted(tables):
            indexes = sorted(
                (unique, origin, partial, tuple(column for *_, column in rows(
                    f"PRAGMA index_info('{name}')")))
                for _, name, unique, origin, partial in rows(f"PRAGMA index_list('{table}')")
            )  # fmt: skip
            found[table] = (
                sorted(row[1:] for row in rows(f"PRAGMA table_xinfo('{table}')")),
                sorted(row[2:] for row in rows(f"PRAGMA foreign_key_list('{table}')")),
                indexes,
            )
    return found


def test_a_new_database_gets_the_schema_every_migration_builds(tmp_path: Path) -> None:
    created, migrated = open_engine(tmp_path / "created.db"), open_engine(tmp_path / "up.db")
    migrate(created)  # new and empty: created from the models at head
    command.upgrade(alembic_config(migrated), "head")  # every migration, in order
    assert "alembic" in sys.modules
    assert schema(created) == schema(migrated)
    assert schema(created)["revision"] == HEAD_REVISION


def test_upgrade_from_empty_to_head(db_path: Path) -> None:
    engine = open_engine(db_path)
    assert current_revision(engine) is None
    migrate(engine)
    assert current_revision(engine) == head_revision()
    assert set(inspect(engine).get_table_names()) >= TABLES


def test_downgrade_to_base_and_up_again(db_path: Path) -> None:
    engine = open_engine(db_path)
    migrate(engine)
    downgrade(engine, "base")
    assert current_revision(engine) is None
    assert not TABLES & set(inspect(engine).get_table_names())
    migrate(engine)
    assert current_revision(engine) == head_revision()


def test_models_and_migrations_do_not_drift(db_path: Path) -> None:
    engine = open_engine(db_path)
    migrate(engine)
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.check(config)  # raises if autogenerate would produce anything


def test_sqlite_pragmas(db_path: Path) -> None:
    engine = open_engine(db_path)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000


def test_database_and_directory_permissions(db_path: Path) -> None:
    db_path.parent.mkdir(mode=0o777)
    db_path.parent.chmod(0o777)
    engine = open_engine(db_path)
    migrate(engine)
    assert db_path.parent.stat().st_mode & 0o022 == 0
    assert db_path.stat().st_mode & 0o777 == 0o600


def test_migrations_run_from_an_installed_wheel(tmp_path: Path) -> None:
    """Non-editable install: the wheel carries migrations as trustd.migrations."""
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(REPO)],
        check=True,
        timeout=300,
    )
    target = tmp_path / "site"
    wheel = next(wheels.glob("trustd-*.whl"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        timeout=300,
    )
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(target)!r})
        import trustd
        assert trustd.__file__.startswith({str(target)!r}), trustd.__file__
        from pathlib import Path
        from trustd.store.engine import migrate, open_engine, current_revision, head_revision
        engine = open_engine(Path({str(tmp_path / "db.sqlite3")!r}))
        migrate(engine)
        assert current_revision(engine) == head_revision() is not None
        print("ok")
        """
    )
    done = subprocess.run(  # noqa: PLW1510 - the output is asserted below
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert done.stdout.strip() == "ok", done.stderr


def test_a_store_of_revision_0001_keeps_its_certificates_as_the_shared_store(
    db_path: Path,
) -> None:
    """Revision 0002 gives certificates an owner: those stored before belong to everyone."""
    engine = open_engine(db_path)
    migrate(engine, "0001")
    row = {"sha1": b"\x01" * 20, "sha256": b"\x02" * 32, "der": b"0", "subject_key": b"s",
           "issuer_key": b"i", "serial": b"\x01", "not_before": "2024-01-01 00:00:00",
           "not_after": "2034-01-01 00:00:00", "summary": "Old", "source": "api",
           "added_at": "2024-01-01 00:00:00"}  # fmt: skip
    with engine.begin() as connection:
        connection.execute(
            text(f"INSERT INTO certificates ({', '.join(row)}) VALUES (:{', :'.join(row)})"),
            row,
        )
    migrate(engine)
    with engine.connect() as connection:
        owners = connection.execute(text("SELECT uid, summary FROM certificates")).all()
    assert [tuple(r) for r in owners] == [(-1, "Old")]
    downgrade(engine, "0001")  # and back: the shared store survives
    with engine.connect() as connection:
        assert connection.execute(text("SELECT summary FROM certificates")).scalars().all() == [
            "Old"
        ]


def test_audit_rows_of_users_own_stores_become_private_at_revision_0003(db_path: Path) -> None:
    """Rows written before 0003 about a user's own certificate are marked as that user's."""
    engine = open_engine(db_path)
    migrate(engine, "0002")

    def certificate(uid: int, sha1: bytes) -> dict[str, object]:
        return {"uid": uid, "sha1": sha1, "sha256": sha1 + bytes(12), "der": b"0",
                "subject_key": b"s", "issuer_key": b"i", "serial": b"\x01",
                "not_before": "2024-01-01 00:00:00", "not_after": "2034-01-01 00:00:00",
                "summary": "x", "source": "api", "added_at": "2024-01-01 00:00:00"}  # fmt: skip

    own, shared = b"\x01" * 20, b"\x02" * 20
    with engine.begin() as connection:
        for row in (certificate(1000, own), certificate(-1, shared)):
            connection.execute(
                text(f"INSERT INTO certificates ({', '.join(row)}) VALUES (:{', :'.join(row)})"),
                row,
            )
        for uid, sha1 in ((1000, own), (0, shared)):
            connection.execute(
                text(
                    "INSERT INTO audit_log (at, uid, operation, object, summary) "
                    "VALUES ('2024-01-01 00:00:00', :uid, 'add-certificate', :object, 'x')"
                ),
                {"uid": uid, "object": sha1.hex().upper()},
            )
    migrate(engine, "0003")
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT uid, domain FROM audit_log ORDER BY id")).all()
    assert [tuple(r) for r in rows] == [(1000, "user"), (0, None)]
