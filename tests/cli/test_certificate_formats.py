"""Certificate file formats: trustd.certfiles, and `import` / `export` against a real daemon.

The unit tests read and write DER, PEM, PKCS#7 and PKCS#12 built with cryptography and
openssl; the command tests run the real CLI in a subprocess (tests/cli/conftest.py) as root,
as the store's certificate calls need, and check the store through the client.
"""

from __future__ import annotations

import hashlib
import json
import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from cli.conftest import Run
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from daemons import Daemon
from pki import PKI, Issued
from waiting import eventually

from trustd import certfiles as formats
from trustd.certfiles import CannotEncode, PasswordNeeded, UndecodableData
from trustd.client import Client

pytestmark = pytest.mark.long(seconds=24)

Cli = Callable[..., Run]

NO_KEY = serialization.NoEncryption()
DUPLICATE = "trustctl: SecKeychainItemImport: The specified item already exists in the keychain.\n"
NOTHING_TO_EXPORT = (
    "trustctl: SecKeychainItemExport: The specified item could not be found in the keychain.\n"
)


def chain(pki: PKI, label: str) -> tuple[Issued, Issued, Issued]:
    root = pki.root(f"{label} Root")
    intermediate = pki.intermediate(root, f"{label} Intermediate")
    return root, intermediate, pki.leaf(intermediate, f"{label} Leaf")


def p7(certificates: Sequence[Issued], encoding: serialization.Encoding) -> bytes:
    return pkcs7.serialize_certificates([c.cert for c in certificates], encoding)


def p12(key_cert: Issued | None, extra: Sequence[Issued], password: bytes | None) -> bytes:
    encryption = NO_KEY if password is None else serialization.BestAvailableEncryption(password)
    return pkcs12.serialize_key_and_certificates(
        b"friendly",
        None if key_cert is None else key_cert.key,  # type: ignore[arg-type]  # PKI: no ML-DSA here
        None if key_cert is None else key_cert.cert,
        [c.cert for c in extra],
        encryption,
    )


def write(directory: Path, name: str, data: bytes) -> str:
    path = directory / name
    path.write_bytes(data)
    return str(path)


def stored_ders(daemon: Daemon) -> set[bytes]:
    with Client(daemon.socket) as client:
        return {stored.certificate for stored in client.find_certificates()}


def clear_store(daemon: Daemon) -> None:
    with Client(daemon.socket) as client:
        for stored in client.find_certificates():
            client.delete_certificate(stored.sha1)


def add_calls(daemon: Daemon) -> int:
    """How many AddCertificates calls the daemon has logged (one line per call)."""
    return daemon.log.read_text().count("io.trustd.Trust.AddCertificates: ok")


def run_binary(daemon: Daemon, *args: str) -> tuple[int, bytes, str]:
    """trustctl with binary stdout (DER export to stdout)."""
    environment = {**os.environ, "TRUSTD_SOCKET": str(daemon.socket)}
    done = subprocess.run(
        [sys.executable, "-m", "trustctl", *args],
        capture_output=True,
        env=environment,
        timeout=60,
        check=False,
    )
    return done.returncode, done.stdout, done.stderr.decode()


def openssl(*args: str, data: bytes | None = None) -> bytes:
    done = subprocess.run(
        ["openssl", *args], input=data, capture_output=True, timeout=60, check=True
    )
    return done.stdout


# -- reading: trustd.certfiles ------------------------------------------------------------------


def test_read_der_and_pem(pki: PKI) -> None:
    root, intermediate, leaf = chain(pki, "Read")
    key_pem = leaf.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, NO_KEY
    )
    assert formats.read_certificates(root.der) == [root.der]
    assert formats.read_certificates(root.pem) == [root.der]
    # Text around and between blocks, a key block, and a duplicate: order kept, each once.
    bundle = b"subject=...\n" + leaf.pem + key_pem + intermediate.pem + b"\n" + leaf.pem + root.pem
    assert formats.read_certificates(bundle) == [leaf.der, intermediate.der, root.der]
    legacy_label = root.pem.replace(b"CERTIFICATE-----", b"X509 CERTIFICATE-----")
    assert formats.read_certificates(legacy_label) == [root.der]
    crlf = root.pem.replace(b"\n", b"\r\n")
    assert formats.read_certificates(b"  \r\n" + crlf) == [root.der]


