"""trustctl tests run the real CLI (a subprocess) against a real daemon."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from daemons import Daemon


@dataclass
class Run:
    code: int
    out: str
    err: str


def trustctl(
    socket: Path | None,
    *args: str,
    env: dict[str, str] | None = None,
    via: Sequence[str] = ("-m", "trustctl"),
) -> Run:
    """The real CLI in a subprocess (`via`: how the interpreter runs it) against `socket`."""
    environment = {k: v for k, v in os.environ.items() if k != "TRUSTD_SOCKET"}
    if socket is not None:
        environment["TRUSTD_SOCKET"] = str(socket)
    environment.update(env or {})
    done = subprocess.run(
        [sys.executable, *via, *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )
    return Run(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def cli(daemon: Daemon) -> Iterator[object]:
    def run(*args: str) -> Run:
        return trustctl(daemon.socket, *args)

    yield run
