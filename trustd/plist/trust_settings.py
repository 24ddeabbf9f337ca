"""macOS trust-settings records (reference section 2) <-> core values.

The record is `{trustList: {<SHA-1 hex>: entry}, trustVersion: 1}`, where an entry holds
issuerName, serialNumber, modDate and an optional trustSettings array of usage-constraint
dictionaries.  `decode_record` reads XML or binary plists as `security trust-settings-export`
and third-party tools write them, keeping unknown keys; `encode_record` writes Apple's XML
layout (sorted keys, tab indentation, upper-case SHA-1 keys, empty arrays omitted).
"""

from __future__ import annotations

import plistlib
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from trustd.core.der import DERProblem, decode_oid, encode_oid, is_dotted_oid
from trustd.core.trust_settings import (
    DEFAULT_ROOT_KEY,
    SettingsResult,
    TrustSettingsEntry,
    UsageConstraint,
)
from trustd.plist.safe import load_plist

MAX_RECORD_BYTES = 16 * 1024 * 1024
TRUST_VERSION = 1  # kSecTrustRecordVersionCurrent: the only version Apple reads
_SHA1_KEY = re.compile(r"[0-9A-Fa-f]{40}")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
INT32 = range(-(2**31), 2**32)  # SInt32 on disk; tools also write the unsigned form

POLICY = "kSecTrustSettingsPolicy"
POLICY_NAME = "kSecTrustSettingsPolicyName"
POLICY_STRING = "kSecTrustSettingsPolicyString"
APPLICATION = "kSecTrustSettingsApplication"
ALLOWED_ERROR = "kSecTrustSettingsAllowedError"
RESULT = "kSecTrustSettingsResult"
KEY_USAGE = "kSecTrustSettingsKeyUsage"
_REQUIRED_KEYS = ("issuerName", "serialNumber", "modDate")
_ENTRY_KEYS = (*_REQUIRED_KEYS, "trustSettings")


class InvalidRecord(ValueError):
    """A trust-settings record Apple would refuse ("The Trust Settings Record was corrupted")."""


def encode_record(entries: Sequence[TrustSettingsEntry]) -> bytes:
    """The XML plist `security trust-settings-export` writes for these entries."""
    trust_list: dict[str, Any] = {}
    for entry in entries:
        value: dict[str, Any] = dict(entry.extra)
        value["issuerName"] = entry.issuer_name
        value["serialNumber"] = entry.serial_number
        value["modDate"] = entry.mod_date.astimezone(UTC).replace(tzinfo=None)
        if entry.constraints:
            value["trustSettings"] = [encode_constraint(c) for c in entry.constraints]
        trust_list[entry.key] = value
    record = {"trustList": trust_list, "trustVersion": TRUST_VERSION}
    return plistlib.dumps(record, fmt=plistlib.FMT_XML, sort_keys=True)


def encode_constraint(constraint: UsageConstraint) -> dict[str, Any]:
    item: dict[str, Any] = dict(constraint.extra)
    if constraint.policy_oid is not None:
        item[POLICY] = (
            constraint.policy_oid
            if constraint.policy_oid_as_string
            else encode_oid(constraint.policy_oid)
        )
    optional = (
        (POLICY_NAME, constraint.policy_name),
        (POLICY_STRING, constraint.policy_string),
        (APPLICATION, constraint.application),
        (ALLOWED_ERROR, constraint.allowed_error),
        (RESULT, None if constraint.result is None else int(constraint.result)),
        (KEY_USAGE, constraint.key_usage),
    )
    for key, value in optional:
        if value is not None:
            item[key] = value
    return item


def decode_record(
    data: bytes,
    *,
    limit: int = MAX_RECORD_BYTES,
    keep_default_root: bool = True,
    require_entry_keys: bool = True,
) -> list[TrustSettingsEntry]:
    """The entries of a trust-settings plist (XML or binary); raise InvalidRecord.

    The deprecated default-root entry (`kSecTrustRecordDefaultRootCert`) is kept for a faithful
    round trip unless `keep_default_root` is false; Apple ignores it since macOS 10.12.
    Each entry needs issuerName, serialNumber and modDate, as Apple's importer requires, unless
    `require_entry_keys` is false (hand-written drop-in files): then they default to empty
    data and the epoch.  Keys are returned upper case.
    """
    record = load_plist(data, limit=limit, invalid=InvalidRecord)
    if not isinstance(record, dict):
        raise InvalidRecord("the property list is not a dictionary")
    version = record.get("trustVersion")
    if version is None:
        raise InvalidRecord("no trustVersion")
    if not _is_int(version) or version != TRUST_VERSION:
        raise InvalidRecord(f"unsupported trustVersion {version!r} (only {TRUST_VERSION} is known)")
    trust_list = record.get("trustList")
    if not isinstance(trust_list, dict):
        raise InvalidRecord("no trustList dictionary")
    entries: dict[str, TrustSettingsEntry] = {}
    for key, value in trust_list.items():
        if key == DEFAULT_ROOT_KEY:
            if keep_default_root:
                entries[key] = _entry(key, value, require_entry_keys)
            continue
        if not isinstance(key, str) or not _SHA1_KEY.fullmatch(key):
            raise InvalidRecord(f"trustList key {key!r} is not a SHA-1 in hex")
        name = key.upper()
        if name in entries:
            raise InvalidRecord(f"entry {name} appears twice")
        try:
            entries[name] = _entry(name, value, require_entry_keys)
        except InvalidRecord as problem:
            raise InvalidRecord(f"entry {name}: {problem}") from None
    return list(entries.values())


