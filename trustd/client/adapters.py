"""requests integration: HTTPS through a trustd-verifying TLS context (needs ``requests``).

::

    import requests
    from trustd.client.adapters import TrustdAdapter, session

    with session() as http:                       # a Session with the adapter mounted
        http.get("https://example.com/")

    http = requests.Session()
    http.mount("https://", TrustdAdapter())       # or with create_context(...) options

requests' ``verify=True`` (its default) keeps meaning "verify", now by trustd; a CA bundle
path given as ``verify=`` is ignored (anchors are trustd's; see trustd.client.ssl), and
``verify=False`` needs a context with ``check_hostname`` off, as with any ``ssl.SSLContext``.
urllib3 alone needs no adapter: ``urllib3.PoolManager(ssl_context=create_context())``.
"""

from __future__ import annotations

from typing import Any

import requests
from requests.adapters import HTTPAdapter

from trustd.client.ssl import TrustdSSLContext, create_context

__all__ = ["TrustdAdapter", "session"]


class TrustdAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections (direct or through an HTTP proxy) use ``context``.

    ``context`` defaults to ``create_context()``; the other arguments are HTTPAdapter's.
    """

    def __init__(self, context: TrustdSSLContext | None = None, **kwargs: Any) -> None:
        self.context = create_context() if context is None else context
        super().__init__(**kwargs)

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        """Create the pool manager with our TLS context."""
        pool_kwargs["ssl_context"] = self.context
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        """Create proxy managers with our TLS context for the origin connections."""
        proxy_kwargs["ssl_context"] = self.context
        return super().proxy_manager_for(proxy, **proxy_kwargs)


def session(context: TrustdSSLContext | None = None) -> requests.Session:
    """A requests Session whose https:// requests are verified by trustd."""
    http = requests.Session()
    http.mount("https://", TrustdAdapter(context))
    return http
