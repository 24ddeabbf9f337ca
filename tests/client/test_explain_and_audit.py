"""The client library's view of explanations (EvaluationResult.attempts) and of the audit log
(audit_log, blocking and asyncio), against a real daemon; the AuditLog parameters' checks."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from client.conftest import short_leaf
from daemons import Daemon
from pki import PKI, Issued

from trustd.client import (
    AppliedSetting,
    AsyncClient,
    AuditEntry,
    Client,
    InvalidParameter,
    Policy,
    UsageConstraint,
)

DENY = 3


def test_attempts_carry_each_path_end_with_its_failures_and_settings(
    daemon: Daemon, pki: PKI, intermediate: Issued, good_leaf: Issued
) -> None:
    with Client(daemon.socket) as trustd:
        trustd.set_trust_settings("admin", intermediate.der, [UsageConstraint(result=DENY)])
        verdict = trustd.evaluate(
            [good_leaf.der, intermediate.der], Policy.ssl("localhost"), explain=True
        )
    assert verdict.result == "deny" and verdict.exceptions_usable is None
    assert verdict.attempts is not None
    (end,) = [a for a in verdict.attempts if a.result is not None]
    assert (end.depth, end.subject, end.outcome, end.result) == (1, "Test TLS CA", "denied", "deny")
    assert end.certificate == intermediate.sha1.upper()
    assert [(f.index, f.check, f.severity) for f in end.failures] == [
        (1, "UsageConstraints", "deny")
    ]
    assert end.setting == AppliedSetting(1, "admin", 0, "deny")


def test_exceptions_usable_reaches_the_client(
    daemon: Daemon, pki: PKI, intermediate: Issued
) -> None:
    leaf, other = (short_leaf(pki, intermediate, ["elsewhere.example"]) for _ in range(2))
    with Client(daemon.socket) as trustd:
        failing = trustd.evaluate([leaf.der, intermediate.der], Policy.ssl("localhost"))
        accepted = trustd.evaluate(
            [leaf.der, intermediate.der], Policy.ssl("localhost"), exceptions=failing.exceptions
        )
        elsewhere = trustd.evaluate(
            [other.der, intermediate.der], Policy.ssl("localhost"), exceptions=failing.exceptions
        )
    assert (failing.trusted, failing.exceptions_usable) == (False, None)
    assert (accepted.trusted, accepted.exceptions_usable) == (True, True)
    assert (elsewhere.trusted, elsewhere.exceptions_usable) == (False, False)


def test_audit_log_blocking_and_asyncio(daemon: Daemon, pki: PKI) -> None:
    org = pki.root("Audited Org Root")
    start = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    with Client(daemon.socket) as trustd:
        trustd.set_trust_settings("admin", org.der)
        trustd.set_exceptions("host.example", 443, trustd.evaluate([org.der]).exceptions)
        newest_first = trustd.audit_log()
        assert [e.operation for e in newest_first] == [
            "set-exceptions",
            "set-trust-settings",
            "add-certificate",
        ]
        setting = newest_first[1]
        assert isinstance(setting, AuditEntry)
        assert (setting.domain, setting.object, setting.uid, setting.source) == (
            "admin",
            org.sha1.upper(),
            0,
            None,
        )
        assert setting.pid is not None and start <= setting.at <= dt.datetime.now(dt.UTC)
        assert trustd.audit_log(domain="admin") == (setting,)
        assert [e.operation for e in trustd.audit_log(sha1=org.sha1)] == [
            "set-trust-settings",
            "add-certificate",
        ]
        assert trustd.audit_log(until=start) == ()
        assert len(trustd.audit_log(since=start, limit=2)) == 2

    async def from_asyncio() -> tuple[AuditEntry, ...]:
        async with AsyncClient(daemon.socket) as trustd:
            return await trustd.audit_log(sha1=bytes.fromhex(org.sha1), domain="admin")

    assert asyncio.run(from_asyncio()) == (setting,)


def test_audit_log_parameters_are_checked(daemon: Daemon) -> None:
    for parameters, name in (
        ({"limit": 0}, "limit"),
        ({"limit": 10_001}, "limit"),
        ({"since": "last tuesday"}, "since"),
        ({"until": 5}, "until"),
        ({"domain": "everyone"}, "domain"),
        ({"sha1": "abc"}, "sha1"),
    ):
        reply = daemon.call("AuditLog", **parameters)
        assert reply["error"] == "org.varlink.service.InvalidParameter", parameters
        assert reply["parameters"]["parameter"] == name
    with Client(daemon.socket) as trustd, pytest.raises(InvalidParameter):
        trustd.audit_log(limit=0)
