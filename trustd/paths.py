"""Where trustd keeps things by default: one rule for the daemon, trustctl and the client.

As root: state in /var/lib/trustd, the socket in /run/trustd, configuration and drop-ins in
/etc/trustd.  As another user: the XDG state, runtime and configuration directories; without
XDG_RUNTIME_DIR, /run/user/<uid> if it exists, else the state directory (never a directory in
/tmp, where another user could have made it first).  The
TRUSTD_SOCKET environment variable overrides the socket path everywhere.  Standard library only,
so that clients can import it cheaply.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Paths:
    socket: Path
    state_dir: Path
    config_dir: Path


def default_paths(environ: Mapping[str, str] | None = None, uid: int | None = None) -> Paths:
    env = os.environ if environ is None else environ
    uid = os.geteuid() if uid is None else uid
    if uid == 0:
        state, runtime, config = Path("/var/lib/trustd"), Path("/run/trustd"), Path("/etc/trustd")
    else:
        home = Path(env.get("HOME", "~")).expanduser()
        state = Path(env.get("XDG_STATE_HOME") or home / ".local" / "state") / "trustd"
        runtime = _runtime_dir(env, uid) or state
        config = Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "trustd"
    socket = Path(env["TRUSTD_SOCKET"]) if env.get("TRUSTD_SOCKET") else runtime / "trustd.sock"
    return Paths(socket, state, config)


def _runtime_dir(env: Mapping[str, str], uid: int) -> Path | None:
    if env.get("XDG_RUNTIME_DIR"):
        return Path(env["XDG_RUNTIME_DIR"]) / "trustd"
    systemd = Path(f"/run/user/{uid}")
    return systemd / "trustd" if systemd.is_dir() else None


def default_socket() -> Path:
    return default_paths().socket
