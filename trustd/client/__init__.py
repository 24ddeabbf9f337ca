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

from __future__ import annotations

from typing import TYPE_CHECKING

from trustd.core.lazy import lazy_exports

if TYPE_CHECKING:
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

# Each name is imported from its module on first use (PEP 562), so that importing one module
# of the package (or the package for one name) does not import all of them.
_MODULES = {
    "AddedCertificates": "trustd.client.models",
    "AppliedSetting": "trustd.client.models",
    "AsyncClient": "trustd.client.aio",
    "AsyncMonitor": "trustd.client.aio",
    "Attempt": "trustd.client.models",
    "AuditEntry": "trustd.client.models",
    "Client": "trustd.client.sync",
    "ConnectionFailed": "trustd.client.errors",
    "Counts": "trustd.client.models",
    "DaemonNotRunning": "trustd.client.errors",
    "EvaluationResult": "trustd.client.models",
    "Failure": "trustd.client.models",
    "HostExceptions": "trustd.client.models",
    "InvalidCertificate": "trustd.client.errors",
    "InstalledProfile": "trustd.client.models",
    "InvalidParameter": "trustd.client.errors",
    "InvalidProfile": "trustd.client.errors",
    "InvalidTrustSettings": "trustd.client.errors",
    "Monitor": "trustd.client.sync",
    "NoTrustSettings": "trustd.client.errors",
    "NotFound": "trustd.client.errors",
    "PermissionDenied": "trustd.client.errors",
    "Policy": "trustd.client.models",
    "ProtocolError": "trustd.client.errors",
    "QuotaExceeded": "trustd.client.errors",
    "RequestTooLarge": "trustd.client.errors",
    "Status": "trustd.client.models",
    "StorageFailure": "trustd.client.errors",
    "StoredCertificate": "trustd.client.models",
    "TooManyConnections": "trustd.client.errors",
    "TrustSettingsEntry": "trustd.client.models",
    "TrustdError": "trustd.client.errors",
    "UnknownPolicy": "trustd.client.errors",
    "UsageConstraint": "trustd.client.models",
    "default_socket_path": "trustd.client._protocol",
    "extract_from_ssl": "trustd.client.inject",
    "inject_into_ssl": "trustd.client.inject",
}


__getattr__, __dir__ = lazy_exports(__name__, globals(), _MODULES)


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
