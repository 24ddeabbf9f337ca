"""Untrusted plists: entities, size and garbage give InvalidPlist, never a crash."""

from __future__ import annotations

import plistlib

import pytest

from trustd.plist.exceptions import InvalidExceptions, decode_exceptions
from trustd.plist.safe import InvalidPlist, load_plist

LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE plist [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>
<plist version="1.0"><string>&b;</string></plist>"""


def test_entity_declarations_are_refused() -> None:
    with pytest.raises(InvalidPlist, match="entities"):
        load_plist(LAUGHS)


def test_size_limit() -> None:
    with pytest.raises(InvalidPlist, match="larger"):
        load_plist(plistlib.dumps(["x" * 100]), limit=50)


@pytest.mark.parametrize("data", [b"", b"garbage", b"bplist00\x00\x01", b"<plist><dict>"])
def test_garbage(data: bytes) -> None:
    with pytest.raises(InvalidPlist):
        load_plist(data)


def test_bad_sha1_digest_in_exceptions() -> None:
    blob = plistlib.dumps(
        [{"SHA1Digest": b"short", "TemporalValidity": False}], fmt=plistlib.FMT_BINARY
    )
    with pytest.raises(InvalidExceptions, match="20 bytes"):
        decode_exceptions(blob)
