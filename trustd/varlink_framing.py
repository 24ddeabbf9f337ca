"""Varlink's framing as the daemon (trustd.api.varlink) and the client (trustd.client) speak it.

Messages are JSON objects terminated by a NUL byte.  A call is
``{"method": "io.trustd.Trust.Echo", "parameters": {...}}`` (plus ``"more": true`` for a
streaming method, ``"oneway": true`` for one that wants no reply); a reply is
``{"parameters": {...}}`` (``"continues": true`` on all but the last of a stream) or
``{"error": "io.trustd.Trust.NotFound", "parameters": {...}}``.

Both sides import this module and nothing of each other: it holds the names, the size limit,
the encoding and decoding of one message, and SO_PEERCRED (who is on the other end of the
socket), which the daemon reads to identify callers and the client to refuse impostors.
Standard library only.
"""

from __future__ import annotations

import json
import socket
import struct
from collections.abc import Mapping
from typing import Any

__all__ = [
    "INTERFACE",
    "MAX_MESSAGE",
    "NUL",
    "SERVICE",
    "Malformed",
    "call",
    "decode",
    "encode",
    "encode_reply",
    "error",
    "peer_credentials",
]

INTERFACE = "io.trustd.Trust"
SERVICE = "org.varlink.service"  # the standard interface every varlink service provides
NUL = b"\0"  # ends every message
# The longest message the daemon reads: a chain of a few certificates is a few kB; this leaves
# room for imports.  It answers a longer one with RequestTooLarge and hangs up, so the client
# refuses to send one.
MAX_MESSAGE = 8 * 1024 * 1024


class Malformed(ValueError):
    """A message that is not a JSON object; `reason` says how (not JSON, nested too deeply,
    not an object)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def encode(message: Mapping[str, Any]) -> bytes:
    """One message as compact JSON, NUL-terminated."""
    return json.dumps(message, separators=(",", ":")).encode() + NUL


def encode_reply(parameters_json: str) -> bytes:
    """A reply whose parameters are already JSON text, NUL-terminated (not re-encoded)."""
    return ('{"parameters":' + parameters_json + "}").encode() + NUL


def call(method: str, parameters: Mapping[str, Any], *, more: bool = False) -> dict[str, Any]:
    """A call message: `method` is qualified (io.trustd.Trust.Echo)."""
    message: dict[str, Any] = {"method": method, "parameters": dict(parameters)}
    if more:
        message["more"] = True
    return message


def error(name: str, parameters: Mapping[str, Any]) -> dict[str, Any]:
    """An error reply: `name` is qualified (io.trustd.Trust.NotFound)."""
    return {"error": name, "parameters": parameters}


def decode(data: bytes) -> dict[str, Any]:
    """One message (without its NUL) as a dict; Malformed if it is not a JSON object."""
    try:
        message = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise Malformed("not JSON") from None
    except RecursionError:  # deeper than the decoder goes (no message of ours nests so deep)
        raise Malformed("nested too deeply") from None
    if not isinstance(message, dict):
        raise Malformed("not an object")
    return message


def peer_credentials(connection: socket.socket) -> tuple[int, int, int]:
    """(pid, uid, gid) of the other end of a Unix socket, as the kernel saw it (SO_PEERCRED)."""
    data = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("iII"))
    pid, uid, gid = struct.unpack("iII", data)  # struct ucred: pid_t, uid_t, gid_t
    return pid, uid, gid
