"""Apple configuration profiles (`.mobileconfig`): the certificate payloads trustd acts on.

A profile is a property list (XML or binary) whose top level says who made it
(`PayloadIdentifier`, `PayloadUUID`, `PayloadDisplayName`, `PayloadOrganization`) and whose
`PayloadContent` array holds payloads.  trustd acts on the certificate payloads, as macOS does
when the profile is installed:

- `com.apple.security.root`: a root certificate, stored in the System keychain and trusted
  (profile roots are the enterprise route to trusting an organisation's CA on Apple
  platforms);
- `com.apple.security.pkcs1` (DER) and `com.apple.security.pem` (PEM): certificates stored in
  the System keychain for path building, not trusted by themselves.

Other payload types (Wi-Fi, VPN, `com.apple.security.pkcs12` identities, whose private keys
trustd does not hold) are listed as ignored.  Signed profiles are CMS SignedData around this
property list: see `trustd.cms`.  Pure: bytes in, values out, `InvalidProfile` with a one-line
reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from trustd.certfiles import UndecodableData, read_certificates
from trustd.plist.safe import load_plist

MAX_PROFILE_BYTES = 1024 * 1024
ROOT = "com.apple.security.root"
CERTIFICATE_TYPES = frozenset({ROOT, "com.apple.security.pkcs1", "com.apple.security.pem"})

__all__ = [
    "CERTIFICATE_TYPES",
    "MAX_PROFILE_BYTES",
    "ROOT",
    "CertificatePayload",
    "InvalidProfile",
    "Profile",
    "ProfileRecord",
    "decode_profile",
]


class InvalidProfile(ValueError):
    """Bytes that are not a configuration profile trustd can apply."""


@dataclass(frozen=True, slots=True)
class CertificatePayload:
    """One certificate payload: its type, identifier and certificate (DER)."""

    payload_type: str
    identifier: str
    certificate: bytes
    display_name: str = ""

    @property
    def is_root(self) -> bool:
        return self.payload_type == ROOT


@dataclass(frozen=True, slots=True)
class Profile:
    """What trustd takes from a configuration profile."""

    identifier: str
    uuid: str
    display_name: str
    organization: str
    version: int
    certificates: tuple[CertificatePayload, ...]
    ignored: tuple[str, ...] = field(default=())  # payload types trustd does not apply

    @property
    def roots(self) -> tuple[CertificatePayload, ...]:
        return tuple(payload for payload in self.certificates if payload.is_root)


@dataclass(frozen=True, slots=True)
class ProfileRecord:
    """What `trustctl profiles list` shows of one installed profile."""

    source: str
    identifier: str
    display_name: str
    organization: str
    signed: bool
    signer: str  # the signer's subject, "" for an unsigned profile
    verified: bool  # signed, the signature holds, and trustd trusts the signer
    trust: str  # why the signer is not trusted ("" when verified or unsigned)
    certificates: tuple[bytes, ...]  # every certificate payload (DER)
    roots: tuple[bytes, ...]  # the com.apple.security.root payloads (DER)
    ignored: tuple[str, ...]  # payload types trustd does not apply


def decode_profile(data: bytes) -> Profile:
    """The profile in `data` (an unsigned XML or binary property list)."""
    top = load_plist(data, limit=MAX_PROFILE_BYTES, invalid=InvalidProfile)
    if not isinstance(top, dict):
        raise InvalidProfile("not a configuration profile: the property list is not a dictionary")
    if top.get("PayloadType") != "Configuration":
        raise InvalidProfile('not a configuration profile: PayloadType is not "Configuration"')
    identifier = _text(top, "PayloadIdentifier", required=True)
    contents = top.get("PayloadContent", [])
    if not isinstance(contents, list):
        raise InvalidProfile("PayloadContent is not an array")
    certificates: list[CertificatePayload] = []
    ignored: list[str] = []
    for number, payload in enumerate(contents, start=1):
        if not isinstance(payload, dict):
            raise InvalidProfile(f"payload {number} is not a dictionary")
        kind = _text(payload, "PayloadType", required=True, where=f"payload {number}")
        if kind in CERTIFICATE_TYPES:
            certificates.append(_certificate_payload(payload, kind, number))
        else:
            ignored.append(kind)
    return Profile(
        identifier=identifier,
        uuid=_text(top, "PayloadUUID"),
        display_name=_text(top, "PayloadDisplayName"),
        organization=_text(top, "PayloadOrganization"),
        version=_version(top),
        certificates=tuple(certificates),
        ignored=tuple(ignored),
    )


def _certificate_payload(payload: dict[str, Any], kind: str, number: int) -> CertificatePayload:
    where = f"payload {number} ({kind})"
    content = payload.get("PayloadContent")
    if not isinstance(content, bytes):
        raise InvalidProfile(f"{where}: PayloadContent is not data")
    try:
        found = read_certificates(content)
    except UndecodableData as problem:
        raise InvalidProfile(f"{where}: {problem}") from None
    if len(found) != 1:
        raise InvalidProfile(f"{where}: holds {len(found)} certificates, not one")
    return CertificatePayload(
        payload_type=kind,
        identifier=_text(payload, "PayloadIdentifier", where=where),
        certificate=found[0],
        display_name=_text(payload, "PayloadDisplayName", where=where),
    )


def _text(mapping: dict[str, Any], key: str, *, required: bool = False, where: str = "") -> str:
    value = mapping.get(key)
    prefix = f"{where}: " if where else ""
    if value is None:
        if required:
            raise InvalidProfile(f"{prefix}{key} is missing")
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise InvalidProfile(f"{prefix}{key} is not a non-empty string")
    return value


def _version(top: dict[str, Any]) -> int:
    version = top.get("PayloadVersion", 1)
    if not isinstance(version, int) or isinstance(version, bool):
        raise InvalidProfile("PayloadVersion is not an integer")
    return version
