"""The pure evaluation core: path building, RFC 5280 validation and Apple trust semantics.

Imports only the standard library and `cryptography`; reads no clock, disk, database or network.
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

from trustd.core.lazy import lazy_exports

if TYPE_CHECKING:
    from trustd.core.certificates import Certificate, MalformedCertificate, parse_certificate
    from trustd.core.evaluate import Evaluator, evaluate
    from trustd.core.exceptions import CertificateExceptions, ExceptionList
    from trustd.core.policy import Policy, PolicyKind
    from trustd.core.request import EvaluationRequest
    from trustd.core.results import CHECKS, CheckName, Severity, TrustResult
    from trustd.core.snapshot import MemorySnapshot, Origin, Snapshot
    from trustd.core.trust_settings import (
        Domain,
        SettingsResult,
        TrustSettings,
        UsageConstraint,
    )
    from trustd.core.verdict import Failure, Verdict

# Each name is imported from its module on first use (PEP 562), so that importing one module
# of the package (or the package for one name) does not import all of them.
_MODULES = {
    "CHECKS": "trustd.core.results",
    "Certificate": "trustd.core.certificates",
    "CheckName": "trustd.core.results",
    "CertificateExceptions": "trustd.core.exceptions",
    "Domain": "trustd.core.trust_settings",
    "EvaluationRequest": "trustd.core.request",
    "Evaluator": "trustd.core.evaluate",
    "ExceptionList": "trustd.core.exceptions",
    "Failure": "trustd.core.verdict",
    "MalformedCertificate": "trustd.core.certificates",
    "MemorySnapshot": "trustd.core.snapshot",
    "Origin": "trustd.core.snapshot",
    "Policy": "trustd.core.policy",
    "PolicyKind": "trustd.core.policy",
    "SettingsResult": "trustd.core.trust_settings",
    "Severity": "trustd.core.results",
    "Snapshot": "trustd.core.snapshot",
    "TrustResult": "trustd.core.results",
    "TrustSettings": "trustd.core.trust_settings",
    "UsageConstraint": "trustd.core.trust_settings",
    "Verdict": "trustd.core.verdict",
    "parse_certificate": "trustd.core.certificates",
}


__getattr__, __dir__ = lazy_exports(__name__, globals(), _MODULES)


class _Package(types.ModuleType):
    """`trustd.core.evaluate` names the function, as it always has, not the submodule of the
    same name (the import system sets the submodule on its package when it first loads it)."""

    @property
    def evaluate(self) -> Any:
        from trustd.core.evaluate import evaluate

        return evaluate

    @evaluate.setter
    def evaluate(self, value: Any) -> None:
        pass  # the submodule being recorded: the name stays the function's


sys.modules[__name__].__class__ = _Package


__all__ = [
    "CHECKS",
    "Certificate",
    "CertificateExceptions",
    "CheckName",
    "Domain",
    "EvaluationRequest",
    "Evaluator",
    "ExceptionList",
    "Failure",
    "MalformedCertificate",
    "MemorySnapshot",
    "Origin",
    "Policy",
    "PolicyKind",
    "SettingsResult",
    "Severity",
    "Snapshot",
    "TrustResult",
    "TrustSettings",
    "UsageConstraint",
    "Verdict",
    "evaluate",
    "parse_certificate",
]
