"""Reconciling the drop-in directories with the store, as a pure diff (no I/O).

Input: what the drop-in directories hold now (`DirectoryContents`: path -> bytes, or the reason a
file could not be read safely), the drop-in sources the store has rows for, and what this
watcher applied before (`Applied`, per source).  Output: a `Plan` saying which sources to
remove, which to (re)apply and which files are broken.

Every row a file adds carries the file's path as its source, so removing or editing a file
undoes exactly what it added (`TrustStore.replace_sources` swaps its rows in one transaction).

The desired state is computed from every valid file at once, because files can name the same
certificate.  The store holds one admin trust-settings array per certificate and one row per
certificate, so each goes to exactly one file, the winner:

- the distrust directory beats the trust-settings directory, which beats the anchors directory
  (a Deny is never undone by another file; an explicit plist is more specific than "anchor");
- within one directory the file whose path sorts last wins (as in conf.d directories).

A file's `fingerprint` covers its bytes and what it wins, so when a winner appears or goes
away, the files that share its certificates are re-applied too; a file whose fingerprint is
unchanged since it was applied needs nothing.

A broken file contributes nothing new, and the reason is reported.  What it added before is
removed, so that the store mirrors the files that are valid now, with one exception that fails
closed: a distrust file that still exists but can no longer be used (made writable by others
by mistake, half-written by an editor, unreadable) keeps its last denies in force until it is
fixed or removed, as does every distrust file of a directory that became unsafe.  Removing a
deny is a change of trust that only removing the file may make.  (A trust-settings file is
all or nothing: its entries go when it breaks, so denies belong in the distrust directory.)
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from enum import StrEnum

from trustd.core.certificates import Certificate, MalformedCertificate, parse_certificate
from trustd.core.policy import Policy, PolicyKind
from trustd.core.signatures import verify_signature
from trustd.core.trust_settings import SettingsResult, UsageConstraint
from trustd.plist.profiles import InvalidProfile, decode_profile
from trustd.watcher.parse import (
    MAX_FILE_BYTES,
    BrokenFile,
    parse_certificate_file,
    parse_trust_settings_file,
)


class Kind(StrEnum):
    """The three kinds of drop-in directory."""

    ANCHORS = "anchors"  # certificates trusted as roots in the admin domain
    DISTRUST = "distrust"  # certificates denied in the admin domain
    TRUST_SETTINGS = "trust-settings"  # macOS trust-settings plists merged into the admin domain
    PROFILES = "profiles"  # configuration profiles: root payloads trusted, certificates stored


# Precedence when files of different kinds name the same certificate: higher wins.
_RANK = {Kind.ANCHORS: 0, Kind.PROFILES: 1, Kind.TRUST_SETTINGS: 2, Kind.DISTRUST: 3}

# A profile's root payload: trusted for the SSL and basic X.509 policies, as the root
# certificate payload of a configuration profile is on macOS (TrustAsRoot when the certificate
# is not self-signed, as for an anchor file).
PROFILE_ROOT_POLICIES = (Policy(PolicyKind.SSL).oid, Policy(PolicyKind.BASIC).oid)

DENY: tuple[UsageConstraint, ...] = (UsageConstraint(result=SettingsResult.DENY),)
TRUST_AS_ROOT: tuple[UsageConstraint, ...] = (UsageConstraint(result=SettingsResult.TRUST_AS_ROOT),)


@dataclass(frozen=True, slots=True)
class ReadProblem:
    """A file that was not read: refused for safety or unreadable (one-line reason)."""

    reason: str


FileContent = bytes | ReadProblem


@dataclass(frozen=True, slots=True)
class DirectoryContents:
    """One drop-in directory as read now: absolute path -> content, for its regular files.

    `problem` is set when the directory itself cannot be used (then `files` is empty or every
    file carries a ReadProblem).
    """

    kind: Kind
    directory: str
    files: Mapping[str, FileContent] = field(default_factory=dict)
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class SettingsChange:
    """Admin trust settings one source sets for one certificate."""

    sha1: bytes
    constraints: tuple[UsageConstraint, ...]
    # None when no drop-in file holds the certificate: the apply step looks it up in the store.
    certificate: Certificate | None


@dataclass(frozen=True, slots=True)
class SourcePlan:
    """Everything one file adds to the store."""

    source: str
    kind: Kind
    fingerprint: str
    certificates: tuple[Certificate, ...]
    settings: tuple[SettingsChange, ...]


@dataclass(frozen=True, slots=True)
class Applied:
    """What the watcher remembers of an applied source.

    `pending` holds the SHA-1s of trust-settings entries whose certificate was not known when
    the source was applied; those entries were not stored.
    """

    fingerprint: str
    pending: frozenset[bytes] = frozenset()


@dataclass(frozen=True, slots=True)
class Broken:
    """A file (or directory) that contributes nothing, and why."""

    source: str
    reason: str

    def __str__(self) -> str:
        return f"{self.source}: {self.reason}"


@dataclass(frozen=True, slots=True)
class Plan:
    """What to do, in order: `remove` every source listed, then `apply` each plan.

    `retry` lists unchanged sources that had pending entries, with those SHA-1s: the apply step
    re-applies one if a pending certificate has since appeared in the store.  `keep` carries
    the unchanged sources' records over.  `notes` say which settings another file overrides.
    """

    remove: tuple[str, ...] = ()
    apply: tuple[SourcePlan, ...] = ()
    retry: tuple[tuple[SourcePlan, frozenset[bytes]], ...] = ()
    keep: Mapping[str, Applied] = field(default_factory=dict)
    broken: tuple[Broken, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def changes(self) -> bool:
        """Whether applying the plan writes anything for sure (retries may or may not)."""
        return bool(self.remove or self.apply)


@dataclass(slots=True)
class _Decoded:
    source: str
    kind: Kind
    digest: str
    certificates: list[Certificate]
    settings: list[SettingsChange]


def _self_signed(certificate: Certificate) -> bool:
    return certificate.is_self_issued and verify_signature(certificate, certificate)


def anchor_constraints(certificate: Certificate) -> tuple[UsageConstraint, ...]:
    """An anchor's admin settings: empty (TrustRoot) if self-signed, else TrustAsRoot."""
    return () if _self_signed(certificate) else TRUST_AS_ROOT


