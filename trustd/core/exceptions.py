"""Trust exceptions: failures a user accepted for exactly these certificates.

Semantics of SecTrustCopyExceptions / SecTrustSetExceptions (shared/reference/apple-trust.md
section 5).  An exception list has one entry per chain position; an entry names the certificate
by SHA-1 and lists the failed checks with their values.  It applies only while the leaf is the
same, the exceptions epoch has not moved, and each failure is one the entry lists for the same
certificate with the same value.  The binary-plist encoding lives in trustd.plist.exceptions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class CertificateExceptions:
    """One chain position's entry: the certificate's SHA-1 and its accepted failures.

    An entry without `sha1` is a generic exception (macOS SecTrustSetOptions) that applies to
    any certificate.  `reset_count` is the ExceptionResetCount epoch it was made in (None: 0).
    """

    sha1: bytes | None
    checks: Mapping[str, Any] = field(default_factory=dict)
    reset_count: int | None = None


@dataclass(frozen=True, slots=True)
class ExceptionList:
    """The exceptions of a whole chain, leaf first; None stands for an empty dictionary."""

    entries: tuple[CertificateExceptions | None, ...] = ()

    def is_generic(self) -> bool:
        return (
            len(self.entries) == 1 and self.entries[0] is not None and self.entries[0].sha1 is None
        )

    def usable_for(self, leaf_sha1: bytes, epoch: int) -> bool:
        """SecTrustSetExceptions' gate: the first entry names this leaf in the current epoch."""
        if not self.entries or self.entries[0] is None:
            return False
        first = self.entries[0]
        if (first.reset_count or 0) != epoch:
            return False
        return self.is_generic() or first.sha1 == leaf_sha1

    def covers(self, index: int, cert_sha1: bytes, check: str, value: Any) -> bool:
        """Whether the failure `check` = `value` of the certificate at `index` is excepted."""
        if self.is_generic():
            entry = self.entries[0]
        elif index < len(self.entries):
            entry = self.entries[index]
        else:
            return False
        if entry is None or (entry.sha1 is not None and entry.sha1 != cert_sha1):
            return False
        return check in entry.checks and entry.checks[check] == value


def exceptions_for(
    sha1s: Sequence[bytes], failures: Sequence[Mapping[str, Any]], epoch: int
) -> ExceptionList:
    """The list that excepts exactly these failures of this chain (SecTrustCopyExceptions).

    The leaf always gets an entry; other positions get one only when they have failures;
    trailing empty entries are dropped.
    """
    entries: list[CertificateExceptions | None] = []
    for index, (sha1, failed) in enumerate(zip(sha1s, failures, strict=True)):
        if index == 0 or failed:
            entries.append(
                CertificateExceptions(sha1=sha1, checks=dict(failed), reset_count=epoch or None)
            )
        else:
            entries.append(None)
    while entries and entries[-1] is None:
        entries.pop()
    return ExceptionList(tuple(entries))
