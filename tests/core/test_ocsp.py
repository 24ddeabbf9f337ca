"""OCSP responses as revocation evidence (trustd.core.ocsp, RFC 6960), through evaluate()."""

from __future__ import annotations

import datetime as dt

import pytest
from core.helpers import NOW, failed
from pki import PKI, Issued

from trustd.core import EvaluationRequest, MemorySnapshot, Verdict, evaluate

LATER = NOW + dt.timedelta(days=1)


@pytest.fixture
def chain(pki: PKI) -> tuple[Issued, Issued, Issued]:
    root = pki.root("OCSP Root")
    inter = pki.intermediate(root, "OCSP CA")
    return root, inter, pki.leaf(inter, dns=["ocsp.example"])


def judge(
    chain: tuple[Issued, Issued, Issued], *responses: bytes, required: bool = False
) -> Verdict:
    root, inter, leaf = chain
    request = EvaluationRequest(
        certificates=(leaf.der, inter.der),
        anchors=(root.der,),
        ocsp_responses=responses,
        require_revocation=required,
        verify_date=NOW,
    )
    return evaluate(request, MemorySnapshot(), NOW)


def test_good_answers_satisfy_a_required_check(pki: PKI, chain: tuple[Issued, ...]) -> None:
    root, inter, leaf = chain
    assert failed(judge(chain, required=True)) == {
        (0, "RevocationResponseRequired"),
        (1, "RevocationResponseRequired"),
    }
    both = (pki.ocsp_response(inter, leaf), pki.ocsp_response(root, inter))
    verdict = judge(chain, *both, required=True)
    assert verdict.trusted, failed(verdict)


def test_revoked_is_fatal_with_its_reason(pki: PKI, chain: tuple[Issued, ...]) -> None:
    _, inter, leaf = chain
    revoked = pki.ocsp_response(inter, leaf, "revoked", reason="keyCompromise")
    verdict = judge(chain, revoked)
    assert failed(verdict) == {(0, "Revocation")}
    assert verdict.result.wire_name == "fatalTrustFailure"
    (failure,) = verdict.counted
    assert failure.value == 1  # keyCompromise
    # A good answer from elsewhere does not outvote a revocation.
    assert failed(judge(chain, pki.ocsp_response(inter, leaf), revoked)) == {(0, "Revocation")}


def test_delegated_responder_needs_the_ocsp_signing_eku(
    pki: PKI, chain: tuple[Issued, ...]
) -> None:
    _, inter, leaf = chain
    delegated = pki.leaf(inter, "OCSP Responder", eku=("OCSPSigning",))
    by_delegate = pki.ocsp_response(inter, leaf, "revoked", responder=delegated)
    assert failed(judge(chain, by_delegate)) == {(0, "Revocation")}
    impostor = pki.leaf(inter, "Not A Responder", eku=("serverAuth",))
    ignored = pki.ocsp_response(inter, leaf, "revoked", responder=impostor)
    assert judge(chain, ignored).trusted  # not believed: no evidence, soft fail
    outsider = pki.leaf(pki.root("Elsewhere"), "Outside Responder", eku=("OCSPSigning",))
    assert judge(chain, pki.ocsp_response(inter, leaf, "revoked", responder=outsider)).trusted


@pytest.mark.parametrize(
    "dates",
    [
        {"this_update": NOW + dt.timedelta(hours=1)},  # from the future
        {"this_update": NOW - dt.timedelta(days=9), "next_update": NOW - dt.timedelta(days=2)},
        {"this_update": NOW - dt.timedelta(days=3), "next_update": dt.datetime.max},
    ],
    ids=["future", "expired", "no-next-update-older-than-a-day"],
)
def test_stale_answers_are_no_evidence(
    pki: PKI, chain: tuple[Issued, ...], dates: dict[str, dt.datetime]
) -> None:
    _, inter, leaf = chain
    revoked = pki.ocsp_response(inter, leaf, "revoked", **dates)  # type: ignore[arg-type]
    assert judge(chain, revoked).trusted
    good = pki.ocsp_response(inter, leaf, **dates)  # type: ignore[arg-type]
    assert (0, "RevocationResponseRequired") in failed(judge(chain, good, required=True))


def test_answers_about_other_certificates_and_garbage_are_ignored(
    pki: PKI, chain: tuple[Issued, ...]
) -> None:
    _, inter, leaf = chain
    other = pki.leaf(inter, dns=["other.example"])
    about_other = pki.ocsp_response(inter, other, "revoked")
    assert judge(chain, about_other, b"not ocsp", pki.corrupt_signature(leaf)).trusted
    unknown = pki.ocsp_response(inter, leaf, "unknown")
    assert (0, "RevocationResponseRequired") in failed(judge(chain, unknown, required=True))


def test_responder_named_by_key_hash(pki: PKI, chain: tuple[Issued, ...]) -> None:
    _, inter, leaf = chain
    revoked = pki.ocsp_response(inter, leaf, "revoked", by_key_hash=True)
    assert failed(judge(chain, revoked)) == {(0, "Revocation")}


def test_the_verdict_holds_only_while_the_answer_is_fresh(
    pki: PKI, chain: tuple[Issued, ...]
) -> None:
    _, inter, leaf = chain
    good = pki.ocsp_response(
        inter, leaf, this_update=NOW - dt.timedelta(hours=1), next_update=LATER
    )
    root, _, _ = chain
    request = EvaluationRequest(
        certificates=(leaf.der, inter.der), anchors=(root.der,), ocsp_responses=(good,)
    )
    from trustd.core.evaluate import Evaluator

    _, since, until = Evaluator().evaluate_with_window(request, MemorySnapshot(), NOW)
    assert until == LATER + dt.timedelta(seconds=1)
    assert since is not None and since <= NOW
