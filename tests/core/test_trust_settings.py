"""Trust settings act as reference section 3.2 describes, including Apple's own test cases."""

from __future__ import annotations

from core.helpers import BASIC_OID, SHORT, SSL_OID, cert, failed, run, settings, ssl
from pki import PKI

from trustd.core import (
    Domain,
    MemorySnapshot,
    Origin,
    Policy,
    SettingsResult,
    TrustResult,
    UsageConstraint,
)
from trustd.core.results import CSSMERR_APPLETP_HOSTNAME_MISMATCH, CSSMERR_TP_CERT_EXPIRED

ROOT = SettingsResult.TRUST_ROOT
UNSPEC = SettingsResult.UNSPECIFIED
DENY = SettingsResult.DENY


def test_empty_array_trusts_a_self_signed_root_and_gives_proceed(pki: PKI) -> None:
    root = pki.root()
    leaf = pki.leaf(root, dns=["example.com"], **SHORT)
    snapshot = MemorySnapshot(admin=[(cert(root), settings(Domain.ADMIN))])
    verdict = run([leaf], policies=[ssl()], snapshot=snapshot)
    assert verdict.result is TrustResult.PROCEED
    assert verdict.anchor_origin is Origin.ADMIN
    assert [s.effect for s in verdict.trust_settings] == ["anchor"]


def test_unknown_root_is_recoverable_anchor_failure(pki: PKI) -> None:
    root = pki.root()
    leaf = pki.leaf(root, dns=["example.com"], **SHORT)
    verdict = run([leaf, root], policies=[ssl()])
    assert verdict.result is TrustResult.RECOVERABLE_TRUST_FAILURE
    assert failed(verdict) == {(1, "AnchorTrusted")}
    assert verdict.message == "“Root CA” certificate is not trusted"


def test_missing_intermediate_is_reported_on_the_last_certificate(pki: PKI) -> None:
    root = pki.root()
    ica = pki.intermediate(root)
    leaf = pki.leaf(ica, dns=["example.com"], **SHORT)
    verdict = run([leaf], policies=[ssl()], anchors=[root])
    assert failed(verdict) == {(0, "MissingIntermediate")}


def test_system_anchor_gives_unspecified(pki: PKI) -> None:
    root = pki.root()
    leaf = pki.leaf(root, dns=["example.com"], **SHORT)
    verdict = run([leaf], policies=[ssl()], snapshot=MemorySnapshot(system_anchors=[cert(root)]))
    assert verdict.result is TrustResult.UNSPECIFIED
    assert verdict.anchor_origin is Origin.SYSTEM


def test_apple_multiple_constraints_unspecified_then_trust_root(pki: PKI) -> None:
    """TrustSettingsTests.m test_multiple_constraints, first half."""
    root = pki.root()
    leaf = pki.leaf(root, dns=["example.com"], **SHORT)
    record = settings(
        Domain.USER,
        UsageConstraint(policy_oid=SSL_OID, policy_name="sslServer", result=UNSPEC),
        UsageConstraint(result=ROOT),
    )
    snapshot = MemorySnapshot(user=[(cert(root), record)])
    assert run([leaf], policies=[Policy()], snapshot=snapshot).result is TrustResult.PROCEED
    ssl_verdict = run([leaf], policies=[ssl()], snapshot=snapshot)
    assert ssl_verdict.result is TrustResult.RECOVERABLE_TRUST_FAILURE
    assert (1, "AnchorTrusted") in failed(ssl_verdict)


def test_apple_multiple_constraints_trust_root_then_deny(pki: PKI) -> None:
    """TrustSettingsTests.m test_multiple_constraints, second half."""
    root = pki.root()
    leaf = pki.leaf(root, dns=["example.com"], **SHORT)
    record = settings(
        Domain.USER,
        UsageConstraint(policy_oid=SSL_OID, policy_name="sslServer", result=ROOT),
        UsageConstraint(result=DENY),
    )
    snapshot = MemorySnapshot(user=[(cert(root), record)])
    assert run([leaf], policies=[ssl()], snapshot=snapshot).result is TrustResult.PROCEED
    basic = run([leaf], policies=[Policy()], snapshot=snapshot)
    assert basic.result is TrustResult.DENY
    assert failed(basic) == {(1, "UsageConstraints")}


