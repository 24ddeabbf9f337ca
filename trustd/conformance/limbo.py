"""x509-limbo harness: `python -m trustd.conformance.limbo < limbo.json > results.json`.

Each testcase becomes one evaluation: the trusted certificates are caller anchors with
anchors-only, the untrusted intermediates travel with the peer certificate, SERVER cases use the
ssl server policy with the expected peer name, CLIENT cases the ssl client policy.  A case passes
(SUCCESS) when the result is proceed or unspecified; the context names the failed checks.

Cases whose expected behaviour contradicts a documented decision of trustd are SKIPPED with the
reason in the context; docs/deviations.md lists each of them.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, TextIO

import trustd
from trustd.core import EvaluationRequest, Evaluator, Policy, PolicyKind
from trustd.core.policy import EKU_NAMES
from trustd.core.snapshot import EMPTY_SNAPSHOT
from trustd.public_suffixes import public_suffix_list

# id -> why trustd deliberately decides otherwise (see docs/deviations.md).
SKIPPED: Mapping[str, str] = {
    "webpki::ca-as-leaf": (
        "conflicts with rfc5280::ca-as-leaf; like Apple, trustd accepts a CA certificate in "
        "leaf position when it is a consistent CA (cA with keyCertSign)"
    ),
    "webpki::eku::ee-without-eku": (
        "conflicts with rfc5280::eku::ee-without-eku; Apple's ssl policy accepts a leaf "
        "without EKU under a non-system anchor"
    ),
    "rfc5280::nc::permitted-dns-match-noncritical": (
        "conflicts with webpki::nc::permitted-dns-match-noncritical; trustd honours "
        "non-critical name constraints"
    ),
    "webpki::eku::ee-anyeku": (
        "Apple's ssl policy accepts anyExtendedKeyUsage in a leaf (SecPolicy.c set_ssl_ekus)"
    ),
    "webpki::eku::ee-critical-eku": (
        "RFC 5280 4.2.1.12 lets EKU be critical; Apple's ssl policy accepts it"
    ),
    "webpki::eku::root-has-eku": (
        "Apple accepts a CA EKU that includes the policy's EKU; trust anchors are not profiled "
        "against CA/B 7.1.2.1"
    ),
    **{
        case: (
            "trustd, like Apple, never reads the subject common name for identity; a common "
            "name naming a host that is not in the SAN is ignored (CA/B 7.1.4.3 binds issuers)"
        )
        for case in (
            "webpki::cn::not-in-san",
            "webpki::cn::punycode-not-in-san",
            "webpki::cn::utf8-vs-punycode-mismatch",
        )
    },
    "webpki::aki::root-with-aki-all-fields": (
        "trusted roots in real stores carry issuer and serial in their AKI (Go Daddy and "
        "Starfield Class 2, QuoVadis Root CA 2 and 3, Certigna); trustd accepts them when the "
        "key identifier is the root's own"
    ),
    "rfc5280::ski::root-missing-ski": (
        "trusted roots without a subject key identifier exist (Hongkong Post Root CA 1, TWCA "
        "Global Root CA); trustd does not require one of an anchor"
    ),
    "rfc5280::root-non-critical-basic-constraints": (
        "trusted roots with non-critical basic constraints exist (Go Daddy and Starfield Class "
        "2, ePKI Root Certification Authority); trustd does not require it of an anchor"
    ),
    "rfc5280::aki::cross-signed-root-missing-aki": (
        "RFC 5280 6.2 uses only a trust anchor's name and key; requiring an AKI on anchors "
        "would refuse cve::cve-2024-0567"
    ),
}

# One evaluator for every case (its caches shared, as the daemon's are), with the Public Suffix
# List the service hands the core.
_EVALUATOR = Evaluator(public_suffixes=public_suffix_list())


def _policy(case: Mapping[str, Any]) -> Policy:
    client = case["validation_kind"] == "CLIENT"
    peer = case.get("expected_peer_name") or {}
    name = peer.get("value") if peer.get("kind") in ("DNS", "IP") and not client else None
    ekus = case.get("extended_key_usage") or []
    return Policy(
        kind=PolicyKind.SSL,
        client=client,
        name=name,
        extended_key_usages=frozenset(EKU_NAMES.get(e, e) for e in ekus) if ekus else None,
        key_usages=frozenset(case.get("key_usage") or ()),
    )


def run_case(case: Mapping[str, Any]) -> dict[str, str]:
    case_id = case["id"]
    if case_id in SKIPPED:
        return {"id": case_id, "actual_result": "SKIPPED", "context": SKIPPED[case_id]}
    request = EvaluationRequest(
        certificates=(
            case["peer_certificate"].encode(),
            *(pem.encode() for pem in case.get("untrusted_intermediates", ())),
        ),
        policies=(_policy(case),),
        verify_date=datetime.fromisoformat(case["validation_time"])
        if case.get("validation_time")
        else None,
        anchors=tuple(pem.encode() for pem in case.get("trusted_certs", ())),
        anchors_only=True,
        crls=tuple(pem.encode() for pem in case.get("crls", ())),
        max_intermediates=case.get("max_chain_depth"),
    )
    verdict = _EVALUATOR.evaluate(request, EMPTY_SNAPSHOT, datetime.now().astimezone())
    failed = sorted({f"{f.index}:{f.check}" for f in verdict.counted})
    ok = verdict.trusted and _client_names_present(
        case, verdict.chain[0] if verdict.chain else None
    )
    return {
        "id": case_id,
        "actual_result": "SUCCESS" if ok else "FAILURE",
        "context": verdict.result.wire_name + (": " + " ".join(failed) if failed else ""),
    }


def _client_names_present(case: Mapping[str, Any], leaf: Any) -> bool:
    """CLIENT cases name identities the leaf must carry in its SAN."""
    if case["validation_kind"] != "CLIENT" or leaf is None:
        return True
    from trustd.core.names import email_matches, hostname_matches

    for peer in case.get("expected_peer_names") or ():
        kind, value = peer.get("kind"), peer.get("value", "")
        if kind == "RFC822" and not email_matches(
            leaf.subject_alt_names.get_values_for_type(__import__("cryptography").x509.RFC822Name)
            if leaf.subject_alt_names
            else (),
            value,
        ):
            return False
        if kind in ("DNS", "IP") and not hostname_matches(leaf.subject_alt_names, value):
            return False
    return True


def run(cases: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    return {
        "version": 1,
        "harness": f"trustd-{trustd.__version__}",
        "results": [run_case(case) for case in cases],
    }


def main(stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> int:
    suite = json.load(stdin)
    json.dump(run(suite["testcases"]), stdout, indent=1)
    stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
