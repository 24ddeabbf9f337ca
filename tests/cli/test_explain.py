"""`trustctl verify-cert --explain`: every path tried, as a tree, for each of TN2232's failures.

Each test runs the real CLI against a real daemon (its system anchor is `daemon.root`, "System
Root") and checks that the explanation names the certificate that fails, the Apple check it
fails and the hint of what to do about it.  Revocation uses a real HTTP server serving a CRL,
exceptions a real `openssl s_server` (tests/net fixtures).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

from cli.conftest import Run, trustctl
from daemons import Daemon, daemon_per_module
from net.conftest import TLSServerFactory, Web, tls_server, web
from pki import PKI, Issued, aia, crl_distribution

daemon = daemon_per_module  # one daemon for the module: every test's certificates are its own


__all__ = ["tls_server", "web"]  # fixtures used here

NOW = dt.datetime.now(dt.UTC)
START, END = NOW - dt.timedelta(days=10), NOW + dt.timedelta(days=300)  # Apple's TLS limits
HOST = "www.example.com"


def explain(daemon: Daemon, *args: str) -> Run:
    return trustctl(daemon.socket, "verify-cert", "--explain", *args)


def write(directory: Path, name: str, issued: Issued) -> str:
    path = directory / f"{name}.pem"
    path.write_bytes(issued.pem)
    return str(path)


def tree_of(out: str) -> list[str]:
    """The explanation's lines, from its heading on, without the tree's drawing."""
    lines = out.splitlines()
    start = lines.index("Paths tried (leaf first; every candidate issuer, how each path ended)")
    return [line.lstrip("│├└─ ") for line in lines[start + 1 :]]


def failure_and_hint(tree: list[str], check: str, subject: str, position: int) -> str:
    """The failure line naming `subject` and `check`, and the hint under it."""
    wanted = f"✗ [{check}] “{subject}” (position {position}): "
    found = [index for index, line in enumerate(tree) if line.startswith(wanted)]
    assert found, f"no {wanted!r} in:\n" + "\n".join(tree)
    hint = tree[found[0] + 1]
    assert hint.startswith("hint: "), hint
    return hint


def ssl_args(*files: str, host: str = HOST) -> list[str]:
    return [arg for path in files for arg in ("-c", path)] + ["-p", "ssl", "-n", host]


def issuing(daemon: Daemon, pki: PKI, name: str = "Example CA", **options: object) -> Issued:
    return pki.intermediate(daemon.root, name, **options)  # type: ignore[arg-type]


def server_leaf(pki: PKI, issuer: Issued | None, **options: object) -> Issued:
    values: dict[str, object] = {"dns": [HOST], "not_before": START, "not_after": END}
    values.update(options)
    return pki.leaf(issuer, **values)  # type: ignore[arg-type]


# -- TN2232's failure kinds --------------------------------------------------------------------


def test_missing_intermediate_then_fetched_by_aia_then_stored(
    daemon: Daemon, pki: PKI, web: Web, tmp_path: Path
) -> None:
    ica = issuing(daemon, pki, "Lost Issuing CA")
    leaf = write(tmp_path, "leaf", server_leaf(pki, ica))
    done = explain(daemon, *ssl_args(leaf))
    assert (done.code, done.err) == (1, "Cert Verify Result: CSSMERR_TP_NOT_TRUSTED\n")
    tree = tree_of(done.out)
    assert tree[0].startswith(f"{HOST}  [the leaf, given with -c; SHA-1 ")
    assert "✗ no issuer found: trustd knows no certificate named “CN=Lost Issuing CA”" in tree
    assert "path refused: recoverableTrustFailure (the path chosen)" in tree
    hint = failure_and_hint(tree, "MissingIntermediate", HOST, 0)
    assert "add the missing intermediate (trustctl add-certificates FILE)" in hint
    assert tree[-1] == f"Result: recoverableTrustFailure: “{HOST}” certificate is not trusted"

    # With an AIA location the daemon fetches it: the tree says where it came from.
    url = web.serve("/ica.der", ica.der)
    fetchable = write(tmp_path, "aia", server_leaf(pki, ica, extra_extensions=[aia([url])]))
    fetched = explain(daemon, *ssl_args(fetchable))
    assert fetched.code == 0, fetched.err
    tree = tree_of(fetched.out)
    assert any(
        line.startswith("Lost Issuing CA  [fetched through AIA (caIssuers)") for line in tree
    )
    assert "✓ anchor: a system anchor (the operating system's CA bundle)" in tree
    assert "path trusted: unspecified (the path chosen)" in tree

    # Once an administrator stores it, it comes from the intermediates store.
    assert trustctl(daemon.socket, "add-certificates", write(tmp_path, "ica", ica)).code == 0
    stored = tree_of(explain(daemon, *ssl_args(leaf)).out)
    assert any(
        line.startswith("Lost Issuing CA  [from trustd's intermediates store") for line in stored
    )


def test_expired_leaf(daemon: Daemon, pki: PKI, tmp_path: Path) -> None:
    ica = issuing(daemon, pki)
    old = server_leaf(
        pki, ica, not_before=NOW - dt.timedelta(days=200), not_after=NOW - dt.timedelta(days=2)
    )
    done = explain(daemon, *ssl_args(write(tmp_path, "old", old), write(tmp_path, "ica", ica)))
    assert (done.code, done.err) == (1, "Cert Verify Result: CSSMERR_TP_CERT_EXPIRED\n")
    tree = tree_of(done.out)
    assert tree[1].startswith("Example CA  [given with -c; SHA-1 ")
    assert tree[2].startswith("System Root  [from the system CA bundle; SHA-1 ")
    assert "✓ anchor: a system anchor (the operating system's CA bundle)" in tree
    hint = failure_and_hint(tree, "TemporalValidity", HOST, 0)
    assert "renew it on the server" in hint and "exceptions add HOST:PORT" in hint
    assert "Certificate is not temporally valid (expired)" in tree[tree.index(hint) - 1]


def test_self_signed_server(daemon: Daemon, pki: PKI, tmp_path: Path) -> None:
    alone = write(tmp_path, "alone", server_leaf(pki, None, cn="self.example"))
    done = explain(daemon, *ssl_args(alone))
    assert (done.code, done.err) == (1, "Cert Verify Result: CSSMERR_TP_NOT_TRUSTED\n")
    tree = tree_of(done.out)
    assert "✗ self-signed, and not an anchor: the path ends at an untrusted root" in tree
    hint = failure_and_hint(tree, "AnchorTrusted", "self.example", 0)
    assert "trust that one certificate (-p ssl -s HOST)" in hint

    # Trusted for this host only, as the hint says: the leaf is its own anchor.
    assert trustctl(daemon.socket, "add-trusted-cert", "-p", "ssl", "-s", HOST, alone).code == 0
    trusted = explain(daemon, *ssl_args(alone))
    assert trusted.code == 0, trusted.err
    tree = tree_of(trusted.out)
    assert (
        "your (user-domain) trust settings: usage constraint 0 matches: trusted as a root" in tree
    )
    assert "✓ anchor: trusted as a root by your trust settings" in tree
    assert "path trusted: proceed (the path chosen)" in tree


def test_untrusted_root(daemon: Daemon, pki: PKI, tmp_path: Path) -> None:
    private = pki.root("Private Root")
    ica = pki.intermediate(private, "Private Issuing CA")
    files = [
        write(tmp_path, n, c)
        for n, c in (("leaf", server_leaf(pki, ica)), ("ica", ica), ("root", private))
    ]
    done = explain(daemon, *ssl_args(*files))
    assert (done.code, done.err) == (1, "Cert Verify Result: CSSMERR_TP_NOT_TRUSTED\n")
    tree = tree_of(done.out)
    assert [line.split("  [")[0] for line in tree[:3]] == [
        HOST,
        "Private Issuing CA",
        "Private Root",
    ]
    hint = failure_and_hint(tree, "AnchorTrusted", "Private Root", 2)
    assert "trust it for this policy only (trustctl add-trusted-cert -p ssl ROOT.pem" in hint


def test_hostname_mismatch_with_verbose(daemon: Daemon, pki: PKI, tmp_path: Path) -> None:
    ica = issuing(daemon, pki)
    files = (write(tmp_path, "leaf", server_leaf(pki, ica)), write(tmp_path, "ica", ica))
    done = explain(daemon, "-v", *ssl_args(*files, host="other.example.com"))
    assert (done.code, done.err.splitlines()[0]) == (1, "Cert Verify Result: Host name mismatch")
    # -v's own sections come first; the explanation follows them.
    assert done.out.index("Certificate errors") < done.out.index("Paths tried")
    tree = tree_of(done.out)
    hint = failure_and_hint(tree, "SSLHostname", HOST, 0)
    assert "-e hostnameMismatch" in hint
    failure = tree[tree.index(hint) - 1]
    assert failure.endswith(
        "SSL hostname does not match name(s) in certificate "
        "(asked for “other.example.com”, a name the certificate does not carry)"
    )


def test_denied_intermediate_and_the_cross_signed_way_around(
    daemon: Daemon, pki: PKI, tmp_path: Path
) -> None:
    ica = issuing(daemon, pki)
    leaf = server_leaf(pki, ica)
    files = [write(tmp_path, "leaf", leaf), write(tmp_path, "ica", ica)]
    denied = trustctl(daemon.socket, "add-trusted-cert", "-d", "-r", "deny", files[1])
    assert denied.code == 0, denied.err
    done = explain(daemon, *ssl_args(*files))
    assert (done.code, done.err) == (1, "SecTrustEvaluate result: kSecTrustResultDeny\n")
    tree = tree_of(done.out)
    assert "admin-domain trust settings: usage constraint 0 matches: Deny" in tree
    assert (
        "✗ denied by admin-domain trust settings (usage constraint 0): the path may not end here"
        in tree
    )
    hint = failure_and_hint(tree, "UsageConstraints", "Example CA", 1)
    assert "remove the setting (trustctl remove-trusted-cert [-d] CERT.pem)" in hint

    # Cross-signed by a root the admin trusts: both paths are shown, the second one chosen.
    cross_root = pki.root("Cross Root")
    cross = pki.cross_sign(ica, cross_root)
    assert (
        trustctl(daemon.socket, "add-trusted-cert", "-d", write(tmp_path, "x", cross_root)).code
        == 0
    )
    both = explain(daemon, *ssl_args(*files, write(tmp_path, "cross", cross)))
    assert both.code == 0, both.err
    tree = tree_of(both.out)
    assert "path refused: deny" in tree
    assert "✓ anchor: trusted as a root by the admin domain's trust settings" in tree
    assert "path trusted: proceed (the path chosen)" in tree
    chosen = tree.index("path trusted: proceed (the path chosen)")
    assert tree.index("path refused: deny") < chosen
    assert any(line.startswith("Cross Root  [has admin trust settings") for line in tree[:chosen])

    # --json carries the same tree for tools.
    verdict = json.loads(explain(daemon, "--json", *ssl_args(*files)).out)
    (path,) = verdict["explanation"]["tree"]["children"]
    (failure,) = path["end"]["failures"]
    assert (path["subject"], path["end"]["outcome"], path["end"]["chosen"]) == (
        "Example CA",
        "denied",
        True,
    )
    assert failure["certificate"] == ica.sha1.upper() and failure["check"] == "UsageConstraints"
    assert "remove-trusted-cert" in failure["hint"]
    assert path["setting"] == {
        "domain": "admin",
        "constraint_index": 0,
        "effect": "deny",
        "text": "admin-domain trust settings: usage constraint 0 matches: Deny",
    }


def test_revoked_by_crl(daemon: Daemon, pki: PKI, web: Web, tmp_path: Path) -> None:
    ica = issuing(daemon, pki)
    url = web.url("/ica.crl")
    revoked = server_leaf(pki, ica, extra_extensions=[crl_distribution(url)])
    fresh = {"this_update": NOW - dt.timedelta(hours=1), "next_update": NOW + dt.timedelta(days=1)}
    web.serve("/ica.crl", pki.crl(ica, [revoked], **fresh).der)  # type: ignore[arg-type]
    files = (write(tmp_path, "revoked", revoked), write(tmp_path, "ica", ica))
    done = explain(daemon, "-R", "crl", *ssl_args(*files))
    assert (done.code, done.err.splitlines()[-1]) == (
        1,
        "Cert Verify Result: CSSMERR_TP_CERT_REVOKED",
    )
    tree = tree_of(done.out)
    assert "path refused: fatalTrustFailure (the path chosen)" in tree
    hint = failure_and_hint(tree, "Revocation", HOST, 0)
    assert "the issuer revoked this certificate" in hint and "nothing" in hint
    assert tree[tree.index(hint) - 1].endswith("Certificate is revoked (listed on CRL)")


# -- exceptions, colours -----------------------------------------------------------------------


def test_exceptions_stored_for_the_host_show_what_they_accept(
    daemon: Daemon, pki: PKI, tls_server: TLSServerFactory
) -> None:
    ica = issuing(daemon, pki)
    expired = server_leaf(
        pki,
        ica,
        dns=["localhost"],
        not_before=NOW - dt.timedelta(days=100),
        not_after=NOW - dt.timedelta(days=1),
    )
    server = tls_server(expired, [ica])
    before = tree_of(explain(daemon, server.target).out)
    assert before[0].startswith("localhost  [the leaf, sent by the server; SHA-1 ")
    assert "Exceptions: none stored for localhost" in before
    assert trustctl(daemon.socket, "exceptions", "add", server.target).code == 0
    done = explain(daemon, server.target)
    assert done.code == 0, done.err
    tree = tree_of(done.out)
    assert any(
        line.startswith("✓ [TemporalValidity] “localhost” (position 0): ")
        and line.endswith(": accepted by an exception")
        for line in tree
    )
    assert "Exceptions stored for localhost: applied, accepting TemporalValidity" in tree
    assert "path trusted: proceed (the path chosen)" in tree


def _on_a_terminal(daemon: Daemon, *args: str, env: dict[str, str]) -> str:
    """Run trustctl with its stdout on a pseudo-terminal; what it wrote there."""
    leader, follower = pty.openpty()
    environment = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TERM")}
    environment.update(TRUSTD_SOCKET=str(daemon.socket), TERM="xterm", **env)
    with subprocess.Popen(
        [sys.executable, "-m", "trustctl", *args],
        stdout=follower,
        stderr=subprocess.DEVNULL,
        env=environment,
    ) as process:
        os.close(follower)
        output = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the writer is gone
                break
            if not chunk:
                break
            output += chunk
        process.wait(timeout=60)
    os.close(leader)
    return output.decode()


def test_colours_only_on_a_terminal_and_never_with_no_color(
    daemon: Daemon, pki: PKI, tmp_path: Path
) -> None:
    alone = write(tmp_path, "alone", pki.root("Lonely Root"))
    args = ("verify-cert", "--explain", "-c", alone)
    coloured = _on_a_terminal(daemon, *args, env={})
    assert "\x1b[31m✗ [AnchorTrusted] “Lonely Root” (position 0)" in coloured
    assert "\x1b[33m  hint: " in coloured
    plain = _on_a_terminal(daemon, *args, env={"NO_COLOR": "1"})
    assert "✗ [AnchorTrusted] “Lonely Root” (position 0)" in plain and "\x1b[" not in plain
    piped = trustctl(daemon.socket, *args)
    assert "✗ [AnchorTrusted]" in piped.out and "\x1b[" not in piped.out


# -- the rendering itself, on a recorded search no daemon would easily produce ------------------


def _attempt(depth: int, name: str, outcome: str, detail: str = "") -> dict[str, object]:
    return {
        "depth": depth,
        "certificate": name.upper().ljust(40, "0"),
        "subject": name,
        "origin": "request",
        "outcome": outcome,
        "detail": detail,
    }


def test_a_budget_run_out_on_a_candidate_is_shown_where_it_happened() -> None:
    from trustctl.explain import Palette, explanation_lines, explanation_tree
    from trustd.client.models import EvaluationResult

    budget = "BudgetExhausted"
    result = EvaluationResult.from_wire(
        {
            "result": "fatalTrustFailure",
            "result_code": 6,
            "trusted": False,
            "message": "“leaf” certificate is not trusted",
            "chain": [],
            "failures": [{"index": 0, "check": budget, "severity": "fatal", "detail": ""}],
            "exceptions": "",
            "details": [[budget]],
            "trust_settings": [],
            "exceptions_applied": False,
            "attempts": [
                _attempt(1, "mesh a", "extended"),
                _attempt(2, "mesh b", "loop"),
                _attempt(2, "mesh c", "budget", "signatures budget exhausted"),
            ],
        }
    )
    tree = explanation_tree(result, "ab" * 20, "leaf", [])
    (mesh_a,) = tree.children
    assert [(c.subject, c.considered) for c in mesh_a.children] == [
        ("mesh b", "loop"),
        ("mesh c", None),
    ]
    lines = explanation_lines(result, tree, palette=Palette(enabled=False))
    assert lines[2:] == [
        "leaf  [the leaf, from the request; SHA-1 ABABABAB]",
        "└── mesh a  [from the request; SHA-1 MESH A00]",
        "    ├── mesh b  [from the request; SHA-1 MESH B00]",
        "    │      ✗ already on this path: skipped (a loop)",
        "    └── mesh c  [from the request; SHA-1 MESH C00]",
        "           ✗ gave up here: signatures budget exhausted [BudgetExhausted]",
        "             hint: path building gave up on a pathological set of certificates: "
        "the server should send only its own chain",
        "---",
        "Exceptions: none offered",
        "Result: fatalTrustFailure: “leaf” certificate is not trusted",
    ]


def test_palette_follows_the_terminal_and_no_color() -> None:
    from trustctl.explain import Palette

    class Terminal:
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    assert Palette.for_stream(terminal, {}).enabled  # type: ignore[arg-type]
    assert not Palette.for_stream(terminal, {"NO_COLOR": "1"}).enabled  # type: ignore[arg-type]
    assert not Palette.for_stream(terminal, {"TERM": "dumb"}).enabled  # type: ignore[arg-type]
    assert Palette(enabled=True).bad("x") == "\x1b[31mx\x1b[0m"
    assert Palette(enabled=False).bad("x") == "x"


def test_a_root_the_server_does_not_send_and_a_root_given_with_c(
    daemon: Daemon, pki: PKI, tmp_path: Path
) -> None:
    """A private CA's chain without its root: the hint says to trust the root (servers do not
    send roots), not only to add an intermediate.  The root given with -c appears once: a
    self-signed certificate as its own issuer is no loop."""
    root = pki.root("Unsent Private Root")
    ica = pki.intermediate(root, "Unsent Private CA")
    files = [write(tmp_path, "leaf", server_leaf(pki, ica)), write(tmp_path, "ica", ica)]
    tree = tree_of(explain(daemon, *ssl_args(*files)).out)
    hint = failure_and_hint(tree, "MissingIntermediate", "Unsent Private CA", 1)
    assert "“CN=Unsent Private Root” is not known to trustd; servers do not send roots" in hint
    assert "trust it for this policy (trustctl add-trusted-cert -p ssl ROOT.pem" in hint
    with_root = explain(daemon, *ssl_args(*files, write(tmp_path, "root", root)))
    tree = tree_of(with_root.out)
    assert sum(line.startswith("Unsent Private Root  [") for line in tree) == 1
    assert not any("(a loop)" in line for line in tree)
    hint = failure_and_hint(tree, "AnchorTrusted", "Unsent Private Root", 2)
    assert "trustctl add-trusted-cert -p ssl ROOT.pem" in hint
