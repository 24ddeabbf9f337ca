"""TN2232's trust failures, end to end: `openssl s_server` serving each scenario, trustd with
its network (AIA, OCSP, CRLs) and stores, and two real clients: `trustctl verify-cert
host:port` and the client library's SSLContext under urllib or http.client.
"""

from __future__ import annotations

import datetime as dt
import http.client
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from cli.conftest import Run, trustctl
from client.conftest import daemon as _client_daemon
from daemons import Daemon
from net.conftest import (
    CA_VALIDITY,
    LEAF_VALIDITY,
    NOW,
    OcspResponder,
    TLSServer,
    TLSServerFactory,
    Web,
)
from pki import PKI, Issued, aia, crl_distribution
from waiting import eventually

from trustd.client import Client, Policy, UsageConstraint
from trustd.client.ssl import create_context

pytestmark = pytest.mark.long(seconds=22)

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
    with Client(daemon.socket) as client:
        explained = client.evaluate([leaf.der], Policy.ssl("localhost"), explain=True)
        assert explained.trusted
        assert [a.origin for a in explained.attempts if a.subject == "TN2232 Issuing CA"] == [
            "network"
        ]

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
    eventually(lambda: verify(daemon, server.target).code == 0, what="the drop-in anchor applies")
    assert b"s_server" in fetch(daemon, server)
    (anchors / "org.pem").unlink()
    eventually(
        lambda: verify(daemon, server.target).code == 1, what="the anchor goes with its file"
    )


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


# 6 ------------------------------------------------------------------------------------------


def test_6_expired_certificate_accepted_for_that_host_only(
    daemon: Daemon, pki: PKI, issuing_ca: Issued, tls_server: TLSServerFactory, tmp_path: Path
) -> None:
    past = {"not_before": NOW - dt.timedelta(days=100), "not_after": NOW - dt.timedelta(days=1)}
    expired = leaf_for(pki, issuing_ca, **past)
    server = tls_server(expired, [issuing_ca])
    assert verify(daemon, server.target).err == "Cert Verify Result: CSSMERR_TP_CERT_EXPIRED\n"
    assert "(TemporalValidity)" in refused(daemon, server, apply_exceptions=True)

    # The user accepts today's failure of this server, after looking at it.
    added = trustctl(daemon.socket, "exceptions", "add", server.target)
    assert (added.code, added.out) == (
        0,
        f"...exceptions stored for {server.target}: TemporalValidity\n",
    )
    assert verify(daemon, server.target).code == 0
    assert b"s_server" in fetch(daemon, server, apply_exceptions=True)
    assert "(TemporalValidity)" in refused(daemon, server)  # only where exceptions are asked for

    # For the host on any port, from files: an impostor's expired certificate is not excepted.
    files = [write(tmp_path, "leaf", expired), write(tmp_path, "ca", issuing_ca)]
    assert trustctl(daemon.socket, "exceptions", "add", "localhost", "-c", files[0],
                    "-c", files[1]).code == 0  # fmt: skip
    impostor = tls_server(leaf_for(pki, issuing_ca, **past), [issuing_ca])
    assert verify(daemon, impostor.target).err == ("Cert Verify Result: CSSMERR_TP_CERT_EXPIRED\n")
    # The same certificate failing something new is not excepted either.
    with Client(daemon.socket) as client:
        chain = [expired.der, issuing_ca.der]
        other_name = client.evaluate(
            chain, Policy.ssl("elsewhere.example"), host="localhost", port=server.port
        )
        assert not other_name.trusted and "SSLHostname" in other_name.checks
        assert client.evaluate(
            chain, Policy.ssl("localhost"), host="localhost", port=server.port
        ).trusted
    # A new epoch ends every exception.
    assert trustctl(daemon.socket, "exceptions", "reset").code == 0
    assert verify(daemon, server.target).code == 1


# 7 ------------------------------------------------------------------------------------------


