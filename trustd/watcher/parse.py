"""Decoding drop-in files: certificate files and macOS trust-settings plists (pure, no I/O).

Every function here takes bytes and returns core values, or raises `BrokenFile` with a
one-line reason an administrator can act on.  A file is decoded whole or not at all: one bad
certificate or one bad trust-settings entry makes the whole file broken, so a file is never
half applied.
"""

from __future__ import annotations

from trustd.core import pem
from trustd.core.certificates import Certificate, MalformedCertificate, parse_certificate
from trustd.core.trust_settings import TrustSettingsEntry
from trustd.plist.trust_settings import InvalidRecord as BrokenFile
from trustd.plist.trust_settings import decode_record

MAX_FILE_BYTES = 1024 * 1024

__all__ = ["MAX_FILE_BYTES", "BrokenFile", "parse_certificate_file", "parse_trust_settings_file"]


def parse_certificate_file(data: bytes) -> list[Certificate]:
    """Every certificate of a PEM file (any number of CERTIFICATE blocks) or a DER file.

    PEM blocks of other types (keys, CRLs, OpenSSL's TRUSTED CERTIFICATE) are ignored; a file
    with no certificate at all, or with one that does not parse, is broken.
    """
    if pem.MARKER in data:
        certificates: list[Certificate] = []
        for number, block in enumerate(pem.blocks(data), start=1):
            if block.label != "CERTIFICATE":
                continue
            try:
                certificates.append(parse_certificate(block.der()))
            except ValueError as problem:  # damaged base64, or MalformedCertificate
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
    """The entries of a drop-in trust-settings plist (the default-root entry is not applied)."""
    return decode_record(
        data, limit=MAX_FILE_BYTES, keep_default_root=False, require_entry_keys=False
    )
