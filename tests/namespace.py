"""Run code as root where the machine's real default paths are, without touching the machine.

`run_isolated(script)` runs a Python script as root in a private mount namespace (`unshare -m`)
in which each of the given directories is a throw-away overlay: the script sees the machine's
own /etc, /run, /var/lib... and may write to them (a daemon's /run/trustd, /var/lib/trustd,
/etc/trustd, the distribution's trust stores), and every write vanishes with the namespace.
Tests that use it call `require_namespaces()` first and are skipped where root, unshare or
overlay mounts are missing.
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence

import pytest

# A root daemon on the default state directory keeps the distribution's trust stores in step:
# every directory it may write is overlaid (/usr/share/ca-certificates for its sources).
TRUST_STORE_DIRECTORIES = ("/usr/share/ca-certificates", "/usr/local/share/ca-certificates")
DEFAULT_OVERLAYS = ("/etc", "/run", "/var/lib", *TRUST_STORE_DIRECTORIES)


def _mounts(directories: Sequence[str]) -> str:
    """Shell commands making each directory an overlay whose upper layer is a fresh tmpfs."""
    lines = ["set -e"]
    for directory in directories:
        quoted = shlex.quote(directory)
        lines += [
            "layer=$(mktemp -d /tmp/trustd-overlay.XXXXXX)",
            'mount -t tmpfs tmpfs "$layer"',
            'mkdir "$layer/upper" "$layer/work"',
            f'mount -t overlay overlay -o "lowerdir={quoted},upperdir=$layer/upper,'
            f'workdir=$layer/work" {quoted}',
        ]
    return "\n".join(lines)


@functools.cache
def _available() -> str | None:
    """Why namespaces cannot be used here, or None."""
    if os.geteuid() != 0:
        return "needs root (a private mount namespace over the system's directories)"
    if shutil.which("unshare") is None:
        return "needs unshare (util-linux)"
    probe = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", _mounts(["/run"])],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if probe.returncode != 0:
        return f"private mount namespaces with overlays are not available: {probe.stderr.strip()}"
    return None


def require_namespaces() -> None:
    reason = _available()
    if reason is not None:
        pytest.skip(reason)


def run_isolated(
    script: str,
    *,
    overlays: Sequence[str] = DEFAULT_OVERLAYS,
    env: Mapping[str, str] | None = None,
    timeout: float = 180,
) -> subprocess.CompletedProcess[str]:
    """Run the Python `script` (this interpreter) as root in a private mount namespace over
    throw-away overlays of `overlays`; its output and exit status."""
    shell = f'{_mounts(overlays)}\nexec {shlex.quote(sys.executable)} -c "$TRUSTD_TEST_SCRIPT"'
    environment = dict(os.environ if env is None else env, TRUSTD_TEST_SCRIPT=script)
    return subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", shell],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environment,
        check=False,
    )
