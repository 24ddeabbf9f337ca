"""`trustctl export-bundle` against a real daemon, checked with the real `openssl` that reads it.

OpenSSL's subject-name hash (`trustctl.openssl_dir`) is checked against `openssl x509
-subject_hash` on awkward names and on every root of certifi's bundle.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import certifi
import pytest
from cli.conftest import Run
from cryptography import x509
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID
from daemons import Daemon
from pki import PKI, Issued

from trustctl.commands.certificates import pem_text
from trustctl.openssl_dir import subject_hash
from trustd.store.system_anchors import parse_bundle

pytestmark = pytest.mark.long(seconds=16)

Cli = Callable[..., Run]


def openssl_hash(pem: bytes) -> str:
    done = subprocess.run(
        ["openssl", "x509", "-noout", "-subject_hash"],
        input=pem,
        capture_output=True,
        check=True,
        timeout=30,
    )
    return done.stdout.decode().strip()


def openssl_verifies(leaf: Issued, *where: str) -> bool:
    done = subprocess.run(
        ["openssl", "verify", *where, "-purpose", "sslserver", "/dev/stdin"],
        input=leaf.pem,
        capture_output=True,
        timeout=30,
        check=False,
    )
    return done.returncode == 0


def _name(*attributes: x509.NameAttribute[str]) -> x509.Name:
    return x509.Name([x509.RelativeDistinguishedName([a]) for a in attributes])


AWKWARD_NAMES = {
    "case and white space": _name(
        x509.NameAttribute(NameOID.COMMON_NAME, "  Mixed   CASE\tName  "),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Ünïcode Örg"),
    ),
    "string types": _name(
        x509.NameAttribute(NameOID.COUNTRY_NAME, "DE", _type=_ASN1Type.PrintableString),
        x509.NameAttribute(NameOID.COMMON_NAME, "BMP Name", _type=_ASN1Type.BMPString),
        x509.NameAttribute(NameOID.EMAIL_ADDRESS, "Ca@Example.COM", _type=_ASN1Type.IA5String),
        x509.NameAttribute(NameOID.LOCALITY_NAME, "Wide", _type=_ASN1Type.UniversalString),
    ),
    "multi-valued RDN": x509.Name(
        [
            x509.RelativeDistinguishedName(
                [
                    x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Zeta"),
                    x509.NameAttribute(NameOID.COMMON_NAME, "Alpha"),
                ]
            )
        ]
    ),
}


@pytest.mark.parametrize("label", list(AWKWARD_NAMES))
def test_subject_hash_is_openssls(pki: PKI, label: str) -> None:
    issued = pki.root("unused", subject=AWKWARD_NAMES[label])
    assert subject_hash(issued.cert.subject.public_bytes()) == openssl_hash(issued.pem)


def test_subject_hash_matches_openssl_on_every_certifi_root() -> None:
    roots, broken = parse_bundle(Path(certifi.where()).read_bytes())
    assert len(roots) > 100 and broken == 0
    for root in roots:
        pem = pem_text(root.der).encode()
        assert subject_hash(root.subject_der) == openssl_hash(pem), root.subject_summary


@pytest.fixture
def org(pki: PKI) -> tuple[Issued, Issued]:
    root = pki.root("Org Root")
    return root, pki.leaf(root, dns=["intranet.example"])


def _trust_for_ssl(cli: Cli, tmp_path: Path, root: Issued) -> None:
    path = tmp_path / "org.pem"
    path.write_bytes(root.pem)
    assert cli("add-trusted-cert", "-d", "-p", "ssl", str(path)).code == 0


def test_pem_bundle_holds_what_trustd_trusts_for_the_policy(
    cli: Cli, daemon: Daemon, tmp_path: Path, pki: PKI, org: tuple[Issued, Issued]
) -> None:
    root, leaf = org
    system_leaf = pki.leaf(daemon.root, dns=["public.example"])
    bundle = tmp_path / "ssl.pem"

    _trust_for_ssl(cli, tmp_path, root)
    done = cli("export-bundle", "--comment", str(bundle))
    assert (done.code, done.out) == (0, f"2 certificates written to {bundle}.\n")
    text = bundle.read_text()
    assert "# Org Root (trusted by the admin domain)" in text
    assert openssl_verifies(leaf, "-CAfile", str(bundle))
    assert openssl_verifies(system_leaf, "-CAfile", str(bundle))

    # Trusted for ssl only: an S/MIME bundle has the system root alone.
    smime = cli("export-bundle", "-p", "smime", "-")
    assert smime.code == 0
    assert smime.out == daemon.root.pem.decode()

    # Existing output is kept unless --overwrite.
    again = cli("export-bundle", str(bundle))
    assert again.code == 1 and "already exists (use --overwrite)" in again.err

    # An admin Deny of the system root for ssl removes it from the ssl bundle.
    deny = tmp_path / "system.pem"
    deny.write_bytes(daemon.root.pem)
    assert cli("add-trusted-cert", "-d", "-r", "deny", "-p", "ssl", str(deny)).code == 0
    listed = cli("export-bundle", "--overwrite", "--json", str(bundle))
    assert listed.code == 0
    report = json.loads(listed.out)
    assert [c["subject"] for c in report["certificates"]] == ["Org Root"]
    assert report["certificates"][0]["domain"] == "admin"
    assert not openssl_verifies(system_leaf, "-CAfile", str(bundle))
    assert openssl_verifies(leaf, "-CAfile", str(bundle))


def test_openssl_directory_is_found_by_openssl(
    cli: Cli, daemon: Daemon, tmp_path: Path, org: tuple[Issued, Issued]
) -> None:
    root, leaf = org
    _trust_for_ssl(cli, tmp_path, root)
    directory = tmp_path / "certs"
    done = cli("-q", "export-bundle", "-f", "openssl-directory", str(directory))
    assert (done.code, done.out, done.err) == (0, "", "")
    names = sorted(p.name for p in directory.iterdir())
    assert names == sorted([f"{openssl_hash(root.pem)}.0", f"{openssl_hash(daemon.root.pem)}.0"])
    assert openssl_verifies(leaf, "-CApath", str(directory))

    refused = cli("export-bundle", "-f", "openssl-directory", str(directory))
    assert refused.code == 1 and "already holds certificates" in refused.err

    # Replacing drops hash files of certificates no longer trusted, and nothing else.
    (directory / "README").write_text("kept")
    cli("remove-trusted-cert", "-d", str(tmp_path / "org.pem"))
    done = cli("export-bundle", "-f", "openssl-directory", "--overwrite", str(directory))
    assert done.code == 0
    remaining = {p.name for p in directory.iterdir()}
    assert remaining == {"README", f"{openssl_hash(daemon.root.pem)}.0"}
    assert not openssl_verifies(leaf, "-CApath", str(directory))


def test_unknown_policy_and_bad_outputs_are_one_line(cli: Cli, tmp_path: Path) -> None:
    unknown = cli("export-bundle", "-p", "nonsense", "-")
    assert (unknown.code, unknown.err) == (1, "*** policy creation failed for nonsense\n")
    plain = tmp_path / "file"
    plain.write_text("x")
    not_dir = cli("export-bundle", "-f", "openssl-directory", "--overwrite", str(plain))
    assert not_dir.code == 1 and not_dir.err == f"trustctl: {plain}: not a directory\n"
    stdout_dir = cli("export-bundle", "-f", "openssl-directory", "-")
    assert stdout_dir.code == 2 and "Traceback" not in stdout_dir.err


def openssl_verify(leaf: Issued, purpose: str, *where: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["openssl", "verify", *where, "-purpose", purpose, "/dev/stdin"],
        input=leaf.pem,
        capture_output=True,
        timeout=30,
        check=False,
    )


def test_openssl_trusted_carries_purposes_and_rejects(
    cli: Cli, daemon: Daemon, tmp_path: Path, pki: PKI, org: tuple[Issued, Issued]
) -> None:
    root, leaf = org
    mail_root = pki.root("Mail Root")
    mail_leaf = pki.leaf(mail_root, eku=("emailProtection",), emails=["a@example.com"])
    tls_under_mail = pki.leaf(mail_root, dns=["mail.example"])
    system_leaf = pki.leaf(daemon.root, dns=["public.example"])
    _trust_for_ssl(cli, tmp_path, root)
    (tmp_path / "mail.pem").write_bytes(mail_root.pem)
    assert cli("add-trusted-cert", "-d", "-p", "smime", str(tmp_path / "mail.pem")).code == 0
    (tmp_path / "system.pem").write_bytes(daemon.root.pem)
    deny = cli("add-trusted-cert", "-d", "-r", "deny", "-p", "ssl", str(tmp_path / "system.pem"))
    assert deny.code == 0

    trusted = tmp_path / "trusted.pem"
    done = cli("export-bundle", "-f", "openssl-trusted", str(trusted))
    assert done.code == 0, done.err
    text = trusted.read_text()
    assert text.count("-----BEGIN TRUSTED CERTIFICATE-----") == 3
    assert "CERTIFICATE-----\n" in text and "BEGIN CERTIFICATE" not in text
    # Per purpose: the organisation's root for TLS, the mail root for S/MIME only.
    assert openssl_verify(leaf, "sslserver", "-CAfile", str(trusted)).returncode == 0
    assert openssl_verify(mail_leaf, "smimesign", "-CAfile", str(trusted)).returncode == 0
    assert openssl_verify(tls_under_mail, "sslserver", "-CAfile", str(trusted)).returncode != 0
    # The denied system root is rejected for TLS even where the same bundle trusts it again.
    plain = tmp_path / "plain-system.pem"
    plain.write_bytes(daemon.root.pem)
    assert openssl_verify(system_leaf, "sslserver", "-CAfile", str(plain)).returncode == 0
    both = tmp_path / "both.pem"
    both.write_bytes(trusted.read_bytes() + plain.read_bytes())
    vetoed = openssl_verify(system_leaf, "sslserver", "-CAfile", str(both))
    assert vetoed.returncode != 0 and b"rejected" in vetoed.stdout + vetoed.stderr


def test_java_truststore_is_read_by_keytool(
    cli: Cli, daemon: Daemon, tmp_path: Path, org: tuple[Issued, Issued]
) -> None:
    root, _ = org
    _trust_for_ssl(cli, tmp_path, root)
    store = tmp_path / "truststore.p12"
    done = cli("export-bundle", "-f", "java-truststore", "--storepass", "s3cret!", str(store))
    assert done.code == 0, done.err
    if shutil.which("keytool") is None:
        pytest.skip("no Java keytool here to read it")
    listing = subprocess.run(
        ["keytool", "-list", "-keystore", str(store), "-storetype", "PKCS12",
         "-storepass", "s3cret!"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert listing.returncode == 0, listing.stdout + listing.stderr
    assert listing.stdout.count("trustedCertEntry") == 2
    for issued in (root, daemon.root):
        fingerprint = ":".join(f"{b:02X}" for b in bytes.fromhex(issued.sha256))
        assert fingerprint in listing.stdout
