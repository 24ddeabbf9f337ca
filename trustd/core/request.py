"""What an evaluation is asked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from trustd.core.exceptions import ExceptionList
from trustd.core.policy import Policy


@dataclass(frozen=True, slots=True)
class EvaluationRequest:
    """One SecTrustEvaluate call.

    `certificates` is the leaf first, then whatever else the peer sent, in any order, junk and
    duplicates tolerated (DER or PEM each).  `anchors` are caller-supplied anchors; with
    `anchors_only` they are the only anchors (SecTrustSetAnchorCertificatesOnly).  `crls` are
    DER or PEM CRLs to check revocation against.  `max_intermediates` caps the logical
    intermediates of a path (self-issued ones do not count).  `application` is the calling
    program's path, matched against application constraints.  With `record_paths` the verdict
    carries every path the search tried and why each was abandoned.  With `require_revocation`
    (Apple's RequirePositiveResponse) every certificate below the anchor needs revocation
    information that can be used, else RevocationResponseRequired.  `fetched_crls` (from
    distribution points) and `ocsp_responses` (stapled or fetched, DER) are revocation evidence
    used when it can be believed and ignored otherwise, unlike `crls`, which fail closed.
    `fetched_certificates` are candidate issuers from AIA locations (origin "network").

    The RFC 5280 6.1.1 inputs of policy processing: `initial_policy_set` is the
    user-initial-policy-set (dotted OIDs; None for {anyPolicy}); `initial_explicit_policy`,
    `initial_policy_mapping_inhibit` and `initial_any_policy_inhibit` are the three indicators.
    The defaults are Apple's: any policy, nothing required or inhibited.
    """

    certificates: tuple[bytes, ...]
    policies: tuple[Policy, ...] = (Policy(),)
    verify_date: datetime | None = None
    anchors: tuple[bytes, ...] = ()
    anchors_only: bool = False
    exceptions: ExceptionList | None = None
    crls: tuple[bytes, ...] = ()
    max_intermediates: int | None = None
    application: str | None = None
    record_paths: bool = False
    require_revocation: bool = False
    fetched_certificates: tuple[bytes, ...] = ()
    fetched_crls: tuple[bytes, ...] = ()
    ocsp_responses: tuple[bytes, ...] = ()
    initial_policy_set: frozenset[str] | None = None
    initial_explicit_policy: bool = False
    initial_policy_mapping_inhibit: bool = False
    initial_any_policy_inhibit: bool = False
