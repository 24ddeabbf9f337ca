"""Configuration profiles in the profiles/ drop-in directory, end to end through the daemon.

Profiles are built with the test PKI (unsigned XML and binary, signed by a signer trustd trusts,
signed by one it does not, changed after signing); what they make trusted, what is refused and
why, removal and replacement, and the `profile_signers` setting.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli.conftest import trustctl
from cryptography import x509
from cryptography.x509.oid import NameOID
from daemons import Daemon, running_daemon
from mobileconfig import PKCS1, ROOT, payload, profile, sign
from pki import PKI, Issued
from security.clients import NOBODY, as_uid, b64, require_root
from waiting import eventually

NOW = dt.datetime.now(dt.UTC)
SHORT = {"not_before": NOW - dt.timedelta(days=10), "not_after": NOW + dt.timedelta(days=300)}
SETTLE = 10  # seconds a drop-in change may take to apply


def _org_name(cn: str, organization: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


class Org:
    """An organisation's root, an issuing CA sent in a pkcs1 payload, and a TLS leaf."""

    def __init__(self, pki: PKI, name: str) -> None:
        self.root = pki.root(f"{name} Root")
        self.issuing = pki.intermediate(self.root, f"{name} Issuing CA")
        self.leaf = pki.leaf(self.issuing, dns=["intranet.example"], **SHORT)

    def profile(self, identifier: str = "com.example.trust", **options: object) -> bytes:
        payloads = [payload(ROOT, self.root), payload(PKCS1, self.issuing)]
        return profile(identifier, payloads, **options)  # type: ignore[arg-type]


def _result(daemon: Daemon, leaf: Issued) -> str:
    """The verdict for the leaf alone: its issuing CA must come from the store."""
    request = {
        "certificates": [b64(leaf.der)],
        "policies": [{"policy": "ssl", "name": "intranet.example"}],
    }
    return str(daemon.call("Evaluate", **request)["parameters"]["verdict"]["result"])


def _problems(daemon: Daemon) -> list[str]:
    return list(daemon.call("Status")["parameters"]["dropin_problems"])


def _install(daemon: Daemon, name: str, data: bytes) -> Path:
    folder = daemon.dropins / "profiles"
    folder.mkdir(mode=0o755, exist_ok=True)
    staged = folder / f".{name}.tmp"
    staged.write_bytes(data)
    staged.chmod(0o644)
    staged.rename(folder / name)  # whole, as a configuration manager writes it
    return folder / name


def test_an_unsigned_profile_trusts_its_root_and_stores_its_certificates(
    daemon: Daemon, pki: PKI
) -> None:
    org = Org(pki, "Example Org")
    assert _result(daemon, org.leaf) == "recoverableTrustFailure"
    installed = _install(daemon, "org.mobileconfig", org.profile())
    eventually(
        lambda: _result(daemon, org.leaf) == "proceed",
        SETTLE,
        daemon.with_log("the profile's root applies"),
    )
    found = daemon.call("FindCertificates")["parameters"]["certificates"]
    stored = {c["sha1"].upper() for c in found}
    assert {_sha1(org.root), _sha1(org.issuing)} <= stored
    # Removing the file removes exactly what it added.
    installed.unlink()
    eventually(
        lambda: _result(daemon, org.leaf) != "proceed", SETTLE, daemon.with_log("removal undoes it")
    )


def test_a_binary_profile_applies_and_a_newer_one_replaces_it(daemon: Daemon, pki: PKI) -> None:
    first, second = Org(pki, "First Org"), Org(pki, "Second Org")
    _install(daemon, "org.mobileconfig", first.profile(binary=True))
    eventually(
        lambda: _result(daemon, first.leaf) == "proceed",
        SETTLE,
        daemon.with_log("binary profile applies"),
    )
    _install(daemon, "org.mobileconfig", second.profile(binary=True))  # same file, replaced
    eventually(
        lambda: _result(daemon, second.leaf) == "proceed",
        SETTLE,
        daemon.with_log("replacement applies"),
    )
    assert _result(daemon, first.leaf) != "proceed"


def test_signed_profiles_open_and_tampered_ones_are_refused(daemon: Daemon, pki: PKI) -> None:
    trusted_signer = pki.leaf(daemon.root, dns=["profiles.example"], **SHORT)
    stranger = pki.leaf(pki.root("Stranger Root"), dns=["profiles.example"], **SHORT)
    good, other, evil = Org(pki, "Good Org"), Org(pki, "Other Org"), Org(pki, "Evil Org")

    _install(daemon, "good.mobileconfig", sign(good.profile("com.good"), trusted_signer))
    _install(daemon, "other.mobileconfig", sign(other.profile("com.other"), stranger))
    signed = sign(evil.profile("com.evil", name="Harmless CA"), trusted_signer)
    tampered = signed.replace(b"Harmless CA", b"Harmful  CA")
    assert tampered != signed
    evil_file = _install(daemon, "evil.mobileconfig", tampered)

    eventually(
        lambda: _result(daemon, good.leaf) == "proceed",
        SETTLE,
        daemon.with_log("signed profile applies"),
    )
    # Without profile_signers an untrusted signer does not block the profile (it is shown as
    # not verified); a broken signature always does.
    eventually(
        lambda: _result(daemon, other.leaf) == "proceed",
        SETTLE,
        daemon.with_log("unverified profile applies"),
    )
    assert _result(daemon, evil.leaf) != "proceed"
    assert [p for p in _problems(daemon) if p.startswith(str(evil_file))] == [
        f"{evil_file}: signed profile refused: the signature does not hold: verification failure"
    ]


@pytest.fixture
def strict_daemon(pki: PKI) -> Iterator[Daemon]:
    """A daemon that applies only profiles signed by a trusted signer of "Example Org"."""
    with running_daemon(pki.root("System Root"), "--profile-signer", "Example Org") as running:
        yield running


