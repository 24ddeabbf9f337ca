"""The blocking client against a real daemon: every method, typed errors, reconnection."""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from client.conftest import short_leaf
from daemons import Daemon, restart_daemon
from pki import PKI, Issued

from trustd.client import (
    Client,
    ConnectionFailed,
    DaemonNotRunning,
    InvalidCertificate,
    InvalidParameter,
    InvalidTrustSettings,
    NotFound,
    NoTrustSettings,
    Policy,
    ProtocolError,
    RequestTooLarge,
    TrustdError,
    UnknownPolicy,
    UsageConstraint,
    default_socket_path,
)
from trustd.client.errors import MethodNotFound
from trustd.daemon import Config
from trustd.paths import client_socket


def test_every_method_round_trips(
    daemon: Daemon, pki: PKI, good_leaf: Issued, intermediate: Issued
) -> None:
    with Client(daemon.socket) as trustd:
        assert trustd.echo("héllo") == "héllo"
        status = trustd.status()
        assert status.counts.system_anchors == 1
        assert status.version and status.database_revision
        assert status.dropin_problems == ()

        chain = [good_leaf.der, intermediate.der]
        verdict = trustd.evaluate(chain, Policy.ssl("localhost"), explain=True)
        assert verdict.trusted and verdict.result == "unspecified" and verdict.code == 4
        assert verdict.chain == (good_leaf.der, intermediate.der, daemon.root.der)
        assert verdict.anchor_origin is not None
        assert verdict.checks == () and verdict.attempts
        assert verdict.raw["result"] == "unspecified"
        # The verdict says until when it holds, also when a worker process evaluated it (the
        # daemon's reply cache relies on that window).
        assert verdict.raw["valid_until"] is not None and verdict.raw["valid_from"] is not None

        later = dt.datetime.now(dt.UTC) + dt.timedelta(days=1000)
        expired = trustd.evaluate(chain, [Policy.ssl("localhost")], verify_date=later)
        assert not expired.trusted and expired.result == "recoverableTrustFailure"
        assert expired.failures and expired.exceptions
        excused = trustd.evaluate(chain, "ssl", verify_date=later, exceptions=expired.exceptions)
        assert excused.result == "proceed" and excused.exceptions_applied

        # The store and admin trust settings.
        org = pki.root("Org Root")
        org_leaf = short_leaf(pki, org, ["intranet.example"])
        ssl_intranet = Policy.ssl("intranet.example")
        assert not trustd.evaluate([org_leaf.der], ssl_intranet).trusted
        added = trustd.add_certificates([org.der])
        assert added.added == (org.sha1.upper(),) and added.existing == ()
        assert trustd.add_certificates([org.der]).existing == (org.sha1.upper(),)
        (found,) = trustd.find_certificates(sha1=org.sha1)
        assert found.certificate == org.der and found.subject == "Org Root"
        assert found.sha256 == org.sha256.upper()
        assert trustd.find_certificates(subject="org root") == (found,)
        assert trustd.find_certificates(sha1=bytes.fromhex(org.sha1)) == (found,)

        trustd.set_trust_settings("admin", org.der)
        assert trustd.evaluate([org_leaf.der], ssl_intranet).result == "proceed"
        (entry,) = trustd.copy_trust_settings("admin")
        assert entry.sha1 == org.sha1.upper() and entry.subject == "Org Root"
        assert entry.certificate == org.der and entry.constraints == ()
        assert entry.mod_date.tzinfo is not None

        deny = UsageConstraint(policy_name="sslServer", result=3)
        trustd.set_trust_settings("admin", org.der, [deny])
        assert trustd.evaluate([org_leaf.der], ssl_intranet).result == "deny"
        assert trustd.copy_trust_settings("admin")[0].constraints == (
            UsageConstraint(policy_name="sslServer", result=3),
        )
        trustd.remove_trust_settings("admin", org.sha1)
        assert trustd.copy_trust_settings("admin") == ()
        trustd.delete_certificate(org.sha1)
        assert trustd.find_certificates(sha1=org.sha1) == ()

        # Stored exceptions for a host.
        old = pki.leaf(
            daemon.root,
            dns=["old.example"],
            not_before=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
            not_after=dt.datetime(2020, 12, 1, tzinfo=dt.UTC),
        )
        refused = trustd.evaluate(
            [old.der], Policy.ssl("old.example"), host="old.example", port=443
        )
        assert refused.checks == ("TemporalValidity",)
        assert refused.message == "“old.example” certificate is expired"
        trustd.set_exceptions("old.example", 443, refused.exceptions)
        (stored,) = trustd.list_exceptions()
        assert (stored.host, stored.port, stored.exceptions) == (
            "old.example",
            443,
            refused.exceptions,
        )
        accepted = trustd.evaluate(
            [old.der], Policy.ssl("old.example"), host="old.example", port=443
        )
        assert accepted.result == "proceed" and accepted.exceptions_applied
        trustd.remove_exceptions("old.example", 443)
        assert trustd.list_exceptions() == ()
        epoch = trustd.reset_exceptions()
        assert trustd.reset_exceptions() == epoch + 1

        trustd.reload()
        assert trustd.status().generation > status.generation


