"""The live projection's thread: debounced bursts, retries with back-off, what Status shows.
Real Debian output on a private tree with the real update-ca-certificates (see
test_debian_output.py), no root needed."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from pki import PKI
from test_debian_output import Tree, ssl_trust
from waiting import eventually

from trustd.projection.debian import DebianOutput
from trustd.projection.live import LiveProjection
from trustd.projection.model import Projection

pytestmark = pytest.mark.skipif(
    shutil.which("update-ca-certificates") is None, reason="ca-certificates is not installed"
)


def test_a_burst_is_one_run_and_failures_are_retried(tmp_path: Path, pki: PKI) -> None:
    tree = Tree(tmp_path)
    org = pki.root(cn="Org Root")
    current: list[Projection] = [Projection()]
    computed: list[float] = []

    def compute() -> Projection:
        computed.append(time.monotonic())
        return current[0]

    # No configuration yet: the output fails until the file appears.
    live = LiveProjection(compute, [DebianOutput(tree.state, tree.layout())])
    live.start()
    try:
        eventually(lambda: live.status()["problems"], what="the failure is reported")
        problem = live.status()["problems"][0]
        assert problem.startswith("debian: cannot read") and str(tree.conf) in problem
        tree.conf.write_text("")
        eventually(lambda: not live.status()["problems"] and not live.status()["busy"])
        assert live.status()["updates"] == 0  # nothing to project: the tool never ran

        # 200 pokes in a burst, the projection changing along: one run for all of them.
        runs = len(computed)
        current[0] = ssl_trust(org)
        for _ in range(200):
            live.poke()
        eventually(lambda: live.status()["updates"] == 1 and not live.status()["busy"])
        assert len(computed) - runs == 1
        assert org.pem.strip() in tree.bundle
        status = live.status()
        assert status["outputs"] == ["debian"] and status["digest"] == current[0].digest
        assert status["last_update"]
    finally:
        live.stop()
