"""Time trustd's evaluate() against pyca cryptography's X.509 verifier on the same chains.

Run from the repository root:

    python bench/evaluate.py [--rounds N] [--target SECONDS]

For RSA-2048 and ECDSA P-256 chains (root -> intermediate -> leaf, leaf SAN example.com, TLS
server policy for example.com, the root as the only anchor, a fixed verification time) it
takes these measurements per key type:

  trustd cold  a fresh Evaluator per call (empty parse and signature caches), DER bytes in
  trustd truly cold  the same, and every module-level cache of the core emptied before each
               call (functools caches, name keys, key classes): nothing is known from an
               earlier call
  trustd warm  one Evaluator reused, the same request evaluated again and again (answered by
               the verdict cache while the stored state is the same)
  trustd rewarm  one Evaluator reused, but a new snapshot each call (as after any change to
               trust settings): parse and signature caches hit, the verdict cache misses
  pyca cold    load the three certificates from DER, build Store + verifier, verify
  pyca warm    certificates parsed and verifier built once; only .verify() is timed
  floor        the two signature verifications alone (keys loaded, signed bytes at hand)

Each measurement is a batch of calls sized so that it lasts about --target seconds, the
batches of all measurements interleaved; the median of --rounds batches is reported as
microseconds per call, together with the ratios trustd/pyca
(cold/cold, warm/warm) and whether the goals hold (truly cold within 2x of pyca, warm faster than
pyca).  Ratios are what to look at: absolute numbers depend on the machine.  The script always
exits 0; nothing in CI depends on timings.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for extra in (ROOT, ROOT / "tests"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa  # noqa: E402
from cryptography.x509 import DNSName  # noqa: E402
from cryptography.x509.verification import PolicyBuilder, Store  # noqa: E402
from pki import PKI, KeyType  # noqa: E402

from trustd.core import (  # noqa: E402
    EvaluationRequest,
    Evaluator,
    MemorySnapshot,
    Policy,
    PolicyKind,
    evaluate,
)

HOST = "example.com"
VERIFY_DATE = dt.datetime(2025, 6, 1, 12, 0, 0, tzinfo=dt.UTC)
LEAF_NOT_BEFORE = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
LEAF_NOT_AFTER = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
KEY_TYPES: tuple[tuple[str, KeyType], ...] = (("RSA-2048", "rsa-2048"), ("ECDSA P-256", "ec-p256"))
COLD_GOAL = 2.0  # trustd truly cold may cost at most this many times pyca cold
WARM_GOAL = 1.0  # trustd warm must be faster than pyca warm


@dataclass(frozen=True)
class Chain:
    root: bytes
    intermediate: bytes
    leaf: bytes


def make_chain(key_type: KeyType) -> Chain:
    pki = PKI(default_key_type=key_type)
    root = pki.root("Bench Root CA")
    inter = pki.intermediate(root, "Bench Intermediate CA")
    # A TLS server leaf must live at most 825 days (Apple) to be trusted; one year here.
    leaf = pki.leaf(inter, dns=[HOST], not_before=LEAF_NOT_BEFORE, not_after=LEAF_NOT_AFTER)
    return Chain(root.der, inter.der, leaf.der)


# -- the workloads --------------------------------------------------------------------------------

SNAPSHOT = MemorySnapshot()
POLICY = Policy(PolicyKind.SSL, name=HOST)


def trustd_request(chain: Chain) -> EvaluationRequest:
    return EvaluationRequest(
        certificates=(chain.leaf, chain.intermediate),
        policies=(POLICY,),
        verify_date=VERIFY_DATE,
        anchors=(chain.root,),
        anchors_only=True,
    )


def trustd_cold(chain: Chain) -> Callable[[], object]:
    def run() -> object:
        return evaluate(trustd_request(chain), SNAPSHOT, VERIFY_DATE, evaluator=Evaluator())

    return run


def module_cache_clearers() -> list[Callable[[], object]]:
    """What empties every module-level cache of trustd.core (what a fresh process starts
    with): functools caches, the name-key table and the key-class table, found once."""
    clearers: list[Callable[[], object]] = []
    for name, module in list(sys.modules.items()):
        if not name.startswith("trustd.core"):
            continue
        for value in list(vars(module).values()):
            clear = getattr(value, "cache_clear", None)
            wrapped = getattr(value, "__wrapped__", None)
            if not getattr(wrapped, "__module__", "").startswith("trustd.core"):
                continue  # a cache of the standard library's, kept by any process
            if callable(clear) and clear not in clearers:
                clearers.append(clear)
        for table in ("_NAME_KEYS", "_KEY_ALGORITHMS"):
            found = getattr(module, table, None)
            if isinstance(found, dict):
                clearers.append(found.clear)
    return clearers


def trustd_truly_cold(chain: Chain) -> Callable[[], object]:
    clearers = module_cache_clearers()

    def run() -> object:
        for clear in clearers:
            clear()
        return evaluate(trustd_request(chain), SNAPSHOT, VERIFY_DATE, evaluator=Evaluator())

    return run


def trustd_warm(chain: Chain) -> Callable[[], object]:
    evaluator = Evaluator()
    request = trustd_request(chain)

    def run() -> object:
        return evaluate(request, SNAPSHOT, VERIFY_DATE, evaluator=evaluator)

    run()  # fill the caches
    return run


def trustd_rewarm(chain: Chain) -> Callable[[], object]:
    evaluator = Evaluator()
    request = trustd_request(chain)

    def run() -> object:
        return evaluate(request, MemorySnapshot(), VERIFY_DATE, evaluator=evaluator)

    run()  # fill the parse and signature caches
    return run


def pyca_cold(chain: Chain) -> Callable[[], object]:
    def run() -> object:
        root = x509.load_der_x509_certificate(chain.root)
        inter = x509.load_der_x509_certificate(chain.intermediate)
        leaf = x509.load_der_x509_certificate(chain.leaf)
        verifier = (
            PolicyBuilder()
            .store(Store([root]))
            .time(VERIFY_DATE)
            .build_server_verifier(DNSName(HOST))
        )
        return verifier.verify(leaf, [inter])

    return run


def pyca_warm(chain: Chain) -> Callable[[], object]:
    root = x509.load_der_x509_certificate(chain.root)
    inter = x509.load_der_x509_certificate(chain.intermediate)
    leaf = x509.load_der_x509_certificate(chain.leaf)
    verifier = (
        PolicyBuilder().store(Store([root])).time(VERIFY_DATE).build_server_verifier(DNSName(HOST))
    )
    intermediates = [inter]

    def run() -> object:
        return verifier.verify(leaf, intermediates)

    return run


def floor(chain: Chain) -> Callable[[], object]:
    """The two signature verifications alone (leaf by intermediate, intermediate by root), keys
    loaded and signed bytes at hand: what no verifier can avoid."""
    root = x509.load_der_x509_certificate(chain.root)
    inter = x509.load_der_x509_certificate(chain.intermediate)
    leaf = x509.load_der_x509_certificate(chain.leaf)
    pairs = [(inter.public_key(), leaf), (root.public_key(), inter)]
    signed = [
        (key, cert.signature, cert.tbs_certificate_bytes, cert.signature_hash_algorithm)
        for key, cert in pairs
    ]

    def run() -> object:
        for key, signature, data, algorithm in signed:
            if isinstance(key, rsa.RSAPublicKey) and algorithm is not None:
                key.verify(signature, data, padding.PKCS1v15(), algorithm)
            elif isinstance(key, ec.EllipticCurvePublicKey) and algorithm is not None:
                key.verify(signature, data, ec.ECDSA(algorithm))
        return None

    return run


def sanity_check(chain: Chain) -> list[str]:
    """Both verifiers must accept the chain, or the timings compare different work."""
    problems = []
    verdict = trustd_cold(chain)()
    if not getattr(verdict, "trusted", False) or len(getattr(verdict, "chain", ())) != 3:
        result = getattr(verdict, "result", None)
        failures = getattr(verdict, "failures", ())
        problems.append(f"trustd did not trust the 3-certificate chain: {result!r} {failures!r}")
    try:
        built = pyca_cold(chain)()
        length = len(built) if isinstance(built, list) else None
        if length != 3:
            problems.append(f"pyca built a chain of {length} certificates")
    except Exception as error:
        problems.append(f"pyca refused the chain: {error!r}")
    return problems


# -- timing ------------------------------------------------------------------------------------


def time_batch(func: Callable[[], object], number: int) -> int:
    """CPU nanoseconds of this thread for `number` calls of `func`: CPU time, not wall-clock,
    so that other processes competing for the cores do not count (they still slow caches)."""
    gc.collect()
    start = time.thread_time_ns()
    for _ in range(number):
        func()
    return time.thread_time_ns() - start


def calibrate(func: Callable[[], object], target: float) -> int:
    """How many calls make a batch of about `target` seconds (between 1x and 2x target)."""
    number = 1
    while True:
        elapsed = time_batch(func, number) / 1e9
        if elapsed >= 0.1 * target:
            break
        number *= 4 if elapsed < 0.01 * target else 2
    return max(1, round(number * 1.3 * target / max(elapsed, 1e-9)))


def measure(func: Callable[[], object], rounds: int, target: float) -> float:
    """Median microseconds per call over `rounds` batches."""
    return measure_all({"f": func}, rounds, target)["f"]


def measure_all(
    funcs: dict[str, Callable[[], object]], rounds: int, target: float
) -> dict[str, float]:
    """Median microseconds per call of each function over `rounds` batches, the batches of
    the functions interleaved (round 1 of each, then round 2 of each, ...), so that a change
    in the machine's load touches every function alike and their ratios hold."""
    numbers = {}
    for name, func in funcs.items():
        func()  # warm up imports, lazy attributes, allocator
        numbers[name] = calibrate(func, target)
    samples: dict[str, list[float]] = {name: [] for name in funcs}
    for _ in range(rounds):
        for name, func in funcs.items():
            samples[name].append(time_batch(func, numbers[name]) / numbers[name] / 1000)
    return {name: statistics.median(values) for name, values in samples.items()}


