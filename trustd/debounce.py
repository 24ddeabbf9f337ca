"""Bursts of changes gathered into one run.

The drop-in watcher and the projection onto the distribution's trust stores both act on a
background thread once the changes they are told of have been quiet for a moment, so that a
burst of changes is one run.
"""

from __future__ import annotations

import threading
import time


class Debouncer:
    """Pokes gathered into bursts.

    `wait()` returns True once pokes have been quiet for `debounce` seconds, and at most
    `max_delay` seconds after the first poke of the burst; False once `stop()` was called.
    """

    def __init__(self, debounce: float, max_delay: float) -> None:
        self.debounce = debounce
        self.max_delay = max_delay
        self._wake = threading.Condition()
        self._first: float | None = None  # monotonic time of the first poke not yet waited for
        self._last = 0.0
        self._stopping = False

    @property
    def pending(self) -> bool:
        """A poke came that no wait() has returned for yet."""
        return self._first is not None

    def poke(self) -> None:
        now = time.monotonic()
        with self._wake:
            if self._first is None:
                self._first = now
            self._last = now
            self._wake.notify_all()

    def wait(self) -> bool:
        """Block until a burst of pokes is over; False when stopping."""
        with self._wake:
            while not self._stopping:
                if self._first is None:
                    self._wake.wait()
                    continue
                now = time.monotonic()
                due = min(self._last + self.debounce, self._first + self.max_delay)
                if now >= due:
                    self._first = None
                    return True
                self._wake.wait(due - now)
            return False

    def pause(self, seconds: float) -> bool:
        """Sleep `seconds` (a poke meanwhile does not cut it short), then count as poked so
        that the next wait() returns after the debounce; False when stopping."""
        with self._wake:
            self._wake.wait_for(lambda: self._stopping, timeout=seconds)
            if self._stopping:
                return False
            if self._first is None:
                self._first = self._last = time.monotonic()
            return True

    def stop(self) -> None:
        """Make every wait() and pause() return False, now and until restart()."""
        with self._wake:
            self._stopping = True
            self._wake.notify_all()

    def restart(self) -> None:
        with self._wake:
            self._stopping = False
