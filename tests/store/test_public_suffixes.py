"""The core holds no Public Suffix List: the service hands it the one `publicsuffixlist` ships,
so that a wildcard directly under a public suffix is refused as Apple refuses it."""

from __future__ import annotations

import datetime as dt

from pki import PKI
from store.conftest import ROOT_ACTOR

from trustd.core import (
    Domain,
    EvaluationRequest,
    Evaluator,
    Policy,
    PolicyKind,
    TrustResult,
    parse_certificate,
)
from trustd.public_suffixes import public_suffix_list
from trustd.service import Caller, TrustService
from trustd.store.repository import TrustStore

NOW = dt.datetime(2030, 6, 1, tzinfo=dt.UTC)
VALIDITY = {
    "not_before": dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
    "not_after": dt.datetime(2030, 12, 1, tzinfo=dt.UTC),
}


def test_the_list_knows_icann_and_private_suffixes() -> None:
    public = public_suffix_list()
    assert public("co.uk") and public("github.io")
    assert not public("example.co.uk")
    assert not Evaluator().is_public_suffix("co.uk")  # the core alone: no list


def test_the_service_refuses_a_wildcard_under_a_public_suffix(store: TrustStore, pki: PKI) -> None:
    root = pki.root("Suffix Root")
    stored_root = parse_certificate(root.der)
    store.add_certificate(stored_root, source="t", actor=ROOT_ACTOR)
    store.set_trust_settings(Domain.ADMIN, 0, stored_root, [], actor=ROOT_ACTOR)
    service = TrustService(store, clock=lambda: NOW)
    caller = Caller(1000, None)

    def verdict(pattern: str, host: str) -> TrustResult:
        leaf = pki.leaf(root, dns=[pattern], **VALIDITY)  # type: ignore[arg-type]
        policy = Policy(PolicyKind.SSL, name=host)
        request = EvaluationRequest((leaf.der,), policies=(policy,), verify_date=NOW)
        return service.evaluate(caller, request).result

    assert verdict("*.co.uk", "shop.co.uk") is TrustResult.RECOVERABLE_TRUST_FAILURE
    assert verdict("*.github.io", "someone.github.io") is TrustResult.RECOVERABLE_TRUST_FAILURE
    assert verdict("*.example.co.uk", "www.example.co.uk") is TrustResult.PROCEED
