"""Body of tests/projection/test_debian_live.py, run as root inside the private namespace.

Starts trustd as the system service does (root, no options: default paths) and drives it with
trustctl and real TLS clients; prints one JSON object of what it observed on its last line.
The outer test asserts on it.  Needs: update-ca-certificates, openssl, curl, gnutls-cli; Java's
keytool when present.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from pki import PKI, Issued, KeyCache
from waiting import eventually

BIN = Path(sys.executable).parent
WORK = Path("/run/trustd-test")  # inside the namespace's own /run
SOCKET = Path("/run/trustd/trustd.sock")
CONF = Path("/etc/ca-certificates.conf")
BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
SETTLE = 60.0  # seconds to wait for an expected state (the tools are slow on a busy machine)
OBSERVED: dict[str, Any] = {}


def run(*argv: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def trustctl(*argv: str) -> subprocess.CompletedProcess[str]:
    done = run(str(BIN / "trustctl"), *argv)
    if done.returncode != 0:
        raise SystemExit(f"trustctl {' '.join(argv)} failed: {done.stdout}{done.stderr}")
    return done


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_pair(name: str, issued: Issued) -> tuple[Path, Path]:
    cert, key = WORK / f"{name}.pem", WORK / f"{name}.key"
    cert.write_bytes(issued.pem)
    key.write_bytes(
        issued.key.private_bytes(  # type: ignore[union-attr]
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert, key


SERVERS: list[subprocess.Popen[bytes]] = []


def serve(name: str, leaf: Issued) -> int:
    cert, key = write_pair(name, leaf)
    port = free_port()
    server = subprocess.Popen(
        [
            "openssl",
            "s_server",
            "-accept",
            f"127.0.0.1:{port}",
            "-cert",
            str(cert),
            "-key",
            str(key),
            "-www",
            "-quiet",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    if wait_until(lambda: listening(port), 5) is None:
        raise SystemExit("openssl s_server did not start")
    SERVERS.append(server)
    return port


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def python_accepts(port: int) -> bool:
    code = (
        "import socket, ssl\n"
        "c = ssl.create_default_context()\n"
        f"s = socket.create_connection(('127.0.0.1', {port}), timeout=5)\n"
        "c.wrap_socket(s, server_hostname='localhost').close()\n"
    )
    return run(sys.executable, "-c", code).returncode == 0


def clients(port: int) -> dict[str, bool]:
    """Which programs complete a verified handshake with the server on `port`."""
    url = f"https://localhost:{port}/"
    return {
        "curl": run("curl", "-sS", "--max-time", "5", "-o", "/dev/null", url).returncode == 0,
        "openssl": run(
            "openssl",
            "s_client",
            "-connect",
            f"127.0.0.1:{port}",
            "-servername",
            "localhost",
            "-verify_return_error",
            "-verify_hostname",
            "localhost",
        ).returncode
        == 0,
        "python": python_accepts(port),
        "gnutls": run("gnutls-cli", "--port", str(port), "localhost").returncode == 0,
    }


def node_clients(port: int) -> dict[str, bool] | None:
    """Node with its default store, with --use-openssl-ca (and SSL_CERT_FILE, for builds with
    their own OpenSSL), with NODE_EXTRA_CA_CERTS (None: no node here).  Recorded for
    docs/every-program.md, which says what each does."""
    if shutil.which("node") is None:
        return None
    code = (
        f"require('https').get('https://localhost:{port}/', r => process.exit(0))"
        ".on('error', () => process.exit(1))"
    )
    extra = {**os.environ, "NODE_EXTRA_CA_CERTS": str(BUNDLE)}
    system = {**os.environ, "SSL_CERT_FILE": str(BUNDLE)}

    def ok(*argv: str, env: dict[str, str] | None = None) -> bool:
        done = subprocess.run(
            ["node", *argv, "-e", code], env=env, capture_output=True, timeout=30, check=False
        )
        return done.returncode == 0

    return {
        "default": ok(),
        "use_openssl_ca": ok("--use-openssl-ca", env=system),
        "extra_ca_certs": ok(env=extra),
    }


def java_holds(issued: Issued) -> bool | None:
    """Whether Java's default cacerts holds the certificate (None: no keytool here)."""
    if shutil.which("keytool") is None:
        return None
    listing = run("keytool", "-list", "-cacerts", "-storepass", "changeit", timeout=60).stdout
    fingerprint = ":".join(f"{b:02X}" for b in hashlib.sha256(issued.der).digest())
    return fingerprint in listing


