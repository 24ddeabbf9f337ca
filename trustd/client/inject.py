"""Make Python programs that never heard of trustd verify TLS servers through it.

::

    import trustd.client

    trustd.client.inject_into_ssl()      # early, before connections are made
    requests.get("https://intranet.example/")   # verified by trustd
    trustd.client.extract_from_ssl()     # back to OpenSSL's own verification

This is what the ``truststore`` package does with the platform's verifier: ``ssl.SSLContext``
(and the copies urllib3 and requests keep of it) becomes a class whose client contexts are
:class:`~trustd.client.ssl.TrustdSSLContext`, so the standard library (``urllib``,
``http.client``, ``ssl.create_default_context()``), urllib3, requests, httpx and aiohttp ask
trustd about every server: the machine's trust settings and the calling user's own trust
settings and exceptions apply, and a server under a root the user denies is refused.
CA files given to those libraries (certifi's bundle, ``verify="/path"``) are ignored, as
trustd decides which anchors count.

Server contexts (``ssl.PROTOCOL_TLS_SERVER``, ``create_default_context(Purpose.CLIENT_AUTH)``)
and the legacy generic ``PROTOCOL_TLS`` stay OpenSSL's: only TLS clients are verified through
trustd.  Contexts made before the injection keep verifying as they did; inject first thing.

Injected contexts share one connection to trustd per process and socket (a forked child makes
its own).
"""

from __future__ import annotations

import atexit
import os
import ssl
import sys
import threading
from pathlib import Path
from typing import Any, Self

from trustd.client._protocol import default_socket_path
from trustd.client.ssl import TrustdSSLContext
from trustd.client.sync import Client

__all__ = ["extract_from_ssl", "inject_into_ssl", "injected"]

_ORIGINAL = ssl.SSLContext
_lock = threading.Lock()
_clients: dict[Path, Client] = {}


def _shared_client() -> Client:
    """The process's connection to the daemon clients use now (made on first use)."""
    path = default_socket_path()
    with _lock:
        if path not in _clients:
            _clients[path] = Client(path)
        return _clients[path]


def _forget_clients() -> None:
    """In a forked child: the parent's connections are not ours to use."""
    _clients.clear()


def _close_clients() -> None:
    """Close the shared connections (contexts still holding one reconnect when they next ask)."""
    with _lock:
        for client in _clients.values():
            client.close()
        _clients.clear()


os.register_at_fork(after_in_child=_forget_clients)
atexit.register(_close_clients)


class InjectedSSLContext(TrustdSSLContext):
    """What ``ssl.SSLContext`` is while injected: trustd's context for TLS clients, OpenSSL's
    own for everything else."""

    def __new__(cls, protocol: int | None = None, *args: Any, **kwargs: Any) -> Self:
        if protocol != ssl.PROTOCOL_TLS_CLIENT:
            # Not ours: __init__ is then skipped, as Python does for an object of another class.
            original: Any = _ORIGINAL(ssl.PROTOCOL_TLS if protocol is None else protocol)
            return original  # type: ignore[no-any-return]
        return super().__new__(cls, protocol)

    def __init__(self, protocol: int = ssl.PROTOCOL_TLS_CLIENT, *args: Any, **kwargs: Any) -> None:
        super().__init__(protocol, client=_shared_client())


def _library_modules() -> list[tuple[Any, str]]:
    """(module, attribute) pairs that hold their own reference to ssl.SSLContext."""
    found: list[tuple[Any, str]] = [(ssl, "SSLContext")]
    for name in ("urllib3.util.ssl_", "pip._vendor.urllib3.util.ssl_"):
        module = sys.modules.get(name)
        if module is not None and hasattr(module, "SSLContext"):
            found.append((module, "SSLContext"))
    return found


_PRELOADED = (
    ("requests.adapters", "_preloaded_ssl_context"),  # requests 2.32 and 2.33
    ("pip._vendor.requests.adapters", "_preloaded_ssl_context"),
    ("aiohttp.connector", "_SSL_CONTEXT_VERIFIED"),
)
"""Verifying contexts that libraries make once, at import: replaced while injected."""

_saved: dict[tuple[str, str], Any] = {}


def _preloaded() -> list[tuple[Any, str]]:
    found = []
    for name, attribute in _PRELOADED:
        module = sys.modules.get(name)
        if module is not None and hasattr(module, attribute):
            found.append((module, attribute))
    return found


def inject_into_ssl() -> None:
    """Verify every new TLS client context of this process through trustd (idempotent).

    Libraries imported later take the injected class; those already imported (urllib3, pip's
    vendored copy, the contexts requests and aiohttp make at import) are patched now.
    """
    for module, attribute in _library_modules():
        setattr(module, attribute, InjectedSSLContext)
    for module, attribute in _preloaded():
        current = getattr(module, attribute)
        if not isinstance(current, TrustdSSLContext):
            _saved[module.__name__, attribute] = current
            setattr(module, attribute, ssl.create_default_context())


def extract_from_ssl() -> None:
    """Undo :func:`inject_into_ssl`: new contexts verify with OpenSSL again."""
    _close_clients()
    for module, attribute in _library_modules():
        if getattr(module, attribute) is InjectedSSLContext:
            setattr(module, attribute, _ORIGINAL)
    for module, attribute in _preloaded():
        saved = _saved.pop((module.__name__, attribute), None)
        if saved is None and isinstance(getattr(module, attribute), TrustdSSLContext):
            # Imported while injected: made again the library's way, with its CA bundle.
            bundle = getattr(module, "DEFAULT_CA_BUNDLE_PATH", None)
            saved = ssl.create_default_context(cafile=bundle)
        if saved is not None:
            setattr(module, attribute, saved)


def injected() -> bool:
    """Whether ssl.SSLContext is trustd's now."""
    return ssl.SSLContext is InjectedSSLContext