def test_errors_are_typed_and_keep_the_connection(daemon: Daemon, good_leaf: Issued) -> None:
    with Client(daemon.socket) as trustd:
        with pytest.raises(UnknownPolicy) as unknown:
            trustd.evaluate([good_leaf.der], "nope")
        assert unknown.value.name == "io.trustd.Trust.UnknownPolicy"
        assert unknown.value.policy == "nope" and unknown.value.parameters == {"policy": "nope"}
        with pytest.raises(InvalidParameter) as empty:
            trustd.evaluate([])
        assert empty.value.parameter == "certificates" and empty.value.reason == "empty"
        with pytest.raises(InvalidCertificate) as junk:
            trustd.add_certificates([b"junk"])
        assert junk.value.reason
        with pytest.raises(NotFound):
            trustd.delete_certificate("AB" * 20)
        with pytest.raises(NoTrustSettings):
            trustd.remove_trust_settings("user", "AB" * 20)
        with pytest.raises(InvalidTrustSettings):
            trustd.set_trust_settings("admin", good_leaf.der, [UsageConstraint(result=99)])
        with pytest.raises(InvalidParameter) as domain:
            trustd.copy_trust_settings("nobody's")
        assert domain.value.parameter == "domain"
        assert isinstance(domain.value, TrustdError) and "domain" in str(domain.value)
        with pytest.raises(TypeError):
            trustd.evaluate(good_leaf.der)  # type: ignore[arg-type]  # one certificate, not a sequence of them
        assert trustd.echo("still connected") == "still connected"


def test_monitor_streams_a_change(daemon: Daemon) -> None:
    with Client(daemon.socket) as trustd, trustd.monitor(timeout=20) as changes:
        start = changes.generation
        assert next(changes) == start
        trustd.reset_exceptions()
        assert next(changes) > start
    assert changes.generation > start
    with pytest.raises(StopIteration):
        next(changes)  # closed


def test_a_stopping_daemon_ends_the_monitor_stream(daemon: Daemon) -> None:
    with Client(daemon.socket) as trustd, trustd.monitor(timeout=20) as changes:
        next(changes)
        assert daemon.stop() == 0
        with pytest.raises(ConnectionFailed, match="closed the Monitor stream"):
            next(changes)


def test_oversized_requests_are_refused_before_sending(daemon: Daemon) -> None:
    with Client(daemon.socket) as trustd:
        with pytest.raises(RequestTooLarge) as raised:
            trustd.echo("x" * (9 * 1024 * 1024))
        assert raised.value.limit == 8 * 1024 * 1024
        assert raised.value.name == "io.trustd.Trust.RequestTooLarge"
        assert trustd.echo("fine") == "fine"


def test_missing_daemon_says_how_to_start_it(tmp_path: Path) -> None:
    missing = tmp_path / "nothing.sock"
    client = Client(missing)
    with pytest.raises(DaemonNotRunning) as raised:
        client.echo("x")
    message = str(raised.value)
    assert str(missing) in message
    assert "start the system service with `sudo systemctl enable --now trustd.socket`" in message
    assert "or a daemon of your own with `trustd`" in message
    assert raised.value.socket_path == missing
    assert isinstance(raised.value, ConnectionFailed)
    with pytest.raises(DaemonNotRunning):
        client.monitor()

    # A socket file nobody listens on (a crashed daemon) is "not running" too.
    stale = tmp_path / "stale.sock"
    with socket.socket(socket.AF_UNIX) as bound:
        bound.bind(str(stale))
        with pytest.raises(DaemonNotRunning, match="nothing listening"):
            Client(stale).connect()


