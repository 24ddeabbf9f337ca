"""Trust-settings records: the shapes Apple's tools write decode, and records round-trip."""

from __future__ import annotations

import base64
import datetime as dt
import plistlib

import pytest

from trustd.core.trust_settings import (
    DEFAULT_ROOT_KEY,
    SettingsResult,
    TrustSettingsEntry,
    UsageConstraint,
)
from trustd.plist.trust_settings import InvalidRecord, decode_record, encode_record

SSL = "1.2.840.113635.100.1.3"
BASIC = "1.2.840.113635.100.1.2"
KEY = "1F9575A7FDCE56AB5461E89C0738841C94F02C81"
MOD = dt.datetime(2021, 8, 20, 14, 15, 32, tzinfo=dt.UTC)


def mkcert_record() -> bytes:
    """The record mkcert writes (FiloSottile/mkcert truststore_darwin.go): two policies."""
    return plistlib.dumps(
        {
            "trustVersion": 1,
            "trustList": {
                KEY: {
                    "issuerName": b"0\x00",
                    "serialNumber": b"\x01",
                    "modDate": MOD.replace(tzinfo=None),
                    "trustSettings": [
                        {
                            "kSecTrustSettingsPolicy": base64.b64decode("KoZIhvdjZAED"),
                            "kSecTrustSettingsPolicyName": "sslServer",
                            "kSecTrustSettingsResult": 1,
                        },
                        {
                            "kSecTrustSettingsPolicy": base64.b64decode("KoZIhvdjZAEC"),
                            "kSecTrustSettingsPolicyName": "basicX509",
                            "kSecTrustSettingsResult": 1,
                        },
                    ],
                }
            },
        }
    )


def test_mkcert_record_decodes() -> None:
    [entry] = decode_record(mkcert_record())
    assert entry.key == KEY and entry.mod_date == MOD
    assert [(c.policy_oid, c.policy_name, c.result) for c in entry.constraints] == [
        (SSL, "sslServer", SettingsResult.TRUST_ROOT),
        (BASIC, "basicX509", SettingsResult.TRUST_ROOT),
    ]


def test_round_trip_keeps_odd_entries_and_unknown_keys() -> None:
    entries = [
        TrustSettingsEntry(
            KEY,
            b"0\x00",
            b"\x00",
            MOD,
            (
                UsageConstraint(
                    policy_oid=SSL,
                    policy_name="sslServer",
                    policy_string="h.example",
                    allowed_error=-2147408896,
                    result=SettingsResult.UNSPECIFIED,
                ),
                UsageConstraint(
                    policy_oid="1.2.3.4",
                    policy_oid_as_string=True,
                    key_usage=-1,
                    extra={"kSecTrustSettingsPolicyOptions": {"x": True}},
                ),
            ),
        ),
        TrustSettingsEntry(
            "08E4987249BC450748A4A78133CBF041A3510033",
            b"",
            b"",
            MOD,
            (UsageConstraint(result=SettingsResult.DENY),),
        ),
        TrustSettingsEntry(DEFAULT_ROOT_KEY, b"", b"", MOD, (), {"vendorKey": "kept"}),
    ]
    encoded = encode_record(entries)
    assert encoded.startswith(b"<?xml")
    assert b"<key>trustSettings</key>" in encoded
    assert sorted(decode_record(encoded), key=lambda e: e.key) == sorted(
        entries, key=lambda e: e.key
    )
    assert decode_record(encode_record(decode_record(encoded))) == decode_record(encoded)
    without_default = decode_record(encoded, keep_default_root=False)
    assert DEFAULT_ROOT_KEY not in {e.key for e in without_default}


def test_binary_plists_are_accepted() -> None:
    binary = plistlib.dumps(plistlib.loads(mkcert_record()), fmt=plistlib.FMT_BINARY)
    assert decode_record(binary) == decode_record(mkcert_record())


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"trustList": {}}, "trustVersion"),
        ({"trustVersion": 2, "trustList": {}}, "trustVersion"),
        ({"trustVersion": 1}, "trustList"),
        ({"trustVersion": 1, "trustList": {"nothex": {}}}, "SHA-1"),
        (
            {
                "trustVersion": 1,
                "trustList": {
                    KEY: {
                        "issuerName": b"",
                        "serialNumber": b"",
                        "modDate": MOD.replace(tzinfo=None),
                        "trustSettings": [{"kSecTrustSettingsResult": 0}],
                    }
                },
            },
            "Invalid",
        ),
    ],
)
def test_corrupted_records_are_refused(record: dict[str, object], reason: str) -> None:
    with pytest.raises(InvalidRecord, match=reason):
        decode_record(plistlib.dumps(record))
