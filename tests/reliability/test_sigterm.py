"""SIGTERM answers every request the daemon accepted, also those still in the listen backlog.

Clients whose connections the kernel queued, with their request sent, while the daemon was
not accepting (stopped with SIGSTOP, so that the queue is long and the moment certain) get
their reply when it is told to stop, and so does every client of a steady stream connecting
while it stops: the daemon removes its socket file (new clients learn at once that it is
gone), drains the backlog before it closes the listening socket, and answers every complete
request it received before it exits.  A client may be refused; once connected, it is answered.
"""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from pathlib import Path

from daemons import read_message, start_daemon
from pki import PKI
from reliability.faults import wait_gone

QUEUED = 300  # connections waiting in the backlog when SIGTERM arrives
STREAMS = 4  # clients connecting one after another while the daemon stops


def _stream(path: Path, tag: str, outcomes: list[str], lost: list[str]) -> None:
    """Connect, call, read the reply, again, until the daemon refuses the connection."""
    for index in range(100_000):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(60)
            try:
                client.connect(str(path))
            except OSError:
                outcomes.append("refused")
                return
            text = f"{tag} {index}"
            call = {"method": "io.trustd.Trust.Echo", "parameters": {"text": text}}
            try:
                client.sendall(json.dumps(call).encode() + b"\0")
                reply = read_message(client)
            except OSError as problem:  # accepted by the kernel, then reset or closed
                lost.append(f"{text}: {problem!r}")
                continue
            assert reply == {"parameters": {"text": text}}, reply
            outcomes.append("answered")


def test_sigterm_answers_connections_still_in_the_backlog(tmp_path: Path, pki: PKI) -> None:
    daemon = start_daemon(tmp_path, pki.root("System Root"), "--workers", "1")
    clients: list[socket.socket] = []
    try:
        daemon.process.send_signal(signal.SIGSTOP)
        for index in range(QUEUED):
            client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            client.settimeout(60)
            client.connect(str(daemon.socket))  # queued by the kernel: nobody accepts now
            call = {"method": "io.trustd.Trust.Echo", "parameters": {"text": f"call {index}"}}
            client.sendall(json.dumps(call).encode() + b"\0")
            clients.append(client)
        outcomes: list[str] = []
        lost: list[str] = []
        streams = [
            threading.Thread(target=_stream, args=(daemon.socket, f"stream {n}", outcomes, lost))
            for n in range(STREAMS)
        ]
        for stream in streams:
            stream.start()
        daemon.process.send_signal(signal.SIGTERM)
        daemon.process.send_signal(signal.SIGCONT)
        answered = 0
        for index, client in enumerate(clients):
            try:
                reply = read_message(client)
            except OSError as problem:  # ECONNRESET, or closed before a reply
                lost.append(f"call {index}: {problem!r}")
                continue
            assert reply == {"parameters": {"text": f"call {index}"}}, reply
            answered += 1
        for stream in streams:
            stream.join(timeout=60)
        assert lost == [], f"{len(lost)} accepted calls got no reply: {lost[:3]}"
        assert answered == QUEUED
        assert outcomes.count("refused") == STREAMS, outcomes[-10:]
        assert wait_gone(daemon.process) == 0
        assert not daemon.socket.exists()
        # once it is gone, a client learns so at once (no socket), not after a timeout
        started = time.monotonic()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as late:
            try:
                late.connect(str(daemon.socket))
            except OSError:
                pass
            else:
                raise AssertionError("a stopped daemon accepted a connection")
        assert time.monotonic() - started < 1
    finally:
        for client in clients:
            client.close()
        if daemon.process.poll() is None:
            daemon.process.send_signal(signal.SIGCONT)
            daemon.process.kill()
            daemon.process.wait()
