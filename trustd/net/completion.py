"""Completing an evaluation from the network: the core says what it could not decide, the
network answers, and the core judges again with the answers added to the request.

- A path that ends at a certificate whose issuer is unknown (MissingIntermediate) asks for that
  certificate's caIssuers (AIA); each round can add one level.
- When a revocation method is asked for, each certificate below the anchor is asked about:
  OCSP first (`ocsp`), CRL distribution points (`crl`, and for certificates without an OCSP
  responder).  The core believes or ignores the answers (soft fail) unless a positive answer is
  required.

The network is on by default unless a policy forbids it (basic and EAP, as Apple's
NoNetworkAccess); asking for revocation other than `offline` turns it on.  `offline` uses cached
answers alone; `online` asks even when a cached answer is fresh.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TypeVar

from trustd.core.certificates import parse_certificate
from trustd.core.policy import Policy, PolicyKind
from trustd.core.request import EvaluationRequest
from trustd.core.verdict import Verdict
from trustd.net.fetcher import Fetcher, Mode

DEFAULT_MODE = Mode()  # cached answers while fresh, else the network
MAX_ROUNDS = 4  # AIA levels chased for one evaluation, plus the revocation round
NETWORK_ANSWER_TTL = timedelta(minutes=5)  # how long a verdict that used the network is reused
_NO_NETWORK_POLICIES = frozenset({PolicyKind.BASIC, PolicyKind.EAP})
REVOCATION_OPTIONS = ("ocsp", "crl", "require", "offline", "online")


class Method(StrEnum):
    OCSP = "ocsp"
    CRL = "crl"


@dataclass(frozen=True, slots=True)
class FetchOptions:
    """What an evaluation may ask the network (or its cache) for."""

    network: bool = False
    revocation: frozenset[Method] = frozenset()
    mode: Mode = DEFAULT_MODE

    @property
    def active(self) -> bool:
        return self.network or bool(self.revocation)


def fetch_options(
    policies: Sequence[Policy], network: bool | None, revocation: Iterable[str]
) -> tuple[FetchOptions, bool]:
    """Options for a request, and whether a positive revocation answer is required.

    `revocation` holds `verify-cert -R` words: ocsp, crl, require, offline, online."""
    words = set(revocation)
    unknown = words - set(REVOCATION_OPTIONS)
    if unknown:
        raise ValueError(f"unknown revocation option {sorted(unknown)[0]!r}")
    methods = frozenset(Method(w) for w in words & {"ocsp", "crl"})
    if words and not methods:
        methods = frozenset({Method.OCSP})
    mode = Mode(offline="offline" in words, online="online" in words)
    if network is None:
        network = not any(p.kind in _NO_NETWORK_POLICIES for p in policies) or bool(
            methods and not mode.offline
        )
    if not network:
        mode = Mode(offline=True)  # no network: what is cached may still be used
    return FetchOptions(network, methods, mode), "require" in words


@dataclass(frozen=True, slots=True)
class Completion:
    """What the network added to a request; `unanswered` when a question went unanswered
    (so the verdict must not be reused: the next attempt may get an answer)."""

    request: EvaluationRequest | None
    unanswered: bool


@dataclass(frozen=True, slots=True)
class Questions:
    """What a verdict leaves for the network to answer, as DER: it crosses from the evaluation
    workers, which never fetch, to the daemon, which does.

    `issuer_of`: the certificate whose issuer is missing (its caIssuers are asked);
    `revocation`: (certificate, issuer) pairs below the anchor whose status is asked."""

    issuer_of: bytes | None = None
    revocation: tuple[tuple[bytes, bytes], ...] = ()

    def __bool__(self) -> bool:
        return self.issuer_of is not None or bool(self.revocation)


def questions(verdict: Verdict, options: FetchOptions | None) -> Questions:
    """What the network (or its cache) could add to this verdict, under these options."""
    chain = verdict.chain
    if not chain or options is None or not options.active:
        return Questions()
    if any(f.check == "MissingIntermediate" for f in verdict.failures):
        return Questions(issuer_of=chain[-1].der) if chain[-1].ca_issuer_urls else Questions()
    if options.revocation:
        return Questions(
            revocation=tuple(
                (cert.der, issuer.der)
                for cert, issuer in itertools.pairwise(chain)
                if cert.ocsp_urls or cert.crl_urls
            )
        )
    return Questions()


def answer(
    request: EvaluationRequest,
    asked: Questions,
    fetcher: Fetcher,
    options: FetchOptions,
    moment: datetime,
) -> Completion:
    """The request with what the network adds for these questions (None when it adds nothing).

    A question the network could not answer (a timeout, a host in back-off, garbage) counts as
    unanswered; the core then judges without that answer, as it does for a request that
    brought none (soft fail unless a positive answer is required)."""
    certificates = list(request.fetched_certificates)
    responses = list(request.ocsp_responses)
    crls = list(request.fetched_crls)
    count = {"asked": 0, "answered": 0}

    def ask(items: list[bytes], found: list[bytes]) -> None:
        count["asked"] += 1
        count["answered"] += bool(found)
        items.extend(item for item in found if item not in items)

    if asked.issuer_of is not None:
        child = parse_certificate(asked.issuer_of)
        if child.ca_issuer_urls:
            ask(certificates, fetcher.issuers(child, moment, options.mode))
    for cert_der, issuer_der in asked.revocation if options.revocation else ():
        cert, issuer = parse_certificate(cert_der), parse_certificate(issuer_der)
        asked_ocsp = Method.OCSP in options.revocation and bool(cert.ocsp_urls)
        if asked_ocsp:
            ask(responses, fetcher.ocsp(cert, issuer, options.mode))
        if (Method.CRL in options.revocation or not asked_ocsp) and cert.crl_urls:
            ask(crls, fetcher.crls(cert, options.mode))
    unchanged = (certificates, responses, crls) == (
        list(request.fetched_certificates),
        list(request.ocsp_responses),
        list(request.fetched_crls),
    )
    following = (
        None
        if unchanged
        else dataclasses.replace(
            request,
            fetched_certificates=tuple(certificates),
            ocsp_responses=tuple(responses),
            fetched_crls=tuple(crls),
        )
    )
    return Completion(following, count["answered"] < count["asked"])


def next_request(
    request: EvaluationRequest,
    verdict: Verdict,
    fetcher: Fetcher,
    options: FetchOptions,
    moment: datetime,
) -> Completion:
    """The request with what the network adds for this verdict (None when it adds nothing)."""
    return answer(request, questions(verdict, options), fetcher, options, moment)


V = TypeVar("V")
Judged = tuple[V, datetime | None, datetime | None, Questions]


def complete(
    judge: Callable[[EvaluationRequest], Judged[V]],
    request: EvaluationRequest,
    fetcher: Fetcher | None,
    options: FetchOptions | None,
    now: datetime,
) -> tuple[V, datetime | None, datetime | None]:
    """Judge the request, ask the network what the verdict leaves open, judge again: at most
    MAX_ROUNDS times.  `judge` evaluates (in this thread or a worker) and never fetches; the
    fetching happens here, in the caller's thread, so a slow peer holds no evaluation worker.

    The verdict and [since, until): a verdict that used the network holds for
    NETWORK_ANSWER_TTL at most, since the network may answer differently, and one with an
    unanswered question not at all (the next attempt may get an answer)."""
    verdict, since, until, asked = judge(request)
    if fetcher is None or options is None or not options.active:
        return verdict, since, until
    moment = request.verify_date or now
    unanswered = False
    for _ in range(MAX_ROUNDS):
        if not asked:
            break
        completion = answer(request, asked, fetcher, options, moment)
        unanswered = completion.unanswered
        if completion.request is None:
            break
        request = completion.request
        verdict, since, until, asked = judge(request)
    if unanswered:
        return verdict, now, now  # an empty window: never reused
    cap = now + NETWORK_ANSWER_TTL
    return verdict, since, cap if until is None else min(until, cap)
