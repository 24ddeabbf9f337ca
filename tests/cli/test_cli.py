"""The trustctl framework: dispatch like `security`, errors, exit codes, start-up cost."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from cli.conftest import Run, trustctl
from daemons import Daemon
from pki import PKI

import trustd
from trustctl.app import VERSION


def test_version_matches_trustd() -> None:
    assert trustd.__version__ == VERSION
    assert trustctl(None, "--version").out.strip() == f"trustctl {VERSION}"


def test_help_imports_neither_sqlalchemy_nor_cryptography() -> None:
    script = (
        "import sys, trustctl.app as a\n"
        "try:\n    a.main(['--help'])\nexcept SystemExit:\n    pass\n"
        "bad = [m for m in ('sqlalchemy', 'cryptography', 'trustd.core') if m in sys.modules]\n"
        "print(bad)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_unknown_command_and_usage_errors() -> None:
    unknown = trustctl(None, "frobnicate")
    assert unknown.code == 1
    assert unknown.err.strip() == 'trustctl: unknown command "frobnicate"'
    usage = trustctl(None, "exceptions", "add")
    assert usage.code == 2
    assert "Usage:" in usage.err


def test_daemon_not_running_is_one_line(tmp_path: Path) -> None:
    result = trustctl(tmp_path / "nothing.sock", "status")
    assert result.code == 1
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and "trustd" in lines[0] and "start" in lines[0]
    assert "Traceback" not in result.err


def test_status_and_abbreviation(cli: Callable[..., Run]) -> None:
    full = cli("status", "--json")
    assert full.code == 0, full.err
    assert '"system_anchors": 1' in full.out
    short = cli("stat")
    assert short.code == 0 and "1 system anchors" in short.out


def test_exceptions_add_list_remove_reset(
    cli: Callable[..., Run], daemon: Daemon, pki: PKI, tmp_path: Path
) -> None:
    expired = pki.leaf(
        daemon.root,
        dns=["old.example"],
        not_before=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
        not_after=dt.datetime(2021, 1, 1, tzinfo=dt.UTC),
    )
    leaf = tmp_path / "leaf.pem"
    leaf.write_bytes(expired.pem)
    added = cli("exceptions", "add", "old.example:443", "-c", str(leaf))
    assert added.code == 0, added.err
    assert "TemporalValidity" in added.out
    listed = cli("exceptions", "list")
    assert listed.out.strip().startswith("old.example:443")
    again = cli("exceptions", "add", "old.example:443", "-c", str(leaf))
    assert again.code == 0  # stored exceptions are not applied to an explicit evaluation
    assert cli("exceptions", "reset").out.strip() == "...exceptions reset (epoch 1)"
    assert cli("exceptions", "remove", "old.example:443").code == 0
    missing = cli("exceptions", "remove", "old.example:443")
    assert missing.code == 1 and "Traceback" not in missing.err
    assert cli("exceptions", "list").out == ""


def test_shell_completion_completes_commands_and_options() -> None:
    """Typer's completion protocol, as bash's completion function calls it."""
    words = {"_TRUSTCTL_COMPLETE": "complete_bash", "COMP_CWORD": "1"}
    commands = trustctl(None, env={**words, "COMP_WORDS": "trustctl dump"})
    assert (commands.code, commands.out.split()) == (0, ["dump-trust-settings"])
    exported = trustctl(None, env={**words, "COMP_WORDS": "trustctl export"})
    assert exported.out.split() == ["export", "export-bundle"]
    options = trustctl(
        None, env={**words, "COMP_WORDS": "trustctl verify-cert -", "COMP_CWORD": "2"}
    )
    assert {"-c", "-r", "-p", "-R", "-n"} <= set(options.out.split())