def test_read_openssl_trusted_certificate(pki: PKI) -> None:
    root = pki.root("Trusted Certificate Root")
    trusted = openssl("x509", "-trustout", "-addtrust", "serverAuth", data=root.pem)
    assert trusted.startswith(b"-----BEGIN TRUSTED CERTIFICATE-----")
    assert formats.read_certificates(trusted) == [root.der]


def test_read_pkcs7_der_pem_and_openssl(pki: PKI, tmp_path: Path) -> None:
    certificates = chain(pki, "Pkcs7")
    ders = sorted(c.der for c in certificates)  # DER sorts the SET OF certificates
    assert formats.read_certificates(p7(certificates, serialization.Encoding.DER)) == ders
    pem = p7(certificates, serialization.Encoding.PEM)
    assert pem.startswith(b"-----BEGIN PKCS7-----")
    assert formats.read_certificates(pem) == ders
    bundle = write(tmp_path, "bundle.pem", b"".join(c.pem for c in certificates))
    from_openssl = openssl("crl2pkcs7", "-nocrl", "-certfile", bundle, "-outform", "DER")
    assert set(formats.read_certificates(from_openssl)) == set(ders)
    empty = openssl("crl2pkcs7", "-nocrl", "-outform", "DER")
    with pytest.raises(UndecodableData, match="no certificates"):
        formats.read_certificates(empty)


def test_read_pkcs12_with_and_without_password(pki: PKI) -> None:
    root, intermediate, leaf = chain(pki, "Pkcs12")
    protected = p12(leaf, [intermediate, root], b"s3cret")
    expected = [leaf.der, intermediate.der, root.der]
    assert formats.read_certificates(protected, password=b"s3cret") == expected
    assert formats.read_certificates(p12(leaf, [root], None)) == [leaf.der, root.der]
    assert formats.read_certificates(p12(None, [intermediate, root], None)) == expected[1:]
    with pytest.raises(PasswordNeeded, match="password is needed"):
        formats.read_certificates(protected)
    with pytest.raises(UndecodableData, match="wrong password") as wrong:
        formats.read_certificates(protected, password=b"guess")
    assert not isinstance(wrong.value, PasswordNeeded)


def test_read_explicit_format(pki: PKI) -> None:
    root, intermediate, leaf = chain(pki, "Explicit")
    two = leaf.pem + root.pem
    assert formats.read_certificates(root.der, fmt="x509") == [root.der]
    assert formats.read_certificates(root.pem, fmt="X509") == [root.der]
    assert formats.read_certificates(two, fmt="pemseq") == [leaf.der, root.der]
    assert formats.read_certificates(two, fmt="openssl") == [leaf.der, root.der]
    der7 = p7([intermediate], serialization.Encoding.DER)
    assert formats.read_certificates(der7, fmt="pkcs7") == [intermediate.der]
    assert formats.read_certificates(p12(leaf, [], b"pw"), fmt="pkcs12", password=b"pw") == [
        leaf.der
    ]
    refused = [
        (two, "x509", "one certificate, this holds 2"),
        (root.der, "pemseq", "not PEM"),
        (root.pem, "pkcs7", "no PKCS#7 block"),
        (root.der, "pkcs7", "PKCS#7"),
        (root.der, "pkcs12", "password"),  # not PKCS#12: no password can open it
        (root.pem, "pkcs12", "not PKCS#12"),
        (der7, "x509", "not a valid X.509 certificate"),
        (root.der, "bsafe", 'unknown format "bsafe"'),
    ]
    for data, fmt, reason in refused:
        with pytest.raises(UndecodableData, match=reason):
            formats.read_certificates(data, fmt=fmt)


