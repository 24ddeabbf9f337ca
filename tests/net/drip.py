"""A hostile HTTP server on 127.0.0.1, run as its own process: it answers slowly on purpose.

- `/headers...`: the status line and headers, one byte every `interval` seconds (they never end
  within a test);
- `/body...`: the headers at once (Content-Length 1 MB), then the body one byte per interval;
- `/silent...`: nothing at all; the connection is held open.

Each request's path is printed on stdout ("hit <path>") so that tests can see it was asked.
`python drip.py [interval]` prints "port <n>" first.  `Drip` starts and stops it.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HEADERS = b"HTTP/1.1 200 OK\r\nContent-Type: application/pkix-cert\r\n"


def _serve(conn: socket.socket, interval: float, lock: threading.Lock) -> None:
    with conn:
        request = b""
        while b"\r\n\r\n" not in request and len(request) < 65536:
            chunk = conn.recv(4096)
            if not chunk:
                return
            request += chunk
        path = request.split(b" ")[1].decode(errors="replace")
        with lock:
            print(f"hit {path}", flush=True)
        try:
            if path.startswith("/silent"):
                time.sleep(3600)
            elif path.startswith("/body"):
                conn.sendall(HEADERS + b"Content-Length: 1000000\r\n\r\n")
                while True:
                    conn.sendall(b"0")
                    time.sleep(interval)
            else:
                for byte in HEADERS * 1000:
                    conn.sendall(bytes([byte]))
                    time.sleep(interval)
        except OSError:
            return


def main() -> None:
    interval = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
    lock = threading.Lock()
    with socket.create_server(("127.0.0.1", 0), backlog=128) as server:
        print(f"port {server.getsockname()[1]}", flush=True)
        while True:
            conn, _ = server.accept()
            threading.Thread(target=_serve, args=(conn, interval, lock), daemon=True).start()


class Drip:
    """The running server: its URLs, and the paths it was asked for so far."""

    def __init__(self, process: subprocess.Popen[str], port: int) -> None:
        self.process = process
        self.port = port
        self._hits: list[str] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        with self.process.stdout:  # closed here, at the end the server's exit makes
            for line in self.process.stdout:
                if line.startswith("hit "):
                    with self._lock:
                        self._hits.append(line[4:].strip())

    def join(self) -> None:
        """After the server exited: wait until its output is read and closed."""
        self._reader.join(10)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def hits(self) -> list[str]:
        with self._lock:
            return list(self._hits)

    def wait_for_hits(self, count: int, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while len(self.hits) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"the drip server was asked {len(self.hits)} times")
            time.sleep(0.05)


@contextmanager
def drip_server(interval: float = 2.0) -> Iterator[Drip]:
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__)), str(interval)],
        stdout=subprocess.PIPE,
        text=True,
    )
    drip = None
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        if not first.startswith("port "):
            raise RuntimeError(f"the drip server did not start: {first!r}")
        drip = Drip(process, int(first.split()[1]))
        yield drip
    finally:
        process.kill()
        process.wait()
        if drip is not None:
            drip.join()
        elif process.stdout is not None:
            process.stdout.close()


if __name__ == "__main__":
    main()
