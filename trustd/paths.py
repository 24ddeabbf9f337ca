"""Where trustd keeps things by default, for the daemon, trustctl and the client.

A daemon as root: state in /var/lib/trustd, the socket in /run/trustd, configuration and
drop-ins in /etc/trustd; this is the system daemon, one per machine.  A daemon as another user
(a per-user daemon, for development): the XDG state, runtime and configuration directories;
without XDG_RUNTIME_DIR, /run/user/<uid> if it exists, else the state directory (never a
directory in /tmp, where another user could have made it first).

Clients of every uid talk to the system daemon: TRUSTD_SOCKET if set, else the system socket
when it exists, else the caller's own per-user daemon when that one exists (`client_socket`).
The TRUSTD_SOCKET environment variable overrides the socket path everywhere.  Standard library
only, so that clients can import it cheaply.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

SYSTEM_SOCKET = Path("/run/trustd/trustd.sock")
"""The system daemon's socket (systemd/trustd.socket), which every uid's clients use."""


@dataclass(frozen=True, slots=True)
class Paths:
    socket: Path
    state_dir: Path
    config_dir: Path


def default_paths(environ: Mapping[str, str] | None = None, uid: int | None = None) -> Paths:
    env = os.environ if environ is None else environ
    uid = os.geteuid() if uid is None else uid
    if uid == 0:
        state, runtime, config = Path("/var/lib/trustd"), SYSTEM_SOCKET.parent, Path("/etc/trustd")
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
    """The socket a daemon started without --socket listens on."""
    return default_paths().socket


def client_sockets(environ: Mapping[str, str] | None = None, uid: int | None = None) -> list[Path]:
    """The sockets a client may use, in order: TRUSTD_SOCKET alone when it is set, else the
    system daemon's and then the caller's own per-user daemon's (if that one differs)."""
    env = os.environ if environ is None else environ
    if env.get("TRUSTD_SOCKET"):
        return [Path(env["TRUSTD_SOCKET"])]
    own = default_paths(env, uid).socket
    return [SYSTEM_SOCKET] if own == SYSTEM_SOCKET else [SYSTEM_SOCKET, own]


def client_socket(environ: Mapping[str, str] | None = None, uid: int | None = None) -> Path:
    """The socket a client connects to: the first of `client_sockets` that exists, else the
    system socket (whose absence the client then reports, naming every place it looked).

    A per-user daemon is used only when asked for (TRUSTD_SOCKET, --socket) or when no system
    socket exists, so that every uid's programs follow the machine's trust service.
    """
    candidates = client_sockets(environ, uid)
    return next((path for path in candidates if path.exists()), candidates[0])
