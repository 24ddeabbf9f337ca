"""The HTTP client's deadline and back-off against a real hostile server (tests/net/drip.py),
and what a skipped fetch means for a verdict (the service with a real store and fetcher)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from net.conftest import CA_VALIDITY, LEAF_VALIDITY, OcspResponder, Web
from net.drip import Drip, drip_server
from pki import PKI, Issued, aia

from trustd.core.policy import Policy, PolicyKind
from trustd.core.request import EvaluationRequest
from trustd.core.results import TrustResult
from trustd.net.completion import fetch_options
from trustd.net.fetcher import Fetcher
from trustd.net.http import FetchFailed, HttpClient
from trustd.service import Asked, Caller, TrustService
from trustd.store.engine import migrate, open_engine
from trustd.store.repository import TrustStore
from trustd.store.system_anchors import SystemAnchors

pytestmark = pytest.mark.alone  # it measures the client's deadlines and back-off


@pytest.fixture
def drip() -> Iterator[Drip]:
    with drip_server(interval=2.0) as server:
        yield server


def test_a_server_dripping_a_byte_every_2_s_is_cut_at_the_deadline(drip: Drip) -> None:
    """Headers or body dripping: either way the fetch ends at 3 s, not at the first pause."""
    client = HttpClient()  # 3 s in all
    outcomes: dict[str, tuple[float, str]] = {}

    def fetch(path: str) -> None:
        started = time.monotonic()
        try:
            client.get(drip.url(path), limit=1 << 20)
            outcomes[path] = (time.monotonic() - started, "answered")
        except FetchFailed as problem:
            outcomes[path] = (time.monotonic() - started, str(problem))

    threads = [
        threading.Thread(target=fetch, args=(path,), daemon=True) for path in ["/headers", "/body"]
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)  # formerly: for as long as the server drips
    assert set(outcomes) == {"/headers", "/body"}, "a fetch outlived its deadline"
    for seconds, outcome in outcomes.values():
        assert "did not answer within 3 s" in outcome
        assert 2.9 <= seconds < 5.0  # not at the first 2 s pause, and not as long as it drips


def test_back_off_is_per_user_and_per_host_and_port(drip: Drip, web: Web) -> None:
    client = HttpClient(timeout=0.5, backoff=60)
    with pytest.raises(FetchFailed, match="did not answer"):
        client.get(drip.url("/silent/1"), limit=10, scope=1000)
    # The same user: that (host, port) is skipped, whatever the path; another port of the same
    # host is asked as usual.
    with pytest.raises(FetchFailed, match="timed out recently"):
        client.get(drip.url("/silent/2"), limit=10, scope=1000)
    assert client.get(web.serve("/ok", b"ok"), limit=10, scope=1000).body == b"ok"
    # Another user is asked: one user's timeouts never skip another's fetch.
    with pytest.raises(FetchFailed, match="did not answer"):
        client.get(drip.url("/silent/3"), limit=10, scope=2000)
    drip.wait_for_hits(2)
    assert drip.hits == ["/silent/1", "/silent/3"]


@pytest.fixture
def service(tmp_path: Path, pki: PKI) -> Iterator[tuple[TrustService, Issued]]:
    root = pki.root("Deadline Root")
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(root.pem)
    engine = open_engine(tmp_path / "state" / "trustd.sqlite3")
    migrate(engine)
    store = TrustStore(engine, SystemAnchors(bundle))
    fetcher = Fetcher(store, HttpClient(timeout=0.5, backoff=60))
    yield TrustService(store, fetcher=fetcher), root
    engine.dispose()


def test_a_fetch_skipped_for_back_off_is_an_unanswered_question(
    service: tuple[TrustService, Issued],
    pki: PKI,
    drip: Drip,
    ocsp_responder: Callable[[Issued], OcspResponder],
) -> None:
    """Skipped or timed out, the verdict is the same: soft fail unless the caller requires an
    answer, and never reused; another user's request is asked of the network afresh, and a
    revoked answer found there counts."""
    trust, root = service
    ca = pki.intermediate(root, "Deadline CA", **CA_VALIDITY)  # type: ignore[arg-type]
    silent = pki.leaf(ca, dns=["d.example"], **LEAF_VALIDITY,  # type: ignore[arg-type]
                      extra_extensions=[aia(ocsp_urls=[drip.url("/silent")])])  # fmt: skip
    ssl = (Policy(PolicyKind.SSL, name="d.example"),)
    soft, _ = fetch_options(ssl, None, ["ocsp"])
    hard, _ = fetch_options(ssl, None, ["ocsp", "require"])
    request = EvaluationRequest((silent.der, ca.der), ssl)
    required = EvaluationRequest((silent.der, ca.der), ssl, require_revocation=True)

    me = Caller(1000, None)
    started = time.monotonic()
    timed_out = trust.evaluate_with_window(Asked(me, request, fetch=soft))
    assert time.monotonic() - started >= 0.5  # the network was asked, and timed out
    skipped = trust.evaluate_with_window(Asked(me, request, fetch=soft))
    drip.wait_for_hits(1)
    time.sleep(0.2)  # a second request, had there been one, would have been seen by now
    assert len(drip.hits) == 1  # back-off: not asked again
    for verdict, since, until in (timed_out, skipped):
        assert verdict.result is TrustResult.UNSPECIFIED  # soft fail, as the caller asked
        assert since == until  # never reused: the next attempt may get an answer
    verdict, _, _ = trust.evaluate_with_window(Asked(me, required, fetch=hard))
    assert verdict.result is TrustResult.RECOVERABLE_TRUST_FAILURE
    assert "RevocationResponseRequired" in {f.check for f in verdict.failures}

    # Another user is not skipped; a revoked answer from a responder that does answer counts.
    responder = ocsp_responder(ca)
    revoked = pki.leaf(ca, dns=["d.example"], **LEAF_VALIDITY,  # type: ignore[arg-type]
                       extra_extensions=[aia(ocsp_urls=[responder.url])])  # fmt: skip
    responder.know(revoked, revoked=True)
    other = Caller(2000, None)
    trust.evaluate_with_window(Asked(other, request, fetch=soft))
    drip.wait_for_hits(2)  # asked for the other user
    verdict, _, _ = trust.evaluate_with_window(
        Asked(other, EvaluationRequest((revoked.der, ca.der), ssl), fetch=soft)
    )
    assert verdict.result is TrustResult.FATAL_TRUST_FAILURE
    assert "Revocation" in {f.check for f in verdict.failures}
