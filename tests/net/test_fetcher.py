"""trustd.net against real peers: an HTTP server, `openssl ocsp`, and a real store as cache."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7
from net.conftest import CA_VALIDITY, LEAF_VALIDITY, NOW, OcspResponder, Web
from pki import PKI, Issued, aia, crl_distribution

from trustd.core.certificates import Certificate, parse_certificate
from trustd.core.ocsp import Status, answer_for, parse_response
from trustd.core.policy import Policy, PolicyKind
from trustd.net.completion import Method, fetch_options
from trustd.net.fetcher import Fetcher, Mode
from trustd.net.http import FetchFailed, HttpClient
from trustd.store.engine import migrate, open_engine
from trustd.store.repository import TrustStore
from trustd.store.system_anchors import SystemAnchors


@pytest.fixture
def store(tmp_path: Path) -> Iterator[TrustStore]:
    engine = open_engine(tmp_path / "state" / "trustd.sqlite3")
    migrate(engine)
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(b"")
    yield TrustStore(engine, SystemAnchors(bundle))
    engine.dispose()


@pytest.fixture
def ca(pki: PKI) -> Issued:
    return pki.intermediate(pki.root("Fetch Root"), "Fetch CA", **CA_VALIDITY)  # type: ignore[arg-type]


def cert(issued: Issued) -> Certificate:
    return parse_certificate(issued.der)


def leaf(pki: PKI, issuer: Issued, *extensions: object) -> Certificate:
    made = pki.leaf(issuer, dns=["fetch.example"], extra_extensions=list(extensions),  # type: ignore[arg-type]
                    **LEAF_VALIDITY)  # fmt: skip
    return cert(made)


def test_aia_answers_in_every_format_and_only_real_parents(
    pki: PKI, ca: Issued, web: Web, store: TrustStore
) -> None:
    unrelated = pki.intermediate(pki.root("Other Root"), "Unrelated CA")
    p7 = pkcs7.serialize_certificates([unrelated.cert, ca.cert], Encoding.DER)
    for path, body in {"/der": ca.der, "/pem": ca.pem, "/p7c": p7}.items():
        child = leaf(pki, ca, aia(ca_issuers=[web.url(path)]))
        web.serve(path, body)
        assert Fetcher(store).issuers(child, NOW) == [ca.der], path

    # https and other schemes are never fetched; at most 3 URIs are tried.
    urls = ["https://127.0.0.1/x", *(web.url(f"/missing{i}") for i in range(3)), web.url("/der")]
    child = leaf(pki, ca, aia(ca_issuers=urls))
    assert Fetcher(store).issuers(child, NOW) == []
    assert [web.hits[f"/missing{i}"] for i in range(3)] == [1, 1, 1]
    # A certificate listing ten or more is not chased at all.
    crowded = leaf(pki, ca, aia(ca_issuers=[web.url("/der")] * 10))
    before = web.hits["/der"]
    assert Fetcher(store).issuers(crowded, NOW) == []
    assert web.hits["/der"] == before
    # Nor is an expired certificate.
    child = leaf(pki, ca, aia(ca_issuers=[web.url("/der")]))
    assert Fetcher(store).issuers(child, child.not_after + dt.timedelta(days=1)) == []


def test_answers_are_cached_and_stale_ones_outlive_the_network(
    pki: PKI, ca: Issued, web: Web, store: TrustStore
) -> None:
    url = web.serve("/ca.der", ca.der, Cache_Control="public, max-age=60")
    child = leaf(pki, ca, aia(ca_issuers=[url]))
    clock = [NOW]
    fetcher = Fetcher(store, clock=lambda: clock[0])
    assert fetcher.issuers(child, NOW) == [ca.der]
    assert fetcher.issuers(child, NOW) == [ca.der]
    assert web.hits["/ca.der"] == 1  # fresh: max-age 60 s is clamped up to an hour
    (_, expires) = store.cache_get("aia", url) or (b"", NOW)
    assert expires == NOW + dt.timedelta(hours=1)

    clock[0] = NOW + dt.timedelta(hours=2)  # stale now
    del web.files["/ca.der"]
    assert fetcher.issuers(child, NOW) == [ca.der]  # the network failed: stale beats nothing
    assert web.hits["/ca.der"] == 2
    assert fetcher.issuers(child, NOW, Mode(offline=True)) == [ca.der]
    assert web.hits["/ca.der"] == 2  # offline: the cache alone


def test_a_host_that_times_out_is_left_alone_for_a_while(
    pki: PKI, ca: Issued, web: Web, store: TrustStore
) -> None:
    web.stall.add("/slow")
    child = leaf(pki, ca, aia(ca_issuers=[web.url("/slow")]))
    fetcher = Fetcher(store, HttpClient(timeout=0.5, backoff=60))
    started = time.monotonic()
    assert fetcher.issuers(child, NOW) == []
    assert time.monotonic() - started < 5
    assert web.hits["/slow"] == 1
    assert fetcher.issuers(child, NOW) == []
    assert web.hits["/slow"] == 1  # not asked again within the back-off
    with pytest.raises(FetchFailed, match="timed out recently"):
        fetcher.http.get(web.url("/anything"), limit=10)


def test_limits_and_schemes_of_the_http_client(web: Web) -> None:
    client = HttpClient()
    big = web.serve("/big", b"x" * 2048)
    with pytest.raises(FetchFailed, match="larger than"):
        client.get(big, limit=1024)
    assert client.get(big, limit=4096).body == b"x" * 2048
    with pytest.raises(FetchFailed, match="not an http URL"):
        client.get("ftp://127.0.0.1/x", limit=10)
    with pytest.raises(FetchFailed, match="HTTP 404"):
        client.get(web.url("/none"), limit=10)


@pytest.mark.parametrize("get_limit", [255, 0], ids=["GET", "POST"])
def test_ocsp_from_openssl_by_get_and_post(
    pki: PKI,
    ca: Issued,
    store: TrustStore,
    ocsp_responder: Callable[[Issued], OcspResponder],
    get_limit: int,
) -> None:
    responder = ocsp_responder(ca)
    issued = pki.leaf(ca, dns=["ocsp.example"], extra_extensions=[aia(ocsp_urls=[responder.url])],  # type: ignore[arg-type]
                      **LEAF_VALIDITY)  # fmt: skip
    responder.know(issued, revoked=True)
    fetcher = Fetcher(store, ocsp_get_limit=get_limit)
    (body,) = fetcher.ocsp(cert(issued), cert(ca))
    response = parse_response(body)
    assert response is not None
    answer = answer_for([response], cert(issued), cert(ca), dt.datetime.now(dt.UTC))
    assert answer is not None and answer.status is Status.REVOKED and answer.reason == 1
    # Cached until nextUpdate (openssl -ndays 1).
    (only,) = [r for r in [store.cache_get("ocsp", k) for k in _ocsp_keys(store)] if r]
    assert only[1] > dt.datetime.now(dt.UTC) + dt.timedelta(hours=23)


def _ocsp_keys(store: TrustStore) -> list[str]:
    from sqlalchemy import select

    from trustd.store.models import NetworkCacheRow

    with store.engine.connect() as connection:
        return list(
            connection.scalars(select(NetworkCacheRow.key).where(NetworkCacheRow.kind == "ocsp"))
        )


def test_crls_from_distribution_points(pki: PKI, ca: Issued, web: Web, store: TrustStore) -> None:
    crl = pki.crl(ca, [], next_update=NOW + dt.timedelta(days=3))
    url = web.serve("/ca.crl", crl.der)
    child = leaf(pki, ca, crl_distribution("ldap://ldap.example/cn=x", url))
    assert Fetcher(store).crls(child) == [crl.der]
    assert (store.cache_get("crl", url) or (b"", NOW))[1] == crl.crl.next_update_utc


def test_network_defaults_follow_apple() -> None:
    basic, ssl = Policy(), Policy(PolicyKind.SSL, name="x.example")
    assert fetch_options([basic], None, [])[0].network is False
    assert fetch_options([ssl], None, [])[0].network is True
    assert fetch_options([Policy(PolicyKind.EAP)], None, [])[0].network is False
    options, required = fetch_options([basic], None, ["ocsp", "require"])
    assert options.network and options.revocation == {Method.OCSP} and required
    offline, _ = fetch_options([ssl], None, ["offline"])
    assert offline.mode.offline and offline.revocation == {Method.OCSP}
    off, _ = fetch_options([ssl], False, ["crl"])
    assert not off.network and off.mode.offline  # no network: cached answers only
    with pytest.raises(ValueError, match="bogus"):
        fetch_options([ssl], None, ["bogus"])
