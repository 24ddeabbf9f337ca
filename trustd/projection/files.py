"""What the outputs share: atomic writes, certificate digests of source files, the update command.

`OwnAdditions` tells the system anchors which certificates of the rebuilt bundle are there only
because the projection put them there: the daemon reads its system anchors from the bundle the
distribution's tool rebuilds, and a certificate the administrator trusts for TLS only must not
come back as an unrestricted system anchor.  A certificate that is also in one of the
distribution's or the administrator's own source files stays a system anchor.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from trustd.certfiles import pem_armour
from trustd.core import pem as pem_text
from trustd.core.certificates import Certificate

log = logging.getLogger(__name__)

COMMAND_TIMEOUT = 300.0  # seconds; a Java keystore rebuild takes a few
_CERTIFICATE_LABELS = pem_text.CERTIFICATE_LABELS | {"TRUSTED CERTIFICATE"}


class OutputFailure(RuntimeError):
    """Writing a trust store's sources or running its update command failed."""


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> bool:
    """Write `data` to `path` unless it already holds exactly that; True if written.

    A sibling temporary file renamed into place, so readers see the old or the new file whole.
    A file that is a mount point of its own (a sandbox granting write access to that one file,
    such as /etc/ca-certificates.conf) cannot be renamed over; it is rewritten in place then.
    """
    with contextlib.suppress(OSError):
        if path.read_bytes() == data:
            return False
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, mode)
        try:
            os.replace(temporary, path)
        except OSError as problem:
            if problem.errno not in (errno.EBUSY, errno.EXDEV):
                raise
            with open(path, "r+b") as out:
                out.write(data)
                out.truncate()
                out.flush()
                os.fsync(out.fileno())
    finally:
        Path(temporary).unlink(missing_ok=True)
    return True


def public_directory(path: Path) -> None:
    """Make a directory every user may read (0755 whatever the umask)."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o755)


def pem(certificate: Certificate) -> bytes:
    return pem_armour(certificate.der).encode()


def file_name(certificate: Certificate, prefix: str = "") -> str:
    """A stable file name: the subject's readable part and the digest (unique per certificate)."""
    readable = re.sub(r"[^A-Za-z0-9]+", "_", certificate.subject_summary).strip("_")[:48]
    return f"{prefix}{readable or 'certificate'}_{certificate.sha256.hex()[:16]}"


@dataclass(frozen=True, slots=True)
class Digests:
    sha1: frozenset[bytes]
    sha256: frozenset[bytes]


_cache: dict[Path, tuple[tuple[int, int, int], Digests]] = {}
_cache_lock = threading.Lock()


def file_digests(path: Path) -> Digests:
    """SHA-1 and SHA-256 of every certificate in a PEM or DER file (cached by inode and mtime)."""
    try:
        info = path.stat()
    except OSError:
        return Digests(frozenset(), frozenset())
    stamp = (info.st_ino, info.st_size, info.st_mtime_ns)
    with _cache_lock:
        cached = _cache.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    try:
        data = path.read_bytes()
    except OSError:
        data = b""
    ders: list[bytes] = []
    for block in pem_text.blocks(data):
        if block.label in _CERTIFICATE_LABELS:
            with contextlib.suppress(ValueError):
                ders.append(block.der())
    if not ders and data[:1] == b"\x30":
        ders.append(data)
    digests = Digests(
        frozenset(hashlib.sha1(d).digest() for d in ders),
        frozenset(hashlib.sha256(d).digest() for d in ders),
    )
    with _cache_lock:
        _cache[path] = (stamp, digests)
    return digests


def source_files(directory: Path, *, skip: Path | None = None) -> Iterable[Path]:
    """Regular files under a directory (following links, as the tools do), `skip` left out."""
    if not directory.is_dir():
        return
    for root, dirs, files in os.walk(directory, followlinks=True):
        here = Path(root)
        if skip is not None and here == skip:
            dirs.clear()
            continue
        dirs.sort()
        for name in sorted(files):
            if not name.startswith("."):
                yield here / name


@dataclass(frozen=True, slots=True)
class OwnAdditions:
    """The SHA-256s of certificates only the projection's own files put into the bundle.

    Picklable, so that evaluation worker processes compute the same set from the same files.
    """

    own: tuple[str, ...]  # directories (or files) the projection writes
    others: tuple[str, ...]  # directories of the distribution's and administrator's sources
    own_prefix: str = ""  # in a shared directory: only files whose name starts so are ours

    def _own_files(self) -> Iterable[Path]:
        for place in map(Path, self.own):
            if place.is_file():
                yield place
            else:
                for path in source_files(place):
                    if path.name.startswith(self.own_prefix):
                        yield path

    def __call__(self) -> frozenset[bytes]:
        ours: set[bytes] = set()
        own_files = set()
        for path in self._own_files():
            own_files.add(path)
            ours |= file_digests(path).sha256
        if not ours:
            return frozenset()
        for directory in map(Path, self.others):
            for path in source_files(directory):
                if path not in own_files:
                    ours -= file_digests(path).sha256
        return frozenset(ours)


def run_command(argv: Sequence[str], timeout: float = COMMAND_TIMEOUT) -> str:
    """Run an update command; its output, or OutputFailure with the end of what it said."""
    try:
        done = subprocess.run(
            list(argv),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            # What the tools write is for every user to read, whatever the daemon's own umask
            # (0077 under systemd/trustd.service).
            umask=0o022,
        )
    except (OSError, subprocess.TimeoutExpired) as problem:
        raise OutputFailure(f"{argv[0]}: {problem}") from None
    said = (done.stdout + done.stderr).strip()
    if done.returncode != 0:
        tail = " | ".join(said.splitlines()[-3:])
        raise OutputFailure(f"{' '.join(argv)} exited with status {done.returncode}: {tail}")
    log.debug("%s: %s", " ".join(argv), said)
    return said


class ToolLayout(Protocol):
    """Where a distribution's trust store tool reads its sources; the command that rebuilds."""

    @property
    def command(self) -> tuple[str, ...]: ...

    def configured(self) -> bool:
        """The tool's configuration or source directory is there."""

    def own_additions(self) -> OwnAdditions:
        """Which sources are trustd's, which the distribution's and the administrator's."""


_Layout = TypeVar("_Layout", bound=ToolLayout)


class ToolOutput(Generic[_Layout]):
    """An output that keeps a trust store tool's sources in step with the projection (`apply`)
    and then has the tool rebuild the stores; `state_file` keeps what an unfinished update
    must not forget, `warnings` what the last `apply` found wrong."""

    name: str

    def __init__(self, state_file: Path, layout: _Layout) -> None:
        self.layout = layout
        self.state_file = state_file
        self.warnings: list[str] = []

    def own_additions(self) -> OwnAdditions:
        return self.layout.own_additions()

    def run_tool(self) -> str:
        """Run the update command; what it said (OutputFailure if it failed)."""
        return run_command(self.layout.command)


def applies(layout: ToolLayout) -> bool:
    """The layout's update command is on PATH and the tool is configured."""
    return shutil.which(layout.command[0]) is not None and layout.configured()
