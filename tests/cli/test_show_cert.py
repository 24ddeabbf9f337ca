"""`trustctl show-cert FILE|SHA1|SHA256`: a certificate the way a person reads it, and what
trustd knows of it (system anchor, admin and user trust settings, the store), against a real
daemon whose system anchor is `daemon.root` ("System Root")."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from pathlib import Path

from cli.conftest import Run, trustctl
from daemons import Daemon, daemon_per_module
from pki import PKI, Issued, aia, crl_distribution

NOW = dt.datetime.now(dt.UTC)
FIELD = re.compile(r"^  (\S[^:]*):\s+(.*)$")


daemon = daemon_per_module  # one daemon for the module: every test's certificates are its own


def fields(out: str) -> dict[str, str]:
    """`label: value` lines (the first of each label)."""
    found: dict[str, str] = {}
    for line in out.splitlines():
        match = FIELD.match(line)
        if match:
            found.setdefault(match.group(1), match.group(2))
    return found


def colons(hex_digest: str) -> str:
    return ":".join(re.findall("..", hex_digest.upper()))


def write(directory: Path, name: str, issued: Issued) -> str:
    path = directory / f"{name}.pem"
    path.write_bytes(issued.pem)
    return str(path)


def test_a_file_as_a_person_reads_it(
    cli: Callable[..., Run], daemon: Daemon, pki: PKI, tmp_path: Path
) -> None:
    ica = pki.intermediate(daemon.root, "Example Issuing CA")
    leaf = pki.leaf(
        ica,
        dns=["www.example.com", "example.com"],
        ips=["192.0.2.7"],
        eku=("serverAuth", "clientAuth"),
        key_usage=("digitalSignature", "keyEncipherment"),
        key_type="rsa-2048",
        not_before=NOW - dt.timedelta(days=10),
        not_after=NOW + dt.timedelta(days=90, hours=1),
        extra_extensions=[
            aia(ca_issuers=["http://ca.example/ica.der"], ocsp_urls=["http://ocsp.example/"]),
            crl_distribution("http://crl.example/ica.crl"),
        ],
    )
    shown = cli("show-cert", write(tmp_path, "leaf", leaf))
    assert (shown.code, shown.err) == (0, "")
    assert shown.out.splitlines()[0] == "www.example.com"
    found = fields(shown.out)
    assert found["Subject"] == "CN=www.example.com"
    assert found["Issuer"] == "CN=Example Issuing CA"
    assert found["Serial number"] == colons(f"{leaf.cert.serial_number:x}".zfill(32))
    assert found["Not after"].endswith("UTC  (expires in 90 days)")
    assert found["Subject alternative names"] == (
        "DNS:www.example.com, DNS:example.com, IP:192.0.2.7"
    )
    assert found["Public key"] == "RSA 2048 bits"
    assert found["Signature algorithm"] == "ecdsa-with-SHA256"
    assert found["Key usage"] == "digitalSignature, keyEncipherment (critical)"
    assert found["Extended key usage"] == "serverAuth, clientAuth"
    assert "Basic constraints" not in found
    assert found["CA issuers (AIA)"] == "http://ca.example/ica.der"
    assert found["OCSP (AIA)"] == "http://ocsp.example/"
    assert found["CRL distribution points"] == "http://crl.example/ica.crl"
    assert ica.ski is not None and found["Authority key ID"] == colons(ica.ski.hex())
    assert found["SHA-1"] == colons(leaf.sha1)
    assert found["SHA-256"] == colons(leaf.sha256)
    assert found["System"] == "not in the system CA bundle"
    assert found["Admin domain"] == found["Your domain"] == "no trust settings"
    assert found["Store"] == "not in trustd's certificate store"


def test_by_fingerprint_with_what_every_domain_says(
    cli: Callable[..., Run], daemon: Daemon, pki: PKI, tmp_path: Path
) -> None:
    # The system anchor, by SHA-1 and by SHA-256 written with colons.
    for digest in (daemon.root.sha1, colons(daemon.root.sha256)):
        shown = cli("show-cert", digest)
        assert shown.code == 0, shown.err
        found = fields(shown.out)
        assert shown.out.startswith("System Root\n")
        assert found["Issuer"] == "CN=System Root  (self-issued)"
        assert found["System"] == "a system anchor (in the operating system's CA bundle)"

    # A constrained CA the admin denies for SSL and you trust, with an allowed error, for one
    # host: each domain's usage constraints in words.
    ica = pki.intermediate(
        daemon.root,
        "Constrained CA",
        path_length=0,
        name_constraints=(["example.com", "10.0.0.0/8"], ["bad.example.com"]),
    )
    path = write(tmp_path, "ica", ica)
    assert cli("add-trusted-cert", "-d", "-r", "deny", "-p", "ssl", path).code == 0
    user = cli(
        "add-trusted-cert", "-r", "trustAsRoot", "-p", "ssl", "-s", "intranet.example",
        "-e", "certExpired", "-p", "basic", path,
    )  # fmt: skip
    assert user.code == 0, user.err
    shown = cli("show-cert", ica.sha1)
    assert shown.code == 0, shown.err
    found = fields(shown.out)
    assert found["Basic constraints"] == "CA, path length 0 (critical)"
    assert found["Name constraints"] == (
        "permitted DNS:example.com, IP:10.0.0.0/8; excluded DNS:bad.example.com (critical)"
    )
    assert found["Admin domain"] == "0: Deny for policy SSL"
    assert found["Your domain"] == (
        "0: TrustAsRoot for policy SSL, name intranet.example, allowing CSSMERR_TP_CERT_EXPIRED"
    )
    lines = shown.out.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("  Your domain:"))
    assert lines[first + 1].strip() == (
        "1: TrustAsRoot for policy Apple X509 Basic, name intranet.example, "
        "allowing CSSMERR_TP_CERT_EXPIRED"
    )
    assert found["Store"] == "in trustd's certificate store (source: api)"  # admin settings add it

    # --json for tools: the same facts and trust.
    document = json.loads(cli("show-cert", "--json", colons(ica.sha256)).out)
    assert document["basic_constraints"] == {"ca": True, "path_length": 0, "critical": True}
    assert document["trust"]["system_anchor"] is False and document["trust"]["stored"] is True
    (denied,) = document["trust"]["trust_settings"]["admin"]
    assert (denied["result"], denied["text"]) == (3, "Deny for policy SSL")
    assert len(document["trust"]["trust_settings"]["user"]) == 2


def test_an_expired_certificate_in_json(
    cli: Callable[..., Run], daemon: Daemon, pki: PKI, tmp_path: Path
) -> None:
    old = pki.leaf(
        daemon.root,
        dns=["old.example"],
        not_before=NOW - dt.timedelta(days=400),
        not_after=NOW - dt.timedelta(days=3, hours=1),
    )
    document = json.loads(cli("show-cert", "--json", write(tmp_path, "old", old)).out)
    assert document["validity"]["state"] == "expired"
    assert document["validity"]["text"] == "expired 3 days ago"
    assert document["validity"]["seconds_left"] < 0
    assert document["sha1"] == colons(old.sha1)
    assert document["public_key"] == {"algorithm": "EC", "bits": 256, "curve": "secp256r1"}
    assert document["trust"]["trust_settings"] == {"admin": None, "user": None}


def test_unknown_fingerprints_and_files(cli: Callable[..., Run], tmp_path: Path) -> None:
    unknown = cli("show-cert", "ab" * 20)
    assert (unknown.code, unknown.err) == (
        1,
        f"trustctl: no certificate with SHA1 {'ab' * 20} is known\n",
    )
    neither = cli("show-cert", str(tmp_path / "missing.pem"))
    assert neither.code == 1
    assert neither.err.endswith("missing.pem: no such file, and not a SHA-1 or SHA-256\n")
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    refused = cli("show-cert", str(junk))
    assert refused.code == 1 and refused.err.startswith(f"trustctl: {junk}: ")
    assert "Traceback" not in refused.err


def test_a_file_is_shown_without_the_daemon(pki: PKI, tmp_path: Path) -> None:
    root = write(tmp_path, "root", pki.root("Offline Root"))
    shown = trustctl(tmp_path / "nothing.sock", "show-cert", root)
    assert shown.code == 0
    assert shown.out.startswith("Offline Root\n") and "Trust" not in shown.out.splitlines()
    assert shown.err.startswith("trustctl: trust unknown: ")
    assert len(shown.err.splitlines()) == 1


def test_a_certificate_with_an_invalid_version_is_a_clean_error(
    cli: Callable[..., Run], pki: PKI, tmp_path: Path
) -> None:
    path = tmp_path / "v6.der"
    path.write_bytes(pki.with_version(pki.root("Version Root"), 5))
    shown = cli("show-cert", str(path))
    assert shown.code != 0
    assert shown.err.strip() == f"trustctl: {path}: not a valid X.509 certificate (version 6)"
