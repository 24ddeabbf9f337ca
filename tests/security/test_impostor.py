"""Clients check who answers: a socket served by another user is refused before any call.

Whoever listens on the socket decides what the client trusts.  A TRUSTD_SOCKET pointing
somewhere others can write, or a runtime directory that is not the user's, could put an
impostor there; the client library reads the server's SO_PEERCRED and accepts root or its own
user only.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from security.clients import NOBODY, require_root

from trustd.client import AsyncClient, Client, ConnectionFailed

# Listens as `uid` (after switching, so that SO_PEERCRED names it) and answers any call with
# a reply a real trustd would never give.
_IMPOSTOR = textwrap.dedent(
    """
    import os, socket, sys
    uid, path = int(sys.argv[1]), sys.argv[2]
    os.setgroups([]); os.setgid(uid); os.setuid(uid)
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen()
    print("ready", flush=True)
    while True:
        conn, _ = server.accept()
        conn.recv(65536)
        conn.sendall(b'{"parameters": {"text": "trust me"}}\\0')
        conn.close()
    """
)


@pytest.fixture
def impostor() -> Iterator[Path]:
    require_root()
    home = Path(tempfile.mkdtemp(prefix="trustd-impostor-", dir="/tmp"))  # NOBODY can reach it
    home.chmod(0o777)
    path = home / "trustd.sock"
    process = subprocess.Popen(
        [sys.executable, "-c", _IMPOSTOR, str(NOBODY), str(path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None and process.stdout.readline() == "ready\n"
        yield path
    finally:
        process.kill()
        process.wait()
        process.stdout.close()
        shutil.rmtree(home)


def test_the_client_refuses_a_socket_served_by_another_user(impostor: Path) -> None:
    started = time.monotonic()
    with (
        Client(impostor, timeout=5) as client,
        pytest.raises(ConnectionFailed, match=f"served by uid {NOBODY}, not by root or you"),
    ):
        client.echo("hello")
    assert time.monotonic() - started < 5


def test_the_async_client_refuses_it_too(impostor: Path) -> None:
    async def main() -> None:
        async with AsyncClient(impostor, timeout=5) as client:
            await client.echo("hello")

    with pytest.raises(ConnectionFailed, match=f"served by uid {NOBODY}"):
        asyncio.run(main())
