"""The search's record (EvaluationRequest.record_paths): every candidate issuer tried, how each
path ended and why, the trust settings consulted and the budget that ran out."""

from __future__ import annotations

from core.helpers import NOW, SHORT, cert, run, ssl
from pki import PKI, Issued

from trustd.core import (
    Domain,
    EvaluationRequest,
    ExceptionList,
    MemorySnapshot,
    Policy,
    SettingsResult,
    TrustResult,
    TrustSettings,
    UsageConstraint,
    Verdict,
    evaluate,
)
from trustd.core.verdict import AppliedSetting, Attempt


def explained(
    chain: list[Issued],
    snapshot: MemorySnapshot,
    *,
    policy: Policy | None = None,
    anchors: tuple[Issued, ...] = (),
    exceptions: ExceptionList | None = None,
) -> Verdict:
    request = EvaluationRequest(
        certificates=tuple(c.der for c in chain),
        policies=(policy or ssl(),),
        anchors=tuple(a.der for a in anchors),
        anchors_only=bool(anchors),
        exceptions=exceptions,
        record_paths=True,
    )
    return evaluate(request, snapshot, NOW)


def steps(verdict: Verdict) -> list[tuple[int, str, str]]:
    assert verdict.attempts is not None
    return [(a.depth, a.certificate.subject_summary, a.outcome) for a in verdict.attempts]


def ends(verdict: Verdict) -> list[Attempt]:
    assert verdict.attempts is not None
    return [a for a in verdict.attempts if a.result is not None]


def test_a_denied_path_and_the_way_around_are_both_recorded(pki: PKI) -> None:
    root = pki.root("System Root")
    ica = pki.intermediate(root, "Issuing CA")
    cross_root = pki.root("Cross Root")
    cross = pki.cross_sign(ica, cross_root)
    leaf = pki.leaf(ica, dns=["example.com"], **SHORT)
    deny = TrustSettings(Domain.ADMIN, (UsageConstraint(result=SettingsResult.DENY),))
    snapshot = MemorySnapshot(
        system_anchors=[cert(root)],
        admin=[(cert(ica), deny), (cert(cross_root), TrustSettings(Domain.ADMIN))],
    )
    verdict = explained([leaf, ica, cross], snapshot)
    assert verdict.result is TrustResult.PROCEED
    assert steps(verdict) == [
        (1, "Issuing CA", "extended"),
        (1, "Issuing CA", "denied"),
        (1, "Issuing CA", "extended"),
        (2, "Cross Root", "extended"),
        (2, "Cross Root", "anchor"),
    ]
    denied, anchored = ends(verdict)
    # The denied path: its result, the failure naming the denied certificate, the setting.
    assert denied.certificate == cert(ica) and denied.detail == "admin"
    assert denied.result is TrustResult.DENY
    assert [(f.index, f.check) for f in denied.failures] == [(1, "UsageConstraints")]
    assert denied.setting == AppliedSetting(1, Domain.ADMIN, 0, "deny")
    # The path chosen ends at the cross root, trusted by an unconstrained admin entry.
    assert anchored.result is TrustResult.PROCEED and anchored.failures == ()
    assert anchored.setting == AppliedSetting(2, Domain.ADMIN, None, "anchor")
    assert anchored.certificate == verdict.chain[-1]


def test_a_missing_issuer_is_named_with_the_check_it_fails(pki: PKI) -> None:
    root = pki.root("System Root")
    ica = pki.intermediate(root, "Lost Intermediate")
    leaf = pki.leaf(ica, dns=["example.com"], **SHORT)
    verdict = explained([leaf], MemorySnapshot(system_anchors=[cert(root)]))
    (end,) = ends(verdict)
    assert (end.depth, end.outcome, end.detail) == (0, "no issuer", "CN=Lost Intermediate")
    assert end.result is TrustResult.RECOVERABLE_TRUST_FAILURE
    assert [(f.index, f.check) for f in end.failures] == [(0, "MissingIntermediate")]