def test_read_garbage(pki: PKI) -> None:
    root = pki.root("Garbage Root")
    key_only = root.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, NO_KEY
    )
    cases = [
        (b"", "not certificate data"),
        (b"not a certificate", "not certificate data"),
        (pki.truncate(root), "not certificate data"),
        (root.der + b"\x00", "not certificate data"),
        (b"\x30\x02\x30\x00", "not a valid X.509"),  # a certificate's shape, empty
        (b"\x30\x03\x02\x01\x03", "password"),  # PKCS#12's shape, not its content
        (key_only, "no certificate in the PEM data"),
        (root.pem.replace(b"MII", b"M!I"), "damaged base64"),
        (root.pem.replace(b"-----END CERTIFICATE-----", b""), "no certificate"),
    ]
    for data, reason in cases:
        with pytest.raises(UndecodableData, match=reason):
            formats.read_certificates(data)


def test_read_a_certificate_with_an_invalid_version(pki: PKI) -> None:
    """cryptography raises InvalidVersion, not a ValueError: every reader turns it into a
    clean UndecodableData."""
    root = pki.root("Version Root")
    bad = pki.with_version(root, 5)
    pem = formats.pem_armour(bad).encode()
    for data, fmt in [(bad, None), (bad, "x509"), (pem, None), (pem, "openssl"), (pem, "x509")]:
        with pytest.raises(UndecodableData, match=r"not a valid X\.509 certificate \(version 6\)"):
            formats.read_certificates(data, fmt=fmt)


# -- writing: trustd.certfiles ------------------------------------------------------------------


def test_write_formats(pki: PKI) -> None:
    root, intermediate, leaf = chain(pki, "Write")
    ders = [leaf.der, intermediate.der, root.der]
    pemseq = formats.write_certificates(ders, "pemseq", pem=False)
    assert pemseq == leaf.pem + intermediate.pem + root.pem  # cryptography also uses 64 columns
    assert formats.write_certificates(ders, "pemseq", pem=True) == pemseq
    assert formats.write_certificates([root.der], "x509", pem=False) == root.der
    assert formats.write_certificates([root.der], "x509", pem=True) == root.pem
    for pem, encoding in ((False, serialization.Encoding.DER), (True, serialization.Encoding.PEM)):
        written = formats.write_certificates(ders, "pkcs7", pem=pem)
        load = pkcs7.load_pem_pkcs7_certificates if pem else pkcs7.load_der_pkcs7_certificates
        back = [c.public_bytes(serialization.Encoding.DER) for c in load(written)]
        assert back == sorted(ders)  # a SET OF in DER: sorted, whatever the order given
        assert formats.read_certificates(written) == back
        assert written.startswith(b"-----BEGIN PKCS7-----") == (
            encoding is serialization.Encoding.PEM
        )


def test_write_refusals(pki: PKI) -> None:
    root, _, leaf = chain(pki, "Refuse")
    with pytest.raises(CannotEncode, match="one certificate, not 2"):
        formats.write_certificates([leaf.der, root.der], "x509", pem=False)
    with pytest.raises(CannotEncode, match="private keys"):
        formats.write_certificates([root.der], "pkcs12", pem=False)
    with pytest.raises(CannotEncode, match='"openssh1"'):
        formats.write_certificates([root.der], "openssh1", pem=False)
    with pytest.raises(CannotEncode, match="no certificates"):
        formats.write_certificates([], "pemseq", pem=True)


# -- import -------------------------------------------------------------------------------------


def test_import_each_format(cli: Cli, daemon: Daemon, pki: PKI, tmp_path: Path) -> None:
    root, intermediate, leaf = chain(pki, "Import")
    extra = [pki.root(f"Import Extra {n}") for n in range(5)]
    files = [
        (write(tmp_path, "root.cer", root.der), [root], "1 certificate imported.\n"),
        (write(tmp_path, "one.pem", intermediate.pem), [intermediate], "1 certificate imported.\n"),
        (
            write(tmp_path, "two.crt", extra[0].pem + b"text\n" + extra[1].pem),
            extra[:2],
            "2 certificates imported.\n",
        ),
        (
            write(tmp_path, "certs.p7b", p7(extra[2:4], serialization.Encoding.DER)),
            extra[2:4],
            "2 certificates imported.\n",
        ),
        (
            write(tmp_path, "certs.p7c", p7([extra[4]], serialization.Encoding.PEM)),
            [extra[4]],
            "1 certificate imported.\n",
        ),
        (write(tmp_path, "leaf.p12", p12(leaf, [], None)), [leaf], "1 certificate imported.\n"),
    ]
    for path, certificates, message in files:
        before = stored_ders(daemon)
        run = cli("import", path)
        key = path.endswith(".p12")  # the leaf's key is in the PKCS#12 file, and is not kept
        note = (
            f"trustctl: {path}: the private key was not imported: trustd stores certificates only\n"
        )
        assert (run.code, run.out, run.err) == (0, message, note if key else ""), path
        assert stored_ders(daemon) - before == {c.der for c in certificates}, path