def test_7_hostname_mismatch_allowed_by_a_trust_setting_on_that_certificate(
    daemon: Daemon, pki: PKI, issuing_ca: Issued, tls_server: TLSServerFactory, tmp_path: Path
) -> None:
    misnamed = leaf_for(pki, issuing_ca, dns=["intranet.example"])
    other = leaf_for(pki, issuing_ca, dns=["elsewhere.example"])
    server, second = tls_server(misnamed, [issuing_ca]), tls_server(other, [issuing_ca])
    assert verify(daemon, server.target).err == "Cert Verify Result: Host name mismatch\n"
    assert "(SSLHostname)" in refused(daemon, server)

    path = write(tmp_path, "misnamed", misnamed)
    allowed = trustctl(
        daemon.socket, "add-trusted-cert", "-r", "unspecified", "-p", "ssl", "-s", "localhost",
        "-e", "hostnameMismatch", path,
    )  # fmt: skip
    assert allowed.code == 0, allowed.err
    assert verify(daemon, server.target).code == 0
    assert b"s_server" in fetch(daemon, server)
    # Only that certificate: the other misnamed server is still refused.
    assert verify(daemon, second.target).err == "Cert Verify Result: Host name mismatch\n"
    assert "(SSLHostname)" in refused(daemon, second)


# 8 ------------------------------------------------------------------------------------------

CERT_REVOKED = -2147409652  # CSSMERR_TP_CERT_REVOKED, as an allowed error that must not work


def test_8_revoked_by_ocsp_is_fatal_whatever_the_user_allows(
    daemon: Daemon,
    pki: PKI,
    issuing_ca: Issued,
    tls_server: TLSServerFactory,
    ocsp_responder: Callable[[Issued], OcspResponder],
    tmp_path: Path,
) -> None:
    responder = ocsp_responder(issuing_ca)
    revoked = leaf_for(pki, issuing_ca, aia(ocsp_urls=[responder.url]))
    good = leaf_for(pki, issuing_ca, aia(ocsp_urls=[responder.url]))
    responder.know(revoked, revoked=True)
    responder.know(good)
    server, fine = tls_server(revoked, [issuing_ca]), tls_server(good, [issuing_ca])

    assert verify(daemon, "-R", "ocsp", fine.target).code == 0
    assert verify(daemon, fine.target).code == 0
    done = verify(daemon, "-R", "ocsp", server.target)
    assert (done.code, done.err) == (1, "Cert Verify Result: CSSMERR_TP_CERT_REVOKED\n")
    assert "(Revocation)" in refused(daemon, server, revocation=["ocsp"])
    assert b"s_server" in fetch(daemon, fine, revocation=["ocsp"])
    # Requiring answers fails here: the issuing CA names no responder and no CRL.
    assert "(RevocationResponseRequired)" in refused(daemon, fine, revocation=["ocsp", "require"])

    # Neither exceptions nor trust settings rescue a revoked certificate.
    with Client(daemon.socket) as client:
        chain = [revoked.der, issuing_ca.der]
        verdict = client.evaluate(chain, Policy.ssl("localhost"), revocation=["ocsp"])
        assert verdict.result == "fatalTrustFailure" and verdict.checks == ("Revocation",)
        client.set_exceptions("localhost", server.port, verdict.exceptions)
        client.set_trust_settings(
            "admin", issuing_ca.der, [UsageConstraint(result=2)]
        )  # the CA trusted as a root
        client.set_trust_settings(
            "user",
            revoked.der,
            [UsageConstraint(policy_name="sslServer", allowed_error=CERT_REVOKED, result=4)],
        )
        again = client.evaluate(
            chain, Policy.ssl("localhost"), revocation=["ocsp"], host="localhost",
            port=server.port,
        )  # fmt: skip
        assert again.result == "fatalTrustFailure" and "Revocation" in again.checks
    assert verify(daemon, "-R", "ocsp", server.target).code == 1


def test_8_revoked_by_crl_and_required_answers(
    daemon: Daemon, pki: PKI, web: Web, tls_server: TLSServerFactory
) -> None:
    fresh = {"this_update": NOW - dt.timedelta(hours=1), "next_update": NOW + dt.timedelta(days=2)}
    issuing_ca = pki.intermediate(
        daemon.root,
        "CRL Issuing CA",
        extra_extensions=[crl_distribution(web.url("/root.crl"))],
        **CA_VALIDITY,  # type: ignore[arg-type]
    )
    web.serve("/root.crl", pki.crl(daemon.root, [], **fresh).der)  # type: ignore[arg-type]
    crl_url = web.url("/issuing.crl")
    revoked = leaf_for(pki, issuing_ca, crl_distribution(crl_url))
    good = leaf_for(pki, issuing_ca, crl_distribution(crl_url))
    crl = pki.crl(issuing_ca, [revoked], **fresh)  # type: ignore[arg-type]
    server, fine = tls_server(revoked, [issuing_ca]), tls_server(good, [issuing_ca])

    # The leaves' CRL is not reachable yet: soft fail, unless a positive answer is required.
    assert verify(daemon, "-R", "crl", server.target).code == 0
    required = verify(daemon, "-R", "crl", "-R", "require", fine.target)
    assert (required.code, required.err) == (
        1,
        "Warning: crl option is deprecated, use ocsp\n"
        "Cert Verify Result: revocation check not successful for each cert\n",
    )

    web.serve("/issuing.crl", crl.der)
    done = verify(daemon, "-R", "crl", server.target)
    assert (done.code, done.err) == (
        1,
        "Warning: crl option is deprecated, use ocsp\n"
        "Cert Verify Result: CSSMERR_TP_CERT_REVOKED\n",
    )
    assert "(Revocation)" in refused(daemon, server, revocation=["crl"])
    assert verify(daemon, "-R", "crl", "-R", "require", fine.target).code == 0
    assert b"s_server" in fetch(daemon, fine, revocation=["crl", "require"])


