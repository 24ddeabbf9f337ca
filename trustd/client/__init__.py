"""Client library for trustd: the io.trustd.Trust varlink interface as Python calls.

* :class:`Client` (blocking, thread-safe) and :class:`AsyncClient` (asyncio): one method per
  interface method (evaluate, echo, status, add_certificates, find_certificates,
  delete_certificate, set_trust_settings, remove_trust_settings, copy_trust_settings,
  set_exceptions, list_exceptions, remove_exceptions, reset_exceptions, audit_log, reload,
  monitor), returning the typed values of :mod:`trustd.client.models`.
* :mod:`trustd.client.errors`: one exception class per interface error, all TrustdError;
  :class:`DaemonNotRunning` when nothing answers on the socket.
* :func:`inject_into_ssl` / :func:`extract_from_ssl`: make ``ssl.SSLContext`` itself verify
  through trustd, for programs that never heard of it (requests, urllib3, httpx, aiohttp, pip,
  the standard library), as the ``truststore`` package does with the platform's verifier.
* :mod:`trustd.client.ssl`: an ``ssl.SSLContext`` that verifies TLS servers through trustd
  (``create_context()``), for http.client, urllib, urllib3 and asyncio;
  :mod:`trustd.client.adapters`: the same for requests.

The socket is ``socket_path`` if given, else TRUSTD_SOCKET, else the system daemon's
/run/trustd/trustd.sock, which every uid uses (a per-user daemon's socket only when no system
socket exists): see :func:`default_socket_path`.
"""

from trustd.client._protocol import default_socket_path
from trustd.client.aio import AsyncClient, AsyncMonitor
from trustd.client.errors import (
    ConnectionFailed,
    DaemonNotRunning,
    InvalidCertificate,
    InvalidParameter,
    InvalidProfile,
    InvalidTrustSettings,
    NotFound,
    NoTrustSettings,
    PermissionDenied,
    ProtocolError,
    QuotaExceeded,
    RequestTooLarge,
    StorageFailure,
    TooManyConnections,
    TrustdError,
    UnknownPolicy,
)
from trustd.client.inject import extract_from_ssl, inject_into_ssl
from trustd.client.models import (
    AddedCertificates,
    AppliedSetting,
    Attempt,
    AuditEntry,
    Counts,
    EvaluationResult,
    Failure,
    HostExceptions,
    InstalledProfile,
    Policy,
    Status,
    StoredCertificate,
    TrustSettingsEntry,
    UsageConstraint,
)
from trustd.client.sync import Client, Monitor

__all__ = [
    "AddedCertificates",
    "AppliedSetting",
    "AsyncClient",
    "AsyncMonitor",
    "Attempt",
    "AuditEntry",
    "Client",
    "ConnectionFailed",
    "Counts",
    "DaemonNotRunning",
    "EvaluationResult",
    "Failure",
    "HostExceptions",
    "InstalledProfile",
    "InvalidCertificate",
    "InvalidParameter",
    "InvalidProfile",
    "InvalidTrustSettings",
    "Monitor",
    "NoTrustSettings",
    "NotFound",
    "PermissionDenied",
    "Policy",
    "ProtocolError",
    "QuotaExceeded",
    "RequestTooLarge",
    "Status",
    "StorageFailure",
    "StoredCertificate",
    "TooManyConnections",
    "TrustSettingsEntry",
    "TrustdError",
    "UnknownPolicy",
    "UsageConstraint",
    "default_socket_path",
    "extract_from_ssl",
    "inject_into_ssl",
]