def test_import_pkcs12_passwords(cli: Cli, daemon: Daemon, pki: PKI, tmp_path: Path) -> None:
    root, intermediate, leaf = chain(pki, "Protected")
    path = write(tmp_path, "identity.pfx", p12(leaf, [intermediate, root], b"open sesame"))
    missing = cli("import", path)
    assert (missing.code, missing.out) == (1, "")
    assert missing.err == (
        "trustctl: SecKeychainItemImport: "
        "MAC verification failed during PKCS12 import (wrong password?)\n"
        "trustctl: the PKCS#12 data is protected: a password is needed (-P passphrase)\n"
    )
    wrong = cli("import", path, "-P", "open barley")
    assert (wrong.code, wrong.out) == (1, "")
    assert "wrong password" in wrong.err
    assert not {leaf.der, intermediate.der, root.der} & stored_ders(daemon)
    right = cli(
        "import", path, "-k", "login.keychain", "-t", "agg", "-f", "pkcs12", "-P", "open sesame"
    )
    assert (right.code, right.out) == (0, "3 certificates imported.\n")
    assert right.err == (
        f"trustctl: {path}: the private key was not imported: trustd stores certificates only\n"
    )
    assert {leaf.der, intermediate.der, root.der} <= stored_ders(daemon)


def test_import_duplicates_and_json(cli: Cli, daemon: Daemon, pki: PKI, tmp_path: Path) -> None:
    old, new = pki.root("Import Old"), pki.root("Import New")
    assert cli("import", write(tmp_path, "old.pem", old.pem)).code == 0
    again = cli("import", write(tmp_path, "again.der", old.der))
    assert (again.code, again.out, again.err) == (1, "", DUPLICATE)
    mixed = write(tmp_path, "mixed.pem", old.pem + new.pem)
    run = cli("import", mixed, "--json")
    assert (run.code, run.err) == (0, "")
    assert json.loads(run.out) == {
        "imported": 1,
        "existing": 1,
        "sha1": [old.sha1.upper(), new.sha1.upper()],
    }
    assert new.der in stored_ders(daemon)
    everything_stored = cli("import", mixed, "--json")
    assert (everything_stored.code, everything_stored.out, everything_stored.err) == (
        1,
        "",
        DUPLICATE,
    )


def test_import_errors(cli: Cli, daemon: Daemon, pki: PKI, tmp_path: Path) -> None:
    root = pki.root("Import Errors")
    missing = tmp_path / "missing.pem"
    run = cli("import", str(missing))
    assert (run.code, run.out) == (1, "")
    assert run.err == f"trustctl: Error reading infile {missing}: No such file or directory\n"
    run = cli("import", write(tmp_path, "garbage.p12", b"\x00garbage"))
    assert (run.code, run.out) == (1, "")
    assert run.err == (
        "trustctl: SecKeychainItemImport: Unable to decode the provided data.\n"
        "trustctl: not certificate data (DER or PEM certificates, PKCS#7 or PKCS#12)\n"
    )
    good = write(tmp_path, "root.pem", root.pem + pki.root("Import Errors Two").pem)
    run = cli("import", good, "-f", "x509")
    assert run.code == 1
    assert "the x509 format holds one certificate, this holds 2" in run.err
    run = cli("import", good, "-t", "priv")
    assert run.code == 2
    assert run.err.startswith('trustctl: item type "priv": trustd imports cert or agg only\n')
    assert "Usage: trustctl import" in run.err
    run = cli("import", good, "-f", "openssh2")
    assert run.code == 2
    assert run.err.startswith('trustctl: format "openssh2": trustd imports openssl, x509, ')
    assert cli("import").code == 2
    assert root.der not in stored_ders(daemon)


