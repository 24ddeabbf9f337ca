"""Real network peers on 127.0.0.1 for trustd.net and the TN2232 scenarios.

- `web`: an HTTP server (http.server in a thread) serving bytes at paths of our choice: AIA
  issuers and CRLs; it counts requests and can be told to stall (for timeouts).
- `ocsp_responder`: `openssl ocsp` answering from an index of good and revoked certificates.
- `tls_server`: `openssl s_server -www` serving a chain of our choice.

Ports are chosen by the kernel at run time.  Certificates come from the PKI builder; leaves are
valid around now and short-lived, so Apple's TLS rules accept them under a system anchor.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from pki import PKI, Issued

NOW = dt.datetime.now(dt.UTC)
LEAF_VALIDITY = {"not_before": NOW - dt.timedelta(days=5), "not_after": NOW + dt.timedelta(days=90)}
CA_VALIDITY = {"not_before": NOW - dt.timedelta(days=30), "not_after": NOW + dt.timedelta(days=900)}


def key_pem(issued: Issued) -> bytes:
    return issued.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


# -- HTTP --------------------------------------------------------------------------------------


@dataclass
class Web:
    """An HTTP server on 127.0.0.1 serving registered bytes."""

    port: int = 0
    files: dict[str, tuple[bytes, dict[str, str]]] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)
    stall: set[str] = field(default_factory=set)  # paths that never answer

    def serve(self, path: str, body: bytes, **headers: str) -> str:
        self.files[path] = (body, headers)
        return self.url(path)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def _handler(web: Web, release: threading.Event) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            web.hits[self.path] += 1
            if self.path in web.stall:
                release.wait(10)
                return
            found = web.files.get(self.path)
            if found is None:
                self.send_error(404)
                return
            body, headers = found
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name.replace("_", "-"), value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    return Handler


@pytest.fixture
def web() -> Iterator[Web]:
    state = Web()
    release = threading.Event()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state, release))
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    release.set()
    server.shutdown()
    server.server_close()


# -- openssl processes ---------------------------------------------------------------------------


def _accepting(process: subprocess.Popen[str], pattern: str) -> int:
    """The port an openssl server printed on its ACCEPT line; its later output is drained."""
    assert process.stdout is not None
    output = process.stdout
    for line in output:
        match = re.search(pattern, line)
        if match:
            threading.Thread(target=output.read, daemon=True).start()
            return int(match.group(1))
    process.kill()
    process.wait()
    raise RuntimeError(f"openssl did not start: {process.args}")


def _stop(process: subprocess.Popen[str] | None) -> None:
    if process is None:
        return
    if process.poll() is None:
        process.kill()
    process.wait()
    if process.stdout is not None:
        process.stdout.close()


@dataclass
class OcspResponder:
    """`openssl ocsp` for one CA: certificates are good until `revoke()` lists them."""

    directory: Path
    ca: Issued
    responder: Issued
    process: subprocess.Popen[str] | None = None
    port: int = 0
    entries: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def know(self, cert: Issued, *, revoked: bool = False) -> None:
        """Add `cert` to the index (the responder restarts, on the same port, to read it)."""
        expiry = cert.cert.not_valid_after_utc.strftime("%y%m%d%H%M%SZ")
        serial = f"{cert.cert.serial_number:X}"
        subject = cert.cert.subject.rfc4514_string()
        when = (NOW - dt.timedelta(days=1)).strftime("%y%m%d%H%M%SZ")
        status, revocation = ("R", f"{when},keyCompromise") if revoked else ("V", "")
        self.entries.append(f"{status}\t{expiry}\t{revocation}\t{serial}\tunknown\t/{subject}")
        self.restart()

    def restart(self) -> None:
        self.stop()
        index = self.directory / "index.txt"
        index.write_text("".join(f"{e}\n" for e in self.entries))
        (self.directory / "index.txt.attr").write_text("unique_subject = no\n")
        (self.directory / "ca.pem").write_bytes(self.ca.pem)
        (self.directory / "rsigner.pem").write_bytes(self.responder.pem)
        (self.directory / "rkey.pem").write_bytes(key_pem(self.responder))
        files = {name: str(self.directory / f"{name}.pem") for name in ("ca", "rsigner", "rkey")}
        # The same port again once known: the URL is in the certificates already issued.
        command = ["openssl", "ocsp", "-index", str(index), "-port", str(self.port), "-ndays", "1",
                   "-CA", files["ca"], "-rsigner", files["rsigner"], "-rkey", files["rkey"],
                   "-ignore_err"]  # fmt: skip
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.port = _accepting(self.process, r"ACCEPT .*:(\d+)")

    def stop(self) -> None:
        _stop(self.process)


@dataclass
class TLSServer:
    """`openssl s_server -www` serving one chain on 127.0.0.1."""

    process: subprocess.Popen[str]
    port: int

    @property
    def target(self) -> str:
        return f"localhost:{self.port}"

    @property
    def url(self) -> str:
        return f"https://localhost:{self.port}/"

    def stop(self) -> None:
        _stop(self.process)


TLSServerFactory = Callable[..., TLSServer]


@pytest.fixture
def tls_server() -> Iterator[TLSServerFactory]:
    """Start `openssl s_server` for `leaf` sending `chain` after it (none: the leaf alone)."""
    directory = Path(tempfile.mkdtemp(prefix="trustd-tls-"))
    started: list[TLSServer] = []

    def start(leaf: Issued, chain: Sequence[Issued] = ()) -> TLSServer:
        name = f"server{len(started)}"
        cert, key, extra = (directory / f"{name}{s}.pem" for s in ("", "-key", "-chain"))
        cert.write_bytes(leaf.pem)
        key.write_bytes(key_pem(leaf))
        arguments = ["openssl", "s_server", "-accept", "127.0.0.1:0", "-www",
                     "-cert", str(cert), "-key", str(key)]  # fmt: skip
        if chain:
            extra.write_bytes(b"".join(c.pem for c in chain))
            arguments += ["-cert_chain", str(extra)]
        process = subprocess.Popen(
            arguments, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        server = TLSServer(process, _accepting(process, r"ACCEPT .*:(\d+)"))
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def ocsp_responder(pki: PKI) -> Iterator[Callable[[Issued], OcspResponder]]:
    """An `openssl ocsp` responder for a CA, signing with a delegated responder certificate."""
    made: list[OcspResponder] = []

    def start(ca: Issued) -> OcspResponder:
        directory = Path(tempfile.mkdtemp(prefix="trustd-ocsp-"))
        signer = pki.leaf(ca, "OCSP Responder", eku=("OCSPSigning",), **CA_VALIDITY)  # type: ignore[arg-type]
        responder = OcspResponder(directory, ca, signer)
        made.append(responder)
        responder.restart()
        return responder

    yield start
    for responder in made:
        responder.stop()
        shutil.rmtree(responder.directory, ignore_errors=True)
