"""Applying a reconcile plan to the trust store, in one transaction.

Each change is written with `Actor(uid=0, pid=None, source=<file path>)`, so the audit log
says which file did what, and every row carries the file's path as its source.  The whole plan
is one call of `TrustStore.replace_sources`: every removed or changed file's old rows go and
every changed file's new rows come in one transaction, so readers see the old files or the new
ones, never a deny lifted half-way, and kill -9 leaves each file whole or absent.  The store
records each file's fingerprint in the same transaction; the next reconcile (after a restart,
too) re-applies only files whose fingerprint changed.

A file whose rows the store refuses is reported and keeps its old rows and record, so the next
reconcile tries it again; the other files go on.  A failure of the database itself (disk full)
changes nothing and is reported for the whole plan.

Trust-settings entries for a certificate that neither a drop-in file nor the store holds are
*pending*: they are reported ("certificate ... not known") and stored as soon as a reconcile
finds the certificate in the store (the daemon reconciles at start, on SIGHUP and on every
drop-in change).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from trustd.core.certificates import Certificate
from trustd.store.engine import first_line
from trustd.store.repository import (
    Actor,
    SourceContents,
    SourceRecord,
    StorageFailure,
    TrustStore,
)
from trustd.watcher.reconcile import Applied, Plan, SourcePlan
from trustd.watcher.scan import normalise

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ApplyReport:
    """What one apply did: sources (re)applied and removed, and every problem, one line each.

    `state` is what is applied now, to hand to the next `reconcile` as `applied`.
    """

    applied: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    state: dict[str, Applied] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.applied or self.removed)


def actor_for(source: str) -> Actor:
    """The audit identity of a drop-in file's changes."""
    return Actor(uid=0, pid=None, source=source)


def _prefixes(directories: Iterable[Path | str]) -> list[str]:
    return [normalise(d) + "/" for d in directories]


def stored_records(
    store: TrustStore, directories: Iterable[Path | str]
) -> dict[str, SourceRecord | None]:
    """Sources under these directories with rows or a record in the store (None: rows only,
    as a database from before records were kept has)."""
    return store.sources_under(_prefixes(directories))


def applied_records(records: dict[str, SourceRecord | None]) -> dict[str, Applied]:
    """The recorded sources as `reconcile` takes them."""
    return {
        source: Applied(record.fingerprint, record.pending)
        for source, record in records.items()
        if record is not None
    }


def stored_denies(store: TrustStore, directory: Path | str) -> dict[str, frozenset[bytes]]:
    """The SHA-1s each drop-in source under `directory` holds admin trust settings for."""
    return store.admin_settings_by_source(_prefixes([directory])[0])


def known_certificate(store: TrustStore, sha1: bytes) -> Certificate | None:
    """The stored certificate with this SHA-1, if any."""
    found = store.find_certificates(sha1=sha1, limit=1)
    return found[0].certificate if found else None


def apply_plan(store: TrustStore, plan: Plan) -> ApplyReport:
    """Carry out `plan` in one transaction; never raises for a store failure (it becomes a
    problem, and nothing of the plan is stored)."""
    report = ApplyReport(state=dict(plan.keep))
    report.problems.extend(str(b) for b in plan.broken)
    report.problems.extend(plan.notes)

    to_apply = list(plan.apply)
    removals = set(plan.remove)
    for source_plan, pending in plan.retry:
        if any(known_certificate(store, sha1) is not None for sha1 in pending):
            to_apply.append(source_plan)
            removals.add(source_plan.source)
        else:
            report.problems.extend(_pending_problem(source_plan.source, sha1) for sha1 in pending)
    if not to_apply and not removals:
        return report

    try:
        done = store.replace_sources(
            sorted(removals), [_contents(p) for p in to_apply], actor=actor_for
        )
    except StorageFailure as problem:
        report.problems.append(f"drop-ins not applied: {first_line(problem)}")
        log.warning("drop-ins could not be applied: %s", problem)
        return report

    for source, reason in done.failed.items():
        report.problems.append(f"{source}: could not apply: {reason}")
        log.warning("drop-in %s could not be applied: %s", source, reason)
    reapplied = {p.source for p in to_apply}
    for source in sorted(removals - done.failed.keys()):
        report.state.pop(source, None)
        if source not in reapplied:
            report.removed.append(source)
    for source_plan in sorted(to_apply, key=lambda p: p.source):
        if source_plan.source not in done.stored:
            continue
        waiting = done.stored[source_plan.source]
        report.problems.extend(_pending_problem(source_plan.source, sha1) for sha1 in waiting)
        report.state[source_plan.source] = Applied(source_plan.fingerprint, waiting)
        report.applied.append(source_plan.source)
    return report


def _contents(source_plan: SourcePlan) -> SourceContents:
    return SourceContents(
        source_plan.source,
        source_plan.fingerprint,
        source_plan.certificates,
        [(c.sha1, c.certificate, c.constraints) for c in source_plan.settings],
    )


def _pending_problem(source: str, sha1: bytes) -> str:
    return (
        f"{source}: certificate {sha1.hex().upper()} not known; its trust settings apply "
        "once the certificate is in the store"
    )
