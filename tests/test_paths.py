"""The default places, for root and for other users."""

from __future__ import annotations

from pathlib import Path

from trustd.paths import default_paths


def test_root_uses_the_system_directories() -> None:
    paths = default_paths({}, uid=0)
    assert paths.socket == Path("/run/trustd/trustd.sock")
    assert paths.state_dir == Path("/var/lib/trustd")
    assert paths.config_dir == Path("/etc/trustd")


def test_a_user_uses_the_xdg_directories() -> None:
    env = {"HOME": "/home/ann", "XDG_RUNTIME_DIR": "/run/user/1000"}
    paths = default_paths(env, uid=1000)
    assert paths.socket == Path("/run/user/1000/trustd/trustd.sock")
    assert paths.state_dir == Path("/home/ann/.local/state/trustd")
    assert paths.config_dir == Path("/home/ann/.config/trustd")


def test_without_a_runtime_directory_the_socket_is_never_in_tmp() -> None:
    """/tmp/trustd-<uid> could be made first by another user, who would then answer."""
    paths = default_paths({"HOME": "/home/ann"}, uid=987654)  # no /run/user/987654
    assert paths.socket == Path("/home/ann/.local/state/trustd/trustd.sock")


def test_trustd_socket_overrides_everywhere() -> None:
    for uid in (0, 1000):
        assert default_paths({"TRUSTD_SOCKET": "/x/y.sock"}, uid=uid).socket == Path("/x/y.sock")
