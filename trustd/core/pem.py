"""Finding the certificate in PEM text (RFC 7468), whatever other blocks come first."""

from __future__ import annotations

import base64
import binascii
import re

CERTIFICATE_LABELS = frozenset({"CERTIFICATE", "X509 CERTIFICATE"})
_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 #]+)-----(.*?)-----END \1-----", re.DOTALL)
_MARKER = b"-----BEGIN "


def is_pem(data: bytes) -> bool:
    """PEM text rather than DER: it starts with a BEGIN line, or is no DER SEQUENCE and has one."""
    stripped = data.lstrip()
    return stripped.startswith(_MARKER) or (stripped[:1] != b"\x30" and _MARKER in data)


def pem_certificate(data: bytes) -> bytes:
    """The DER of the first CERTIFICATE block; ValueError naming what is there instead."""
    others: list[str] = []
    for match in _BLOCK.finditer(data):
        label = match.group(1).decode("ascii")
        if label not in CERTIFICATE_LABELS:
            others.append(label)
            continue
        lines = (line.strip() for line in match.group(2).splitlines())
        text = b"".join(line for line in lines if b":" not in line)  # RFC 1421 headers
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("damaged base64 in the PEM certificate block") from None
    if others:
        found = ", ".join(dict.fromkeys(others))
        raise ValueError(f"no certificate in the PEM data, only {found}")
    raise ValueError("no complete PEM block")