# 9 ------------------------------------------------------------------------------------------


def test_9_denied_intermediate_and_the_cross_signed_way_around(
    daemon: Daemon, pki: PKI, issuing_ca: Issued, tls_server: TLSServerFactory, tmp_path: Path
) -> None:
    leaf = leaf_for(pki, issuing_ca)
    server = tls_server(leaf, [issuing_ca])
    assert verify(daemon, server.target).code == 0

    denied = trustctl(daemon.socket, "add-trusted-cert", "-d", "-r", "deny",
                      write(tmp_path, "issuing", issuing_ca))  # fmt: skip
    assert denied.code == 0, denied.err
    done = verify(daemon, server.target)
    assert (done.code, done.err) == (1, "SecTrustEvaluate result: kSecTrustResultDeny\n")
    assert "(UsageConstraints)" in refused(daemon, server)

    # The same CA cross-signed by another trusted root: a path that avoids the denied one.
    other_root = pki.root("Cross Root", **CA_VALIDITY)  # type: ignore[arg-type]
    cross = pki.cross_sign(issuing_ca, other_root)
    assert trustctl(daemon.socket, "add-trusted-cert", "-d",
                    write(tmp_path, "cross-root", other_root)).code == 0  # fmt: skip
    both = tls_server(leaf, [issuing_ca, cross])
    done = verify(daemon, both.target)
    assert (done.code, done.err) == (0, ""), done.err
    assert b"s_server" in fetch(daemon, both)
    with Client(daemon.socket) as client:
        verdict = client.evaluate([leaf.der, issuing_ca.der, cross.der], Policy.ssl("localhost"))
        assert verdict.result == "proceed"
        assert verdict.chain == (leaf.der, cross.der, other_root.der)


# the network flag and stapled answers -----------------------------------------------------------


def test_basic_policy_stays_off_the_network_unless_asked(
    daemon: Daemon, pki: PKI, issuing_ca: Issued, web: Web, tmp_path: Path
) -> None:
    url = web.serve("/ca.der", issuing_ca.der)
    leaf = write(tmp_path, "leaf", leaf_for(pki, issuing_ca, aia(ca_issuers=[url])))
    basic = verify(daemon, "-c", leaf)
    assert basic.err == "Cert Verify Result: CSSMERR_TP_NOT_TRUSTED\n"
    assert web.hits["/ca.der"] == 0  # Apple's basic policy has NoNetworkAccess
    assert verify(daemon, "-c", leaf, "-p", "ssl", "-n", "localhost").code == 0
    assert web.hits["/ca.der"] == 1
    with Client(daemon.socket) as client:
        assert client.evaluate([Path(leaf).read_bytes()], "basic", network=True).trusted


def test_stapled_ocsp_responses_are_evidence(daemon: Daemon, pki: PKI, issuing_ca: Issued) -> None:
    leaf = leaf_for(pki, issuing_ca)
    stapled = pki.ocsp_response(
        issuing_ca, leaf, "revoked", this_update=NOW - dt.timedelta(hours=1),
        next_update=NOW + dt.timedelta(days=1),
    )  # fmt: skip
    with Client(daemon.socket) as client:
        chain = [leaf.der, issuing_ca.der]
        assert client.evaluate(chain, Policy.ssl("localhost")).trusted
        verdict = client.evaluate(chain, Policy.ssl("localhost"), ocsp_responses=[stapled])
        assert verdict.result == "fatalTrustFailure" and verdict.checks == ("Revocation",)
