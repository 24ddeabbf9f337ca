"""The asyncio client against a real daemon: every method, a monitor stream, errors."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import socket
import threading
from pathlib import Path

import pytest
from client.conftest import short_leaf
from daemons import Daemon
from pki import PKI, Issued

from trustd.client import (
    AsyncClient,
    ConnectionFailed,
    DaemonNotRunning,
    InvalidParameter,
    NotFound,
    NoTrustSettings,
    Policy,
    RequestTooLarge,
    UnknownPolicy,
    UsageConstraint,
)


def test_every_method_round_trips(
    daemon: Daemon, pki: PKI, good_leaf: Issued, intermediate: Issued
) -> None:
    org = pki.root("Org Root")
    org_leaf = short_leaf(pki, org, ["intranet.example"])

    async def main() -> None:
        async with AsyncClient(daemon.socket) as trustd:
            assert await trustd.echo("async") == "async"
            status = await trustd.status()
            assert status.counts.system_anchors == 1

            chain = [good_leaf.der, intermediate.der]
            verdict = await trustd.evaluate(chain, Policy.ssl("localhost"))
            assert verdict.trusted and verdict.chain[-1] == daemon.root.der
            wrong = await trustd.evaluate(chain, Policy.ssl("www.example"))
            assert not wrong.trusted and wrong.checks == ("SSLHostname",)
            later = dt.datetime.now(dt.UTC) + dt.timedelta(days=1000)
            expired = await trustd.evaluate(chain, "ssl", verify_date=later)
            assert expired.checks == ("TemporalValidity",)

            assert (await trustd.add_certificates([org.der])).added == (org.sha1.upper(),)
            (found,) = await trustd.find_certificates(sha256=org.sha256)
            assert found.certificate == org.der
            await trustd.set_trust_settings("admin", org.der, [UsageConstraint()])
            assert (await trustd.evaluate([org_leaf.der], "basic")).result == "proceed"
            (entry,) = await trustd.copy_trust_settings("admin")
            assert entry.subject == "Org Root" and entry.constraints == (UsageConstraint(),)
            await trustd.remove_trust_settings("admin", org.sha1)
            assert await trustd.copy_trust_settings("admin") == ()
            await trustd.delete_certificate(bytes.fromhex(org.sha1))
            assert await trustd.find_certificates(subject="Org Root") == ()

            await trustd.set_exceptions("localhost", 8443, expired.exceptions)
            (stored,) = await trustd.list_exceptions()
            assert (stored.host, stored.port) == ("localhost", 8443)
            excused = await trustd.evaluate(
                chain, Policy.ssl("localhost"), host="localhost", port=8443, verify_date=later
            )
            assert excused.result == "proceed" and excused.exceptions_applied
            await trustd.remove_exceptions("localhost", 8443)
            assert await trustd.list_exceptions() == ()
            assert isinstance(await trustd.reset_exceptions(), int)
            await trustd.reload()

            with pytest.raises(UnknownPolicy):
                await trustd.evaluate(chain, "nope")
            with pytest.raises(InvalidParameter):
                await trustd.evaluate([])
            with pytest.raises(NotFound):
                await trustd.delete_certificate("00" * 20)
            with pytest.raises(NoTrustSettings):
                await trustd.remove_trust_settings("user", "00" * 20)
            with pytest.raises(RequestTooLarge):
                await trustd.echo("x" * (9 * 1024 * 1024))
            assert await trustd.echo("after errors") == "after errors"

    asyncio.run(main())


def test_monitor_is_an_async_iterator_that_sees_changes(daemon: Daemon) -> None:
    async def main() -> None:
        async with AsyncClient(daemon.socket) as trustd:
            async with trustd.monitor(timeout=20) as changes:
                start = changes.generation
                assert start is not None
                seen = [await anext(changes)]
                await trustd.reset_exceptions()
                async for generation in changes:
                    seen.append(generation)
                    break
            assert seen[0] == start and seen[1] > start
            with pytest.raises(StopAsyncIteration):
                await anext(changes)  # closed

            # Without `async with`, the subscription starts at the first step.
            stream = trustd.monitor(timeout=20)
            first = await anext(stream)
            await trustd.reset_exceptions()
            assert await anext(stream) > first
            await stream.aclose()

    asyncio.run(main())


def test_tasks_share_one_client(daemon: Daemon) -> None:
    async def main() -> list[str]:
        async with AsyncClient(daemon.socket) as trustd:
            return list(await asyncio.gather(*(trustd.echo(str(n)) for n in range(100))))

    assert asyncio.run(main()) == [str(n) for n in range(100)]


def test_missing_daemon(tmp_path: Path) -> None:
    async def main() -> None:
        trustd = AsyncClient(tmp_path / "absent.sock")
        with pytest.raises(DaemonNotRunning, match=r"systemctl enable --now trustd\.socket"):
            await trustd.status()
        with pytest.raises(DaemonNotRunning):
            await anext(trustd.monitor())

    asyncio.run(main())


def test_reconnects_once_when_the_connection_breaks(tmp_path: Path) -> None:
    """A connection closed by the daemon is replaced, and a call lost with it sent again."""
    path = tmp_path / "fake.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))
    listener.listen()
    accepted: list[int] = []
    closed = threading.Event()

    def answer(conn: socket.socket) -> bool:
        data = b""
        while not data.endswith(b"\0"):
            chunk = conn.recv(65536)
            if not chunk:
                return False
            data += chunk
        text = json.loads(data[:-1])["parameters"]["text"]
        conn.sendall(json.dumps({"parameters": {"text": text}}).encode() + b"\0")
        return True

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            index = len(accepted)
            accepted.append(index)
            with conn:
                if index == 1:  # answers once, then hangs up while the client is idle
                    answer(conn)
                elif index == 2:  # answers for good
                    while answer(conn):
                        continue
                else:  # reads the call and hangs up without an answer
                    conn.recv(65536)
            if index == 1:
                closed.set()

    threading.Thread(target=serve, daemon=True).start()

    async def main() -> None:
        async with AsyncClient(path, timeout=5) as trustd:
            assert await trustd.echo("one") == "one"  # connection 0 hangs up, 1 answers
            assert await asyncio.to_thread(closed.wait, 5)
            assert await trustd.echo("two") == "two"  # 1 was closed: 2 answers
            assert await trustd.echo("three") == "three"
        assert accepted == [0, 1, 2]

        lone = AsyncClient(path, timeout=5)
        with pytest.raises(ConnectionFailed, match="broke during Echo"):
            await lone.echo("x")  # 3 and 4 hang up: one retry, no more
        await lone.close()
        assert accepted == [0, 1, 2, 3, 4]

    try:
        asyncio.run(main())
    finally:
        listener.close()
