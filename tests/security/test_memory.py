"""What one user sends cannot make the daemon hold memory without bound.

Real processes running as another uid attack a real daemon; the daemon's resident set is read
from /proc/<pid>/status before and after.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

import pytest
from daemons import Daemon
from pki import PKI
from security.clients import NOBODY, OTHER, as_uid, b64, require_root

pytestmark = pytest.mark.alone  # it measures the daemon's memory and how fast it answers

MIB = 1024 * 1024


def rss(pid: int) -> int:
    """The resident set of process `pid` in bytes."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


# As `uid`: `count` Evaluate calls, each on its own connection and each with ~2 MB of junk that
# differs from call to call, in a parameter named by argv[5] ("junk": one the interface does not
# declare; "anchors": a declared one, as base64 blobs the evaluation cannot use).  Prints the
# error names (or "ok") of the replies.
_JUNK = textwrap.dedent(
    """
    import base64, json, os, socket, sys
    uid, path, count, leaf, where = sys.argv[1:6]
    os.setgroups([]); os.setgid(int(uid)); os.setuid(int(uid))
    outcomes = []
    for n in range(int(count)):
        junk = base64.b64encode(os.urandom(1_500_000)).decode()
        parameters = {"certificates": [leaf], "policies": [{"policy": "basic"}]}
        if where == "junk":
            parameters["junk"] = junk
        else:
            parameters["anchors"] = [junk[i : i + 100_000] for i in range(0, len(junk), 100_000)]
        message = {"method": "io.trustd.Trust.Evaluate", "parameters": parameters}
        with socket.socket(socket.AF_UNIX) as conn:
            conn.settimeout(60)
            conn.connect(path)
            conn.sendall(json.dumps(message).encode() + b"\\0")
            data = b""
            while not data.endswith(b"\\0"):
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
        reply = json.loads(data[:-1])
        outcomes.append(reply.get("error", "ok"))
    print(json.dumps(outcomes))
    """
)


def _junk_calls(daemon: Daemon, leaf: bytes, count: int, where: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", _JUNK, str(NOBODY), str(daemon.socket), str(count), b64(leaf),
         where],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    outcomes: list[str] = json.loads(done.stdout)
    return outcomes


def test_junk_parameters_do_not_grow_the_daemon(daemon: Daemon, pki: PKI) -> None:
    """100 calls with 2 MB of junk each (undeclared parameters, then blobs in a declared one)
    leave the daemon's resident set within 20 MB of where it was: unknown parameters are
    refused, and a cached reply is keyed by a digest of the decoded request, not by the
    request's text."""
    require_root()
    leaf = pki.leaf(daemon.root, dns=["memory.example"]).der
    # Warm up: threads, the worker pool, caches, and the allocator's high-water mark for
    # 2 MB messages (with fewer calls the baseline sat close enough to the limit to flake).
    _junk_calls(daemon, leaf, 20, "anchors")
    before = rss(daemon.process.pid)
    unknown = _junk_calls(daemon, leaf, 50, "junk")
    declared = _junk_calls(daemon, leaf, 50, "anchors")
    grown = rss(daemon.process.pid) - before
    assert grown < 20 * MIB, f"the daemon grew by {grown / MIB:.1f} MiB"
    assert unknown == ["org.varlink.service.InvalidParameter"] * 50
    assert declared == ["ok"] * 50
    refused = as_uid(daemon.socket, NOBODY, [("Evaluate", {"certificates": [b64(leaf)], "x": 1})])
    assert refused == [
        {
            "error": "org.varlink.service.InvalidParameter",
            "parameters": {"parameter": "x", "reason": "unknown"},
        }
    ]


# As `uid`: open `count` connections and send each `size` bytes of a call that never ends (no
# NUL); then report, per connection, "held" (all sent, the daemon keeps reading), or the error
# the daemon answered before closing it ("closed" when it closed without one).
_HOLDER = textwrap.dedent(
    """
    import json, os, socket, sys, time
    uid, path, count, size = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    os.setgroups([]); os.setgid(uid); os.setuid(uid)
    start = b'{"method":"io.trustd.Trust.Evaluate","parameters":{"certificates":["'
    held, states = [], []
    for _ in range(count):
        conn = socket.socket(socket.AF_UNIX)
        conn.settimeout(30)
        conn.connect(path)
        held.append(conn)
        try:
            conn.sendall(start + b"A" * (size - len(start)))
        except OSError:
            pass
        conn.settimeout(0.3)
        try:
            data = conn.recv(65536)
        except TimeoutError:
            states.append("held")
            continue
        except OSError:
            data = b""
        states.append(json.loads(data.split(b"\\0")[0])["error"] if data else "closed")
    print(json.dumps(states), flush=True)
    sys.stdin.read()  # hold the connections until told
    """
)


def test_one_users_partial_messages_are_bounded(daemon: Daemon, pki: PKI) -> None:
    """A user's connections holding unfinished big calls are answered PendingTooLarge and
    closed once together they hold more than one user may; the daemon stays small and another
    user is served meanwhile."""
    require_root()
    count, size = 40, 4 * MIB
    before = rss(daemon.process.pid)
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(NOBODY), str(daemon.socket), str(count), str(size)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None
        states = json.loads(holder.stdout.readline())
        grown = rss(daemon.process.pid) - before
        leaf = pki.leaf(daemon.root, dns=["other.example"]).der
        started = time.monotonic()
        other = as_uid(
            daemon.socket,
            OTHER,
            [("Echo", {"text": "still here"}), ("Evaluate", {"certificates": [b64(leaf)]})],
        )
        answered_in = time.monotonic() - started
    finally:
        holder.communicate("", timeout=60)
    assert states.count("held") <= 4, states  # 16 MiB a user; 4 MiB each
    assert states.count("io.trustd.Trust.PendingTooLarge") >= count - 5, states
    assert grown < 40 * MIB, f"the daemon grew by {grown / MIB:.1f} MiB"
    assert other[0] == {"parameters": {"text": "still here"}}
    assert other[1]["parameters"]["verdict"]["trusted"] is True
    assert answered_in < 5


def test_all_users_partial_messages_are_bounded_together(daemon: Daemon) -> None:
    """Four users each holding their 16 MiB of unfinished calls fill the 64 MiB all users may
    hold: a fifth user's big call is answered PendingTooLarge (naming the total), its small
    calls are still answered, and the daemon holds no more than the total."""
    require_root()
    before = rss(daemon.process.pid)
    holders = [
        subprocess.Popen(
            [sys.executable, "-c", _HOLDER, str(uid), str(daemon.socket), "4", str(4 * MIB)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for uid in (NOBODY, OTHER, OTHER + 1, OTHER + 2)
    ]
    try:
        states = []
        for holder in holders:
            assert holder.stdout is not None
            states.append(json.loads(holder.stdout.readline()))
        grown = rss(daemon.process.pid) - before
        fifth = OTHER + 3
        big = subprocess.run(
            [sys.executable, "-c", _HOLDER, str(fifth), str(daemon.socket), "1", str(2 * MIB)],
            input="", capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        small = as_uid(daemon.socket, fifth, [("Echo", {"text": "small"})])
    finally:
        for holder in holders:
            holder.communicate("", timeout=60)
    assert states == [["held"] * 4] * 4  # each user within its own budget
    assert json.loads(big.stdout) == ["io.trustd.Trust.PendingTooLarge"]
    assert small == [{"parameters": {"text": "small"}}]
    assert grown < 64 * MIB + 20 * MIB, f"the daemon grew by {grown / MIB:.1f} MiB"
