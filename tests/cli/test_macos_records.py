"""The macOS interop fixtures through the real daemon and CLI: each record imports into a
domain and exports byte-exact, and each means on trustd what it meant on the Mac.

tests/plist/fixtures holds the records (reference sections 2.7 and 9) and their certificates;
tests/plist/test_interop_fixtures.py checks the codec alone.
"""

from __future__ import annotations

import plistlib
from collections.abc import Callable
from pathlib import Path

import pytest
from cli.conftest import Run, trustctl
from daemons import Daemon

Cli = Callable[..., Run]
FIXTURES = Path(__file__).parent.parent / "plist" / "fixtures"
RECORDS = sorted(p.name for p in FIXTURES.glob("*.plist"))
EXPORTED = "...Trust Settings exported successfully.\n"
IMPORTED = "...Trust Settings imported successfully.\n"


def _round_trip(cli: Cli, source: Path, target: Path, *domain: str) -> None:
    done = cli("trust-settings-import", *domain, str(source))
    assert (done.code, done.out, done.err) == (0, IMPORTED, "")
    done = cli("trust-settings-export", *domain, str(target))
    assert (done.code, done.out, done.err) == (0, EXPORTED, "")


@pytest.fixture(scope="module")
def importer(module_daemon: Daemon) -> Cli:
    """trustctl on one daemon for all the round trips: an import replaces the whole domain."""
    return lambda *args: trustctl(module_daemon.socket, *args)


@pytest.mark.parametrize("name", RECORDS)
@pytest.mark.parametrize("domain", [("-d",), ()], ids=["admin", "user"])
def test_import_then_export_is_byte_exact(
    importer: Cli, tmp_path: Path, name: str, domain: tuple[str, ...]
) -> None:
    exported = tmp_path / name
    _round_trip(importer, FIXTURES / name, exported, *domain)
    assert exported.read_bytes() == (FIXTURES / name).read_bytes()

    # A binary plist of the same record imports and exports as the same XML.
    binary = tmp_path / "binary.plist"
    binary.write_bytes(
        plistlib.dumps(plistlib.loads((FIXTURES / name).read_bytes()), fmt=plistlib.FMT_BINARY)
    )
    again = tmp_path / "again.plist"
    _round_trip(importer, binary, again, *domain)
    assert again.read_bytes() == (FIXTURES / name).read_bytes()


def test_always_trust_dumps_as_on_a_mac(cli: Cli) -> None:
    """kolide/launcher's admin_certs.txt, printed by `security dump-trust-settings -d`."""
    assert cli("add-certificates", str(FIXTURES / "example-root-ca.pem")).code == 0
    assert cli("trust-settings-import", "-d", str(FIXTURES / "always-trust.plist")).code == 0
    done = cli("dump-trust-settings", "-d")
    expected = (FIXTURES / "always-trust.dump.txt").read_text()
    assert (done.code, done.out, done.err) == (0, expected, "")


def test_blocklist_denies_its_certificates(cli: Cli) -> None:
    blocked = str(FIXTURES / "blocked-ca-1.pem")
    before = cli("verify-cert", "-c", blocked)
    assert before.err == "Cert Verify Result: CSSMERR_TP_NOT_TRUSTED\n"
    assert cli("trust-settings-import", "-d", str(FIXTURES / "blocklist.plist")).code == 0
    after = cli("verify-cert", "-c", blocked)
    assert (after.code, after.err) == (1, "SecTrustEvaluate result: kSecTrustResultDeny\n")


def test_mkcert_root_is_trusted_for_ssl_and_basic_only(cli: Cli) -> None:
    root = str(FIXTURES / "mkcert-root.pem")
    assert cli("add-certificates", root).code == 0
    assert cli("trust-settings-import", "-d", str(FIXTURES / "mkcert.plist")).code == 0
    assert cli("verify-cert", "-c", root, "-p", "basic").code == 0
    refused = cli("verify-cert", "-c", root, "-p", "smime")
    assert refused.code == 1


def test_allowed_error_on_a_leaf_excuses_only_its_error(cli: Cli) -> None:
    leaf, root = str(FIXTURES / "leaf.pem"), str(FIXTURES / "example-root-ca.pem")
    when = ("-d", "2025-06-01-12:00:00")  # the leaf lives in 2024 and 2025 (825 days at most)
    wrong_host = ("verify-cert", "-c", leaf, "-r", root, *when, "-p", "ssl", "-n", "other.example")
    assert cli(*wrong_host).err == "Cert Verify Result: Host name mismatch\n"
    assert cli("trust-settings-import", str(FIXTURES / "allowed-error-leaf.plist")).code == 0
    excused = cli(*wrong_host)
    assert (excused.code, excused.err) == (0, "")
    # The same leaf for S/MIME is not excused: the setting names no policy, but the
    # allowed error is a host name mismatch, which S/MIME does not produce.
    assert cli("verify-cert", "-c", leaf, "-r", root, *when, "-p", "smime").code == 1
