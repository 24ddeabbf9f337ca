"""Applying a reconcile plan to the trust store.

Each change is written with `Actor(uid=0, pid=None, source=<file path>)`, so the audit log
says which file did what, and every row carries the file's path as its source.  Order:
removals first (`delete_by_source`), then every source's certificates, then every source's
trust settings, so that settings rows link to certificates another file adds in the same run.

A failure of the store for one file is reported and leaves that file unrecorded (partly
written rows are removed again), so the next reconcile tries it afresh; the other files go on.

Trust-settings entries for a certificate that neither a drop-in file nor the store holds are
*pending*: `TrustStore.set_trust_settings` needs the certificate itself, so they are reported
("certificate ... not known") and stored as soon as a reconcile finds the certificate in the
store (the daemon reconciles at start, on SIGHUP and on every drop-in change).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select, union
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from trustd.core.certificates import Certificate
from trustd.core.trust_settings import Domain
from trustd.store.engine import first_line
from trustd.store.models import CertificateRow, TrustSettingsRow
from trustd.store.repository import Actor, TrustStore
from trustd.watcher.reconcile import Applied, Plan, SourcePlan
from trustd.watcher.scan import normalise

log = logging.getLogger(__name__)

StoreFailure = (SQLAlchemyError, OSError)


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


def stored_sources(store: TrustStore, directories: Iterable[Path | str]) -> set[str]:
    """Sources the store has certificate or trust-settings rows for, under these directories.

    A read-only query on the store's `source` columns: `TrustStore` has no method listing
    sources yet (see the package docstring for the one it should grow).
    """
    prefixes = [normalise(d) + "/" for d in directories]
    if not prefixes:
        return set()
    queries = []
    for column in (CertificateRow.source, TrustSettingsRow.source):
        for prefix in prefixes:
            queries.append(select(column).where(column.startswith(prefix, autoescape=True)))
    with Session(store.engine) as session:
        return {row[0] for row in session.execute(union(*queries))}


def stored_denies(store: TrustStore, directory: Path | str) -> dict[str, frozenset[bytes]]:
    """The SHA-1s each drop-in source under `directory` holds admin trust settings for."""
    prefix = normalise(directory) + "/"
    query = select(TrustSettingsRow.source, TrustSettingsRow.sha1).where(
        TrustSettingsRow.source.startswith(prefix, autoescape=True)
    )
    found: dict[str, set[bytes]] = {}
    with Session(store.engine) as session:
        for source, sha1 in session.execute(query):
            if sha1 is not None:
                found.setdefault(source, set()).add(sha1)
    return {source: frozenset(sha1s) for source, sha1s in found.items()}


def known_certificate(store: TrustStore, sha1: bytes) -> Certificate | None:
    """The stored certificate with this SHA-1, if any."""
    found = store.find_certificates(sha1=sha1, limit=1)
    return found[0].certificate if found else None


def apply_plan(store: TrustStore, plan: Plan) -> ApplyReport:
    """Carry out `plan`; never raises for a store failure (it becomes a problem)."""
    report = ApplyReport(state=dict(plan.keep))
    report.problems.extend(str(b) for b in plan.broken)
    report.problems.extend(plan.notes)

    to_apply = list(plan.apply)
    removals = list(plan.remove)
    for source_plan, pending in plan.retry:
        if any(known_certificate(store, sha1) is not None for sha1 in pending):
            to_apply.append(source_plan)
            removals.append(source_plan.source)
            del report.state[source_plan.source]
        else:
            report.problems.extend(_pending_problem(source_plan.source, sha1) for sha1 in pending)

    reapplied = {p.source for p in to_apply}
    failed: set[str] = set()
    for source in sorted(set(removals)):
        try:
            store.delete_by_source(source, actor=actor_for(source))
        except StoreFailure as problem:
            report.problems.append(f"{source}: could not remove its rows: {first_line(problem)}")
            failed.add(source)
            continue
        report.state.pop(source, None)
        if source not in reapplied:
            report.removed.append(source)

    for source_plan in to_apply:
        if source_plan.source in failed or not source_plan.certificates:
            continue
        try:
            store.add_certificates(
                source_plan.certificates,
                source=source_plan.source,
                actor=actor_for(source_plan.source),
            )
        except StoreFailure as problem:
            _undo(store, source_plan.source, problem, report)
            failed.add(source_plan.source)

    for source_plan in to_apply:
        if source_plan.source in failed:
            continue
        try:
            pending = _apply_settings(store, source_plan)
        except StoreFailure as problem:
            _undo(store, source_plan.source, problem, report)
            continue
        report.problems.extend(_pending_problem(source_plan.source, sha1) for sha1 in pending)
        report.state[source_plan.source] = Applied(source_plan.fingerprint, pending)
        report.applied.append(source_plan.source)
    return report


def _apply_settings(store: TrustStore, source_plan: SourcePlan) -> frozenset[bytes]:
    """Store the source's admin trust settings; the SHA-1s left pending."""
    pending = set()
    actor = actor_for(source_plan.source)
    for change in source_plan.settings:
        certificate = change.certificate or known_certificate(store, change.sha1)
        if certificate is None:
            pending.add(change.sha1)
            continue
        store.set_trust_settings(
            Domain.ADMIN,
            0,
            certificate,
            change.constraints,
            actor=actor,
            source=source_plan.source,
        )
    return frozenset(pending)


def _undo(store: TrustStore, source: str, problem: Exception, report: ApplyReport) -> None:
    report.problems.append(f"{source}: could not apply: {first_line(problem)}")
    log.warning("drop-in %s could not be applied: %s", source, problem)
    try:
        store.delete_by_source(source, actor=actor_for(source))
    except StoreFailure:
        log.warning("drop-in %s: partly applied rows remain until the next reconcile", source)


def _pending_problem(source: str, sha1: bytes) -> str:
    return (
        f"{source}: certificate {sha1.hex().upper()} not known; its trust settings apply "
        "once the certificate is in the store"
    )
