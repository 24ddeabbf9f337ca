"""Every migration keeps every row and every link: for each pair of consecutive revisions, a
database at the older one is filled (every table, every foreign key pointing at a real row,
every nullable column set), upgraded, and compared row by row.

The rows are generated from the schema itself (`PRAGMA table_info`, `foreign_key_list`,
`index_list`), so a new migration is tested without writing anything here.  Columns a
migration adds are not compared; a column it drops must be named in DROPPED.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory

from trustd.store.engine import alembic_config, current_revision, downgrade, migrate, open_engine

ROWS = 4  # per table: enough that links can point at different parents
# (revision, table) -> columns that revision drops on purpose; nothing yet.
DROPPED: dict[tuple[str, str], set[str]] = {}


def _steps() -> list[tuple[str, str]]:
    """(older, newer) for every revision that has a parent, oldest first."""
    script = ScriptDirectory.from_config(alembic_config())
    steps = []
    for revision in script.walk_revisions():
        down = revision.down_revision
        if isinstance(down, str):
            steps.append((down, revision.revision))
    return sorted(steps)


def _tables(db: sqlite3.Connection) -> list[str]:
    names = [
        row[0]
        for row in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite_%' AND name != 'alembic_version'"
        )
    ]
    parents = {name: {fk[2] for fk in _foreign_keys(db, name)} - {name} for name in names}
    return list(TopologicalSorter(parents).static_order())


def _foreign_keys(db: sqlite3.Connection, table: str) -> list[tuple[Any, ...]]:
    # (id, seq, parent table, column, parent column, on update, on delete, match)
    return list(db.execute(f"PRAGMA foreign_key_list('{table}')"))


def _value(declared: str, table: str, column: str, index: int) -> Any:
    """A value of the column's type, distinct per row (unique constraints hold)."""
    kind = declared.upper()
    if "INT" in kind:
        return 1000 + index
    if "BOOL" in kind:
        return index % 2
    if "BLOB" in kind or "BINARY" in kind:
        return f"{table}.{column}.{index}".encode()
    if "DATE" in kind or "TIME" in kind:
        return f"2024-01-{index + 1:02d} 12:00:00.000000"
    return f"{table}.{column}.{index}"


def populate(database: Path) -> None:
    """ROWS rows in every table; each foreign key names an existing parent row."""
    db = sqlite3.connect(database)
    try:
        db.execute("PRAGMA foreign_keys=ON")
        for table in _tables(db):
            columns = list(db.execute(f"PRAGMA table_info('{table}')"))
            links = {fk[3]: (fk[2], fk[4]) for fk in _foreign_keys(db, table)}
            rows = []
            for index in range(ROWS):
                row: dict[str, Any] = {}
                for _cid, name, declared, _notnull, _default, pk in columns:
                    if name in links:
                        parent, parent_column = links[name]
                        parents = list(db.execute(f"SELECT {parent_column} FROM {parent}"))
                        # every row points at a parent of its own where there are enough
                        row[name] = parents[min(index, len(parents) - 1)][0]
                    elif pk and "INT" in declared.upper():
                        row[name] = index + 1
                    else:
                        row[name] = _value(declared, table, name, index)
                rows.append(row)
            for row in rows:
                names = ", ".join(row)
                marks = ", ".join("?" for _ in row)
                db.execute(f"INSERT INTO {table} ({names}) VALUES ({marks})", list(row.values()))
        db.commit()
        assert list(db.execute("PRAGMA foreign_key_check")) == []
    finally:
        db.close()


def contents(database: Path) -> dict[str, tuple[list[str], list[tuple[Any, ...]]]]:
    """Every table's column names and rows (in rowid order), read raw."""
    db = sqlite3.connect(database)
    try:
        out = {}
        for table in _tables(db):
            names = [row[1] for row in db.execute(f"PRAGMA table_info('{table}')")]
            rows = list(db.execute(f"SELECT {', '.join(names)} FROM {table} ORDER BY rowid"))
            out[table] = (names, rows)
        return out
    finally:
        db.close()


def _project(
    table: tuple[list[str], list[tuple[Any, ...]]], keep: list[str]
) -> Iterator[tuple[Any, ...]]:
    names, rows = table
    positions = [names.index(name) for name in keep]
    for row in rows:
        yield tuple(row[p] for p in positions)


@pytest.mark.parametrize(("older", "newer"), _steps(), ids=str)
def test_an_upgrade_keeps_every_row_and_every_link(tmp_path: Path, older: str, newer: str) -> None:
    database = tmp_path / "state" / "trustd.sqlite3"
    engine = open_engine(database)
    try:
        migrate(engine, older)
        populate(database)
        before = contents(database)
        assert all(len(rows) == ROWS for _, rows in before.values()), before
        migrate(engine, newer)
        assert current_revision(engine) == newer
    finally:
        engine.dispose()
    after = contents(database)
    for table, (names, rows) in before.items():
        assert table in after, f"{newer} lost the table {table}"
        dropped = DROPPED.get((newer, table), set())
        kept = [name for name in names if name not in dropped]
        missing = set(kept) - set(after[table][0])
        assert not missing, f"{newer} lost the columns {missing} of {table}"
        assert list(_project(after[table], kept)) == list(_project((names, rows), kept)), (
            f"{newer} changed the rows of {table}"
        )
    db = sqlite3.connect(database)
    try:
        assert list(db.execute("PRAGMA foreign_key_check")) == []
        assert list(db.execute("PRAGMA integrity_check")) == [("ok",)]
    finally:
        db.close()


@pytest.mark.parametrize(("older", "newer"), _steps(), ids=str)
def test_a_downgrade_leaves_no_dangling_link(tmp_path: Path, older: str, newer: str) -> None:
    """Downgrades may drop what the older schema cannot hold, but never half of it: the
    migration runs with foreign keys off, so it must remove what points at removed rows."""
    database = tmp_path / "state" / "trustd.sqlite3"
    engine = open_engine(database)
    try:
        migrate(engine, newer)
        populate(database)
        downgrade(engine, older)
        assert current_revision(engine) == older
    finally:
        engine.dispose()
    db = sqlite3.connect(database)
    try:
        assert list(db.execute("PRAGMA foreign_key_check")) == []
        assert list(db.execute("PRAGMA integrity_check")) == [("ok",)]
    finally:
        db.close()