def test_import_openssl_crl2pkcs7(cli: Cli, daemon: Daemon, pki: PKI, tmp_path: Path) -> None:
    certificates = chain(pki, "Crl2pkcs7")
    bundle = write(tmp_path, "bundle.pem", b"".join(c.pem for c in certificates))
    for outform in ("DER", "PEM"):
        clear_store(daemon)
        p7b = str(tmp_path / f"bundle.{outform}.p7b")
        openssl("crl2pkcs7", "-nocrl", "-certfile", bundle, "-outform", outform, "-out", p7b)
        run = cli("import", p7b)
        assert (run.code, run.out, run.err) == (0, "3 certificates imported.\n", "")
        assert stored_ders(daemon) == {c.der for c in certificates}


def test_add_certificates_reads_pkcs7_and_pkcs12(
    cli: Cli, daemon: Daemon, pki: PKI, tmp_path: Path
) -> None:
    root, intermediate, leaf = chain(pki, "Add Formats")
    seven = write(tmp_path, "chain.p7b", p7([intermediate, root], serialization.Encoding.DER))
    twelve = write(tmp_path, "leaf.p12", p12(leaf, [], None))
    run = cli("add-certificates", seven, twelve)
    assert (run.code, run.out, run.err) == (0, "", "")
    assert {root.der, intermediate.der, leaf.der} <= stored_ders(daemon)
    locked = write(tmp_path, "locked.p12", p12(pki.root("Add Locked"), [], b"pw"))
    run = cli("add-certificates", locked)
    assert (run.code, run.out) == (1, "")
    assert run.err.startswith(
        "trustctl: SecCertificateAddToKeychain: Unable to decode the provided data.\n"
        f"trustctl: {locked}: the PKCS#12 data is protected"
    )


# -- export -------------------------------------------------------------------------------------


def test_export_formats(cli: Cli, daemon: Daemon, pki: PKI, tmp_path: Path) -> None:
    root, intermediate, leaf = chain(pki, "Export")
    assert (
        cli("import", write(tmp_path, "chain.pem", root.pem + intermediate.pem + leaf.pem)).code
        == 0
    )
    with Client(daemon.socket) as client:
        everything = [stored.certificate for stored in client.find_certificates()]
    run = cli("export")
    assert (run.code, run.err) == (0, "")
    assert run.out.encode() == b"".join(formats.pem_armour(d).encode() for d in everything)
    assert all(len(line) <= 64 for line in run.out.splitlines())
    run = cli(
        "export",
        "-k",
        "/Library/Keychains/System.keychain",
        "-t",
        "certs",
        "-f",
        "pemseq",
        "-p",
        "-c",
        "export i",
    )
    assert (run.code, run.out, run.err) == (0, intermediate.pem.decode(), "")

    code, out, err = run_binary(daemon, "export", "-f", "x509", "-Z", leaf.sha1.upper())
    assert (code, out, err) == (0, leaf.der, "")
    code, out, err = run_binary(daemon, "export", "-f", "x509", "-p", "-Z", leaf.sha256)
    assert (code, out, err) == (0, leaf.pem, "")

    p7b = tmp_path / "out.p7b"
    run = cli("export", "-t", "all", "-f", "pkcs7", "-c", "Export", "-o", str(p7b))
    assert (run.code, run.out, run.err) == (0, "", "")
    back = pkcs7.load_der_pkcs7_certificates(p7b.read_bytes())
    assert [c.public_bytes(serialization.Encoding.DER) for c in back] == sorted(
        [root.der, intermediate.der, leaf.der]
    )
    code, out, err = run_binary(daemon, "export", "-f", "pkcs7", "-p", "-c", "export leaf")
    assert (code, err) == (0, "")
    assert out.startswith(b"-----BEGIN PKCS7-----\n")
    assert pkcs7.load_pem_pkcs7_certificates(out)[0] == leaf.cert


