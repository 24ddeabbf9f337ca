"""Fixtures for the drop-in watcher: the store tests' real SQLite store, and drop-in folders."""

from __future__ import annotations

from pathlib import Path

import pytest
from store.conftest import db_path, empty_bundle, engine, store

from trustd.watcher import DropinDirectories

__all__ = ["db_path", "dirs", "empty_bundle", "engine", "put", "store"]


@pytest.fixture
def dirs(tmp_path: Path) -> DropinDirectories:
    """The three drop-in directories, created with root-only write access (mode 0755)."""
    root = tmp_path / "etc-trustd"
    root.mkdir()
    root.chmod(0o755)
    made = DropinDirectories(root / "anchors", root / "distrust", root / "trust-settings")
    for path in (made.anchors, made.distrust, made.trust_settings):
        path.mkdir()
        path.chmod(0o755)
    return made


def put(directory: Path, name: str, data: bytes, mode: int = 0o644) -> Path:
    """Write a drop-in file with an explicit mode (the umask must not decide the test)."""
    path = directory / name
    path.write_bytes(data)
    path.chmod(mode)
    return path
