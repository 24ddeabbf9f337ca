"""The live watcher: watchdog events, debounced, reconciled and applied on a background thread.

`DropinWatcher.reconcile_now()` reads the three directories, compares them with what the store
holds and applies the difference, synchronously (the daemon calls it at start and on SIGHUP).
`start()` watches the directories with watchdog and reconciles on a background thread once
events have been quiet for `debounce` seconds (at most `max_delay` after the first event), so
a change is applied well within a second.

Missing directories are fine: the watcher then watches the nearest existing ancestor and
starts watching the directory itself once it appears.  It also watches each directory's parent,
so a directory that is removed, renamed or replaced (`mv anchors.new anchors`) is noticed.

What the watcher knows of each applied file (its fingerprint, its pending entries) lives in
the store, written in the same transaction as the file's rows.  After a restart,
`reconcile_now()` re-applies only the files that changed while the daemon was stopped (and
removes the rows of files that disappeared); unchanged files cost a read and a parse.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from watchdog.events import (
    EVENT_TYPE_ATTRIB,
    EVENT_TYPE_CLOSED_NO_WRITE,
    EVENT_TYPE_CREATED,
    EVENT_TYPE_MODIFIED,
    EVENT_TYPE_OPENED,
    DirAttribEvent,
    DirCreatedEvent,
    DirDeletedEvent,
    DirModifiedEvent,
    DirMovedEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch

from trustd.debounce import Debouncer
from trustd.plist.profiles import (
    MAX_PROFILE_BYTES,
    InvalidProfile,
    ProfileRecord,
    decode_profile,
)
from trustd.store.repository import TrustStore
from trustd.watcher.apply import (
    ApplyReport,
    applied_records,
    apply_plan,
    stored_denies,
    stored_records,
)
from trustd.watcher.profiles import ProfileReader
from trustd.watcher.reconcile import (
    Applied,
    DirectoryContents,
    FileContent,
    Kind,
    ReadProblem,
    reconcile,
)
from trustd.watcher.scan import normalise, read_directory

log = logging.getLogger(__name__)

DEFAULT_ROOT = Path("/etc/trustd")
DEBOUNCE_SECONDS = 0.2
MAX_DELAY_SECONDS = 0.5

# Opening and reading files (which reconcile itself does) must not wake the watcher.
_EVENTS: list[type[FileSystemEvent]] = [
    FileCreatedEvent,
    DirCreatedEvent,
    FileDeletedEvent,
    DirDeletedEvent,
    FileModifiedEvent,
    DirModifiedEvent,
    FileMovedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileAttribEvent,
    DirAttribEvent,
]
_PARENT_NOISE = (EVENT_TYPE_MODIFIED, EVENT_TYPE_ATTRIB)


@dataclass(frozen=True, slots=True)
class DropinDirectories:
    """Where the drop-in files live; defaults under /etc/trustd."""

    anchors: Path = DEFAULT_ROOT / "anchors"
    distrust: Path = DEFAULT_ROOT / "distrust"
    trust_settings: Path = DEFAULT_ROOT / "trust-settings"
    profiles: Path = DEFAULT_ROOT / "profiles"

    @classmethod
    def under(cls, root: Path) -> DropinDirectories:
        """The directories of one drop-in root (`--dropin-dir`)."""
        return cls(root / "anchors", root / "distrust", root / "trust-settings", root / "profiles")

    def by_kind(self) -> dict[Kind, str]:
        """Each kind's directory in the absolute form sources use."""
        return {
            Kind.ANCHORS: normalise(self.anchors),
            Kind.DISTRUST: normalise(self.distrust),
            Kind.TRUST_SETTINGS: normalise(self.trust_settings),
            Kind.PROFILES: normalise(self.profiles),
        }


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: DropinWatcher) -> None:
        self._watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in (EVENT_TYPE_OPENED, EVENT_TYPE_CLOSED_NO_WRITE):
            return
        paths = [os.fsdecode(event.src_path), os.fsdecode(event.dest_path)]
        if any(self._watcher.relevant(path, event.event_type) for path in paths if path):
            self._watcher.notify()


