"""Running trustctl as root and as a plain user against one real daemon.

`Users` starts a daemon (tests/api's `start_daemon`, on a socket every uid can reach) and runs
the real CLI as root, in the test's process, or as `PLAIN`, in a subprocess (a uid without a
passwd entry, with its own home directory; switching uid needs root, so tests that use
`as_user` call `tests/security/clients.require_root` first).  Files handed to the CLI live in
`files`, a directory every uid can read.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cli.conftest import Run, trustctl
from daemons import Daemon, start_daemon
from pki import Issued

PLAIN = 40002  # a second unprivileged uid (tests/security uses 40001 and 65534)


@dataclass
class Users:
    daemon: Daemon
    base: Path
    files: Path
    home: Path

    def run(self, *args: str, uid: int = 0, stdin: str = "") -> Run:
        """trustctl `args` as `uid` (root: 0) with the daemon's socket, in `files`; HOME is the
        uid's own.  Root's run in the test's process, another uid's in a process of its own."""
        home = self.home if uid else self.base / "root-home"
        via = [*self._reach(), *_setpriv(uid), sys.executable, "-m", "trustctl"] if uid else None
        return trustctl(
            self.daemon.socket, *args, env={"HOME": str(home)}, via=via, stdin=stdin, cwd=self.files
        )

    def _reach(self) -> list[str]:
        """A private mount namespace in which the interpreter is reachable by other uids, when
        it is installed under a directory they cannot enter (pyenv under /root): that directory
        is replaced, in the namespace only, by one holding just the interpreter's subtree."""
        blocked = _blocked_ancestor(Path(sys.executable).resolve())
        if blocked is None:
            return []
        directory, child = blocked
        shadow = self.base / "shadow"
        (shadow / child).mkdir(parents=True, exist_ok=True)
        shadow.chmod(0o755)
        script = 'mount --bind "$1" "$2" && mount --rbind "$3" "$4" && shift 4 && exec "$@"'
        return [
            "unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script, "sh",
            str(directory / child), str(shadow / child), str(shadow), str(directory),
        ]  # fmt: skip

    def as_user(self, *args: str) -> Run:
        return self.run(*args, uid=PLAIN)

    def write(self, name: str, data: bytes) -> str:
        """A file every uid can read (and, under files/, write next to)."""
        path = self.files / name
        path.write_bytes(data)
        path.chmod(0o644)
        return str(path)


def _setpriv(uid: int) -> list[str]:
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]


def _blocked_ancestor(path: Path) -> tuple[Path, str] | None:
    """The first directory above `path` that other users cannot enter, and the name under it
    that leads to `path`; None when every one of them can be entered."""
    parts = path.parts
    for depth in range(1, len(parts) - 1):
        directory = Path(*parts[:depth])
        if not directory.stat().st_mode & 0o001:
            return directory, parts[depth]
    return None


def users_for(root: Issued, *system_anchors: Issued) -> Iterator[Users]:
    """A daemon whose system bundle holds `root` and `system_anchors`; removed afterwards."""
    base = Path(tempfile.mkdtemp(prefix="trustctl-users-", dir="/tmp"))
    try:
        base.chmod(0o755)
        daemon = start_daemon(base, root)
        if system_anchors:
            daemon.bundle.write_bytes(root.pem + b"".join(a.pem for a in system_anchors))
            daemon.call("Reload")
        files, home = base / "files", base / "home"
        files.mkdir(mode=0o777)
        files.chmod(0o777)
        home.mkdir()
        os.chown(home, PLAIN, PLAIN)
        (base / "root-home").mkdir()
        try:
            yield Users(daemon, base, files, home)
        finally:
            daemon.shut_down()
    finally:
        shutil.rmtree(base, ignore_errors=True)
