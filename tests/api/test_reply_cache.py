"""Evaluate's reply cache: bounded in bytes in all and in entries per uid, keyed by digest."""

from __future__ import annotations

from trustd.api.methods import ReplyCache, request_digest
from trustd.api.varlink import Encoded
from trustd.core.request import EvaluationRequest


def _reply(size: int) -> Encoded:
    return Encoded("x" * size)


def test_bytes_in_all_and_entries_per_uid_are_bounded() -> None:
    cache = ReplyCache(max_bytes=10_000, per_user=3, largest=4_000)
    for n in range(5):
        cache.put((1, 0, bytes([n])), _reply(100), (None, None))
    assert len(cache) == 3  # uid 1's oldest two went
    assert cache.get((1, 0, b"\0")) is None
    assert cache.get((1, 0, b"\4")) is not None
    cache.put((2, 0, b"big"), _reply(5_000), (None, None))
    assert cache.get((2, 0, b"big")) is None  # larger than any reply kept
    assert cache.get((1, 0, b"\2")) is not None  # now \3 is the least recently used
    for n in range(4):
        cache.put((3 + n, 0, b"k"), _reply(2_450), (None, None))
    assert cache.bytes <= 10_000
    assert cache.get((1, 0, b"\3")) is None  # the least recently used went first
    assert cache.get((1, 0, b"\2")) is not None
    assert cache.get((1, 0, b"\4")) is not None
    assert cache.get((6, 0, b"k")) is not None


def test_the_key_is_a_digest_of_the_decoded_request() -> None:
    """Equal requests, equal digests; a key is 32 bytes however large the request."""
    big = EvaluationRequest(certificates=(b"\1" * 1_000_000,), anchors=(b"\2" * 1_000_000,))
    same = EvaluationRequest(certificates=(b"\1" * 1_000_000,), anchors=(b"\2" * 1_000_000,))
    other = EvaluationRequest(certificates=(b"\1" * 1_000_000,), anchors=(b"\3" * 1_000_000,))
    assert request_digest(big, None, 0, None) == request_digest(same, None, 0, None)
    assert request_digest(big, None, 0, None) != request_digest(other, None, 0, None)
    assert request_digest(big, "a.example", 0, None) != request_digest(big, None, 0, None)
    assert len(request_digest(big, None, 0, None)) == 32
