"""What each trustctl command imports: a table of commands and the modules each must not load,
so that every command starts fast.  None loads SQLAlchemy, pydantic, asyncio or rich; `--help`
and `--version` load not even Typer; the commands that read no certificate load no
cryptography (nor hashlib, which loads OpenSSL, where they hash nothing)."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from daemons import Daemon
from pki import PKI

import trustctl.app

WATCHED = (
    "sqlalchemy",
    "pydantic",
    "asyncio",
    "rich",
    "typer",
    "cryptography",
    "hashlib",
    "trustd.client",
    "trustd.client.aio",
    "trustd.core.certificates",
)
NEVER = frozenset({"sqlalchemy", "pydantic", "asyncio", "rich", "trustd.client.aio"})
NO_CERTIFICATES = NEVER | {"cryptography", "trustd.core.certificates"}
NO_HASHES = NO_CERTIFICATES | {"hashlib"}
NO_DAEMON = NO_HASHES | {"trustd.client"}
NO_TYPER = NO_HASHES | {"typer", "trustd.client"}
PROBE = (
    "import sys, trustctl.main\n"
    "try:\n"
    "    code = trustctl.main.main(sys.argv[1:])\n"
    "except SystemExit as done:\n"
    "    code = done.code\n"
    f"print('loaded:', ','.join(m for m in {WATCHED!r} if m in sys.modules), file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def loaded(socket: Path, *args: str) -> tuple[int, set[str], str]:
    """Run trustctl in a fresh process: (exit code, the watched modules it loaded, stderr)."""
    env = {**os.environ, "TRUSTD_SOCKET": str(socket), "COLUMNS": "80"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("loaded:"), done.stderr
    return (
        done.returncode,
        {m for m in last.removeprefix("loaded:").strip().split(",") if m},
        (done.stderr),
    )


def test_every_command_imports_only_what_it_needs(daemon: Daemon, pki: PKI, tmp_path: Path) -> None:
    ica = pki.intermediate(daemon.root, "Imports CA")
    leaf = pki.leaf(ica, dns=["www.example"])
    for name, issued in (("ica", ica), ("leaf", leaf), ("root", daemon.root)):
        (tmp_path / f"{name}.pem").write_bytes(issued.pem)
    leaf_pem, ica_pem, root_pem = (str(tmp_path / f"{n}.pem") for n in ("leaf", "ica", "root"))
    setup = [["add-certificates", ica_pem], ["add-trusted-cert", "-d", root_pem]]
    # the command, and what it must not import
    table: list[tuple[list[str], frozenset[str]]] = [
        (["--help"], NO_TYPER),
        (["-h"], NO_TYPER),
        (["--version"], NO_TYPER),
        (["stat"], NO_HASHES),  # status, abbreviated
        (["status", "--json"], NO_HASHES),
        (
            ["verify-cert", "-c", leaf_pem, "-c", ica_pem, "-p", "ssl", "-n", "www.example"],
            NO_HASHES,
        ),
        (["verify-cert", "-c", leaf_pem, "-c", ica_pem, "-r", root_pem], NO_HASHES),
        (["dump-trust-settings", "--help"], NO_DAEMON),
        (["dump-trust-settings", "-d"], NO_HASHES),  # the subjects are the daemon's
        (["trust-settings-export", "-d", str(tmp_path / "out.plist")], NO_CERTIFICATES),
        (["audit", "--limit", "5"], NO_HASHES),
        (["exceptions", "list"], NO_CERTIFICATES),
        (["export-bundle", str(tmp_path / "bundle.pem")], NO_CERTIFICATES),
        (["list-keychains"], NO_DAEMON),
        (["default-keychain"], NO_DAEMON),
        # these read certificates
        (["find-certificate", "-a"], NEVER),
        (["show-cert", leaf_pem], NEVER),
        (["export-bundle", "--format", "openssl-directory", str(tmp_path / "dir")], NEVER),
    ]
    results = [loaded(daemon.socket, *args) for args in setup]  # in order: they change state
    with ThreadPoolExecutor(4) as pool:
        results += pool.map(lambda row: loaded(daemon.socket, *row[0]), table)
    rows = [(args, NEVER) for args in setup] + table
    for (args, forbidden), (code, modules, err) in zip(rows, results, strict=True):
        assert "Traceback" not in err and code == 0, (args, err)
        assert not modules & forbidden, (args, modules & forbidden)


def test_the_command_table_is_the_registration_order() -> None:
    trustctl.app._register()
    assert trustctl.app.command_names() == [
        name for _, names in trustctl.app.FAMILIES for name in names
    ]
