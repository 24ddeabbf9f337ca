"""NIST PKITS (Public Key Interoperability Test Suite, RFC 5280 path validation).

`python -m trustd.conformance.pkits [--details]` runs every test of section 4 of the PKITS
document against the certificates and CRLs that the `cryptography-vectors` package ships
(`x509/PKITS_data`), and prints the score.

Every test is one evaluation: the test's end-entity certificate with every other certificate of
the suite offered as an intermediate, "Trust Anchor Root Certificate" as the only anchor, every
CRL of the suite handed in, revocation required, the basic X.509 policy, verify time 2020-01-01
(inside the validity of all the data), and the RFC 5280 6.1.1 inputs the document gives for the
test.

TESTS below is the document's table: the test number (a fourth component numbers the runs of one
test with different inputs), the end-entity certificate, the expected outcome and the 6.1.1
inputs that differ from the defaults: `P=1,2` the user-initial-policy-set (NIST-test-policy-1 and
-2; default any-policy), `E` initial-explicit-policy, `M` initial-policy-mapping-inhibit, `A`
initial-any-policy-inhibit.  EXPECTED_MISSES are the tests trustd deliberately decides otherwise
(docs/deviations.md gives the same reasons).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TextIO

from trustd.core import EvaluationRequest, Evaluator, Policy, Verdict
from trustd.core.snapshot import EMPTY_SNAPSHOT
from trustd.public_suffixes import public_suffix_list

VERIFY_TIME = datetime(2020, 1, 1, tzinfo=UTC)
TRUST_ANCHOR = "TrustAnchorRootCertificate"
TEST_POLICY_ARC = "2.16.840.1.101.3.2.1.48."  # NIST-test-policy-N is this arc plus N
ANY_POLICY = "2.5.29.32.0"

TESTS = """
4.1.1 ValidCertificatePathTest1EE valid
4.1.2 InvalidCASignatureTest2EE invalid
4.1.3 InvalidEESignatureTest3EE invalid
4.1.4 ValidDSASignaturesTest4EE valid
4.1.5 ValidDSAParameterInheritanceTest5EE valid
4.1.6 InvalidDSASignatureTest6EE invalid
4.2.1 InvalidCAnotBeforeDateTest1EE invalid
4.2.2 InvalidEEnotBeforeDateTest2EE invalid
4.2.3 Validpre2000UTCnotBeforeDateTest3EE valid
4.2.4 ValidGeneralizedTimenotBeforeDateTest4EE valid
4.2.5 InvalidCAnotAfterDateTest5EE invalid
4.2.6 InvalidEEnotAfterDateTest6EE invalid
4.2.7 Invalidpre2000UTCEEnotAfterDateTest7EE invalid
4.2.8 ValidGeneralizedTimenotAfterDateTest8EE valid
4.3.1 InvalidNameChainingTest1EE invalid
4.3.2 InvalidNameChainingOrderTest2EE invalid
4.3.3 ValidNameChainingWhitespaceTest3EE valid
4.3.4 ValidNameChainingWhitespaceTest4EE valid
4.3.5 ValidNameChainingCapitalizationTest5EE valid
4.3.6 ValidNameUIDsTest6EE valid
4.3.7 ValidRFC3280MandatoryAttributeTypesTest7EE valid
4.3.8 ValidRFC3280OptionalAttributeTypesTest8EE valid
4.3.9 ValidUTF8StringEncodedNamesTest9EE valid
4.3.10 ValidRolloverfromPrintableStringtoUTF8StringTest10EE valid
4.3.11 ValidUTF8StringCaseInsensitiveMatchTest11EE valid
4.4.1 InvalidMissingCRLTest1EE invalid
4.4.2 InvalidRevokedCATest2EE invalid
4.4.3 InvalidRevokedEETest3EE invalid
4.4.4 InvalidBadCRLSignatureTest4EE invalid
4.4.5 InvalidBadCRLIssuerNameTest5EE invalid
4.4.6 InvalidWrongCRLTest6EE invalid
4.4.7 ValidTwoCRLsTest7EE valid
4.4.8 InvalidUnknownCRLEntryExtensionTest8EE invalid
4.4.9 InvalidUnknownCRLExtensionTest9EE invalid
4.4.10 InvalidUnknownCRLExtensionTest10EE invalid
4.4.11 InvalidOldCRLnextUpdateTest11EE invalid
4.4.12 Invalidpre2000CRLnextUpdateTest12EE invalid
4.4.13 ValidGeneralizedTimeCRLnextUpdateTest13EE valid
4.4.14 ValidNegativeSerialNumberTest14EE valid
4.4.15 InvalidNegativeSerialNumberTest15EE invalid
4.4.16 ValidLongSerialNumberTest16EE valid
4.4.17 ValidLongSerialNumberTest17EE valid
4.4.18 InvalidLongSerialNumberTest18EE invalid
4.4.19 ValidSeparateCertificateandCRLKeysTest19EE valid
4.4.20 InvalidSeparateCertificateandCRLKeysTest20EE invalid
4.4.21 InvalidSeparateCertificateandCRLKeysTest21EE invalid
4.5.1 ValidBasicSelfIssuedOldWithNewTest1EE valid
4.5.2 InvalidBasicSelfIssuedOldWithNewTest2EE invalid
4.5.3 ValidBasicSelfIssuedNewWithOldTest3EE valid
4.5.4 ValidBasicSelfIssuedNewWithOldTest4EE valid
4.5.5 InvalidBasicSelfIssuedNewWithOldTest5EE invalid
4.5.6 ValidBasicSelfIssuedCRLSigningKeyTest6EE valid
4.5.7 InvalidBasicSelfIssuedCRLSigningKeyTest7EE invalid
4.5.8 InvalidBasicSelfIssuedCRLSigningKeyTest8EE invalid
4.6.1 InvalidMissingbasicConstraintsTest1EE invalid
4.6.2 InvalidcAFalseTest2EE invalid
4.6.3 InvalidcAFalseTest3EE invalid
4.6.4 ValidbasicConstraintsNotCriticalTest4EE valid
4.6.5 InvalidpathLenConstraintTest5EE invalid
4.6.6 InvalidpathLenConstraintTest6EE invalid
4.6.7 ValidpathLenConstraintTest7EE valid
4.6.8 ValidpathLenConstraintTest8EE valid
4.6.9 InvalidpathLenConstraintTest9EE invalid
4.6.10 InvalidpathLenConstraintTest10EE invalid
4.6.11 InvalidpathLenConstraintTest11EE invalid
4.6.12 InvalidpathLenConstraintTest12EE invalid
4.6.13 ValidpathLenConstraintTest13EE valid
4.6.14 ValidpathLenConstraintTest14EE valid
4.6.15 ValidSelfIssuedpathLenConstraintTest15EE valid
4.6.16 InvalidSelfIssuedpathLenConstraintTest16EE invalid
4.6.17 ValidSelfIssuedpathLenConstraintTest17EE valid
4.7.1 InvalidkeyUsageCriticalkeyCertSignFalseTest1EE invalid
4.7.2 InvalidkeyUsageNotCriticalkeyCertSignFalseTest2EE invalid
4.7.3 ValidkeyUsageNotCriticalTest3EE valid
4.7.4 InvalidkeyUsageCriticalcRLSignFalseTest4EE invalid
4.7.5 InvalidkeyUsageNotCriticalcRLSignFalseTest5EE invalid
4.8.1.1 ValidCertificatePathTest1EE valid E
4.8.1.2 ValidCertificatePathTest1EE valid E P=1
4.8.1.3 ValidCertificatePathTest1EE invalid E P=2
4.8.1.4 ValidCertificatePathTest1EE valid E P=1,2
4.8.2.1 AllCertificatesNoPoliciesTest2EE valid
4.8.2.2 AllCertificatesNoPoliciesTest2EE invalid E
4.8.3.1 DifferentPoliciesTest3EE valid
4.8.3.2 DifferentPoliciesTest3EE invalid E
4.8.3.3 DifferentPoliciesTest3EE invalid E P=1,2
4.8.4 DifferentPoliciesTest4EE invalid
4.8.5 DifferentPoliciesTest5EE invalid
4.8.6.1 OverlappingPoliciesTest6EE valid
4.8.6.2 OverlappingPoliciesTest6EE valid P=1
4.8.6.3 OverlappingPoliciesTest6EE invalid P=2
4.8.7 DifferentPoliciesTest7EE invalid
4.8.8 DifferentPoliciesTest8EE invalid
4.8.9 DifferentPoliciesTest9EE invalid
4.8.10.1 AllCertificatesSamePoliciesTest10EE valid
4.8.10.2 AllCertificatesSamePoliciesTest10EE valid P=1
4.8.10.3 AllCertificatesSamePoliciesTest10EE valid P=2
4.8.11.1 AllCertificatesanyPolicyTest11EE valid
4.8.11.2 AllCertificatesanyPolicyTest11EE valid P=1
4.8.12 DifferentPoliciesTest12EE invalid
4.8.13.1 AllCertificatesSamePoliciesTest13EE valid P=1
4.8.13.2 AllCertificatesSamePoliciesTest13EE valid P=2
4.8.13.3 AllCertificatesSamePoliciesTest13EE valid P=3
4.8.14.1 AnyPolicyTest14EE valid P=1
4.8.14.2 AnyPolicyTest14EE invalid P=2
4.8.15 UserNoticeQualifierTest15EE valid
4.8.16 UserNoticeQualifierTest16EE valid
4.8.17 UserNoticeQualifierTest17EE valid
4.8.18.1 UserNoticeQualifierTest18EE valid P=1
4.8.18.2 UserNoticeQualifierTest18EE valid P=2
4.8.19 UserNoticeQualifierTest19EE valid
4.8.20 CPSPointerQualifierTest20EE valid
4.9.1 ValidrequireExplicitPolicyTest1EE valid
4.9.2 ValidrequireExplicitPolicyTest2EE valid
4.9.3 InvalidrequireExplicitPolicyTest3EE invalid
4.9.4 ValidrequireExplicitPolicyTest4EE valid
4.9.5 InvalidrequireExplicitPolicyTest5EE invalid
4.9.6 ValidSelfIssuedrequireExplicitPolicyTest6EE valid
4.9.7 InvalidSelfIssuedrequireExplicitPolicyTest7EE invalid
4.9.8 InvalidSelfIssuedrequireExplicitPolicyTest8EE invalid
4.10.1.1 ValidPolicyMappingTest1EE valid P=1
4.10.1.2 ValidPolicyMappingTest1EE invalid P=2
4.10.1.3 ValidPolicyMappingTest1EE invalid M
4.10.2.1 InvalidPolicyMappingTest2EE invalid
4.10.2.2 InvalidPolicyMappingTest2EE invalid M
4.10.3.1 ValidPolicyMappingTest3EE invalid P=1
4.10.3.2 ValidPolicyMappingTest3EE valid P=2
4.10.4 InvalidPolicyMappingTest4EE invalid
4.10.5.1 ValidPolicyMappingTest5EE valid P=1
4.10.5.2 ValidPolicyMappingTest5EE invalid P=6
4.10.6.1 ValidPolicyMappingTest6EE valid P=1
4.10.6.2 ValidPolicyMappingTest6EE invalid P=6
4.10.7 InvalidMappingFromanyPolicyTest7EE invalid
4.10.8 InvalidMappingToanyPolicyTest8EE invalid
4.10.9 ValidPolicyMappingTest9EE valid
4.10.10 InvalidPolicyMappingTest10EE invalid
4.10.11 ValidPolicyMappingTest11EE valid
4.10.12.1 ValidPolicyMappingTest12EE valid P=1
4.10.12.2 ValidPolicyMappingTest12EE valid P=2
4.10.13 ValidPolicyMappingTest13EE valid
4.10.14 ValidPolicyMappingTest14EE valid
4.11.1 InvalidinhibitPolicyMappingTest1EE invalid
4.11.2 ValidinhibitPolicyMappingTest2EE valid
4.11.3 InvalidinhibitPolicyMappingTest3EE invalid
4.11.4 ValidinhibitPolicyMappingTest4EE valid
4.11.5 InvalidinhibitPolicyMappingTest5EE invalid
4.11.6 InvalidinhibitPolicyMappingTest6EE invalid
4.11.7 ValidSelfIssuedinhibitPolicyMappingTest7EE valid
4.11.8 InvalidSelfIssuedinhibitPolicyMappingTest8EE invalid
4.11.9 InvalidSelfIssuedinhibitPolicyMappingTest9EE invalid
4.11.10 InvalidSelfIssuedinhibitPolicyMappingTest10EE invalid
4.11.11 InvalidSelfIssuedinhibitPolicyMappingTest11EE invalid
4.12.1 InvalidinhibitAnyPolicyTest1EE invalid
4.12.2 ValidinhibitAnyPolicyTest2EE valid
4.12.3.1 inhibitAnyPolicyTest3EE valid
4.12.3.2 inhibitAnyPolicyTest3EE invalid A
4.12.4 InvalidinhibitAnyPolicyTest4EE invalid
4.12.5 InvalidinhibitAnyPolicyTest5EE invalid
4.12.6 InvalidinhibitAnyPolicyTest6EE invalid
4.12.7 ValidSelfIssuedinhibitAnyPolicyTest7EE valid
4.12.8 InvalidSelfIssuedinhibitAnyPolicyTest8EE invalid
4.12.9 ValidSelfIssuedinhibitAnyPolicyTest9EE valid
4.12.10 InvalidSelfIssuedinhibitAnyPolicyTest10EE invalid
4.13.1 ValidDNnameConstraintsTest1EE valid
4.13.2 InvalidDNnameConstraintsTest2EE invalid
4.13.3 InvalidDNnameConstraintsTest3EE invalid
4.13.4 ValidDNnameConstraintsTest4EE valid
4.13.5 ValidDNnameConstraintsTest5EE valid
4.13.6 ValidDNnameConstraintsTest6EE valid
4.13.7 InvalidDNnameConstraintsTest7EE invalid
4.13.8 InvalidDNnameConstraintsTest8EE invalid
4.13.9 InvalidDNnameConstraintsTest9EE invalid
4.13.10 InvalidDNnameConstraintsTest10EE invalid
4.13.11 ValidDNnameConstraintsTest11EE valid
4.13.12 InvalidDNnameConstraintsTest12EE invalid
4.13.13 InvalidDNnameConstraintsTest13EE invalid
4.13.14 ValidDNnameConstraintsTest14EE valid
4.13.15 InvalidDNnameConstraintsTest15EE invalid
4.13.16 InvalidDNnameConstraintsTest16EE invalid
4.13.17 InvalidDNnameConstraintsTest17EE invalid
4.13.18 ValidDNnameConstraintsTest18EE valid
4.13.19 ValidDNnameConstraintsTest19EE valid
4.13.20 InvalidDNnameConstraintsTest20EE invalid
4.13.21 ValidRFC822nameConstraintsTest21EE valid
4.13.22 InvalidRFC822nameConstraintsTest22EE invalid
4.13.23 ValidRFC822nameConstraintsTest23EE valid
4.13.24 InvalidRFC822nameConstraintsTest24EE invalid
4.13.25 ValidRFC822nameConstraintsTest25EE valid
4.13.26 InvalidRFC822nameConstraintsTest26EE invalid
4.13.27 ValidDNandRFC822nameConstraintsTest27EE valid
4.13.28 InvalidDNandRFC822nameConstraintsTest28EE invalid
4.13.29 InvalidDNandRFC822nameConstraintsTest29EE invalid
4.13.30 ValidDNSnameConstraintsTest30EE valid
4.13.31 InvalidDNSnameConstraintsTest31EE invalid
4.13.32 ValidDNSnameConstraintsTest32EE valid
4.13.33 InvalidDNSnameConstraintsTest33EE invalid
4.13.34 ValidURInameConstraintsTest34EE valid
4.13.35 InvalidURInameConstraintsTest35EE invalid
4.13.36 ValidURInameConstraintsTest36EE valid
4.13.37 InvalidURInameConstraintsTest37EE invalid
4.13.38 InvalidDNSnameConstraintsTest38EE invalid
4.14.1 ValiddistributionPointTest1EE valid
4.14.2 InvaliddistributionPointTest2EE invalid
4.14.3 InvaliddistributionPointTest3EE invalid
4.14.4 ValiddistributionPointTest4EE valid
4.14.5 ValiddistributionPointTest5EE valid
4.14.6 InvaliddistributionPointTest6EE invalid
4.14.7 ValiddistributionPointTest7EE valid
4.14.8 InvaliddistributionPointTest8EE invalid
4.14.9 InvaliddistributionPointTest9EE invalid
4.14.10 ValidNoissuingDistributionPointTest10EE valid
4.14.11 InvalidonlyContainsUserCertsTest11EE invalid
4.14.12 InvalidonlyContainsCACertsTest12EE invalid
4.14.13 ValidonlyContainsCACertsTest13EE valid
4.14.14 InvalidonlyContainsAttributeCertsTest14EE invalid
4.14.15 InvalidonlySomeReasonsTest15EE invalid
4.14.16 InvalidonlySomeReasonsTest16EE invalid
4.14.17 InvalidonlySomeReasonsTest17EE invalid
4.14.18 ValidonlySomeReasonsTest18EE valid
4.14.19 ValidonlySomeReasonsTest19EE valid
4.14.20 InvalidonlySomeReasonsTest20EE invalid
4.14.21 InvalidonlySomeReasonsTest21EE invalid
4.14.22 ValidIDPwithindirectCRLTest22EE valid
4.14.23 InvalidIDPwithindirectCRLTest23EE invalid
4.14.24 ValidIDPwithindirectCRLTest24EE valid
4.14.25 ValidIDPwithindirectCRLTest25EE valid
4.14.26 InvalidIDPwithindirectCRLTest26EE invalid
4.14.27 InvalidcRLIssuerTest27EE invalid
4.14.28 ValidcRLIssuerTest28EE valid
4.14.29 ValidcRLIssuerTest29EE valid
4.14.30 ValidcRLIssuerTest30EE valid
4.14.31 InvalidcRLIssuerTest31EE invalid
4.14.32 InvalidcRLIssuerTest32EE invalid
4.14.33 ValidcRLIssuerTest33EE valid
4.14.34 InvalidcRLIssuerTest34EE invalid
4.14.35 InvalidcRLIssuerTest35EE invalid
4.15.1 InvaliddeltaCRLIndicatorNoBaseTest1EE invalid
4.15.2 ValiddeltaCRLTest2EE valid
4.15.3 InvaliddeltaCRLTest3EE invalid
4.15.4 InvaliddeltaCRLTest4EE invalid
4.15.5 ValiddeltaCRLTest5EE valid
4.15.6 InvaliddeltaCRLTest6EE invalid
4.15.7 ValiddeltaCRLTest7EE valid
4.15.8 ValiddeltaCRLTest8EE valid
4.15.9 InvaliddeltaCRLTest9EE invalid
4.15.10 InvaliddeltaCRLTest10EE invalid
4.16.1 ValidUnknownNotCriticalCertificateExtensionTest1EE valid
4.16.2 InvalidUnknownCriticalCertificateExtensionTest2EE invalid
"""

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
