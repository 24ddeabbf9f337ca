"""The Fedora output read by p11-kit, the library under update-ca-trust: per-purpose trust and
rejects in TRUSTED CERTIFICATE sources, full distrust in blocklist/.  Runs in a private mount
namespace (p11-kit's trust module configuration is bound over there)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from mount_namespace import run_in_namespace, unavailable

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    reason = unavailable()
    if reason is not None:
        pytest.skip(reason)
    if shutil.which("trust") is None or not Path("/usr/share/p11-kit/modules").is_dir():
        pytest.skip("p11-kit's trust tool is not installed")
    base = tmp_path_factory.mktemp("fedora")
    done = run_in_namespace(HERE / "fedora_scenario.py", base / "scratch", str(base / "work"))
    lines = done.stdout.strip().splitlines()
    assert done.returncode == 0 and lines, f"scenario failed:\n{done.stdout}\n{done.stderr}"
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def test_each_purpose_gets_what_is_trusted_for_it(observed: dict[str, Any]) -> None:
    assert observed["ran"] is True and observed["again"] is False
    assert observed["tls"] == {
        "kept": True,
        "org": True,
        "mail": False,  # trusted for S/MIME only
        "denied_tls": False,  # rejected for serverAuth
        "blocked": False,  # denied for everything: blocklist
    }
    assert observed["email"] == {
        "kept": True,
        "org": False,
        "mail": True,
        "denied_tls": True,  # the deny was for TLS only
        "blocked": False,
    }
    assert len([f for f in observed["files"] if f.startswith("blocklist/")]) == 1


def test_an_empty_projection_takes_everything_back(observed: dict[str, Any]) -> None:
    assert observed["emptied"] == {
        "ran": True,
        "tls_org": False,
        "tls_denied": True,
        "files": [],
    }
