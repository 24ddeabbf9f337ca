"""NIST PKITS (Public Key Interoperability Test Suite, RFC 5280 path validation).

`python -m trustd.conformance.pkits [--details]` runs every test of section 4 of the PKITS
document against the certificates and CRLs that the `cryptography-vectors` package ships
(`x509/PKITS_data`), and prints the score.

Every test is one evaluation: the test's end-entity certificate with every other certificate of
the suite offered as an intermediate, "Trust Anchor Root Certificate" as the only anchor, every
CRL of the suite handed in, revocation required, the basic X.509 policy, verify time 2020-01-01
(inside the validity of all the data), and the RFC 5280 6.1.1 inputs the document gives for the
test.

pkits-tests.txt, next to this module, is the document's table: the test number (a fourth
component numbers the runs of one test with different inputs), the end-entity certificate, the
expected outcome and the 6.1.1 inputs that differ from the defaults: `P=1,2` the
user-initial-policy-set (NIST-test-policy-1 and -2; default any-policy), `E`
initial-explicit-policy, `M` initial-policy-mapping-inhibit, `A` initial-any-policy-inhibit.
EXPECTED_MISSES are the tests trustd deliberately decides otherwise
(docs/deviations.md gives the same reasons).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TextIO

from trustd.core import EvaluationRequest, Evaluator, Policy, Verdict
from trustd.core.snapshot import EMPTY_SNAPSHOT
from trustd.public_suffixes import public_suffix_list

VERIFY_TIME = datetime(2020, 1, 1, tzinfo=UTC)
TRUST_ANCHOR = "TrustAnchorRootCertificate"
TEST_POLICY_ARC = "2.16.840.1.101.3.2.1.48."  # NIST-test-policy-N is this arc plus N
ANY_POLICY = "2.5.29.32.0"

# The document's table (see above), one test a line.
TESTS = (resources.files("trustd.conformance") / "pkits-tests.txt").read_text()

# Test number -> why trustd deliberately decides otherwise (docs/deviations.md, PKITS section).
EXPECTED_MISSES: Mapping[str, str] = {
    "4.1.4": "DSA keys and signatures are refused, as Apple does",
    "4.1.5": "DSA keys and signatures are refused, as Apple does",
}


@dataclass(frozen=True, slots=True)
class PkitsCase:
    number: str
    end_entity: str
    valid: bool
    policy_set: frozenset[str] | None = None  # None: {anyPolicy}
    explicit_policy: bool = False
    mapping_inhibit: bool = False
    any_policy_inhibit: bool = False


def _case(line: str) -> PkitsCase:
    number, end_entity, outcome, *inputs = line.split()
    assert outcome in ("valid", "invalid"), line
    policies: frozenset[str] | None = None
    for item in inputs:
        if item.startswith("P="):
            policies = frozenset(TEST_POLICY_ARC + n for n in item[2:].split(","))
        else:
            assert item in ("E", "M", "A"), line
    return PkitsCase(
        number,
        end_entity,
        outcome == "valid",
        policies,
        explicit_policy="E" in inputs,
        mapping_inhibit="M" in inputs,
        any_policy_inhibit="A" in inputs,
    )


CASES: tuple[PkitsCase, ...] = tuple(_case(line) for line in TESTS.strip().splitlines())


def data_directory() -> Path:
    """PKITS_data of the cryptography-vectors package (a development dependency)."""
    import cryptography_vectors

    return Path(cryptography_vectors.__file__).parent / "x509" / "PKITS_data"


@dataclass(frozen=True, slots=True)
class Suite:
    certificates: Mapping[str, bytes]  # file stem -> DER
    crls: tuple[bytes, ...]

    def intermediates(self, end_entity: str) -> tuple[bytes, ...]:
        """Every certificate of the suite but end entities and the anchor."""
        return tuple(
            der
            for name, der in sorted(self.certificates.items())
            if not name.endswith("EE") and name not in (end_entity, TRUST_ANCHOR)
        )


@cache
def load_suite(directory: Path | None = None) -> Suite:
    directory = directory or data_directory()
    certificates = {path.stem: path.read_bytes() for path in (directory / "certs").glob("*.crt")}
    crls = tuple(path.read_bytes() for path in sorted((directory / "crls").glob("*.crl")))
    return Suite(certificates, crls)


def request_for(case: PkitsCase, suite: Suite) -> EvaluationRequest:
    return EvaluationRequest(
        certificates=(suite.certificates[case.end_entity], *suite.intermediates(case.end_entity)),
        policies=(Policy(),),
        verify_date=VERIFY_TIME,
        anchors=(suite.certificates[TRUST_ANCHOR],),
        anchors_only=True,
        crls=suite.crls,
        require_revocation=True,
        initial_policy_set=case.policy_set,
        initial_explicit_policy=case.explicit_policy,
        initial_policy_mapping_inhibit=case.mapping_inhibit,
        initial_any_policy_inhibit=case.any_policy_inhibit,
    )


@dataclass(frozen=True, slots=True)
class Outcome:
    case: PkitsCase
    accepted: bool
    verdict: Verdict

    @property
    def passed(self) -> bool:
        return self.accepted == self.case.valid

    @property
    def false_accept(self) -> bool:
        return self.accepted and not self.case.valid

    def describe(self) -> str:
        failed = sorted({f"{f.index}:{f.check}" for f in self.verdict.counted})
        verdict = "accepted" if self.accepted else "rejected " + " ".join(failed)
        expected = "valid" if self.case.valid else "invalid"
        return f"{self.case.number} {self.case.end_entity} (expected {expected}): {verdict}"


def run(cases: Iterable[PkitsCase] = CASES, suite: Suite | None = None) -> list[Outcome]:
    suite = suite or load_suite()
    evaluator = Evaluator(public_suffixes=public_suffix_list())
    outcomes = []
    for case in cases:
        verdict = evaluator.evaluate(request_for(case, suite), EMPTY_SNAPSHOT, VERIFY_TIME)
        outcomes.append(Outcome(case, verdict.trusted, verdict))
    return outcomes


def summary(outcomes: Iterable[Outcome]) -> str:
    items = list(outcomes)
    passed = sum(1 for o in items if o.passed)
    accepts = sum(1 for o in items if o.false_accept)
    rejects = sum(1 for o in items if not o.passed and not o.false_accept)
    return (
        f"pkits: {passed} passed, {accepts} false-accepts, {rejects} false-rejects of {len(items)}"
    )


def main(argv: list[str] | None = None, stdout: TextIO = sys.stdout) -> int:
    parser = argparse.ArgumentParser(prog="python -m trustd.conformance.pkits")
    parser.add_argument("--details", action="store_true", help="list every test not passed")
    args = parser.parse_args(argv)
    outcomes = run()
    if args.details:
        for outcome in outcomes:
            if not outcome.passed:
                miss = EXPECTED_MISSES.get(outcome.case.number)
                stdout.write(outcome.describe() + (f" [deviation: {miss}]" if miss else "") + "\n")
    stdout.write(summary(outcomes) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
