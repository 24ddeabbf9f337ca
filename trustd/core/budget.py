"""Limits on the work one evaluation may do.

A hostile peer controls the certificates it sends, so path building must be bounded.  Each limit
says where its number comes from.  Running out of any of them ends the evaluation with the fatal
check BudgetExhausted; it is never treated as "try the next candidate".
"""

from __future__ import annotations

from dataclasses import dataclass

# Go's maxChainSignatureChecks, introduced for CVE-2018-16875; rustls-webpki uses the same.
MAX_SIGNATURE_CHECKS = 100
# mozilla::pkix's limit on recursive build calls, adopted by rustls-webpki.
MAX_BUILD_CALLS = 200_000
# Go's default for name-constraint comparisons per verification, also rustls-webpki's.
MAX_NAME_CONSTRAINT_COMPARISONS = 250_000
# pyca cryptography's DEFAULT_MAX_CHAIN_DEPTH: intermediates between leaf and anchor.  Real
# chains have at most 3 or 4; OpenSSL's 100 only helps attackers.
MAX_INTERMEDIATES = 8


class BudgetExhausted(Exception):
    """A limit of the Budget ran out; `which` names it."""

    def __init__(self, which: str) -> None:
        super().__init__(f"{which} budget exhausted")
        self.which = which


@dataclass
class Budget:
    """Remaining work for one evaluation; spend() raises BudgetExhausted at zero."""

    signatures: int = MAX_SIGNATURE_CHECKS
    build_calls: int = MAX_BUILD_CALLS
    name_constraint_comparisons: int = MAX_NAME_CONSTRAINT_COMPARISONS

    def spend(self, which: str, amount: int = 1) -> None:
        left = getattr(self, which) - amount
        if left < 0:
            setattr(self, which, 0)
            raise BudgetExhausted(which)
        setattr(self, which, left)


@dataclass(frozen=True, slots=True)
class BudgetUse:
    """How much of each limit an evaluation spent (reported in the verdict)."""

    signatures: int
    build_calls: int
    name_constraint_comparisons: int

    @classmethod
    def spent(cls, start: Budget, left: Budget) -> BudgetUse:
        return cls(
            start.signatures - left.signatures,
            start.build_calls - left.build_calls,
            start.name_constraint_comparisons - left.name_constraint_comparisons,
        )
