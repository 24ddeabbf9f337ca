"""The projected set: per certificate and purpose, the decision evaluation makes."""

from __future__ import annotations

from datetime import UTC, datetime

from pki import PKI, Issued

from trustd.core.certificates import Certificate, parse_certificate
from trustd.core.evaluate import Evaluator
from trustd.core.policy import Policy, PolicyKind
from trustd.core.trust_settings import SettingsResult, TrustSettingsEntry, UsageConstraint
from trustd.projection.model import Projection, Purpose, project

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def constraint(
    kind: PolicyKind | None = None,
    result: SettingsResult | None = None,
    host: str | None = None,
    *,
    client: bool = False,
) -> UsageConstraint:
    policy = None if kind is None else Policy(kind, client=client)
    return UsageConstraint(
        policy_oid=None if policy is None else policy.oid,
        policy_name=None if policy is None else policy.apple_name,
        policy_string=host,
        result=result,
    )


def entry(cert: Certificate, *constraints: UsageConstraint) -> TrustSettingsEntry:
    return TrustSettingsEntry(
        cert.sha1.hex().upper(), cert.issuer_der, cert.parts.serial, NOW, tuple(constraints)
    )


def run(*pairs: tuple[Issued, tuple[UsageConstraint, ...]]) -> Projection:
    evaluator = Evaluator()
    items = []
    for issued, constraints in pairs:
        cert = parse_certificate(issued.der)
        items.append((entry(cert, *constraints), cert))
    return project(items, evaluator.is_self_signed)


def purposes(projection: Projection, issued: Issued) -> tuple[set[str], set[str]]:
    for p in projection.certificates:
        if p.certificate is not None and p.certificate.der == issued.der:
            return set(p.trusted), set(p.rejected)
    return set(), set()


def test_unconstrained_root_is_trusted_for_every_purpose(pki: PKI) -> None:
    root = pki.root()
    projection = run((root, ()))
    assert purposes(projection, root) == (set(Purpose), set())
    assert [p.certificate.der for p in projection.anchors(Purpose.SERVER_AUTH)] == [root.der]  # type: ignore[union-attr]


def test_trust_for_one_policy_reaches_only_its_purposes(pki: PKI) -> None:
    ssl, smime = pki.root(cn="SSL"), pki.root(cn="SMIME")
    projection = run(
        (ssl, (constraint(PolicyKind.SSL),)),
        (smime, (constraint(PolicyKind.SMIME),)),
    )
    assert purposes(projection, ssl) == ({Purpose.SERVER_AUTH}, set())
    assert purposes(projection, smime) == ({Purpose.EMAIL_PROTECTION}, set())
    assert [p.label for p in projection.anchors(Purpose.SERVER_AUTH)] == ["SSL"]


def test_trust_or_deny_for_one_host_is_left_out(pki: PKI) -> None:
    trusted, denied = pki.root(cn="One host"), pki.root(cn="One host deny")
    projection = run(
        (trusted, (constraint(PolicyKind.SSL, host="only.example"),)),
        (denied, (constraint(PolicyKind.SSL, SettingsResult.DENY, host="only.example"),)),
    )
    assert projection.certificates == ()


def test_deny_and_first_match_order(pki: PKI) -> None:
    root = pki.root()
    # Deny for TLS servers first, then trust for everything: trusted for all but serverAuth.
    projection = run(
        (root, (constraint(PolicyKind.SSL, SettingsResult.DENY), constraint())),
    )
    trusted, rejected = purposes(projection, root)
    assert rejected == {Purpose.SERVER_AUTH}
    assert trusted == set(Purpose) - {Purpose.SERVER_AUTH}
    assert projection.denied(Purpose.SERVER_AUTH)[0].sha1 == parse_certificate(root.der).sha1


def test_trust_root_on_an_intermediate_decides_nothing(pki: PKI) -> None:
    root = pki.root()
    inter = pki.intermediate(root)
    as_root = pki.intermediate(root, cn="As root")
    projection = run(
        (inter, (constraint(result=SettingsResult.TRUST_ROOT),)),
        (as_root, (constraint(result=SettingsResult.TRUST_AS_ROOT),)),
    )
    assert purposes(projection, inter) == (set(), set())
    assert purposes(projection, as_root) == (set(Purpose), set())


def test_a_deny_known_by_digest_only_is_projected(pki: PKI) -> None:
    root = parse_certificate(pki.root().der)
    unknown = entry(root, constraint(result=SettingsResult.DENY))
    projection = project([(unknown, None)], Evaluator().is_self_signed)
    (only,) = projection.denied(Purpose.SERVER_AUTH)
    assert only.sha1 == root.sha1 and only.certificate is None
    assert projection.anchors(Purpose.SERVER_AUTH) == ()


def test_digest_follows_the_set_not_the_order(pki: PKI) -> None:
    a, b = pki.root(cn="A"), pki.root(cn="B")
    first = run((a, ()), (b, (constraint(PolicyKind.SSL),)))
    again = run((b, (constraint(PolicyKind.SSL),)), (a, ()))
    other = run((a, ()), (b, (constraint(PolicyKind.SMIME),)))
    assert first.digest == again.digest != other.digest
