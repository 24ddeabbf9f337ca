"""One user cannot take every connection thread: past the per-user limit, TooManyConnections.

A real process running as another uid holds connections open; root (whose connections are not
limited) watches the daemon serve everyone else meanwhile.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from daemons import start_daemon
from pki import PKI
from security.clients import NOBODY, require_root

LIMIT = 3

# As `uid`: open LIMIT connections and use each, then one more, then close one and try again.
_HOLDER = textwrap.dedent(
    """
    import contextlib, json, os, socket, sys, time
    uid, path, limit = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    os.setgroups([]); os.setgid(uid); os.setuid(uid)

    def call(conn):
        # Refused and closed before the call was sent: its answer is there to read all the same.
        with contextlib.suppress(BrokenPipeError):
            conn.sendall(b'{"method":"io.trustd.Trust.Echo","parameters":{"text":"hi"}}\\0')
        data = b""
        while not data.endswith(b"\\0"):
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
        return json.loads(data[:-1]) if data else None

    def connect():
        conn = socket.socket(socket.AF_UNIX)
        conn.settimeout(10)
        conn.connect(path)
        return conn

    held = [connect() for _ in range(limit)]
    out = {"held": [call(c) for c in held]}
    extra = connect()
    out["extra"] = call(extra)
    extra.close()
    held.pop().close()
    for _ in range(100):  # the daemon counts the closed one out when its thread sees EOF
        again = connect()
        out["again"] = call(again)
        again.close()
        if "error" not in out["again"]:
            break
        time.sleep(0.05)
    print(json.dumps(out))
    """
)


def test_a_user_past_the_limit_is_refused_and_others_are_served(pki: PKI) -> None:
    require_root()
    base = Path(tempfile.mkdtemp(prefix="trustd-limit-", dir="/tmp"))  # reachable by NOBODY
    daemon = start_daemon(base, pki.root("System Root"), "--workers", "1",
                          "--max-connections-per-user", str(LIMIT))  # fmt: skip
    try:
        done = subprocess.run(
            [sys.executable, "-c", _HOLDER, str(NOBODY), str(daemon.socket), str(LIMIT)],
            check=False, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        out = json.loads(done.stdout)
        echo = {"parameters": {"text": "hi"}}
        assert out["held"] == [echo] * LIMIT
        assert out["extra"] == {
            "error": "io.trustd.Trust.TooManyConnections",
            "parameters": {"limit": LIMIT},
        }
        assert out["again"] == echo  # a connection closed is a connection freed
        # Root is not limited: more connections than the limit, all served.
        assert [daemon.call("Echo", text="root") for _ in range(LIMIT + 2)] == [
            {"parameters": {"text": "root"}}
        ] * (LIMIT + 2)
        assert f"uid {NOBODY} has {LIMIT} connections open" in daemon.log.read_text()
    finally:
        assert daemon.stop() == 0
        shutil.rmtree(base, ignore_errors=True)
