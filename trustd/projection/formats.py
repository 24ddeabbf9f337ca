"""File formats that carry per-purpose trust, written by well-kept tools rather than by hand.

- OpenSSL's TRUSTED CERTIFICATE: the certificate followed by OpenSSL's auxiliary trust data
  (trusted and rejected extended key usages, an alias), written by `openssl x509 -addtrust
  -addreject -setalias -trustout`.  OpenSSL reads it from a CAfile or CApath when the program
  loads trusted certificates; p11-kit (and so Fedora's update-ca-trust) reads it as a source.
- A Java truststore: PKCS#12 whose certificate bags carry Java's trusted-key-usage attribute
  (anyExtendedKeyUsage), written by cryptography's `serialize_java_truststore`; keytool and
  Java's KeyStore read it (Java 9 and later read PKCS#12 by default).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable, Sequence

from cryptography import x509
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    NoEncryption,
    pkcs12,
)

from trustd.projection.files import OutputFailure
from trustd.projection.model import Purpose

OPENSSL = "openssl"


def openssl_trusted(
    der: bytes,
    trusted: Iterable[Purpose],
    rejected: Iterable[Purpose] = (),
    alias: str | None = None,
) -> bytes:
    """One certificate as a PEM TRUSTED CERTIFICATE block with these trusted and rejected
    purposes (OpenSSL's names are the purposes' values)."""
    argv = [OPENSSL, "x509", "-inform", "DER", "-trustout"]
    for purpose in sorted(trusted):
        argv += ["-addtrust", str(purpose)]
    for purpose in sorted(rejected):
        argv += ["-addreject", str(purpose)]
    if alias:
        argv += ["-setalias", alias]
    try:
        done = subprocess.run(argv, input=der, capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as problem:
        raise OutputFailure(f"openssl: {problem}") from None
    if done.returncode != 0:
        raise OutputFailure(f"openssl x509 -trustout: {done.stderr.decode(errors='replace')}")
    start = done.stdout.find(b"-----BEGIN TRUSTED CERTIFICATE-----")
    if start < 0:
        raise OutputFailure("openssl x509 -trustout wrote no TRUSTED CERTIFICATE")
    return done.stdout[start:]


def java_truststore(
    certificates: Sequence[tuple[str, bytes]], password: bytes | None = None
) -> bytes:
    """A PKCS#12 truststore of (alias, DER) pairs, each a trusted certificate entry for Java."""
    bags = [
        pkcs12.PKCS12Certificate(x509.load_der_x509_certificate(der), alias.encode())
        for alias, der in certificates
    ]
    encryption = NoEncryption() if not password else BestAvailableEncryption(password)
    return pkcs12.serialize_java_truststore(bags, encryption)
