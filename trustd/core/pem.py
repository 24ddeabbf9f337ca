"""PEM text (RFC 7468): the project's one reader and one writer of PEM blocks.

`blocks` finds every block of a text, whatever comes between them; `Block.der` decodes one
(RFC 1421 header lines, `Name: value`, are skipped).  `pem_certificate` is the first certificate
of a text, `armour` writes one block as `security -p` and OpenSSL write it.  Standard library
only: the certificate-file formats (`trustd.certfiles`), the drop-in watcher, the system bundle
and the core all read PEM through here.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = [
    "CERTIFICATE_LABELS",
    "MARKER",
    "Block",
    "armour",
    "begins_pem",
    "blocks",
    "is_pem",
    "pem_certificate",
]

CERTIFICATE_LABELS = frozenset({"CERTIFICATE", "X509 CERTIFICATE"})
MARKER = b"-----BEGIN "
_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 #]+)-----(.*?)-----END \1-----", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Block:
    """One BEGIN ... END block: its label and the text between the two lines."""

    label: str
    body: bytes

    def der(self) -> bytes:
        """The block's contents; ValueError when its base64 is damaged."""
        lines = (line.strip() for line in self.body.splitlines())
        text = b"".join(line for line in lines if b":" not in line)  # RFC 1421 headers
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"damaged base64 in the PEM {self.label} block") from None


def blocks(data: bytes) -> Iterator[Block]:
    """Every complete block of `data`, in order (text around and between them is skipped)."""
    for match in _BLOCK.finditer(data):
        yield Block(match.group(1).decode("ascii"), match.group(2))


def begins_pem(data: bytes) -> bool:
    """Whether `data` starts with a BEGIN line (white space before it aside)."""
    return data.lstrip().startswith(MARKER.rstrip())


def is_pem(data: bytes) -> bool:
    """PEM text rather than DER: it starts with a BEGIN line, or is no DER SEQUENCE and has one."""
    stripped = data.lstrip()
    return stripped.startswith(MARKER) or (stripped[:1] != b"\x30" and MARKER in data)


def pem_certificate(data: bytes) -> bytes:
    """The DER of the first CERTIFICATE block; ValueError naming what is there instead."""
    others: list[str] = []
    for block in blocks(data):
        if block.label in CERTIFICATE_LABELS:
            try:
                return block.der()
            except ValueError:
                raise ValueError("damaged base64 in the PEM certificate block") from None
        others.append(block.label)
    if others:
        found = ", ".join(dict.fromkeys(others))
        raise ValueError(f"no certificate in the PEM data, only {found}")
    raise ValueError("no complete PEM block")


def armour(der: bytes, label: str = "CERTIFICATE") -> str:
    """One PEM block with 64-column base64 and a final newline."""
    encoded = base64.b64encode(der).decode("ascii")
    lines = [encoded[i : i + 64] for i in range(0, len(encoded), 64)]
    return "\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----"]) + "\n"
