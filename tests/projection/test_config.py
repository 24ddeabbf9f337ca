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