def _entry(key: str, value: Any, require_entry_keys: bool) -> TrustSettingsEntry:
    if not isinstance(value, dict):
        raise InvalidRecord("not a dictionary")
    for required in _REQUIRED_KEYS if require_entry_keys else ():
        if required not in value:  # validatePropList: type-checked only, empty data is fine
            raise InvalidRecord(f"no {required}")
    issuer = _optional(value, "issuerName", bytes) or b""
    serial = _optional(value, "serialNumber", bytes) or b""
    mod_date = _optional(value, "modDate", datetime) or _EPOCH
    settings = value.get("trustSettings", [])
    if not isinstance(settings, list):
        raise InvalidRecord("trustSettings is not an array")
    constraints = []
    for index, item in enumerate(settings):
        try:
            constraints.append(decode_constraint(item))
        except InvalidRecord as problem:
            raise InvalidRecord(f"trustSettings[{index}]: {problem}") from None
    # An empty array means the same as none; one that was written is kept in `extra`, so that
    # the record is written back as it came (Apple's import stores records as they are).
    known = set(_ENTRY_KEYS) if settings else set(_REQUIRED_KEYS)
    return TrustSettingsEntry(
        key=key,
        issuer_name=issuer,
        serial_number=serial,
        mod_date=_aware(mod_date),
        constraints=tuple(constraints),
        extra={k: v for k, v in value.items() if k not in known},
    )


def decode_constraint(item: Any) -> UsageConstraint:
    """One usage-constraint dictionary (reference section 2.4); unknown keys go to `extra`."""
    if not isinstance(item, dict):
        raise InvalidRecord("not a dictionary")
    policy_oid: str | None = None
    as_string = False
    policy = item.get(POLICY)
    if isinstance(policy, bytes):
        try:
            policy_oid = decode_oid(policy)
        except DERProblem:
            raise InvalidRecord(f"{POLICY} is not an OID") from None
    elif isinstance(policy, str):
        if not is_dotted_oid(policy):
            raise InvalidRecord(f"{POLICY} {policy!r} is not a dotted OID")
        policy_oid, as_string = policy, True
    elif policy is not None:
        raise InvalidRecord(f"{POLICY} is neither data nor a string")
    result = _optional_int(item, RESULT)
    if result is not None and result not in SettingsResult._value2member_map_:
        raise InvalidRecord(f"unknown {RESULT} {result}")
    if result == SettingsResult.INVALID:
        raise InvalidRecord(f"{RESULT} 0 (Invalid) is never valid")
    known = {POLICY, POLICY_NAME, POLICY_STRING, APPLICATION, ALLOWED_ERROR, RESULT, KEY_USAGE}
    return UsageConstraint(
        policy_oid=policy_oid,
        policy_name=_optional(item, POLICY_NAME, str),
        policy_string=_optional(item, POLICY_STRING, str),
        application=_optional(item, APPLICATION, bytes),
        allowed_error=_optional_int(item, ALLOWED_ERROR),
        result=None if result is None else SettingsResult(result),
        key_usage=_optional_int(item, KEY_USAGE),
        extra={k: v for k, v in item.items() if k not in known},
        policy_oid_as_string=as_string,
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _optional(mapping: Mapping[str, Any], key: str, kind: type[Any]) -> Any:
    value = mapping.get(key)
    if value is not None and not isinstance(value, kind):
        names = {bytes: "data", str: "a string", datetime: "a date"}
        raise InvalidRecord(f"{key} is not {names.get(kind, kind.__name__)}")
    return value


def _optional_int(mapping: Mapping[str, Any], key: str) -> int | None:
    value = mapping.get(key)
    if value is None:
        return None
    if not _is_int(value) or value not in INT32:
        raise InvalidRecord(f"{key} is not a 32-bit integer")
    result: int = value
    return result


def _aware(moment: datetime) -> datetime:
    """plistlib returns naive UTC datetimes."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
