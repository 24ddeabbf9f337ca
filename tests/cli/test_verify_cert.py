"""trustctl verify-cert: `security verify-cert`'s options, outputs and exit codes, end to end.

Every test runs the real CLI in a subprocess against a real daemon whose CA bundle holds
`daemon.root` ("System Root"); URL mode talks to a real `openssl s_server`.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cli.conftest import Run, trustctl
from cryptography.hazmat.primitives import serialization
from daemons import Daemon, daemon_per_module
from pki import PKI, Issued

from trustd.client import Client, UsageConstraint

RED = "\x1b[31m"
HOST_TEXT = "Host name not found in Subject Alternative Name extension"
RESET = "\x1b[0m"
NOW = dt.datetime.now(dt.UTC)
START, END = NOW - dt.timedelta(days=10), NOW + dt.timedelta(days=300)  # short: Apple TLS rules
EXTENDED_LINES = (
    "---\nNo extended validation result found\n"
    f"Certificate Transparency (CT) status: {RED}not verified{RESET}\n"
    "Unable to find at least 2 signed certificate timestamps (SCTs) from approved logs\n"
)

Verify = Callable[..., Run]


# One daemon for the module: the tests only evaluate (the one that sets a trust setting
# removes it).
daemon = daemon_per_module


@pytest.fixture
def verify(daemon: Daemon) -> Verify:
    """Run `trustctl verify-cert ARGS...` against the test daemon."""

    def run(*args: str) -> Run:
        return trustctl(daemon.socket, "verify-cert", *args)

    return run


def write(directory: Path, name: str, issued: Issued) -> str:
    path = directory / f"{name}.pem"
    path.write_bytes(issued.pem)
    return str(path)


@pytest.fixture
def chain(daemon: Daemon, pki: PKI, tmp_path: Path) -> tuple[str, str]:
    """A leaf for www.example.com and its intermediate under the system root, as PEM files."""
    inter = pki.intermediate(daemon.root, "Example CA")
    leaf = pki.leaf(inter, dns=["www.example.com"], not_before=START, not_after=END)
    return write(tmp_path, "leaf", leaf), write(tmp_path, "inter", inter)


# -- results ------------------------------------------------------------------------------------


def test_success_under_the_system_root(verify: Verify, chain: tuple[str, str]) -> None:
    leaf, inter = chain
    result = verify("-c", leaf, "-c", inter)
    assert (result.code, result.out, result.err) == (
        0,
        "...certificate verification successful.\n",
        "",
    )
    quiet = verify("-q", "-c", leaf, "-c", inter)
    assert (quiet.code, quiet.out, quiet.err) == (0, "", "")


def test_anchors_are_the_only_ones_with_r(
    verify: Verify, chain: tuple[str, str], daemon: Daemon, pki: PKI, tmp_path: Path
) -> None:
    leaf, inter = chain
    other = write(tmp_path, "other", pki.root("Other Root"))
    refused = verify("-c", leaf, "-c", inter, "-r", other)
    assert refused.code == 1
    assert refused.err == "Cert Verify Result: CSSMERR_TP_NOT_TRUSTED\n"
    assert refused.out == ""
    system = write(tmp_path, "system", daemon.root)
    assert verify("-c", leaf, "-c", inter, "-r", system).code == 0


def test_a_single_root_verifies_against_itself(verify: Verify, pki: PKI, tmp_path: Path) -> None:
    root = write(tmp_path, "root", pki.root("Private Root"))
    result = verify("-r", root)
    assert (result.code, result.out) == (0, "...certificate verification successful.\n")
    alone = verify("-c", root)  # not an anchor of the daemon
    assert (alone.code, alone.err) == (1, "Cert Verify Result: CSSMERR_TP_NOT_TRUSTED\n")


def test_expired_leaf_and_verify_date(
    verify: Verify, daemon: Daemon, pki: PKI, tmp_path: Path
) -> None:
    inter = pki.intermediate(daemon.root)
    expired = pki.leaf(
        inter,
        dns=["old.example.com"],
        not_before=NOW - dt.timedelta(days=400),
        not_after=NOW - dt.timedelta(days=10),
    )
    files = ["-c", write(tmp_path, "old", expired), "-c", write(tmp_path, "inter", inter)]
    result = verify(*files)
    assert (result.code, result.err) == (1, "Cert Verify Result: CSSMERR_TP_CERT_EXPIRED\n")
    then = (NOW - dt.timedelta(days=100)).strftime("%Y-%m-%d")
    assert verify(*files, "-d", then).code == 0
    then_exact = (NOW - dt.timedelta(days=100)).strftime("%Y-%m-%d-%H:%M:%S")
    assert verify(*files, "-d", then_exact).code == 0


def test_hostname_with_ssl_policy(verify: Verify, chain: tuple[str, str]) -> None:
    leaf, inter = chain
    good = verify("-p", "ssl", "-n", "www.example.com", "-c", leaf, "-c", inter)
    assert good.code == 0, good.err
    assert good.out == "...certificate verification successful.\n" + EXTENDED_LINES
    wrong = verify("-p", "ssl", "-n", "mail.example.com", "-c", leaf, "-c", inter)
    assert (wrong.code, wrong.err) == (1, "Cert Verify Result: Host name mismatch\n")
    assert wrong.out == EXTENDED_LINES
    # -n wins over -s, which wins over -e
    both = ("-c", leaf, "-c", inter)
    by_s = verify("-p", "ssl", "-s", "mail.example.com", "-e", "www.example.com", *both)
    assert by_s.err == "Cert Verify Result: Host name mismatch\n"
    by_n = verify("-p", "ssl", "-n", "www.example.com", "-s", "mail.example.com", *both)
    assert by_n.code == 0, by_n.err
    # the name is not applied to the basic policy
    assert verify("-n", "mail.example.com", *both).code == 0
    # a chain that cannot be completed: NOT_TRUSTED outranks the host name mismatch
    partial = verify("-p", "ssl", "-n", "mail.example.com", "-c", leaf)
    assert partial.err == "Cert Verify Result: CSSMERR_TP_NOT_TRUSTED\n"


def test_untrusted_self_signed(verify: Verify, pki: PKI, tmp_path: Path) -> None:
    alone = pki.leaf(None, dns=["self.example.com"], not_before=START, not_after=END)
    result = verify("-c", write(tmp_path, "self", alone))
    assert (result.code, result.out) == (1, "")
    assert result.err == "Cert Verify Result: CSSMERR_TP_NOT_TRUSTED\n"


def test_deny_trust_setting(verify: Verify, chain: tuple[str, str], daemon: Daemon) -> None:
    with Client(daemon.socket) as client:
        client.set_trust_settings("admin", daemon.root.der, [UsageConstraint(result=3)])
    try:
        leaf, inter = chain
        result = verify("-c", leaf, "-c", inter)
        assert (result.code, result.out) == (1, "")
        assert result.err == "SecTrustEvaluate result: kSecTrustResultDeny\n"
    finally:  # the module's other tests share the daemon
        removed = daemon.call("RemoveTrustSettings", domain="admin", sha1=daemon.root.sha1.upper())
        assert removed == {"parameters": {}}


def test_verbose_prints_chain_and_errors(verify: Verify, chain: tuple[str, str]) -> None:
    leaf, inter = chain
    result = verify("-v", "-p", "ssl", "-n", "mail.example.com", "-c", leaf, "-c", inter)
    assert result.code == 1
    assert result.err.startswith("Cert Verify Result: Host name mismatch\n")
    assert "Trust evaluation results" in result.err
    lines = result.out.splitlines()
    start = lines.index("Certificate chain")
    assert lines[start - 1] == "---"
    assert lines[start + 1] == " 0: www.example.com"
    assert lines[start + 2].startswith("    <cert(0x")
    assert lines[start + 2].endswith(" s: www.example.com i: Example CA>")
    assert lines[start + 3] == " 1: Example CA"
    assert lines[start + 4].endswith(" s: Example CA i: System Root>")
    assert lines[start + 5] == " 2: System Root"
    errors = lines.index("Certificate errors")
    assert lines[errors - 1] == "---"
    assert lines[errors + 1 : errors + 5] == [
        " 0: www.example.com",
        f"{RED}    {HOST_TEXT} [SSLHostname]{RESET}",
        " 1: Example CA",
        " 2: System Root",
    ]
    assert result.out.endswith(EXTENDED_LINES)


def test_verbose_on_success_has_no_errors_section(verify: Verify, chain: tuple[str, str]) -> None:
    leaf, inter = chain
    result = verify("-v", "-c", leaf, "-c", inter)
    assert result.code == 0
    assert "Certificate chain" in result.out
    assert "Certificate errors" not in result.out
    assert "Certificate Transparency" not in result.out  # basic policy: no TLS lines


def test_pem_and_text_output(verify: Verify, chain: tuple[str, str], pki: PKI) -> None:
    leaf, inter = chain
    pem = verify("-P", "-c", leaf, "-c", inter)
    assert pem.code == 0
    assert pem.out.count("-----BEGIN CERTIFICATE-----\n") == 3  # leaf, intermediate, root
    assert Path(leaf).read_text().strip() in pem.out
    text = verify("-t", "-c", leaf, "-c", inter)
    assert text.code == 0
    assert "    Subject Alternative Names: DNS:www.example.com" in text.out
    assert "    Issuer: CN=Example CA" in text.out
    assert "SHA-256 Fingerprint: " in text.out


def test_json_verdict(verify: Verify, chain: tuple[str, str]) -> None:
    import json

    leaf, inter = chain
    good = json.loads(verify("--json", "-c", leaf, "-c", inter).out)
    assert good["trusted"] is True and good["cssm_code"] == 0
    assert [c["subject"] for c in good["chain"]] == ["www.example.com", "Example CA", "System Root"]
    failed = verify("--json", "-p", "ssl", "-n", "x.example.com", "-c", leaf, "-c", inter)
    assert failed.code == 1
    verdict = json.loads(failed.out)
    assert verdict["trusted"] is False
    assert verdict["checks"] == ["SSLHostname"]
    assert verdict["cssm_message"] == "Host name mismatch"
    assert verdict["cssm_code"] == 0x80012400


def test_revocation_options(verify: Verify, chain: tuple[str, str]) -> None:
    """Soft fail without answers; `require` needs one (tests/net has the answered cases)."""
    leaf, inter = chain
    ocsp = verify("-R", "ocsp", "-c", leaf, "-c", inter)
    assert (ocsp.code, ocsp.err) == (0, "")
    required = verify("-R", "ocsp", "-R", "require", "-c", leaf, "-c", inter)
    assert (required.code, required.err) == (
        1,
        "Cert Verify Result: revocation check not successful for each cert\n",
    )
    crl = verify("-R", "crl", "-c", leaf, "-c", inter)
    assert (crl.code, crl.err) == (0, "Warning: crl option is deprecated, use ocsp\n")
    assert verify("-R", "bogus", "-c", leaf).code == 2


def test_no_op_options(verify: Verify, chain: tuple[str, str]) -> None:
    leaf, inter = chain
    assert verify("-L", "-l", "-N", "-c", leaf, "-c", inter).code == 0
    assert verify("-k", "login.keychain", "-c", leaf, "-c", inter).code == 0


# -- errors -------------------------------------------------------------------------------------


def test_usage_errors(verify: Verify, pki: PKI, tmp_path: Path) -> None:
    none = verify()
    assert none.code == 2
    assert none.err.startswith("***No certs specified.\nUsage: trustctl verify-cert")
    one, two = write(tmp_path, "a", pki.root("A")), write(tmp_path, "b", pki.root("B"))
    roots = verify("-r", one, "-r", two)
    assert roots.code == 2
    assert roots.err.startswith("***Multiple roots and no certs not allowed.\n")
    both = verify("-k", "x", "-N", "-c", one)
    assert both.code == 2 and both.err.startswith("-k and -N are mutually exclusive\n")
    for bad in ("2024-13-01", "yesterday", "2024-01-01 10:00:00"):
        date = verify("-d", bad, "-c", one)
        assert date.code == 2 and date.err.startswith("Date processing error\n"), bad
    assert verify("--frobnicate").code == 2


def test_unknown_policy_and_unreadable_files(verify: Verify, pki: PKI, tmp_path: Path) -> None:
    root = write(tmp_path, "root", pki.root("A"))
    policy = verify("-p", "nonsense", "-c", root)
    assert (policy.code, policy.err) == (1, "*** policy creation failed for nonsense\n")
    missing = tmp_path / "missing.pem"
    unreadable = verify("-c", str(missing))
    assert (unreadable.code, unreadable.err) == (
        1,
        f"Error reading file {missing}\ntrustctl: {missing}: No such file or directory\n",
    )
    garbage = tmp_path / "garbage.der"
    garbage.write_bytes(b"not a certificate")
    assert verify("-c", str(garbage)).err == (
        f"Error reading file {garbage}\ntrustctl: {garbage}: not certificate data"
        " (DER or PEM certificates, PKCS#7 or PKCS#12)\n"
    )


def test_a_file_the_parser_refuses_is_refused_wherever_it_stands(
    verify: Verify, chain: tuple[str, str], daemon: Daemon, tmp_path: Path
) -> None:
    """Files are read as DER without the parser and parsed afterwards where the daemon did not
    use them: a certificate of the right shape that the parser refuses (version 21) is still
    "Error reading file", as an extra certificate of a trusted chain, as an anchor, and before
    a file whose shape is wrong that comes after it."""
    from core.test_malformed import bad_version

    leaf, inter = chain
    odd = tmp_path / "odd.der"
    odd.write_bytes(bad_version(daemon.root.der))
    garbage = tmp_path / "garbage.der"
    garbage.write_bytes(b"not a certificate")
    refused = f"Error reading file {odd}\ntrustctl: {odd}: "
    for args in (
        ("-c", leaf, "-c", inter, "-c", str(odd)),
        ("-c", leaf, "-c", inter, "-r", str(odd)),
        ("-c", str(odd), "-c", str(garbage)),
        ("-c", leaf, "-c", inter, "-p", "nonsense", "-c", str(odd)),
    ):
        run = verify(*args)
        assert (run.code, run.out) == (1, ""), args
        assert run.err.startswith(refused) and run.err.count("\n") == 2, (args, run.err)
    as_json = verify("--json", "-c", leaf, "-c", inter, "-c", str(odd))
    assert as_json.code == 1 and json.loads(as_json.out)["error"].startswith(refused)


# -- URL mode -----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def tls_server(daemon: Daemon, pki: PKI, tmp_path: Path) -> Iterator[int]:
    """`openssl s_server` on 127.0.0.1 serving leaf (SAN IP 127.0.0.1 only) + intermediate."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    inter = pki.intermediate(daemon.root, "Example CA")
    leaf = pki.leaf(inter, "server", ips=["127.0.0.1"], not_before=START, not_after=END)
    key = tmp_path / "key.pem"
    key.write_bytes(
        leaf.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    port = _free_port()
    command = [openssl, "s_server", "-accept", f"127.0.0.1:{port}", "-www", "-quiet"]
    command += ["-cert", write(tmp_path, "leaf", leaf), "-key", str(key)]
    command += ["-cert_chain", write(tmp_path, "inter", inter)]
    log = tmp_path / "s_server.log"
    with log.open("wb") as errors:
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors)
    try:
        deadline = time.monotonic() + 15
        while True:
            if server.poll() is not None:
                pytest.fail(f"openssl s_server exited: {log.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("openssl s_server did not start listening")
                time.sleep(0.05)
        yield port
    finally:
        server.kill()
        server.wait(timeout=10)


def test_url_mode_success(verify: Verify, tls_server: int) -> None:
    result = verify(f"127.0.0.1:{tls_server}")
    assert result.code == 0, result.err
    assert result.out == "...certificate verification successful.\n" + EXTENDED_LINES
    https = verify("-v", f"https://127.0.0.1:{tls_server}/index.html")
    assert https.code == 0, https.err
    assert " 0: server" in https.out and " 1: Example CA" in https.out  # the served chain


def test_url_mode_wrong_name(verify: Verify, tls_server: int) -> None:
    result = verify("-v", f"https://localhost:{tls_server}/")
    assert result.code == 1
    assert result.err.startswith("Cert Verify Result: Host name mismatch\n")
    assert "[SSLHostname]" in result.out
    assert result.out.endswith(EXTENDED_LINES)


def test_url_mode_connection_refused(verify: Verify) -> None:
    result = verify(f"127.0.0.1:{_free_port()}")
    assert result.code == 1
    assert result.err.startswith("*** unable to connect to 127.0.0.1:")
