"""Evaluations on every core: a pool of worker processes, each with a read-only store view.

The evaluation core is CPU-bound Python, so threads would share one core.  Each worker opens
the same SQLite database (WAL lets it read while the daemon writes) and keeps its own caches,
which it drops whenever the daemon's store generation moves.  The daemon answers a request it
has answered before, for the same stored state and inside the verdict's validity window, from
its own cache without a round trip to a worker.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import multiprocessing
import os
import signal
from collections.abc import Hashable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from trustd.core.evaluate import Evaluator, request_key
from trustd.core.lru import LRU
from trustd.core.request import EvaluationRequest
from trustd.net.completion import FetchOptions

PR_SET_PDEATHSIG = 1
Answer = tuple[dict[str, Any], datetime | None, datetime | None]

# Inside a worker process: {"service": TrustService} over its own store connection.
_WORKER: dict[str, Any] = {}


def _die_with_parent() -> None:
    """Ask Linux to kill this worker when the daemon dies, even by SIGKILL (PR_SET_PDEATHSIG)."""
    with contextlib.suppress(OSError, AttributeError):  # not Linux: nothing to ask for
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() == 1:  # the daemon died before prctl took effect
        os._exit(1)


def _start_worker(database: str, bundle: str | None) -> None:
    _die_with_parent()
    from trustd.net.fetcher import Fetcher
    from trustd.service import TrustService
    from trustd.store.engine import open_engine
    from trustd.store.repository import TrustStore
    from trustd.store.system_anchors import SystemAnchors

    store = TrustStore(
        open_engine(Path(database)), SystemAnchors(None if bundle is None else Path(bundle))
    )
    _WORKER.update(service=TrustService(store, Evaluator(), fetcher=Fetcher(cache=store)))


def _evaluate(
    uid: int,
    request: EvaluationRequest,
    host: str | None,
    port: int,
    *,
    generation: int,
    fetch: FetchOptions | None,
) -> Answer:
    from trustd.api.methods import encode_verdict
    from trustd.service import Caller

    service = _WORKER["service"]
    service.store.follow(generation)
    verdict, since, until = service.evaluate_with_window(
        Caller(uid, None), request, host, port, fetch
    )
    return encode_verdict(verdict, since, until), since, until


def _ping() -> int:
    return os.getpid()


def _digest(value: Hashable) -> bytes:
    return hashlib.sha256(repr(value).encode()).digest()


class EvaluationPool:
    """Evaluate requests in `processes` worker processes (default: one per core)."""

    def __init__(self, database: Path, bundle: Path | None, processes: int | None = None) -> None:
        self.processes = processes or os.cpu_count() or 1
        self._executor = ProcessPoolExecutor(
            max_workers=self.processes,
            # spawn: the daemon has threads, and forking a threaded process is unsafe.
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(str(database), None if bundle is None else str(bundle)),
        )
        self._answers: LRU[Hashable, Answer] = LRU(5000)

    def start(self) -> None:
        """Start every worker now rather than on the first requests."""
        pids = {
            f.result(timeout=120)
            for f in [self._executor.submit(_ping) for _ in range(self.processes * 2)]
        }
        del pids

    def evaluate(
        self,
        uid: int,
        request: EvaluationRequest,
        host: str | None,
        port: int,
        *,
        generation: int,
        fetch: FetchOptions | None = None,
    ) -> dict[str, Any]:
        # A digest, not the request: a key must not pin megabytes of certificates.
        key = (generation, uid, _digest((host, port, fetch, request_key(request))))
        moment = (request.verify_date or datetime.now(UTC)).replace(microsecond=0)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        cached = self._answers.get(key)
        if cached is not None:
            verdict, since, until = cached
            if (since is None or since <= moment) and (until is None or moment < until):
                return verdict
        answer = self._executor.submit(
            _evaluate, uid, request, host, port, generation=generation, fetch=fetch
        ).result()
        self._answers.put(key, answer)
        return answer[0]

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