def test_profile_signers_requires_a_trusted_signer_of_the_organisation(
    strict_daemon: Daemon, pki: PKI
) -> None:
    daemon = strict_daemon
    ours = pki.leaf(
        daemon.root, subject=_org_name("Profiles", "Example Org"), dns=["p.example"], **SHORT
    )
    theirs = pki.leaf(
        daemon.root, subject=_org_name("Profiles", "Other Org"), dns=["p.example"], **SHORT
    )
    forged = pki.leaf(
        pki.root("Forger Root"),
        subject=_org_name("Profiles", "Example Org"),
        dns=["p.example"],
        **SHORT,
    )
    orgs = {name: Org(pki, name) for name in ("Signed", "Unsigned", "Theirs", "Forged")}
    files = {
        "Signed": _install(daemon, "a.mobileconfig", sign(orgs["Signed"].profile("a"), ours)),
        "Unsigned": _install(daemon, "b.mobileconfig", orgs["Unsigned"].profile("b")),
        "Theirs": _install(daemon, "c.mobileconfig", sign(orgs["Theirs"].profile("c"), theirs)),
        "Forged": _install(daemon, "d.mobileconfig", sign(orgs["Forged"].profile("d"), forged)),
    }
    eventually(
        lambda: _result(daemon, orgs["Signed"].leaf) == "proceed",
        SETTLE,
        daemon.with_log("signed applies"),
    )
    eventually(lambda: len(_problems(daemon)) == 3, SETTLE, daemon.with_log("the others refused"))
    for name in ("Unsigned", "Theirs", "Forged"):
        assert _result(daemon, orgs[name].leaf) != "proceed", name
    problems = {p.split(": ", 1)[0]: p.split(": ", 1)[1] for p in _problems(daemon)}
    assert problems[str(files["Unsigned"])] == (
        "unsigned; profile_signers requires a signature by Example Org"
    )
    assert problems[str(files["Theirs"])] == (
        "signed by Other Org; profile_signers requires Example Org"
    )
    assert problems[str(files["Forged"])].startswith("its signer is not trusted (")


def _sha1(certificate: Issued) -> str:
    return hashlib.sha1(certificate.der).hexdigest().upper()


def test_trustctl_profiles_install_list_show_replace_remove_and_audit(
    daemon: Daemon, pki: PKI, tmp_path: Path
) -> None:
    signer = pki.leaf(daemon.root, dns=["profiles.example"], **SHORT)
    first, second = Org(pki, "First Org"), Org(pki, "Second Org")
    files = {}
    for name, data in {
        "first": sign(first.profile("com.example.trust", name="Org CA 1"), signer),
        "second": second.profile("com.example.trust", name="Org CA 2", binary=True),
        "broken": sign(first.profile("com.example.other"), signer)[:-50],
    }.items():
        files[name] = tmp_path / f"{name}.mobileconfig"
        files[name].write_bytes(data)

    installed = trustctl(daemon.socket, "profiles", "install", str(files["first"]))
    assert installed.code == 0, installed.err
    assert installed.out.startswith("...profile com.example.trust installed (verified, signed by")
    assert _result(daemon, first.leaf) == "proceed"  # applied before the call returned

    listed = trustctl(daemon.socket, "profiles", "list", "--json")
    assert listed.code == 0, listed.err
    (entry,) = json.loads(listed.out)
    assert entry["identifier"] == "com.example.trust" and entry["verified"] is True
    assert entry["display_name"] == "Org CA 1" and entry["roots"] == [_sha1(first.root)]
    assert sorted(entry["certificates"]) == sorted([_sha1(first.root), _sha1(first.issuing)])
    shown = trustctl(daemon.socket, "profiles", "show", "com.example.trust")
    assert f"root, trusted for ssl and basic: {_sha1(first.root)}" in shown.out
    assert f"certificate: {_sha1(first.issuing)}" in shown.out

    # The same identifier again (unsigned, binary): it replaces the installed one atomically.
    replaced = trustctl(daemon.socket, "profiles", "install", str(files["second"]))
    assert replaced.code == 0 and "(unsigned)" in replaced.out, replaced.err
    assert _result(daemon, second.leaf) == "proceed"
    assert _result(daemon, first.leaf) != "proceed"
    assert len(list((daemon.dropins / "profiles").iterdir())) == 1

    refused = trustctl(daemon.socket, "profiles", "install", str(files["broken"]))
    assert refused.code == 1
    assert "invalid configuration profile: signed profile refused" in refused.err

    removed = trustctl(daemon.socket, "profiles", "remove", "com.example.trust")
    assert removed.code == 0 and removed.out == "...profile com.example.trust removed\n"
    assert _result(daemon, second.leaf) != "proceed"
    missing = trustctl(daemon.socket, "profiles", "remove", "com.example.trust")
    assert missing.code == 1 and "no installed profile com.example.trust" in missing.err

    audit = trustctl(daemon.socket, "audit", "--json")
    operations = [(e["operation"], e["object"]) for e in json.loads(audit.out)]
    assert operations.count(("install-profile", "com.example.trust")) == 2
    assert ("remove-profile", "com.example.trust") in operations


def test_only_administrators_install_profiles(daemon: Daemon, pki: PKI) -> None:
    require_root()
    data = b64(Org(pki, "Org").profile())
    install, listing = as_uid(
        daemon.socket, NOBODY, [("InstallProfile", {"profile": data}), ("ListProfiles", {})]
    )
    assert install["error"] == "io.trustd.Trust.PermissionDenied"
    assert listing["parameters"] == {"profiles": []}
    assert not (daemon.dropins / "profiles").exists()
