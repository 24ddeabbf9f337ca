"""x509-limbo through our harness, scored by the suite's own score.py.

Fails on any false accept (a security bug), on any drop below the recorded pass count, and on
any case we do not pass that docs/deviations.md does not explain.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from trustd.conformance import limbo

REPO = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"  # provenance: data/README.md
SUITE = DATA / "limbo.json"
BASELINE = json.loads((Path(__file__).parent / "limbo_baseline.json").read_text())
DEVIATIONS = (REPO / "docs" / "deviations.md").read_text()


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run the harness exactly as documented: python -m trustd.conformance.limbo < suite."""
    out = tmp_path_factory.mktemp("limbo") / "results.json"
    with SUITE.open("rb") as stdin, out.open("wb") as stdout:
        subprocess.run(
            [sys.executable, "-m", "trustd.conformance.limbo"],
            stdin=stdin,
            stdout=stdout,
            check=True,
            timeout=600,
        )
    return out


def _score(results: Path) -> tuple[int, int, int, int]:
    scored = subprocess.run(
        [sys.executable, str(DATA / "score.py"), str(SUITE), str(results)],
        capture_output=True,
        text=True,
        check=True,
    )
    last = scored.stdout.strip().splitlines()[-1]
    match = re.fullmatch(
        r"limbo: (\d+) passed, (\d+) false-accepts, (\d+) false-rejects, (\d+) skipped of \d+",
        last,
    )
    assert match, last
    passed, accepts, rejects, skipped = (int(g) for g in match.groups())
    return passed, accepts, rejects, skipped


def test_no_false_accepts_and_no_regression(results: Path) -> None:
    passed, false_accepts, _, _ = _score(results)
    assert false_accepts == 0, "a false accept is a security bug: see score.py --details"
    assert passed >= BASELINE["passed"]


def test_every_case_not_passed_is_explained(results: Path) -> None:
    suite = {
        case["id"]: case["expected_result"] for case in json.loads(SUITE.read_text())["testcases"]
    }
    for result in json.loads(results.read_text())["results"]:
        if result["actual_result"] != suite[result["id"]]:
            assert f"`{result['id']}`" in DEVIATIONS, f"{result['id']} missing from deviations.md"


def test_skip_register_matches_deviations() -> None:
    for case_id in limbo.SKIPPED:
        assert f"`{case_id}`" in DEVIATIONS
