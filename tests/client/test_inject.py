"""inject_into_ssl(): programs that never heard of trustd verify through it.

Real HTTPS servers on 127.0.0.1, a real daemon, and the libraries as a program uses them
(``requests.get``, ``httpx.get``, aiohttp, ``urllib.request.urlopen`` with no context): what the
calling user trusts or denies in trustd decides.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from collections.abc import Iterator

import aiohttp
import httpx
import pytest
import requests
from client.conftest import BODY, TLSServer, TLSServerFactory, short_leaf
from daemons import Daemon
from pki import PKI, Issued

from trustd.client import Client, UsageConstraint, extract_from_ssl, inject_into_ssl
from trustd.client.inject import InjectedSSLContext, injected
from trustd.client.ssl import TrustdVerificationError

DENY = 3  # kSecTrustSettingsResultDeny


@pytest.fixture
def trustd(daemon: Daemon, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    """The daemon, the default for this process's clients (as the system socket would be)."""
    monkeypatch.setenv("TRUSTD_SOCKET", str(daemon.socket))
    client = Client(daemon.socket)
    yield client
    client.close()


@pytest.fixture
def injection(trustd: Client) -> Iterator[None]:
    inject_into_ssl()
    try:
        yield
    finally:
        extract_from_ssl()
    assert not injected()


def _requests(url: str) -> bytes:
    return requests.get(url, timeout=10).content


def _httpx(url: str) -> bytes:
    return httpx.get(url, timeout=10).content


def _aiohttp(url: str) -> bytes:
    async def fetch() -> bytes:
        async with aiohttp.ClientSession() as http, http.get(url) as response:
            return await response.read()

    return asyncio.run(fetch())


def _urllib(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:  # the default https context
        body: bytes = response.read()
    return body


CLIENTS = {"requests": _requests, "httpx": _httpx, "aiohttp": _aiohttp, "urllib": _urllib}
REFUSALS: dict[str, type[BaseException] | tuple[type[BaseException], ...]] = {
    "requests": requests.exceptions.SSLError,
    "httpx": httpx.ConnectError,
    "aiohttp": aiohttp.ClientConnectorCertificateError,
    "urllib": urllib.error.URLError,
}


def _trust_as_user(trustd: Client, root: Issued) -> None:
    trustd.add_certificates([root.der], domain="user")
    trustd.set_trust_settings("user", root.der)


def _accepted(url: str) -> None:
    for name, fetch in CLIENTS.items():
        assert fetch(url) == BODY, name


def _refused(url: str) -> None:
    for name, fetch in CLIENTS.items():
        with pytest.raises(REFUSALS[name]):
            fetch(url)


@pytest.mark.usefixtures("injection")
def test_what_the_user_trusts_and_denies_decides_for_every_library(
    trustd: Client,
    tls_server: TLSServerFactory,
    good_server: TLSServer,
    intermediate: Issued,
    pki: PKI,
) -> None:
    org = pki.root("Org Root")
    org_server = tls_server(short_leaf(pki, org, ["localhost"], ["127.0.0.1"]))

    # A server under the machine's anchor passes; one under a root nobody trusts does not.
    _accepted(good_server.url)
    _refused(org_server.url)

    # The calling user trusts the org root (in their own keychain, with their own trust
    # settings, as `trustctl add-trusted-cert -r trustRoot` does): every library follows.
    _trust_as_user(trustd, org)
    _accepted(org_server.url)

    # The user denies the intermediate under the system anchor: every library refuses.
    trustd.set_trust_settings("user", intermediate.der, [UsageConstraint(result=DENY)])
    _refused(good_server.url)
    with pytest.raises(requests.exceptions.SSLError) as raised:
        _requests(good_server.url)
    assert "Deny" in str(raised.value) or "deny" in str(raised.value)


def test_extract_restores_openssl_verification(
    trustd: Client, tls_server: TLSServerFactory, pki: PKI
) -> None:
    org = pki.root("Org Root")
    org_server = tls_server(short_leaf(pki, org, ["localhost"], ["127.0.0.1"]))
    _trust_as_user(trustd, org)

    inject_into_ssl()
    inject_into_ssl()  # idempotent
    try:
        assert injected() and ssl.SSLContext is InjectedSSLContext
        assert _requests(org_server.url) == BODY
    finally:
        extract_from_ssl()
    assert ssl.SSLContext is not InjectedSSLContext
    # OpenSSL with certifi's bundle knows nothing of trustd's settings again.
    with pytest.raises(requests.exceptions.SSLError):
        _requests(org_server.url)
    assert type(ssl.create_default_context()) is ssl.SSLContext


@pytest.mark.usefixtures("injection")
def test_server_contexts_stay_openssls_and_settings_do_not_recurse() -> None:
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    assert type(server) is not InjectedSSLContext
    assert type(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)) is not InjectedSSLContext
    client = ssl.create_default_context()
    assert isinstance(client, InjectedSSLContext) and isinstance(client, ssl.SSLContext)
    # ssl.SSLContext's own setters name the class at call time: no recursion once injected.
    client.minimum_version = ssl.TLSVersion.TLSv1_2
    client.maximum_version = ssl.TLSVersion.TLSv1_3
    client.options |= ssl.OP_NO_TICKET
    client.verify_flags |= ssl.VERIFY_X509_STRICT
    assert client.minimum_version == ssl.TLSVersion.TLSv1_2
    assert client.options & ssl.OP_NO_TICKET
    assert client.verify_mode == ssl.CERT_REQUIRED and client.check_hostname


def test_a_program_that_only_calls_inject(
    trustd: Client, tls_server: TLSServerFactory, pki: PKI
) -> None:
    """A separate program, requests imported first (as a program's imports would be)."""
    org = pki.root("Org Root")
    org_server = tls_server(short_leaf(pki, org, ["localhost"], ["127.0.0.1"]))
    _trust_as_user(trustd, org)
    program = textwrap.dedent(
        """
        import sys, requests, trustd.client
        trustd.client.inject_into_ssl()
        print(requests.get(sys.argv[1], timeout=10).text, end="")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", program, org_server.url],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.encode() == BODY


@pytest.mark.usefixtures("injection")
def test_a_refusal_carries_trustds_verdict(
    good_server: TLSServer, tls_server: TLSServerFactory, pki: PKI
) -> None:
    stranger = tls_server(short_leaf(pki, pki.root("Stranger"), ["localhost"], ["127.0.0.1"]))
    with pytest.raises(urllib.error.URLError) as raised:
        _urllib(stranger.url)
    reason = raised.value.reason
    assert isinstance(reason, TrustdVerificationError)
    assert reason.result is not None and not reason.result.trusted
    assert reason.result.checks == ("MissingIntermediate",)  # its root is known nowhere
    assert _urllib(good_server.url) == BODY
