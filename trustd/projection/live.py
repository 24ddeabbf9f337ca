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
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from trustd.debounce import Debouncer
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
        self._quiet = Debouncer(debounce, max_delay)
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
        self._quiet.poke()

    def stop(self) -> None:
        self._quiet.stop()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        delay = FIRST_RETRY_SECONDS
        while self._quiet.wait():
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
            if not self._quiet.pause(delay):  # a poke meanwhile does not cut the back-off short
                return
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
            "busy": self._running or self._quiet.pending,
            "last_update": "" if self.last_update is None else self.last_update.isoformat(),
            "problems": ([] if self.problem is None else [self.problem]) + warnings,
        }
