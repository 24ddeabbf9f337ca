"""Small helpers shared by the core tests."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from pki import Issued

from trustd.core import (
    Certificate,
    Domain,
    EvaluationRequest,
    ExceptionList,
    MemorySnapshot,
    Policy,
    PolicyKind,
    TrustSettings,
    UsageConstraint,
    Verdict,
    evaluate,
    parse_certificate,
)

NOW = datetime(2030, 6, 1, tzinfo=UTC)
# A leaf lifetime that Apple's TLS rules accept under a system anchor (at most 398 days).
SHORT = {
    "not_before": datetime(2030, 1, 1, tzinfo=UTC),
    "not_after": datetime(2030, 12, 1, tzinfo=UTC),
}
SSL_OID = "1.2.840.113635.100.1.3"
BASIC_OID = "1.2.840.113635.100.1.2"


def cert(issued: Issued) -> Certificate:
    return parse_certificate(issued.der)


def ssl(name: str = "example.com") -> Policy:
    return Policy(PolicyKind.SSL, name=name)


def run(
    chain: Sequence[Issued | bytes],
    *,
    policies: Sequence[Policy] = (Policy(),),
    snapshot: MemorySnapshot | None = None,
    anchors: Iterable[Issued] = (),
    anchors_only: bool = False,
    exceptions: ExceptionList | None = None,
    crls: Iterable[bytes] = (),
    at: datetime = NOW,
) -> Verdict:
    request = EvaluationRequest(
        certificates=tuple(c if isinstance(c, bytes) else c.der for c in chain),
        policies=tuple(policies),
        anchors=tuple(a.der for a in anchors),
        anchors_only=anchors_only,
        exceptions=exceptions,
        crls=tuple(crls),
        verify_date=at,
    )
    return evaluate(request, snapshot or MemorySnapshot(), NOW)


def settings(domain: Domain, *constraints: UsageConstraint) -> TrustSettings:
    return TrustSettings(domain, tuple(constraints))


def failed(verdict: Verdict) -> set[tuple[int, str]]:
    return {(f.index, f.check) for f in verdict.counted}
