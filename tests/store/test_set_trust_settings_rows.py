"""The rows one SetTrustSettings leaves in the database, read back with SQL: the entry, its
constraints (none left over from the array it replaced), its link to the shared store's copy
of the certificate, the domain's record, the audit row; the quota; the generation."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import pytest
from pki import PKI
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from store.conftest import ROOT_ACTOR

from trustd.core import Domain, SettingsResult, UsageConstraint, parse_certificate
from trustd.store.models import (
    ADMIN_UID,
    AuditRow,
    CertificateRow,
    TrustDomainRow,
    TrustSettingsRow,
    UsageConstraintRow,
)
from trustd.store.repository import Actor, NotFound, NoTrustSettings, QuotaExceeded, TrustStore
from trustd.store.system_anchors import SystemAnchors

USER = 1000
ALICE = Actor(uid=USER, pid=4242)
START = dt.datetime(2030, 6, 1, tzinfo=dt.UTC)


@pytest.fixture
def ticking(engine: Engine, empty_bundle: Path) -> TrustStore:
    """A store whose clock moves one second at each reading."""
    seconds = itertools.count()
    return TrustStore(
        engine,
        SystemAnchors(empty_bundle),
        clock=lambda: START + dt.timedelta(seconds=next(seconds)),
    )


def naive(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=None)


def test_an_edit_stores_its_rows_and_replaces_the_old_ones(
    ticking: TrustStore, engine: Engine, pki: PKI
) -> None:
    root = parse_certificate(pki.root("Edited Root").der)
    first = [
        UsageConstraint(policy_oid="1.2.840.113635.100.1.3", policy_name="sslServer"),
        UsageConstraint(result=SettingsResult.DENY, allowed_error=-2147409654, key_usage=3),
        UsageConstraint(result=7, extra={"kSecTrustSettingsPolicyOptions": {"x": 1}}),
    ]
    generation = ticking.generation
    entry = ticking.set_trust_settings(Domain.USER, USER, root, first, actor=ALICE)
    assert ticking.generation == generation + 1
    # what it returns is what a reader gets back
    [(read, _)] = ticking.trust_settings(Domain.USER, USER)
    assert entry == read
    assert entry.constraints[1].result is SettingsResult.DENY and entry.constraints[2].result == 7
    # clock readings: the domain's record (0 s), the entry (1 s), the audit row (2 s)
    assert entry.mod_date == START + dt.timedelta(seconds=1)
    with Session(engine) as session:
        [domain] = session.scalars(select(TrustDomainRow))
        assert (domain.uid, domain.mod_date) == (USER, naive(START))
        [row] = session.scalars(select(TrustSettingsRow))
        assert (row.uid, row.key, row.sha1, row.certificate_id, row.source, row.extra) == (
            USER,
            root.sha1.hex().upper(),
            root.sha1,
            None,  # not in the shared store
            "api",
            None,
        )
        positions = session.execute(
            select(UsageConstraintRow.trust_settings_id, UsageConstraintRow.position)
        ).all()
        assert positions == [(row.id, 0), (row.id, 1), (row.id, 2)]
        [audit] = session.scalars(select(AuditRow))
        assert (audit.at, audit.uid, audit.pid, audit.operation, audit.domain) == (
            naive(START + dt.timedelta(seconds=2)),
            USER,
            4242,
            "set-trust-settings",
            "user",
        )
        assert audit.object == root.sha1.hex().upper()
        assert audit.summary == f"3 usage constraints for {root.subject_summary}"

    # The shared store gets the certificate; the replacing entry links to it, and the three
    # constraint rows of the replaced one are gone with it.
    ticking.add_certificate(root, source="api", actor=ROOT_ACTOR)
    ticking.set_trust_settings(
        Domain.USER, USER, root, [UsageConstraint(result=SettingsResult.TRUST_ROOT)], actor=ALICE
    )
    with Session(engine) as session:
        [row] = session.scalars(select(TrustSettingsRow))
        shared = session.scalar(
            select(CertificateRow.id).where(
                CertificateRow.sha1 == root.sha1, CertificateRow.uid == ADMIN_UID
            )
        )
        assert shared is not None and row.certificate_id == shared
        assert session.execute(
            select(UsageConstraintRow.trust_settings_id, UsageConstraintRow.result)
        ).all() == [(row.id, int(SettingsResult.TRUST_ROOT))]
        assert session.scalar(select(func.count()).select_from(AuditRow)) == 3
        [domain] = session.scalars(select(TrustDomainRow))
        assert domain.mod_date > naive(START)  # the record's date moves with each edit
    settings = ticking.settings_for(root.sha1, USER)
    assert settings is not None and settings.constraints[0].result is SettingsResult.TRUST_ROOT


def test_the_quota_counts_new_entries_only_and_a_refused_edit_changes_nothing(
    store: TrustStore, engine: Engine, pki: PKI
) -> None:
    one, two = (parse_certificate(pki.root(f"Quota {n}").der) for n in (1, 2))
    store.set_trust_settings(Domain.USER, USER, one, [], actor=ALICE, max_entries=1)
    # replacing the one entry it holds is no new entry
    store.set_trust_settings(
        Domain.USER, USER, one, [UsageConstraint()], actor=ALICE, max_entries=1
    )
    generation = store.generation
    with pytest.raises(QuotaExceeded):
        store.set_trust_settings(Domain.USER, USER, two, [], actor=ALICE, max_entries=1)
    assert store.generation == generation
    assert [e.key for e, _ in store.trust_settings(Domain.USER, USER)] == [one.sha1.hex().upper()]
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(AuditRow)) == 2
        assert session.scalar(select(func.count()).select_from(UsageConstraintRow)) == 1
    # the admin domain has no quota of its own here, and is a record apart
    store.set_trust_settings(Domain.ADMIN, 0, two, [], actor=ROOT_ACTOR)
    assert [e.key for e, _ in store.trust_settings(Domain.ADMIN, 0)] == [two.sha1.hex().upper()]


def test_a_removal_takes_the_entry_and_its_constraints_and_keeps_the_record(
    ticking: TrustStore, engine: Engine, pki: PKI
) -> None:
    root = parse_certificate(pki.root("Removed Root").der)
    with pytest.raises(NoTrustSettings):
        ticking.remove_trust_settings(Domain.USER, USER, root.sha1, actor=ALICE)
    constraints = [UsageConstraint(policy_string="a.example"), UsageConstraint(result=3)]
    ticking.set_trust_settings(Domain.USER, USER, root, constraints, actor=ALICE)  # 0, 1, 2 s
    generation = ticking.generation
    with pytest.raises(NotFound):
        ticking.remove_trust_settings(Domain.USER, USER, b"\x01" * 20, actor=ALICE)
    assert ticking.generation == generation
    ticking.remove_trust_settings(Domain.USER, USER, root.sha1, actor=ALICE)  # 3 s, 4 s
    assert ticking.generation == generation + 1
    assert ticking.settings_for(root.sha1, USER) is None
    assert ticking.export_domain(Domain.USER, USER) == []  # an empty record remains
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(TrustSettingsRow)) == 0
        assert session.scalar(select(func.count()).select_from(UsageConstraintRow)) == 0
        [domain] = session.scalars(select(TrustDomainRow))
        assert domain.mod_date == naive(START + dt.timedelta(seconds=3))
        audit = session.execute(
            select(AuditRow.at, AuditRow.operation, AuditRow.object, AuditRow.summary).order_by(
                AuditRow.id
            )
        ).all()
        assert audit[-1] == (
            naive(START + dt.timedelta(seconds=4)),
            "remove-trust-settings",
            root.sha1.hex().upper(),
            "removed",
        )
        assert len(audit) == 2
