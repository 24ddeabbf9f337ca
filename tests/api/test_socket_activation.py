"""The daemon serves the socket systemd passes it (LISTEN_FDS), started by
systemd-socket-activate exactly as trustd.socket would start it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from daemons import call
from pki import PKI


@pytest.mark.skipif(
    shutil.which("systemd-socket-activate") is None,
    reason="systemd-socket-activate is not installed",
)
def test_daemon_answers_when_socket_activated(tmp_path: Path, pki: PKI) -> None:
    sock = tmp_path / "activated.sock"
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(pki.root("Activated Root").pem)
    log = tmp_path / "trustd.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [
                "systemd-socket-activate",
                "-l",
                str(sock),
                sys.executable,
                "-m",
                "trustd.daemon",
                "--state-dir",
                str(tmp_path / "state"),
                "--dropin-dir",
                str(tmp_path / "etc"),
                "--config",
                str(tmp_path / "none.conf"),
                "--ca-bundle",
                str(bundle),
                "--socket",
                str(tmp_path / "unused.sock"),
                "--workers",
                "1",
            ],
            stderr=stderr,
        )
    try:
        deadline = time.monotonic() + 30
        while not sock.exists():
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        # The first connection makes systemd-socket-activate start the daemon.
        reply = call(sock, "io.trustd.Trust.Status")
        assert reply["parameters"]["counts"]["system_anchors"] == 1, reply
        assert not (tmp_path / "unused.sock").exists()  # it served the passed socket only
        assert "socket(s) passed by systemd" in log.read_text()
    finally:
        process.terminate()
        process.wait(timeout=30)
