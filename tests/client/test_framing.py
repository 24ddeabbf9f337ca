"""The framing both sides speak (trustd.varlink_framing): one message in, the same message out,
and a malformed one named for what is wrong with it."""

from __future__ import annotations

import os
import socket

import pytest

from trustd import varlink_framing as framing


def test_a_message_round_trips_compact_and_nul_terminated() -> None:
    message = framing.call("io.trustd.Trust.Monitor", {"text": "héllo"}, more=True)
    data = framing.encode(message)
    assert data == (
        b'{"method":"io.trustd.Trust.Monitor","parameters":{"text":"h\\u00e9llo"},"more":true}\0'
    )
    assert framing.decode(data[:-1]) == message
    assert framing.call("io.trustd.Trust.Echo", {}) == {
        "method": "io.trustd.Trust.Echo",
        "parameters": {},
    }


def test_a_pre_encoded_reply_is_framed_as_the_same_reply() -> None:
    parameters = {"text": "x", "n": [1, 2]}
    assert framing.encode_reply('{"text":"x","n":[1,2]}') == framing.encode(
        {"parameters": parameters}
    )
    error = framing.error("io.trustd.Trust.NotFound", {"what": "it"})
    assert framing.decode(framing.encode(error)[:-1]) == {
        "error": "io.trustd.Trust.NotFound",
        "parameters": {"what": "it"},
    }


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"this is not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "not an object"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ],
)
def test_malformed_messages_say_what_is_wrong(data: bytes, reason: str) -> None:
    with pytest.raises(framing.Malformed) as raised:
        framing.decode(data)
    assert raised.value.reason == reason


def test_peer_credentials_name_the_other_end() -> None:
    left, right = socket.socketpair(socket.AF_UNIX)
    with left, right:
        assert framing.peer_credentials(left) == (os.getpid(), os.geteuid(), os.getegid())
