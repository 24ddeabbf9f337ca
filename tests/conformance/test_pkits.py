"""NIST PKITS through our harness (trustd.conformance.pkits).

Every test of the PKITS document's section 4 runs with revocation required, every certificate of
the suite offered as an intermediate and every CRL handed in.  Fails on any false accept (a
security bug), on any test not passed that the harness's EXPECTED_MISSES and docs/deviations.md
do not both explain, and on an expected miss that no longer misses (the list cannot go stale).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from trustd.conformance import pkits

REPO = Path(__file__).resolve().parents[2]
DEVIATIONS = (REPO / "docs" / "deviations.md").read_text()


@pytest.fixture(scope="module")
def outcomes() -> list[pkits.Outcome]:
    return pkits.run()


def test_the_table_names_every_end_entity_of_the_data() -> None:
    suite = pkits.load_suite()
    in_data = {name for name in suite.certificates if name.endswith("EE")}
    in_table = {case.end_entity for case in pkits.CASES}
    assert in_table == in_data
    assert len({case.number for case in pkits.CASES}) == len(pkits.CASES)
    assert len(suite.crls) > 100


def test_no_false_accepts(outcomes: list[pkits.Outcome]) -> None:
    accepted = [o.describe() for o in outcomes if o.false_accept]
    assert not accepted, "a false accept is a security bug"


def test_every_test_not_passed_is_a_documented_deviation(outcomes: list[pkits.Outcome]) -> None:
    missed = [o for o in outcomes if not o.passed]
    undocumented = [o.describe() for o in missed if o.case.number not in pkits.EXPECTED_MISSES]
    assert not undocumented
    for outcome in missed:
        assert f"PKITS {outcome.case.number}" in DEVIATIONS, outcome.case.number


def test_expected_misses_still_miss(outcomes: list[pkits.Outcome]) -> None:
    by_number = {o.case.number: o for o in outcomes}
    for number in pkits.EXPECTED_MISSES:
        assert not by_number[number].passed, f"{number} passes now: drop it from the list"


def test_valid_and_invalid_paths_score(outcomes: list[pkits.Outcome]) -> None:
    """Each Valid*/Invalid* end entity passes when every run of its test passes."""
    files: dict[str, bool] = {}
    for outcome in outcomes:
        name = outcome.case.end_entity
        if name.startswith(("Valid", "Invalid")):
            files[name] = files.get(name, True) and outcome.passed
    assert len(files) == 203
    assert sum(files.values()) >= 201


def test_initial_policy_inputs_decide(outcomes: list[pkits.Outcome]) -> None:
    """The same path under other RFC 5280 6.1.1 inputs: accepted, then refused."""
    runs = {o.case.number: o for o in outcomes}
    assert runs["4.8.1.2"].accepted and not runs["4.8.1.3"].accepted  # initial policy set
    assert runs["4.8.2.1"].accepted and not runs["4.8.2.2"].accepted  # initial explicit policy
    assert runs["4.10.1.1"].accepted and not runs["4.10.1.3"].accepted  # mapping inhibit
    assert runs["4.12.3.1"].accepted and not runs["4.12.3.2"].accepted  # anyPolicy inhibit
    assert {f.check for f in runs["4.12.3.2"].verdict.counted} == {"PolicyConstraints"}


def test_revocation_failures_name_the_reason(outcomes: list[pkits.Outcome]) -> None:
    runs = {o.case.number: o for o in outcomes}
    assert {f.check for f in runs["4.4.1"].verdict.counted} == {"RevocationResponseRequired"}
    assert {f.check for f in runs["4.4.3"].verdict.counted} == {"Revocation"}
    assert {f.check for f in runs["4.15.4"].verdict.counted} == {"Revocation"}  # delta CRL
    assert {f.check for f in runs["4.14.17"].verdict.counted} == {"RevocationResponseRequired"}
