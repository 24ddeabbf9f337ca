"""Configuration profiles for tests: `.mobileconfig` property lists, unsigned or CMS-signed.

`profile(...)` builds the property list a profile editor writes (XML, or binary with
`binary=True`); `sign(data, signer, *extra)` wraps it in CMS SignedData (DER, content attached,
as MDM servers and `security cms -S` write it) with cryptography's PKCS#7 builder.
"""

from __future__ import annotations

import plistlib
import uuid
from collections.abc import Sequence
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from pki import Issued

ROOT = "com.apple.security.root"
PKCS1 = "com.apple.security.pkcs1"
PEM = "com.apple.security.pem"


def payload(kind: str, certificate: Issued, identifier: str = "") -> dict[str, Any]:
    content = certificate.pem if kind == PEM else certificate.der
    return {
        "PayloadType": kind,
        "PayloadIdentifier": identifier or f"com.example.payload.{uuid.uuid4()}",
        "PayloadUUID": str(uuid.uuid4()).upper(),
        "PayloadVersion": 1,
        "PayloadDisplayName": "Certificate",
        "PayloadContent": content,
        "PayloadCertificateFileName": "certificate.cer",
    }


def profile(
    identifier: str,
    payloads: Sequence[dict[str, Any]],
    *,
    name: str = "Example Org CA",
    organization: str = "Example Org",
    binary: bool = False,
) -> bytes:
    top = {
        "PayloadType": "Configuration",
        "PayloadIdentifier": identifier,
        "PayloadUUID": str(uuid.uuid4()).upper(),
        "PayloadVersion": 1,
        "PayloadDisplayName": name,
        "PayloadOrganization": organization,
        "PayloadContent": list(payloads),
    }
    return plistlib.dumps(top, fmt=plistlib.FMT_BINARY if binary else plistlib.FMT_XML)


def sign(data: bytes, signer: Issued, *extra: Issued) -> bytes:
    builder = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(data)
        .add_signer(x509.load_der_x509_certificate(signer.der), signer.key, hashes.SHA256())
    )
    for certificate in extra:
        builder = builder.add_certificate(x509.load_der_x509_certificate(certificate.der))
    return builder.sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])
