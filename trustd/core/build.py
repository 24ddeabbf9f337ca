"""Path building: depth-first search with backtracking over every candidate issuer.

The builder knows the certificate graph and nothing of policy.  It asks three questions of its
caller: which certificates could have issued this one (`issuers`, already ordered by preference),
whether a certificate ends a path as an anchor or is denied (`anchor_of`, where trust settings act
inside the search), and how good a complete path is (`judge`).  It keeps the best path judged so
far and stops at the first acceptable one.  A denied certificate ends its path (so that the
denial can be reported) and the search goes on looking for another path; a TrustAsRoot
certificate ends its path as an anchor.

Loops are impossible: a candidate whose subject and key already appear on the path is skipped
(RFC 4158 section 5.2).  Work is bounded by the Budget (signature checks and build calls) and by
the number of logical intermediates.

With `record`, every step is noted as an Attempt (trustd.core.verdict): each candidate issuer
and what became of it, each end of a path with the judgement of that path, the trust settings
consulted (through `consulted`) and the limit that ran out, if one did.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from trustd.core.budget import Budget, BudgetExhausted
from trustd.core.certificates import Certificate
from trustd.core.results import TrustResult
from trustd.core.signatures import SignatureVerifier
from trustd.core.snapshot import Origin
from trustd.core.verdict import AppliedSetting, Attempt, Failure


@dataclass(frozen=True, slots=True)
class AnchorMark:
    """Why a certificate ends a path: an anchor of some origin, or a Deny."""

    origin: Origin
    deny: bool = False
    setting: AppliedSetting | None = None


@dataclass(slots=True)
class Judged:
    """A complete candidate path and its judgement; lower `score` is better."""

    path: tuple[Certificate, ...]
    origins: tuple[Origin, ...]
    anchor: AnchorMark | None
    acceptable: bool
    score: tuple[int, ...]
    payload: object = None  # whatever the judge wants to keep (failures, settings applied)
    result: TrustResult | None = None  # for recorded attempts: the path's result ...
    failures: tuple[Failure, ...] = ()  # ... and every failure found on it, rescued ones too


Issuers = Callable[[Certificate], Sequence[tuple[Certificate, Origin]]]
AnchorOf = Callable[[Certificate, int], AnchorMark | None]
Judge = Callable[[tuple[Certificate, ...], tuple[Origin, ...], AnchorMark | None], Judged]
Consulted = Callable[[Certificate, int], AppliedSetting | None]


def _no_settings(cert: Certificate, depth: int) -> AppliedSetting | None:
    return None


@dataclass
class PathBuilder:
    issuers: Issuers
    anchor_of: AnchorOf
    judge: Judge
    verifier: SignatureVerifier
    budget: Budget
    max_intermediates: int
    record: bool = False
    consulted: Consulted = _no_settings  # trust settings of a certificate at a position
    attempts: list[Attempt] = field(default_factory=list)
    best: Judged | None = None

    def build(self, leaf: Certificate, origin: Origin) -> Judged | None:
        """Search from the leaf; the best judged path (None only if nothing was judged).

        Raises BudgetExhausted when a limit runs out before an acceptable path is found.
        """
        self._extend([leaf], [origin])
        return self.best

    def _note(
        self,
        depth: int,
        cert: Certificate,
        origin: Origin,
        outcome: str,
        detail: str = "",
        *,
        judged: Judged | None = None,
        setting: AppliedSetting | None = None,
    ) -> None:
        if self.record:
            self.attempts.append(
                Attempt(
                    depth,
                    cert,
                    origin,
                    outcome,
                    detail,
                    result=None if judged is None else judged.result,
                    failures=() if judged is None else judged.failures,
                    setting=setting or self.consulted(cert, depth),
                )
            )

    def _spend(self, which: str, depth: int, cert: Certificate, origin: Origin) -> None:
        """Spend one unit of a limit; running out is noted where it happened."""
        try:
            self.budget.spend(which)
        except BudgetExhausted as exhausted:
            self._note(depth, cert, origin, "budget", str(exhausted))
            raise

    def _finish(
        self,
        path: list[Certificate],
        origins: list[Origin],
        anchor: AnchorMark | None,
        outcome: str,
        detail: str = "",
    ) -> bool:
        """Judge a complete path, keep it if it is the best so far, note how it ended."""
        head, depth = path[-1], len(path) - 1
        try:
            judged = self.judge(tuple(path), tuple(origins), anchor)
        except BudgetExhausted as exhausted:  # name-constraint comparisons
            self._note(depth, head, origins[-1], "budget", str(exhausted))
            raise
        if self.best is None or judged.score < self.best.score:
            self.best = judged
        setting = None if anchor is None else anchor.setting
        self._note(depth, head, origins[-1], outcome, detail, judged=judged, setting=setting)
        return judged.acceptable

    def _extend(self, path: list[Certificate], origins: list[Origin]) -> bool:
        """Depth-first from path[-1]; True once an acceptable path has been found."""
        head, depth = path[-1], len(path) - 1
        self._spend("build_calls", depth, head, origins[-1])
        anchor = self.anchor_of(head, depth)
        if anchor is not None:
            outcome = "denied" if anchor.deny else "anchor"
            return self._finish(path, origins, anchor, outcome, anchor.origin.value)
        logical = sum(1 for cert in path[1:] if not cert.is_self_issued)
        if logical > self.max_intermediates:
            return self._finish(path, origins, None, "depth", f"more than {self.max_intermediates}")
        extended = False
        for candidate, origin in self.issuers(head):
            if any(candidate.identity == cert.identity for cert in path):
                self._note(depth + 1, candidate, origin, "loop")
                continue
            self._spend("signatures", depth + 1, candidate, origin)
            if not self.verifier.verify(candidate, head):
                self._note(depth + 1, candidate, origin, "signature", "does not verify")
                continue
            extended = True
            self._note(depth + 1, candidate, origin, "extended")
            path.append(candidate)
            origins.append(origin)
            try:
                if self._extend(path, origins):
                    return True
            finally:
                path.pop()
                origins.pop()
        if not extended:
            wanted = head.issuer.rfc4514_string() if self.record else ""
            return self._finish(path, origins, None, "no issuer", wanted)
        return False
