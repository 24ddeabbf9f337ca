"""What each trustctl command imports: none loads SQLAlchemy or pydantic, and the commands that
read no certificate load no cryptography, so that they start fast."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from daemons import Daemon
from pki import PKI

import trustctl.app

HEAVY = ("sqlalchemy", "pydantic", "cryptography")
PROBE = (
    "import sys, trustctl.app\n"
    "try:\n"
    "    code = trustctl.app.main(sys.argv[1:])\n"
    "except SystemExit as done:\n"
    "    code = done.code\n"
    f"print('loaded:', ','.join(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def loaded(socket: Path, *args: str) -> tuple[int, set[str], str]:
    """Run trustctl in a fresh process: (exit code, the heavy modules it loaded, stderr)."""
    env = {**os.environ, "TRUSTD_SOCKET": str(socket)}
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
    without_cryptography = [
        ["--help"],
        ["stat"],  # status, abbreviated
        ["dump-trust-settings", "--help"],
        ["trust-settings-export", "-d", str(tmp_path / "out.plist")],
        ["audit", "--limit", "5"],
        ["exceptions", "list"],
        ["export-bundle", str(tmp_path / "bundle.pem")],
    ]
    setup = [["add-certificates", ica_pem], ["add-trusted-cert", "-d", root_pem]]
    reading_certificates = [
        ["verify-cert", "-c", leaf_pem, "-c", ica_pem, "-p", "ssl", "-n", "www.example"],
        ["find-certificate", "-a"],
        ["show-cert", leaf_pem],
        ["dump-trust-settings", "-d"],
        ["export-bundle", "--format", "openssl-directory", str(tmp_path / "dir")],  # hashes
    ]
    results = [loaded(daemon.socket, *args) for args in setup]  # in order: they change state
    with ThreadPoolExecutor(4) as pool:
        rest = without_cryptography + reading_certificates
        results += pool.map(lambda args: loaded(daemon.socket, *args), rest)
    commands = setup + rest
    for args, (code, heavy, err) in zip(commands, results, strict=True):
        assert "Traceback" not in err and code == 0, (args, err)
        assert not heavy & {"sqlalchemy", "pydantic"}, (args, heavy)
        if args in without_cryptography:  # the others read certificates
            assert "cryptography" not in heavy, args


def test_the_command_table_is_the_registration_order() -> None:
    trustctl.app._register()
    assert trustctl.app.command_names() == [
        name for _, names in trustctl.app.FAMILIES for name in names
    ]