def test_apple_allowed_errors_hostname_on_the_leaf(pki: PKI) -> None:
    """test_allowed_errors: {AllowedError: hostname mismatch, Result: Unspecified} on the leaf."""
    root = pki.root()
    leaf = pki.leaf(root, dns=["real.example.com"], **SHORT)
    base = MemorySnapshot(system_anchors=[cert(root)])
    refused = run([leaf], policies=[ssl("other.example.com")], snapshot=base)
    assert failed(refused) == {(0, "SSLHostname")}
    allow = settings(
        Domain.USER,
        UsageConstraint(
            policy_oid=SSL_OID,
            policy_string="other.example.com",
            allowed_error=CSSMERR_APPLETP_HOSTNAME_MISMATCH,
            result=UNSPEC,
        ),
    )
    snapshot = MemorySnapshot(system_anchors=[cert(root)], user=[(cert(leaf), allow)])
    verdict = run([leaf], policies=[ssl("other.example.com")], snapshot=snapshot)
    assert verdict.result is TrustResult.PROCEED
    assert [f.rescued_by for f in verdict.failures] == ["allowedError"]
    # The policy string binds the allowance to that host name only.
    elsewhere = run([leaf], policies=[ssl("third.example.com")], snapshot=snapshot)
    assert elsewhere.result is TrustResult.RECOVERABLE_TRUST_FAILURE


def test_allowed_errors_that_are_not_one_of_the_three_are_inert(pki: PKI) -> None:
    root = pki.root()
    leaf = pki.leaf(root, dns=["example.com"], **SHORT)
    not_trusted = -2147409622  # CSSMERR_TP_NOT_TRUSTED
    allow = settings(Domain.USER, UsageConstraint(allowed_error=not_trusted, result=UNSPEC))
    snapshot = MemorySnapshot(user=[(cert(root), allow)])
    verdict = run([leaf, root], policies=[ssl()], snapshot=snapshot)
    assert verdict.result is TrustResult.RECOVERABLE_TRUST_FAILURE


def test_expired_allowed_error_on_the_expired_certificate(pki: PKI) -> None:
    import datetime as dt

    root = pki.root()
    leaf = pki.leaf(
        root,
        dns=["example.com"],
        not_before=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
        not_after=dt.datetime(2021, 1, 1, tzinfo=dt.UTC),
    )
    allow = settings(
        Domain.ADMIN, UsageConstraint(allowed_error=CSSMERR_TP_CERT_EXPIRED, result=UNSPEC)
    )
    snapshot = MemorySnapshot(system_anchors=[cert(root)], admin=[(cert(leaf), allow)])
    assert run([leaf], policies=[ssl()], snapshot=snapshot).result is TrustResult.PROCEED


def test_apple_fatal_results_are_not_overridden(pki: PKI) -> None:
    """testFatalResultsNonOverride: a revoked leaf under a trusted root stays fatal."""
    root = pki.root()
    leaf = pki.leaf(root, dns=["example.com"], **SHORT)
    crl = pki.crl(root, revoked=[leaf])
    snapshot = MemorySnapshot(
        admin=[
            (cert(root), settings(Domain.ADMIN)),
            (cert(leaf), settings(Domain.ADMIN, UsageConstraint(result=UNSPEC))),
        ]
    )
    verdict = run([leaf], policies=[ssl()], snapshot=snapshot, crls=[crl.der])
    assert verdict.result is TrustResult.FATAL_TRUST_FAILURE
    assert (0, "Revocation") in failed(verdict)


def test_apple_distrust_system_root(pki: PKI) -> None:
    """testDistrustSystemRoot: admin Deny on a system anchor gives Deny."""
    root = pki.root()
    leaf = pki.leaf(root, dns=["example.com"], **SHORT)
    snapshot = MemorySnapshot(
        system_anchors=[cert(root)],
        admin=[(cert(root), settings(Domain.ADMIN, UsageConstraint(result=DENY)))],
    )
    verdict = run([leaf], policies=[ssl()], snapshot=snapshot)
    assert verdict.result is TrustResult.DENY
    assert verdict.message == "User or administrator set “Root CA” certificate as distrusted"


def test_admin_settings_overrule_user_settings(pki: PKI) -> None:
    root = pki.root()
    leaf = pki.leaf(root, dns=["example.com"], **SHORT)
    snapshot = MemorySnapshot(
        admin=[(cert(root), settings(Domain.ADMIN, UsageConstraint(result=DENY)))],
        user=[(cert(root), settings(Domain.USER))],
    )
    assert run([leaf], policies=[ssl()], snapshot=snapshot).result is TrustResult.DENY


