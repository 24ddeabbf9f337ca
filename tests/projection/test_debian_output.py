"""The Debian output against the real update-ca-certificates, on a private tree of its own
(the tool's --certsconf, --certsdir, --localcertsdir, --etccertsdir and --hooksdir options), so
no root and no namespace are needed."""

from __future__ import annotations

import os
import shutil
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pki import PKI, Issued

from trustd.core.certificates import parse_certificate
from trustd.core.evaluate import Evaluator
from trustd.core.policy import Policy, PolicyKind
from trustd.core.trust_settings import SettingsResult, TrustSettingsEntry, UsageConstraint
from trustd.projection.debian import DebianLayout, DebianOutput
from trustd.projection.files import OutputFailure
from trustd.projection.model import Projection, project
from trustd.store.system_anchors import SystemAnchors

pytestmark = pytest.mark.skipif(
    shutil.which("update-ca-certificates") is None, reason="ca-certificates is not installed"
)
NOW = datetime(2026, 1, 1, tzinfo=UTC)


class Tree:
    def __init__(self, base: Path) -> None:
        self.certs = base / "share"
        self.local = base / "local"
        self.etc = base / "etc-certs"
        self.hooks = base / "hooks"
        self.conf = base / "ca-certificates.conf"
        self.told = base / "told"
        self.state = base / "state.json"
        for directory in (self.certs / "mozilla", self.local, self.etc, self.hooks):
            directory.mkdir(parents=True)
        hook = self.hooks / "record"
        hook.write_text(f"#!/bin/sh\ncat >> {self.told}\n")
        hook.chmod(0o755)

    def layout(self, command: str = "update-ca-certificates") -> DebianLayout:
        return DebianLayout(
            self.certs,
            self.local,
            self.conf,
            (
                command,
                "--certsconf", str(self.conf),
                "--certsdir", str(self.certs),
                "--localcertsdir", str(self.local),
                "--etccertsdir", str(self.etc),
                "--hooksdir", str(self.hooks),
            ),
        )  # fmt: skip

    @property
    def bundle(self) -> bytes:
        return (self.etc / "ca-certificates.crt").read_bytes()


def ssl_trust(issued: Issued, result: SettingsResult | None = None) -> Projection:
    return build([(issued, result)])


def build(items: list[tuple[Issued, SettingsResult | None]]) -> Projection:
    policy = Policy(PolicyKind.SSL)
    pairs = []
    for issued, result in items:
        cert = parse_certificate(issued.der)
        constraint = UsageConstraint(
            policy_oid=policy.oid, policy_name=policy.apple_name, result=result
        )
        entry = TrustSettingsEntry(cert.sha1.hex(), b"", b"", NOW, (constraint,))
        pairs.append((entry, cert))
    return project(pairs, Evaluator().is_self_signed)


@pytest.fixture
def tree(tmp_path: Path, pki: PKI) -> tuple[Tree, Issued, Issued]:
    tree = Tree(tmp_path)
    kept, other = pki.root(cn="Distribution Kept"), pki.root(cn="Distribution Other")
    (tree.certs / "mozilla" / "Kept.crt").write_bytes(kept.pem)
    (tree.certs / "mozilla" / "Other.crt").write_bytes(other.pem)
    tree.conf.write_text("# selected\nmozilla/Kept.crt\nmozilla/Other.crt\n")
    DebianOutput(tree.state, tree.layout()).apply(Projection())  # nothing yet: no run
    assert not (tree.etc / "ca-certificates.crt").exists()
    return tree, kept, other


def test_trust_deny_and_back(tree: tuple[Tree, Issued, Issued], pki: PKI) -> None:
    tree_, kept, other = tree
    org = pki.root(cn="Org Root")
    output = DebianOutput(tree_.state, tree_.layout())
    assert output.apply(build([(org, None), (other, SettingsResult.DENY)])) is True
    bundle = tree_.bundle
    assert org.pem.strip() in bundle and kept.pem.strip() in bundle
    assert other.pem.strip() not in bundle
    lines = tree_.conf.read_text().splitlines()
    assert "!mozilla/Other.crt" in lines and "mozilla/Kept.crt" in lines
    own = [line for line in lines if line.startswith("trustd/")]
    assert len(own) == 1 and (tree_.certs / own[0]).read_bytes() == org.pem
    # Unchanged projection: nothing written, the tool not run.
    assert output.apply(build([(org, None), (other, SettingsResult.DENY)])) is False

    # The organisation's root is no longer trusted, the deny is gone.
    tree_.told.write_text("")
    assert output.apply(Projection()) is True
    bundle = tree_.bundle
    assert org.pem.strip() not in bundle and other.pem.strip() in bundle
    assert tree_.conf.read_text() == "# selected\nmozilla/Kept.crt\nmozilla/Other.crt\n"
    assert list((tree_.certs / "trustd").iterdir()) == []
    told = tree_.told.read_text().split()
    # The hooks (Java's cacerts among them) were told of the removal and of the restored root.
    assert any(line.startswith("-") and "Org_Root" in line for line in told), told
    assert any(line.startswith("+") and "Other.pem" in line for line in told), told


