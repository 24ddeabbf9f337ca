"""The wire form of the core's values (io.trustd.Trust's types), for every layer that encodes.

Below the API and the evaluation workers: a worker encodes its verdict where it was reached,
and the API encodes everything else, with the same functions.  Times on the wire are ISO 8601
with an offset; `wire_time` reads them back as aware datetimes.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from typing import Any

from trustd.core.certificates import Certificate
from trustd.core.results import check
from trustd.core.trust_settings import UsageConstraint
from trustd.core.verdict import AppliedSetting, Attempt, Failure, Verdict
from trustd.plist.exceptions import encode_exceptions
from trustd.plist.profiles import ProfileRecord


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def wire_time(value: str | None) -> datetime | None:
    """A moment this module wrote (aware: it carries its offset), or None."""
    return None if value is None else datetime.fromisoformat(value)


def certificate_out(cert: Certificate, source: str) -> dict[str, Any]:
    """A certificate on the wire (the interface's Certificate type)."""
    return {
        "certificate": b64(cert.der),
        "sha1": cert.sha1.hex().upper(),
        "sha256": cert.sha256.hex().upper(),
        "subject": cert.subject_summary,
        "source": source,
    }


def failure_out(failure: Failure) -> dict[str, Any]:
    """A Failure on the wire."""
    return {
        "index": failure.index,
        "check": failure.check,
        "severity": check(failure.check).severity.value,
        "detail": failure.detail,
        "rescued_by": None if failure.rescued_by is None else failure.rescued_by.value,
    }


def setting_out(setting: AppliedSetting) -> dict[str, Any]:
    """An AppliedSetting on the wire."""
    return {
        "index": setting.index,
        "domain": setting.domain.value,
        "constraint_index": setting.constraint_index,
        "effect": setting.effect,
    }


def attempt_out(attempt: Attempt) -> dict[str, Any]:
    """An Attempt on the wire: a path's end carries its result, failures and setting."""
    return {
        "depth": attempt.depth,
        "certificate": attempt.certificate.sha1.hex().upper(),
        "subject": attempt.certificate.subject_summary,
        "origin": attempt.origin.value,
        "outcome": attempt.outcome,
        "detail": attempt.detail,
        "result": None if attempt.result is None else attempt.result.wire_name,
        "failures": [failure_out(f) for f in attempt.failures],
        "setting": None if attempt.setting is None else setting_out(attempt.setting),
    }


def encode_verdict(
    verdict: Verdict, since: datetime | None = None, until: datetime | None = None
) -> dict[str, Any]:
    """The wire form of a verdict; [valid_from, valid_until) is when it holds (None: unbounded)."""
    return {
        "valid_from": None if since is None else since.isoformat(),
        "valid_until": None if until is None else until.isoformat(),
        "result": verdict.result.wire_name,
        "result_code": int(verdict.result),
        "trusted": verdict.trusted,
        "message": verdict.message,
        "chain": [b64(c.der) for c in verdict.chain],
        "anchor_origin": None if verdict.anchor_origin is None else verdict.anchor_origin.value,
        "details": [sorted(d) for d in verdict.details],
        "failures": [failure_out(f) for f in verdict.failures],
        "trust_settings": [setting_out(s) for s in verdict.trust_settings],
        "exceptions_applied": verdict.exceptions_applied,
        "exceptions_usable": verdict.exceptions_usable,
        "exceptions": b64(encode_exceptions(verdict.exceptions)),
        "attempts": None
        if verdict.attempts is None
        else [attempt_out(a) for a in verdict.attempts],
    }


def constraint_out(constraint: UsageConstraint) -> dict[str, Any]:
    """A usage constraint on the wire."""
    return {
        "policy_oid": constraint.policy_oid,
        "policy_name": constraint.policy_name,
        "policy_string": constraint.policy_string,
        "application": None if constraint.application is None else b64(constraint.application),
        "allowed_error": constraint.allowed_error,
        "result": None if constraint.result is None else int(constraint.result),
        "key_usage": constraint.key_usage,
    }


def profile_out(record: ProfileRecord) -> dict[str, Any]:
    """An installed configuration profile on the wire."""
    return {
        "identifier": record.identifier,
        "display_name": record.display_name,
        "organization": record.organization,
        "file": record.source,
        "signed": record.signed,
        "signer": record.signer,
        "verified": record.verified,
        "trust": record.trust,
        "certificates": [b64(der) for der in record.certificates],
        "roots": [hashlib.sha1(der).hexdigest().upper() for der in record.roots],
        "ignored": list(record.ignored),
    }
