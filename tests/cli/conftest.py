"""trustctl tests run the real CLI against a real daemon.

`trustctl()` runs it the way its entry point does (`trustctl.main.main` with the arguments,
the environment, empty standard input and captured output), in this process: a fresh
interpreter per command cost a sixth of a second of CPU, hundreds of times over.  What only a
process of its own shows is tested that way: how the command is started (`via`: another uid,
another interpreter; the installed entry points in tests/test_install.py), what each command
imports (tests/cli/test_imports.py), the shell scripts of tests/cli/test_mac_scripts.py and the
binary output of `export` (test_certificate_formats.run_binary).
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import pytest
from daemons import Daemon

from trustctl.main import main


@dataclass
class Run:
    code: int
    out: str
    err: str


def trustctl(
    socket: Path | None,
    *args: str,
    env: dict[str, str] | None = None,
    via: Sequence[str] | None = None,
    stdin: str = "",
    cwd: Path | None = None,
) -> Run:
    """The real CLI against `socket`, given `stdin` and run in `cwd`: here, or in a subprocess
    when `via` is the command that runs it (`(sys.executable, "-m", "trustctl")`, a wrapper
    that changes uid first, ...)."""
    environment = {k: v for k, v in os.environ.items() if k != "TRUSTD_SOCKET"}
    if socket is not None:
        environment["TRUSTD_SOCKET"] = str(socket)
    environment.update(env or {})
    if via is not None:
        done = subprocess.run(
            [*via, *args],
            capture_output=True,
            text=True,
            env=environment,
            timeout=60,
            check=False,
            input=stdin,
            cwd=cwd,
        )
        return Run(done.returncode, done.stdout, done.stderr)
    # Output goes to pipes: no terminal, so 80 columns (what click falls back to).
    environment.setdefault("COLUMNS", "80")
    with _as_a_process(environment, stdin, cwd) as (out, err):
        try:
            code = main(list(args))
        except SystemExit as leaving:
            code = leaving.code if isinstance(leaving.code, int) else 1
        return Run(code, out.getvalue().decode(), err.getvalue().decode())


@contextlib.contextmanager
def _as_a_process(
    environment: dict[str, str], stdin: str, cwd: Path | None
) -> Iterator[tuple[io.BytesIO, io.BytesIO]]:
    """os.environ, the directory, standard input and output as a subprocess of the tests would
    have them: this environment, `stdin` to read, output to pipes (bytes, read back as UTF-8)."""
    out, err = io.BytesIO(), io.BytesIO()
    given = io.TextIOWrapper(io.BytesIO(stdin.encode()), encoding="utf-8")
    with (
        mock.patch.dict(os.environ, environment, clear=True),
        contextlib.chdir(cwd or os.getcwd()),
        mock.patch.object(sys, "stdin", given),
        contextlib.redirect_stdout(io.TextIOWrapper(out, encoding="utf-8", write_through=True)),
        contextlib.redirect_stderr(io.TextIOWrapper(err, encoding="utf-8", write_through=True)),
    ):
        yield out, err


@pytest.fixture
def cli(daemon: Daemon) -> Iterator[object]:
    def run(*args: str) -> Run:
        return trustctl(daemon.socket, *args)

    yield run
