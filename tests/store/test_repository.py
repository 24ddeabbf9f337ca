"""The repository against a real SQLite file: every operation, in core values."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from pki import PKI
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from store.conftest import ALICE, NOW, ROOT_ACTOR, SHORT, USER

from trustd.core import (
    Domain,
    EvaluationRequest,
    Origin,
    Policy,
    PolicyKind,
    SettingsResult,
    TrustResult,
    UsageConstraint,
    evaluate,
    parse_certificate,
)
from trustd.core.exceptions import CertificateExceptions, ExceptionList
from trustd.core.trust_settings import DEFAULT_ROOT_KEY, TrustSettingsEntry
from trustd.store.models import AuditRow, TrustSettingsRow
from trustd.store.repository import (
    Actor,
    NotFound,
    NoTrustSettings,
    QuotaExceeded,
    TrustStore,
)
from trustd.store.system_anchors import SystemAnchors


def test_certificates_add_find_delete(store: TrustStore, pki: PKI) -> None:
    root = parse_certificate(pki.root("Example Root").der)
    mail = parse_certificate(
        pki.leaf(pki.root(), emails=["Alice@Example.com"], eku=["emailProtection"]).der
    )
    assert store.add_certificates([root, mail], source="test", actor=ROOT_ACTOR) == [
        (root, True),
        (mail, True),
    ]
    assert store.add_certificate(root, source="test", actor=ROOT_ACTOR) is False
    assert store.count_certificates() == 2
    assert [s.certificate for s in store.find_certificates(sha1=root.sha1)] == [root]
    assert [s.certificate for s in store.find_certificates(sha256=root.sha256)] == [root]
    assert [s.certificate for s in store.find_certificates(subject="example ROOT")] == [root]
    assert [s.certificate for s in store.find_certificates(subject="100%_")] == []
    assert [s.certificate for s in store.find_certificates(email="alice@example.COM")] == [mail]
    store.delete_certificate(root.sha1, actor=ROOT_ACTOR)
    assert store.find_certificates(sha1=root.sha1) == []
    with pytest.raises(NotFound):
        store.delete_certificate(root.sha1, actor=ROOT_ACTOR)


def test_a_certificate_twice_in_one_call_is_added_once_with_one_audit_row(
    store: TrustStore, engine: Engine, pki: PKI
) -> None:
    root = parse_certificate(pki.root("Twice Root").der)
    other = parse_certificate(pki.root("Other Root").der)
    added = store.add_certificates([root, other, root], source="test", actor=ROOT_ACTOR)
    assert added == [(root, True), (other, True), (root, False)]
    assert store.count_certificates() == 2
    with engine.connect() as connection:
        audited = connection.scalars(
            select(AuditRow.object).where(AuditRow.operation == "add-certificate")
        ).all()
    assert sorted(audited) == sorted([root.sha1.hex().upper(), other.sha1.hex().upper()])


def test_set_trust_settings_replaces_the_whole_array(store: TrustStore, pki: PKI) -> None:
    root = parse_certificate(pki.root().der)
    first = [
        UsageConstraint(policy_oid="1.2.840.113635.100.1.3", policy_name="sslServer"),
        UsageConstraint(policy_oid="1.2.840.113635.100.1.2", policy_name="basicX509"),
    ]
    store.set_trust_settings(Domain.ADMIN, 0, root, first, actor=ROOT_ACTOR)
    [(entry, cert)] = store.trust_settings(Domain.ADMIN, 0)
    assert entry.constraints == tuple(first)
    assert cert is None  # the certificate itself is not in the store
    assert entry.key == root.sha1.hex().upper()
    assert entry.issuer_name == root.issuer_der
    second = [
        UsageConstraint(
            result=SettingsResult.DENY, extra={"kSecTrustSettingsPolicyOptions": {"x": 1}}
        )
    ]
    store.set_trust_settings(Domain.ADMIN, 0, root, second, actor=ROOT_ACTOR)
    [(entry, _)] = store.trust_settings(Domain.ADMIN, 0)
    assert entry.constraints == tuple(second)


def test_domains_are_separate_and_admin_overrules_user(store: TrustStore, pki: PKI) -> None:
    root = parse_certificate(pki.root().der)
    store.set_trust_settings(Domain.USER, USER, root, [], actor=ALICE)
    assert store.trust_settings(Domain.USER, 1001) == []
    assert store.settings_for(root.sha1, USER).domain is Domain.USER
    assert store.settings_for(root.sha1, 1001) is None
    store.set_trust_settings(
        Domain.ADMIN, 0, root, [UsageConstraint(result=SettingsResult.DENY)], actor=ROOT_ACTOR
    )
    settings = store.settings_for(root.sha1, USER)
    assert settings is not None and settings.domain is Domain.ADMIN


def test_remove_trust_settings_errors_like_apple(store: TrustStore, pki: PKI) -> None:
    root = parse_certificate(pki.root().der)
    with pytest.raises(NoTrustSettings):
        store.remove_trust_settings(Domain.USER, USER, root.sha1, actor=ALICE)
    store.set_trust_settings(Domain.USER, USER, root, [], actor=ALICE)
    store.remove_trust_settings(Domain.USER, USER, root.sha1, actor=ALICE)
    with pytest.raises(NotFound):
        store.remove_trust_settings(Domain.USER, USER, root.sha1, actor=ALICE)
    assert store.export_domain(Domain.USER, USER) == []  # an empty record remains
    with pytest.raises(NoTrustSettings):
        store.export_domain(Domain.ADMIN, 0)


def test_import_replaces_the_domain_and_keeps_odd_entries(store: TrustStore, pki: PKI) -> None:
    keep = parse_certificate(pki.root("Old").der)
    store.set_trust_settings(Domain.ADMIN, 0, keep, [], actor=ROOT_ACTOR)
    moment = dt.datetime(2021, 8, 20, 14, 15, 32, tzinfo=dt.UTC)
    entries = [
        TrustSettingsEntry(
            "08E4987249BC450748A4A78133CBF041A3510033",
            b"",
            b"",
            moment,
            (UsageConstraint(result=SettingsResult.DENY),),
        ),
        TrustSettingsEntry(DEFAULT_ROOT_KEY, b"", b"", moment, (), {"unknownKey": "kept"}),
        TrustSettingsEntry(
            "0C08B84A1F26F50549DAAB363308D3565268F160",
            b"\x30\x00",
            b"\x00",
            moment,
            (UsageConstraint(result=SettingsResult.UNSPECIFIED, allowed_error=-2147409654),),
        ),
    ]
    store.import_domain(Domain.ADMIN, 0, entries, actor=ROOT_ACTOR)
    exported = store.export_domain(Domain.ADMIN, 0)
    assert sorted(exported, key=lambda e: e.key) == sorted(entries, key=lambda e: e.key)


def test_import_is_one_transaction(store: TrustStore, engine: Engine, pki: PKI) -> None:
    keep = parse_certificate(pki.root("Old").der)
    store.set_trust_settings(Domain.ADMIN, 0, keep, [], actor=ROOT_ACTOR)
    moment = dt.datetime(2021, 1, 1, tzinfo=dt.UTC)
    duplicate = TrustSettingsEntry("AA" * 20, b"", b"", moment, ())
    with pytest.raises(IntegrityError):  # the unique constraint refuses the second entry
        store.import_domain(Domain.ADMIN, 0, [duplicate, duplicate], actor=ROOT_ACTOR)
    [entry] = store.export_domain(Domain.ADMIN, 0)
    assert entry.key == keep.sha1.hex().upper()


def test_exceptions_and_epoch(store: TrustStore) -> None:
    exceptions = ExceptionList((CertificateExceptions(b"\x01" * 20, {"TemporalValidity": False}),))
    store.set_exceptions(USER, "Example.COM.", 443, exceptions, actor=ALICE)
    assert store.exceptions_for(USER, "example.com", 443) == exceptions
    assert store.exceptions_for(USER, "example.com", 8443) is None
    assert store.exceptions_for(1001, "example.com", 443) is None
    store.set_exceptions(USER, "any.example", 0, exceptions, actor=ALICE)
    assert store.exceptions_for(USER, "any.example", 8443) == exceptions
    assert [(e.host, e.port) for e in store.list_exceptions(USER)] == [
        ("any.example", 0),
        ("example.com", 443),
    ]
    store.remove_exceptions(USER, "example.com", 443, actor=ALICE)
    with pytest.raises(NotFound):
        store.remove_exceptions(USER, "example.com", 443, actor=ALICE)
    assert store.exceptions_epoch(USER) == 0
    assert store.reset_exceptions(USER, actor=ALICE) == 1
    assert store.reset_exceptions(USER, actor=ALICE) == 2
    assert store.exceptions_epoch(1001) == 0


def test_network_cache(store: TrustStore) -> None:
    expires = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    assert store.cache_get("aia", "http://x/ca.der") is None
    store.cache_put("aia", "http://x/ca.der", b"der", expires)
    assert store.cache_get("aia", "http://x/ca.der") == (b"der", expires)
    store.cache_put("aia", "http://x/ca.der", b"new", expires)
    assert store.cache_get("aia", "http://x/ca.der") == (b"new", expires)


def test_every_change_is_audited(store: TrustStore, engine: Engine, pki: PKI) -> None:
    root = parse_certificate(pki.root().der)
    store.add_certificate(root, source="test", actor=ALICE)
    store.set_trust_settings(Domain.USER, USER, root, [], actor=ALICE)
    store.reset_exceptions(USER, actor=Actor(uid=USER, pid=7, source="/etc/trustd/x.plist"))
    entries = store.audit_entries()
    assert [e.operation for e in entries] == [
        "reset-exceptions",
        "set-trust-settings",
        "add-certificate",
    ]
    assert entries[0].source == "/etc/trustd/x.plist"
    assert {(e.uid, e.pid) for e in entries[1:]} == {(USER, 4242)}
    assert [e.operation for e in store.audit_entries(domain=Domain.USER)] == ["set-trust-settings"]


def test_delete_by_source_removes_exactly_what_a_file_added(store: TrustStore, pki: PKI) -> None:
    a, b = parse_certificate(pki.root("A").der), parse_certificate(pki.root("B").der)
    store.add_certificate(a, source="/etc/trustd/anchors/a.pem", actor=ROOT_ACTOR)
    store.set_trust_settings(
        Domain.ADMIN, 0, a, [], actor=ROOT_ACTOR, source="/etc/trustd/anchors/a.pem"
    )
    store.add_certificate(b, source="api", actor=ROOT_ACTOR)
    store.set_trust_settings(Domain.ADMIN, 0, b, [], actor=ROOT_ACTOR)
    assert store.delete_by_source("/etc/trustd/anchors/a.pem", actor=ROOT_ACTOR) == 2
    assert [s.certificate for s in store.find_certificates()] == [b]
    assert [e.key for e, _ in store.trust_settings(Domain.ADMIN, 0)] == [b.sha1.hex().upper()]


def test_snapshot_serves_evaluation(store: TrustStore, pki: PKI, tmp_path: Path) -> None:
    system_root = pki.root("System Root")
    bundle = tmp_path / "system.pem"
    bundle.write_bytes(system_root.pem)
    with_system = TrustStore(store.engine, SystemAnchors(bundle))
    org_root = pki.root("Org Root")
    ica = pki.intermediate(org_root, "Org Issuing CA")
    leaf = pki.leaf(ica, dns=["intranet.example"], **SHORT)
    request = EvaluationRequest((leaf.der,), (Policy(PolicyKind.SSL, name="intranet.example"),))

    missing = evaluate(request, with_system.snapshot(USER), NOW)
    assert missing.result is TrustResult.RECOVERABLE_TRUST_FAILURE

    with_system.add_certificates(
        [parse_certificate(ica.der), parse_certificate(org_root.der)],
        source="api",
        actor=ROOT_ACTOR,
    )
    untrusted = evaluate(request, with_system.snapshot(USER), NOW)
    assert [f.check for f in untrusted.counted] == ["AnchorTrusted"]

    with_system.set_trust_settings(
        Domain.ADMIN, 0, parse_certificate(org_root.der), [], actor=ROOT_ACTOR
    )
    trusted = evaluate(request, with_system.snapshot(USER), NOW)
    assert trusted.result is TrustResult.PROCEED
    assert trusted.anchor_origin is Origin.ADMIN

    system_leaf = pki.leaf(system_root, dns=["www.example"], **SHORT)
    system = evaluate(
        EvaluationRequest((system_leaf.der,), (Policy(PolicyKind.SSL, name="www.example"),)),
        with_system.snapshot(USER),
        NOW,
    )
    assert system.result is TrustResult.UNSPECIFIED
    with_system.set_trust_settings(
        Domain.ADMIN,
        0,
        parse_certificate(system_root.der),
        [UsageConstraint(result=SettingsResult.DENY)],
        actor=ROOT_ACTOR,
    )
    denied = evaluate(
        EvaluationRequest((system_leaf.der,), (Policy(PolicyKind.SSL, name="www.example"),)),
        with_system.snapshot(USER),
        NOW,
    )
    assert denied.result is TrustResult.DENY


def test_settings_rows_keep_order_of_constraints(
    store: TrustStore, engine: Engine, pki: PKI
) -> None:
    root = parse_certificate(pki.root().der)
    constraints = [UsageConstraint(policy_string=f"host{i}.example") for i in range(12)]
    store.set_trust_settings(Domain.USER, USER, root, constraints, actor=ALICE)
    [(entry, _)] = store.trust_settings(Domain.USER, USER)
    assert [c.policy_string for c in entry.constraints] == [c.policy_string for c in constraints]
    from sqlalchemy.orm import Session

    with Session(engine) as session:
        assert session.scalar(select(TrustSettingsRow.uid)) == USER
        assert session.scalar(select(AuditRow.operation)) == "set-trust-settings"


def test_concurrent_writers_and_readers_do_not_collide(store: TrustStore, pki: PKI) -> None:
    """BEGIN IMMEDIATE plus the busy timeout: no 'database is locked' under contention."""
    from concurrent.futures import ThreadPoolExecutor

    certs = [parse_certificate(pki.root(f"Root {i}").der) for i in range(8)]

    def work(index: int) -> int:
        cert = certs[index % len(certs)]
        for round_ in range(15):
            store.set_trust_settings(
                Domain.USER,
                USER + index,
                cert,
                [UsageConstraint(policy_string=f"h{round_}.example")],
                actor=ALICE,
            )
            store.exceptions_epoch(USER + index)
            store.reset_exceptions(USER + index, actor=ALICE)
        return store.exceptions_epoch(USER + index)

    with ThreadPoolExecutor(max_workers=8) as pool:
        epochs = list(pool.map(work, range(8)))
    assert epochs == [15] * 8
    for index in range(8):
        [(entry, _)] = store.trust_settings(Domain.USER, USER + index)
        assert entry.constraints[0].policy_string == "h14.example"


def test_a_users_own_certificates_are_theirs_alone(store: TrustStore, pki: PKI) -> None:
    """A user's own store (their login keychain) serves their path building and listings only;
    the shared store (admin) serves everyone; a certificate in both is one candidate."""
    root = pki.root("Org Root")
    inter = pki.intermediate(root, "Org CA")
    org, issuer_key = parse_certificate(root.der), parse_certificate(inter.der).issuer_key
    assert store.add_certificates([org], source="user", actor=ALICE, uid=USER) == [(org, True)]
    assert store.add_certificates([org], source="user", actor=ALICE, uid=USER) == [(org, False)]
    assert [c.sha1 for c, _ in store.snapshot(USER).issuers_of(issuer_key)] == [org.sha1]
    assert list(store.snapshot(1001).issuers_of(issuer_key)) == []
    assert store.find_certificates() == [] and store.count_certificates() == 0
    [mine] = store.find_certificates(uid=USER)
    assert (mine.certificate.sha1, mine.source) == (org.sha1, "user")
    # Trusted in the user domain: listed with its certificate (found in the user's keychain).
    store.set_trust_settings(Domain.USER, USER, org, [], actor=ALICE)
    [(_, listed)] = store.trust_settings(Domain.USER, USER)
    assert listed is not None and listed.sha1 == org.sha1
    # In both stores: one candidate; the user's copy goes with delete, the shared one stays.
    store.add_certificates([org], source="api", actor=ROOT_ACTOR)
    assert len(list(store.snapshot(USER).issuers_of(issuer_key))) == 1
    store.delete_certificate(org.sha1, actor=ALICE, uid=USER)
    with pytest.raises(NotFound):
        store.delete_certificate(org.sha1, actor=ALICE, uid=USER)
    assert [s.source for s in store.find_certificates(uid=USER)] == ["api"]
    # A user's own store is bounded.
    extra = [parse_certificate(pki.root(f"R{n}").der) for n in range(3)]
    with pytest.raises(QuotaExceeded):
        store.add_certificates(extra, source="user", actor=ALICE, uid=USER, max_count=2)
    assert [s.source for s in store.find_certificates(uid=USER)] == ["api"]  # none of them
