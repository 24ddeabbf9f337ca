"""Signed configuration profiles: CMS SignedData (RFC 5652), as MDM servers, Apple
Configurator and `security cms -S` write them, opened with OpenSSL's `cms` command.

`open_signed` checks the signature over the content (the message digest and the signer's
signature over the signed attributes) and returns the content with the signer's certificate
and every certificate the message carries.  Whether the signer is trusted is not decided here:
trustd evaluates the signer's chain itself, with its own anchors and trust settings
(`--noverify` keeps OpenSSL's own chain verification out of it).  cryptography can sign CMS but
not verify it; OpenSSL's command does both and is on every machine trustd runs on.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from trustd.certfiles import UndecodableData, read_certificates

SIGNED_DATA_OID = bytes.fromhex("06092a864886f70d010702")  # 1.2.840.113549.1.7.2
OPENSSL_TIMEOUT = 10.0  # seconds; a profile is at most 1 MiB, checked in well under a second

__all__ = ["BadSignature", "SignedContent", "is_signed", "open_signed"]


class BadSignature(ValueError):
    """The signed message is malformed, or its signature does not match its content."""


@dataclass(frozen=True, slots=True)
class SignedContent:
    content: bytes
    signer: bytes  # DER of the signer's certificate
    certificates: tuple[bytes, ...]  # every certificate in the message (DER), for path building


def is_signed(data: bytes) -> bool:
    """Whether `data` looks like DER CMS SignedData (a SEQUENCE naming signedData first)."""
    return data[:1] == b"\x30" and SIGNED_DATA_OID in data[:24]


def open_signed(data: bytes, openssl: str = "openssl") -> SignedContent:
    """The content of a signed message whose signature holds; BadSignature otherwise."""
    with tempfile.TemporaryDirectory(prefix="trustd-cms-") as scratch:
        folder = Path(scratch)
        message, content = folder / "message.der", folder / "content"
        signer, carried = folder / "signer.pem", folder / "certificates.pem"
        message.write_bytes(data)
        command = [
            openssl, "cms", "-verify", "-noverify", "-binary", "-inform", "DER",
            "-in", str(message), "-out", str(content),
            "-signer", str(signer), "-certsout", str(carried),
        ]  # fmt: skip
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=OPENSSL_TIMEOUT, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as problem:
            raise BadSignature(f"the signature could not be checked: {problem}") from None
        if done.returncode != 0:
            raise BadSignature(f"the signature does not hold: {_reason(done.stderr)}")
        try:
            signers = read_certificates(signer.read_bytes())
            certificates = read_certificates(carried.read_bytes()) if carried.exists() else []
        except (OSError, UndecodableData) as problem:
            raise BadSignature(f"the signer's certificate cannot be read: {problem}") from None
        if len(signers) != 1:
            raise BadSignature(f"the message has {len(signers)} signers; one is expected")
        others = tuple(der for der in certificates if der != signers[0])
        return SignedContent(content.read_bytes(), signers[0], (signers[0], *others))


def _reason(stderr: str) -> str:
    """OpenSSL's reason: from its first error line (`...:error:CODE:LIBRARY:FUNCTION:REASON:...`),
    else its first line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:
        fields = line.split(":")
        if "error" in fields and len(fields) > fields.index("error") + 4:
            return fields[fields.index("error") + 4]
    return lines[0] if lines else "openssl refused it"
