"""trustctl's trust-settings commands against a real daemon: `security`'s flags, texts, codes.

Every command runs the real CLI in a subprocess (tests/cli/conftest.py).
"""

from __future__ import annotations

import plistlib
from collections.abc import Callable
from pathlib import Path

import pytest
from cli.conftest import Run, trustctl
from daemons import Daemon
from pki import PKI, Issued

from trustctl.commands.trust_settings import (
    allowed_error_text,
    build_constraints,
    key_usage_text,
    policy_display,
)

pytestmark = pytest.mark.long(seconds=25)

SSL = b"\x2a\x86\x48\x86\xf7\x63\x64\x01\x03"
BASIC = b"\x2a\x86\x48\x86\xf7\x63\x64\x01\x02"
NO_SETTINGS = "SecTrustSettingsCopyCertificates: No Trust Settings were found.\n"
PARAM = (
    "SecTrustSettingsSetTrustSettings: "
    "One or more parameters passed to a function were not valid.\n"
)


Cli = Callable[..., Run]


def run_trustctl(socket: Path | None, *args: str) -> Run:
    return trustctl(socket, *args)


@pytest.fixture
def ts(daemon: Daemon) -> Cli:
    def run(*args: str) -> Run:
        return run_trustctl(daemon.socket, *args)

    return run


def _write(tmp_path: Path, name: str, issued: Issued, pem: bool = True) -> str:
    path = tmp_path / name
    path.write_bytes(issued.pem if pem else issued.der)
    return str(path)


def _no_traceback(run: Run) -> None:
    assert "Traceback" not in run.err


# -- pure helpers ---------------------------------------------------------------------------


def test_constraints_are_the_cartesian_product_of_policies_strings_and_errors() -> None:
    made = build_constraints(
        policies=["ssl", "smime"],
        policy_strings=["a", "b"],
        allowed_errors=[1, 2],
        result=3,
        app_path=None,
        key_usage=0,
    )
    assert len(made) == 8
    assert [(c.policy_name, c.policy_string, c.allowed_error) for c in made[:4]] == [
        ("sslServer", "a", 1),
        ("sslServer", "a", 2),
        ("sslServer", "b", 1),
        ("sslServer", "b", 2),
    ]
    assert {c.result for c in made} == {3}


def test_without_a_policy_strings_are_ignored_and_only_the_last_error_counts() -> None:
    (only,) = build_constraints(
        policies=[],
        policy_strings=["host"],
        allowed_errors=[5, 7],
        result=2,
        app_path="/bin/x",
        key_usage=8,
    )
    assert only.policy_oid is None and only.policy_string is None
    assert (only.allowed_error, only.result, only.key_usage) == (7, 2, 8)
    assert only.application == b"/bin/x"


def test_trust_root_alone_is_an_empty_dictionary_which_is_dropped() -> None:
    made = build_constraints(
        policies=[], policy_strings=[], allowed_errors=[], result=1, app_path=None, key_usage=0
    )
    assert made == []


def test_renderings() -> None:
    assert policy_display("1.2.840.113635.100.1.3") == "SSL"
    assert policy_display("1.2.840.113635.100.1.19") == "AppleID Sharing"
    assert (
        policy_display("1.2.840.113635.100.1.20")
        == "Unknown OID length 9, value { 2A 86 48 86 F7 63 64 01 14  }"
    )
    assert allowed_error_text(-2147409654) == "CSSMERR_TP_CERT_EXPIRED"
    assert allowed_error_text(0x80012400) == "Host name mismatch"
    assert allowed_error_text(-2147408872) == "S/MIME Email address mismatch"
    assert allowed_error_text(12) == "12"
    assert key_usage_text(-1) == "<any>"
    assert key_usage_text(0) == "<none>"
    assert key_usage_text(8) == "< SignCert  >"
    assert key_usage_text(0x09) == "< Signature SignCert  >"


# -- add-trusted-cert / dump-trust-settings -------------------------------------------------


