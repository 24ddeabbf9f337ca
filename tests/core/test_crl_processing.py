"""RFC 5280 6.3 CRL processing with CRLs from the PKI builder: scope (issuing distribution
point), reason partitions, delta CRLs and CRL signers other than the issuer's certificate.
CRLs fetched from distribution points go through the same processing as those handed in."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from core.helpers import NOW, SHORT, failed
from cryptography import x509
from pki import PKI, Issued, IssuedCRL, crl_distribution

from trustd.core import EvaluationRequest, MemorySnapshot, Verdict, evaluate

DP = "http://crl.example/ica.crl"


def _run(
    leaf: Issued,
    chain: Sequence[Issued],
    root: Issued,
    crls: Sequence[IssuedCRL] = (),
    fetched: Sequence[IssuedCRL] = (),
) -> Verdict:
    request = EvaluationRequest(
        certificates=(leaf.der, *(c.der for c in chain)),
        anchors=(root.der,),
        anchors_only=True,
        crls=tuple(c.der for c in crls),
        fetched_crls=tuple(c.der for c in fetched),
        require_revocation=True,
        verify_date=NOW,
    )
    return evaluate(request, MemorySnapshot(), NOW)


def _scope(
    uri: str | None = DP, reasons: frozenset[x509.ReasonFlags] | None = None
) -> tuple[x509.IssuingDistributionPoint, bool]:
    return x509.IssuingDistributionPoint(
        full_name=None if uri is None else [x509.UniformResourceIdentifier(uri)],
        relative_name=None,
        only_contains_user_certs=False,
        only_contains_ca_certs=False,
        only_some_reasons=reasons,
        indirect_crl=False,
        only_contains_attribute_certs=False,
    ), True


def _pki(pki: PKI) -> tuple[Issued, Issued, Issued]:
    root = pki.root()
    ica = pki.intermediate(root)
    leaf = pki.leaf(ica, dns=["example.com"], extra_extensions=[crl_distribution(DP)], **SHORT)
    return root, ica, leaf


def test_a_fetched_crl_is_used_only_for_its_own_distribution_point(pki: PKI) -> None:
    root, ica, leaf = _pki(pki)
    root_crl = pki.crl(root)
    mine = pki.crl(ica, extra_extensions=[_scope()])
    other = pki.crl(ica, extra_extensions=[_scope("http://crl.example/other.crl")])
    assert failed(_run(leaf, [ica], root, [root_crl], fetched=[mine])) == set()
    assert failed(_run(leaf, [ica], root, [root_crl], fetched=[other])) == {
        (0, "RevocationResponseRequired")
    }
    # Handed in, the wrong scope is no evidence either, and the leaf's listing on it not read.
    listed = pki.crl(ica, [leaf], extra_extensions=[_scope("http://crl.example/other.crl")])
    assert failed(_run(leaf, [ica], root, [root_crl, listed])) == {
        (0, "RevocationResponseRequired")
    }


def test_reason_partitions_must_cover_every_reason(pki: PKI) -> None:
    root, ica, leaf = _pki(pki)
    root_crl = pki.crl(root)
    compromise = frozenset({x509.ReasonFlags.key_compromise, x509.ReasonFlags.ca_compromise})
    others = frozenset(
        {
            x509.ReasonFlags.affiliation_changed,
            x509.ReasonFlags.superseded,
            x509.ReasonFlags.cessation_of_operation,
            x509.ReasonFlags.certificate_hold,
            x509.ReasonFlags.privilege_withdrawn,
            x509.ReasonFlags.aa_compromise,
        }
    )
    first = pki.crl(ica, extra_extensions=[_scope(reasons=compromise)])
    second = pki.crl(ica, crl_number=2, extra_extensions=[_scope(reasons=others)])
    assert failed(_run(leaf, [ica], root, [root_crl, first])) == {(0, "RevocationResponseRequired")}
    assert failed(_run(leaf, [ica], root, [root_crl, first, second])) == set()
    revoked = pki.crl(
        ica, [(leaf, NOW, "superseded")], crl_number=3, extra_extensions=[_scope(reasons=others)]
    )
    verdict = _run(leaf, [ica], root, [root_crl, first, revoked])
    assert failed(verdict) == {(0, "Revocation")}
    assert verdict.counted[0].value == 4  # superseded


def test_a_delta_crl_revokes_and_releases(pki: PKI) -> None:
    root, ica, leaf = _pki(pki)
    root_crl = pki.crl(root)
    held = pki.crl(ica, [(leaf, NOW, "certificateHold")], crl_number=10)
    assert failed(_run(leaf, [ica], root, [root_crl, held])) == {(0, "Revocation")}
    released = pki.crl(
        ica,
        [(leaf, NOW, "removeFromCRL")],
        crl_number=11,
        extra_extensions=[(x509.DeltaCRLIndicator(10), True)],
    )
    assert failed(_run(leaf, [ica], root, [root_crl, held, released])) == set()
    complete = pki.crl(ica, crl_number=10)
    revoking = pki.crl(
        ica,
        [(leaf, NOW, "keyCompromise")],
        crl_number=11,
        extra_extensions=[(x509.DeltaCRLIndicator(10), True)],
    )
    assert failed(_run(leaf, [ica], root, [root_crl, complete, revoking])) == {(0, "Revocation")}
    # A delta CRL alone is no complete CRL.
    assert failed(_run(leaf, [ica], root, [root_crl, revoking])) == {
        (0, "RevocationResponseRequired")
    }


def test_a_separate_crl_key_must_chain_to_the_same_anchor(pki: PKI) -> None:
    root, ica, leaf = _pki(pki)
    root_crl = pki.crl(root)
    crl_signer = pki.intermediate(
        root, "Intermediate CA", key_usage=["cRLSign"], basic_constraints=(False, None, True)
    )
    crl = pki.crl(crl_signer)
    assert crl_signer.cert.subject == ica.cert.subject and crl_signer.key is not ica.key
    separate = _run(leaf, [ica, crl_signer], root, [root_crl, crl])
    assert failed(separate) == set()
    # The signer's own path is validated within the evaluation's budget.
    direct = _run(leaf, [ica], root, [root_crl, pki.crl(ica)])
    assert separate.budget.signatures > direct.budget.signatures
    # Without the signer's certificate there is nobody to vouch for the CRL.
    assert failed(_run(leaf, [ica], root, [root_crl, crl])) == {(0, "RevocationResponseRequired")}
    # A signer of the same name under another root does not count.
    other_root = pki.root("Other Root")
    stranger = pki.intermediate(other_root, "Intermediate CA", key_usage=["cRLSign"])
    assert failed(_run(leaf, [ica, stranger], root, [root_crl, pki.crl(stranger)])) == {
        (0, "RevocationResponseRequired")
    }


def test_the_newest_crl_speaks_first(pki: PKI) -> None:
    """An older CRL that is still current must not hide a revocation a newer one lists."""
    root, ica, leaf = _pki(pki)
    root_crl = pki.crl(root)
    old = pki.crl(ica, this_update=datetime(2029, 1, 1, tzinfo=UTC), crl_number=1)
    new = pki.crl(ica, [leaf], this_update=datetime(2030, 1, 1, tzinfo=UTC), crl_number=2)
    for order in ([old, new], [new, old]):
        assert failed(_run(leaf, [ica], root, [root_crl, *order])) == {(0, "Revocation")}
