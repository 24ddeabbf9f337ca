"""What Mac administrators' `security` lines need beyond the keychains: import's key and access
flags, default-keychain and list-keychains, errors that say what is wrong, completion.  One
real daemon for the module; commands run as root and as a plain uid (tests/cli/users.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli.conftest import trustctl
from cli.users import PLAIN, Users, users_for
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from pki import DEFAULT_KEYS, PKI, Issued
from security.clients import require_root

pytestmark = pytest.mark.long(seconds=24)

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


# -- errors: Apple's first line, then the reason and a hint -------------------------------------

KEY_PEM = SYSTEM_ROOT.key.private_bytes(  # type: ignore[union-attr]
    serialization.Encoding.PEM,
    serialization.PrivateFormat.PKCS8,
    serialization.NoEncryption(),
)
BAD_PEM = b"-----BEGIN CERTIFICATE-----\nMIIB!!not base64!!\n-----END CERTIFICATE-----\n"


@pytest.mark.parametrize("uid", [0, PLAIN], ids=["root", "user"])
def test_unreadable_certificate_files_say_why(users: Users, uid: int) -> None:
    missing = str(users.files / "missing.pem")
    garbage = users.write("garbage.pem", b"garbage\n")
    bad = users.write("bad-block.pem", BAD_PEM)
    key = users.write("key.pem", KEY_PEM)
    reasons = {
        missing: "No such file or directory",
        garbage: "not certificate data (DER or PEM certificates, PKCS#7 or PKCS#12)",
        bad: "damaged base64 in a PEM CERTIFICATE block",
        key: "it holds a private key, not a certificate",
    }
    for path, reason in reasons.items():
        for command in ("add-trusted-cert", "remove-trusted-cert"):
            run = users.run(command, path, uid=uid)
            assert (run.code, run.out) == (1, ""), (command, path)
            assert run.err == f"Error reading file {path}\ntrustctl: {path}: {reason}\n"
        run = users.run("verify-cert", "-c", path, uid=uid)
        assert run.err == f"Error reading file {path}\ntrustctl: {path}: {reason}\n"
    run = users.run("add-certificates", garbage, key, uid=uid)
    decode = "trustctl: SecCertificateAddToKeychain: Unable to decode the provided data."
    assert (run.code, run.out) == (1, "")
    assert run.err == (
        f"{decode}\ntrustctl: {garbage}: {reasons[garbage]}\n"
        f"{decode}\ntrustctl: {key}: {reasons[key]}\n"
    )


def test_usage_errors_name_the_bad_value_and_the_choices(users: Users) -> None:
    root = users.write("usage-root.pem", BUILD.root("Scripts Usage Root").pem)
    run = users.run("add-trusted-cert", "-d", "-p", "sll", root)
    assert run.code == 2
    first, usage = run.err.splitlines()[:2]
    assert first == (
        'trustctl: -p "sll" is not valid; use one of: ssl, smime, codeSign, IPSec, basic, '
        "swUpdate, pkgSign, eap, macappstore, appleID, timestamping"
    )
    assert usage.startswith("Usage: trustctl add-trusted-cert ")
    run = users.run("add-trusted-cert", "-r", "trustroot", root)
    assert run.code == 2
    assert run.err.splitlines()[0] == (
        'trustctl: -r "trustroot" is not valid; use one of: trustRoot, trustAsRoot, deny, '
        "unspecified"
    )
    run = users.run("find-certificate", "-Z", "-c")  # the subcommand's usage, not the generic
    assert run.code == 2
    assert run.err.splitlines()[:2] == [
        "trustctl: Option '-c' requires an argument.",
        "Usage: trustctl find-certificate [OPTIONS] [keychain]...",
    ]


def test_intermediate_with_the_default_trust_root_gets_the_hint(users: Users) -> None:
    root = BUILD.root("Scripts Hint Root")
    inter = users.write("hint-int.pem", BUILD.intermediate(root, "Scripts Hint CA").pem)
    run = users.run("add-trusted-cert", "-d", inter)
    assert (run.code, run.out) == (1, "")
    assert run.err.splitlines() == [
        "SecTrustSettingsSetTrustSettings: One or more parameters passed to a function were not"
        " valid.",
        "trustctl: an unconstrained (TrustRoot) setting needs a self-signed certificate",
        "trustctl: hint: the certificate is not self-signed, and trustRoot (the default result)"
        " is for roots; use -r trustAsRoot to trust an intermediate or a leaf as if it were a"
        " root",
    ]
    assert users.run("add-trusted-cert", "-d", "-r", "trustAsRoot", inter).code == 0


def test_socket_permission_error_has_a_hint(users: Users) -> None:
    private = users.base / "private-run"
    private.mkdir(mode=0o700, exist_ok=True)
    socket_path = str(private / "trustd.sock")
    run = users.run("--socket", socket_path, "find-certificate", "-a", uid=PLAIN)
    assert (run.code, run.out) == (1, "")
    first, hint = run.err.splitlines()
    assert first.startswith(f"trustctl: cannot connect to trustd at {socket_path}: ")
    assert "Permission denied" in first
    assert hint.startswith(f"trustctl: hint: uid {PLAIN} may not open {socket_path}")
    assert "--socket" in hint and "TRUSTD_SOCKET" in hint


# -- default-keychain and list-keychains -------------------------------------------------------


def test_default_keychain_and_search_list(users: Users) -> None:
    user_login = f"{users.home}/Library/Keychains/login.keychain-db"
    root_login = f"{users.base}/root-home/Library/Keychains/login.keychain-db"
    system = '    "/Library/Keychains/System.keychain"\n'
    expected = {
        (0, "default-keychain"): system,
        (0, "list-keychains"): f'    "{root_login}"\n{system}',
        (PLAIN, "default-keychain"): f'    "{user_login}"\n',
        (PLAIN, "list-keychains"): f'    "{user_login}"\n{system}',
    }
    for (uid, command), out in expected.items():
        for args in ((command,), (command, "-d", "user")):
            run = users.run(*args, uid=uid)
            assert (run.code, run.out, run.err) == (0, out, ""), (uid, args)
        run = users.run(command, "-d", "system", uid=uid)
        assert (run.code, run.out, run.err) == (0, system, ""), (uid, command)
    assert users.run("list-keychains", "-d", "common").out == ""
    run = users.run("default-keychain", "-d", "dynamic")
    assert (run.code, run.err) == (
        1,
        "trustctl: SecKeychainCopyDomainDefault: A default keychain could not be found.\n",
    )
    run = users.run("list-keychains", "-d", "users")
    assert run.code == 2
    assert run.err.startswith(
        'trustctl: -d "users" is not valid; use one of: user, system, common, dynamic\n'
    )


def test_captured_default_keychain_works_in_later_commands(users: Users) -> None:
    """`KC=$(security default-keychain -d user | xargs)`, then `-k "$KC"`: the same store."""
    mine = BUILD.root("Scripts Captured Keychain")
    captured = users.as_user("default-keychain", "-d", "user").out.strip().strip('"')
    pem = users.write("captured.pem", mine.pem)
    run = users.as_user("add-certificates", "-k", captured, pem)
    assert (run.code, run.err) == (0, "")
    run = users.as_user("find-certificate", "-c", "Captured Keychain", captured)
    assert run.code == 0 and f'keychain: "{captured}"' in run.out
    # Setting is accepted (scripts go on) but changes nothing, and says so.
    listed = users.as_user("list-keychains", "-d", "user").out.split()
    run = users.as_user(
        "list-keychains", "-d", "user", "-s", "build.keychain", *(p.strip('"') for p in listed)
    )
    assert (run.code, run.out) == (0, "")
    assert run.err.startswith("trustctl: note: trustd's keychains are fixed")
    assert users.as_user("list-keychains").out.split() == listed
    roots = "/System/Library/Keychains/SystemRootCertificates.keychain"
    assert users.as_user("default-keychain", "-s", roots).code == 1


# -- verify-cert and find-certificate details --------------------------------------------------


def test_verify_cert_help_verbose_echo_and_json(users: Users) -> None:
    help_lines = users.run("verify-cert", "--help").out.splitlines()
    leaf_is_ca = next(line for line in help_lines if line.strip().startswith("-l "))
    local_only = next(line for line in help_lines if line.strip().startswith("-L "))
    assert "Leaf is a CA" in leaf_is_ca and "network" in local_only
    # security -v echoes the command's full name, then each argument in double quotes.
    run = users.run("-v", "find-cert", "-a", "-c", "No Such Name Anywhere")
    assert run.err.splitlines()[0] == 'find-certificate "-a" "-c" "No Such Name Anywhere"'
    assert run.code == 44
    # --json: upper-case SHA-1 everywhere, and a document on stdout when the command fails.
    inter = BUILD.intermediate(SYSTEM_ROOT, "Scripts Json CA")
    leaf = BUILD.leaf(inter, "scripts.example", dns=["scripts.example"])
    files = [users.write(n, c.pem) for n, c in (("j-leaf.pem", leaf), ("j-int.pem", inter))]
    run = users.run("verify-cert", "--json", "-c", files[0], "-c", files[1])
    assert run.code == 0
    chain = json.loads(run.out)["chain"]
    assert [c["sha1"] for c in chain] == [c.sha1.upper() for c in (leaf, inter, SYSTEM_ROOT)]
    users.run("add-certificates", files[1])
    found = json.loads(users.run("find-certificate", "--json", "-c", "Scripts Json CA").out)
    assert found[0]["sha1"] == inter.sha1.upper()
    missing = str(users.files / "no-such-leaf.pem")
    run = users.run("verify-cert", "--json", "-c", missing)
    assert run.code == 1
    assert json.loads(run.out) == {
        "error": f"Error reading file {missing}\ntrustctl: {missing}: No such file or directory",
        "exit_code": 1,
    }
    run = users.run("find-certificate", "--json", "-c", "No Such Name Anywhere")
    assert (run.code, json.loads(run.out)) == (44, [])


# -- bulk import: all or nothing ----------------------------------------------------------------


def test_bulk_import_over_the_quota_leaves_nothing_and_says_so(users: Users) -> None:
    """A user's own store holds at most 1000 certificates: a file of 1050 fails at its fifth
    batch (50 + 100 + 200 + 400 stored, then 300 more); what the earlier batches stored is
    removed again, and the message says so, with advice."""
    root = BUILD.root("Scripts Bulk Root")
    key = BUILD.new_key()
    leaves = [BUILD.leaf(root, f"Scripts Bulk {n:04d}", key=key) for n in range(1049)]
    path = users.write("bulk.pem", root.pem + b"".join(c.pem for c in leaves))
    run = users.as_user("import", path)
    assert (run.code, run.out) == (1, "")
    assert run.err.splitlines() == [
        "trustctl: SecKeychainItemImport: a user may store at most 1000 certificates of their own",
        f"trustctl: nothing of {path} was stored: the 750 certificates that earlier batches had"
        " stored were removed again",
        "trustctl: hint: your own store is bounded for users who are not administrators; store"
        " fewer certificates, or have an administrator put them in the shared store (sudo"
        " trustctl import FILE -k /Library/Keychains/System.keychain)",
    ]
    assert users.as_user("find-certificate", "-c", "Scripts Bulk", "login.keychain").code == 44
    run = users.run("import", path)  # root: the shared store has no such bound
    assert (run.code, run.out, run.err) == (0, "1050 certificates imported.\n", "")


# -- completion -----------------------------------------------------------------------------------


def complete(shell: str, line: str, home: Path) -> list[str]:
    """What trustctl's completion answers for `line` (the shell scripts' own protocol)."""
    env = {"HOME": str(home), "_TRUSTCTL_COMPLETE": f"complete_{shell}"}
    if shell == "bash":
        words = line.split(" ")
        env |= {"COMP_WORDS": line, "COMP_CWORD": str(len(words) - 1)}
    else:
        env |= {"_TYPER_COMPLETE_ARGS": line}
    if shell == "fish":
        env["_TYPER_COMPLETE_FISH_ACTION"] = "get-args"
    run = trustctl(None, env=env)
    assert run.code == 0, run.err
    return run.out.splitlines()


def test_completion_scripts_for_every_shell(tmp_path: Path) -> None:
    starts = {"bash": "_trustctl_completion() {", "zsh": "#compdef trustctl", "fish": "complete "}
    for shell, start in starts.items():
        run = trustctl(None, "--show-completion", shell)
        assert (run.code, run.err) == (0, "")
        assert run.out.startswith(start), shell
    run = trustctl(None, "--install-completion", "bash", env={"HOME": str(tmp_path)})
    assert run.code == 0, run.err
    assert (tmp_path / ".bash_completions" / "trustctl.sh").read_text().startswith(starts["bash"])
    run = trustctl(None, "--show-completion", "tcsh")
    assert run.code == 2
    assert run.err == (
        'trustctl: --show-completion "tcsh": use one of bash, zsh, fish, powershell, pwsh\n'
    )


def test_completion_of_option_values(tmp_path: Path) -> None:
    assert complete("bash", "trustctl add-trusted-cert -r trust", tmp_path) == [
        "trustRoot",
        "trustAsRoot",
    ]
    assert complete("bash", "trustctl add-trusted-cert -e ", tmp_path)[:2] == [
        "certExpired",
        "hostnameMismatch",
    ]
    assert "SignCert" in " ".join(complete("zsh", "trustctl add-trusted-cert -u ", tmp_path))
    zsh = " ".join(complete("zsh", "trustctl add-trusted-cert -p s", tmp_path))
    assert '"ssl":"TLS"' in zsh and '"smime"' in zsh and "codeSign" not in zsh
    fish = complete("fish", "trustctl find-certificate -a ", tmp_path)
    assert f"{tmp_path}/Library/Keychains/login.keychain-db\tyour own store" in fish
    assert "/Library/Keychains/System.keychain\tthe shared store" in fish
    assert complete("bash", "trustctl import x.p12 -k /Library/Keychains/Sys", tmp_path) == [
        "/Library/Keychains/System.keychain"
    ]
    assert complete("bash", "trustctl verify-cert -R o", tmp_path) == ["ocsp", "offline", "online"]
    assert complete("bash", "trustctl list-keychains -d s", tmp_path) == ["system"]
