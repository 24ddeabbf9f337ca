"""Does the store stay fast at a million certificates?

Fills two databases, a small one (1,000 certificates) and a large one (1,000,000 by default),
through the real repository, then compares on both, as ratios large/small:

- opening the store (engine, migration check, first query) against an empty database;
- an issuer lookup by subject (caches cleared before each lookup);
- an evaluation whose intermediate must come from the store (fresh snapshot, caches cleared).

Goals (issue 3): lookup and evaluation within 1.2x of the small store, opening within 2x of an
empty one.  Run: `python bench/store_scale.py [--count N] [--keep DIR]`.  It takes minutes for a
million certificates (they are generated and signed for real); CI does not run it.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from trustd.core import EvaluationRequest, Policy, PolicyKind, evaluate, parse_certificate
from trustd.core.evaluate import Evaluator
from trustd.store.engine import migrate, open_engine
from trustd.store.repository import Actor, TrustStore
from trustd.store.system_anchors import SystemAnchors

NOW = datetime(2030, 6, 1, tzinfo=UTC)
ACTOR = Actor(uid=0, pid=0)
BATCH = 5_000


def name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


class Factory:
    """Real certificates, quickly: one signing key, distinct subjects and serials."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.root_name = name("Bench Root")
        ski = x509.SubjectKeyIdentifier.from_public_key(self.key.public_key())
        self.aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
        self.root = self._sign(self.root_name, self.root_name, ca=True, ski=ski)

    def _sign(
        self,
        subject: x509.Name,
        issuer: x509.Name,
        *,
        ca: bool,
        ski: x509.SubjectKeyIdentifier | None = None,
        dns: str | None = None,
    ) -> bytes:
        public_key = self.key.public_key()
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(datetime(2030, 1, 1, tzinfo=UTC))
            .not_valid_after(datetime(2030, 1, 1, tzinfo=UTC) + timedelta(days=300))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(ski or x509.SubjectKeyIdentifier.from_public_key(public_key), False)
        )
        if subject != issuer:
            builder = builder.add_extension(self.aki, critical=False)
        if ca:
            builder = builder.add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
            )
        if dns:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(dns)]), critical=False
            ).add_extension(x509.ExtendedKeyUsage([x509.OID_SERVER_AUTH]), critical=False)
        return builder.sign(self.key, hashes.SHA256()).public_bytes(Encoding.DER)

    def ca(self, index: int) -> bytes:
        return self._sign(name(f"Bench CA {index}"), self.root_name, ca=True)

    def leaf_under(self, ca_index: int) -> bytes:
        """A leaf issued by CA `ca_index` (every certificate here shares one key)."""
        return self._sign(
            name("www.example"), name(f"Bench CA {ca_index}"), ca=False, dns="www.example"
        )


def fill(store: TrustStore, factory: Factory, count: int) -> None:
    started = time.perf_counter()
    for start in range(0, count, BATCH):
        batch = [parse_certificate(factory.ca(i)) for i in range(start, min(start + BATCH, count))]
        store.add_certificates(batch, source="bench", actor=ACTOR)
        if start and start % 100_000 == 0:
            rate = start / (time.perf_counter() - started)
            print(f"  {start:>9,} certificates ({rate:,.0f}/s)", file=sys.stderr)


def timed(action: Callable[[], object], repeats: int = 200) -> float:
    """Median seconds of `action` over `repeats` runs."""
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def open_store(path: Path, bundle: Path) -> TrustStore:
    engine = open_engine(path)
    migrate(engine)
    store = TrustStore(engine, SystemAnchors(bundle))
    store.stored_issuers(b"\x00" * 32)
    return store


def reopen(path: Path, bundle: Path) -> None:
    open_store(path, bundle).engine.dispose()


def measure(path: Path, bundle: Path, factory: Factory, count: int) -> dict[str, float]:
    store = open_store(path, bundle)
    keys = [parse_certificate(factory.ca(random.randrange(count))).subject_key for _ in range(50)]
    leaf = factory.leaf_under(count // 2)
    request = EvaluationRequest(
        (leaf,), (Policy(PolicyKind.SSL, name="www.example"),), anchors=(factory.root,)
    )

    def lookup() -> None:
        store.clear_caches()  # measure the database, not the cache
        store.stored_issuers(random.choice(keys))

    def evaluation() -> None:
        store.clear_caches()
        verdict = evaluate(request, store.snapshot(1000), NOW, evaluator=Evaluator())
        assert verdict.trusted, verdict.failures

    results = {
        "lookup": timed(lookup),
        "evaluation": timed(evaluation, repeats=100),
        "open": timed(lambda: reopen(path, bundle), repeats=20),
    }
    store.engine.dispose()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--keep", type=Path, help="directory to keep the databases in")
    args = parser.parse_args()
    random.seed(5280)
    directory = args.keep or Path(tempfile.mkdtemp(prefix="trustd-bench-"))
    directory.mkdir(parents=True, exist_ok=True)
    bundle = directory / "empty-bundle.pem"
    bundle.write_bytes(b"")
    factory = Factory()
    sizes = {"empty": 0, "small": args.small, "large": args.count}
    paths = {label: directory / f"{label}.sqlite3" for label in sizes}
    for label, count in sizes.items():
        if paths[label].exists():
            paths[label].unlink()
        engine = open_engine(paths[label])
        migrate(engine)
        print(f"filling {label} store with {count:,} certificates", file=sys.stderr)
        fill(TrustStore(engine, SystemAnchors(bundle)), factory, count)
        engine.dispose()
    empty_open = timed(lambda: reopen(paths["empty"], bundle), repeats=20)
    small = measure(paths["small"], bundle, factory, args.small)
    large = measure(paths["large"], bundle, factory, args.count)
    print(f"\nstore scale: {args.count:,} vs {args.small:,} certificates")
    print(f"{'measure':<12}{'ratio':>8}  goal")
    for label, goal in (("lookup", 1.2), ("evaluation", 1.2)):
        ratio = large[label] / small[label]
        print(f"{label:<12}{ratio:>8.2f}  <= {goal} {'met' if ratio <= goal else 'NOT met'}")
    ratio = large["open"] / empty_open
    print(
        f"{'open':<12}{ratio:>8.2f}  <= 2.0 vs an empty store {'met' if ratio <= 2 else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
