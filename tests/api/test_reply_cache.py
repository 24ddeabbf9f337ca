"""Evaluate's reply cache: bounded in bytes in all and in entries per uid, keyed by digest,
emptied by changes only where they touch what a reply read."""

from __future__ import annotations

import datetime as dt
import threading

from trustd.api.methods import request_digest
from trustd.api.varlink import Encoded
from trustd.core.request import EvaluationRequest
from trustd.core.verdict_cache import VerdictCache, holds_at
from trustd.service import Asked, Caller

NOW = dt.datetime(2030, 6, 1, tzinfo=dt.UTC)
ALWAYS = (None, None)
ME = Caller(1000, None)


def _reply(size: int) -> Encoded:
    return Encoded("x" * size)


def _put(cache: VerdictCache[tuple[int, bytes], Encoded], uid: int, key: bytes, size: int) -> None:
    cache.put((uid, key), _reply(size), ALWAYS, owner=uid, size=size)


def test_bytes_in_all_and_entries_per_uid_are_bounded() -> None:
    cache: VerdictCache[tuple[int, bytes], Encoded] = VerdictCache(
        1000, max_bytes=10_000, per_owner=3, largest=4_000
    )
    for n in range(5):
        _put(cache, 1, bytes([n]), 100)
    assert len(cache) == 3  # uid 1's oldest two went
    assert cache.get((1, b"\0"), NOW) is None
    assert cache.get((1, b"\4"), NOW) is not None
    _put(cache, 2, b"big", 5_000)
    assert cache.get((2, b"big"), NOW) is None  # larger than any reply kept
    assert cache.get((1, b"\2"), NOW) is not None  # now \3 is the least recently used
    for n in range(4):
        _put(cache, 3 + n, b"k", 2_450)
    assert cache.bytes <= 10_000
    assert cache.get((1, b"\3"), NOW) is None  # the least recently used went first
    assert cache.get((1, b"\2"), NOW) is not None
    assert cache.get((1, b"\4"), NOW) is not None
    assert cache.get((6, b"k"), NOW) is not None


def test_the_key_is_a_digest_of_the_decoded_request() -> None:
    """Equal requests, equal digests; a key is 32 bytes however large the request."""
    big = EvaluationRequest(certificates=(b"\1" * 1_000_000,), anchors=(b"\2" * 1_000_000,))
    same = EvaluationRequest(certificates=(b"\1" * 1_000_000,), anchors=(b"\2" * 1_000_000,))
    other = EvaluationRequest(certificates=(b"\1" * 1_000_000,), anchors=(b"\3" * 1_000_000,))
    assert request_digest(Asked(ME, big)) == request_digest(Asked(ME, same))
    assert request_digest(Asked(ME, big)) != request_digest(Asked(ME, other))
    assert request_digest(Asked(ME, big, "a.example")) != request_digest(Asked(ME, big))
    assert len(request_digest(Asked(ME, big))) == 32
    # Who asks is the key's other half (the uid), not the digest's.
    assert request_digest(Asked(Caller(0, None), big)) == request_digest(Asked(ME, big))


def test_the_window_rule() -> None:
    """[since, until): the start belongs to the window, the end does not; None is unbounded."""
    second = dt.timedelta(seconds=1)
    assert holds_at((NOW, NOW + second), NOW)
    assert not holds_at((NOW, NOW + second), NOW + second)
    assert not holds_at((NOW + second, None), NOW)
    assert holds_at(ALWAYS, NOW)
    cache: VerdictCache[str, int] = VerdictCache(10)
    cache.put("k", 1, (NOW, NOW + second))
    assert cache.get("k", NOW) == 1
    assert cache.get("k", NOW + second) is None
    assert cache.get("k", None) == 1  # a fixed verification date: the window is not asked


def test_a_change_removes_what_read_the_changed_fact_for_its_owners() -> None:
    cache: VerdictCache[str, int] = VerdictCache(10)
    cache.put("a1", 1, ALWAYS, owner=1, depends={"A"})
    cache.put("b1", 2, ALWAYS, owner=1, depends={"B"})
    cache.put("a2", 3, ALWAYS, owner=2, depends={"A"})
    cache.put("any", 4, ALWAYS, owner=2)  # depends on everything (the default)
    assert cache.invalidate({"A"}, owner=1) == 1  # a user's change: that user's replies
    assert cache.get("a1", NOW) is None
    assert (cache.get("b1", NOW), cache.get("a2", NOW)) == (2, 3)
    assert cache.invalidate({"C"}, owner=2) == 1  # the one that depends on everything
    assert cache.invalidate({"A"}) == 1  # everyone's
    assert (len(cache), cache.get("b1", NOW)) == (1, 2)
    cache.clear()
    assert len(cache) == 0


def test_an_answer_computed_across_a_change_is_not_kept() -> None:
    cache: VerdictCache[str, int] = VerdictCache(10)
    ticket = cache.ticket()
    cache.invalidate({"unrelated"})
    assert not cache.put("k", 1, ALWAYS, depends={"A"}, ticket=ticket)
    assert cache.get("k", NOW) is None


def test_concurrent_misses_share_one_computation_unless_a_change_came_between() -> None:
    cache: VerdictCache[str, int] = VerdictCache(10)
    started, release = threading.Event(), threading.Event()
    calls: list[int] = []

    def compute() -> tuple[int, tuple[None, None], set[str], int]:
        calls.append(1)
        started.set()
        release.wait(10)
        return len(calls), ALWAYS, {"A"}, 0

    answers: list[int] = []
    first = threading.Thread(target=lambda: answers.append(cache.get_or_compute("k", NOW, compute)))
    first.start()
    assert started.wait(10)
    second = threading.Thread(
        target=lambda: answers.append(cache.get_or_compute("k", NOW, compute))
    )
    second.start()
    while cache.counters.coalesced == 0:  # the second caller has joined the first's computation
        second.join(0.01)
    release.set()
    first.join(10)
    second.join(10)
    assert answers == [1, 1] and len(calls) == 1
    assert (cache.counters.computed, cache.counters.coalesced) == (1, 1)
    assert cache.get_or_compute("k", NOW, compute) == 1  # kept: a hit
    assert cache.counters.hits == 1
    # A change while a computation is under way: later callers do not join it, and its answer
    # (which may predate the change) is not kept.
    cache.clear()
    started.clear()
    release.clear()
    first = threading.Thread(target=lambda: answers.append(cache.get_or_compute("k", NOW, compute)))
    first.start()
    assert started.wait(10)
    cache.invalidate({"A"})
    release.set()
    assert cache.get_or_compute("k", NOW, compute) == 3
    first.join(10)
    assert len(calls) == 3 and cache.counters.coalesced == 1
