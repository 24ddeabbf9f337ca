"""The Ansible role in deploy/ansible drives trustd on a host, run as an administrator would.

As root in a private mount namespace (throw-away overlays of /etc, /usr/local, /var/lib,
/var/cache, /run and the distribution's certificate directories), `ansible-playbook` with a
local connection applies the role to localhost: it installs trustd from its sdist (the system
install, from a wheelhouse, no network) and distributes an anchor and a profile into the
drop-in directories.  The installed daemon then trusts a chain under the distributed anchor,
and a second run reports no change.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import textwrap
from pathlib import Path

import pytest
from mobileconfig import PKCS1, payload, profile
from namespace import DEFAULT_OVERLAYS, require_namespaces, run_isolated
from pki import PKI
from test_install import SYSTEM_PYTHON

pytestmark = pytest.mark.long(seconds=48)

REPO = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent(
    """
    import json, os, re, subprocess, sys, time
    from pathlib import Path

    work = Path(os.environ["WORK"])
    bin_dir = Path(sys.executable).parent
    environment = {
        **os.environ,
        "ANSIBLE_HOME": str(work / "ansible"),
        "ANSIBLE_LOCAL_TEMP": str(work / "ansible" / "tmp"),
        "ANSIBLE_REMOTE_TEMP": str(work / "ansible" / "remote"),
        "ANSIBLE_ROLES_PATH": os.environ["ROLES"],
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
    }

    def playbook():
        return subprocess.run(
            [str(bin_dir / "ansible-playbook"), "-i", "localhost,", "-c", "local",
             str(work / "playbook.yml")],
            capture_output=True, text=True, env=environment, timeout=600,
        )

    def recap(output):
        found = re.search(r"localhost\\s*:\\s*ok=(\\d+)\\s+changed=(\\d+)\\s+unreachable=(\\d+)"
                          r"\\s+failed=(\\d+)", output)
        return None if found is None else [int(n) for n in found.groups()]

    report = {}
    first = playbook()
    report["first"] = [first.returncode, recap(first.stdout), first.stdout[-3000:]]
    report["files"] = sorted(str(p) for p in Path("/etc/trustd").rglob("*") if p.is_file())
    report["modes"] = {str(p): oct(p.stat().st_mode & 0o777)
                       for p in Path("/etc/trustd").rglob("*")}

    daemon = subprocess.Popen(["/usr/local/bin/trustd", "--workers", "1"],
                              stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not Path("/run/trustd/trustd.sock").exists():
        if daemon.poll() is not None or time.monotonic() > deadline:
            sys.exit("the installed daemon did not start: " + daemon.stderr.read())
        time.sleep(0.1)
    verify = subprocess.run(
        ["/usr/local/bin/trustctl", "verify-cert", "-c", os.environ["LEAF"], "-p", "ssl",
         "-n", "intranet.example"],
        capture_output=True, text=True, timeout=60,
    )
    report["verify"] = [verify.returncode, verify.stdout, verify.stderr]
    listed = subprocess.run(["/usr/local/bin/trustctl", "profiles", "list", "--json"],
                            capture_output=True, text=True, timeout=60)
    report["profiles"] = json.loads(listed.stdout or "[]")
    daemon.terminate()
    daemon.wait(30)

    second = playbook()
    report["second"] = [second.returncode, recap(second.stdout), second.stdout[-3000:]]
    print(json.dumps(report))
    """
)


@pytest.mark.skipif(not os.access(SYSTEM_PYTHON, os.X_OK), reason=f"needs {SYSTEM_PYTHON}")
def test_the_role_installs_distributes_and_is_idempotent(
    wheelhouse: Path, pki: PKI, tmp_path: Path
) -> None:
    require_namespaces()
    if shutil.which("make") is None:
        pytest.skip("needs make")
    work = tmp_path / "work"
    (work / "files").mkdir(parents=True)
    root = pki.root("Fleet Root")
    issuing = pki.intermediate(root, "Fleet Issuing CA")
    import datetime as dt

    now = dt.datetime.now(dt.UTC)
    leaf = pki.leaf(
        issuing,
        dns=["intranet.example"],
        not_before=now - dt.timedelta(days=1),
        not_after=now + dt.timedelta(days=200),
    )
    (work / "files" / "fleet-root.pem").write_bytes(root.pem)
    (work / "files" / "fleet.mobileconfig").write_bytes(
        profile("com.example.fleet", [payload(PKCS1, issuing)])
    )
    (work / "leaf.pem").write_bytes(leaf.pem)
    (sdist,) = wheelhouse.glob("trustd-*.tar.gz")
    variables = {
        "trustd_source_archive": str(sdist),
        "trustd_wheelhouse": str(wheelhouse),
        "trustd_install_packages": False,
        "trustd_pip": f"{sys.executable} -m pip",
        "trustd_anchors": [str(work / "files" / "fleet-root.pem")],
        "trustd_profiles": [str(work / "files" / "fleet.mobileconfig")],
    }
    (work / "playbook.yml").write_text(
        "- hosts: localhost\n  gather_facts: true\n  roles:\n"
        f"    - role: trustd\n      vars: {json.dumps(variables)}\n"
    )
    done = run_isolated(
        SCRIPT,
        overlays=(*DEFAULT_OVERLAYS, "/usr/local", "/var/cache"),
        env={
            **os.environ,
            "WORK": str(work),
            "ROLES": str(REPO / "deploy" / "ansible" / "roles"),
            "LEAF": str(work / "leaf.pem"),
        },
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.splitlines()[-1])

    code, (_, changed, unreachable, failed), output = report["first"]
    assert code == 0 and failed == 0 and unreachable == 0, output
    assert changed > 0
    assert "/etc/trustd/anchors/fleet-root.pem" in report["files"]
    assert "/etc/trustd/profiles/fleet.mobileconfig" in report["files"]
    assert report["modes"]["/etc/trustd/anchors/fleet-root.pem"] == "0o644"

    code, out, err = report["verify"]
    assert code == 0, err
    assert "certificate verification successful" in out
    assert [p["identifier"] for p in report["profiles"]] == ["com.example.fleet"]

    code, (_, changed, _, failed), output = report["second"]
    assert code == 0 and failed == 0, output
    assert changed == 0, output  # idempotent: nothing to do the second time
