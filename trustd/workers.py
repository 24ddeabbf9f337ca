"""Evaluations on every core: a pool of worker processes, each with a read-only store view.

The evaluation core is CPU-bound Python, so threads would share one core.  Each worker opens
the same SQLite database (WAL lets it read while the daemon writes) and keeps its own caches,
which it drops whenever the daemon's store generation moves.  A worker answers with the
encoded verdict and the stored facts the evaluation read; the daemon keeps both in its one
verdict cache (trustd.api.methods), which answers repeated requests without a round trip to a
worker until a change touches one of those facts.

Workers never touch the network.  An evaluation that needs it (a missing issuer, revocation)
comes back with its questions; the daemon asks the network in the caller's own thread, under
the caller's own limits (trustd.net.http), and sends the request with the answers to a worker
again.  A slow or hostile server therefore holds no worker, and evaluations without network
questions never wait behind those with.

The pool outlives its workers.  Each worker talks to the daemon over a pipe of its own, so the
pool knows which worker holds which call:
- a worker that dies (kill -9, the OOM killer), idle or in flight, is replaced at once; a call
  it held is sent once more to another worker (evaluations are idempotent), and answered with
  EvaluationFailed if that fails too;
- a worker that does not answer within `timeout` seconds is killed and replaced, and its call
  answered with EvaluationFailed (not retried: the request may be what hangs);
- `health()` says how many workers are alive and how many were replaced (Status shows it).
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import dataclasses
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
import time
from collections.abc import Callable, Hashable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from trustd.core.request import EvaluationRequest
from trustd.net.completion import Questions, complete
from trustd.net.fetcher import Fetcher
from trustd.service import Asked, Caller, EvaluationFailed
from trustd.wire import encode_verdict

log = logging.getLogger("trustd.workers")

PR_SET_PDEATHSIG = 1
WORKER_TIMEOUT = 30.0  # seconds one evaluation may take in a worker before the worker is killed
START_TIMEOUT = 120.0  # seconds a new worker may take to open the store
QUEUE_TIMEOUT = 60.0  # seconds a call waits for a free worker
Judged = tuple[dict[str, Any], datetime | None, datetime | None, Questions]
Answer = tuple[dict[str, Any], frozenset[Hashable]]  # the encoded verdict, the facts it read


def _die_with_parent() -> None:
    """Ask Linux to kill this worker when the daemon dies, even by SIGKILL (PR_SET_PDEATHSIG)."""
    with contextlib.suppress(OSError, AttributeError):  # not Linux: nothing to ask for
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() == 1:  # the daemon died before prctl took effect
        os._exit(1)


def _worker_main(
    conn: multiprocessing.connection.Connection,
    database: str,
    bundle: str | None,
    exclude: Callable[[], frozenset[bytes]] | None = None,
) -> None:
    """A worker: open the store, say ready, then answer (asked, generation) until the pipe ends.

    `exclude` (picklable): what SystemAnchors leaves out of the bundle."""
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the daemon decides when workers stop
    from trustd.service import TrustService
    from trustd.store.engine import open_engine
    from trustd.store.repository import TrustStore
    from trustd.store.system_anchors import SystemAnchors

    store = TrustStore(
        open_engine(Path(database)),
        SystemAnchors(None if bundle is None else Path(bundle), exclude=exclude),
    )
    service = TrustService(store)
    conn.send(("ready", os.getpid()))
    while True:
        try:
            asked, generation = conn.recv()
        except (EOFError, OSError):
            return
        try:
            service.store.follow(generation)
            facts: set[Hashable] = set()
            verdict, since, until, questions = service.judge(asked, facts=facts)
            reply: tuple[str, Any] = (
                "ok",
                (encode_verdict(verdict, since, until), since, until, questions, frozenset(facts)),
            )
        except Exception as problem:  # raised in the daemon's thread, as if evaluated there
            reply = ("raise", problem)
        try:
            conn.send(reply)
        except (EOFError, OSError):
            return
        except Exception as problem:  # an exception that does not pickle
            conn.send(("raise", RuntimeError(repr(problem))))


class _Worker:
    def __init__(
        self,
        context: Any,
        database: str,
        bundle: str | None,
        exclude: Callable[[], frozenset[bytes]] | None,
    ) -> None:
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=_worker_main,
            args=(child, database, bundle, exclude),
            name="trustd-worker",
            daemon=True,
        )
        self.process.start()
        self.pid = self.process.pid
        child.close()
        self.discarded = False

    def wait_ready(self, timeout: float) -> bool:
        try:
            return bool(self.conn.poll(timeout)) and self.conn.recv()[0] == "ready"
        except (EOFError, OSError):
            return False

    def kill(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.process.kill()
        self.process.join(5)
        self.conn.close()
        with contextlib.suppress(ValueError):  # still running after 5 s: left to the finaliser
            self.process.close()


class EvaluationPool:
    """Evaluate requests in `processes` worker processes (default: one per core)."""

    def __init__(
        self,
        database: Path,
        bundle: Path | None,
        processes: int | None = None,
        *,
        exclude: Callable[[], frozenset[bytes]] | None = None,
        fetcher: Fetcher | None = None,
        timeout: float = WORKER_TIMEOUT,
    ) -> None:
        self.processes = processes or os.cpu_count() or 1
        self.fetcher = fetcher
        self.timeout = timeout
        self.replaced = 0
        # spawn: the daemon has threads, and forking a threaded process is unsafe.
        self._context = multiprocessing.get_context("spawn")
        self._arguments = (str(database), None if bundle is None else str(bundle), exclude)
        self.evaluations = 0  # calls answered by the workers (network rounds counted once)
        self._changed = threading.Condition()
        self._idle: collections.deque[_Worker] = collections.deque()
        self._waiting: collections.deque[object] = collections.deque()  # callers, in order
        self._workers: set[_Worker] = set()  # ready ones, idle or busy
        self._closing = False
        self._wanted = 0  # workers to start
        # Workers are started by one thread that lives as long as the pool: Linux sends a
        # worker its parent-death signal when the *thread* that started it ends.
        self._spawner = threading.Thread(target=self._spawn, name="trustd-pool-start", daemon=True)
        self._monitor = threading.Thread(target=self._watch, name="trustd-pool", daemon=True)

    def start(self) -> None:
        """Start every worker now rather than on the first requests."""
        with self._changed:
            self._wanted = self.processes
        self._spawner.start()
        self._monitor.start()
        with self._changed:
            if not self._changed.wait_for(
                lambda: len(self._workers) == self.processes, timeout=START_TIMEOUT
            ):
                raise RuntimeError("the evaluation workers did not start")

    def health(self) -> dict[str, int]:
        """For Status: workers wanted, alive now, replaced since start, and evaluations asked."""
        with self._changed:
            alive = sum(w.process.is_alive() for w in self._workers)
            return {
                "processes": self.processes,
                "alive": alive,
                "replaced": self.replaced,
                "evaluations": self.evaluations,
            }

    # -- evaluation ----------------------------------------------------------------------------

    def evaluate(self, asked: Asked, *, generation: int) -> Answer:
        """The encoded verdict (its window the whole evaluation's) and the facts it read."""
        now = datetime.now(UTC)
        facts: set[Hashable] = set()
        # Workers read the caller's uid alone (its groups are the daemon's to ask, and a
        # function that may not pickle).
        caller = Caller(asked.caller.uid, None)

        def judge(request: EvaluationRequest) -> Judged:
            sent = dataclasses.replace(asked, caller=caller, request=request)
            *judged, read = self._call((sent, generation))
            facts.update(read)
            encoded, since, until, questions = judged
            return encoded, since, until, questions

        with self._changed:
            self.evaluations += 1
        fetcher = None if self.fetcher is None else self.fetcher.for_user(caller.uid)
        encoded, since, until = complete(judge, asked.request, fetcher, asked.fetch, now)
        # The window is the whole evaluation's (an unanswered question empties it), not the
        # last round's: replies are reused by it.
        encoded = {
            **encoded,
            "valid_from": None if since is None else since.isoformat(),
            "valid_until": None if until is None else until.isoformat(),
        }
        return encoded, frozenset(facts)

    def _call(self, message: tuple[Any, ...]) -> Any:
        for attempt in (1, 2):
            worker = self._take()
            try:
                worker.conn.send(message)
            except (EOFError, OSError):
                reply = None  # died before the call reached it
            except BaseException:  # the message does not pickle: nothing was sent
                self._give_back(worker)
                raise
            else:
                reply = self._reply(worker)
            if reply is None:
                self._discard(worker, "died during an evaluation")
                if attempt == 2:
                    raise EvaluationFailed("evaluation workers died during the evaluation")
                continue
            self._give_back(worker)
            status, value = reply
            if status == "raise":
                raise value
            return value
        raise AssertionError("unreachable")

    def _reply(self, worker: _Worker) -> tuple[str, Any] | None:
        """The worker's reply; None when it died first.  One that does not answer in time is
        killed (and replaced) and the call fails: the request may be what hangs."""
        try:
            if not worker.conn.poll(self.timeout):
                self._discard(worker, f"gave no answer within {self.timeout:g} s: killed")
                raise EvaluationFailed(f"the evaluation did not finish within {self.timeout:g} s")
            reply: tuple[str, Any] = worker.conn.recv()
        except (EOFError, OSError):
            return None
        except BaseException:
            self._discard(worker, "was interrupted during an evaluation")  # its reply may follow
            raise
        return reply

    # -- the workers ---------------------------------------------------------------------------

    def _take(self) -> _Worker:
        """The next idle worker, callers served in the order they came."""
        deadline = time.monotonic() + QUEUE_TIMEOUT
        turn = object()
        with self._changed:
            self._waiting.append(turn)
            try:
                while not (self._idle and self._waiting[0] is turn):
                    left = deadline - time.monotonic()
                    if self._closing or left <= 0:
                        raise EvaluationFailed("no evaluation worker is free")
                    self._changed.wait(left)
                return self._idle.popleft()
            finally:
                self._waiting.remove(turn)
                self._changed.notify_all()  # the next in line may go

    def _give_back(self, worker: _Worker) -> None:
        with self._changed:
            if not worker.discarded:
                self._idle.append(worker)
                self._changed.notify_all()

    def _add(self, worker: _Worker) -> None:
        with self._changed:
            if self._closing:
                worker.kill()
                return
            self._workers.add(worker)
            self._idle.append(worker)
            self._changed.notify_all()

    def _discard(self, worker: _Worker, why: str, *, only_idle: bool = False) -> None:
        """Kill the worker (if it still runs) and start another in its place.  A busy worker is
        discarded only by the thread whose call it holds (that thread owns its pipe)."""
        with self._changed:
            if worker.discarded or (only_idle and worker not in self._idle):
                return
            worker.discarded = True
            self._workers.discard(worker)
            with contextlib.suppress(ValueError):
                self._idle.remove(worker)
            closing = self._closing
            if not closing:
                self.replaced += 1
        worker.kill()
        if closing:
            return
        log.error("evaluation worker %d %s; starting another", worker.pid, why)
        with self._changed:
            self._wanted += 1
            self._changed.notify_all()

    def _spawn(self) -> None:
        pause = 0.1
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._closing or self._wanted > 0)
                if self._closing:
                    return
                count, self._wanted = self._wanted, 0
            starting = [_Worker(self._context, *self._arguments) for _ in range(count)]
            failed = 0
            for worker in starting:
                if worker.wait_ready(START_TIMEOUT):
                    self._add(worker)
                else:
                    worker.kill()
                    failed += 1
            if failed:
                log.error("%d evaluation worker(s) did not start; again in %g s", failed, pause)
                time.sleep(pause)
                pause = min(pause * 2, 10.0)
                with self._changed:
                    self._wanted += failed
            else:
                pause = 0.1

    def _watch(self) -> None:
        """Notice workers that die while idle, and replace them before a call finds them."""
        while not self._closing:
            with self._changed:
                watched = {w.process.sentinel: w for w in self._idle}
            if not watched:
                time.sleep(0.2)
                continue
            try:
                ended = multiprocessing.connection.wait(list(watched), timeout=0.5)
            except (OSError, ValueError):  # a worker discarded meanwhile closed its sentinel
                continue
            for sentinel in ended:
                self._discard(watched[sentinel], "died", only_idle=True)

    def close(self) -> None:
        with self._changed:
            self._closing = True
            workers = list(self._workers)
            self._workers.clear()
            self._idle.clear()
            self._changed.notify_all()
        for worker in workers:
            worker.conn.close()  # the worker sees the pipe end and leaves
        for worker in workers:
            worker.process.join(5)
            if worker.process.is_alive():
                worker.kill()