def stores() -> dict[str, Any]:
    from trustd.client import Client

    with Client(SOCKET) as client:
        return dict(client.status().trust_stores or {})


def wait_until(what: Callable[[], bool], timeout: float = SETTLE) -> float | None:
    """Seconds until `what()` held, or None if it never did within `timeout` (the outer test
    asserts on what was observed)."""
    start = time.monotonic()
    try:
        eventually(what, timeout)
    except AssertionError:
        return None
    return round(time.monotonic() - start, 2)


def curl_accepts(port: int) -> bool:
    url = f"https://localhost:{port}/"
    return run("curl", "-sS", "--max-time", "5", "-o", "/dev/null", url).returncode == 0


def settled() -> None:
    """Wait until the projection has nothing due or running (its hooks included)."""
    time.sleep(0.1)  # the change's notification reaches the projection thread
    wait_until(lambda: not stores()["busy"], timeout=120)


def own_source(issued: Issued) -> bool:
    own = Path("/usr/share/ca-certificates/trustd")
    return any(p.read_bytes().strip() == issued.pem.strip() for p in own.glob("*.crt"))


def start_daemon() -> subprocess.Popen[bytes]:
    log = open(WORK / "trustd.log", "wb")  # noqa: SIM115 - closed at exit
    daemon = subprocess.Popen([str(BIN / "trustd")], stdout=log, stderr=log)

    def answers() -> bool:
        if daemon.poll() is not None:
            raise SystemExit("trustd exited: " + (WORK / "trustd.log").read_text())
        return SOCKET.exists() and run(str(BIN / "trustctl"), "status").returncode == 0

    if wait_until(answers) is None:
        raise SystemExit("trustd did not start")
    return daemon


def main() -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    pki = PKI(KeyCache())
    try:
        scenario(pki)
    finally:
        for server in SERVERS:
            server.kill()
            server.wait()
        print(json.dumps(OBSERVED))