def test_default_socket_comes_from_the_client_rule(
    daemon: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRUSTD_SOCKET", str(daemon.socket))
    assert default_socket_path() == daemon.socket == Config.defaults().socket
    with Client() as trustd:
        assert trustd.socket_path == daemon.socket
        assert trustd.echo("default") == "default"
    monkeypatch.delenv("TRUSTD_SOCKET")
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/4242")
    assert default_socket_path() == client_socket()


def test_reconnects_after_a_daemon_restart(daemon: Daemon) -> None:
    trustd = Client(daemon.socket)
    assert trustd.echo("before") == "before"
    assert daemon.stop() == 0
    with pytest.raises(DaemonNotRunning):
        trustd.echo("while stopped")
    again = restart_daemon(daemon)
    try:
        assert trustd.echo("after") == "after"
    finally:
        trustd.close()
        again.stop()


def test_calls_from_many_threads_share_one_connection(daemon: Daemon) -> None:
    trustd = Client(daemon.socket)
    answers: dict[int, list[str]] = {}

    def work(n: int) -> None:
        answers[n] = [trustd.echo(f"{n}-{i}") for i in range(40)]

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    trustd.close()
    assert answers == {n: [f"{n}-{i}" for i in range(40)] for n in range(8)}


# -- against a scripted fake daemon --------------------------------------------------------------


Script = Callable[[socket.socket, int], None]
FakeDaemon = Callable[[Script], tuple[Path, list[int]]]


@pytest.fixture
def fake_daemon(tmp_path: Path) -> Iterator[FakeDaemon]:
    """A Unix socket server running `script(connection, index)` for each connection."""
    listeners: list[socket.socket] = []

    def serve(script: Script) -> tuple[Path, list[int]]:
        path = tmp_path / f"fake{len(listeners)}.sock"
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(str(path))
        listener.listen()
        listeners.append(listener)
        accepted: list[int] = []

        def loop() -> None:
            while True:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                accepted.append(len(accepted))
                with conn:
                    script(conn, accepted[-1])

        threading.Thread(target=loop, daemon=True).start()
        return path, accepted

    yield serve
    for listener in listeners:
        listener.close()


def _read_call(conn: socket.socket) -> dict[str, object]:
    data = b""
    while not data.endswith(b"\0"):
        chunk = conn.recv(65536)
        if not chunk:
            return {}
        data += chunk
    call: dict[str, object] = json.loads(data[:-1])
    return call


def _echo_reply(conn: socket.socket, call: dict[str, object]) -> None:
    parameters = call.get("parameters")
    assert isinstance(parameters, dict)
    conn.sendall(json.dumps({"parameters": {"text": parameters["text"]}}).encode() + b"\0")


def test_a_call_is_sent_again_once_when_the_connection_breaks(fake_daemon: FakeDaemon) -> None:
    def first_hangs_up(conn: socket.socket, index: int) -> None:
        call = _read_call(conn)
        if index > 0:
            _echo_reply(conn, call)

    path, accepted = fake_daemon(first_hangs_up)
    with Client(path, timeout=5) as trustd:
        assert trustd.echo("again") == "again"
    assert len(accepted) == 2

    def always_hangs_up(conn: socket.socket, index: int) -> None:
        _read_call(conn)

    path, accepted = fake_daemon(always_hangs_up)
    with Client(path, timeout=5) as trustd, pytest.raises(ConnectionFailed) as broken:
        trustd.echo("never")
    assert not isinstance(broken.value, DaemonNotRunning)
    assert "broke during Echo" in str(broken.value)
    assert len(accepted) == 2  # one retry, no more


def test_no_retry_once_part_of_a_reply_arrived(fake_daemon: FakeDaemon) -> None:
    def half_reply(conn: socket.socket, index: int) -> None:
        _read_call(conn)
        conn.sendall(b'{"parameters": {"te')

    path, accepted = fake_daemon(half_reply)
    with Client(path, timeout=5) as trustd, pytest.raises(ConnectionFailed):
        trustd.echo("x")
    assert len(accepted) == 1


def test_timeouts_and_garbage_are_client_errors(fake_daemon: FakeDaemon) -> None:
    release = threading.Event()

    def silent(conn: socket.socket, index: int) -> None:
        _read_call(conn)
        release.wait(10)

    path, _ = fake_daemon(silent)
    with Client(path, timeout=0.3) as trustd, pytest.raises(ConnectionFailed, match="within"):
        trustd.echo("anyone?")
    release.set()

    def garbage(conn: socket.socket, index: int) -> None:
        _read_call(conn)
        conn.sendall(b"this is not json\0")

    path, _ = fake_daemon(garbage)
    with Client(path, timeout=5) as trustd, pytest.raises(ProtocolError):
        trustd.echo("x")

    def wrong_shape(conn: socket.socket, index: int) -> None:
        _read_call(conn)
        conn.sendall(b'{"parameters": {"text": 42}}\0')

    path, _ = fake_daemon(wrong_shape)
    with Client(path, timeout=5) as trustd, pytest.raises(ProtocolError, match="text"):
        trustd.echo("x")


def test_standard_service_errors_have_their_classes(fake_daemon: FakeDaemon) -> None:
    def method_not_found(conn: socket.socket, index: int) -> None:
        _read_call(conn)
        reply = {"error": "org.varlink.service.MethodNotFound", "parameters": {"method": "x"}}
        conn.sendall(json.dumps(reply).encode() + b"\0")

    path, _ = fake_daemon(method_not_found)
    with Client(path, timeout=5) as trustd, pytest.raises(TrustdError) as raised:
        trustd.reload()
    assert type(raised.value) is MethodNotFound
    assert str(raised.value) == (
        "trustd does not know the method x (is the daemon older than the client?)"
    )
    assert raised.value.name == "org.varlink.service.MethodNotFound"
    assert raised.value.parameters == {"method": "x"}


def test_a_reply_sent_before_hanging_up_is_not_lost(fake_daemon: FakeDaemon) -> None:
    """The daemon refuses a request it will not read with an error, then closes: the send
    fails, and the error is still what the caller gets (no retry)."""

    def refuse_unread(conn: socket.socket, index: int) -> None:
        reply = {"error": "io.trustd.Trust.RequestTooLarge", "parameters": {"limit": 10}}
        conn.sendall(json.dumps(reply).encode() + b"\0")

    path, accepted = fake_daemon(refuse_unread)
    with Client(path, timeout=5) as trustd, pytest.raises(RequestTooLarge) as raised:
        trustd.echo("y" * (4 * 1024 * 1024))
    assert raised.value.limit == 10
    assert len(accepted) == 1


def test_anchors_follow_trust_settings_per_policy(daemon: Daemon, pki: PKI) -> None:
    """ListAnchors answers as evaluation would: a Deny hides a system anchor for its policy,
    trust settings add anchors for theirs only, and the deciding domain is named."""
    org = pki.root("Org Root")
    org_inter = pki.intermediate(org)
    system = daemon.root.sha1.upper()
    with Client(daemon.socket) as trustd:
        assert [(a.sha1, a.source) for a in trustd.list_anchors()] == [(system, "system")]

        ssl_only = UsageConstraint(policy_oid="1.2.840.113635.100.1.3", policy_name="sslServer")
        trustd.set_trust_settings("admin", org.der, [ssl_only])
        by_policy = {
            name: {a.sha1: a.source for a in trustd.list_anchors(name)}
            for name in ("ssl", "smime", "basic")
        }
        assert by_policy["ssl"] == {system: "system", org.sha1.upper(): "admin"}
        assert by_policy["smime"] == by_policy["basic"] == {system: "system"}
        (anchor,) = [a for a in trustd.list_anchors("ssl") if a.source == "admin"]
        assert anchor.certificate == org.der and anchor.subject == "Org Root"

        # TrustAsRoot makes a stored intermediate an anchor (TrustRoot is for self-signed).
        trustd.add_certificates([org_inter.der])
        trustd.set_trust_settings("user", org_inter.der, [UsageConstraint(result=2)])
        assert org_inter.sha1.upper() in {a.sha1 for a in trustd.list_anchors("basic")}

        deny_ssl = UsageConstraint(policy_name="sslServer", result=3)
        trustd.set_trust_settings("admin", daemon.root.der, [deny_ssl])
        assert system not in {a.sha1 for a in trustd.list_anchors("ssl")}
        assert system in {a.sha1 for a in trustd.list_anchors("basic")}


def test_the_system_domain_lists_every_usable_system_anchor(daemon: Daemon) -> None:
    with Client(daemon.socket) as trustd:
        (entry,) = trustd.copy_trust_settings("system")
        assert entry.sha1 == daemon.root.sha1.upper() and entry.constraints == ()
        assert entry.certificate == daemon.root.der
        record = trustd.export_trust_settings("system")
    assert daemon.root.sha1.upper().encode() in record
    assert b"<key>trustSettings</key>" not in record  # unrestricted, as on a Mac