def test_trust_as_root_ends_the_path_at_an_intermediate(pki: PKI) -> None:
    root = pki.root()
    ica = pki.intermediate(root)
    leaf = pki.leaf(ica, dns=["example.com"], **SHORT)
    as_root = settings(Domain.ADMIN, UsageConstraint(result=SettingsResult.TRUST_AS_ROOT))
    verdict = run(
        [leaf, ica], policies=[ssl()], snapshot=MemorySnapshot(admin=[(cert(ica), as_root)])
    )
    assert verdict.result is TrustResult.PROCEED
    assert [c.subject_summary for c in verdict.chain] == ["example.com", "Intermediate CA"]


def test_trust_root_on_a_certificate_that_is_not_self_signed_is_ignored(pki: PKI) -> None:
    root = pki.root()
    ica = pki.intermediate(root)
    leaf = pki.leaf(ica, dns=["example.com"], **SHORT)
    wrong = settings(Domain.ADMIN, UsageConstraint(result=ROOT))
    verdict = run(
        [leaf, ica], policies=[ssl()], snapshot=MemorySnapshot(admin=[(cert(ica), wrong)])
    )
    assert verdict.result is TrustResult.RECOVERABLE_TRUST_FAILURE
    assert (1, "MissingIntermediate") in failed(verdict)


def test_denied_intermediate_is_avoided_through_a_cross_signed_alternative(pki: PKI) -> None:
    """Design: a Deny vetoes that path and the search goes on (TN2232 scenario 9)."""
    old_root = pki.root("Old Root")
    new_root = pki.root("New Root")
    ica = pki.intermediate(old_root, "Issuing CA")
    ica_cross = pki.cross_sign(ica, new_root)
    leaf = pki.leaf(ica, dns=["example.com"], **SHORT)
    snapshot = MemorySnapshot(
        system_anchors=[cert(old_root), cert(new_root)],
        admin=[(cert(ica), settings(Domain.ADMIN, UsageConstraint(result=DENY)))],
    )
    denied = run([leaf, ica], policies=[ssl()], snapshot=snapshot)
    assert denied.result is TrustResult.DENY
    assert failed(denied) == {(1, "UsageConstraints")}
    verdict = run([leaf, ica, ica_cross], policies=[ssl()], snapshot=snapshot)
    assert verdict.result is TrustResult.UNSPECIFIED
    assert verdict.chain[1].der == ica_cross.der
    assert verdict.chain[2].subject_summary == "New Root"


def test_policy_name_distinguishes_ssl_client_from_server(pki: PKI) -> None:
    root = pki.root()
    leaf = pki.leaf(root, dns=["example.com"], **SHORT, eku=["serverAuth", "clientAuth"])
    client_only = settings(
        Domain.USER, UsageConstraint(policy_oid=SSL_OID, policy_name="sslClient", result=ROOT)
    )
    snapshot = MemorySnapshot(user=[(cert(root), client_only)])
    assert run([leaf], policies=[ssl()], snapshot=snapshot).result is (
        TrustResult.RECOVERABLE_TRUST_FAILURE
    )
    client = Policy(ssl().kind, client=True)
    assert run([leaf], policies=[client], snapshot=snapshot).result is TrustResult.PROCEED


def test_basic_policy_oid_constraint(pki: PKI) -> None:
    root = pki.root()
    leaf = pki.leaf(root, dns=["example.com"], **SHORT)
    basic_only = settings(Domain.USER, UsageConstraint(policy_oid=BASIC_OID, result=ROOT))
    snapshot = MemorySnapshot(user=[(cert(root), basic_only)])
    assert run([leaf], snapshot=snapshot).result is TrustResult.PROCEED
    assert run([leaf], policies=[ssl()], snapshot=snapshot).result is (
        TrustResult.RECOVERABLE_TRUST_FAILURE
    )


def test_user_settings_can_be_disabled(pki: PKI) -> None:
    root = pki.root()
    leaf = pki.leaf(root, dns=["example.com"], **SHORT)
    snapshot = MemorySnapshot(
        user=[(cert(root), settings(Domain.USER))], user_settings_enabled=False
    )
    assert run([leaf], snapshot=snapshot).result is TrustResult.RECOVERABLE_TRUST_FAILURE
