"""The store answers evaluations from memory: no SQL for certificates without trust settings,
the exceptions epoch and the hosts with exceptions known per generation, and every write seen
by the next evaluation."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

from pki import PKI
from sqlalchemy import Engine, event
from store.conftest import ALICE, NOW, ROOT_ACTOR, SHORT, USER

from trustd.core import (
    Domain,
    EvaluationRequest,
    Policy,
    PolicyKind,
    TrustResult,
    UsageConstraint,
    parse_certificate,
)
from trustd.core.trust_settings import SettingsResult
from trustd.service import Caller, TrustService
from trustd.store.repository import TrustStore


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements run on the engine inside the block."""
    seen: list[str] = []

    def record(*args: object) -> None:
        seen.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def request_for(pki: PKI, issuer: object, host: str) -> EvaluationRequest:
    leaf = pki.leaf(issuer, dns=[host], **SHORT)  # type: ignore[arg-type]
    return EvaluationRequest(
        (leaf.der,), policies=(Policy(PolicyKind.SSL, name=host),), verify_date=NOW
    )


def test_an_evaluation_without_settings_runs_no_sql(
    store: TrustStore, engine: Engine, pki: PKI
) -> None:
    root = pki.root("Cached Root")
    ica = pki.intermediate(root, "Cached CA")
    store.add_certificates(
        [parse_certificate(root.der), parse_certificate(ica.der)], source="t", actor=ROOT_ACTOR
    )
    store.set_trust_settings(Domain.ADMIN, 0, parse_certificate(root.der), [], actor=ROOT_ACTOR)
    service = TrustService(store, clock=lambda: NOW)
    first = service.evaluate(Caller(USER, None), request_for(pki, ica, "a.example"), "a.example")
    assert first.result is TrustResult.PROCEED
    with statements(engine) as seen:
        for name in ("b.example", "c.example"):
            verdict = service.evaluate(Caller(USER, None), request_for(pki, ica, name), name, 443)
            assert verdict.result is TrustResult.PROCEED
            assert len(verdict.chain) == 3
    assert seen == []


def test_writes_are_seen_by_the_next_evaluation(store: TrustStore, pki: PKI) -> None:
    root = pki.root("Edited Root")
    stored_root = parse_certificate(root.der)
    store.add_certificate(stored_root, source="t", actor=ROOT_ACTOR)
    service = TrustService(store, clock=lambda: NOW)
    alice = Caller(USER, None)
    request = request_for(pki, root, "edit.example")
    assert service.evaluate(alice, request).result is TrustResult.RECOVERABLE_TRUST_FAILURE
    assert store.settings_for(stored_root.sha1, USER) is None
    # a user's own settings: seen by that user only
    store.set_trust_settings(Domain.USER, USER, stored_root, [], actor=ALICE)
    assert service.evaluate(alice, request).result is TrustResult.PROCEED
    assert service.evaluate(Caller(1001, None), request).result is (
        TrustResult.RECOVERABLE_TRUST_FAILURE
    )
    # an admin deny overrides it
    deny = UsageConstraint(result=SettingsResult.DENY)
    store.set_trust_settings(Domain.ADMIN, 0, stored_root, [deny], actor=ROOT_ACTOR)
    assert service.evaluate(alice, request).result is TrustResult.DENY
    store.remove_trust_settings(Domain.ADMIN, 0, stored_root.sha1, actor=ROOT_ACTOR)
    assert service.evaluate(alice, request).result is TrustResult.PROCEED


def test_exceptions_and_their_epoch_follow_writes(store: TrustStore, pki: PKI) -> None:
    root = pki.root("Exceptions Root")
    store.set_trust_settings(Domain.ADMIN, 0, parse_certificate(root.der), [], actor=ROOT_ACTOR)
    expired = pki.leaf(
        root,
        dns=["old.example"],
        not_before=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
        not_after=dt.datetime(2021, 1, 1, tzinfo=dt.UTC),
    )
    service = TrustService(store, clock=lambda: NOW)
    alice = Caller(USER, None)
    request = EvaluationRequest(
        (expired.der,), policies=(Policy(PolicyKind.SSL, name="old.example"),), verify_date=NOW
    )
    refused = service.evaluate(alice, request, "old.example", 443)
    assert refused.result is TrustResult.RECOVERABLE_TRUST_FAILURE
    assert store.exceptions_for(USER, "old.example", 443) is None
    service.set_exceptions(alice, "old.example", 443, refused.exceptions)
    accepted = service.evaluate(alice, request, "old.example", 443)
    assert accepted.result is TrustResult.PROCEED and accepted.exceptions_applied
    assert service.evaluate(alice, request, "old.example", 8443).result is (
        TrustResult.RECOVERABLE_TRUST_FAILURE
    )
    assert store.exceptions_epoch(USER) == 0
    assert service.reset_exceptions(alice) == 1
    assert store.exceptions_epoch(USER) == 1
    after = service.evaluate(alice, request, "old.example", 443)
    assert after.result is TrustResult.RECOVERABLE_TRUST_FAILURE
    # made in the new epoch: usable again; on any port (0) too
    service.set_exceptions(alice, "old.example", 0, after.exceptions)
    assert service.evaluate(alice, request, "old.example", 8443).result is TrustResult.PROCEED
