"""The one verdict cache: answers kept with the moments they hold between and what they read.

A verdict holds for the same request against the same trust state at a moment inside its
validity window [since, until) (`holds_at`: the one rule, like Apple's client reusing a result
between TrustResultNotBefore and TrustResultNotAfter).  A change to the trust state removes
what it could change (`invalidate`): the entries of an owner, or of everyone, that read one of
the changed facts.  Entries are bounded in number, optionally in bytes in all and in number per
owner, least recently used first out; a key is expected to be small (a digest, not a request).

Concurrent misses on one key are answered by one computation (`get_or_compute`): the first
caller computes, the others wait for its answer.  An answer computed across an invalidation is
returned to its callers but not kept, and nobody joins a computation that began before one.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Hashable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

Window = tuple[datetime | None, datetime | None]
EVERYTHING: frozenset[Hashable] = frozenset({("everything",)})  # what every entry depends on


def holds_at(window: Window, moment: datetime) -> bool:
    """Whether a verdict valid in [since, until) (None: unbounded) holds at `moment`."""
    since, until = window
    return (since is None or since <= moment) and (until is None or moment < until)


@dataclass(slots=True)
class Entry(Generic[V]):
    value: V
    window: Window
    owner: Hashable
    size: int
    depends: frozenset[Hashable]


@dataclass
class _Flight(Generic[V]):
    """One computation under way, and its answer once there is one."""

    ticket: int
    done: threading.Event = field(default_factory=threading.Event)
    answer: tuple[V, Window] | None = None
    failure: BaseException | None = None


@dataclass
class Counters:
    """What the cache did since it was made (for Status)."""

    hits: int = 0
    computed: int = 0  # misses answered by computing (an evaluation)
    coalesced: int = 0  # misses answered by another caller's computation
    invalidated: int = 0  # entries removed by changes


class VerdictCache(Generic[K, V]):
    """Values by key, each with its validity window, owner and the facts it depends on."""

    def __init__(
        self,
        entries: int,
        *,
        max_bytes: int | None = None,
        per_owner: int | None = None,
        largest: int | None = None,
    ) -> None:
        self.entries, self.max_bytes = entries, max_bytes
        self.per_owner, self.largest = per_owner, largest
        self.bytes = 0
        self.counters = Counters()
        self._items: OrderedDict[K, Entry[V]] = OrderedDict()
        self._by_owner: dict[Hashable, OrderedDict[K, None]] = {}
        self._flights: dict[K, _Flight[V]] = {}
        self._ticket = 0  # moves with every invalidation
        self._lock = threading.Lock()

    # -- reading and keeping -------------------------------------------------------------------

    def get(self, key: K, moment: datetime | None) -> V | None:
        """The value kept for `key` if it holds at `moment` (None: at any moment)."""
        with self._lock:
            entry = self._fresh(key, moment)
            if entry is None:
                return None
            self.counters.hits += 1
            return entry.value

    def _fresh(self, key: K, moment: datetime | None) -> Entry[V] | None:
        """The entry for `key` if it holds at `moment`, now the most recently used (under the
        lock)."""
        entry = self._items.get(key)
        if entry is None or (moment is not None and not holds_at(entry.window, moment)):
            return None
        self._items.move_to_end(key)
        self._by_owner[entry.owner].move_to_end(key)
        return entry

    def ticket(self) -> int:
        """Taken before computing a value: put() keeps it only if nothing changed since."""
        with self._lock:
            return self._ticket

    def put(
        self,
        key: K,
        value: V,
        window: Window,
        *,
        owner: Hashable = None,
        size: int = 0,
        depends: Collection[Hashable] = EVERYTHING,
        ticket: int | None = None,
    ) -> bool:
        """Keep `value` (unless larger than `largest`, or the state changed after `ticket`)."""
        if self.largest is not None and size > self.largest:
            return False
        with self._lock:
            if ticket is not None and ticket != self._ticket:
                return False
            if key in self._items:
                self._drop(key)
            self._items[key] = Entry(value, window, owner, size, frozenset(depends))
            mine = self._by_owner.setdefault(owner, OrderedDict())
            mine[key] = None
            self.bytes += size
            while self.per_owner is not None and len(mine) > self.per_owner:
                self._drop(next(iter(mine)))
            while len(self._items) > self.entries or (
                self.max_bytes is not None and self.bytes > self.max_bytes
            ):
                self._drop(next(iter(self._items)))
            return True

    def get_or_compute(
        self,
        key: K,
        moment: datetime | None,
        compute: Callable[[], tuple[V, Window, Collection[Hashable], int]],
        *,
        owner: Hashable = None,
    ) -> V:
        """The kept value, or one computation's: concurrent misses on `key` wait for the first.

        `compute` answers (value, window, depends, size)."""
        with self._lock:
            entry = self._fresh(key, moment)
            if entry is not None:
                self.counters.hits += 1
                return entry.value
            flight = self._flights.get(key)
            if flight is not None and flight.ticket == self._ticket:
                self.counters.coalesced += 1
                leader = False
            else:
                flight = self._flights[key] = _Flight(self._ticket)
                self.counters.computed += 1
                leader = True
        if not leader:
            flight.done.wait()
            if flight.answer is not None and (moment is None or holds_at(flight.answer[1], moment)):
                return flight.answer[0]
            if flight.failure is not None:
                raise flight.failure
            return self.get_or_compute(key, moment, compute, owner=owner)
        try:
            value, window, depends, size = compute()
        except BaseException as problem:
            flight.failure = problem
            raise
        else:
            flight.answer = (value, window)
            self.put(
                key, value, window, owner=owner, size=size, depends=depends, ticket=flight.ticket
            )
            return value
        finally:
            with self._lock:
                if self._flights.get(key) is flight:
                    del self._flights[key]
            flight.done.set()

    # -- changes -------------------------------------------------------------------------------

    def invalidate(self, facts: Collection[Hashable] | None, owner: Hashable = None) -> int:
        """Remove the entries of `owner` (None: of everyone) that depend on one of `facts`
        (None: every entry); computations under way are kept from being kept or joined."""
        with self._lock:
            self._ticket += 1
            self._flights.clear()
            changed = None if facts is None else frozenset(facts)
            owners = list(self._by_owner) if owner is None else [owner]
            gone = [
                key
                for who in owners
                for key in self._by_owner.get(who, ())
                if changed is None
                or not changed.isdisjoint(self._items[key].depends)
                or self._items[key].depends >= EVERYTHING
            ]
            for key in gone:
                self._drop(key)
            self.counters.invalidated += len(gone)
            return len(gone)

    def clear(self) -> None:
        self.invalidate(None)

    def _drop(self, key: K) -> None:
        entry = self._items.pop(key)
        self.bytes -= entry.size
        mine = self._by_owner[entry.owner]
        del mine[key]
        if not mine:
            del self._by_owner[entry.owner]

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
