"""One daemon per machine: every uid's clients reach the system daemon on its default socket.

As root in a private mount namespace (throw-away overlays of /etc, /run and /var/lib), the
daemon starts as the system service does (root, no --socket or --state-dir: /run/trustd,
/var/lib/trustd, /etc/trustd); then other uids, with no TRUSTD_SOCKET and no runtime directory
of their own, use trustctl and the client library.  Each user's trust settings apply to that
user's evaluations only.
"""

from __future__ import annotations

import base64
import json
import textwrap

from namespace import require_namespaces, run_isolated
from pki import PKI
from security.clients import NOBODY, OTHER

CLIENT = textwrap.dedent(
    """
    import base64, json, sys
    from trustd.client import Client, Policy, default_socket_path
    task = json.loads(sys.stdin.read())
    der = {name: base64.b64decode(value) for name, value in task["certificates"].items()}
    with Client() as trustd:
        if task["trust"]:
            trustd.add_certificates([der["root"]], domain="user")
            trustd.set_trust_settings("user", der["root"])
        verdict = trustd.evaluate([der["leaf"]], [Policy.ssl("server.example")])
        print(json.dumps({"socket": str(default_socket_path()), "result": verdict.result}))
    """
)
"""A user's program: its own trust settings when asked, then one evaluation, with defaults."""

SCRIPT = textwrap.dedent(
    """
    import base64, json, os, subprocess, sys, time
    from pathlib import Path

    bin_dir = Path(sys.executable).parent
    socket_path = Path("/run/trustd/trustd.sock")
    daemon = subprocess.Popen(
        [str(bin_dir / "trustd"), "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 60
    while not socket_path.exists():
        if daemon.poll() is not None or time.monotonic() > deadline:
            sys.exit("the daemon did not start: " + daemon.stderr.read())
        time.sleep(0.1)

    # A plain user's environment: no TRUSTD_SOCKET, no XDG_RUNTIME_DIR, no home.
    plain = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "LANG": "C.UTF-8"}

    def as_uid(uid, argv, stdin=None):
        return subprocess.run(
            ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", *argv],
            env=plain, input=stdin, capture_output=True, text=True, timeout=120,
        )

    certificates = json.loads(os.environ["CERTIFICATES"])
    report = {}
    status = as_uid(int(os.environ["NOBODY"]), [str(bin_dir / "trustctl"), "status"])
    report["status"] = [status.returncode, status.stdout, status.stderr]
    for name, uid, trust in (
        ("nobody", os.environ["NOBODY"], True), ("other", os.environ["OTHER"], False),
    ):
        task = json.dumps({"certificates": certificates, "trust": trust})
        done = as_uid(int(uid), [sys.executable, "-c", os.environ["CLIENT"]], stdin=task)
        report[name] = [done.returncode, done.stdout, done.stderr]
    daemon.terminate()
    daemon.wait(30)
    print(json.dumps(report))
    """
)


def test_every_uid_reaches_the_system_daemon_and_keeps_its_own_settings(pki: PKI) -> None:
    require_namespaces()
    root = pki.root("Nobody's Own Root")
    leaf = pki.leaf(root, dns=["server.example"])
    certificates = {"root": root.der, "leaf": leaf.der}
    encoded = {name: base64.b64encode(der).decode() for name, der in certificates.items()}
    env = {
        "PATH": "/usr/bin:/bin",
        "CERTIFICATES": json.dumps(encoded),
        "NOBODY": str(NOBODY),
        "OTHER": str(OTHER),
        "CLIENT": CLIENT,
    }
    done = run_isolated(SCRIPT, env=env)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])

    code, out, err = report["status"]
    assert code == 0, err
    assert out.startswith("trustd ") and "system anchors" in out  # the system daemon answered

    code, out, err = report["nobody"]
    assert code == 0, err
    nobody = json.loads(out)
    assert nobody["socket"] == "/run/trustd/trustd.sock"
    assert nobody["result"] == "proceed"  # anchored by nobody's own trust settings

    code, out, err = report["other"]
    assert code == 0, err
    other = json.loads(out)
    assert other["socket"] == "/run/trustd/trustd.sock"
    assert other["result"] != "proceed"  # nobody's settings are nobody's alone
