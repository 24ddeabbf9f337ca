"""TLS verification through trustd: real servers on 127.0.0.1, real HTTP clients."""

from __future__ import annotations

import asyncio
import datetime as dt
import http.client
import json
import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import urllib3
from client.conftest import BODY, NOW, TLSServer, TLSServerFactory, short_leaf
from daemons import Daemon, daemon_per_module
from pki import PKI, Issued

from trustd.client import Client, Policy
from trustd.client._surface import Methods
from trustd.client.adapters import TrustdAdapter, session
from trustd.client.ssl import (
    TrustdSSLContext,
    TrustdSSLSocket,
    TrustdVerificationError,
    create_context,
    peer_chain,
)

daemon = daemon_per_module  # one daemon for the module: every test's certificates are its own


def _urlopen(url: str, context: ssl.SSLContext) -> bytes:
    with urllib.request.urlopen(url, context=context, timeout=10) as response:
        body: bytes = response.read()
    return body


def _refusal(url: str, context: ssl.SSLContext) -> TrustdVerificationError:
    """The verification error urllib reports for `url`."""
    with pytest.raises(urllib.error.URLError) as raised:
        _urlopen(url, context)
    reason = raised.value.reason
    assert isinstance(reason, TrustdVerificationError), reason
    assert isinstance(reason, ssl.SSLCertVerificationError)
    return reason


@pytest.fixture
def trustd(daemon: Daemon) -> Iterator[Client]:
    client = Client(daemon.socket)
    yield client
    client.close()


# -- the good server, through every HTTP client ---------------------------------------------------


def test_urllib_request(trustd: Client, good_server: TLSServer) -> None:
    context = create_context(trustd)
    assert _urlopen(good_server.url, context) == BODY
    # The IP address SAN matches too.
    assert _urlopen(f"https://127.0.0.1:{good_server.port}/", context) == BODY
    # And through an opener, as most urllib code builds it.
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context))
    with opener.open(good_server.url, timeout=10) as response:
        assert response.read() == BODY


def test_http_client(
    trustd: Client, good_server: TLSServer, good_leaf: Issued, intermediate: Issued
) -> None:
    connection = http.client.HTTPSConnection(
        "localhost", good_server.port, context=create_context(trustd), timeout=10
    )
    try:
        connection.request("GET", "/")
        assert connection.getresponse().read() == BODY
        sock = connection.sock
        assert isinstance(sock, TrustdSSLSocket)
        verdict = sock.trustd_result
        assert verdict is not None and verdict.trusted and verdict.result == "unspecified"
        assert verdict.chain[:2] == (good_leaf.der, intermediate.der)
        # The whole chain the server sent went to trustd, and getpeercert() works as usual.
        assert peer_chain(sock)[0] == [good_leaf.der, intermediate.der]
        assert sock.getpeercert(binary_form=True) == good_leaf.der
        info = sock.getpeercert()
        assert info is not None
        assert ("DNS", "localhost") in info["subjectAltName"]
    finally:
        connection.close()


def test_requests_and_urllib3(trustd: Client, good_server: TLSServer) -> None:
    context = create_context(trustd)
    with session(context) as web:
        response = web.get(good_server.url, timeout=10)
        assert response.status_code == 200 and response.content == BODY
        # A second request on the same pooled connection.
        assert web.get(good_server.url, timeout=10).content == BODY
    with requests.Session() as web:
        web.mount("https://", TrustdAdapter(context))
        assert web.get(good_server.url, timeout=10).content == BODY
    with urllib3.PoolManager(ssl_context=context) as pool:
        answer = pool.request("GET", good_server.url, timeout=10)
        assert answer.status == 200 and answer.data == BODY


