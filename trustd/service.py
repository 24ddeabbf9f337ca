"""The trust service: where the store and the evaluation core meet.

Everything the daemon does for a client goes through `TrustService`, which knows who is asking
(the uid from SO_PEERCRED, passed in by the API layer) and decides what they may do: evaluation
is open to every local user; the admin domain needs uid 0 or the configured admin group; a user's
own domain and exceptions belong to that uid alone (in the audit log too).  Changes wake
`Monitor` subscribers.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Collection, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from trustd.core.certificates import Certificate
from trustd.core.evaluate import Evaluator
from trustd.core.exceptions import ExceptionList
from trustd.core.policy import Policy
from trustd.core.request import EvaluationRequest
from trustd.core.results import TrustResult
from trustd.core.snapshot import Origin, Snapshot
from trustd.core.trust_settings import (
    Domain,
    TrustSettings,
    TrustSettingsEntry,
    Usage,
    UsageConstraint,
    anchor_domain,
    validate_for_storage,
)
from trustd.core.verdict import Verdict
from trustd.net.completion import (
    FetchOptions,
    Judged,
    complete,
    questions,
)
from trustd.net.fetcher import Fetcher
from trustd.public_suffixes import public_suffix_list
from trustd.store.models import ADMIN_UID
from trustd.store.repository import (
    Actor,
    AuditEntry,
    QuotaExceeded,
    StoredCertificate,
    StoredExceptions,
    TrustStore,
)

AUDIT_LIMIT = 1000  # audit rows answered when the caller names no limit
MAX_AUDIT_LIMIT = 10_000  # the most one AuditLog call answers
# What one user (not an administrator) may store: the database belongs to root, and no user may
# fill it.  Far above real use: a Mac's "Always Trust" writes 10 constraints per certificate.
MAX_USER_ENTRIES = 1000  # certificates with trust settings in a user domain
MAX_USER_CONSTRAINTS = 64  # usage constraints per certificate
MAX_USER_HOSTS = 1000  # host:port pairs with exceptions
MAX_USER_CERTIFICATES = 1000  # certificates in a user's own store (their login keychain)


class PermissionDenied(PermissionError):
    """The caller may not do this."""


class InvalidTrustSettings(ValueError):
    """Trust settings Apple's validateApiTrustSettings would refuse."""


class EvaluationFailed(RuntimeError):
    """An evaluation worker died or hung while it held the evaluation (it has been replaced)."""


def _owner(caller: Caller, domain: Domain) -> int | None:
    """Whose verdicts a change to the domain touches: the admin domain's, everyone's."""
    return caller.uid if domain is Domain.USER else None


def _check_constraints(count: int) -> None:
    if count > MAX_USER_CONSTRAINTS:
        raise QuotaExceeded("usage constraints per certificate", MAX_USER_CONSTRAINTS)


def _no_groups() -> frozenset[int]:
    return frozenset()


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is asking: from the socket's peer credentials, never from the request.

    `groups` gives the supplementary groups the client had when it connected (SO_PEERGROUPS),
    plus its primary group; only admin decisions ask.
    """

    uid: int
    pid: int | None
    groups: Callable[[], frozenset[int]] = _no_groups


@dataclass(frozen=True, slots=True)
class Asked:
    """An evaluation as asked: by whom, what, for which host and port (the caller's stored
    exceptions for it apply) and what the network may be asked (None: nothing)."""

    caller: Caller
    request: EvaluationRequest
    host: str | None = None
    port: int = 0
    fetch: FetchOptions | None = None


# What a verdict read of the stored state, and what a change touches: a cached verdict goes
# when a change touches one of its facts (trustd.core.verdict_cache).
EPOCH: Hashable = ("epoch",)


def certificate_fact(sha1: bytes) -> Hashable:
    """The certificate's trust settings and its presence in a store."""
    return ("certificate", sha1)


def subject_fact(subject_key: bytes) -> Hashable:
    """Which stored certificates have this subject (the issuers a path builder finds)."""
    return ("subject", subject_key)


def certificate_facts(cert: Certificate) -> frozenset[Hashable]:
    return frozenset({certificate_fact(cert.sha1), subject_fact(cert.subject_key)})


Listener = Callable[[Collection[Hashable] | None, int | None], object]


