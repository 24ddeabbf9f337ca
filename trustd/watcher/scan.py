"""Reading a drop-in directory safely: the only part of the watcher that reads files.

The drop-in directories decide which certificates every program on the machine trusts, so
anyone who can write a file there can intercept every TLS connection.  What root did not
write is therefore refused, the way sshd's StrictModes and sudo's `sudoers.d` treat files
others could have changed:

- a file writable by its group or by others (mode & 0o022), or owned by someone other than
  root (or the daemon's own user), is refused: another user could have put anything in it;
- so is every file of a directory that is itself writable by group or others, or owned by
  someone else, since anyone who can write the directory can add or replace files, and of a
  directory below a parent others could write (without the sticky bit) or another user owns,
  since whoever can write the parent can swap the directory for another;
- a symbolic link is followed only to a file directly inside the same directory (OpenSSL
  hash links like `a1b2c3d4.0 -> org-root.pem`); a link elsewhere would hand the decision to
  whoever controls that place, whose permissions nobody checked;
- files larger than 1 MiB, and anything that is not a regular file, are refused.

Names starting with "." or ending with "~", and package-manager or editor leftovers
(`.dpkg-new`, `.rpmsave`, `.swp`, ...) are skipped silently, so that editors' temporary files
and atomic-rename writers never apply half a file.  Subdirectories are not read.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from trustd.store.engine import location_problem
from trustd.watcher.parse import MAX_FILE_BYTES
from trustd.watcher.reconcile import DirectoryContents, FileContent, Kind, ReadProblem

IGNORED_SUFFIXES = (
    "~",
    ".bak",
    ".dpkg-bak",
    ".dpkg-dist",
    ".dpkg-new",
    ".dpkg-old",
    ".dpkg-tmp",
    ".rpmnew",
    ".rpmorig",
    ".rpmsave",
    ".swp",
    ".tmp",
)
_UNSAFE_MODE = stat.S_IWGRP | stat.S_IWOTH
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def ignored(name: str) -> bool:
    """Names that are never read (hidden files, backups, editor and package leftovers)."""
    return name.startswith(".") or name.endswith(IGNORED_SUFFIXES)


def normalise(directory: Path | str) -> str:
    """The absolute form used for sources (not resolved: a configured symlink stays)."""
    return os.path.abspath(os.fspath(directory))


def _owner_problem(info: os.stat_result, what: str) -> str | None:
    if info.st_mode & _UNSAFE_MODE:
        return f"{what} is writable by group or others (mode {stat.S_IMODE(info.st_mode):04o})"
    if info.st_uid not in (0, os.geteuid()):
        return f"{what} is owned by uid {info.st_uid}, not root"
    return None


def _parent_problem(directory: str) -> str | None:
    """Whoever can write a parent directory can swap this one (for a link to any directory)."""
    problem = location_problem(Path(directory).parent)
    return None if problem is None else f"a parent directory is unsafe: {problem}"


def read_directory(
    kind: Kind, directory: Path | str, *, limit: int = MAX_FILE_BYTES
) -> DirectoryContents:
    """What the directory holds now; a missing directory holds nothing."""
    path = normalise(directory)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return DirectoryContents(kind, path)
    except OSError as problem:
        return DirectoryContents(kind, path, problem=f"cannot read: {problem.strerror}")
    if not stat.S_ISDIR(info.st_mode):
        return DirectoryContents(kind, path, problem="not a directory")
    refused = _owner_problem(info, "the directory") or _parent_problem(path)
    if refused is not None:
        return DirectoryContents(kind, path, problem=f"every file refused: {refused}")
    try:
        names = sorted(entry.name for entry in os.scandir(path))
    except OSError as problem:
        return DirectoryContents(kind, path, problem=f"cannot read: {problem.strerror}")
    files: dict[str, FileContent] = {}
    real_directory = os.path.realpath(path)
    for name in names:
        if ignored(name):
            continue
        source = os.path.join(path, name)
        content = _read_file(source, real_directory, limit)
        if content is None:
            continue
        files[source] = content
    return DirectoryContents(kind, path, files)


def _read_file(source: str, real_directory: str, limit: int) -> FileContent | None:
    """The file's bytes, a ReadProblem, or None for what is not a file (gone, a directory)."""
    try:
        info = os.lstat(source)
    except FileNotFoundError:
        return None
    except OSError as problem:
        return ReadProblem(f"cannot read: {problem.strerror}")
    target = source
    if stat.S_ISLNK(info.st_mode):
        target = os.path.realpath(source)
        if os.path.dirname(target) != real_directory:
            return ReadProblem(f"symbolic link to {target}, outside the directory")
    elif stat.S_ISDIR(info.st_mode):
        return None
    try:
        fd = os.open(target, _OPEN_FLAGS)
    except OSError as problem:
        return ReadProblem(f"cannot read: {problem.strerror}")
    with os.fdopen(fd, "rb") as stream:
        info = os.fstat(stream.fileno())
        if stat.S_ISDIR(info.st_mode):
            return None
        if not stat.S_ISREG(info.st_mode):
            return ReadProblem("not a regular file")
        unsafe = _owner_problem(info, "the file")
        if unsafe is not None:
            return ReadProblem(unsafe)
        if info.st_size > limit:
            return ReadProblem(f"larger than {limit} bytes")
        try:
            data = stream.read(limit + 1)
        except OSError as error:
            return ReadProblem(f"cannot read: {error.strerror}")
    if len(data) > limit:
        return ReadProblem(f"larger than {limit} bytes")
    return data
