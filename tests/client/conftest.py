"""Fixtures for the client library: a real daemon and real TLS servers on 127.0.0.1.

The daemon is tests/api's (a system anchor ``daemon.root`` in its CA bundle), started with the
test user's primary group as the admin group so the admin methods work without root too.
A TLS server is an HTTPS server thread (``http.server`` behind ``ssl``) on a random port,
serving a chain of our choice: normally a leaf for ``localhost`` and 127.0.0.1, issued by an
intermediate under ``daemon.root``, sent with that intermediate.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import grp
import os
import socket
import ssl
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from daemons import Daemon, running_daemon
from pki import PKI, Issued, KeyCache

BODY = b"hello through trustd\n"
NOW = dt.datetime.now(dt.UTC)
SHORT_VALIDITY = (NOW - dt.timedelta(days=10), NOW + dt.timedelta(days=200))


def short_leaf(
    pki: PKI, issuer: Issued | None, dns: Sequence[str], ips: Sequence[str] = ()
) -> Issued:
    """A serverAuth leaf valid for 210 days around now (Apple's TLS limits apply to it)."""
    not_before, not_after = SHORT_VALIDITY
    return pki.leaf(issuer, dns=dns, ips=ips, not_before=not_before, not_after=not_after)


@pytest.fixture
def daemon(pki: PKI) -> Iterator[Daemon]:
    """A running trustd whose admin group is the test user's own group."""
    with _admin_group_daemon(pki.root("System Root")) as running:
        yield running


@pytest.fixture(scope="module")
def module_daemon() -> Iterator[Daemon]:
    """The same, one for a whole module (its tests' certificates are their own)."""
    with _admin_group_daemon(PKI(KeyCache()).root("System Root")) as running:
        yield running


@contextlib.contextmanager
def _admin_group_daemon(root: Issued) -> Iterator[Daemon]:
    group = grp.getgrgid(os.getgid()).gr_name
    with running_daemon(root, "--admin-group", group, prefix="trustd-client-") as running:
        yield running


@pytest.fixture
def intermediate(daemon: Daemon, pki: PKI) -> Issued:
    """A TLS issuing CA under the daemon's system anchor."""
    return pki.intermediate(
        daemon.root,
        "Test TLS CA",
        path_length=0,
        not_before=NOW - dt.timedelta(days=30),
        not_after=NOW + dt.timedelta(days=3 * 365),
    )


@pytest.fixture
def good_leaf(intermediate: Issued, pki: PKI) -> Issued:
    """A serverAuth leaf for localhost and 127.0.0.1, valid for a few hundred days around now."""
    return short_leaf(pki, intermediate, ["localhost"], ["127.0.0.1"])


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests do not want the server's access log on stderr."""


class _HTTPSServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.context = context

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, address = self.socket.accept()
        conn.settimeout(10)
        # The handshake happens on the first read, in the connection's own thread.
        tls = self.context.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
        return tls, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # refused handshakes are what several tests are about


@dataclass
class TLSServer:
    """An HTTPS server on 127.0.0.1 serving one certificate chain."""

    port: int
    chain: tuple[Issued, ...]
    _server: _HTTPSServer
    _thread: threading.Thread

    @property
    def url(self) -> str:
        return f"https://localhost:{self.port}/"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)


def start_tls_server(directory: Path, leaf: Issued, extra: Sequence[Issued] = ()) -> TLSServer:
    """Serve `leaf` (and `extra` after it in the chain) on a random port of 127.0.0.1."""
    directory.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = directory / "chain.pem", directory / "key.pem"
    cert_file.write_bytes(leaf.pem + b"".join(c.pem for c in extra))
    key_file.write_bytes(
        leaf.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server = _HTTPSServer(context)
    thread = threading.Thread(target=server.serve_forever, name="tls-server", daemon=True)
    thread.start()
    return TLSServer(server.server_address[1], (leaf, *extra), server, thread)


TLSServerFactory = Callable[..., TLSServer]


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[TLSServerFactory]:
    """Start TLS servers: ``tls_server(leaf, intermediate, ...)``; all stopped afterwards."""
    started: list[TLSServer] = []

    def start(leaf: Issued, *extra: Issued) -> TLSServer:
        server = start_tls_server(tmp_path / f"server{len(started)}", leaf, extra)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def good_server(tls_server: TLSServerFactory, good_leaf: Issued, intermediate: Issued) -> TLSServer:
    """The well-configured server: leaf for localhost/127.0.0.1, intermediate in the chain."""
    return tls_server(good_leaf, intermediate)
