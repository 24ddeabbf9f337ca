"""The interop fixtures (tests/plist/fixtures, reference sections 2.7 and 9) round-trip
byte-exact through trustd's decoder and writer, from XML and from binary plists.

The fixtures are laid out by a transcription of CoreFoundation's XML writer
(fixtures/make_fixtures.py), not by trustd's writer.
"""

from __future__ import annotations

import plistlib
from pathlib import Path

import pytest

from trustd.core.trust_settings import DEFAULT_ROOT_KEY, SettingsResult
from trustd.plist.trust_settings import InvalidRecord, decode_record, encode_record

FIXTURES = Path(__file__).parent / "fixtures"
RECORDS = sorted(p.name for p in FIXTURES.glob("*.plist"))


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def test_every_shape_of_the_reference_has_a_fixture() -> None:
    assert RECORDS == [
        "allowed-error-leaf.plist",
        "always-trust.plist",
        "blocklist.plist",
        "mkcert.plist",
        "ssl-basic.plist",
        "system-style.plist",
    ]


@pytest.mark.parametrize("name", RECORDS)
def test_xml_round_trips_byte_exact(name: str) -> None:
    assert encode_record(decode_record(fixture(name))) == fixture(name)


@pytest.mark.parametrize("name", RECORDS)
def test_binary_plists_export_as_apples_xml(name: str) -> None:
    binary = plistlib.dumps(plistlib.loads(fixture(name)), fmt=plistlib.FMT_BINARY)
    assert encode_record(decode_record(binary)) == fixture(name)


def test_the_fixtures_mean_what_their_tools_wrote() -> None:
    (always,) = decode_record(fixture("always-trust.plist"))
    assert len(always.constraints) == 10
    assert {c.result for c in always.constraints} == {SettingsResult.TRUST_ROOT}
    assert always.constraints[-1].policy_oid is None
    (no_results,) = decode_record(fixture("ssl-basic.plist"))
    assert [c.result for c in no_results.constraints] == [None, None]
    blocked = decode_record(fixture("blocklist.plist"))
    assert {(e.issuer_name, e.serial_number) for e in blocked} == {(b"", b"")}
    system = {e.key: e for e in decode_record(fixture("system-style.plist"))}
    assert DEFAULT_ROOT_KEY in system
    (with_options,) = [e for e in system.values() if e.constraints and e.constraints[0].extra]
    assert with_options.constraints[0].extra == {
        "kSecTrustSettingsPolicyOptions": {"TemporalValidity": False}
    }
    assert with_options.constraints[0].key_usage == -1
    assert [e for e in system.values() if not e.constraints and e.key != DEFAULT_ROOT_KEY]


def test_an_empty_array_written_by_another_tool_is_kept() -> None:
    record = plistlib.loads(fixture("mkcert.plist"))
    (entry,) = record["trustList"].values()
    entry["trustSettings"] = []
    data = plistlib.dumps(record, sort_keys=True)
    (decoded,) = decode_record(data)
    assert decoded.constraints == ()
    assert encode_record([decoded]) == data


@pytest.mark.parametrize("missing", ["issuerName", "serialNumber", "modDate"])
def test_apples_required_entry_keys(missing: str) -> None:
    """validatePropList: issuerName, serialNumber and modDate are required (empty is fine)."""
    record = plistlib.loads(fixture("mkcert.plist"))
    (entry,) = record["trustList"].values()
    del entry[missing]
    with pytest.raises(InvalidRecord, match=missing):
        decode_record(plistlib.dumps(record))
