"""Hostile certificate graphs end within the budgets, and the tests count the work.

A peer chooses every certificate it sends, so path building is bounded by trustd.core.budget
(signature checks, build calls, name-constraint comparisons, depth).  Here: the x509-limbo
`pathological::` cases, and graphs of our own with dozens of cross-signed intermediates that
share one subject, in memory, from the store and over the daemon's socket.  Each asserts the
outcome, the signature checks spent and a wall-clock ceiling far above what they take (a
few to a few tens of milliseconds), so a lost bound shows however fast the machine.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from core.helpers import NOW, SHORT, cert, failed, ssl
from daemons import Daemon
from pki import PKI, Issued
from security.clients import b64

from trustd.conformance import limbo
from trustd.core import (
    Domain,
    EvaluationRequest,
    MemorySnapshot,
    TrustResult,
    TrustSettings,
    UsageConstraint,
    Verdict,
    evaluate,
)
from trustd.core.budget import (
    MAX_BUILD_CALLS,
    MAX_INTERMEDIATES,
    MAX_NAME_CONSTRAINT_COMPARISONS,
    MAX_SIGNATURE_CHECKS,
)
from trustd.core.evaluate import Evaluator
from trustd.core.snapshot import EMPTY_SNAPSHOT, Snapshot
from trustd.core.trust_settings import SettingsResult
from trustd.store.engine import migrate, open_engine
from trustd.store.repository import Actor, TrustStore
from trustd.store.system_anchors import SystemAnchors

pytestmark = pytest.mark.alone  # each case must finish within a time ceiling

SUITE = Path(__file__).resolve().parents[1] / "conformance" / "data" / "limbo.json"
CEILING = 2.0  # seconds; each case takes milliseconds
WIDTH = 40  # same-subject intermediates in our own graphs


def _timed(request: EvaluationRequest, snapshot: Snapshot = EMPTY_SNAPSHOT) -> Verdict:
    """Evaluate with empty caches (a fresh Evaluator), within the ceiling."""
    started = time.perf_counter()
    verdict = evaluate(request, snapshot, NOW, evaluator=Evaluator())
    elapsed = time.perf_counter() - started
    assert elapsed < CEILING, f"{elapsed:.2f} s"
    assert verdict.budget.signatures <= MAX_SIGNATURE_CHECKS
    assert verdict.budget.build_calls <= MAX_BUILD_CALLS
    assert verdict.budget.name_constraint_comparisons <= MAX_NAME_CONSTRAINT_COMPARISONS
    return verdict


# -- x509-limbo ---------------------------------------------------------------------------------

# id -> (trusted?, signature checks: exact int, or ("<=", bound), the fatal check if any)
DEPTH = MAX_INTERMEDIATES + 1  # links a depth-limited search can verify on one path
LIMBO: dict[str, tuple[bool, Any, str | None]] = {
    "pathological::multiple-chains-expired-intermediate": (True, ("<=", 2), None),
    "pathological::intermediate-cycle-distinct-cas": (False, ("<=", 3), None),
    "pathological::intermediate-cycle-distinct-cas-max-depth": (False, ("<=", 3), None),
    "pathological::intermediate-cycle-same-logical-ca": (False, ("<=", 3), None),
    "pathological::nc-dos-1": (False, ("<=", 1), "BudgetExhausted"),
    "pathological::nc-dos-2": (False, ("<=", 1), "BudgetExhausted"),
    "pathological::nc-dos-3": (False, ("<=", 1), None),
    "pathological::pathological-chain-distinct-subject-distinct-key": (False, ("<=", DEPTH), None),
    "pathological::pathological-chain-distinct-subject-same-key": (False, ("<=", DEPTH), None),
    "pathological::pathological-chain-same-subject-distinct-key": (
        False, MAX_SIGNATURE_CHECKS, "BudgetExhausted",
    ),
    "pathological::pathological-chain-same-subject-same-key": (False, MAX_SIGNATURE_CHECKS, None),
}  # fmt: skip


def _limbo_cases() -> dict[str, dict[str, Any]]:
    cases = json.loads(SUITE.read_text())["testcases"]
    return {c["id"]: c for c in cases if c["id"].startswith("pathological::")}


CASES = _limbo_cases()


def test_every_pathological_limbo_case_is_covered() -> None:
    assert sorted(CASES) == sorted(LIMBO)


@pytest.mark.parametrize("case_id", sorted(LIMBO))
def test_limbo_pathological_case(case_id: str) -> None:
    case = CASES[case_id]
    trusted, signatures, fatal = LIMBO[case_id]
    request = EvaluationRequest(
        certificates=(
            case["peer_certificate"].encode(),
            *(pem.encode() for pem in case["untrusted_intermediates"]),
        ),
        policies=(limbo._policy(case),),
        verify_date=datetime.fromisoformat(case["validation_time"])
        if case.get("validation_time")
        else None,
        anchors=tuple(pem.encode() for pem in case["trusted_certs"]),
        anchors_only=True,
        max_intermediates=case.get("max_chain_depth"),
    )
    verdict = _timed(request)
    assert verdict.trusted is trusted
    assert trusted is (case["expected_result"] == "SUCCESS")
    if isinstance(signatures, int):
        assert verdict.budget.signatures == signatures
    else:
        assert verdict.budget.signatures <= signatures[1]
    if fatal is not None:
        assert verdict.result is TrustResult.FATAL_TRUST_FAILURE
        assert fatal in {f.check for f in verdict.counted}
    if case_id.startswith("pathological::nc-dos-") and fatal:
        assert verdict.budget.name_constraint_comparisons == MAX_NAME_CONSTRAINT_COMPARISONS


# -- our own graphs: dozens of intermediates with one subject -----------------------------------


class Mesh:
    """WIDTH intermediates named "Same CA", each with its own key, issued by the root, and
    WIDTH cross-certificates: the key of CA i certified by CA i+1 (a ring).  Every one of them
    is a candidate issuer of every other and of the leaf."""

    def __init__(self, pki: PKI) -> None:
        self.root = pki.root("Mesh Root")
        keys = [pki.new_key() for _ in range(WIDTH)]
        self.layer = [pki.intermediate(self.root, "Same CA", key=key) for key in keys]
        self.ring = [
            pki.intermediate(self.layer[(i + 1) % WIDTH], "Same CA", key=keys[i])
            for i in range(WIDTH)
        ]
        self.leaf = pki.leaf(self.layer[0], dns=["example.com"], **SHORT)
        self.unrelated = pki.root("Unrelated Root")
        self.key = keys[0]


@pytest.fixture(scope="module")
def mesh() -> Mesh:
    return Mesh(PKI())


def _request(chain: list[Issued], anchors: list[Issued]) -> EvaluationRequest:
    return EvaluationRequest(
        certificates=tuple(c.der for c in chain),
        policies=(ssl(),),
        anchors=tuple(a.der for a in anchors),
        anchors_only=True,
        verify_date=NOW,
    )


def test_unreachable_anchor_behind_a_mesh_exhausts_the_signature_budget(mesh: Mesh) -> None:
    verdict = _timed(_request([mesh.leaf, *mesh.ring, *mesh.layer], [mesh.unrelated]))
    assert verdict.result is TrustResult.FATAL_TRUST_FAILURE
    assert failed(verdict) == {(0, "BudgetExhausted")}
    assert verdict.budget.signatures == MAX_SIGNATURE_CHECKS


def test_the_real_path_through_a_mesh_costs_two_signatures(mesh: Mesh) -> None:
    """AKI/SKI agreement and known issuers order the candidates: no search at all."""
    chain = [mesh.leaf, *mesh.ring, *reversed(mesh.layer)]  # the right CA sent last
    verdict = _timed(_request(chain, [mesh.root]))
    assert verdict.trusted
    assert verdict.budget.signatures == 2


def test_decoys_with_the_same_subject_and_key_cost_nothing(mesh: Mesh, pki: PKI) -> None:
    """Same subject, same key (so the same SKI), each under a root nobody trusts."""
    decoys = [
        pki.intermediate(pki.root(f"Decoy Root {i}"), "Same CA", key=mesh.key) for i in range(WIDTH)
    ]
    verdict = _timed(_request([mesh.leaf, *decoys, mesh.layer[0]], [mesh.root]))
    assert verdict.trusted
    assert verdict.budget.signatures <= 3


def test_deny_on_most_of_a_mesh_backtracks_within_the_budget(mesh: Mesh) -> None:
    """Admin settings deny every layer CA but the last: the search backtracks around each
    denied candidate and finds the one path left, through the ring, inside the budget."""
    deny = TrustSettings(Domain.ADMIN, (UsageConstraint(result=SettingsResult.DENY),))
    snapshot = MemorySnapshot(admin=[(cert(c), deny) for c in mesh.layer[:-1]])
    verdict = _timed(_request([mesh.leaf, *mesh.ring, *mesh.layer], [mesh.root]), snapshot)
    assert verdict.trusted
    assert 2 * WIDTH - 1 <= verdict.budget.signatures < MAX_SIGNATURE_CHECKS
    denied = {cert(c).sha1 for c in mesh.layer[:-1]}
    assert not denied & {c.sha1 for c in verdict.chain}


def test_a_mesh_in_the_store_is_bounded_too(mesh: Mesh, tmp_path: Path) -> None:
    """The same graph stored as intermediates (what an admin import could hold): the
    candidates come from the store's indexed lookups, and the budget still holds."""
    engine = open_engine(tmp_path / "state" / "trustd.sqlite3")
    migrate(engine)
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(mesh.unrelated.pem)
    store = TrustStore(engine, SystemAnchors(bundle))
    store.add_certificates(
        [cert(c) for c in (*mesh.ring, *mesh.layer)], source="api", actor=Actor(0, 1)
    )
    request = EvaluationRequest((mesh.leaf.der,), (ssl(),), verify_date=NOW)
    verdict = _timed(request, store.snapshot(0))
    assert verdict.result is TrustResult.FATAL_TRUST_FAILURE
    assert verdict.budget.signatures == MAX_SIGNATURE_CHECKS
    # With the root trusted by the admin, the one real path is found at once.
    store.set_trust_settings(Domain.ADMIN, 0, cert(mesh.root), [], actor=Actor(0, 1))
    store.add_certificate(cert(mesh.root), source="api", actor=Actor(0, 1))
    trusted = _timed(request, store.snapshot(0))
    assert trusted.trusted
    assert trusted.budget.signatures <= 3
    engine.dispose()


def test_a_mesh_over_the_socket_is_answered_promptly(daemon: Daemon, pki: PKI) -> None:
    """63 same-subject intermediates in one request (the most a request may carry with its
    leaf): the daemon answers BudgetExhausted within the ceiling and goes on serving."""
    mesh = Mesh(pki)
    intermediates = [*mesh.ring, *mesh.layer][:63]
    started = time.monotonic()
    reply = daemon.call(
        "Evaluate",
        certificates=[b64(mesh.leaf.der), *(b64(c.der) for c in intermediates)],
        policies=[{"policy": "ssl", "name": "example.com"}],
    )
    assert time.monotonic() - started < CEILING
    verdict = reply["parameters"]["verdict"]
    assert verdict["result"] == "fatalTrustFailure"
    assert {f["check"] for f in verdict["failures"]} == {"BudgetExhausted"}
    too_many = daemon.call("Evaluate", certificates=[b64(mesh.leaf.der)] * 65)
    assert too_many["error"] == "org.varlink.service.InvalidParameter"
    assert daemon.call("Echo", text="still here") == {"parameters": {"text": "still here"}}