def test_export_errors(cli: Cli, daemon: Daemon, pki: PKI, tmp_path: Path) -> None:
    clear_store(daemon)
    run = cli("export")
    assert (run.code, run.out, run.err) == (1, "", NOTHING_TO_EXPORT)
    one, two = pki.root("Export Error One"), pki.root("Export Error Two")
    assert cli("import", write(tmp_path, "two.pem", one.pem + two.pem)).code == 0
    run = cli("export", "-c", "no such subject")
    assert (run.code, run.out, run.err) == (1, "", NOTHING_TO_EXPORT)
    run = cli("export", "-f", "x509", "-c", "Export Error")
    assert (run.code, run.out) == (1, "")
    assert run.err == (
        "trustctl: SecKeychainItemExport: the x509 format holds one certificate, not 2\n"
    )
    run = cli("export", "-f", "pkcs12", "-o", str(tmp_path / "never.p12"))
    assert (run.code, run.out) == (1, "")
    assert run.err == (
        "trustctl: SecKeychainItemExport: PKCS#12 carries private keys with their "
        "certificates and trustd stores certificates only: export as pemseq or pkcs7\n"
    )
    assert not (tmp_path / "never.p12").exists()
    run = cli("export", "-Z", "12345")
    assert (run.code, run.err) == (1, 'trustctl: -Z "12345" is not a SHA-1 or SHA-256 hash (hex)\n')
    run = cli("export", "-t", "privKeys")
    assert run.code == 2
    assert run.err.startswith('trustctl: item type "privKeys": trustd exports certs only\n')
    run = cli("export", "-f", "bsafe")
    assert run.code == 2
    assert run.err.startswith('trustctl: format "bsafe": trustd exports pemseq, x509, pkcs7\n')
    run = cli("export", "-o", str(tmp_path / "no" / "such" / "dir.pem"))
    assert run.code == 1
    assert run.err.startswith(f"trustctl: Error writing outfile {tmp_path / 'no'}")


def test_export_import_round_trip(cli: Cli, daemon: Daemon, pki: PKI, tmp_path: Path) -> None:
    certificates = [*chain(pki, "Round Trip"), pki.root("Round Trip Other")]
    source = write(tmp_path, "all.pem", b"".join(c.pem for c in certificates))
    assert cli("import", source).code == 0
    original = stored_ders(daemon)
    assert {c.der for c in certificates} <= original
    exports = {
        "pemseq": ("-f", "pemseq"),
        "pemseq.p": ("-f", "pemseq", "-p"),
        "pkcs7.der": ("-f", "pkcs7"),
        "pkcs7.pem": ("-f", "pkcs7", "-p"),
    }
    for name, options in exports.items():
        path = tmp_path / f"export.{name}"
        assert cli("export", *options, "-o", str(path)).code == 0
        clear_store(daemon)
        run = cli("import", str(path))
        assert (run.code, run.out, run.err) == (0, f"{len(original)} certificates imported.\n", "")
        assert stored_ders(daemon) == original, name
    single = certificates[-1]
    for options in (("-f", "x509"), ("-f", "x509", "-p")):
        path = tmp_path / "single.cer"
        assert cli("export", *options, "-Z", single.sha1, "-o", str(path)).code == 0
        clear_store(daemon)
        assert cli("import", str(path)).out == "1 certificate imported.\n"
        assert stored_ders(daemon) == {single.der}


def test_openssl_reads_pkcs7_export(cli: Cli, pki: PKI, tmp_path: Path) -> None:
    certificates = chain(pki, "Openssl Reads")
    assert cli("import", write(tmp_path, "c.pem", b"".join(c.pem for c in certificates))).code == 0
    for options, inform in ((("-f", "pkcs7"), "DER"), (("-f", "pkcs7", "-p"), "PEM")):
        path = tmp_path / f"export.{inform}.p7b"
        assert cli("export", *options, "-c", "openssl reads", "-o", str(path)).code == 0
        text = openssl("pkcs7", "-inform", inform, "-in", str(path), "-print_certs")
        printed = formats.read_certificates(text)
        assert sorted(printed) == sorted(c.der for c in certificates)
        for certificate in certificates:
            cn = certificate.cert.subject.rfc4514_string().removeprefix("CN=")
            assert f"subject=CN = {cn}".encode() in text


