"""Short fuzz runs of what trustd reads from others, and the crashes fuzzing found.

The targets and what counts as a bug are in fuzzing.py; bench/fuzz.py runs them for minutes
(figures in bench/README.md).  Certificate parsing and evaluation are fuzzed by
tests/core/test_malformed.py.  Every internal error the fuzzer found is pinned below by a
regression test, with the behaviour wanted.
"""

from __future__ import annotations

import datetime as dt
import os
import plistlib
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from security import fuzzing

from trustd.api.varlink import Peer
from trustd.core.der import encode_oid
from trustd.plist.exceptions import InvalidExceptions, decode_exceptions
from trustd.plist.trust_settings import InvalidRecord, decode_record

SHORT = settings(
    deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow], max_examples=100
)


@pytest.fixture(scope="module", autouse=True)
def _fresh() -> Iterator[None]:
    yield
    fuzzing.reset()


@SHORT
@given(fuzzing.RECORD_TARGET.strategy)
def test_fuzz_trust_settings_plists(example: Any) -> None:
    fuzzing.RECORD_TARGET.check(example)


@SHORT
@given(fuzzing.EXCEPTIONS_TARGET.strategy)
def test_fuzz_exceptions_blobs(example: Any) -> None:
    fuzzing.EXCEPTIONS_TARGET.check(example)


@settings(SHORT, max_examples=250)
@given(fuzzing.CALL_TARGET.strategy)
def test_fuzz_varlink_calls(example: Any) -> None:
    fuzzing.CALL_TARGET.check(example)


@settings(SHORT, max_examples=60)
@given(fuzzing.FRAMING_TARGET.strategy)
def test_fuzz_varlink_framing(example: Any) -> None:
    fuzzing.FRAMING_TARGET.check(example)


# -- what fuzzing found ---------------------------------------------------------------------------


def _call(uid: int, method: str, **parameters: Any) -> tuple[dict[str, Any], list[Any]]:
    """One call on the in-process server: the reply and the internal errors it logged."""
    server = fuzzing.server()
    server.errors.found.clear()
    call = {"method": f"io.trustd.Trust.{method}", "parameters": parameters}
    [reply] = server.varlink.replies(Peer(os.getpid(), uid, uid), call)
    return reply, [fuzzing.signature(r) for r in server.errors.found]


def _refused(reply: dict[str, Any], errors: list[Any], *names: str) -> None:
    assert errors == []
    standard = {"InvalidParameter"}  # the varlink specification's own errors
    expected = {
        f"org.varlink.service.{name}" if name in standard else f"io.trustd.Trust.{name}"
        for name in names
    }
    assert reply.get("error") in expected, reply


@pytest.mark.parametrize("port", [2**63, 2**64, -(2**63) - 1])
def test_exceptions_with_a_port_out_of_range_are_refused(port: int) -> None:
    blob = fuzzing.b64(fuzzing.material().exceptions)
    _refused(*_call(fuzzing.ALICE, "SetExceptions", host="a.example", port=port,
                    exceptions=blob), "InvalidParameter")  # fmt: skip
    _refused(*_call(fuzzing.ALICE, "RemoveExceptions", host="a.example", port=port),
             "InvalidParameter", "NotFound")  # fmt: skip
    leaf = fuzzing.b64(fuzzing.material().leaf.der)
    reply, errors = _call(fuzzing.ALICE, "Evaluate", certificates=[leaf], host="a", port=port)
    assert errors == [] and ("error" in reply or "verdict" in reply["parameters"])


@pytest.mark.parametrize("name", [5, ["www.example"], {"a": 1}, True])
def test_evaluate_with_a_policy_name_that_is_not_text_is_refused(name: Any) -> None:
    leaf = fuzzing.b64(fuzzing.material().leaf.der)
    reply, errors = _call(fuzzing.BOB, "Evaluate", certificates=[leaf],
                          policies=[{"policy": "ssl", "name": name}])  # fmt: skip
    _refused(reply, errors, "InvalidParameter")


@pytest.mark.parametrize(
    "constraint",
    [
        {"result": [1]},
        {"result": {"a": 1}},
        {"policy_string": ["x"]},
        {"policy_name": {"a": 1}},
        {"key_usage": 2**70},
        {"allowed_error": "x"},
        {"policy_oid": 5},
        {"policy_oid": "not an oid"},
    ],
)
def test_usage_constraints_of_the_wrong_type_are_refused_and_not_stored(
    constraint: dict[str, Any],
) -> None:
    """Refused with InvalidTrustSettings, not stored: a stored one broke ExportTrustSettings
    of the whole domain (ValueError in encode_oid) for as long as it stayed."""
    uid = 2000 + abs(hash(repr(constraint))) % 1000  # a domain of its own
    org = fuzzing.b64(fuzzing.material().org.der)
    reply, errors = _call(uid, "SetTrustSettings", domain="user", certificate=org,
                          constraints=[constraint])  # fmt: skip
    copy, _ = _call(uid, "CopyTrustSettings", domain="user")
    _, export_errors = _call(uid, "ExportTrustSettings", domain="user")
    assert export_errors == []
    _refused(reply, errors, "InvalidTrustSettings", "InvalidParameter")
    assert copy == {"parameters": {"entries": []}}


