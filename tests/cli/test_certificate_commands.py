"""trustctl's certificate commands against a real daemon: `security`'s flags, texts, exit codes.

add-certificates, find-certificate and delete-certificate (reference section 1.8).  Every
command runs the real CLI in a subprocess (tests/cli/conftest.py); the tests run as root, as the
store's certificate calls need.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from cli.conftest import Run
from cryptography import x509
from daemons import Daemon, daemon_per_module
from pki import PKI, Issued

from trustctl.commands.certificates import blob_text
from trustd.client import Client
from trustd.client.errors import NoTrustSettings

daemon = daemon_per_module  # one daemon for the module: every test's certificates are its own


Cli = Callable[..., Run]

NOT_FOUND = (
    "trustctl: SecKeychainSearchCopyNext: The specified item could not be found in the keychain.\n"
)


def write(directory: Path, name: str, data: bytes) -> str:
    path = directory / name
    path.write_bytes(data)
    return str(path)


def add(cli: Cli, tmp_path: Path, *certificates: Issued) -> None:
    files = [write(tmp_path, f"add-{c.sha1}.pem", c.pem) for c in certificates]
    run = cli("add-certificates", *files)
    assert (run.code, run.out, run.err) == (0, "", "")


def stored_sha1s(daemon: Daemon) -> set[str]:
    with Client(daemon.socket) as client:
        return {stored.sha1.lower() for stored in client.find_certificates()}


def trusted_sha1s(daemon: Daemon, domain: str) -> set[str]:
    with Client(daemon.socket) as client:
        try:
            return {entry.sha1.lower() for entry in client.copy_trust_settings(domain)}
        except NoTrustSettings:
            return set()


# -- add-certificates ---------------------------------------------------------------------------


def test_add_pem_der_and_multi_block_files(
    cli: Cli, daemon: Daemon, pki: PKI, tmp_path: Path
) -> None:
    root = pki.root("Add Root")
    first, second = pki.leaf(root, "Add One"), pki.leaf(root, "Add Two")
    der = write(tmp_path, "root.der", root.der)
    both = write(tmp_path, "both.pem", b"junk before\n" + first.pem + second.pem)
    run = cli("add-certificates", der, both)
    assert (run.code, run.out, run.err) == (0, "", "")
    assert {root.sha1, first.sha1, second.sha1} <= stored_sha1s(daemon)


def test_add_duplicate_reports_and_continues(
    cli: Cli, daemon: Daemon, pki: PKI, tmp_path: Path
) -> None:
    old, new = pki.root("Dup Old"), pki.root("Dup New")
    add(cli, tmp_path, old)
    again, fresh = write(tmp_path, "again.pem", old.pem), write(tmp_path, "new.pem", new.pem)
    run = cli("add-certificates", again, fresh)
    assert (run.code, run.out) == (1, "")
    assert run.err == f"trustctl: {again}: already in default keychain\n"
    assert new.sha1 in stored_sha1s(daemon)
    system = "/Library/Keychains/System.keychain"
    run = cli("add-certificates", "-k", system, again)
    assert (run.code, run.err) == (1, f"trustctl: {again}: already in {system}\n")
    # Duplicates are per store: root's login keychain may hold its own copy.
    assert cli("add-certificates", "-k", "/tmp/my.keychain", again).code == 0


def test_add_unreadable_and_undecodable_files(
    cli: Cli, daemon: Daemon, pki: PKI, tmp_path: Path
) -> None:
    good = pki.root("Still Added")
    missing = str(tmp_path / "missing.pem")
    garbage = write(tmp_path, "garbage.pem", b"not a certificate")
    run = cli("add-certificates", missing, garbage, write(tmp_path, "good.pem", good.pem))
    assert (run.code, run.out) == (1, "")
    assert run.err == (
        f"Error reading file {missing}\n"
        f"trustctl: {missing}: No such file or directory\n"
        "trustctl: SecCertificateAddToKeychain: Unable to decode the provided data.\n"
        f"trustctl: {garbage}: not certificate data (DER or PEM certificates, PKCS#7 or PKCS#12)\n"
    )
    assert good.sha1 in stored_sha1s(daemon)


def test_add_without_files_is_a_usage_error(cli: Cli) -> None:
    run = cli("add-certificates")
    assert run.code == 2
    assert "Usage: trustctl add-certificates" in run.err


# -- find-certificate ---------------------------------------------------------------------------


def test_find_not_found_exits_44(cli: Cli) -> None:
    run = cli("find-certificate", "-c", "no such certificate anywhere")
    assert (run.code, run.out, run.err) == (44, "", NOT_FOUND)
    run = cli("find-certificate", "-e", "nobody@nowhere.example")
    assert (run.code, run.err) == (44, NOT_FOUND)


def test_find_attribute_dump(cli: Cli, pki: PKI, tmp_path: Path) -> None:
    root = pki.root("Find Dump CA", serial=0x1234)
    add(cli, tmp_path, root)
    run = cli("find-certificate", "-c", "fIND dump")  # case-insensitive substring
    assert (run.code, run.err) == (0, "")
    lines = run.out.splitlines()
    assert lines[:4] == [
        'keychain: "/Library/Keychains/System.keychain"',
        "version: 512",
        "class: 0x80001000",
        "attributes:",
    ]
    assert '    "alis"<blob>=<NULL>' in lines
    assert '    "cenc"<uint32>=0x00000003' in lines
    assert '    "ctyp"<uint32>=0x00000001' in lines
    assert '    "labl"<blob>="Find Dump CA"' in lines
    assert '    "snbr"<blob>=0x1234  "\\0224"' in lines
    subject = root.cert.subject.public_bytes()
    assert f'    "subj"<blob>=0x{subject.hex().upper()}  "' in "\n".join(lines)
    ski = root.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert any(line.startswith(f'    "skid"<blob>=0x{ski.hex().upper()}') for line in lines)
    names = [line.split('"')[1] for line in lines[4:]]
    assert names == ["alis", "cenc", "ctyp", "hpky", "issu", "labl", "skid", "snbr", "subj"]
    assert "BEGIN CERTIFICATE" not in run.out


def test_blobs_print_like_security() -> None:
    assert blob_text(b"Plain Label") == '"Plain Label"'
    assert blob_text(b"with nul\0") == '"with nul"'
    assert blob_text(b"0\x81\x9e1\x0b") == '0x30819E310B  "0\\201\\2361\\013"'


def test_find_hashes_emails_and_pem(cli: Cli, pki: PKI, tmp_path: Path) -> None:
    root = pki.root("Mail CA")
    leaf = pki.leaf(root, "Mail Leaf", emails=["a@mail.example", "b@mail.example"])
    add(cli, tmp_path, leaf)
    run = cli("find-certificate", "-e", "b@mail.example", "-Z", "-m", "-p")
    assert (run.code, run.err) == (0, "")
    assert run.out == (
        f"SHA-256 hash: {leaf.sha256.upper()}\n"
        f"SHA-1 hash: {leaf.sha1.upper()}\n"
        "email addresses: a@mail.example, b@mail.example\n" + leaf.pem.decode()
    )
    assert all(len(line) <= 64 for line in run.out.splitlines()[3:])
    dump = cli("find-certificate", "-c", "Mail Leaf", "-m").out.splitlines()
    assert dump[-1] == "email addresses: a@mail.example, b@mail.example"
    assert '    "alis"<blob>="a@mail.example"' in dump


def test_find_first_or_all(cli: Cli, pki: PKI, tmp_path: Path) -> None:
    one, two = pki.root("Findall One"), pki.root("Findall Two")
    add(cli, tmp_path, one, two)
    first = cli("find-certificate", "-c", "findall", "-Z")
    assert first.code == 0
    assert first.out.count("SHA-1 hash:") == 1
    every = cli(
        "find-certificate", "-a", "-c", "findall", "-Z", "-p", "/Library/Keychains/System.keychain"
    )
    assert every.code == 0
    assert f"SHA-1 hash: {one.sha1.upper()}\n" in every.out
    assert f"SHA-1 hash: {two.sha1.upper()}\n" in every.out
    assert every.out.count("-----END CERTIFICATE-----") == 2


def test_find_json(cli: Cli, pki: PKI, tmp_path: Path) -> None:
    root = pki.root("Json CA")
    add(cli, tmp_path, root)
    run = cli("find-certificate", "-a", "-c", "json ca", "--json")
    assert (run.code, run.err) == (0, "")
    [match] = json.loads(run.out)
    assert match["sha1"] == root.sha1.upper()
    assert match["sha256"] == root.sha256.upper()
    assert match["subject"] == "Json CA"
    assert match["emails"] == []
    assert match["pem"] == root.pem.decode()
    assert match["keychain"] == "/Library/Keychains/System.keychain"


# -- delete-certificate -------------------------------------------------------------------------


def test_delete_by_sha1_and_sha256(cli: Cli, daemon: Daemon, pki: PKI, tmp_path: Path) -> None:
    one, two = pki.root("Delete By Sha1"), pki.root("Delete By Sha256")
    add(cli, tmp_path, one, two)
    run = cli("delete-certificate", "-Z", one.sha1.upper())
    assert (run.code, run.out, run.err) == (0, "", "")
    run = cli("delete-certificate", "-Z", two.sha256, "/Library/Keychains/System.keychain")
    assert (run.code, run.out, run.err) == (0, "", "")
    assert not {one.sha1, two.sha1} & stored_sha1s(daemon)
    assert cli("find-certificate", "-c", "Delete By").code == 44


def test_delete_by_name_prefers_exact_match(
    cli: Cli, daemon: Daemon, pki: PKI, tmp_path: Path
) -> None:
    short, longer = pki.root("Gamma"), pki.root("Gamma Two")
    add(cli, tmp_path, short, longer)
    run = cli("delete-certificate", "-c", "gamma")
    assert (run.code, run.err) == (0, "")
    remaining = stored_sha1s(daemon)
    assert short.sha1 not in remaining
    assert longer.sha1 in remaining
    assert cli("delete-certificate", "-c", "gamma").code == 0  # now a unique substring
    assert longer.sha1 not in stored_sha1s(daemon)


def test_delete_ambiguous_none_and_usage(
    cli: Cli, daemon: Daemon, pki: PKI, tmp_path: Path
) -> None:
    one, two = pki.root("Beta One"), pki.root("Beta Two")
    add(cli, tmp_path, one, two)
    run = cli("delete-certificate", "-c", "beta")
    assert (run.code, run.out) == (1, "")
    assert run.err == 'trustctl: "beta" is ambiguous, matches more than one certificate\n'
    assert {one.sha1, two.sha1} <= stored_sha1s(daemon)
    run = cli("delete-certificate", "-c", "no such name")
    assert (run.code, run.out, run.err) == (
        1,
        "",
        'Unable to delete certificate matching "no such name"',
    )
    missing = hashlib.sha1(b"nothing").hexdigest()
    run = cli("delete-certificate", "-Z", missing)
    assert (run.code, run.err) == (1, f'Unable to delete certificate matching "{missing}"')
    run = cli("delete-certificate", "-Z", "ABCD")
    assert (run.code, run.err) == (1, 'Unable to delete certificate matching "ABCD"')
    run = cli("delete-certificate")
    assert run.code == 2
    assert "Usage: trustctl delete-certificate" in run.err


@pytest.mark.skipif(os.geteuid() != 0, reason="admin trust settings need root")
def test_delete_with_trust_settings(cli: Cli, daemon: Daemon, pki: PKI, tmp_path: Path) -> None:
    root = pki.root("Trusted Then Deleted")
    untrusted = pki.root("Deleted Without Settings")
    add(cli, tmp_path, untrusted)
    with Client(daemon.socket) as client:
        client.set_trust_settings("admin", root.der)
        client.set_trust_settings("user", root.der)
    assert root.sha1 in trusted_sha1s(daemon, "admin") & trusted_sha1s(daemon, "user")
    run = cli("delete-certificate", "-t", "-c", "Trusted Then Deleted")
    assert (run.code, run.out, run.err) == (0, "", "")
    assert root.sha1 not in trusted_sha1s(daemon, "admin") | trusted_sha1s(daemon, "user")
    assert root.sha1 not in stored_sha1s(daemon)
    run = cli("delete-certificate", "-t", "-Z", untrusted.sha1)  # no settings: ignored
    assert (run.code, run.out, run.err) == (0, "", "")
    assert untrusted.sha1 not in stored_sha1s(daemon)
