"""The long fuzz run: every target of tests/security/fuzzing.py and the certificate mutation
properties of tests/core/test_malformed.py, each for a share of --seconds.

Hypothesis generates the examples (random, no example database), in batches; a failure is
shrunk, printed and counted by its signature (exception type and the innermost trustd
function), then the run goes on.  Internal errors of the varlink methods (exceptions that
escaped to the server's catch-all) are collected rather than raised, and each counts as a
crash.  The short runs of the same
targets are in the test suite (tests/security/test_fuzz.py).

Run from the repository root: `python bench/fuzz.py [--seconds 600] [--only NAME]`.  Exit
status 1 when a crash was found.  CI does not run this.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from security import fuzzing

BATCH = 500


def certificate_targets() -> list[fuzzing.Target]:
    """The mutation properties of tests/core/test_malformed.py, run longer."""
    from core import test_malformed as malformed

    def inner(test: Any) -> Callable[..., None]:
        function: Callable[..., None] = test.hypothesis.inner_test
        return function

    leaf, inter = (
        inner(malformed.test_mutated_leaf_gives_a_verdict),
        inner(malformed.test_mutated_intermediate_gives_a_verdict),
    )
    anchor, crl = (
        inner(malformed.test_mutated_anchor_gives_a_verdict),
        inner(malformed.test_mutated_crl_gives_a_verdict),
    )
    arbitrary = inner(malformed.test_arbitrary_bytes_give_a_verdict)
    edits = malformed.EDITS
    return [
        fuzzing.Target("certificate: mutated leaf", edits, lambda e: leaf(edits=e)),
        fuzzing.Target("certificate: mutated intermediate", edits, lambda e: inter(edits=e)),
        fuzzing.Target("certificate: mutated anchor", edits, lambda e: anchor(edits=e)),
        fuzzing.Target("certificate: mutated CRL", edits, lambda e: crl(edits=e)),
        fuzzing.Target(
            "certificate: arbitrary bytes",
            st.tuples(st.binary(max_size=2048), st.lists(st.binary(max_size=512), max_size=4)),
            lambda x: arbitrary(leaf=x[0], extras=x[1], anchors=[], crls=[]),
        ),
    ]


def signature(problem: BaseException) -> str:
    frames = traceback.extract_tb(problem.__traceback__)
    ours = [f for f in frames if "/trustd/" in f.filename or "/tests/" in f.filename]
    where = f"{Path(ours[-1].filename).name}:{ours[-1].name}" if ours else "?"
    first = (str(problem).splitlines() or [""])[0][:120]
    return f"{type(problem).__name__} at {where}: {first}"


def run_target(target: fuzzing.Target, seconds: float, tally: fuzzing.Tally) -> None:
    deadline = time.monotonic() + seconds
    check = fuzzing.counting(target, tally)
    failures = tally.failures.setdefault(target.name, [])
    while time.monotonic() < deadline:

        @settings(
            max_examples=BATCH,
            deadline=None,
            database=None,
            derandomize=False,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.generate, Phase.shrink],
            report_multiple_bugs=False,
        )
        @given(target.strategy)
        def batch(example: Any) -> None:
            if time.monotonic() > deadline:
                return  # the time is up: let the batch end quickly
            check(example)

        try:
            batch()
        except Exception as problem:  # a failure, shrunk by hypothesis
            found = signature(problem)
            if found not in failures:
                failures.append(found)
                notes = "\n".join(getattr(problem, "__notes__", []))
                print(f"\n!! {target.name}: {found}\n{notes}\n", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0, help="total, shared by targets")
    parser.add_argument("--only", help="run the targets whose name contains this")
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # cryptography's warnings on odd names (see test_malformed)
    logging.getLogger("trustd").setLevel(logging.CRITICAL + 1)  # no log noise; errors are caught
    logging.getLogger("trustd").addHandler(logging.NullHandler())
    logging.getLogger("trustd").propagate = False
    fuzzing.COLLECTED = {}
    targets = [*fuzzing.TARGETS, *certificate_targets()]
    if args.only:
        targets = [t for t in targets if args.only in t.name]
    share = args.seconds / len(targets)
    tally = fuzzing.Tally()
    started = time.monotonic()
    print(f"fuzzing {len(targets)} targets, {share:.0f} s each")
    print(f"{'target':<36} {'examples':>9} {'seconds':>8} {'per s':>7} {'crashes':>8}")
    for target in targets:
        begun = time.monotonic()
        run_target(target, share, tally)
        spent = time.monotonic() - begun
        count = tally.examples.get(target.name, 0)
        crashes = len(tally.failures.get(target.name, []))
        print(f"{target.name:<36} {count:>9} {spent:>8.0f} {count / spent:>7.0f} {crashes:>8}")
    internal = fuzzing.COLLECTED or {}
    for (kind, where), (uid, call) in sorted(internal.items()):
        print(f"internal error: {kind} in {where}: uid {uid} {str(call)[:300]}")
    total = sum(tally.examples.values())
    crashes = sum(len(f) for f in tally.failures.values()) + len(internal)
    print(
        f"fuzz: {total} examples in {time.monotonic() - started:.0f} s, {crashes} crashes "
        f"({len(internal)} internal-error signatures)"
    )
    fuzzing.stores().close()
    return 1 if crashes else 0


if __name__ == "__main__":
    raise SystemExit(main())