@pytest.mark.parametrize("where", ["extra key", "extra value", "policy string"])
def test_a_record_with_text_xml_cannot_hold_is_refused(where: str) -> None:
    """Found by bench/fuzz.py: a binary plist may carry control characters that Apple's XML
    export cannot; such a record was stored, and ExportTrustSettings of the whole domain
    failed with an internal error from then on."""
    entry: dict[str, Any] = {"issuerName": b"", "serialNumber": b"",
                             "modDate": dt.datetime(2024, 1, 1)}  # fmt: skip
    if where == "extra key":
        entry["\x1f"] = False
    elif where == "extra value":
        entry["note"] = "bell \x07"
    else:
        entry["trustSettings"] = [{"kSecTrustSettingsPolicyString": "a\x01b"}]
    record = {"trustVersion": 1, "trustList": {"AB" * 20: entry}}
    blob = plistlib.dumps(record, fmt=plistlib.FMT_BINARY)
    uid = 3000 + ["extra key", "extra value", "policy string"].index(where)
    reply, errors = _call(uid, "ImportTrustSettings", domain="user", plist=fuzzing.b64(blob))
    _, export_errors = _call(uid, "ExportTrustSettings", domain="user")
    assert export_errors == []
    _refused(reply, errors, "InvalidTrustSettings")
    with pytest.raises(InvalidRecord):
        decode_record(blob)


@pytest.mark.parametrize(
    "item", [{"SSLHostname": 2**100}, {"ExceptionResetCount": 2**80}, {"x": [-(2**70)]}]
)
def test_an_exceptions_blob_with_integers_a_plist_cannot_hold_is_refused(
    item: dict[str, Any],
) -> None:
    """Found by bench/fuzz.py: binary plists carry 128-bit integers that plistlib reads but
    cannot write; SetExceptions then failed with an internal error."""
    blob = _binary_plist_with_big_integers([item])
    reply, errors = _call(fuzzing.ALICE, "SetExceptions", host="big.example",
                          exceptions=fuzzing.b64(blob))  # fmt: skip
    _refused(reply, errors, "InvalidParameter")
    with pytest.raises(InvalidExceptions):
        decode_exceptions(blob)


def _binary_plist_with_big_integers(value: Any) -> bytes:
    """plistlib writes no integer beyond 64 bits, so write the 128-bit ones by hand: every
    integer in `value` becomes a 16-byte big-endian integer object (marker 0x14)."""
    objects: list[bytes] = []

    def add(item: Any) -> int:
        index = len(objects)
        objects.append(b"")
        if isinstance(item, bool):
            objects[index] = b"\x09" if item else b"\x08"
        elif isinstance(item, int):
            objects[index] = b"\x14" + item.to_bytes(16, "big", signed=True)
        elif isinstance(item, str):
            data = item.encode("ascii")
            size = bytes([0x50 | len(data)]) if len(data) < 15 else bytes([0x5F, 0x10, len(data)])
            objects[index] = size + data
        elif isinstance(item, list):
            refs = [add(x) for x in item]
            objects[index] = bytes([0xA0 | len(refs)]) + bytes(refs)
        else:
            keys, values = list(item), list(item.values())
            refs = [add(k) for k in keys] + [add(v) for v in values]
            objects[index] = bytes([0xD0 | len(keys)]) + bytes(refs)
        return index

    add(value)
    offsets, body = [], b"bplist00"
    for obj in objects:
        offsets.append(len(body))
        body += obj
    table = b"".join(o.to_bytes(2, "big") for o in offsets)
    trailer = bytes(6) + bytes([2, 1]) + len(objects).to_bytes(8, "big") + bytes(8)
    return body + table + trailer + len(body).to_bytes(8, "big")


@pytest.mark.parametrize("oid", ["1.2.-3", "1.-1", "3.1", "1.40", "1.2.03", "1..2", " 1.2"])
def test_a_policy_oid_that_is_not_one_is_refused(oid: str) -> None:
    """Found in review: encode_oid looped for ever on a negative arc ("1.2.-3"), so any user
    could stop a daemon thread (and grow its memory) with one SetTrustSettings call."""
    org = fuzzing.b64(fuzzing.material().org.der)
    reply, errors = _call(fuzzing.BOB, "SetTrustSettings", domain="user", certificate=org,
                          constraints=[{"policy_oid": oid}])  # fmt: skip
    _refused(reply, errors, "InvalidTrustSettings")
    with pytest.raises(ValueError, match="not an OID"):
        encode_oid(oid)


def test_a_binary_plist_that_shares_its_containers_is_refused() -> None:
    """Found in review: a binary plist may refer to one array from many places, so 200 bytes
    can stand for 2**40 values; written out as XML (the export) that never ends."""
    shared: list[Any] = ["x"]
    for _ in range(40):
        shared = [shared, shared]
    record = {"trustVersion": 1, "trustList": {"AB" * 20: {"issuerName": b"", "serialNumber": b"",
              "modDate": dt.datetime(2024, 1, 1), "note": shared}}}  # fmt: skip
    blob = plistlib.dumps(record, fmt=plistlib.FMT_BINARY)
    assert len(blob) < 1000
    with pytest.raises(InvalidRecord, match="shares containers"):
        decode_record(blob)
    with pytest.raises(InvalidExceptions, match="shares containers"):
        decode_exceptions(plistlib.dumps([{"x": shared}], fmt=plistlib.FMT_BINARY))
