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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from trustd.core.policy import Policy, PolicyKind
from trustd.core.request import EvaluationRequest
from trustd.core.verdict import Verdict
from trustd.net.fetcher import Fetcher, Mode

DEFAULT_MODE = Mode()  # cached answers while fresh, else the network
MAX_ROUNDS = 4  # AIA levels chased for one evaluation, plus the revocation round
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


def next_request(
    request: EvaluationRequest,
    verdict: Verdict,
    fetcher: Fetcher,
    options: FetchOptions,
    moment: datetime,
) -> Completion:
    """The request with what the network adds for this verdict (None when it adds nothing)."""
    chain = verdict.chain
    if not chain:
        return Completion(None, False)
    certificates = list(request.fetched_certificates)
    responses = list(request.ocsp_responses)
    crls = list(request.fetched_crls)
    asked = answered = 0

    def ask(items: list[bytes], found: list[bytes]) -> None:
        nonlocal asked, answered
        asked += 1
        answered += bool(found)
        items.extend(item for item in found if item not in items)

    if any(f.check == "MissingIntermediate" for f in verdict.failures):
        if chain[-1].ca_issuer_urls:
            ask(certificates, fetcher.issuers(chain[-1], moment, options.mode))
    elif options.revocation:
        for cert, issuer in itertools.pairwise(chain):
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
    return Completion(following, answered < asked)