def test_dump_of_an_empty_domain_fails_like_security(ts: Cli) -> None:
    for args in (("dump-trust-settings",), ("dump-trust-settings", "-d")):
        run = ts(*args)
        assert (run.code, run.out, run.err) == (1, "", NO_SETTINGS)


def test_dump_system_domain_lists_each_anchor_unrestricted(ts: Cli, daemon: Daemon) -> None:
    """As on a Mac (kolide's system_certs.txt): every system root, with no settings."""
    run = ts("dump-trust-settings", "-s")
    expected = "Number of trusted certs = 1\nCert 0: System Root\n   Number of trust settings : 0\n"
    assert (run.code, run.out, run.err) == (0, expected, "")


def test_dump_positional_is_a_usage_error(ts: Cli) -> None:
    run = ts("dump-trust-settings", "extra")
    assert run.code == 2
    _no_traceback(run)


def test_exact_dump_of_two_policies_with_allowed_errors(ts: Cli, pki: PKI, tmp_path: Path) -> None:
    root = pki.root("Dump Root")
    cert = _write(tmp_path, "root.pem", root)
    args = ("-d", "-p", "ssl", "-p", "smime", "-e", "certExpired", "-e", "hostnameMismatch")
    run = ts("add-trusted-cert", *args, "-u", "8", cert)
    assert (run.code, run.out, run.err) == (0, "", "")
    run = ts("dump-trust-settings", "-d")
    expected = (
        "Number of trusted certs = 1\n"
        "Cert 0: Dump Root\n"
        "   Number of trust settings : 4\n"
        "   Trust Setting 0:\n"
        "      Policy OID            : SSL\n"
        "      Allowed Error         : CSSMERR_TP_CERT_EXPIRED\n"
        "      Key Usage             : < SignCert  >\n"
        "   Trust Setting 1:\n"
        "      Policy OID            : SSL\n"
        "      Allowed Error         : Host name mismatch\n"
        "      Key Usage             : < SignCert  >\n"
        "   Trust Setting 2:\n"
        "      Policy OID            : SMIME\n"
        "      Allowed Error         : CSSMERR_TP_CERT_EXPIRED\n"
        "      Key Usage             : < SignCert  >\n"
        "   Trust Setting 3:\n"
        "      Policy OID            : SMIME\n"
        "      Allowed Error         : Host name mismatch\n"
        "      Key Usage             : < SignCert  >\n"
    )
    assert (run.code, run.out, run.err) == (0, expected, "")
    # -s then -d: the last flag wins
    assert ts("dump-trust-settings", "-s", "-d").out == expected
    assert ts("dump-trust-settings", "-d", "-s").out.startswith("Number of trusted certs = 1\n")


def test_exact_dump_of_every_field(ts: Cli, pki: PKI, tmp_path: Path) -> None:
    root = pki.root("Fields Root")
    inter = pki.intermediate(root, "Fields CA")
    cert = _write(tmp_path, "inter.der", inter, pem=False)
    run = ts(
        "add-trusted-cert",
        "-d",
        *("-r", "trustAsRoot", "-p", "timestamping", "-s", "mail@example.com"),
        *("-e", "-2147408872", "-a", "/usr/bin/tool", "-u", "-1"),
        cert,
    )
    assert (run.code, run.err) == (0, "")
    run = ts("dump-trust-settings", "-d")
    expected = (
        "Number of trusted certs = 1\n"
        "Cert 0: Fields CA\n"
        "   Number of trust settings : 1\n"
        "   Trust Setting 0:\n"
        "      Policy OID            : Unknown OID length 9, value "
        "{ 2A 86 48 86 F7 63 64 01 14  }\n"
        "      Application           : /usr/bin/tool\n"
        "      Policy String         : mail@example.com\n"
        "      Allowed Error         : S/MIME Email address mismatch\n"
        "      Result Type           : kSecTrustSettingsResultTrustAsRoot\n"
        "      Key Usage             : <any>\n"
    )
    assert (run.code, run.out) == (0, expected)
    run = ts("dump-trust-settings", "-d", "--json")
    assert run.code == 0 and '"policy": "Unknown OID length 9' in run.out


