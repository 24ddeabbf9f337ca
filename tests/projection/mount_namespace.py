"""Run a test body as root in a private mount namespace, over throw-away copies of the machine.

`run_in_namespace(script, scratch)` starts `unshare -m` (mounts private to the new namespace),
mounts a tmpfs on `scratch` and lays an overlay over each directory of `OVERLAID`: the body sees
the machine's real files and tools, writes go to the tmpfs, and everything vanishes when the
body exits.  So a body can start the daemon exactly as the system service does (root, default
paths: /run/trustd, /var/lib/trustd, /etc/trustd) and let update-ca-certificates, its hooks and
dpkg's trigger processing rewrite /etc/ssl, /etc/ca-certificates.conf, Java's cacerts and
/var/lib/dpkg without touching the machine's own.

`unavailable()` says why that cannot run here (not root, no unshare, no overlay), for a skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Whatever the daemon, update-ca-certificates, its hooks and dpkg's triggers write.
OVERLAID = (
    "/etc",  # ssl, ca-certificates.conf, trustd, ssl/certs/java, pki
    "/var/lib",  # trustd, dpkg (trigger state), ca-certificates-java
    "/var/log",  # dpkg.log
    "/usr/share/ca-certificates",
    "/usr/local/share/ca-certificates",
    "/run",  # trustd's socket
)

_SETUP = r"""
set -e
scratch=$1; shift
mount -t tmpfs trustd-namespace-test "$scratch"
i=0
for directory in $OVERLAID; do
    [ -d "$directory" ] || continue
    i=$((i + 1))
    mkdir -p "$scratch/$i/upper" "$scratch/$i/work"
    mount -t overlay overlay \
        -o "lowerdir=$directory,upperdir=$scratch/$i/upper,workdir=$scratch/$i/work" "$directory"
done
exec "$@"
"""


def unavailable() -> str | None:
    """Why a namespace test cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root (a private mount namespace with overlays)"
    if shutil.which("unshare") is None:
        return "unshare (util-linux) is not installed"
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount -t tmpfs probe /mnt"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        return f"cannot make a private mount namespace here: {probe.stderr.strip()}"
    return None


def run_in_namespace(
    script: Path, scratch: Path, *args: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run `script` with this interpreter inside the namespace; its output and status."""
    scratch.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.pop("TRUSTD_SOCKET", None)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "tests"), str(REPO)])
    env["OVERLAID"] = " ".join(OVERLAID)
    argv = ["unshare", "-m", "sh", "-c", _SETUP, "sh", str(scratch), sys.executable, str(script)]
    return subprocess.run(
        [*argv, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )
