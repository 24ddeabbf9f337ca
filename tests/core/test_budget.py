"""Path building stays bounded on hostile graphs; budgets are spent as documented."""

from __future__ import annotations

from core.helpers import SHORT, cert, failed, run, ssl
from pki import PKI

from trustd.core import EvaluationRequest, MemorySnapshot, Policy, TrustResult, evaluate
from trustd.core.budget import MAX_INTERMEDIATES, MAX_SIGNATURE_CHECKS


def test_many_same_subject_cross_signed_intermediates_exhaust_the_signature_budget(
    pki: PKI,
) -> None:
    """Dozens of CAs with one subject, each cross-signing all others: the search must stop."""
    root = pki.root()
    keys = [pki.new_key() for _ in range(12)]
    layer = [pki.intermediate(root, "Mesh CA", key=key) for key in keys]
    mesh = [pki.intermediate(issuer, "Mesh CA", key=key) for issuer in layer for key in keys]
    leaf = pki.leaf(layer[0], dns=["example.com"], **SHORT)
    unrelated = pki.root("Unrelated Root")  # the anchor is not reachable: the search must fail
    verdict = run([leaf, *mesh], policies=[ssl()], anchors=[unrelated], anchors_only=True)
    assert verdict.result is TrustResult.FATAL_TRUST_FAILURE
    assert failed(verdict) == {(0, "BudgetExhausted")}
    assert verdict.budget.signatures == MAX_SIGNATURE_CHECKS


def test_a_good_path_is_found_before_the_budget_when_it_exists(pki: PKI) -> None:
    root = pki.root()
    ica = pki.intermediate(root, "Issuing CA")
    decoys = [
        pki.intermediate(pki.root(f"Decoy {i}"), "Issuing CA", key=ica.key) for i in range(20)
    ]
    leaf = pki.leaf(ica, dns=["example.com"], **SHORT)
    verdict = run([leaf, *decoys, ica], policies=[ssl()], anchors=[root], anchors_only=True)
    assert verdict.trusted
    assert verdict.budget.signatures <= 3


def test_signature_checks_spent_on_a_plain_chain(pki: PKI) -> None:
    root = pki.root()
    ica = pki.intermediate(root)
    leaf = pki.leaf(ica, dns=["example.com"], **SHORT)
    verdict = run([leaf, ica], policies=[ssl()], anchors=[root], anchors_only=True)
    assert verdict.trusted
    assert verdict.budget.signatures == 2


def test_depth_limit_counts_logical_intermediates(pki: PKI) -> None:
    root = pki.root()
    chain = [root]
    for depth in range(MAX_INTERMEDIATES + 1):
        chain.append(pki.intermediate(chain[-1], f"CA {depth}"))
    leaf = pki.leaf(chain[-1], dns=["example.com"], **SHORT)
    too_deep = run([leaf, *chain[1:]], anchors=[root], anchors_only=True)
    assert not too_deep.trusted
    ok = run([leaf, *chain[2:]], anchors=[chain[1]], anchors_only=True)
    assert ok.trusted


def test_explicit_max_intermediates(pki: PKI) -> None:
    root = pki.root()
    ica = pki.intermediate(root)
    leaf = pki.leaf(ica, dns=["example.com"], **SHORT)
    request = EvaluationRequest(
        certificates=(leaf.der, ica.der),
        policies=(Policy(),),
        anchors=(root.der,),
        anchors_only=True,
        max_intermediates=0,
    )
    from core.helpers import NOW

    assert not evaluate(request, MemorySnapshot(), NOW).trusted


def test_intermediate_cycle_terminates(pki: PKI) -> None:
    root = pki.root()
    a_key, b_key = pki.new_key(), pki.new_key()
    a = pki.intermediate(root, "CA A", key=a_key)
    b = pki.intermediate(a, "CA B", key=b_key)
    a_by_b = pki.intermediate(b, "CA A", key=a_key)
    leaf = pki.leaf(a_by_b, dns=["example.com"], **SHORT)
    other = pki.root("Other")
    verdict = run([leaf, a_by_b, b, a], anchors=[other], anchors_only=True)
    assert not verdict.trusted
    assert verdict.result is TrustResult.RECOVERABLE_TRUST_FAILURE
    assert cert(root) not in verdict.chain