def test_asyncio_streams(
    trustd: Client, good_server: TLSServer, tls_server: TLSServerFactory, pki: PKI
) -> None:
    context = create_context(trustd)
    self_signed = short_leaf(pki, None, ["localhost"])
    bad = tls_server(self_signed)

    async def get(port: int) -> bytes:
        reader, writer = await asyncio.open_connection(
            "localhost", port, ssl=context, ssl_handshake_timeout=10
        )
        try:
            writer.write(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            await writer.drain()
            assert writer.get_extra_info("peercert")["subject"]  # filled once trusted
            return await reader.read()
        finally:
            writer.close()
            await writer.wait_closed()

    async def main() -> None:
        assert (await get(good_server.port)).endswith(BODY)
        with pytest.raises(ssl.SSLCertVerificationError) as raised:
            await get(bad.port)
        assert "AnchorTrusted" in raised.value.verify_message

    asyncio.run(main())


# -- servers trustd refuses -----------------------------------------------------------------------


def test_a_certificate_for_another_name_fails_the_hostname_check(
    trustd: Client, tls_server: TLSServerFactory, intermediate: Issued, pki: PKI
) -> None:
    other = short_leaf(pki, intermediate, ["other.example"])
    server = tls_server(other, intermediate)
    refusal = _refusal(server.url, create_context(trustd))
    assert "SSLHostname" in refusal.verify_message
    assert "SSLHostname" in str(refusal)
    assert refusal.verify_code == 5  # recoverableTrustFailure
    assert refusal.result is not None and refusal.result.checks == ("SSLHostname",)
    assert refusal.reason == "CERTIFICATE_VERIFY_FAILED"

    with session(create_context(trustd)) as web, pytest.raises(requests.exceptions.SSLError) as r:
        web.get(server.url, timeout=10)
    assert "SSLHostname" in str(r.value)

    connection = http.client.HTTPSConnection(
        "localhost", server.port, context=create_context(trustd), timeout=10
    )
    with pytest.raises(ssl.SSLCertVerificationError, match="SSLHostname"):
        connection.request("GET", "/")
    connection.close()

    # Without the hostname check the same chain is fine.
    assert _urlopen(server.url, create_context(trustd, host_check=False)) == BODY


def test_a_self_signed_server_fails_anchor_trust(
    trustd: Client, tls_server: TLSServerFactory, pki: PKI
) -> None:
    self_signed = short_leaf(pki, None, ["localhost"], ["127.0.0.1"])
    server = tls_server(self_signed)
    refusal = _refusal(server.url, create_context(trustd))
    assert "AnchorTrusted" in refusal.verify_message
    assert refusal.result is not None and not refusal.result.trusted
    # verify_mode CERT_NONE (hostname check off) accepts anything, as with ssl.SSLContext.
    lax = create_context(trustd, host_check=False)
    lax.verify_mode = ssl.CERT_NONE
    assert _urlopen(server.url, lax) == BODY


def test_an_expired_server_fails_and_stored_exceptions_can_excuse_it(
    trustd: Client, tls_server: TLSServerFactory, intermediate: Issued, pki: PKI
) -> None:
    expired = pki.leaf(
        intermediate,
        dns=["localhost"],
        not_before=NOW - dt.timedelta(days=400),
        not_after=NOW - dt.timedelta(days=35),
    )
    server = tls_server(expired, intermediate)
    refusal = _refusal(server.url, create_context(trustd))
    assert "TemporalValidity" in refusal.verify_message
    assert "expired" in refusal.verify_message
    assert refusal.result is not None

    # The user clicks "visit this website anyway": the exceptions go to trustd for the host.
    trustd.set_exceptions("localhost", server.port, refusal.result.exceptions)
    excused = create_context(trustd, apply_exceptions=True)
    assert _urlopen(server.url, excused) == BODY
    _refusal(server.url, create_context(trustd))  # only contexts that ask for them use them
    trustd.remove_exceptions("localhost", server.port)
    _refusal(server.url, excused)


def test_the_chain_the_server_sends_is_what_trustd_gets(
    trustd: Client, tls_server: TLSServerFactory, good_leaf: Issued, intermediate: Issued
) -> None:
    """A server that leaves its intermediate out fails until trustd's store has it."""
    server = tls_server(good_leaf)
    refusal = _refusal(server.url, create_context(trustd))
    assert refusal.result is not None and not refusal.result.trusted
    trustd.add_certificates([intermediate.der])
    assert _urlopen(server.url, create_context(trustd)) == BODY


def test_context_anchors(
    trustd: Client, tls_server: TLSServerFactory, good_server: TLSServer, pki: PKI
) -> None:
    org = pki.root("Org Root")
    org_server = tls_server(short_leaf(pki, org, ["localhost"]))
    _refusal(org_server.url, create_context(trustd))
    assert _urlopen(org_server.url, create_context(trustd, anchors=[org.der])) == BODY
    only_org = create_context(trustd, anchors=[org.der], anchors_only=True)
    assert _urlopen(org_server.url, only_org) == BODY
    assert "AnchorTrusted" in _refusal(good_server.url, only_org).verify_message


def test_no_daemon_means_no_connection(tmp_path: Path, good_server: TLSServer) -> None:
    context = create_context(Client(tmp_path / "absent.sock"))
    refusal = _refusal(good_server.url, context)
    assert refusal.verify_code == 7 and refusal.result is None
    assert "trustd is not running" in refusal.verify_message
    assert "systemctl enable --now trustd.socket" in refusal.verify_message


def test_the_default_client_uses_trustd_socket(
    daemon: Daemon, good_server: TLSServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRUSTD_SOCKET", str(daemon.socket))
    context = create_context()
    assert _urlopen(good_server.url, context) == BODY
    assert context.client.socket_path == daemon.socket
    context.client.close()


# -- the context's knobs --------------------------------------------------------------------------


def test_verify_mode_and_check_hostname_keep_their_meaning(tmp_path: Path) -> None:
    context = create_context(Client(tmp_path / "unused.sock"))
    assert isinstance(context, ssl.SSLContext) and isinstance(context, TrustdSSLContext)
    assert context.check_hostname is True and context.verify_mode == ssl.CERT_REQUIRED
    assert context.protocol == ssl.PROTOCOL_TLS_CLIENT
    with pytest.raises(ValueError, match="check_hostname"):
        context.verify_mode = ssl.CERT_NONE
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    assert context.verify_mode == ssl.CERT_NONE
    context.check_hostname = True  # upgrades CERT_NONE, as ssl.SSLContext does
    assert getattr(context, "verify_mode") == ssl.CERT_REQUIRED  # noqa: B009 (no narrowing)
    context.verify_mode = ssl.CERT_OPTIONAL
    assert context.verify_mode == ssl.CERT_OPTIONAL
    # OpenSSL itself never verifies: trustd does, after the handshake.
    assert ssl.SSLContext.verify_mode.fget(context) == ssl.CERT_NONE  # type: ignore[attr-defined]
    assert context.options & ssl.OP_NO_RENEGOTIATION
    # CA locations are trustd's business.
    context.load_verify_locations(cadata=b"")
    context.load_default_certs()
    context.set_default_verify_paths()
    assert context.get_ca_certs() == []


def test_misuse_is_refused(tmp_path: Path) -> None:
    context = create_context(Client(tmp_path / "unused.sock"))
    with pytest.raises(ValueError, match="PROTOCOL_TLS_CLIENT"):
        TrustdSSLContext(ssl.PROTOCOL_TLS_SERVER)
    with socket.socket() as plain:
        with pytest.raises(ValueError, match="for clients"):
            context.wrap_socket(plain, server_side=True)
        with pytest.raises(ValueError, match="server_hostname"):
            context.wrap_socket(plain)
    with pytest.raises(ValueError, match="for clients"):
        context.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_side=True)
    with pytest.raises(ValueError, match="server_hostname"):
        context.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO())