def decode_file(kind: Kind, data: bytes) -> tuple[list[Certificate], list[SettingsChange]]:
    """Certificates a file adds and the settings it sets; raise BrokenFile."""
    if len(data) > MAX_FILE_BYTES:
        raise BrokenFile(f"larger than {MAX_FILE_BYTES} bytes")
    if kind is Kind.TRUST_SETTINGS:
        settings = [
            SettingsChange(bytes.fromhex(entry.key), entry.constraints, None)
            for entry in parse_trust_settings_file(data)
        ]
        return [], settings
    if kind is Kind.PROFILES:
        return _profile_rows(data)
    certificates = _unique(parse_certificate_file(data))
    if kind is Kind.ANCHORS:
        return certificates, [
            SettingsChange(c.sha1, anchor_constraints(c), c) for c in certificates
        ]
    return certificates, [SettingsChange(c.sha1, DENY, c) for c in certificates]


def profile_root_constraints(certificate: Certificate) -> tuple[UsageConstraint, ...]:
    """A profile root's admin settings: SSL and basic, TrustRoot (TrustAsRoot if not
    self-signed)."""
    result = None if _self_signed(certificate) else SettingsResult.TRUST_AS_ROOT
    return tuple(UsageConstraint(policy_oid=oid, result=result) for oid in PROFILE_ROOT_POLICIES)


def _profile_rows(data: bytes) -> tuple[list[Certificate], list[SettingsChange]]:
    """A profile's certificate payloads stored, its root payloads trusted."""
    try:
        profile = decode_profile(data)
        certificates = _unique(parse_certificate(p.certificate) for p in profile.certificates)
        roots = {parse_certificate(p.certificate).sha1 for p in profile.roots}
    except (InvalidProfile, MalformedCertificate) as problem:
        raise BrokenFile(str(problem)) from None
    settings = [
        SettingsChange(c.sha1, profile_root_constraints(c), c)
        for c in certificates
        if c.sha1 in roots
    ]
    return certificates, settings


