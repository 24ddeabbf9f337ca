"""RFC 5280 6.1 policy processing: explicit policy, mappings, anyPolicy inhibition."""

from __future__ import annotations

from collections.abc import Sequence

from core.helpers import NOW, failed, run
from cryptography import x509
from cryptography.x509.oid import ObjectIdentifier
from pki import PKI, Issued

from trustd.core import EvaluationRequest, MemorySnapshot, Policy, PolicyKind, evaluate
from trustd.core.der import encode_oid

ANY = "2.5.29.32.0"
P1 = "1.3.6.1.4.1.99999.1"
P2 = "1.3.6.1.4.1.99999.2"
BASIC = Policy()


def policies(*oids: str) -> tuple[x509.CertificatePolicies, bool]:
    return (
        x509.CertificatePolicies([x509.PolicyInformation(ObjectIdentifier(o), None) for o in oids]),
        False,
    )


def require_explicit(skip: int) -> tuple[x509.PolicyConstraints, bool]:
    return x509.PolicyConstraints(require_explicit_policy=skip, inhibit_policy_mapping=None), True


def constraints(require: int, inhibit: int) -> tuple[x509.PolicyConstraints, bool]:
    return x509.PolicyConstraints(
        require_explicit_policy=require, inhibit_policy_mapping=inhibit
    ), True


def mappings(*pairs: tuple[str, str]) -> tuple[x509.UnrecognizedExtension, bool]:
    def oid(dotted: str) -> bytes:
        content = encode_oid(dotted)
        return bytes([0x06, len(content)]) + content

    body = b"".join(bytes([0x30, len(oid(a) + oid(b))]) + oid(a) + oid(b) for a, b in pairs)
    value = bytes([0x30, len(body)]) + body
    return x509.UnrecognizedExtension(ObjectIdentifier("2.5.29.33"), value), False


def chain(
    pki: PKI,
    root_ext: Sequence[tuple[x509.ExtensionType, bool]] = (),
    ica_ext: Sequence[tuple[x509.ExtensionType, bool]] = (),
    leaf_ext: Sequence[tuple[x509.ExtensionType, bool]] = (),
) -> tuple[Issued, Issued, Issued]:
    root = pki.root(extra_extensions=list(root_ext))
    ica = pki.intermediate(root, extra_extensions=list(ica_ext))
    leaf = pki.leaf(ica, dns=["example.com"], extra_extensions=list(leaf_ext))
    return root, ica, leaf


def verdict_for(root: Issued, ica: Issued, leaf: Issued) -> set[tuple[int, str]]:
    return failed(run([leaf, ica], anchors=[root], anchors_only=True))


def test_no_policies_and_no_requirement_is_fine(pki: PKI) -> None:
    assert verdict_for(*chain(pki)) == set()


def test_required_explicit_policy_without_policies_fails(pki: PKI) -> None:
    root, ica, leaf = chain(pki, ica_ext=[policies(P1), require_explicit(0)])
    assert (0, "PolicyConstraints") in verdict_for(root, ica, leaf)


def test_required_explicit_policy_satisfied(pki: PKI) -> None:
    root, ica, leaf = chain(
        pki, ica_ext=[policies(P1), require_explicit(0)], leaf_ext=[policies(P1)]
    )
    assert verdict_for(root, ica, leaf) == set()


def test_required_explicit_policy_with_a_different_leaf_policy_fails(pki: PKI) -> None:
    root, ica, leaf = chain(
        pki, ica_ext=[policies(P1), require_explicit(0)], leaf_ext=[policies(P2)]
    )
    assert (0, "PolicyConstraints") in verdict_for(root, ica, leaf)


def test_any_policy_in_the_intermediate_passes_the_leaf_policy(pki: PKI) -> None:
    root, ica, leaf = chain(
        pki, ica_ext=[policies(ANY), require_explicit(0)], leaf_ext=[policies(P2)]
    )
    assert verdict_for(root, ica, leaf) == set()


def test_policy_mapping(pki: PKI) -> None:
    root, ica, leaf = chain(
        pki,
        ica_ext=[policies(P1), mappings((P1, P2)), require_explicit(0)],
        leaf_ext=[policies(P2)],
    )
    assert verdict_for(root, ica, leaf) == set()


def test_inhibited_policy_mapping_deletes_the_mapped_policy(pki: PKI) -> None:
    """inhibitPolicyMapping acts on the certificates below the one carrying it (6.1.4 (i))."""
    root = pki.root()
    upper = pki.intermediate(
        root, "Upper CA", extra_extensions=[policies(P1), constraints(require=0, inhibit=0)]
    )
    lower = pki.intermediate(upper, "Lower CA", extra_extensions=[policies(P1), mappings((P1, P2))])
    leaf = pki.leaf(lower, dns=["example.com"], extra_extensions=[policies(P2)])
    assert (0, "PolicyConstraints") in failed(
        run([leaf, lower, upper], anchors=[root], anchors_only=True)
    )
    allowed = pki.intermediate(
        root, "Upper CA", key=upper.key, extra_extensions=[policies(P1), require_explicit(0)]
    )
    assert failed(run([leaf, lower, allowed], anchors=[root], anchors_only=True)) == set()