class RecordingSnapshot:
    """A Snapshot that notes the facts an evaluation reads (into `facts`).  Its verdicts are
    not cached by the Evaluator (no cache token): the caller caches them with their facts."""

    cache_token: Hashable | None = None

    def __init__(self, snapshot: Snapshot, facts: set[Hashable]) -> None:
        self._snapshot = snapshot
        self.facts = facts

    @property
    def exceptions_epoch(self) -> int:
        self.facts.add(EPOCH)
        return self._snapshot.exceptions_epoch

    def issuers_of(self, issuer_key: bytes) -> Iterable[tuple[Certificate, Origin]]:
        self.facts.add(subject_fact(issuer_key))
        found = list(self._snapshot.issuers_of(issuer_key))
        self.facts.update(certificate_fact(cert.sha1) for cert, _ in found)
        return found

    def trust_settings_for(self, certificate: Certificate) -> TrustSettings | None:
        self.facts.add(certificate_fact(certificate.sha1))
        return self._snapshot.trust_settings_for(certificate)

    def is_system_anchor(self, certificate: Certificate) -> bool:
        return self._snapshot.is_system_anchor(certificate)  # the bundle: a reload changes all


class TrustService:
    def __init__(
        self,
        store: TrustStore,
        evaluator: Evaluator | None = None,
        *,
        admin_group: int | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        fetcher: Fetcher | None = None,
    ) -> None:
        self.store = store
        self.evaluator = evaluator or Evaluator(public_suffixes=public_suffix_list())
        self.fetcher = fetcher
        self.admin_group = admin_group
        self.clock = clock
        self.started = time.monotonic()
        # told of every change: (facts touched or None for all, uid or None for everyone)
        self.listeners: list[Listener] = []
        self._changed = threading.Condition()
        self._closing = False

    # -- authorisation -------------------------------------------------------------------------

    def is_admin(self, caller: Caller) -> bool:
        return caller.uid == 0 or (
            self.admin_group is not None and self.admin_group in caller.groups()
        )

    def _require_domain(self, caller: Caller, domain: Domain) -> None:
        if domain is Domain.SYSTEM:
            raise PermissionDenied("the system domain is read-only")
        if domain is Domain.ADMIN and not self.is_admin(caller):
            raise PermissionDenied("changing the admin domain needs root or the admin group")

    def require_admin(self, caller: Caller, what: str) -> None:
        if not self.is_admin(caller):
            raise PermissionDenied(f"{what} needs root or the admin group")

    def actor(self, caller: Caller) -> Actor:
        return Actor(uid=caller.uid, pid=caller.pid)

    # -- evaluation ----------------------------------------------------------------------------

    def evaluate(
        self, caller: Caller, request: EvaluationRequest, host: str | None = None, port: int = 0
    ) -> Verdict:
        """Evaluate for the caller; with a host, the caller's stored exceptions for it apply."""
        return self.evaluate_with_window(Asked(caller, request, host, port))[0]

    def evaluate_with_window(
        self, asked: Asked, *, facts: set[Hashable] | None = None
    ) -> tuple[Verdict, datetime | None, datetime | None]:
        """evaluate(), and the moments [since, until) between which the verdict holds.

        With `asked.fetch`, what the verdict leaves open (a missing issuer, revocation asked
        for) is asked of the network or its cache, for this caller
        (trustd.net.completion.complete), and the chain judged again with the answers.  With
        `facts`, the stored facts the evaluation read are added to it.
        """
        snapshot, now = self._snapshot(asked.caller, facts), self.clock()
        request = self._with_stored_exceptions(asked)

        def judge(request: EvaluationRequest) -> Judged[Verdict]:
            return self._judge(request, asked.fetch, snapshot, now)

        fetcher = None if self.fetcher is None else self.fetcher.for_user(asked.caller.uid)
        return complete(judge, request, fetcher, asked.fetch, now)

    def judge(self, asked: Asked, *, facts: set[Hashable] | None = None) -> Judged[Verdict]:
        """One evaluation without the network (an evaluation worker's part): the verdict, its
        window and what it leaves for the network to answer (`facts`: as evaluate_with_window)."""
        snapshot, now = self._snapshot(asked.caller, facts), self.clock()
        return self._judge(self._with_stored_exceptions(asked), asked.fetch, snapshot, now)

    def _judge(
        self,
        request: EvaluationRequest,
        fetch: FetchOptions | None,
        snapshot: Snapshot,
        now: datetime,
    ) -> Judged[Verdict]:
        verdict, since, until = self.evaluator.evaluate_with_window(request, snapshot, now)
        return verdict, since, until, questions(verdict, fetch)

    def _snapshot(self, caller: Caller, facts: set[Hashable] | None) -> Snapshot:
        snapshot = self.store.snapshot(caller.uid)
        return snapshot if facts is None else RecordingSnapshot(snapshot, facts)

    def _with_stored_exceptions(self, asked: Asked) -> EvaluationRequest:
        request = asked.request
        if asked.host and request.exceptions is None:
            stored = self.store.exceptions_for(asked.caller.uid, asked.host, asked.port)
            if stored is not None:
                return dataclasses.replace(request, exceptions=stored)
        return request

    # -- certificates --------------------------------------------------------------------------

    def add_certificates(
        self, caller: Caller, certificates: Sequence[Certificate], domain: Domain = Domain.ADMIN
    ) -> list[tuple[Certificate, bool]]:
        """The admin domain's store (System.keychain) serves everyone's path building: admin
        only.  The user domain's is the caller's own (their login keychain)."""
        owner = self._certificate_owner(caller, domain, "adding certificates to")
        added = self.store.add_certificates(
            certificates,
            source="api" if owner == ADMIN_UID else "user",
            actor=self.actor(caller),
            uid=owner,
            max_count=MAX_USER_CERTIFICATES if self._limited(caller) else None,
        )
        facts = frozenset().union(*(certificate_facts(cert) for cert, _ in added))
        self._notify(facts, None if owner == ADMIN_UID else owner)
        return added

    def find_certificates(self, caller: Caller, **criteria: object) -> list[StoredCertificate]:
        """The shared store's certificates and the caller's own."""
        return self.store.find_certificates(uid=caller.uid, **criteria)  # type: ignore[arg-type]

    def delete_certificate(
        self, caller: Caller, sha1: bytes, domain: Domain = Domain.ADMIN
    ) -> None:
        owner = self._certificate_owner(caller, domain, "deleting certificates from")
        self.store.delete_certificate(sha1, actor=self.actor(caller), uid=owner)
        self._notify({certificate_fact(sha1)}, None if owner == ADMIN_UID else owner)

    def _certificate_owner(self, caller: Caller, domain: Domain, what: str) -> int:
        """Whose certificates a change is to: the shared store's (admin) or the caller's."""
        if domain is Domain.USER:
            return caller.uid
        if domain is Domain.SYSTEM:
            raise PermissionDenied("the system domain is read-only")
        self.require_admin(caller, f"{what} the shared store")
        return ADMIN_UID

    # -- trust settings ------------------------------------------------------------------------

    def set_trust_settings(
        self,
        caller: Caller,
        domain: Domain,
        certificate: Certificate,
        constraints: Sequence[UsageConstraint],
    ) -> None:
        self._require_domain(caller, domain)
        self_signed = self.evaluator.is_self_signed(certificate)
        problem = validate_for_storage(tuple(constraints), self_signed)
        if problem:
            raise InvalidTrustSettings(problem)
        if domain is Domain.ADMIN:
            # An admin-trusted certificate must be available to path building for everyone.
            self.store.add_certificate(certificate, source="api", actor=self.actor(caller))
        limited = self._limited(caller)
        if limited:
            _check_constraints(len(constraints))
        self.store.set_trust_settings(
            domain,
            caller.uid,
            certificate,
            constraints,
            actor=self.actor(caller),
            max_entries=MAX_USER_ENTRIES if limited else None,
        )
        self._notify(certificate_facts(certificate), _owner(caller, domain))

    def _limited(self, caller: Caller) -> bool:
        """Whether the caller's changes count against a user's limits (administrators' don't)."""
        return not self.is_admin(caller)

    def remove_trust_settings(self, caller: Caller, domain: Domain, sha1: bytes) -> None:
        self._require_domain(caller, domain)
        self.store.remove_trust_settings(domain, caller.uid, sha1, actor=self.actor(caller))
        self._notify({certificate_fact(sha1)}, _owner(caller, domain))

    def trust_settings(
        self, caller: Caller, domain: Domain
    ) -> list[tuple[TrustSettingsEntry, Certificate | None]]:
        """Reading: the admin domain is readable by all, a user domain by its owner only."""
        if domain is Domain.SYSTEM:
            return self._system_entries()
        return self.store.trust_settings(domain, caller.uid)

    def export_trust_settings(self, caller: Caller, domain: Domain) -> list[TrustSettingsEntry]:
        if domain is Domain.SYSTEM:
            return [entry for entry, _ in self._system_entries()]
        return self.store.export_domain(domain, caller.uid)

    def _system_entries(self) -> list[tuple[TrustSettingsEntry, Certificate | None]]:
        """The system domain as Apple shows it: each system anchor, unrestricted (no usage
        constraints), dated by the bundle; anchors whose basic evaluation is fatal are left
        out, as SecTrustSettingsCopyCertificates does for the system domain."""
        system = self.store.system
        if system is None:
            return []
        snapshot, now = self.store.snapshot(ADMIN_UID), self.clock()
        entries = []
        for cert in system.all():
            verdict = self.evaluator.evaluate(EvaluationRequest((cert.der,)), snapshot, now)
            if verdict.result is TrustResult.FATAL_TRUST_FAILURE:
                continue
            entry = TrustSettingsEntry(
                cert.sha1.hex().upper(), cert.issuer_der, cert.parts.serial, system.modified
            )
            entries.append((entry, cert))
        return sorted(entries, key=lambda pair: pair[0].key)

    def anchors(self, caller: Caller, policy: Policy) -> list[tuple[Certificate, Domain]]:
        """Every certificate that ends paths as an anchor for this policy, for this caller:
        system anchors nobody denied, and admin or user certificates trusted as roots.  The
        answer `trustctl export-bundle` writes for programs that only read files."""
        snapshot = self.store.snapshot(caller.uid)
        usage = Usage(policy, is_leaf=False)
        system = self.store.system
        candidates = {cert.sha256: cert for cert in ([] if system is None else system.all())}
        for domain in (Domain.USER, Domain.ADMIN):
            for _, cert in self.store.trust_settings(domain, caller.uid):
                if cert is not None:
                    candidates[cert.sha256] = cert
        found = []
        for cert in candidates.values():
            origin = anchor_domain(
                snapshot.trust_settings_for(cert),
                usage,
                self_signed=self.evaluator.is_self_signed(cert),
                system_anchor=snapshot.is_system_anchor(cert),
            )
            if origin is not None:
                found.append((cert, origin))
        return sorted(found, key=lambda pair: pair[0].subject_summary.casefold())

    def import_trust_settings(
        self, caller: Caller, domain: Domain, entries: Sequence[TrustSettingsEntry]
    ) -> None:
        """Replace the whole domain, as Apple's trust-settings-import does (no merge)."""
        self._require_domain(caller, domain)
        if self._limited(caller):
            if len(entries) > MAX_USER_ENTRIES:
                raise QuotaExceeded("certificates with trust settings", MAX_USER_ENTRIES)
            for entry in entries:
                _check_constraints(len(entry.constraints))
        self.store.import_domain(domain, caller.uid, entries, actor=self.actor(caller))
        self._notify(None, _owner(caller, domain))  # the whole domain was replaced

    # -- exceptions ----------------------------------------------------------------------------

    def set_exceptions(
        self, caller: Caller, host: str, port: int, exceptions: ExceptionList
    ) -> None:
        self.store.set_exceptions(
            caller.uid,
            host,
            port,
            exceptions,
            actor=self.actor(caller),
            max_hosts=MAX_USER_HOSTS if self._limited(caller) else None,
        )
        self._notify(None, caller.uid)  # exceptions are the caller's alone

    def list_exceptions(self, caller: Caller) -> list[StoredExceptions]:
        return self.store.list_exceptions(caller.uid)

    def remove_exceptions(self, caller: Caller, host: str, port: int) -> None:
        self.store.remove_exceptions(caller.uid, host, port, actor=self.actor(caller))
        self._notify(None, caller.uid)

    def reset_exceptions(self, caller: Caller) -> int:
        epoch = self.store.reset_exceptions(caller.uid, actor=self.actor(caller))
        self._notify(None, caller.uid)
        return epoch

    # -- the audit log -------------------------------------------------------------------------

    def audit_log(
        self,
        caller: Caller,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        domain: Domain | None = None,
        obj: str | None = None,
        limit: int = AUDIT_LIMIT,
    ) -> list[AuditEntry]:
        """Audit rows, newest first, as the caller may read them.

        Administrators (uid 0, the admin group) read every row.  Other users read their own
        changes and the changes of what everyone shares (the admin domain, the certificate
        store, drop-in files); another user's own trust settings and exceptions stay private,
        as reading them (CopyTrustSettings, ListExceptions) is.
        """
        return self.store.audit_entries(
            since=since,
            until=until,
            obj=obj,
            domain=domain,
            limit=limit,
            visible_to=None if self.is_admin(caller) else caller.uid,
        )

    # -- changes -------------------------------------------------------------------------------

    def changed(self) -> None:
        """Something outside the API (drop-ins, a reload) changed trust state: all of it."""
        self._notify(None, None)

    def _notify(self, facts: Collection[Hashable] | None, owner: int | None) -> None:
        """After a change: what it touched (None: anything) for whom (None: everyone)."""
        for listener in self.listeners:
            listener(facts, owner)
        with self._changed:
            self._changed.notify_all()

    def watch(self, poll: float = 1.0) -> Iterator[int]:
        """Yield the store generation now and after every change, until close()."""
        seen = self.store.generation
        yield seen
        while True:
            with self._changed:
                self._changed.wait_for(
                    lambda last=seen: self._closing or self.store.generation != last,  # type: ignore[misc]
                    timeout=poll,
                )
                if self._closing:
                    return
            if self.store.generation != seen:
                seen = self.store.generation
                yield seen

    def close(self) -> None:
        with self._changed:
            self._closing = True
            self._changed.notify_all()

    @property
    def uptime(self) -> float:
        return time.monotonic() - self.started
