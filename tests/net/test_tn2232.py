"""TN2232's trust failures, end to end: `openssl s_server` serving each scenario, trustd with
its network (AIA, OCSP, CRLs) and stores, and two real clients: `trustctl verify-cert
host:port` and the client library's SSLContext under urllib or http.client.
"""

from __future__ import annotations

import http.client
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from api.conftest import Daemon
from cli.conftest import Run, trustctl
from client.conftest import daemon as _client_daemon
from net.conftest import CA_VALIDITY, LEAF_VALIDITY, TLSServer, TLSServerFactory, Web
from pki import PKI, Issued, aia

from trustd.client import Client, Policy
from trustd.client.ssl import create_context

daemon = _client_daemon  # a daemon whose admin group is the test user's group

SUCCESS = "...certificate verification successful.\n"


def verify(daemon: Daemon, *args: str) -> Run:
    return trustctl(daemon.socket, "verify-cert", *args)


def fetch(daemon: Daemon, server: TLSServer, **context: object) -> bytes:
    """GET the server's page through urllib with trustd's SSLContext."""
    with Client(daemon.socket) as client:
        tls = create_context(client, **context)  # type: ignore[arg-type]
        with urllib.request.urlopen(server.url, context=tls, timeout=20) as response:
            body: bytes = response.read()
    return body


def refused(daemon: Daemon, server: TLSServer, **context: object) -> str:
    """The reason urllib reports when trustd refuses the server."""
    with pytest.raises(urllib.error.URLError) as raised:
        fetch(daemon, server, **context)
    assert isinstance(raised.value.reason, ssl.SSLCertVerificationError)
    return str(raised.value.reason)


def head_with_http_client(daemon: Daemon, server: TLSServer) -> int:
    with Client(daemon.socket) as client:
        connection = http.client.HTTPSConnection(
            "localhost", server.port, context=create_context(client), timeout=20
        )
        try:
            connection.request("GET", "/")
            return connection.getresponse().status
        finally:
            connection.close()


def write(tmp_path: Path, name: str, issued: Issued) -> str:
    path = tmp_path / f"{name}.pem"
    path.write_bytes(issued.pem)
    return str(path)


@pytest.fixture
def issuing_ca(daemon: Daemon, pki: PKI) -> Issued:
    return pki.intermediate(daemon.root, "TN2232 Issuing CA", **CA_VALIDITY)  # type: ignore[arg-type]


def leaf_for(pki: PKI, issuer: Issued | None, *extensions: object, **options: object) -> Issued:
    values = {**LEAF_VALIDITY, "dns": ["localhost"], **options}
    if extensions:
        values["extra_extensions"] = list(extensions)
    return pki.leaf(issuer, **values)  # type: ignore[arg-type]


# 1 ------------------------------------------------------------------------------------------


def test_1_valid_chain_to_a_system_anchor(
    daemon: Daemon, pki: PKI, issuing_ca: Issued, tls_server: TLSServerFactory
) -> None:
    server = tls_server(leaf_for(pki, issuing_ca), [issuing_ca])
    done = verify(daemon, server.target)
    assert (done.code, done.err) == (0, "")
    assert done.out.startswith(SUCCESS)
    assert b"s_server" in fetch(daemon, server)
    assert head_with_http_client(daemon, server) == 200


# 2 ------------------------------------------------------------------------------------------


def test_2_missing_intermediate_comes_from_aia_or_the_store(
    daemon: Daemon,
    pki: PKI,
    issuing_ca: Issued,
    web: Web,
    tls_server: TLSServerFactory,
    tmp_path: Path,
) -> None:
    url = web.serve("/ca.der", issuing_ca.der, Cache_Control="max-age=7200")
    leaf = leaf_for(pki, issuing_ca, aia(ca_issuers=[url]))
    server = tls_server(leaf)  # the server forgets its intermediate

    done = verify(daemon, server.target)
    assert (done.code, done.err) == (0, ""), done.err
    assert b"s_server" in fetch(daemon, server)
    assert web.hits["/ca.der"] == 1  # the second evaluation used the cached answer

    # With the network off, the chain cannot be completed ...
    with Client(daemon.socket) as client:
        offline = client.evaluate([leaf.der], Policy.ssl("localhost"), network=False)
        assert not offline.trusted and "MissingIntermediate" in offline.checks
    assert "(MissingIntermediate)" in refused(daemon, server, network=False)
    # ... until an administrator adds the intermediate to the store.
    added = trustctl(daemon.socket, "add-certificates", write(tmp_path, "ca", issuing_ca))
    assert added.code == 0, added.err
    assert b"s_server" in fetch(daemon, server, network=False)
    with Client(daemon.socket) as client:
        assert client.evaluate([leaf.der], Policy.ssl("localhost"), network=False).trusted


