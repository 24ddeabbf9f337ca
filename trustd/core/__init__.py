"""The pure evaluation core: path building, RFC 5280 validation and Apple trust semantics.

Imports only the standard library and `cryptography`; reads no clock, disk, database or network.
"""

from trustd.core.certificates import Certificate, MalformedCertificate, parse_certificate
from trustd.core.evaluate import Evaluator, evaluate
from trustd.core.exceptions import CertificateExceptions, ExceptionList
from trustd.core.policy import Policy, PolicyKind
from trustd.core.request import EvaluationRequest
from trustd.core.results import CHECKS, Severity, TrustResult
from trustd.core.snapshot import MemorySnapshot, Origin, Snapshot
from trustd.core.trust_settings import (
    Domain,
    SettingsResult,
    TrustSettings,
    UsageConstraint,
)
from trustd.core.verdict import Failure, Verdict

__all__ = [
    "CHECKS",
    "Certificate",
    "CertificateExceptions",
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