def reconcile(
    directories: Sequence[DirectoryContents],
    stored_sources: Set[str],
    applied: Mapping[str, Applied],
    stored_denies: Mapping[str, Set[bytes]] | None = None,
) -> Plan:
    """The plan that makes the store match the directories (see the module docstring).

    Only stored sources that name a file directly inside one of `directories` are considered,
    so rows from other sources (the API, imports) are never touched.  `stored_denies` gives,
    for each distrust source with stored rows, the SHA-1s it denies (what a broken one keeps).
    """
    broken: list[Broken] = []
    decoded: list[_Decoded] = []
    unusable: set[str] = set()  # distrust files and directories that exist but cannot be used
    for contents in directories:
        distrust = contents.kind is Kind.DISTRUST
        if contents.problem is not None:
            broken.append(Broken(contents.directory, contents.problem))
            if distrust:
                unusable.add(contents.directory)
        for source in sorted(contents.files):
            content = contents.files[source]
            try:
                if isinstance(content, ReadProblem):
                    raise BrokenFile(content.reason)
                certificates, settings = decode_file(contents.kind, content)
            except BrokenFile as problem:
                broken.append(Broken(source, str(problem)))
                if distrust:
                    unusable.add(source)
                continue
            digest = hashlib.sha256(content).hexdigest()
            decoded.append(_Decoded(source, contents.kind, digest, certificates, settings))

    ours = {c.directory for c in directories}
    previous = {s for s in (set(stored_sources) | set(applied)) if os.path.dirname(s) in ours}
    held = {s for s in previous if s in unusable or os.path.dirname(s) in unusable}
    denies = stored_denies or {}
    for source in sorted(held):  # its stored denies still win over every other file
        kept = [SettingsChange(sha1, DENY, None) for sha1 in sorted(denies.get(source, ()))]
        decoded.append(_Decoded(source, Kind.DISTRUST, "held", [], kept))
    holding = held | {os.path.dirname(source) for source in held}  # files, and directories
    broken = [
        Broken(b.source, f"{b.reason}; its denies stay in force until it is fixed or removed")
        if b.source in holding
        else b
        for b in broken
    ]

    plans, notes = _assign(decoded)

    remove: set[str] = previous - plans.keys()
    to_apply: list[SourcePlan] = []
    retry: list[tuple[SourcePlan, frozenset[bytes]]] = []
    keep: dict[str, Applied] = {}
    for source, plan in sorted(plans.items()):
        record = applied.get(source)
        if source in held:  # neither removed nor applied: its rows stay as they are
            keep[source] = record or Applied(plan.fingerprint)
            continue
        if record is not None and record.fingerprint == plan.fingerprint:
            keep[source] = record
            if record.pending:
                retry.append((plan, record.pending))
            continue
        if source in previous:
            remove.add(source)
        to_apply.append(plan)
    return Plan(
        remove=tuple(sorted(remove)),
        apply=tuple(to_apply),
        retry=tuple(retry),
        keep=keep,
        broken=tuple(broken),
        notes=tuple(notes),
    )


def _assign(decoded: Sequence[_Decoded]) -> tuple[dict[str, SourcePlan], list[str]]:
    """Give each certificate row and each settings array to its winning file."""

    def rank(item: _Decoded) -> tuple[int, str]:
        return (_RANK[item.kind], item.source)

    cert_owner: dict[bytes, _Decoded] = {}
    settings_owner: dict[bytes, tuple[_Decoded, SettingsChange]] = {}
    pool: dict[bytes, Certificate] = {}
    notes: list[str] = []
    for item in sorted(decoded, key=rank):  # later wins: ascending order, overwrite
        for cert in item.certificates:
            cert_owner[cert.sha256] = item
            pool.setdefault(cert.sha1, cert)
        for change in item.settings:
            earlier = settings_owner.get(change.sha1)
            if earlier is not None and earlier[1].constraints != change.constraints:
                notes.append(
                    f"{earlier[0].source}: trust settings for {change.sha1.hex().upper()} "
                    f"are overridden by {item.source}"
                )
            settings_owner[change.sha1] = (item, change)

    plans: dict[str, SourcePlan] = {}
    for item in decoded:
        certificates = tuple(c for c in item.certificates if cert_owner[c.sha256] is item)
        settings = tuple(
            SettingsChange(c.sha1, c.constraints, c.certificate or pool.get(c.sha1))
            for c in item.settings
            if settings_owner[c.sha1][1] is c
        )
        plans[item.source] = SourcePlan(
            item.source,
            item.kind,
            _fingerprint(item, certificates, settings),
            certificates,
            settings,
        )
    return plans, notes


def _fingerprint(
    item: _Decoded, certificates: Iterable[Certificate], settings: Iterable[SettingsChange]
) -> str:
    digest = hashlib.sha256(f"{item.kind}\0{item.digest}\0".encode())
    for cert in certificates:
        digest.update(b"C" + cert.sha256)
    for change in settings:
        known = b"1" if change.certificate is not None else b"0"
        digest.update(b"S" + change.sha1 + known + repr(change.constraints).encode())
    return digest.hexdigest()


def _unique(certificates: Iterable[Certificate]) -> list[Certificate]:
    seen: dict[bytes, Certificate] = {}
    for cert in certificates:
        seen.setdefault(cert.sha256, cert)
    return list(seen.values())