# 3 ------------------------------------------------------------------------------------------


def test_3_self_signed_server_trusted_as_that_one_certificate(
    daemon: Daemon, pki: PKI, tls_server: TLSServerFactory, tmp_path: Path
) -> None:
    alone = leaf_for(pki, None, cn="localhost")
    other = leaf_for(pki, None, cn="localhost")  # the same name, another certificate
    server, impostor = tls_server(alone), tls_server(other)
    done = verify(daemon, server.target)
    assert (done.code, done.err) == (1, "Cert Verify Result: CSSMERR_TP_NOT_TRUSTED\n")
    assert "(AnchorTrusted)" in refused(daemon, server)

    # The user trusts exactly this certificate, for SSL with this host name.
    path = write(tmp_path, "alone", alone)
    trusted = trustctl(daemon.socket, "add-trusted-cert", "-p", "ssl", "-s", "localhost", path)
    assert trusted.code == 0, trusted.err
    assert verify(daemon, server.target).code == 0
    assert b"s_server" in fetch(daemon, server)
    assert verify(daemon, impostor.target).code == 1
    assert "(AnchorTrusted)" in refused(daemon, impostor)


# 4 ------------------------------------------------------------------------------------------


def test_4_private_ca_trusted_by_the_admin_then_by_a_drop_in(
    daemon: Daemon, pki: PKI, tls_server: TLSServerFactory, tmp_path: Path
) -> None:
    org = pki.root("Org Private CA", **CA_VALIDITY)  # type: ignore[arg-type]
    server = tls_server(leaf_for(pki, org), [org])
    assert verify(daemon, server.target).err == "Cert Verify Result: CSSMERR_TP_NOT_TRUSTED\n"
    assert "(AnchorTrusted)" in refused(daemon, server)

    path = write(tmp_path, "org", org)
    assert trustctl(daemon.socket, "add-trusted-cert", "-d", path).code == 0
    assert verify(daemon, server.target).code == 0
    assert b"s_server" in fetch(daemon, server)
    assert trustctl(daemon.socket, "remove-trusted-cert", "-d", path).code == 0
    assert verify(daemon, server.target).code == 1

    # An administrator's drop-in file does the same, live.
    anchors = daemon.dropins / "anchors"
    anchors.mkdir(parents=True, exist_ok=True)
    (anchors / "org.pem").write_bytes(org.pem)
    assert _eventually(lambda: verify(daemon, server.target).code == 0)
    assert b"s_server" in fetch(daemon, server)
    (anchors / "org.pem").unlink()
    assert _eventually(lambda: verify(daemon, server.target).code == 1)


def _eventually(condition: Callable[[], bool], seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


# 5 ------------------------------------------------------------------------------------------


def test_5_pinning_to_the_org_ca_refuses_another_valid_ca(
    daemon: Daemon, pki: PKI, issuing_ca: Issued, tls_server: TLSServerFactory
) -> None:
    org = pki.root("Pinned Org CA", **CA_VALIDITY)  # type: ignore[arg-type]
    public = tls_server(leaf_for(pki, issuing_ca), [issuing_ca])  # valid under a system root
    internal = tls_server(leaf_for(pki, org), [org])
    assert b"s_server" in fetch(daemon, public)  # trusted normally ...
    pinned = {"anchors": [org.der], "anchors_only": True}
    assert "(AnchorTrusted)" in refused(daemon, public, **pinned)  # ... but not when pinned
    assert b"s_server" in fetch(daemon, internal, **pinned)
    with Client(daemon.socket) as client:
        chain = [leaf_for(pki, issuing_ca).der, issuing_ca.der]
        verdict = client.evaluate(
            chain, Policy.ssl("localhost"), anchors=[org.der], anchors_only=True
        )
        assert not verdict.trusted
