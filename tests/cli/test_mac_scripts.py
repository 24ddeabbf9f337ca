"""What Mac administrators' `security` lines need beyond the keychains: import's key and access
flags, default-keychain and list-keychains, errors that say what is wrong, completion.  One
real daemon for the module; commands run as root and as a plain uid (tests/cli/users.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cli.users import PLAIN, Users, users_for
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from pki import DEFAULT_KEYS, PKI, Issued
from security.clients import require_root

BUILD = PKI(DEFAULT_KEYS)
SYSTEM_ROOT = BUILD.root("Scripts System Root")
KEY_NOT_KEPT = "the private key was not imported: trustd stores certificates only"


@pytest.fixture(scope="module")
def users() -> Iterator[Users]:
    require_root()
    yield from users_for(SYSTEM_ROOT)


def identity(leaf: Issued, *chain: Issued, password: bytes) -> bytes:
    return pkcs12.serialize_key_and_certificates(
        b"identity",
        leaf.key,  # type: ignore[arg-type]
        leaf.cert,
        [c.cert for c in chain],
        serialization.BestAvailableEncryption(password),
    )


@pytest.mark.parametrize("uid", [0, PLAIN], ids=["root", "user"])
def test_import_accepts_key_and_access_flags(users: Users, uid: int) -> None:
    """The CI line `security import cert.p12 -k build.keychain -P pw -T /usr/bin/codesign`
    and its relatives: accepted, without effect, and the key is said not to be kept."""
    root = BUILD.root(f"Scripts Signing Root {uid}")
    leaf = BUILD.leaf(root, f"Scripts Developer ID {uid}")
    p12 = users.write(f"signing-{uid}.p12", identity(leaf, root, password=b"pw"))
    run = users.run(
        "import", p12, "-k", "build.keychain", "-P", "pw", "-T", "/usr/bin/codesign",
        "-T", "/usr/bin/security", "-x", "-w", uid=uid,
    )  # fmt: skip
    assert (run.code, run.out) == (0, "2 certificates imported.\n")
    assert run.err == f"trustctl: {p12}: {KEY_NOT_KEPT}\n"
    other = BUILD.root(f"Scripts Plain Cert {uid}")
    cer = users.write(f"plain-{uid}.cer", other.der)
    run = users.run("import", cer, "-k", "build.keychain", "-A", "-a", "Label", "x", uid=uid)
    assert (run.code, run.out, run.err) == (0, "1 certificate imported.\n", "")
    run = users.run("find-certificate", "-a", "-c", "Scripts", "-Z", "build.keychain", uid=uid)
    for certificate in (root, leaf, other):
        assert f"SHA-1 hash: {certificate.sha1.upper()}\n" in run.out
    help_text = users.run("import", "--help", uid=uid).out
    assert "no effect" in help_text and "-T" in help_text
