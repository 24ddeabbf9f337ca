"""The live projection: a background thread that keeps the outputs in step.

`poke()` says something may have changed (the daemon pokes on every store generation: API
edits, drop-in files, a re-read CA bundle, SIGHUP).  The thread waits until pokes have been
quiet for `debounce` seconds, or `max_delay` after the first one, so a burst of changes is one
update; it computes the projection from the store and hands it to each output, which writes only
what differs and runs its tool only then.  A failure is logged and retried with back-off
(1 s doubling to 5 min); the outcome is in `status()`.  Evaluations never wait for it: the
thread only reads the store.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from trustd.projection.files import OutputFailure
from trustd.projection.model import Projection, Purpose

log = logging.getLogger(__name__)

DEBOUNCE_SECONDS = 0.3
MAX_DELAY_SECONDS = 1.0
FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 300.0


class Output(Protocol):
    name: str
    warnings: list[str]

    def apply(self, projection: Projection) -> bool: ...


class LiveProjection:
    def __init__(
        self,
        compute: Callable[[], Projection],
        outputs: Sequence[Output],
        *,
        debounce: float = DEBOUNCE_SECONDS,
        max_delay: float = MAX_DELAY_SECONDS,
    ) -> None:
        self.compute = compute
        self.outputs = list(outputs)
        self.debounce = debounce
        self.max_delay = max_delay
        self._wake = threading.Condition()
        self._first: float | None = None  # monotonic time of the first unhandled poke
        self._last: float = 0.0
        self._stopping = False
        self._thread: threading.Thread | None = None
        # What status() reports.
        self.runs = 0  # projections computed
        self.updates = 0  # update commands run (all outputs)
        self.digest = ""
        self.last_update: datetime | None = None
        self.problem: str | None = None
        self.retry_in: float | None = None
        self._running = False

    def start(self) -> None:
        self.poke()  # at start: bring the stores in step with what trustd holds now
        self._thread = threading.Thread(target=self._loop, name="trust-stores", daemon=True)
        self._thread.start()

    def poke(self) -> None:
        now = time.monotonic()
        with self._wake:
            if self._first is None:
                self._first = now
            self._last = now
            self._wake.notify_all()

    def stop(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _wait_for_quiet(self) -> bool:
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

    def _loop(self) -> None:
        delay = FIRST_RETRY_SECONDS
        while self._wait_for_quiet():
            self._running = True
            try:
                done = self._run_once()
            finally:
                self._running = False
            if done:
                delay = FIRST_RETRY_SECONDS
                self.retry_in = None
                continue
            self.retry_in = delay
            with self._wake:  # a poke meanwhile does not cut the back-off short
                self._wake.wait_for(lambda: self._stopping, timeout=delay)
                if self._stopping:
                    return
                if self._first is None:
                    self._first = self._last = time.monotonic()
            delay = min(delay * 2, MAX_RETRY_SECONDS)

    def _run_once(self) -> bool:
        try:
            projection = self.compute()
        except Exception as problem:
            return self._failed(f"computing the projection: {problem}")
        self.runs += 1
        self.digest = projection.digest
        failures = []
        for output in self.outputs:
            try:
                ran = output.apply(projection)
            except OutputFailure as problem:
                failures.append(f"{output.name}: {problem}")
                continue
            except Exception as problem:
                failures.append(f"{output.name}: {type(problem).__name__}: {problem}")
                continue
            if ran:
                self.updates += 1
                self.last_update = datetime.now(UTC)
                log.info(
                    "trust stores (%s) updated: %d TLS anchors added, %d denied",
                    output.name,
                    len(projection.anchors(Purpose.SERVER_AUTH)),
                    len(projection.denied(Purpose.SERVER_AUTH)),
                )
            for warning in output.warnings:
                log.warning("trust stores (%s): %s", output.name, warning)
        if failures:
            return self._failed("; ".join(failures))
        self.problem = None
        return True

    def _failed(self, problem: str) -> bool:
        self.problem = problem
        log.error("trust stores not updated (retrying): %s", problem)
        return False

    def status(self) -> dict[str, Any]:
        warnings = [f"{o.name}: {w}" for o in self.outputs for w in o.warnings]
        return {
            "outputs": [o.name for o in self.outputs],
            "updates": self.updates,
            "digest": self.digest,
            "busy": self._running or self._first is not None,
            "last_update": "" if self.last_update is None else self.last_update.isoformat(),
            "problems": ([] if self.problem is None else [self.problem]) + warnings,
        }