# -- many certificates: batches and the progress bar --------------------------------------------


def many(pki: PKI, label: str, count: int) -> list[Issued]:
    root = pki.root(f"{label} Root")
    key = pki.new_key()
    return [root, *(pki.leaf(root, f"{label} {n:05d}", key=key) for n in range(count - 1))]


def test_import_thousands_in_batches_without_progress_when_piped(
    cli: Cli, daemon: Daemon, pki: PKI, tmp_path: Path
) -> None:
    certificates = many(pki, "Bulk", 1_201)
    path = write(tmp_path, "bulk.pem", b"".join(c.pem for c in certificates))
    calls = add_calls(daemon)
    run = cli("import", path)
    assert (run.code, run.out, run.err) == (0, "1201 certificates imported.\n", "")
    # 50 + 100 + 200 + 400 + 451: growing batches (the daemon logs a call after answering it)
    assert eventually(lambda: add_calls(daemon) - calls >= 5) and add_calls(daemon) - calls == 5
    assert {c.der for c in certificates} <= stored_ders(daemon)
    exported = cli("export", "-c", "Bulk")
    assert exported.code == 0
    assert len(formats.read_certificates(exported.out.encode())) == 1_201


def test_progress_bar_on_a_terminal(daemon: Daemon, pki: PKI, tmp_path: Path) -> None:
    certificates = many(pki, "Terminal", 120)
    path = write(tmp_path, "terminal.pem", b"".join(c.pem for c in certificates))
    primary, secondary = pty.openpty()
    environment = {**os.environ, "TRUSTD_SOCKET": str(daemon.socket), "COLUMNS": "120"}
    process = subprocess.Popen(
        [sys.executable, "-m", "trustctl", "import", path],
        stdout=subprocess.PIPE,
        stderr=secondary,
        env=environment,
    )
    os.close(secondary)
    drawn = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if select.select([primary], [], [], 0.5)[0]:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # the terminal closed: the process is gone
                break
            if not chunk:
                break
            drawn += chunk
        elif process.poll() is not None:
            break
    os.close(primary)
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 0
    assert out == b"120 certificates imported.\n"  # stdout stays clean
    assert b"Importing certificates" in drawn
    assert b"41%" in drawn  # after the first batch (50 of 120): the bar moves from the start
    assert b"100%" in drawn
    assert {c.der for c in certificates} <= stored_ders(daemon)


def test_batches_respect_count_and_size() -> None:
    from trustctl.commands.certificates import batches

    ders = [bytes([n]) * 100 for n in range(12)]
    assert [len(b) for b in batches(ders, count=5, size=10_000)] == [5, 5, 2]
    assert [len(b) for b in batches(ders, count=500, size=250)] == [2, 2, 2, 2, 2, 2]
    assert [len(b) for b in batches(ders, count=4, first=1)] == [1, 2, 4, 4, 1]
    assert [len(b) for b in batches([b"x"] * 1201)] == [50, 100, 200, 400, 451]
    assert batches([b"x" * 1000], count=5, size=10) == [[b"x" * 1000]]
    assert [der for batch in batches(ders) for der in batch] == ders
    assert batches([]) == []


def test_progress_helper_is_silent_off_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    from trustctl.progress import progress

    seen: list[int] = []
    with progress(list(range(500)), "Counting") as steps:
        seen.extend(steps)
    assert seen == list(range(500))
    assert capsys.readouterr() == ("", "")


def test_sha1_in_json_is_the_file_order(cli: Cli, pki: PKI, tmp_path: Path) -> None:
    certificates = [pki.root(f"Order {n}") for n in (3, 1, 2)]
    path = write(tmp_path, "order.pem", b"".join(c.pem for c in certificates))
    run = cli("import", path, "--json")
    assert run.code == 0
    reply = json.loads(run.out)
    assert reply["sha1"] == [hashlib.sha1(c.der).hexdigest().upper() for c in certificates]
    assert (reply["imported"], reply["existing"]) == (3, 0)