class DropinWatcher:
    """Keeps the store's admin domain in line with the drop-in directories.

    `problems` lists broken files, refused files, pending trust settings and overridden
    settings, one line each, for the Status call.  `on_change` runs (on the thread that
    applied) after every reconcile that changed the store.
    """

    def __init__(
        self,
        store: TrustStore,
        directories: DropinDirectories | None = None,
        *,
        on_change: Callable[[], None] | None = None,
        debounce: float = DEBOUNCE_SECONDS,
        max_delay: float = MAX_DELAY_SECONDS,
        profiles: ProfileReader | None = None,
    ) -> None:
        self.store = store
        self.profile_reader = profiles or ProfileReader()
        self._profiles: dict[str, ProfileRecord] = {}
        self.directories = directories or DropinDirectories()
        self.on_change = on_change
        self._dirs = self.directories.by_kind()
        self._applied: dict[str, Applied] = {}
        self._problems: list[str] = []
        self._reconcile_lock = threading.Lock()
        self._lock = threading.Lock()  # _problems and _profiles
        self._quiet = Debouncer(debounce, max(max_delay, debounce))
        self._observer: BaseObserver | None = None
        self._worker: threading.Thread | None = None
        self._watches: dict[str, tuple[ObservedWatch, tuple[int, int]]] = {}
        self._handler = _Handler(self)

    # -- reconciling ---------------------------------------------------------------------------

    @property
    def problems(self) -> list[str]:
        """The problems found by the last reconcile (a copy)."""
        with self._lock:
            return list(self._problems)

    @property
    def applied(self) -> Mapping[str, Applied]:
        """The sources applied now, by path (a copy)."""
        with self._reconcile_lock:
            return dict(self._applied)

    @property
    def profiles(self) -> list[ProfileRecord]:
        """The configuration profiles of the profiles directory, as last read (by file)."""
        with self._lock:
            return [self._profiles[source] for source in sorted(self._profiles)]

    def install_profile(self, data: bytes) -> ProfileRecord:
        """Put a configuration profile in the profiles directory and apply it now.

        A profile with the identifier of an installed one replaces that one's file (atomically:
        written aside, then renamed over it), otherwise it becomes `<identifier>.mobileconfig`.
        InvalidProfile, with the reason, when the profile would be refused; nothing is written.
        """
        if len(data) > MAX_PROFILE_BYTES:
            raise InvalidProfile(f"larger than {MAX_PROFILE_BYTES} bytes")
        folder = self._dirs[Kind.PROFILES]
        content, record = self.profile_reader.read("", data)
        if isinstance(content, ReadProblem):
            raise InvalidProfile(content.reason)
        if record is None:  # undecodable: the decoder says why
            decode_profile(content)
            raise InvalidProfile("not a configuration profile")
        with self._reconcile_lock:
            installed = {r.identifier: r.source for r in self.profiles}
            target = installed.get(record.identifier) or os.path.join(
                folder, _file_name(record.identifier)
            )
            os.makedirs(folder, mode=0o755, exist_ok=True)
            _write_atomically(target, data)
        self.reconcile_now()
        return replace(record, source=target)

    def remove_profile(self, identifier: str) -> ProfileRecord:
        """Remove the installed profile with this identifier and what it added; KeyError."""
        with self._reconcile_lock:
            found = [r for r in self.profiles if r.identifier == identifier]
            if not found:
                raise KeyError(identifier)
            for record in found:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(record.source)
        self.reconcile_now()
        return found[0]

    def _open_profiles(self, contents: DirectoryContents) -> DirectoryContents:
        """The profiles directory with signed profiles opened and judged, and their records."""
        files: dict[str, FileContent] = {}
        records: dict[str, ProfileRecord] = {}
        for source, content in contents.files.items():
            if isinstance(content, ReadProblem):
                files[source] = content
                continue
            files[source], record = self.profile_reader.read(source, content)
            if record is not None:
                records[source] = record
        with self._lock:
            self._profiles = records
        return replace(contents, files=files)

    def reconcile_now(self) -> ApplyReport:
        """Read the directories, apply what changed, return what was done (synchronous)."""
        with self._reconcile_lock:
            contents = []
            for kind, path in self._dirs.items():
                read = read_directory(kind, path)
                contents.append(self._open_profiles(read) if kind is Kind.PROFILES else read)
            records = stored_records(self.store, self._dirs.values())
            denies = stored_denies(self.store, self._dirs[Kind.DISTRUST])
            plan = reconcile(contents, set(records), applied_records(records), denies)
            report = apply_plan(self.store, plan)
            self._applied = report.state
            with self._lock:
                self._problems = list(report.problems)
        for source in report.applied:
            log.info("drop-in applied: %s", source)
        for source in report.removed:
            log.info("drop-in removed: %s", source)
        for problem in report.problems:
            log.warning("drop-in problem: %s", problem)
        if report.changed and self.on_change is not None:
            self.on_change()
        return report

    # -- watching ------------------------------------------------------------------------------

    def start(self) -> None:
        """Watch the directories and apply changes in the background.

        One reconcile is queued at once, so nothing that changed between the daemon's
        `reconcile_now()` and this call is missed (it is a no-op when nothing did).
        """
        if self._observer is not None:
            return
        self._quiet.restart()
        observer = Observer()
        observer.daemon = True
        self._observer = observer
        observer.start()
        self._rearm()
        self._worker = threading.Thread(target=self._run, name="trustd-dropin", daemon=True)
        self._worker.start()
        self.notify()

    def stop(self) -> None:
        """Stop watching; waits for a reconcile in progress to finish."""
        observer, worker = self._observer, self._worker
        if observer is None:
            return
        self._quiet.stop()
        observer.stop()
        observer.join()
        if worker is not None:
            worker.join()
        self._observer = self._worker = None
        self._watches.clear()

    def __enter__(self) -> DropinWatcher:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def relevant(self, path: str, event_type: str = EVENT_TYPE_CREATED) -> bool:
        """Whether an event at `path` can change what a drop-in directory holds.

        Files directly inside a directory and the directory itself count; so does the
        creation, removal or renaming of one of its ancestors, but not the "modified" events
        watchdog sends for an ancestor whenever any of its children changes.
        """
        for directory in self._dirs.values():
            if path == directory or os.path.dirname(path) == directory:
                return True
            if directory.startswith(path.rstrip("/") + "/") and event_type not in _PARENT_NOISE:
                return True
        return False

    def notify(self) -> None:
        """Note a change: the worker reconciles once events have been quiet for a moment."""
        self._quiet.poke()

    def _run(self) -> None:
        while self._quiet.wait():
            try:
                self._rearm()
                self.reconcile_now()
            except Exception:  # the thread must survive anything; the error is logged
                log.exception("drop-in reconcile failed")
                with self._lock:
                    self._problems.append("drop-in reconcile failed; see the log")

    def _rearm(self) -> None:
        """Watch each directory (when it exists) and its nearest existing ancestor."""
        observer = self._observer
        if observer is None:
            return
        wanted: dict[str, tuple[int, int]] = {}
        for directory in self._dirs.values():
            for path in (directory, _existing_ancestor(directory)):
                identity = _directory_identity(path)
                if identity is not None:
                    wanted[path] = identity
        for path, (watch, identity) in list(self._watches.items()):
            if wanted.get(path) != identity:
                self._unschedule(observer, watch)
                del self._watches[path]
        for path, identity in wanted.items():
            if path in self._watches:
                continue
            try:
                watch = observer.schedule(
                    self._handler, path, recursive=False, event_filter=_EVENTS
                )
            except OSError as problem:  # gone again since the check: the next event rearms
                log.debug("cannot watch %s: %s", path, problem)
                continue
            self._watches[path] = (watch, identity)

    @staticmethod
    def _unschedule(observer: BaseObserver, watch: ObservedWatch) -> None:
        with contextlib.suppress(KeyError):  # its emitter already stopped (directory deleted)
            observer.unschedule(watch)


def _file_name(identifier: str) -> str:
    """A file name for a profile identifier (reverse-DNS: letters, digits, dots, dashes)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in identifier).lstrip(".")
    return f"{safe[:200] or 'profile'}.mobileconfig"


def _write_atomically(path: str, data: bytes) -> None:
    """`data` as `path`, root's and readable by all (the mode drop-ins must have), whole."""
    folder, name = os.path.split(path)
    staged = os.path.join(folder, f".{name}.{os.getpid()}.tmp")  # ignored by the scan
    descriptor = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    try:
        with os.fdopen(descriptor, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(staged, 0o644)
        os.replace(staged, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(staged)
        raise


def _existing_ancestor(directory: str) -> str:
    path = os.path.dirname(directory)
    while path != os.path.dirname(path) and not os.path.isdir(path):
        path = os.path.dirname(path)
    return path


def _directory_identity(path: str) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_dev, info.st_ino) if os.path.isdir(path) else None
