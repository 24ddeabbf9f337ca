"""Fixtures for store tests: a real SQLite file in a temporary directory, migrated to head."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from trustd.store.engine import migrate, open_engine
from trustd.store.repository import Actor, TrustStore
from trustd.store.system_anchors import SystemAnchors

ROOT_ACTOR = Actor(uid=0, pid=1)
USER = 1000
ALICE = Actor(uid=USER, pid=4242)
NOW = dt.datetime(2030, 6, 1, tzinfo=dt.UTC)  # the store tests' clock
SHORT = {  # a validity that holds at NOW
    "not_before": dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
    "not_after": dt.datetime(2030, 12, 1, tzinfo=dt.UTC),
}


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "trustd.sqlite3"


@pytest.fixture
def engine(db_path: Path) -> Iterator[Engine]:
    engine = open_engine(db_path)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def empty_bundle(tmp_path: Path) -> Path:
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(b"")
    return bundle


@pytest.fixture
def store(engine: Engine, empty_bundle: Path) -> TrustStore:
    return TrustStore(engine, SystemAnchors(empty_bundle))
