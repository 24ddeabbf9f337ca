"""The default places, for root and for other users."""

from __future__ import annotations

from pathlib import Path

from trustd.paths import SYSTEM_SOCKET, client_socket, client_sockets, default_paths


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


def test_clients_look_for_the_system_daemon_first() -> None:
    """Every uid's clients reach the one system daemon; a user's own daemon comes second."""
    env = {"HOME": "/home/ann", "XDG_RUNTIME_DIR": "/run/user/1000"}
    assert client_sockets(env, uid=1000) == [
        SYSTEM_SOCKET,
        Path("/run/user/1000/trustd/trustd.sock"),
    ]
    assert client_sockets({}, uid=0) == [SYSTEM_SOCKET]
    assert client_sockets({"TRUSTD_SOCKET": "/x/y.sock"}, uid=1000) == [Path("/x/y.sock")]


def test_a_users_own_daemon_is_used_only_without_a_system_socket(tmp_path: Path) -> None:
    own = tmp_path / "own" / "trustd" / "trustd.sock"
    env = {"HOME": str(tmp_path), "XDG_RUNTIME_DIR": str(tmp_path / "own")}
    if SYSTEM_SOCKET.exists():
        assert client_socket(env, uid=1000) == SYSTEM_SOCKET
        return
    assert client_socket(env, uid=1000) == SYSTEM_SOCKET  # neither exists: name the system's
    own.parent.mkdir(parents=True)
    own.touch()
    assert client_socket(env, uid=1000) == own