def test_a_line_the_administrator_deselected_stays_deselected(
    tree: tuple[Tree, Issued, Issued],
) -> None:
    tree_, _, other = tree
    tree_.conf.write_text("mozilla/Kept.crt\n!mozilla/Other.crt\n")
    output = DebianOutput(tree_.state, tree_.layout())
    output.apply(ssl_trust(other, SettingsResult.DENY))
    output.apply(Projection())
    assert "!mozilla/Other.crt" in tree_.conf.read_text().splitlines()


def test_a_denied_local_certificate_is_reported(
    tree: tuple[Tree, Issued, Issued], pki: PKI
) -> None:
    tree_, _, _ = tree
    local = pki.root(cn="Local Root")
    (tree_.local / "local.crt").write_bytes(local.pem)
    output = DebianOutput(tree_.state, tree_.layout())
    output.apply(ssl_trust(local, SettingsResult.DENY))
    assert output.warnings and "local.crt" in output.warnings[0]


def test_a_failing_tool_is_retried_until_it_succeeds(
    tree: tuple[Tree, Issued, Issued], pki: PKI
) -> None:
    tree_, _, _ = tree
    org = pki.root(cn="Org Root")
    with pytest.raises(OutputFailure, match="exited with status 1"):
        DebianOutput(tree_.state, tree_.layout("false")).apply(ssl_trust(org))
    # The sources are written; the next attempt runs the tool although nothing changed since.
    output = DebianOutput(tree_.state, tree_.layout())
    assert output.apply(ssl_trust(org)) is True
    assert org.pem.strip() in tree_.bundle


def test_system_anchors_leave_out_what_only_the_projection_added(
    tree: tuple[Tree, Issued, Issued], pki: PKI
) -> None:
    tree_, kept, _ = tree
    org = pki.root(cn="Org Root")
    output = DebianOutput(tree_.state, tree_.layout())
    # Trusted by the administrator, the organisation's root and a distribution root alike.
    output.apply(build([(org, None), (kept, None)]))
    assert org.pem.strip() in tree_.bundle
    anchors = SystemAnchors(tree_.etc / "ca-certificates.crt", exclude=output.own_additions())
    assert not anchors.contains(parse_certificate(org.der))
    assert anchors.contains(parse_certificate(kept.der))


def test_what_is_written_is_readable_by_everyone_under_the_services_umask(
    tree: tuple[Tree, Issued, Issued], pki: PKI
) -> None:
    tree_, _, _ = tree
    org = pki.root(cn="Org Root")
    previous = os.umask(0o077)  # systemd/trustd.service's UMask=
    try:
        DebianOutput(tree_.state, tree_.layout()).apply(ssl_trust(org))
    finally:
        os.umask(previous)
    own = tree_.certs / "trustd"
    assert stat.S_IMODE(own.stat().st_mode) == 0o755
    assert {stat.S_IMODE(p.stat().st_mode) for p in own.iterdir()} == {0o644}
    assert stat.S_IMODE((tree_.etc / "ca-certificates.crt").stat().st_mode) == 0o644
    assert stat.S_IMODE(tree_.conf.stat().st_mode) == 0o644


def test_a_failing_hook_is_reported(tree: tuple[Tree, Issued, Issued], pki: PKI) -> None:
    tree_, _, _ = tree
    failing = tree_.hooks / "zz-fails"
    failing.write_text("#!/bin/sh\ncat >/dev/null\nexit 3\n")
    failing.chmod(0o755)
    output = DebianOutput(tree_.state, tree_.layout())
    assert output.apply(ssl_trust(pki.root(cn="Org Root"))) is True
    assert any("zz-fails exited with code 3" in warning for warning in output.warnings)
