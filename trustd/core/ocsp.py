"""OCSP responses (RFC 6960) as revocation evidence: which responses can be believed, and what
they say about one certificate.

A response is believed for a certificate when it is a successful basic response, one of its
single responses names the certificate (issuer name hash, issuer key hash, serial), it is
signed by the issuer itself or by a responder certificate the issuer signed for OCSP signing
(id-kp-OCSPSigning, RFC 6960 4.2.2.2) that is valid at the moment, and it is fresh: thisUpdate
not in the future (five minutes of clock skew allowed) and nextUpdate not past.  A response
without nextUpdate is used for a day after thisUpdate, as Apple does.  Anything else is not
evidence at all; whether missing evidence matters is the caller's policy (trustd.core.crl).
Fetching responses is outside the core (trustd.net).
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

from trustd.core.certificates import Certificate, MalformedCertificate, parse_certificate
from trustd.core.reasons import REASON_CODES
from trustd.core.signatures import verify_signature, verify_signed

CLOCK_SKEW = timedelta(minutes=5)
DEFAULT_LIFETIME = timedelta(days=1)  # Apple's TTL for a response without nextUpdate
_HASHES = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha384": hashlib.sha384,
           "sha512": hashlib.sha512}  # fmt: skip


class Status(Enum):
    GOOD = "good"
    REVOKED = "revoked"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Answer:
    """What a believed response says about one certificate."""

    status: Status
    reason: int  # RFC 5280 reason code when revoked (0 unspecified)
    this_update: datetime
    valid_until: datetime


def parse_response(data: bytes) -> ocsp.OCSPResponse | None:
    """A successful OCSP response, or None."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            response = ocsp.load_der_ocsp_response(data)
            if response.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
                return None
            list(response.responses)  # decoded now, so nothing fails later
            return response
        except Exception:
            return None


def _key_hash(cert: Certificate, algorithm: hashes.HashAlgorithm) -> bytes:
    """Hash of the subject public key BIT STRING contents (RFC 6960 CertID.issuerKeyHash)."""
    digest = _HASHES.get(algorithm.name)
    if digest is None:
        return b""
    bits = cert.public_key_bits
    return digest(bits).digest() if bits else b""


def _names(single: ocsp.OCSPSingleResponse, cert: Certificate, issuer: Certificate) -> bool:
    digest = _HASHES.get(single.hash_algorithm.name)
    if digest is None:
        return False
    return (
        single.serial_number == cert.x509.serial_number
        and single.issuer_name_hash == digest(issuer.subject_der).digest()
        and single.issuer_key_hash == _key_hash(issuer, single.hash_algorithm)
    )


def _signed_by(response: ocsp.OCSPResponse, signer: Certificate) -> bool:
    key = signer.public_key
    algorithm = response.signature_hash_algorithm
    params: object = None
    if isinstance(key, rsa.RSAPublicKey):
        params = padding.PKCS1v15()
    elif isinstance(key, ec.EllipticCurvePublicKey) and algorithm is not None:
        params = ec.ECDSA(algorithm)
    return verify_signed(key, response.signature, response.tbs_response_bytes, params, algorithm)


def _responder_is(response: ocsp.OCSPResponse, cert: Certificate) -> bool:
    if response.responder_key_hash is not None:
        return response.responder_key_hash == _key_hash(cert, hashes.SHA1())
    return response.responder_name is not None and (
        response.responder_name.public_bytes() == cert.subject_der
    )


def _authorized_signer(
    response: ocsp.OCSPResponse, issuer: Certificate, moment: datetime
) -> Certificate | None:
    """The issuer, or a delegated responder it signed for OCSP signing, that signed this."""
    if _responder_is(response, issuer) and _signed_by(response, issuer):
        return issuer
    for embedded in response.certificates:
        try:
            responder = parse_certificate(embedded.public_bytes(Encoding.DER))
        except MalformedCertificate:
            continue
        usage = responder.extended_key_usage
        if (
            _responder_is(response, responder)
            and usage is not None
            and ExtendedKeyUsageOID.OCSP_SIGNING.dotted_string in usage
            and responder.issuer_key == issuer.subject_key
            and responder.not_before <= moment <= responder.not_after
            and verify_signature(issuer, responder)
            and _signed_by(response, responder)
        ):
            return responder
    return None


def answer_for(
    responses: Sequence[ocsp.OCSPResponse], cert: Certificate, issuer: Certificate, moment: datetime
) -> Answer | None:
    """What the believed responses say about `cert` (issued by `issuer`) at `moment`: a
    revocation wins over good answers; None when no response can be believed."""
    found: Answer | None = None
    for response in responses:
        for single in response.responses:
            if not _names(single, cert, issuer):
                continue
            this_update = single.this_update_utc
            next_update = single.next_update_utc or this_update + DEFAULT_LIFETIME
            if this_update > moment + CLOCK_SKEW or next_update < moment:
                continue
            if _authorized_signer(response, issuer, moment) is None:
                continue
            status = {
                ocsp.OCSPCertStatus.GOOD: Status.GOOD,
                ocsp.OCSPCertStatus.REVOKED: Status.REVOKED,
            }.get(single.certificate_status, Status.UNKNOWN)
            reason = 0
            if status is Status.REVOKED and single.revocation_reason is not None:
                reason = REASON_CODES.get(single.revocation_reason, 0)
            answer = Answer(status, reason, this_update, next_update)
            if found is None or answer.status is Status.REVOKED:
                found = answer
    return found