def test_mapping_to_any_policy_is_refused(pki: PKI) -> None:
    root, ica, leaf = chain(
        pki, ica_ext=[policies(P1), mappings((P1, ANY))], leaf_ext=[policies(P1)]
    )
    assert (1, "PolicyConstraints") in verdict_for(root, ica, leaf)


def test_inhibit_any_policy(pki: PKI) -> None:
    root, ica, leaf = chain(
        pki,
        ica_ext=[policies(ANY), require_explicit(0), (x509.InhibitAnyPolicy(0), True)],
        leaf_ext=[policies(ANY)],
    )
    assert (0, "PolicyConstraints") in verdict_for(root, ica, leaf)


def _evaluate(
    root: Issued, chain_: Sequence[Issued], policy: Policy = BASIC, **inputs: object
) -> set[tuple[int, str]]:
    request = EvaluationRequest(
        certificates=tuple(c.der for c in chain_),
        policies=(policy,),
        anchors=(root.der,),
        anchors_only=True,
        verify_date=NOW,
        **inputs,  # type: ignore[arg-type]
    )
    return failed(evaluate(request, MemorySnapshot(), NOW))


def test_user_initial_policy_set(pki: PKI) -> None:
    """RFC 5280 6.1.5 (g): the tree is cut down to the policies the caller accepts."""
    root, ica, leaf = chain(pki, ica_ext=[policies(P1, P2)], leaf_ext=[policies(P1)])
    assert _evaluate(root, [leaf, ica], initial_policy_set=frozenset({P1})) == set()
    # Without an explicit policy requirement an empty intersection is not a failure ...
    assert _evaluate(root, [leaf, ica], initial_policy_set=frozenset({P2})) == set()
    # ... with one it is.
    assert _evaluate(
        root, [leaf, ica], initial_policy_set=frozenset({P2}), initial_explicit_policy=True
    ) == {(0, "PolicyConstraints")}
    assert (
        _evaluate(
            root, [leaf, ica], initial_policy_set=frozenset({P1, P2}), initial_explicit_policy=True
        )
        == set()
    )


def test_initial_explicit_policy_needs_policies(pki: PKI) -> None:
    root, ica, leaf = chain(pki)
    assert _evaluate(root, [leaf, ica]) == set()
    assert _evaluate(root, [leaf, ica], initial_explicit_policy=True) == {(1, "PolicyConstraints")}


def test_initial_policy_mapping_inhibit(pki: PKI) -> None:
    root, ica, leaf = chain(
        pki,
        ica_ext=[policies(P1), mappings((P1, P2)), require_explicit(0)],
        leaf_ext=[policies(P2)],
    )
    assert _evaluate(root, [leaf, ica]) == set()
    assert _evaluate(root, [leaf, ica], initial_policy_mapping_inhibit=True) == {
        (0, "PolicyConstraints")
    }


def test_initial_any_policy_inhibit(pki: PKI) -> None:
    root, ica, leaf = chain(
        pki, ica_ext=[policies(ANY), require_explicit(0)], leaf_ext=[policies(P1)]
    )
    assert _evaluate(root, [leaf, ica]) == set()
    assert _evaluate(root, [leaf, ica], initial_any_policy_inhibit=True) == {
        (0, "PolicyConstraints")
    }


def test_mapping_from_a_policy_the_issuer_has_only_through_any_policy(pki: PKI) -> None:
    """6.1.4 (b)(1): a mapped issuer policy that only anyPolicy covers gets its own node."""
    root, ica, leaf = chain(
        pki,
        ica_ext=[policies(ANY), mappings((P1, P2)), require_explicit(0)],
        leaf_ext=[policies(P2)],
    )
    assert _evaluate(root, [leaf, ica]) == set()
    # The leaf's P2 now stands for the issuer's P1: asking for P1 finds it, P2 does not.
    assert _evaluate(root, [leaf, ica], initial_policy_set=frozenset({P1})) == set()
    assert _evaluate(root, [leaf, ica], initial_policy_set=frozenset({P2})) == {
        (0, "PolicyConstraints")
    }


def test_non_critical_constraints_are_a_tls_server_profile_rule(pki: PKI) -> None:
    """Non-critical policy or basic constraints in an intermediate: accepted as Apple does,
    except under the TLS server policy (CA profile, RFC 5280 4.2.1.9 and 4.2.1.11)."""
    server = Policy(PolicyKind.SSL, name="example.com")
    noncritical = x509.PolicyConstraints(require_explicit_policy=0, inhibit_policy_mapping=None)
    root, ica, leaf = chain(
        pki, ica_ext=[policies(P1), (noncritical, False)], leaf_ext=[policies(P1)]
    )
    assert _evaluate(root, [leaf, ica]) == set()
    assert (1, "PolicyConstraints") in _evaluate(root, [leaf, ica], server)
    root = pki.root("BC Root")
    ica = pki.intermediate(root, "BC CA", basic_constraints=(True, None, False))
    leaf = pki.leaf(ica, dns=["example.com"])
    assert _evaluate(root, [leaf, ica]) == set()
    assert (1, "BasicConstraints") in _evaluate(root, [leaf, ica], server)
