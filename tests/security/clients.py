"""Clients of other users for the security tests: real processes that switched uid.

`as_uid` runs one short Python process as `uid` (gid the same, no supplementary groups unless
given) that makes each call on its own connection and prints the replies; identity reaches the
daemon only through SO_PEERCRED, as for any real client.  Switching uid needs root: tests that
use it call `require_root()` first and are skipped elsewhere.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

NOBODY = 65534
OTHER = 40001  # a second unprivileged uid (no passwd entry is needed to run as it)

_CLIENT = textwrap.dedent(
    """
    import json, os, socket, sys
    uid, groups, path = int(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
    os.setgroups(groups); os.setgid(uid); os.setuid(uid)
    replies = []
    for message in json.loads(sys.stdin.read()):
        with socket.socket(socket.AF_UNIX) as conn:
            conn.settimeout(30)
            conn.connect(path)
            conn.sendall(json.dumps(message).encode() + b"\\0")
            data = b""
            while b"\\0" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
            replies.append(json.loads(data.split(b"\\0")[0]) if data else None)
    print(json.dumps(replies))
    """
)


def require_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("switching to another uid needs root")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def as_uid(
    socket_path: Path,
    uid: int,
    calls: list[tuple[str, dict[str, Any]]],
    *,
    groups: tuple[int, ...] = (),
) -> list[dict[str, Any]]:
    """Each io.trustd.Trust call made by a process running as `uid`; the reply messages."""
    messages = [
        {"method": f"io.trustd.Trust.{method}", "parameters": parameters}
        for method, parameters in calls
    ]
    done = subprocess.run(
        [sys.executable, "-c", _CLIENT, str(uid), json.dumps(groups), str(socket_path)],
        input=json.dumps(messages),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    replies: list[dict[str, Any]] = json.loads(done.stdout)
    return replies


_TIMED_CLIENT = textwrap.dedent(
    """
    import json, os, socket, sys, time
    uid, path, timeout = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
    os.setgroups([]); os.setgid(uid); os.setuid(uid)
    out = []
    for message in json.loads(sys.stdin.read()):
        started = time.monotonic()
        reply = None
        try:
            with socket.socket(socket.AF_UNIX) as conn:
                conn.settimeout(timeout)
                conn.connect(path)
                conn.sendall(json.dumps(message).encode() + b"\\0")
                data = b""
                while b"\\0" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                reply = json.loads(data.split(b"\\0")[0]) if data else None
        except OSError:
            pass
        out.append([time.monotonic() - started, reply])
    print(json.dumps(out))
    """
)


def start_as_uid(
    socket_path: Path, uid: int, calls: list[tuple[str, dict[str, Any]]], *, timeout: float = 60
) -> subprocess.Popen[str]:
    """Like `as_uid`, in the background; `timed_replies` collects [(seconds, reply)] (reply
    None when the call got no answer within `timeout` seconds)."""
    messages = [
        {"method": f"io.trustd.Trust.{method}", "parameters": parameters}
        for method, parameters in calls
    ]
    process = subprocess.Popen(
        [sys.executable, "-c", _TIMED_CLIENT, str(uid), str(socket_path), str(timeout)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None
    process.stdin.write(json.dumps(messages))
    process.stdin.close()
    return process


def timed_replies(process: subprocess.Popen[str], timeout: float = 120) -> list[tuple[float, Any]]:
    assert process.stdout is not None
    process.wait(timeout=timeout)
    return [(seconds, reply) for seconds, reply in json.loads(process.stdout.read())]