# -- report ------------------------------------------------------------------------------------


def verdict_text(ratio: float, goal: float, strict: bool) -> str:
    met = ratio < goal if strict else ratio <= goal
    sign = "<" if strict else "<="
    return f"{'MET' if met else 'NOT MET'} (goal {sign} {goal:g}x)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="batches per measurement (median)")
    parser.add_argument("--target", type=float, default=0.5, help="seconds per batch (default 0.5)")
    args = parser.parse_args(argv)
    rounds = max(1, args.rounds)
    target = max(0.01, args.target)

    import cryptography

    print(
        f"trustd evaluate() vs pyca cryptography {cryptography.__version__} verifier, "
        f"Python {sys.version.split()[0]}"
    )
    print(
        f"3-certificate chains, TLS server policy for {HOST}, caller anchor only, "
        f"verify date {VERIFY_DATE:%Y-%m-%d}"
    )
    print(f"median of {rounds} batches of ~{target:g}s each; us = microseconds per evaluation\n")

    rows = []
    for label, key_type in KEY_TYPES:
        chain = make_chain(key_type)
        for problem in sanity_check(chain):
            print(f"WARNING {label}: {problem}")
        factories = (
            ("trustd cold", trustd_cold),
            ("trustd truly cold", trustd_truly_cold),
            ("pyca cold", pyca_cold),
            ("trustd warm", trustd_warm),
            ("trustd rewarm", trustd_rewarm),
            ("pyca warm", pyca_warm),
            ("floor", floor),
        )
        results = measure_all({name: f(chain) for name, f in factories}, rounds, target)
        for name, _ in factories:
            print(f"  measured {label:<11} {name:<17} {results[name]:10.1f} us", flush=True)
        rows.append((label, results))
    print()

    header = (
        f"{'key type':<12} {'trustd cold':>11} {'truly cold':>11} {'pyca cold':>10}"
        f" {'cold ratio':>10} {'truly':>7}   {'trustd warm':>11} {'pyca warm':>10}"
        f" {'warm ratio':>10}"
    )
    print(header)
    print("-" * len(header))
    goals = []
    for label, r in rows:
        cold = r["trustd cold"] / r["pyca cold"]
        truly = r["trustd truly cold"] / r["pyca cold"]
        warm = r["trustd warm"] / r["pyca warm"]
        print(
            f"{label:<12} {r['trustd cold']:>9.1f}us {r['trustd truly cold']:>9.1f}us"
            f" {r['pyca cold']:>8.1f}us {cold:>9.2f}x {truly:>6.2f}x"
            f"   {r['trustd warm']:>9.1f}us {r['pyca warm']:>8.1f}us {warm:>9.2f}x"
        )
        goals.append((label, truly, warm))
    print()
    for label, r in rows:
        rewarm = r["trustd rewarm"] / r["pyca warm"]
        print(
            f"{label:<12} rewarm (verdict cache missed) {r['trustd rewarm']:8.1f}us"
            f"  vs pyca warm {rewarm:5.2f}x"
        )
    print()
    for label, r in rows:
        print(
            f"{label:<12} floor (the two signature verifications) {r['floor']:8.1f}us"
            f"  trustd truly cold / floor {r['trustd truly cold'] / r['floor']:5.2f}x"
            f"  pyca cold / floor {r['pyca cold'] / r['floor']:5.2f}x"
        )
    print()
    print("ratio = trustd time / pyca time (lower is better; < 1 means trustd is faster)")
    for label, cold, warm in goals:
        print(
            f"{label:<12} truly cold {cold:5.2f}x"
            f" {verdict_text(cold, COLD_GOAL, strict=False):<24}"
            f" warm {warm:5.2f}x {verdict_text(warm, WARM_GOAL, strict=True)}"
        )
    return 0


if __name__ == "__main__":
    try:
        main()
    except Exception:  # a benchmark never fails the build
        traceback.print_exc()
        print("benchmark failed; exiting 0 anyway (CI does not time anything)", file=sys.stderr)
    sys.exit(0)
