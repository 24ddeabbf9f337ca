"""Keychain arguments as on a Mac: System.keychain is the shared store, any other keychain the
caller's own, SystemRootCertificates.keychain the system anchors (read-only); without one, the
search list (own, then shared).  Run as root and as a plain uid against one real daemon."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cli.users import Users, users_for
from pki import DEFAULT_KEYS, PKI
from security.clients import require_root

SYSTEM = "/Library/Keychains/System.keychain"
ROOTS = "/System/Library/Keychains/SystemRootCertificates.keychain"
NOT_FOUND = (
    "trustctl: SecKeychainSearchCopyNext: The specified item could not be found in the keychain.\n"
)

BUILD = PKI(DEFAULT_KEYS)
SYSTEM_ROOT = BUILD.root("Keychains System Root")
OTHER_ANCHORS = [BUILD.root("Keychains Bundle Anchor One"), BUILD.root("Keychains Bundle Two")]


@pytest.fixture(scope="module")
def users() -> Iterator[Users]:
    require_root()
    yield from users_for(SYSTEM_ROOT, *OTHER_ANCHORS)


def keychain_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("keychain: ")]


def login(users: Users, uid: int = 0) -> str:
    home = users.home if uid else users.base / "root-home"
    return f"{home}/Library/Keychains/login.keychain-db"


def test_root_named_keychains_find_and_delete_in_that_store_only(users: Users) -> None:
    both = BUILD.root("Keychains In Both Stores")
    pem = users.write("both.pem", both.pem)
    assert users.run("add-certificates", "-k", SYSTEM, pem).code == 0
    # Duplicates are per store: root's login keychain may hold its own copy.
    run = users.run("add-certificates", "-k", login(users), pem)
    assert (run.code, run.out, run.err) == (0, "", "")
    run = users.run("find-certificate", "-a", "-c", "In Both Stores", "-Z", SYSTEM)
    assert run.code == 0
    assert keychain_lines(run.out) == [f'keychain: "{SYSTEM}"']
    assert run.out.count("SHA-1 hash:") == 1
    run = users.run("find-certificate", "-a", "-c", "In Both Stores")  # the search list
    assert keychain_lines(run.out) == [f'keychain: "{login(users)}"', f'keychain: "{SYSTEM}"']
    # A named keychain: the delete touches that store only.
    run = users.run("delete-certificate", "-Z", both.sha1, "login.keychain")
    assert (run.code, run.out, run.err) == (0, "", "")
    run = users.run("find-certificate", "-a", "-c", "In Both Stores")
    assert keychain_lines(run.out) == [f'keychain: "{SYSTEM}"']
    # No keychain: the first store of the search list that holds it (the shared one now).
    run = users.run("delete-certificate", "-Z", both.sha1)
    assert (run.code, run.out, run.err) == (0, "", "")
    assert users.run("find-certificate", "-c", "In Both Stores").err == NOT_FOUND


def test_a_certificate_in_both_stores_is_not_ambiguous(users: Users) -> None:
    twice = BUILD.root("Keychains Twice")
    pem = users.write("twice.pem", twice.pem)
    assert users.run("add-certificates", "-k", SYSTEM, pem).code == 0
    assert users.run("add-certificates", "-k", "login.keychain", pem).code == 0
    run = users.run("delete-certificate", "-c", "Keychains Twice")
    assert (run.code, run.err) == (0, "")  # root's own copy, first in the search list
    assert keychain_lines(users.run("find-certificate", "-c", "Keychains Twice").out) == [
        f'keychain: "{SYSTEM}"'
    ]
    run = users.run("delete-certificate", "-c", "Keychains Twice", "login.keychain")
    assert (run.code, run.err) == (1, 'Unable to delete certificate matching "Keychains Twice"')


def test_plain_user_keychains(users: Users) -> None:
    shared = BUILD.root("Keychains Shared For Users")
    pem = users.write("shared.pem", shared.pem)
    assert users.run("add-certificates", pem).code == 0  # root's default: System.keychain
    # The user's default keychain is their login keychain, which may hold its own copy.
    run = users.as_user("add-certificates", pem)
    assert (run.code, run.out, run.err) == (0, "", "")
    run = users.as_user("find-certificate", "-a", "-c", "Shared For Users")
    assert keychain_lines(run.out) == [f'keychain: "{login(users, 1)}"', f'keychain: "{SYSTEM}"']
    run = users.as_user("find-certificate", "-a", "-c", "Shared For Users", SYSTEM)
    assert keychain_lines(run.out) == [f'keychain: "{SYSTEM}"']
    # Deleting without a keychain takes the user's copy (first in the search list).
    run = users.as_user("delete-certificate", "-c", "Shared For Users")
    assert (run.code, run.out, run.err) == (0, "", "")
    run = users.as_user("find-certificate", "-c", "Shared For Users", login(users, 1))
    assert (run.code, run.err) == (44, NOT_FOUND)
    # The shared copy is root's to delete.
    run = users.as_user("delete-certificate", "-c", "Shared For Users")
    assert run.code == 1
    assert run.err.startswith("trustctl: SecKeychainItemDelete: ")
    assert users.run("find-certificate", "-c", "Shared For Users", SYSTEM).code == 0


def test_export_follows_the_keychain(users: Users) -> None:
    mine = BUILD.root("Keychains Export Mine")
    assert users.as_user("add-certificates", users.write("mine.pem", mine.pem)).code == 0
    run = users.as_user("export", "-k", "login.keychain", "-t", "certs", "-f", "pemseq")
    assert (run.code, run.out, run.err) == (0, mine.pem.decode(), "")
    run = users.as_user("export", "-k", SYSTEM, "-c", "Export Mine")
    assert run.code == 1
    run = users.as_user("export", "-c", "Export Mine")  # the search list
    assert (run.code, run.out) == (0, mine.pem.decode())


# -- SystemRootCertificates.keychain ------------------------------------------------------------


@pytest.mark.parametrize("uid", [0, 40002], ids=["root", "user"])
def test_system_roots_keychain_lists_the_system_anchors(users: Users, uid: int) -> None:
    anchors = [SYSTEM_ROOT, *OTHER_ANCHORS]
    stored = BUILD.root("Keychains Not A System Anchor")
    assert users.run("add-certificates", users.write("stored.pem", stored.pem)).code == 0
    run = users.run("find-certificate", "-a", "-p", ROOTS, uid=uid)
    assert run.code == 0
    assert sorted(
        block + "-----END CERTIFICATE-----\n"
        for block in run.out.split("-----END CERTIFICATE-----\n")[:-1]
    ) == sorted(a.pem.decode() for a in anchors)
    run = users.run("find-certificate", "-a", "-c", "bundle", ROOTS, uid=uid)
    assert keychain_lines(run.out) == [f'keychain: "{ROOTS}"'] * 2
    out = f"roots-{uid}.pem"
    run = users.run("export", "-k", ROOTS, "-t", "certs", "-f", "pemseq", "-o", out, uid=uid)
    assert (run.code, run.out, run.err) == (0, "", "")
    exported = (users.files / out).read_text()
    assert sorted(a.pem.decode() for a in anchors) == sorted(
        b + "-----END CERTIFICATE-----\n"
        for b in exported.split("-----END CERTIFICATE-----\n")[:-1]
    )
    assert users.run("find-certificate", "-c", "Not A System Anchor", ROOTS, uid=uid).code == 44


@pytest.mark.parametrize("uid", [0, 40002], ids=["root", "user"])
def test_system_roots_keychain_is_read_only(users: Users, uid: int) -> None:
    new = BUILD.root(f"Keychains Read Only {uid}")
    pem = users.write(f"read-only-{uid}.pem", new.pem)
    run = users.run("add-certificates", "-k", ROOTS, pem, uid=uid)
    assert run.code == 1
    assert (
        run.err.splitlines()[0] == "trustctl: SecCertificateAddToKeychain: Write permissions error."
    )
    run = users.run("import", pem, "-k", ROOTS, uid=uid)
    assert run.code == 1
    assert run.err.splitlines()[0] == "trustctl: SecKeychainItemImport: Write permissions error."
    run = users.run("add-trusted-cert", "-k", ROOTS, pem, uid=uid)
    assert run.code == 1
    assert run.err.splitlines()[0] == "SecCertificateAddToKeychain: Write permissions error."
    run = users.run("delete-certificate", "-c", "Keychains System Root", ROOTS, uid=uid)
    assert run.code == 1
    assert (
        run.err.splitlines()[0] == "trustctl: SecKeychainItemDelete: UNIX[Operation not permitted]"
    )
    assert "cannot be changed" in run.err.splitlines()[1]
    assert users.run("find-certificate", "-c", f"Read Only {uid}", uid=uid).code == 44
