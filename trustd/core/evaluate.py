"""evaluate(): the one entry point of the evaluation core.

Pure: the caller supplies the moment, the stored state (a Snapshot) and optionally the signature
verifier; nothing here reads a clock, a disk, a database or the network, or logs.  An
`Evaluator` keeps two bounded caches that make repeated evaluations cheap (parsed certificates
by DER, verified signatures by key and certificate); the module-level `evaluate` uses a shared
one.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import defaultdict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from trustd.core.budget import MAX_INTERMEDIATES, Budget, BudgetExhausted, BudgetUse
from trustd.core.build import AnchorMark, Judged, PathBuilder
from trustd.core.certificate_policies import PolicyInputs
from trustd.core.certificates import Certificate, MalformedCertificate, parse_certificate
from trustd.core.checks import PathFacts, judge_path
from trustd.core.crl import MAX_SIGNER_DEPTH, RevocationEvidence, parse_crl
from trustd.core.exceptions import ExceptionList, exceptions_for
from trustd.core.lru import LRU
from trustd.core.names import PublicSuffixTest, never_public
from trustd.core.ocsp import parse_response
from trustd.core.policy import Policy
from trustd.core.request import EvaluationRequest
from trustd.core.results import ALLOWED_ERROR_CHECKS, CheckName, Severity, TrustResult
from trustd.core.signatures import CachingVerifier, SignatureVerifier
from trustd.core.snapshot import Origin, Snapshot
from trustd.core.trust_settings import (
    Decision,
    Domain,
    TrustSettings,
    Usage,
    allowed_errors,
    decide,
)
from trustd.core.verdict import AppliedSetting, Attempt, Failure, Rescue, Verdict
from trustd.core.verdict_cache import VerdictCache

Windowed = tuple[Verdict, datetime | None, datetime | None]  # a verdict and when it holds

_Parsed = TypeVar("_Parsed")

_ANCHOR_ORIGINS = (Origin.CALLER_ANCHOR, Origin.SYSTEM, Origin.ADMIN, Origin.USER)
_DOMAIN_ORIGIN = {Domain.ADMIN: Origin.ADMIN, Domain.USER: Origin.USER}


class ParseCache:
    """Bounded LRU of parsed certificates keyed by the SHA-256 of their bytes."""

    def __init__(self, size: int = 20_000) -> None:
        self._items: LRU[bytes, Certificate] = LRU(size)

    def parse(self, data: bytes) -> Certificate:
        digest = hashlib.sha256(data).digest()
        return self._items.get_or_compute(digest, lambda: parse_certificate(data, digest))


@dataclass(slots=True)
class _Outcome:
    failures: list[Failure]
    settings: list[AppliedSetting]
    exceptions_applied: bool
    result: TrustResult


class Evaluator:
    """Evaluates requests; holds the verifier and the parse cache shared across requests."""

    def __init__(
        self,
        verifier: SignatureVerifier | None = None,
        cache_size: int = 20_000,
        public_suffixes: PublicSuffixTest = never_public,
    ) -> None:
        self.verifier: SignatureVerifier = verifier or CachingVerifier(cache_size)
        self.certificates = ParseCache(cache_size)
        self._verdicts: VerdictCache[Hashable, Windowed] = VerdictCache(cache_size // 4)
        self._public_suffixes = public_suffixes

    def is_public_suffix(self, domain: str) -> bool:
        """Whether `domain` is a public suffix, by the test the caller handed in.

        The core holds no list of its own: the service and the conformance harnesses hand in
        `trustd.public_suffixes`; without one, no domain counts as a public suffix.
        """
        return self._public_suffixes(domain)

    def is_self_signed(self, cert: Certificate) -> bool:
        """Self-issued and signed by its own key (the signature check is cached)."""
        return cert.is_self_issued and self.verifier.verify(cert, cert)

    def parse(self, data: bytes) -> Certificate | None:
        try:
            return self.certificates.parse(data)
        except MalformedCertificate:
            return None

    def evaluate(self, request: EvaluationRequest, snapshot: Snapshot, now: datetime) -> Verdict:
        """Evaluate, or answer from the verdict cache.

        A verdict is reused only for the same request against the same stored state (the
        snapshot's cache_token) at a moment on the same side of every validity boundary the
        evaluation looked at, like Apple's client reusing a result between TrustResultNotBefore
        and TrustResultNotAfter.
        """
        return self.evaluate_with_window(request, snapshot, now)[0]

    def evaluate_with_window(
        self, request: EvaluationRequest, snapshot: Snapshot, now: datetime
    ) -> tuple[Verdict, datetime | None, datetime | None]:
        """evaluate(), and the moments [since, until) between which the verdict holds."""
        token = snapshot.cache_token
        # A digest, not the request: a cached verdict must not pin megabytes of certificates.
        key = None if token is None else (token, digest_of(request_key(request)))
        moment = _moment(request, now)
        if key is not None:
            cached = self._verdicts.get(key, moment)
            if cached is not None:
                return cached
        evaluation = _Evaluation(self, request, snapshot, moment)
        verdict = evaluation.run()
        since, until = evaluation.window()
        if key is not None:
            self._verdicts.put(key, (verdict, since, until), (since, until))
        return verdict, since, until


def _moment(request: EvaluationRequest, now: datetime) -> datetime:
    """The verification moment, in whole seconds (RFC 5280 4.1.2.5 times have no fractions)."""
    moment = (request.verify_date or now).replace(microsecond=0)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def request_key(request: EvaluationRequest) -> Hashable:
    """Everything about a request its verdict depends on, as a hashable value.

    Every field counts (derived from the dataclass, so a new field cannot be forgotten); the
    exceptions, which hold dictionaries, count by their representation.
    """
    return tuple(
        repr(value) if field.name == "exceptions" else value
        for field in dataclasses.fields(request)
        for value in (getattr(request, field.name),)
    )


def digest_of(key: Hashable) -> bytes:
    """The SHA-256 of a request key: a small cache key in its place.

    Bytes (the certificates, most of a request) are hashed as they are, tuples item by item,
    anything else by its representation; each part is tagged and length-prefixed, so that
    different keys never feed the same stream. Hashing the bytes directly instead of their
    representation costs a fraction (repr escapes every byte of a certificate).
    """
    digest = hashlib.sha256()
    _feed(digest.update, key)
    return digest.digest()


def _feed(update: Callable[[bytes], object], value: object) -> None:
    if isinstance(value, bytes):
        update(b"b%d:" % len(value))
        update(value)
    elif type(value) is tuple:
        update(b"t%d:" % len(value))
        for item in value:
            _feed(update, item)
    else:
        text = repr(value).encode()
        update(b"r%d:" % len(text))
        update(text)


def _parsed(
    parse: Callable[[bytes], _Parsed | None], items: Sequence[bytes]
) -> tuple[_Parsed, ...]:
    """What parses of `items` (evidence that does not parse is no evidence)."""
    return tuple(found for found in map(parse, items) if found is not None)


class _Evaluation:
    """The state of one evaluate() call."""

    def __init__(
        self,
        evaluator: Evaluator,
        request: EvaluationRequest,
        snapshot: Snapshot,
        moment: datetime,
        *,
        crl_signers_checked: frozenset[bytes] = frozenset(),
        budget: Budget | None = None,
    ) -> None:
        self.evaluator = evaluator
        self.request = request
        self.snapshot = snapshot
        self.moment = moment
        self.seen: dict[bytes, Certificate] = {}  # every certificate whose dates were read
        self.budget = budget or Budget()  # CRL signer paths spend their evaluation's budget
        self.start = Budget()
        self.policies = request.policies or (Policy(),)
        self.policy_inputs = PolicyInputs(
            request.initial_policy_set,
            request.initial_explicit_policy,
            request.initial_policy_mapping_inhibit,
            request.initial_any_policy_inhibit,
        )
        self.anchors = self._parse_all(request.anchors)
        self.anchor_set = {c.der for c in self.anchors}
        self.revocation = RevocationEvidence(
            crls=_parsed(parse_crl, request.crls),
            fetched_crls=_parsed(parse_crl, request.fetched_crls),
            ocsp=_parsed(parse_response, request.ocsp_responses),
            required=request.require_revocation,
            signers=self,
        )
        # CRL signers whose paths are being validated by the evaluations that started this one.
        self.crl_signers_checked = crl_signers_checked
        self._crl_signer_paths: dict[tuple[bytes, bytes], bool] = {}
        self._settings_cache: dict[bytes, TrustSettings | None] = {}
        self._self_signed: dict[bytes, bool] = {}

    def _parse_all(self, items: Sequence[bytes]) -> list[Certificate]:
        parsed: list[Certificate] = []
        for data in items:
            cert = self.evaluator.parse(data)
            if cert is not None and cert not in parsed:
                parsed.append(cert)
                self.seen[cert.sha256] = cert
        return parsed

    def window(self) -> tuple[datetime | None, datetime | None]:
        """The moments between which this evaluation's answer cannot change: [since, until).

        Evaluation reads time only through certificate validity and CRL update times, so the
        answer is the same anywhere between two consecutive such boundaries.
        """
        second = timedelta(seconds=1)
        bounds = [b for c in self.seen.values() for b in (c.not_before, c.not_after + second)]
        bounds.extend(self.revocation.bounds())
        since = max((b for b in bounds if b <= self.moment), default=None)
        until = min((b for b in bounds if b > self.moment), default=None)
        return since, until

    # -- questions the builder asks ------------------------------------------------------------

    def settings_for(self, cert: Certificate) -> TrustSettings | None:
        if cert.sha256 not in self._settings_cache:
            self._settings_cache[cert.sha256] = self.snapshot.trust_settings_for(cert)
        return self._settings_cache[cert.sha256]

    def is_self_signed(self, cert: Certificate) -> bool:
        if cert.sha256 not in self._self_signed:
            self._self_signed[cert.sha256] = self.evaluator.is_self_signed(cert)
        return self._self_signed[cert.sha256]

    def usage(self, index: int, policy_index: int = 0) -> Usage:
        return Usage(self.policies[policy_index], index == 0, self.request.application)

    def anchor_of(self, cert: Certificate, index: int) -> AnchorMark | None:
        settings = self.settings_for(cert)
        decision = Decision.NONE
        constraint: int | None = None
        if settings is not None:
            self_signed = self.is_self_signed(cert)
            for policy_index in range(len(self.policies)):
                found, at = decide(settings, self.usage(index, policy_index), self_signed)
                if found is Decision.DENY:
                    origin = _DOMAIN_ORIGIN.get(settings.domain, Origin.ADMIN)
                    applied = AppliedSetting(index, settings.domain, at, "deny")
                    return AnchorMark(origin, deny=True, setting=applied)
                if policy_index == 0:
                    decision, constraint = found, at
        if cert.der in self.anchor_set:
            return AnchorMark(Origin.CALLER_ANCHOR)
        if self.request.anchors_only:
            return None
        if settings is not None and decision is Decision.ANCHOR:
            applied = AppliedSetting(index, settings.domain, constraint, "anchor")
            return AnchorMark(_DOMAIN_ORIGIN.get(settings.domain, Origin.ADMIN), setting=applied)
        if self.snapshot.is_system_anchor(cert):
            return AnchorMark(Origin.SYSTEM)
        return None

    def consulted(self, cert: Certificate, index: int) -> AppliedSetting | None:
        """For explanations: what the certificate's trust settings say at this position for
        the first policy (None: it has none)."""
        settings = self.settings_for(cert)
        if settings is None:
            return None
        decision, at = decide(settings, self.usage(index), self.is_self_signed(cert))
        if decision is Decision.NONE:
            effect = "noMatch" if at is None else "noDecision"
        else:
            effect = decision.value
        return AppliedSetting(index, settings.domain, at, effect)

    def issuers_of(self, head: Certificate) -> list[tuple[Certificate, Origin]]:
        found: dict[bytes, tuple[Certificate, Origin]] = {}
        for cert in self.anchors_by_subject.get(head.issuer_key, ()):
            found.setdefault(cert.der, (cert, Origin.CALLER_ANCHOR))
        for cert in self.request_by_subject.get(head.issuer_key, ()):
            found.setdefault(cert.der, (cert, Origin.REQUEST))
        for cert in self.fetched_by_subject.get(head.issuer_key, ()):
            found.setdefault(cert.der, (cert, Origin.NETWORK))
        for cert, origin in self.snapshot.issuers_of(head.issuer_key):
            found.setdefault(cert.der, (cert, origin))
        for cert, _ in found.values():
            self.seen[cert.sha256] = cert
        if len(found) < 2:
            return list(found.values())  # nothing to order
        aki = head.authority_key_id

        def preference(item: tuple[Certificate, Origin]) -> tuple[int, int, int, int]:
            cert, origin = item
            ski = cert.subject_key_identifier
            linkage = 1 if aki is None or ski is None else (0 if aki == ski else 2)
            anchorish = origin in _ANCHOR_ORIGINS
            return (
                linkage,
                0 if anchorish or self.issuer_is_known(cert) else 1,
                0 if cert.valid_at(self.moment) else 1,
                0 if anchorish else 1,
            )

        return sorted(found.values(), key=preference)

    def issuer_is_known(self, cert: Certificate) -> bool:
        """One step of look-ahead: some certificate we know could have issued `cert`."""
        key = cert.issuer_key
        if cert.is_self_issued:
            return False
        return (
            key in self.anchors_by_subject
            or key in self.request_by_subject
            or any(True for _ in self.snapshot.issuers_of(key))
        )

    # -- CRL signers (RFC 5280 6.3.3 (f)) -----------------------------------------------------

    def crl_signer_candidates(self, issuer_key: bytes) -> list[Certificate]:
        found: dict[bytes, Certificate] = {}
        for by_subject in (
            self.anchors_by_subject,
            self.request_by_subject,
            self.fetched_by_subject,
        ):
            for cert in by_subject.get(issuer_key, ()):
                found.setdefault(cert.der, cert)
        for cert, _ in self.snapshot.issuers_of(issuer_key):
            found.setdefault(cert.der, cert)
        return list(found.values())

    def crl_signer_valid(self, signer: Certificate, anchor: Certificate) -> bool:
        """Whether `signer` has a valid path to the same anchor, revocation included.

        A signer whose own path is already being validated further up (a CRL key that vouches
        for its own certificate, as after a key rollover) counts as valid here: the evaluation
        that validates it decides.
        """
        if signer.der == anchor.der or signer.sha256 in self.crl_signers_checked:
            return True
        if len(self.crl_signers_checked) >= MAX_SIGNER_DEPTH:
            return False
        key = (signer.sha256, anchor.sha256)
        if key not in self._crl_signer_paths:
            request = EvaluationRequest(
                certificates=(signer.der, *self.request.certificates),
                verify_date=self.moment,
                anchors=(anchor.der,),
                anchors_only=True,
                crls=self.request.crls,
                require_revocation=self.request.require_revocation,
                fetched_certificates=self.request.fetched_certificates,
                fetched_crls=self.request.fetched_crls,
                ocsp_responses=self.request.ocsp_responses,
            )
            checked = self.crl_signers_checked | {signer.sha256}
            sub = _Evaluation(
                self.evaluator,
                request,
                self.snapshot,
                self.moment,
                crl_signers_checked=checked,
                budget=self.budget,
            )
            self._crl_signer_paths[key] = sub.run().trusted
            self.seen.update(sub.seen)
        return self._crl_signer_paths[key]

    # -- judging a complete path ---------------------------------------------------------------

    def judge(
        self, path: tuple[Certificate, ...], origins: tuple[Origin, ...], anchor: AnchorMark | None
    ) -> Judged:
        facts = PathFacts(
            path=path,
            anchored=anchor is not None,
            anchor_origin=None if anchor is None else anchor.origin,
            leaf_anchored_by_settings=(
                len(path) == 1
                and anchor is not None
                and anchor.origin in (Origin.ADMIN, Origin.USER)
            ),
            moment=self.moment,
            policies=self.policies,
            revocation=self.revocation,
            max_intermediates=self.request.max_intermediates,
            is_public_suffix=self.evaluator.is_public_suffix,
            policy_inputs=self.policy_inputs,
        )
        failures = judge_path(facts, self.budget)
        settings: list[AppliedSetting] = []
        if anchor is not None and anchor.setting is not None:
            settings.append(anchor.setting)
        if anchor is not None and anchor.deny:
            failures.append(
                Failure(len(path) - 1, CheckName.UsageConstraints, detail="trust settings deny")
            )
        outcome = self._rescue(path, failures, settings, anchor)
        counted = [f for f in outcome.failures if f.rescued_by is None]
        score = (
            0 if outcome.result.trusted else 1,
            0 if anchor is not None else 1,
            sum(1 for f in counted if f.severity is Severity.FATAL),
            len(counted),
            len(path),
        )
        return Judged(
            path,
            origins,
            anchor,
            outcome.result.trusted,
            score,
            outcome,
            result=outcome.result,
            failures=tuple(outcome.failures),
        )

    def _rescue(
        self,
        path: tuple[Certificate, ...],
        failures: list[Failure],
        settings: list[AppliedSetting],
        anchor: AnchorMark | None,
    ) -> _Outcome:
        """Apply allowed errors, then exceptions, and decide the result (reference 3.2, 5)."""
        exceptions = self.request.exceptions
        usable = exceptions is not None and exceptions.usable_for(
            path[0].sha1, self.snapshot.exceptions_epoch
        )
        rescued_any = False
        excepted = False
        result_failures: list[Failure] = []
        for failure in failures:
            if failure.severity is not Severity.RECOVERABLE:
                result_failures.append(failure)
                continue
            rescue = None
            code = self._allowing_error(path[failure.index], failure)
            if code is not None:
                rescue = Rescue.ALLOWED_ERROR
                applied = AppliedSetting(failure.index, code[0], None, "allowedError")
                if applied not in settings:
                    settings.append(applied)
            elif (
                usable
                and exceptions is not None
                and exceptions.covers(
                    failure.index, path[failure.index].sha1, failure.check, failure.value
                )
            ):
                rescue = Rescue.EXCEPTION
                excepted = True
            if rescue is not None:
                rescued_any = True
                result_failures.append(dataclasses.replace(failure, rescued_by=rescue))
            else:
                result_failures.append(failure)
        counted = [f for f in result_failures if f.rescued_by is None]
        if any(f.severity is Severity.FATAL for f in counted):
            result = TrustResult.FATAL_TRUST_FAILURE
        elif any(f.severity is Severity.DENY for f in counted):
            result = TrustResult.DENY
        elif counted:
            result = TrustResult.RECOVERABLE_TRUST_FAILURE
        elif rescued_any or (anchor is not None and anchor.origin in (Origin.ADMIN, Origin.USER)):
            result = TrustResult.PROCEED
        else:
            result = TrustResult.UNSPECIFIED
        return _Outcome(result_failures, settings, excepted, result)

    def _allowing_error(self, cert: Certificate, failure: Failure) -> tuple[Domain, int] | None:
        settings = self.settings_for(cert)
        if settings is None:
            return None
        for policy_index in range(len(self.policies)):
            for code in allowed_errors(settings, self.usage(failure.index, policy_index)):
                if failure.check in ALLOWED_ERROR_CHECKS.get(code, ()):
                    return settings.domain, code
        return None

    # -- the whole evaluation ------------------------------------------------------------------

    def run(self) -> Verdict:
        request = self.request
        leaf = self.evaluator.parse(request.certificates[0]) if request.certificates else None
        if leaf is None:
            return self._malformed()
        self.seen[leaf.sha256] = leaf
        others = [c for c in self._parse_all(request.certificates[1:]) if c != leaf]
        self.request_by_subject: dict[bytes, list[Certificate]] = defaultdict(list)
        for cert in others:
            self.request_by_subject[cert.subject_key].append(cert)
        self.fetched_by_subject: dict[bytes, list[Certificate]] = defaultdict(list)
        for cert in self._parse_all(request.fetched_certificates):
            self.fetched_by_subject[cert.subject_key].append(cert)
        self.anchors_by_subject: dict[bytes, list[Certificate]] = defaultdict(list)
        for cert in self.anchors:
            self.anchors_by_subject[cert.subject_key].append(cert)
        builder = PathBuilder(
            issuers=self.issuers_of,
            anchor_of=self.anchor_of,
            judge=self.judge,
            verifier=self.evaluator.verifier,
            budget=self.budget,
            max_intermediates=(
                MAX_INTERMEDIATES
                if request.max_intermediates is None
                else request.max_intermediates
            ),
            record=request.record_paths,
            consulted=self.consulted,
        )
        origin = Origin.CALLER_ANCHOR if leaf.der in self.anchor_set else Origin.REQUEST
        try:
            best = builder.build(leaf, origin)
        except BudgetExhausted as exhausted:
            return self._exhausted(builder.best, leaf, exhausted, builder)
        assert best is not None  # the leaf alone is always judged
        return self._verdict(best, builder)

    def _verdict(self, best: Judged, builder: PathBuilder) -> Verdict:
        outcome = best.payload
        assert isinstance(outcome, _Outcome)
        return Verdict(
            result=outcome.result,
            chain=best.path,
            anchor_origin=None if best.anchor is None or best.anchor.deny else best.anchor.origin,
            failures=tuple(outcome.failures),
            trust_settings=tuple(outcome.settings),
            exceptions_applied=outcome.exceptions_applied,
            exceptions=self._exceptions_for(best.path, outcome.failures),
            budget=BudgetUse.spent(self.start, self.budget),
            attempts=tuple(builder.attempts) if self.request.record_paths else None,
            exceptions_usable=self._exceptions_usable(best.path[0]),
        )

    def _exceptions_usable(self, leaf: Certificate) -> bool | None:
        """Whether the exceptions offered apply to this leaf now (None: none were offered)."""
        exceptions = self.request.exceptions
        if exceptions is None:
            return None
        return exceptions.usable_for(leaf.sha1, self.snapshot.exceptions_epoch)

    def _exceptions_for(
        self, chain: Sequence[Certificate], failures: Sequence[Failure]
    ) -> ExceptionList:
        per_position: list[dict[str, object]] = [{} for _ in chain]
        for failure in failures:
            if failure.rescued_by is not Rescue.ALLOWED_ERROR:
                per_position[failure.index][failure.check.value] = failure.value
        return exceptions_for([c.sha1 for c in chain], per_position, self.snapshot.exceptions_epoch)

    def _malformed(self) -> Verdict:
        return self._fatal(
            Failure(
                0, CheckName.MalformedCertificate, detail="the leaf is not a valid certificate"
            ),
            (),
        )

    def _exhausted(
        self,
        best: Judged | None,
        leaf: Certificate,
        exhausted: BudgetExhausted,
        builder: PathBuilder,
    ) -> Verdict:
        return self._fatal(
            Failure(0, CheckName.BudgetExhausted, value=exhausted.which, detail=str(exhausted)),
            best.path if best is not None else (leaf,),
            tuple(builder.attempts) if self.request.record_paths else None,
        )

    def _fatal(
        self,
        failure: Failure,
        chain: tuple[Certificate, ...],
        attempts: tuple[Attempt, ...] | None = None,
    ) -> Verdict:
        """A verdict decided before any path could be judged."""
        return Verdict(
            result=TrustResult.FATAL_TRUST_FAILURE,
            chain=chain,
            anchor_origin=None,
            failures=(failure,),
            trust_settings=(),
            exceptions_applied=False,
            exceptions=ExceptionList(),
            budget=BudgetUse.spent(self.start, self.budget),
            attempts=attempts,
        )


_DEFAULT_EVALUATOR = Evaluator()


def evaluate(
    request: EvaluationRequest,
    snapshot: Snapshot,
    now: datetime,
    *,
    evaluator: Evaluator | None = None,
) -> Verdict:
    """Evaluate `request` against `snapshot` at `now` (or the request's verify date)."""
    return (evaluator or _DEFAULT_EVALUATOR).evaluate(request, snapshot, now)
