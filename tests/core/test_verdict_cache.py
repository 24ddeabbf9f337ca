"""The verdict cache answers only while nothing the verdict depends on has changed."""

from __future__ import annotations

import datetime as dt

from core.helpers import cert, ssl
from pki import PKI, Issued

from trustd.core import (
    Domain,
    EvaluationRequest,
    MemorySnapshot,
    TrustResult,
    TrustSettings,
)
from trustd.core.evaluate import Evaluator

LEAF_END = dt.datetime(2030, 12, 1, tzinfo=dt.UTC)


def chain(pki: PKI) -> tuple[Issued, bytes]:
    root = pki.root()
    leaf = pki.leaf(
        root,
        dns=["example.com"],
        not_before=dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
        not_after=LEAF_END,
    )
    return root, leaf.der


def test_same_request_same_state_is_answered_from_the_cache(pki: PKI) -> None:
    root, leaf = chain(pki)
    evaluator = Evaluator()
    snapshot = MemorySnapshot(system_anchors=[cert(root)])
    request = EvaluationRequest((leaf,), (ssl(),))
    first = evaluator.evaluate(request, snapshot, dt.datetime(2030, 6, 1, tzinfo=dt.UTC))
    second = evaluator.evaluate(request, snapshot, dt.datetime(2030, 7, 1, tzinfo=dt.UTC))
    assert first.result is TrustResult.UNSPECIFIED
    assert second is first


def test_crossing_a_validity_boundary_reevaluates(pki: PKI) -> None:
    root, leaf = chain(pki)
    evaluator = Evaluator()
    snapshot = MemorySnapshot(system_anchors=[cert(root)])
    request = EvaluationRequest((leaf,), (ssl(),))
    at_end = evaluator.evaluate(request, snapshot, LEAF_END)
    after = evaluator.evaluate(request, snapshot, LEAF_END + dt.timedelta(seconds=1))
    assert at_end.trusted
    assert after.result is TrustResult.RECOVERABLE_TRUST_FAILURE
    before_start = evaluator.evaluate(request, snapshot, dt.datetime(2029, 12, 31, tzinfo=dt.UTC))
    assert not before_start.trusted


def test_changed_trust_state_is_never_answered_from_the_cache(pki: PKI) -> None:
    root, leaf = chain(pki)
    evaluator = Evaluator()
    moment = dt.datetime(2030, 6, 1, tzinfo=dt.UTC)
    request = EvaluationRequest((leaf,), (ssl(),))
    trusted = evaluator.evaluate(request, MemorySnapshot(system_anchors=[cert(root)]), moment)
    untrusted = evaluator.evaluate(request, MemorySnapshot(), moment)
    assert trusted.trusted and not untrusted.trusted


def test_snapshots_without_a_token_are_not_cached(pki: PKI) -> None:
    root, leaf = chain(pki)

    class Uncached(MemorySnapshot):
        @property  # type: ignore[override]
        def cache_token(self) -> None:
            return None

        @cache_token.setter
        def cache_token(self, _: object) -> None:
            """MemorySnapshot assigns a token at construction; this snapshot keeps none."""

    evaluator = Evaluator()
    snapshot = Uncached(admin=[(cert(root), TrustSettings(Domain.ADMIN))])
    request = EvaluationRequest((leaf,), (ssl(),))
    moment = dt.datetime(2030, 6, 1, tzinfo=dt.UTC)
    assert evaluator.evaluate(request, snapshot, moment) is not evaluator.evaluate(
        request, snapshot, moment
    )


def test_a_cached_verdict_does_not_keep_the_requests_bytes(pki: PKI) -> None:
    """Keys are digests: a request carrying megabytes (junk anchors, CRLs) is not pinned by the
    cache, whose entries stay small however large the requests were."""
    root, leaf = chain(pki)
    evaluator = Evaluator()
    snapshot = MemorySnapshot(system_anchors=[cert(root)])
    junk = b"\x30\x82" + bytes(1024 * 1024)  # a megabyte that is no certificate
    request = EvaluationRequest((leaf,), (ssl(),), anchors=(junk,))
    evaluator.evaluate(request, snapshot, dt.datetime(2030, 6, 1, tzinfo=dt.UTC))
    keys = list(evaluator._verdicts._items)  # the cache's own keys
    assert keys and all(len(repr(key)) < 1000 for key in keys)