def test_a_candidate_whose_signature_does_not_verify(pki: PKI) -> None:
    root = pki.root("System Root")
    ica = pki.intermediate(root, "Issuing CA")
    # Same name and key identifier, another key: preferred as much as the real one.
    impostor = pki.intermediate(root, "Issuing CA", ski=ica.ski)
    leaf = pki.leaf(ica, dns=["example.com"], **SHORT)
    verdict = explained([leaf, impostor, ica], MemorySnapshot(system_anchors=[cert(root)]))
    assert verdict.trusted
    assert verdict.attempts is not None
    refused = [a for a in verdict.attempts if a.outcome == "signature"]
    assert [(a.depth, a.certificate) for a in refused] == [(1, cert(impostor))]
    assert refused[0].result is None and refused[0].failures == ()


def test_settings_consulted_that_decide_nothing_are_recorded(pki: PKI) -> None:
    org = pki.root("Org Root")
    leaf = pki.leaf(org, dns=["b.example"], **SHORT)
    only_a = TrustSettings(
        Domain.USER,
        (UsageConstraint(policy_oid="1.2.840.113635.100.1.3", policy_string="a.example"),),
    )
    verdict = explained(
        [leaf, org], MemorySnapshot(user=[(cert(org), only_a)]), policy=ssl("b.example")
    )
    assert verdict.result is TrustResult.RECOVERABLE_TRUST_FAILURE
    end = ends(verdict)[-1]
    assert end.certificate == cert(org) and end.outcome == "no issuer"
    assert end.setting == AppliedSetting(1, Domain.USER, None, "noMatch")
    assert [(f.index, f.check) for f in end.failures] == [(1, "AnchorTrusted")]


def test_the_budget_that_ran_out_is_recorded_where_it_did(pki: PKI) -> None:
    root = pki.root()
    keys = [pki.new_key() for _ in range(12)]
    layer = [pki.intermediate(root, "Mesh CA", key=key) for key in keys]
    mesh = [pki.intermediate(issuer, "Mesh CA", key=key) for issuer in layer for key in keys]
    leaf = pki.leaf(layer[0], dns=["example.com"], **SHORT)
    unrelated = pki.root("Unrelated Root")
    verdict = explained([leaf, *mesh], MemorySnapshot(), anchors=(unrelated,))
    assert verdict.result is TrustResult.FATAL_TRUST_FAILURE
    assert verdict.attempts is not None
    last = verdict.attempts[-1]
    assert (last.outcome, last.detail) == ("budget", "signatures budget exhausted")
    assert last.certificate.subject_summary == "Mesh CA"
    assert sum(a.outcome == "budget" for a in verdict.attempts) == 1


def test_exceptions_usable_says_whether_the_exceptions_offered_fit(pki: PKI) -> None:
    root = pki.root("System Root")
    ica = pki.intermediate(root)
    leaf = pki.leaf(ica, dns=["example.com"], **SHORT)
    other = pki.leaf(ica, dns=["example.com"], **SHORT)
    snapshot = MemorySnapshot(system_anchors=[cert(root)])
    wrong_name = ssl("elsewhere.example")
    failing = explained([leaf, ica], snapshot, policy=wrong_name)
    assert failing.exceptions_usable is None and not failing.trusted
    excepted = explained([leaf, ica], snapshot, policy=wrong_name, exceptions=failing.exceptions)
    assert excepted.exceptions_usable is True and excepted.trusted
    for_another = explained(
        [other, ica], snapshot, policy=wrong_name, exceptions=failing.exceptions
    )
    assert for_another.exceptions_usable is False and not for_another.trusted


def test_nothing_is_recorded_unless_asked(pki: PKI) -> None:
    root = pki.root()
    leaf = pki.leaf(root, dns=["example.com"], **SHORT)
    assert run([leaf], anchors=[root], anchors_only=True).attempts is None
