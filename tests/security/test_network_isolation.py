"""One user's hostile network peers against another user's evaluations, on a real daemon.

The attacker runs as `nobody`, the victim as a second unprivileged uid; both are real
processes that switched uid, so the daemon tells them apart by SO_PEERCRED alone.  The hostile
peer is a real process on loopback (tests/net/drip.py) that answers one byte every 2 s, or
never; the honest OCSP responder is `openssl ocsp`.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from daemons import Daemon
from net.conftest import CA_VALIDITY, LEAF_VALIDITY, OcspResponder, ocsp_responder
from net.drip import Drip, drip_server
from pki import PKI, Issued, aia
from security.clients import NOBODY, OTHER, b64, require_root, start_as_uid, timed_replies

__all__ = ["ocsp_responder"]  # the fixture, used by name

DEADLINE = 3.0  # trustd.net.http.TIMEOUT: one fetch, connect to last byte


@pytest.fixture
def drip() -> Iterator[Drip]:
    with drip_server(interval=2.0) as server:
        yield server


@pytest.fixture
def issuing_ca(daemon: Daemon, pki: PKI) -> Issued:
    return pki.intermediate(daemon.root, "Isolation CA", **CA_VALIDITY)  # type: ignore[arg-type]


def evaluate(chain: list[Issued], policy: dict[str, Any], **options: Any) -> dict[str, Any]:
    return {"certificates": [b64(c.der) for c in chain], "policies": [policy], **options}


def leaf(pki: PKI, issuer: Issued, name: str, **urls: list[str]) -> Issued:
    """A leaf for `name`, valid now, with the AIA locations given (ca_issuers, ocsp_urls)."""
    extensions = [aia(**urls)] if urls else []
    made: Issued = pki.leaf(
        issuer,
        dns=[name],
        extra_extensions=extensions,
        **LEAF_VALIDITY,  # type: ignore[arg-type]
    )
    return made


def verdict_of(reply: Any) -> dict[str, Any]:
    assert reply is not None and "parameters" in reply, reply
    verdict: dict[str, Any] = reply["parameters"]["verdict"]
    return verdict


@pytest.fixture
def background() -> Iterator[list[subprocess.Popen[str]]]:
    """Client processes started in the background, killed if a test leaves them running."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()


def test_a_dripping_server_delays_only_the_evaluations_that_asked_it(
    daemon: Daemon,
    pki: PKI,
    issuing_ca: Issued,
    drip: Drip,
    background: list[subprocess.Popen[str]],
) -> None:
    require_root()
    theirs = {"policy": "ssl", "name": "a.example"}
    attacks = []
    for index in range(2):  # caIssuers: the headers drip, the intermediate is missing
        dripping = leaf(pki, issuing_ca, "a.example", ca_issuers=[drip.url(f"/headers/{index}")])
        attacks.append(evaluate([dripping], theirs))
    for index in range(2):  # OCSP: the headers come at once, then the body drips
        dripping = leaf(pki, issuing_ca, "a.example", ocsp_urls=[drip.url(f"/body/{index}")])
        attacks.append(evaluate([dripping, issuing_ca], theirs, revocation=["ocsp"]))
    attackers = [start_as_uid(daemon.socket, NOBODY, [("Evaluate", a)]) for a in attacks]
    background.extend(attackers)
    drip.wait_for_hits(2)  # as many as there are workers: enough to block them all, formerly

    victim_leaf = leaf(pki, issuing_ca, "victim.example")
    chain = [victim_leaf, issuing_ca]
    ssl = {"policy": "ssl", "name": "victim.example"}
    now = dt.datetime.now(dt.UTC)
    calls = []
    for minutes in range(3):  # distinct moments: no answer comes from a cache
        moment = (now - dt.timedelta(minutes=minutes)).isoformat()
        calls.append(("Evaluate", evaluate(chain, {"policy": "basic"}, verify_date=moment)))
        calls.append(("Evaluate", evaluate(chain, ssl, verify_date=moment)))
    victim = start_as_uid(daemon.socket, OTHER, calls, timeout=3)
    background.append(victim)
    answered = timed_replies(victim)
    for seconds, reply in answered:
        assert verdict_of(reply)["result"] == "unspecified"
        assert seconds < 1.0, [round(s, 3) for s, _ in answered]

    # The attacker's own evaluations end at the deadline and say the network could not answer.
    outcomes = [timed_replies(a, timeout=30)[0] for a in attackers]
    for seconds, reply in outcomes[:2]:
        verdict = verdict_of(reply)
        assert verdict["result"] == "recoverableTrustFailure"
        assert ["MissingIntermediate"] in verdict["details"]
        assert verdict["valid_from"] == verdict["valid_until"]  # unanswered: never reused
        assert seconds < DEADLINE * 2 + 1
    for seconds, reply in outcomes[2:]:
        assert verdict_of(reply)["result"] == "unspecified"  # revocation soft-fails, as asked
        assert seconds < DEADLINE * 2 + 1
    assert len(drip.hits) == 4


def test_a_slow_ocsp_host_does_not_make_another_users_revoked_leaf_pass(
    daemon: Daemon,
    pki: PKI,
    issuing_ca: Issued,
    drip: Drip,
    ocsp_responder: Callable[[Issued], OcspResponder],
    background: list[subprocess.Popen[str]],
) -> None:
    require_root()
    responder = ocsp_responder(issuing_ca)
    revoked = leaf(pki, issuing_ca, "victim.example", ocsp_urls=[responder.url])
    responder.know(revoked, revoked=True)

    # The attacker's responders, on the same host as the victim's, never answer: their OCSP
    # checks time out, in every worker at once.
    theirs = {"policy": "ssl", "name": "a.example"}
    attacks = []
    for index in range(4):
        silent = leaf(pki, issuing_ca, "a.example", ocsp_urls=[drip.url(f"/silent/{index}")])
        attacks.append(evaluate([silent, issuing_ca], theirs, revocation=["ocsp"]))
    attackers = [start_as_uid(daemon.socket, NOBODY, [("Evaluate", a)]) for a in attacks]
    background.extend(attackers)
    for _, reply in (timed_replies(a, timeout=30)[0] for a in attackers):
        assert verdict_of(reply)["result"] == "unspecified"  # the attacker's own soft fail
    assert len(drip.hits) >= 2

    generation = daemon.call("Status")["parameters"]["generation"]
    ssl = {"policy": "ssl", "name": "victim.example"}
    calls = [
        ("Evaluate", evaluate([revoked, issuing_ca], ssl, revocation=["ocsp"])),
        ("Evaluate", evaluate([revoked, issuing_ca], ssl, revocation=["ocsp", "require"])),
    ]
    victim = start_as_uid(daemon.socket, OTHER, calls, timeout=20)
    background.append(victim)
    for _, reply in timed_replies(victim):
        verdict = verdict_of(reply)
        assert verdict["result"] == "fatalTrustFailure", json.dumps(verdict["details"])
        assert "Revocation" in verdict["details"][0]
    # Caching the answers is no change of trust state: the generation stays.
    assert daemon.call("Status")["parameters"]["generation"] == generation