def test_unconditional_root_and_user_domain_needs_the_store(
    ts: Cli, pki: PKI, tmp_path: Path
) -> None:
    root = pki.root("Plain Root")
    cert = _write(tmp_path, "root.pem", root)
    assert ts("add-trusted-cert", cert).code == 0
    # the certificate is in no "keychain" (trustd's store): dump cannot list it, as on a Mac
    assert ts("dump-trust-settings").err == NO_SETTINGS
    run = ts("add-trusted-cert", "-k", "login.keychain", "-r", "trustRoot", cert)
    assert (run.code, run.err) == (0, "")
    run = ts("dump-trust-settings")
    assert run.out == (
        "Number of trusted certs = 1\nCert 0: Plain Root\n   Number of trust settings : 0\n"
    )


def test_trust_root_needs_self_signed_and_trust_as_root_the_opposite(
    ts: Cli, pki: PKI, tmp_path: Path
) -> None:
    root = pki.root("Check Root")
    inter = _write(tmp_path, "inter.pem", pki.intermediate(root, "Check CA"))
    root_file = _write(tmp_path, "root.pem", root)
    for args in ((inter,), ("-r", "trustRoot", inter), ("-r", "trustAsRoot", root_file)):
        run = ts("add-trusted-cert", "-d", *args)
        assert (run.code, run.out) == (1, ""), args
        assert run.err.startswith(PARAM), args  # Apple's line, then the reason (and a hint)
        hinted = "use -r trustAsRoot" in run.err
        assert hinted == (args[-1] == inter), args
    assert ts("add-trusted-cert", "-d", "-r", "deny", inter).code == 0
    assert ts("add-trusted-cert", "-d", "-r", "unspecified", root_file).code == 0


def test_add_usage_errors(ts: Cli, pki: PKI, tmp_path: Path) -> None:
    cert = _write(tmp_path, "root.pem", pki.root("Usage Root"))
    run = ts("add-trusted-cert")
    assert run.code == 2 and run.err.startswith("Usage: trustctl add-trusted-cert")
    run = ts("add-trusted-cert", "-d")
    assert run.code == 2 and run.err.startswith("No cert file specified.\nUsage: ")
    for bad in (("-r", "always"), ("-p", "iChat"), ("-p", "pkinitClient"), ("-p", "SSL")):
        run = ts("add-trusted-cert", *bad, cert)
        assert run.code == 2, bad
        _no_traceback(run)
    run = ts("add-trusted-cert", "-e", "nonsense", cert)
    assert run.code == 2 and run.err.startswith("Invalid value for allowed error.\n")
    run = ts("add-trusted-cert", cert, cert)
    assert run.code == 2
    run = ts("add-trusted-cert", "-d", "-o", str(tmp_path / "x.plist"), cert)
    assert run.code == 2 and run.err.startswith("Can't specify both domain and a settingsFile\n")
    run = ts("add-trusted-cert", "-i", str(tmp_path / "x.plist"), cert)
    assert run.code == 2
    assert run.err.startswith("Can't specify settingsFileIn and no settingsFileOut\n")


