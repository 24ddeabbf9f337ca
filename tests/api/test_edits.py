"""Edits against cached verdicts, with a real daemon and its worker pool.

A change removes exactly the cached replies that read what it changed: an edit on a
certificate of a cached chain is seen by the next evaluation, an edit on an unrelated
certificate leaves other replies cached, and identical requests that arrive together are
answered by one evaluation (Status counts the workers' evaluations and the cache's work).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from daemons import Daemon, read_message, running_daemon
from pki import DEFAULT_KEYS, PKI, Issued, aia
from security.clients import NOBODY, as_uid, require_root
from waiting import eventually

DENY = 3  # SecTrustSettingsResult kSecTrustSettingsResultDeny


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@pytest.fixture(scope="module")
def module_pki() -> PKI:
    return PKI(DEFAULT_KEYS)


@pytest.fixture(scope="module")
def pool(module_pki: PKI) -> Iterator[Daemon]:
    """One daemon with two evaluation workers for the module (each test has its own chains)."""
    with running_daemon(module_pki.root("System Root"), "--workers", "2") as running:
        yield running


def counters(daemon: Daemon) -> dict[str, int]:
    status = daemon.call("Status")["parameters"]
    return {**status["verdicts"], "workers": status["workers"]["evaluations"]}


def evaluate(daemon: Daemon, *chain: Issued, **parameters: Any) -> dict[str, Any]:
    reply = daemon.call("Evaluate", certificates=[b64(c.der) for c in chain], **parameters)
    verdict: dict[str, Any] = reply["parameters"]["verdict"]
    return verdict


def set_settings(daemon: Daemon, cert: Issued, constraints: list[dict[str, Any]]) -> None:
    reply = daemon.call(
        "SetTrustSettings", domain="user", certificate=b64(cert.der), constraints=constraints
    )
    assert "error" not in reply, reply


def chain(pki: PKI, root: Issued, name: str) -> tuple[Issued, Issued]:
    ca = pki.intermediate(root, f"{name} CA")
    return pki.leaf(ca, f"{name} leaf"), ca


def test_an_edit_on_a_certificate_of_a_cached_chain_is_seen_at_once(
    pool: Daemon, module_pki: PKI
) -> None:
    leaf, ca = chain(module_pki, pool.root, "Edited")
    assert evaluate(pool, leaf, ca)["trusted"]
    before = counters(pool)
    assert evaluate(pool, leaf, ca)["trusted"]  # cached
    assert counters(pool)["workers"] == before["workers"]
    set_settings(pool, ca, [{"result": DENY}])
    denied = evaluate(pool, leaf, ca)
    assert not denied["trusted"] and denied["result"] == "deny"
    assert pool.call("RemoveTrustSettings", domain="user", sha1=ca.sha1)["parameters"] == {}
    assert evaluate(pool, leaf, ca)["trusted"]
    after = counters(pool)
    assert after["workers"] == before["workers"] + 2  # the two verdicts after the edits
    assert after["invalidated"] >= before["invalidated"] + 2


def test_an_edit_on_an_unrelated_certificate_keeps_other_cached_verdicts(
    pool: Daemon, module_pki: PKI
) -> None:
    leaf, ca = chain(module_pki, pool.root, "Kept")
    other_leaf, other_ca = chain(module_pki, module_pki.root("Unrelated Root"), "Unrelated")
    assert evaluate(pool, leaf, ca)["trusted"]
    assert not evaluate(pool, other_leaf, other_ca)["trusted"]  # not anchored
    before = counters(pool)
    set_settings(pool, other_ca, [{"result": DENY}])
    assert evaluate(pool, leaf, ca)["trusted"]
    kept = counters(pool)
    assert kept["workers"] == before["workers"]  # answered from the cache
    assert kept["hits"] == before["hits"] + 1
    assert kept["invalidated"] == before["invalidated"] + 1  # the other chain's reply only
    assert evaluate(pool, other_leaf, other_ca)["result"] == "deny"
    assert counters(pool)["workers"] == before["workers"] + 1


class _SlowIssuer(BaseHTTPRequestHandler):
    """Serves the issuer (the server's `issuer` bytes) once `release` is set."""

    protocol_version = "HTTP/1.1"
    server: Any

    def do_GET(self) -> None:
        self.server.hits += 1
        self.server.release.wait(20)
        body = self.server.issuer
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


def test_identical_requests_at_once_share_one_evaluation(pool: Daemon, module_pki: PKI) -> None:
    """The first request's evaluation waits on the network for its missing issuer; an
    identical request arriving meanwhile waits for that answer instead of evaluating again."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowIssuer)
    server.daemon_threads = True
    server.hits, server.release = 0, threading.Event()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        ca = module_pki.intermediate(pool.root, "Fetched CA")
        server.issuer = ca.der
        url = f"http://127.0.0.1:{server.server_address[1]}/ca.der"
        now = dt.datetime.now(dt.UTC)
        leaf = module_pki.leaf(
            ca,
            "Fetched leaf",
            dns=["fetched.example"],
            not_before=now - dt.timedelta(days=10),
            not_after=now + dt.timedelta(days=300),  # within the SSL policy's 825 days
            extra_extensions=[aia(ca_issuers=[url])],
        )
        before = counters(pool)
        answers: list[dict[str, Any]] = []
        ssl = {"policies": [{"policy": "ssl", "name": "fetched.example"}]}

        def ask() -> None:
            answers.append(evaluate(pool, leaf, **ssl))

        first = threading.Thread(target=ask)
        first.start()
        deadline = time.monotonic() + 20
        while server.hits == 0 and time.monotonic() < deadline:  # the first is on the network
            first.join(0.02)
        second = threading.Thread(target=ask)
        second.start()
        while counters(pool)["coalesced"] == before["coalesced"] and time.monotonic() < deadline:
            second.join(0.02)
        server.release.set()
        first.join(20)
        second.join(20)
        after = counters(pool)
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
    assert len(answers) == 2 and answers[0] == answers[1]
    assert answers[0]["trusted"], answers[0]["failures"]
    assert len(answers[0]["chain"]) == 3  # the fetched issuer
    assert server.hits == 1
    assert after["coalesced"] == before["coalesced"] + 1
    assert after["evaluations"] == before["evaluations"] + 1
    assert after["workers"] == before["workers"] + 1  # one evaluation in the pool for both


def test_an_admin_edit_reaches_every_users_cached_verdicts_and_a_users_edit_only_theirs(
    pool: Daemon, module_pki: PKI
) -> None:
    """The admin domain is everyone's: root's edit there removes another uid's cached reply.
    A user's own domain is theirs: root's user-domain edit leaves the other uid's reply."""
    require_root()
    leaf, ca = chain(module_pki, pool.root, "Shared")
    ask = ("Evaluate", {"certificates": [b64(leaf.der), b64(ca.der)]})

    def nobody(count: int = 1) -> list[dict[str, Any]]:
        return [
            reply["parameters"]["verdict"] for reply in as_uid(pool.socket, NOBODY, [ask] * count)
        ]

    assert all(verdict["trusted"] for verdict in nobody(2))  # the second from the cache
    before = counters(pool)
    set_settings(pool, ca, [{"result": DENY}])  # root's own user domain
    assert nobody()[0]["trusted"]
    assert counters(pool)["workers"] == before["workers"]  # still nobody's cached reply
    denied = pool.call(
        "SetTrustSettings", domain="admin", certificate=b64(ca.der), constraints=[{"result": DENY}]
    )
    assert denied == {"parameters": {}}, denied
    try:
        assert nobody()[0]["result"] == "deny"
        assert counters(pool)["workers"] == before["workers"] + 1
    finally:
        pool.call("RemoveTrustSettings", domain="admin", sha1=ca.sha1)
        pool.call("RemoveTrustSettings", domain="user", sha1=ca.sha1)
    assert nobody()[0]["trusted"]


def test_a_stored_issuer_added_or_deleted_is_seen_at_once(pool: Daemon, module_pki: PKI) -> None:
    """A reply that looked for a subject's issuers goes when a certificate of that subject is
    stored or deleted (the caller's own store here); every call counts as a request served."""
    leaf, ca = chain(module_pki, pool.root, "Stored")
    served = pool.call("Status")["parameters"]["requests_served"]
    assert not evaluate(pool, leaf)["trusted"]  # the issuer is nowhere
    assert not evaluate(pool, leaf)["trusted"]  # cached
    added = pool.call("AddCertificates", certificates=[b64(ca.der)], domain="user")
    assert added["parameters"]["added"] == [ca.sha1.upper()], added
    assert evaluate(pool, leaf)["trusted"]
    deleted = pool.call("DeleteCertificate", sha1=ca.sha1, domain="user")
    assert deleted == {"parameters": {}}, deleted
    assert not evaluate(pool, leaf)["trusted"]
    assert pool.call("Status")["parameters"]["requests_served"] == served + 4


def test_a_call_repeated_byte_for_byte_gets_only_its_own_uids_current_reply(
    pool: Daemon, module_pki: PKI
) -> None:
    """The daemon answers a call it has seen before from the same uid, byte for byte, without
    decoding it again: still only with that uid's reply, never with one an edit removed, and
    logged and counted like any call.  A oneway call is never answered, repeated or not."""
    require_root()
    leaf, ca = chain(module_pki, pool.root, "Repeated")
    ask = ("Evaluate", {"certificates": [b64(leaf.der), b64(ca.der)]})

    def as_root() -> dict[str, Any]:
        verdict: dict[str, Any] = pool.call("Evaluate", **ask[1])["parameters"]["verdict"]
        return verdict

    def as_nobody() -> dict[str, Any]:
        verdict: dict[str, Any] = as_uid(pool.socket, NOBODY, [ask])[0]["parameters"]["verdict"]
        return verdict

    served = pool.call("Status")["parameters"]["requests_served"]

    def logged() -> int:  # root's Evaluate lines (each written once its reply is sent)
        lines = pool.log.read_text().splitlines()
        return sum("uid=0 " in line and "Trust.Evaluate: ok" in line for line in lines)

    logged_before = logged()
    assert as_root()["trusted"] and as_root()["trusted"]  # the second one recalled
    before = counters(pool)
    assert as_root()["trusted"]
    assert counters(pool)["hits"] == before["hits"] + 1
    assert counters(pool)["workers"] == before["workers"]
    set_settings(pool, ca, [{"result": DENY}])  # root's own user domain
    try:
        assert as_root()["result"] == "deny"  # not the reply the edit removed
        assert as_nobody()["trusted"]  # the same bytes from another uid: its own reply
        assert as_root()["result"] == "deny"
    finally:
        assert pool.call("RemoveTrustSettings", domain="user", sha1=ca.sha1)["parameters"] == {}
    assert as_root()["trusted"]
    status = pool.call("Status")["parameters"]
    assert status["requests_served"] == served + 7  # root's six Evaluate calls, nobody's one
    eventually(lambda: logged() == logged_before + 6, what=pool.with_log("six lines"))

    with socket.socket(socket.AF_UNIX) as conn:
        conn.settimeout(10)
        conn.connect(str(pool.socket))
        oneway = json.dumps({"method": "io.trustd.Trust.Evaluate", "parameters": ask[1],
                             "oneway": True}).encode() + b"\0"  # fmt: skip
        echo = {"method": "io.trustd.Trust.Echo", "parameters": {"text": "after"}}
        conn.sendall(oneway + oneway + json.dumps(echo).encode() + b"\0")
        assert read_message(conn) == {"parameters": {"text": "after"}}