def scenario(pki: PKI) -> None:
    org = pki.root(cn="Projection Org Root")
    system_root = pki.root(cn="Projection System Root")
    dropin = pki.root(cn="Projection Dropin Root")
    smime_only = pki.root(cn="Projection SMIME Root")
    one_host = pki.root(cn="Projection One Host Root")
    org_port = serve("org-leaf", pki.leaf(org, dns=["localhost"], ips=["127.0.0.1"]))
    system_port = serve("system-leaf", pki.leaf(system_root, dns=["localhost"], ips=["127.0.0.1"]))
    dropin_port = serve("dropin-leaf", pki.leaf(dropin, dns=["localhost"], ips=["127.0.0.1"]))
    for name, issued in (
        ("org", org),
        ("system", system_root),
        ("dropin", dropin),
        ("smime", smime_only),
        ("one-host", one_host),
    ):
        write_pair(name, issued)

    # A root in the system store beforehand, the way a package installs one.
    extra = Path("/usr/share/ca-certificates/extra")
    extra.mkdir(exist_ok=True)
    (extra / "projection-system-root.crt").write_bytes(system_root.pem)
    with CONF.open("a") as conf:
        conf.write("extra/projection-system-root.crt\n")
    done = run("update-ca-certificates", timeout=300)
    assert done.returncode == 0, done.stderr

    daemon = start_daemon()
    try:
        settled()
        start = stores()
        from trustd.client import Client

        with Client(SOCKET) as client:
            start_anchors = client.status().counts.system_anchors
        OBSERVED["start_updates"] = start["updates"]
        OBSERVED["start_problems"] = start["problems"]
        OBSERVED["org_before"] = clients(org_port)
        OBSERVED["system_before"] = clients(system_port)

        # Trust for TLS: exactly the command of the README, and nothing else.
        trustctl("add-trusted-cert", "-d", "-r", "trustRoot", "-p", "ssl", str(WORK / "org.pem"))
        OBSERVED["org_source_seconds"] = wait_until(lambda: own_source(org))
        OBSERVED["org_trusted_seconds"] = wait_until(lambda: curl_accepts(org_port))
        settled()
        OBSERVED["org_trusted"] = clients(org_port)
        OBSERVED["java_org_trusted"] = java_holds(org)
        OBSERVED["node_org_trusted"] = node_clients(org_port)
        with Client(SOCKET) as client:
            OBSERVED["system_anchors"] = [start_anchors, client.status().counts.system_anchors]

        # Trust that stays out of the TLS stores (S/MIME only, one host only), a deny of a
        # root of the system store, and a drop-in anchor file, together.
        trustctl(
            "add-trusted-cert", "-d", "-r", "trustRoot", "-p", "smime", str(WORK / "smime.pem")
        )
        trustctl(
            "add-trusted-cert",
            "-d",
            "-r",
            "trustRoot",
            "-p",
            "ssl",
            "-s",
            "only.example",
            str(WORK / "one-host.pem"),
        )
        trustctl("add-trusted-cert", "-d", "-r", "deny", str(WORK / "system.pem"))
        anchors = Path("/etc/trustd/anchors")
        anchors.mkdir(parents=True, exist_ok=True)
        (anchors / "dropin.pem").write_bytes(dropin.pem)
        OBSERVED["changed_seconds"] = wait_until(
            lambda: not curl_accepts(system_port) and curl_accepts(dropin_port)
        )
        settled()
        OBSERVED["system_denied"] = clients(system_port)
        OBSERVED["dropin_added"] = clients(dropin_port)
        OBSERVED["conf_deselected"] = (
            "!extra/projection-system-root.crt" in CONF.read_text().splitlines()
        )
        bundle = BUNDLE.read_bytes()
        OBSERVED["bundle_has"] = {
            "smime_only": smime_only.pem.strip() in bundle,
            "one_host": one_host.pem.strip() in bundle,
        }
        OBSERVED["java_system_denied"] = java_holds(system_root)
        OBSERVED["node_system_denied"] = node_clients(system_port)

        # Everything taken back.
        trustctl("remove-trusted-cert", "-d", str(WORK / "org.pem"))
        trustctl("remove-trusted-cert", "-d", str(WORK / "system.pem"))
        (anchors / "dropin.pem").unlink()
        OBSERVED["restored_seconds"] = wait_until(
            lambda: (
                not curl_accepts(org_port)
                and curl_accepts(system_port)
                and not curl_accepts(dropin_port)
            )
        )
        settled()
        OBSERVED["org_removed"] = clients(org_port)
        OBSERVED["system_restored"] = clients(system_port)
        OBSERVED["dropin_removed"] = clients(dropin_port)
        OBSERVED["java_org_removed"] = java_holds(org)
        OBSERVED["java_system_restored"] = java_holds(system_root)

        # A burst of 200 changes: trust set and removed 100 times, then set once more.
        before = stores()["updates"]
        started = time.monotonic()
        with Client(SOCKET) as client:
            for _ in range(100):
                client.set_trust_settings("admin", org.der)
                client.remove_trust_settings("admin", org.sha1)
            client.set_trust_settings("admin", org.der)
        OBSERVED["burst_seconds"] = round(time.monotonic() - started, 2)
        OBSERVED["burst_trusted_seconds"] = wait_until(lambda: curl_accepts(org_port))
        settled()
        end = stores()
        OBSERVED["burst_updates"] = end["updates"] - before
        OBSERVED["burst_end"] = clients(org_port)
        OBSERVED["end_problems"] = end["problems"]
        OBSERVED["status_text"] = trustctl("status").stdout
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            daemon.kill()
        OBSERVED["daemon_exit"] = daemon.returncode
        OBSERVED["log_tail"] = (WORK / "trustd.log").read_text()[-3000:]


# Settings that would point programs at a bundle: every client here runs with its defaults.
CA_SETTINGS = (
    "TRUSTD_SOCKET",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "CURL_CA_BUNDLE",
    "REQUESTS_CA_BUNDLE",
    "NODE_EXTRA_CA_CERTS",
    "NODE_OPTIONS",
    "NIX_SSL_CERT_FILE",
)

if __name__ == "__main__":
    for name in CA_SETTINGS:
        os.environ.pop(name, None)
    main()
