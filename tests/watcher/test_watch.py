"""The live watcher: real inotify events through watchdog, applied within a second."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pki import PKI
from waiting import eventually
from watcher.conftest import put

from trustd.core import Domain
from trustd.store.repository import TrustStore
from trustd.watcher import DropinDirectories, DropinWatcher

pytestmark = pytest.mark.alone  # the watcher's promise is a change applied within a second

DEADLINE = 1.0  # the watcher's promise: applied within one second of the file event


def admin_keys(store: TrustStore) -> set[str]:
    return {entry.key for entry, _ in store.trust_settings(Domain.ADMIN, 0)}


@pytest.fixture
def changes() -> list[int]:
    return []


@pytest.fixture
def live(store: TrustStore, dirs: DropinDirectories, changes: list[int]) -> Iterator[DropinWatcher]:
    lock = threading.Lock()

    def changed() -> None:
        with lock:
            changes.append(store.generation)

    watcher = DropinWatcher(store, dirs, on_change=changed)
    watcher.reconcile_now()
    watcher.start()
    yield watcher
    watcher.stop()


def test_added_and_removed_files_apply_within_a_second(
    live: DropinWatcher, store: TrustStore, dirs: DropinDirectories, pki: PKI, changes: list[int]
) -> None:
    root, bad = pki.root("Org"), pki.root("Bad")
    anchor = put(dirs.anchors, "org.pem", root.pem)
    eventually(lambda: admin_keys(store) == {root.sha1.upper()}, DEADLINE)
    put(dirs.distrust, "bad.pem", bad.pem)
    eventually(lambda: admin_keys(store) == {root.sha1.upper(), bad.sha1.upper()}, DEADLINE)
    anchor.unlink()
    eventually(lambda: admin_keys(store) == {bad.sha1.upper()}, DEADLINE)
    eventually(lambda: len(changes) >= 3, DEADLINE)  # told after the store has changed


def test_rename_and_atomic_replace(
    live: DropinWatcher, store: TrustStore, dirs: DropinDirectories, pki: PKI
) -> None:
    one, two = pki.root("One"), pki.root("Two")
    # Atomic writers: a hidden temporary file renamed into place.
    put(dirs.anchors, ".org.pem.tmp", one.pem)
    (dirs.anchors / ".org.pem.tmp").rename(dirs.anchors / "org.pem")
    eventually(lambda: admin_keys(store) == {one.sha1.upper()}, DEADLINE)
    put(dirs.anchors, ".org.pem.tmp", two.pem)
    (dirs.anchors / ".org.pem.tmp").replace(dirs.anchors / "org.pem")
    eventually(lambda: admin_keys(store) == {two.sha1.upper()}, DEADLINE)
    (dirs.anchors / "org.pem").rename(dirs.anchors / "org.pem.disabled~")
    eventually(lambda: admin_keys(store) == set(), DEADLINE)


def test_chmod_is_noticed(
    live: DropinWatcher, store: TrustStore, dirs: DropinDirectories, pki: PKI
) -> None:
    root = pki.root()
    path = put(dirs.anchors, "org.pem", root.pem)
    eventually(lambda: admin_keys(store) == {root.sha1.upper()}, DEADLINE)
    path.chmod(0o666)
    eventually(lambda: admin_keys(store) == set(), DEADLINE)
    # the reconcile that removed the rows reports why once its transaction is committed
    problem = f"{path}: the file is writable by group or others (mode 0666)"
    eventually(lambda: live.problems == [problem], DEADLINE)


def test_broken_file_reported_live(
    live: DropinWatcher, store: TrustStore, dirs: DropinDirectories, pki: PKI
) -> None:
    broken = put(dirs.trust_settings, "junk.plist", b"junk")
    eventually(lambda: bool(live.problems), DEADLINE)
    assert live.problems[0].startswith(f"{broken}: not a property list")
    root = pki.root()
    put(dirs.anchors, "org.pem", root.pem)
    eventually(lambda: admin_keys(store) == {root.sha1.upper()}, DEADLINE)


def test_directories_created_removed_and_recreated(
    store: TrustStore, tmp_path: Path, pki: PKI
) -> None:
    base = tmp_path / "etc"
    dirs = DropinDirectories(base / "trustd" / "anchors", base / "trustd" / "distrust", base / "x")
    root, second = pki.root("Org"), pki.root("Second")
    with DropinWatcher(store, dirs) as watcher:
        watcher.reconcile_now()
        dirs.anchors.mkdir(parents=True)
        for path in (base, base / "trustd", dirs.anchors):
            path.chmod(0o755)
        # Written at once: the worker arms the new directory's watch before it reads it.
        put(dirs.anchors, "org.pem", root.pem)
        eventually(lambda: admin_keys(store) == {root.sha1.upper()}, DEADLINE)
        put(dirs.anchors, "second.pem", second.pem)  # the new directory is watched now
        eventually(lambda: admin_keys(store) == {root.sha1.upper(), second.sha1.upper()}, DEADLINE)

        shutil.rmtree(dirs.anchors)
        eventually(lambda: admin_keys(store) == set(), DEADLINE)

        staged = base / "trustd" / "anchors.new"
        staged.mkdir(mode=0o755)
        put(staged, "org.pem", root.pem)
        staged.rename(dirs.anchors)
        eventually(lambda: admin_keys(store) == {root.sha1.upper()}, DEADLINE)


def test_start_catches_changes_made_before_it(
    store: TrustStore, dirs: DropinDirectories, pki: PKI
) -> None:
    watcher = DropinWatcher(store, dirs)
    watcher.reconcile_now()
    root = pki.root()
    put(dirs.anchors, "org.pem", root.pem)  # after the daemon's reconcile, before start()
    with watcher:
        eventually(lambda: admin_keys(store) == {root.sha1.upper()}, DEADLINE)


def test_stop_is_prompt_and_idempotent(store: TrustStore, dirs: DropinDirectories) -> None:
    watcher = DropinWatcher(store, dirs)
    watcher.start()
    watcher.start()
    started = time.monotonic()
    watcher.stop()
    watcher.stop()
    assert time.monotonic() - started < 2