def test_unreadable_cert(ts: Cli, tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.pem")
    run = ts("add-trusted-cert", missing)
    assert (run.code, run.err) == (
        1,
        f"Error reading file {missing}\ntrustctl: {missing}: No such file or directory\n",
    )
    junk = tmp_path / "junk.pem"
    junk.write_bytes(b"not a certificate")
    run = ts("remove-trusted-cert", str(junk))
    assert run.code == 1
    assert run.err.startswith(f"Error reading file {junk}\ntrustctl: {junk}: not certificate data")


def test_a_new_array_replaces_the_old(ts: Cli, pki: PKI, tmp_path: Path) -> None:
    cert = _write(tmp_path, "root.pem", pki.root("Replace Root"))
    assert ts("add-trusted-cert", "-d", "-p", "ssl", "-p", "basic", cert).code == 0
    assert ts("add-trusted-cert", "-d", "-r", "deny", cert).code == 0
    run = ts("dump-trust-settings", "-d")
    assert run.out.endswith(
        "   Number of trust settings : 1\n"
        "   Trust Setting 0:\n"
        "      Result Type           : kSecTrustSettingsResultDeny\n"
    )


# -- remove-trusted-cert --------------------------------------------------------------------


def test_remove(ts: Cli, pki: PKI, tmp_path: Path) -> None:
    one = _write(tmp_path, "one.pem", pki.root("One Root"))
    two = _write(tmp_path, "two.pem", pki.root("Two Root"))
    run = ts("remove-trusted-cert", "-d", one)
    assert (run.code, run.err) == (
        1,
        "SecTrustSettingsRemoveTrustSettings: No Trust Settings were found.\n",
    )
    assert ts("add-trusted-cert", "-d", one).code == 0
    run = ts("remove-trusted-cert", "-d", two)
    assert (run.code, run.err) == (
        1,
        "SecTrustSettingsRemoveTrustSettings: "
        "The specified item could not be found in the keychain.\n",
    )
    run = ts("remove-trusted-cert", "-d", one)
    assert (run.code, run.out, run.err) == (0, "", "")
    assert ts("dump-trust-settings", "-d").err == NO_SETTINGS
    run = ts("remove-trusted-cert")
    assert run.code == 2 and run.err.startswith("No cert file specified.\n")


# -- file mode ------------------------------------------------------------------------------


def test_file_mode_builds_mkcerts_two_policy_record(ts: Cli, pki: PKI, tmp_path: Path) -> None:
    root = pki.root("File Root")
    cert = _write(tmp_path, "root.pem", root)
    out = tmp_path / "settings.plist"
    run = run_trustctl(None, "add-trusted-cert", "-r", "trustRoot", "-p", "ssl", "-p", "basic",
                       "-o", str(out), cert)  # fmt: skip
    assert run.code == 0, run.err
    data = out.read_bytes()
    assert run.out == f"...wrote {len(data)} bytes to {out}\n"
    record = plistlib.loads(data)
    assert record["trustVersion"] == 1
    entry = record["trustList"][root.sha1.upper()]
    assert entry["trustSettings"] == [
        {"kSecTrustSettingsPolicy": SSL, "kSecTrustSettingsPolicyName": "sslServer"},
        {"kSecTrustSettingsPolicy": BASIC, "kSecTrustSettingsPolicyName": "basicX509"},
    ]
    assert set(entry) == {"issuerName", "serialNumber", "modDate", "trustSettings"}
    # -i/-o adds a second certificate, keeps the first; -q silences the line
    other = pki.root("Other Root")
    again = tmp_path / "again.plist"
    run = run_trustctl(None, "-q", "add-trusted-cert", "-i", str(out), "-o", str(again),
                       _write(tmp_path, "other.pem", other))  # fmt: skip
    assert (run.code, run.out) == (0, "")
    record = plistlib.loads(again.read_bytes())
    assert set(record["trustList"]) == {root.sha1.upper(), other.sha1.upper()}
    assert "trustSettings" not in record["trustList"][other.sha1.upper()]
    # the daemon imports it (round trip through the domain)
    run = ts("trust-settings-import", "-d", str(again))
    assert (run.code, run.out) == (0, "...Trust Settings imported successfully.\n")


def test_file_mode_without_a_cert_writes_an_empty_record(tmp_path: Path) -> None:
    out = tmp_path / "empty.plist"
    run = run_trustctl(None, "add-trusted-cert", "-o", str(out))
    assert run.code == 0, run.err
    assert plistlib.loads(out.read_bytes()) == {"trustList": {}, "trustVersion": 1}
    copy = tmp_path / "copy.plist"
    assert run_trustctl(None, "add-trusted-cert", "-i", str(out), "-o", str(copy)).code == 0
    assert copy.read_bytes() == out.read_bytes()


def test_file_mode_errors(pki: PKI, tmp_path: Path) -> None:
    inter = pki.intermediate(pki.root("R"), "Not Self Signed")
    cert = _write(tmp_path, "inter.pem", inter)
    out = str(tmp_path / "out.plist")
    run = run_trustctl(None, "add-trusted-cert", "-o", out, cert)
    assert (run.code, run.err) == (1, PARAM)
    missing = str(tmp_path / "missing.plist")
    run = run_trustctl(None, "add-trusted-cert", "-i", missing, "-o", out, cert)
    assert (run.code, run.err) == (1, f"Error reading file {missing}\n")
    bad = tmp_path / "bad.plist"
    bad.write_bytes(b"<plist>nonsense")
    run = run_trustctl(None, "add-trusted-cert", "-r", "deny", "-i", str(bad), "-o", out, cert)
    assert (run.code, run.err) == (
        1,
        "SecTrustSettingsSetTrustSettings: The Trust Settings Record was corrupted.\n",
    )


# -- export / import ------------------------------------------------------------------------


def test_export_import_round_trip(ts: Cli, pki: PKI, tmp_path: Path) -> None:
    export = tmp_path / "export.plist"
    run = ts("trust-settings-export", "-d", str(export))
    assert (run.code, run.out, run.err) == (
        1,
        "",
        "SecTrustSettingsCreateExternalRepresentation: No Trust Settings were found.\n",
    )
    root = pki.root("Export Root")
    cert = _write(tmp_path, "root.pem", root)
    assert ts("add-trusted-cert", "-d", "-p", "ssl", "-e", "certExpired", cert).code == 0
    before = ts("dump-trust-settings", "-d").out
    run = ts("trust-settings-export", "-d", str(export))
    assert (run.code, run.out) == (0, "...Trust Settings exported successfully.\n")
    record = plistlib.loads(export.read_bytes())
    assert export.read_bytes().startswith(b"<?xml")
    assert record["trustList"][root.sha1.upper()]["trustSettings"] == [
        {
            "kSecTrustSettingsPolicy": SSL,
            "kSecTrustSettingsPolicyName": "sslServer",
            "kSecTrustSettingsAllowedError": -2147409654,
        }
    ]
    assert ts("remove-trusted-cert", "-d", cert).code == 0
    assert ts("dump-trust-settings", "-d").code == 1
    run = ts("trust-settings-import", "-d", str(export))
    assert (run.code, run.out, run.err) == (0, "...Trust Settings imported successfully.\n", "")
    assert ts("dump-trust-settings", "-d").out == before
    # importing an empty record empties the domain (the -o reset recipe)
    empty = tmp_path / "empty.plist"
    assert run_trustctl(None, "add-trusted-cert", "-o", str(empty)).code == 0
    assert ts("-q", "trust-settings-import", "-d", str(empty)).out == ""
    assert ts("dump-trust-settings", "-d").err == NO_SETTINGS
    assert ts("trust-settings-export", "-d", str(export)).code == 0
    assert plistlib.loads(export.read_bytes())["trustList"] == {}


def test_export_and_import_errors(ts: Cli, daemon: Daemon, pki: PKI, tmp_path: Path) -> None:
    bad = tmp_path / "bad.plist"
    bad.write_bytes(plistlib.dumps({"trustVersion": 2, "trustList": {}}))
    run = ts("trust-settings-import", "-d", str(bad))
    assert (run.code, run.err) == (
        1,
        "SecTrustSettingsImportExternalRepresentation: The Trust Settings Record was corrupted.\n",
    )
    missing = tmp_path / "missing.plist"
    run = ts("trust-settings-import", str(missing))
    assert (run.code, run.err) == (1, f"Error (2) reading {missing}.\n")
    assert ts("trust-settings-import").code == 2
    assert ts("trust-settings-export").code == 2
    assert ts("add-trusted-cert", "-d", _write(tmp_path, "r.pem", pki.root("W Root"))).code == 0
    target = tmp_path / "no" / "such" / "dir.plist"
    run = ts("trust-settings-export", "-d", str(target))
    assert (run.code, run.err) == (1, f"Error (2) writing {target}.\n")
    system = tmp_path / "system.plist"
    run = ts("trust-settings-export", "-s", str(system))
    assert (run.code, run.out) == (0, "...Trust Settings exported successfully.\n")
    assert list(plistlib.loads(system.read_bytes())["trustList"]) == [daemon.root.sha1.upper()]