# -- the Evaluate call the context sends ----------------------------------------------------------


CONTEXT_OPTIONS: list[tuple[dict[str, Any], bool]] = [
    ({}, True),
    ({}, False),
    ({"apply_exceptions": True, "network": False}, True),
    ({"anchors": [b"\x30\x03\x02\x01\x01"], "anchors_only": True, "revocation": ["ocsp"]}, True),
]


def test_evaluate_call_is_the_clients(good_server: TLSServer) -> None:
    """The call a context encodes itself is the one Client.evaluate would send."""
    plain = ssl.create_default_context()
    plain.check_hostname, plain.verify_mode = False, ssl.CERT_NONE
    with (
        socket.create_connection(("127.0.0.1", good_server.port), timeout=10) as raw,
        plain.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        chain = peer_chain(tls)[0]
        for options, host_check in CONTEXT_OPTIONS:
            context = create_context(Client("/nonexistent"), host_check, **options)
            ours = context._evaluate_call(chain, "localhost", tls)
            theirs = Methods.evaluate.__wrapped__(
                chain,
                [Policy.ssl("localhost" if host_check else None)],
                host="localhost" if context.apply_exceptions else None,
                port=good_server.port,
                anchors=context.anchors,
                anchors_only=context.anchors_only,
                revocation=context.revocation,
                network=context.network,
            )
            assert (ours.method, ours.result) == (theirs.method, theirs.result)
            assert ours.message().endswith(b"\0")
            assert json.loads(ours.message()[:-1]) == json.loads(theirs.message()[:-1]), options


def test_every_connection_asks_trustd(trustd: Client, good_server: TLSServer) -> None:
    """Verdicts are not kept by the client: each handshake is one more Evaluate."""
    context = create_context(trustd)
    first = trustd.status().requests_served
    before = trustd.status().requests_served  # first to before: what a Status call adds
    for _ in range(3):
        assert _urlopen(good_server.url, context) == BODY
    after = trustd.status().requests_served
    assert after - before == (before - first) + 3
