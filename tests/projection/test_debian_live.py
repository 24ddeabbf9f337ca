"""The machine's trust stores follow trustd, live, on Debian: real daemon, real tools, real
clients, as root in a private mount namespace over throw-away copies (mount_namespace.py).

One namespace session runs the whole story (debian_scenario.py) and reports what it saw:
curl, `openssl s_client -verify_return_error`, Python's default ssl context and gnutls-cli
against `openssl s_server` on loopback, and Java's default cacerts through keytool.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from mount_namespace import run_in_namespace, unavailable

pytestmark = pytest.mark.long(seconds=52)

HERE = Path(__file__).parent
ALL = {"curl": True, "openssl": True, "python": True, "gnutls": True}
NONE = dict.fromkeys(ALL, False)
TOOLS = ("update-ca-certificates", "openssl", "curl", "gnutls-cli")


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    reason = unavailable()
    if reason is not None:
        pytest.skip(reason)
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing or not Path("/etc/ca-certificates.conf").is_file():
        pytest.skip(f"not a Debian trust store with these tools: {missing or 'ca-certificates'}")
    done = run_in_namespace(
        HERE / "debian_scenario.py", tmp_path_factory.mktemp("namespace"), timeout=280
    )
    lines = done.stdout.strip().splitlines()
    assert done.returncode == 0 and lines, f"scenario failed:\n{done.stdout}\n{done.stderr}"
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def java(observed: dict[str, Any], key: str, expected: bool) -> None:
    if observed[key] is None:
        return  # no Java on this machine: nothing to hold certificates
    assert observed[key] is expected, key


def test_start_changes_nothing_when_nothing_is_projected(observed: dict[str, Any]) -> None:
    assert observed["start_updates"] == 0
    assert observed["start_problems"] == []
    assert observed["org_before"] == NONE
    assert observed["system_before"] == ALL


def test_add_trusted_cert_reaches_every_client_and_java(observed: dict[str, Any]) -> None:
    # The projection writes its source file within 2 s; the tool's own run time comes on top.
    assert observed["org_source_seconds"] is not None and observed["org_source_seconds"] <= 2.0
    assert observed["org_trusted_seconds"] is not None
    assert observed["org_trusted"] == ALL
    java(observed, "java_org_trusted", True)
    # The bundle now holds the organisation's root, but trustd's own system anchors do not.
    before, after = observed["system_anchors"]
    assert before == after


def test_deny_of_a_system_root_and_a_dropin_anchor(observed: dict[str, Any]) -> None:
    assert observed["changed_seconds"] is not None
    assert observed["system_denied"] == NONE
    assert observed["conf_deselected"] is True
    java(observed, "java_system_denied", False)
    assert observed["dropin_added"] == ALL


def test_trust_limited_to_another_policy_or_one_host_stays_out(observed: dict[str, Any]) -> None:
    assert observed["bundle_has"] == {"smime_only": False, "one_host": False}


def test_removing_restores_the_stores(observed: dict[str, Any]) -> None:
    assert observed["restored_seconds"] is not None
    assert observed["org_removed"] == NONE
    assert observed["system_restored"] == ALL
    assert observed["dropin_removed"] == NONE
    java(observed, "java_org_removed", False)
    java(observed, "java_system_restored", True)


def test_a_burst_of_200_changes_is_few_updates(observed: dict[str, Any]) -> None:
    assert 1 <= observed["burst_updates"] <= 3, observed["burst_updates"]
    assert observed["burst_end"] == ALL
    assert observed["end_problems"] == []
    assert "system trust stores kept in step (debian): " in observed["status_text"]


def test_daemon_stopped_cleanly(observed: dict[str, Any]) -> None:
    assert observed["daemon_exit"] == 0, observed["log_tail"]


def test_node_follows_only_when_told_to_use_the_system_store(observed: dict[str, Any]) -> None:
    """What docs/every-program.md says of Node: its own bundled roots by default."""
    trusted, denied = observed["node_org_trusted"], observed["node_system_denied"]
    if trusted is None:
        pytest.skip("no node here")
    assert trusted == {"default": False, "use_openssl_ca": True, "extra_ca_certs": True}
    # NODE_EXTRA_CA_CERTS adds to the bundled roots; only --use-openssl-ca drops a denied one.
    assert denied["use_openssl_ca"] is False
