"""Decoding drop-in files: certificate files and macOS trust-settings plists (pure, no I/O).

Every function here takes bytes and returns core values, or raises `BrokenFile` with a
one-line reason an administrator can act on.  A file is decoded whole or not at all: one bad
certificate or one bad trust-settings entry makes the whole file broken, so a file is never
half applied.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from trustd.core.certificates import Certificate, MalformedCertificate, parse_certificate
from trustd.core.der import DERProblem, decode_oid
from trustd.core.trust_settings import (
    DEFAULT_ROOT_KEY,
    SettingsResult,
    TrustSettingsEntry,
    UsageConstraint,
)
from trustd.plist.safe import InvalidPlist, load_plist

MAX_FILE_BYTES = 1024 * 1024
TRUST_VERSION = 1  # kSecTrustRecordVersionCurrent: the only version Apple reads

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----.*?-----END \1-----", re.DOTALL)
_PEM_MARKER = b"-----BEGIN "
_SHA1_KEY = re.compile(r"[0-9A-Fa-f]{40}")
_DOTTED_OID = re.compile(r"[0-2](\.(0|[1-9][0-9]*))+")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INT32 = range(-(2**31), 2**32)  # SInt32 on disk; tools also write the unsigned form

POLICY = "kSecTrustSettingsPolicy"
POLICY_NAME = "kSecTrustSettingsPolicyName"
POLICY_STRING = "kSecTrustSettingsPolicyString"
APPLICATION = "kSecTrustSettingsApplication"
ALLOWED_ERROR = "kSecTrustSettingsAllowedError"
RESULT = "kSecTrustSettingsResult"
KEY_USAGE = "kSecTrustSettingsKeyUsage"


class BrokenFile(ValueError):
    """A drop-in file that cannot be used; the message is the one-line reason."""


def parse_certificate_file(data: bytes) -> list[Certificate]:
    """Every certificate of a PEM file (any number of CERTIFICATE blocks) or a DER file.

    PEM blocks of other types (keys, CRLs, OpenSSL's TRUSTED CERTIFICATE) are ignored; a file
    with no certificate at all, or with one that does not parse, is broken.
    """
    if _PEM_MARKER in data:
        certificates: list[Certificate] = []
        for number, block in enumerate(_PEM_BLOCK.finditer(data), start=1):
            if block.group(1) != b"CERTIFICATE":
                continue
            try:
                certificates.append(parse_certificate(block.group(0)))
            except MalformedCertificate as problem:
                raise BrokenFile(f"PEM block {number}: {problem}") from None
        if not certificates:
            raise BrokenFile("no PEM CERTIFICATE block")
        return certificates
    if not data.strip():
        raise BrokenFile("empty file")
    try:
        return [parse_certificate(data)]
    except MalformedCertificate as problem:
        raise BrokenFile(f"neither PEM nor DER: {problem}") from None


def parse_trust_settings_file(data: bytes) -> list[TrustSettingsEntry]:
    """The entries of a trust-settings plist (XML or binary), as `trust-settings-export` writes.

    The deprecated default-root entry (`kSecTrustRecordDefaultRootCert`) is skipped: Apple
    ignores it since macOS 10.12.  Keys are returned upper case.
    """
    try:
        record = load_plist(data, limit=MAX_FILE_BYTES)
    except InvalidPlist as problem:
        raise BrokenFile(str(problem)) from None
    if not isinstance(record, dict):
        raise BrokenFile("the property list is not a dictionary")
    version = record.get("trustVersion")
    if version is None:
        raise BrokenFile("no trustVersion")
    if not _is_int(version) or version != TRUST_VERSION:
        raise BrokenFile(f"unsupported trustVersion {version!r} (only {TRUST_VERSION} is known)")
    trust_list = record.get("trustList")
    if not isinstance(trust_list, dict):
        raise BrokenFile("no trustList dictionary")
    entries: dict[str, TrustSettingsEntry] = {}
    for key, value in trust_list.items():
        if key == DEFAULT_ROOT_KEY:
            continue
        if not isinstance(key, str) or not _SHA1_KEY.fullmatch(key):
            raise BrokenFile(f"trustList key {key!r} is not a SHA-1 in hex")
        name = key.upper()
        if name in entries:
            raise BrokenFile(f"entry {name} appears twice")
        try:
            entries[name] = _entry(name, value)
        except BrokenFile as problem:
            raise BrokenFile(f"entry {name}: {problem}") from None
    return list(entries.values())


def _entry(key: str, value: Any) -> TrustSettingsEntry:
    if not isinstance(value, dict):
        raise BrokenFile("not a dictionary")
    issuer = _optional(value, "issuerName", bytes) or b""
    serial = _optional(value, "serialNumber", bytes) or b""
    mod_date = _optional(value, "modDate", datetime)
    settings = value.get("trustSettings", [])
    if not isinstance(settings, list):
        raise BrokenFile("trustSettings is not an array")
    constraints = []
    for index, item in enumerate(settings):
        try:
            constraints.append(decode_constraint(item))
        except BrokenFile as problem:
            raise BrokenFile(f"trustSettings[{index}]: {problem}") from None
    known = {"issuerName", "serialNumber", "modDate", "trustSettings"}
    return TrustSettingsEntry(
        key=key,
        issuer_name=issuer,
        serial_number=serial,
        mod_date=_EPOCH if mod_date is None else _aware(mod_date),
        constraints=tuple(constraints),
        extra={k: v for k, v in value.items() if k not in known},
    )


def decode_constraint(item: Any) -> UsageConstraint:
    """One usage-constraint dictionary (reference section 2.4); unknown keys go to `extra`."""
    if not isinstance(item, dict):
        raise BrokenFile("not a dictionary")
    policy_oid: str | None = None
    as_string = False
    policy = item.get(POLICY)
    if isinstance(policy, bytes):
        try:
            policy_oid = decode_oid(policy)
        except DERProblem:
            raise BrokenFile(f"{POLICY} is not an OID") from None
    elif isinstance(policy, str):
        if not _DOTTED_OID.fullmatch(policy):
            raise BrokenFile(f"{POLICY} {policy!r} is not a dotted OID")
        policy_oid, as_string = policy, True
    elif policy is not None:
        raise BrokenFile(f"{POLICY} is neither data nor a string")
    result = _optional_int(item, RESULT)
    if result is not None and result not in SettingsResult._value2member_map_:
        raise BrokenFile(f"unknown {RESULT} {result}")
    if result == SettingsResult.INVALID:
        raise BrokenFile(f"{RESULT} 0 (Invalid) is never valid")
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
        raise BrokenFile(f"{key} is not {names.get(kind, kind.__name__)}")
    return value


def _optional_int(mapping: Mapping[str, Any], key: str) -> int | None:
    value = mapping.get(key)
    if value is None:
        return None
    if not _is_int(value) or value not in _INT32:
        raise BrokenFile(f"{key} is not a 32-bit integer")
    result: int = value
    return result


def _aware(moment: datetime) -> datetime:
    """plistlib returns naive UTC datetimes."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
