"""Check names are typed: Apple's names, spelt as on the wire, and nothing else."""

from __future__ import annotations

import json

import pytest
from pki import PKI

from trustd.core import CheckName, EvaluationRequest, Evaluator, MemorySnapshot, Policy, PolicyKind
from trustd.core.results import CHECKS, check, peer_check
from trustd.core.verdict import Failure


def test_every_check_has_its_apple_name_as_its_value() -> None:
    assert set(CHECKS) == set(CheckName)
    for name, described in CHECKS.items():
        assert described.name is name and name.value == name.name
        assert name == name.value and hash(name) == hash(name.value)
        assert json.dumps({name: name}) == json.dumps({name.value: name.value})
        assert f"{name}" == str(name) == name.value


def test_unknown_names_are_refused_in_the_core() -> None:
    with pytest.raises(ValueError):
        CheckName("SslHostname")
    with pytest.raises(ValueError):
        check("NoSuchCheck")
    with pytest.raises(ValueError):
        Failure(0, "NoSuchCheck")  # type: ignore[arg-type]
    given_as_text = Failure(0, "SSLHostname")  # type: ignore[arg-type]
    assert given_as_text.check is CheckName.SSLHostname
    assert given_as_text.info is CHECKS[CheckName.SSLHostname]


def test_a_peer_may_send_a_name_this_version_does_not_know() -> None:
    assert peer_check("SSLHostname") is CHECKS[CheckName.SSLHostname]
    newer = peer_check("SomeNewerCheck")
    assert newer.name == "SomeNewerCheck" and newer.message == "[SomeNewerCheck]"
    assert newer.severity.value == "recoverable"


def test_a_verdict_names_its_failures_with_check_names(pki: PKI) -> None:
    root = pki.root()
    leaf = pki.leaf(pki.intermediate(root), dns=["example.com"])
    request = EvaluationRequest(
        certificates=(leaf.der,), policies=(Policy(PolicyKind.SSL, name="other.example"),)
    )
    verdict = Evaluator().evaluate(request, MemorySnapshot(), leaf.cert.not_valid_before_utc)
    assert {f.check for f in verdict.failures} == {
        CheckName.SSLHostname,
        CheckName.MissingIntermediate,
    }
    assert all(type(f.check) is CheckName for f in verdict.failures)
    for entry in verdict.exceptions.entries:
        assert entry is None or all(type(name) is str for name in entry.checks)
