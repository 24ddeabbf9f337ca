"""`trust_stores` in trustd.conf, and who keeps the machine's trust stores by default."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from trustd.daemon import Config


def config(tmp_path: Path, text: str | None = None, state: Path | None = None) -> Config:
    file = tmp_path / "trustd.conf"
    if text is not None:
        file.write_text(text)
    base = Config(
        socket=tmp_path / "s", state_dir=state or tmp_path, dropin_dir=tmp_path, config_file=file
    )
    return base.with_file()


def test_the_system_daemon_alone_keeps_them_by_default(tmp_path: Path) -> None:
    system = config(tmp_path, state=Path("/var/lib/trustd"))
    assert system.wanted_trust_stores(0) == ("auto",)
    assert system.wanted_trust_stores(1000) == ()  # a per-user daemon
    assert config(tmp_path).wanted_trust_stores(0) == ()  # root, another state directory


@pytest.mark.parametrize(
    ("text", "wanted"),
    [
        ('trust_stores = "off"', ()),
        ('trust_stores = "auto"', ("auto",)),
        ('trust_stores = ["debian"]', ("debian",)),
        ('trust_stores = ["debian", "fedora"]', ("debian", "fedora")),
    ],
)
def test_configured(tmp_path: Path, text: str, wanted: tuple[str, ...]) -> None:
    for state in (Path("/var/lib/trustd"), tmp_path):
        configured = replace(config(tmp_path, text), state_dir=state)
        assert configured.wanted_trust_stores(0) == wanted
        assert configured.wanted_trust_stores(1000) == wanted


@pytest.mark.parametrize("text", ['trust_stores = ["nss"]', "trust_stores = 3"])
def test_bad_values_stop_the_daemon_with_one_line(tmp_path: Path, text: str) -> None:
    with pytest.raises(SystemExit, match="trust"):
        config(tmp_path, text)


def test_every_file_setting_is_read_with_its_type(tmp_path: Path) -> None:
    text = f"""
socket = "{tmp_path}/other.sock"
state_dir = "{tmp_path}/state"
dropin_dir = "{tmp_path}/dropins"
ca_bundle = "{tmp_path}/bundle.pem"
log_level = "debug"
workers = 3
worker_timeout = 7
idle_timeout = 9.5
max_connections_per_user = 11
admin_group = 4242
trust_stores = ["fedora"]
profile_signers = ["Example Org"]
"""
    read = config(tmp_path, text)
    assert (read.socket, read.state_dir) == (tmp_path / "other.sock", tmp_path / "state")
    assert (read.dropin_dir, read.ca_bundle) == (tmp_path / "dropins", tmp_path / "bundle.pem")
    assert (read.log_level, read.workers, read.admin_group) == ("debug", 3, 4242)
    assert read.worker_timeout == 7.0 and isinstance(read.worker_timeout, float)
    assert (read.idle_timeout, read.max_connections_per_user) == (9.5, 11)
    assert (read.trust_stores, read.profile_signers) == (("fedora",), ("Example Org",))
