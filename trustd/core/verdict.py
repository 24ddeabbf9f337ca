"""What an evaluation answers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from trustd.core.budget import BudgetUse
from trustd.core.certificates import Certificate
from trustd.core.exceptions import ExceptionList
from trustd.core.results import (
    CHECKS,
    SUBTYPE_TEMPLATES,
    Category,
    Check,
    CheckName,
    Severity,
    TrustResult,
)
from trustd.core.snapshot import Origin
from trustd.core.trust_settings import Domain


class Rescue(StrEnum):
    """What neutralised a recoverable failure."""

    ALLOWED_ERROR = "allowedError"  # a matching usage constraint's kSecTrustSettingsAllowedError
    EXCEPTION = "exception"  # a stored or supplied exception for this certificate


@dataclass(frozen=True, slots=True)
class Failure:
    """One failed check at one chain position (0 = leaf)."""

    index: int
    check: CheckName  # given as text, it must be a check's name (ValueError otherwise)
    value: Any = False
    detail: str = ""
    rescued_by: Rescue | None = None

    def __post_init__(self) -> None:
        if type(self.check) is not CheckName:
            object.__setattr__(self, "check", CheckName(self.check))

    @property
    def info(self) -> Check:
        return CHECKS[self.check]

    @property
    def severity(self) -> Severity:
        return self.info.severity


@dataclass(frozen=True, slots=True)
class AppliedSetting:
    """A trust setting that took part in the decision, or (in attempts) that was consulted.

    `effect` is "anchor" (the matching usage constraint makes the certificate an anchor),
    "deny", "allowedError" (an allowed error rescued a failure), or, for settings consulted
    while searching, "noMatch" (no usage constraint matches this use) and "noDecision" (the
    matching constraint decides nothing: Unspecified, or a root result that does not fit).
    """

    index: int  # chain position
    domain: Domain
    constraint_index: int | None  # None: an empty array (unconditional TrustRoot), or no match
    effect: str


@dataclass(frozen=True, slots=True)
class Attempt:
    """One step of the path search, for explanations (recorded when asked).

    The attempts are the search's trace, depth first: a candidate issuer considered at
    `depth` ("extended": its signature verifies and the search goes on from it; "signature":
    it does not verify the certificate below; "loop": it is already on the path) or the end of
    a path at `depth` ("anchor", "denied", "no issuer", "depth": too many intermediates;
    "budget": a limit of the Budget ran out here, `detail` says which).  A path's end carries
    the judgement of the whole path: its `result` and every failure found on it (`failures`,
    rescued ones included, indexed by position on that path).  `setting` is the trust setting
    of `certificate` that decided or was consulted at this position.
    """

    depth: int  # chain position of `certificate`
    certificate: Certificate
    origin: Origin
    outcome: str
    detail: str = ""
    result: TrustResult | None = None
    failures: tuple[Failure, ...] = ()
    setting: AppliedSetting | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """The answer to an EvaluationRequest.

    `details` has one mapping per chain position with the failed checks that count (Apple's
    TrustResultDetails); `failures` lists every failure found on the chosen path, including
    those rescued by allowed errors or exceptions.  `exceptions` is the list that would let
    exactly this evaluation pass (SecTrustCopyExceptions).  `exceptions_usable` says whether
    the exceptions offered (stored for the host, or passed in) were for this leaf in the
    current epoch.  `attempts` is the search's trace when the request asked for it.
    """

    result: TrustResult
    chain: tuple[Certificate, ...]
    anchor_origin: Origin | None
    failures: tuple[Failure, ...]
    trust_settings: tuple[AppliedSetting, ...]
    exceptions_applied: bool
    exceptions: ExceptionList
    budget: BudgetUse
    attempts: tuple[Attempt, ...] | None = None
    exceptions_usable: bool | None = None  # None: no exceptions offered; False: other leaf/epoch

    @property
    def trusted(self) -> bool:
        return self.result.trusted

    @property
    def counted(self) -> tuple[Failure, ...]:
        """Failures that decided the result (not rescued)."""
        return tuple(f for f in self.failures if f.rescued_by is None)

    @property
    def details(self) -> tuple[Mapping[str, Any], ...]:
        per_position: list[dict[str, Any]] = [{} for _ in self.chain] or [{}]
        for failure in self.counted:
            position = per_position[min(failure.index, len(per_position) - 1)]
            position[failure.check.value] = failure.value
        return tuple(per_position)

    @property
    def primary(self) -> Failure | None:
        """The most important failure: highest category, then lowest chain position."""
        counted = self.counted
        if not counted:
            return None
        return min(counted, key=lambda f: (f.info.category, f.index))

    @property
    def message(self) -> str:
        """Apple's simple error for the primary failure (SecTrustCopyErrorStrings)."""
        primary = self.primary
        if primary is None:
            return "certificate chain is trusted"
        template = SUBTYPE_TEMPLATES[primary.info.category]
        if primary.info.category is Category.PINNING:
            return template % ",".join(f'"{c.subject_summary}"' for c in self.chain)
        cert = self.chain[primary.index] if primary.index < len(self.chain) else None
        return template % (cert.subject_summary if cert is not None else "")
