"""Signature verification, injectable, with a bounded cache for the default verifier."""

from __future__ import annotations

from typing import Protocol, cast

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa

from trustd.core.certificates import Certificate, key_algorithm
from trustd.core.lru import LRU


class SignatureVerifier(Protocol):
    def verify(self, issuer: Certificate, subject: Certificate) -> bool:
        """Whether `subject`'s signature verifies with `issuer`'s public key."""


def verify_signature(issuer: Certificate, subject: Certificate) -> bool:
    """RSA PKCS#1 v1.5 and PSS, ECDSA, Ed25519 and Ed448, as `cryptography` implements them.

    DSA is refused on purpose: no current CA uses it and Apple no longer verifies it.
    """
    algorithm = subject.signature_algorithm
    if algorithm is None:
        return False
    params, hash_algorithm = algorithm
    return verify_signed(
        issuer.public_key, subject.x509.signature, subject.tbs_der, params, hash_algorithm
    )


def verify_signed(
    key: object,
    signature: bytes,
    data: bytes,
    params: object,
    algorithm: hashes.HashAlgorithm | None,
) -> bool:
    """Whether `signature` over `data` verifies with `key` under the given parameters
    (PKCS1v15 or PSS padding for RSA, ECDSA for EC, none for EdDSA)."""
    kind = key_algorithm(key)
    try:
        if kind == "RSA":
            if not isinstance(params, padding.PKCS1v15 | padding.PSS) or not isinstance(
                algorithm, hashes.HashAlgorithm
            ):
                return False
            cast(rsa.RSAPublicKey, key).verify(signature, data, params, algorithm)
        elif kind == "EC":
            if not isinstance(params, ec.ECDSA):
                return False
            cast(ec.EllipticCurvePublicKey, key).verify(signature, data, params)
        elif kind in ("Ed25519", "Ed448"):
            if params is not None or algorithm is not None:
                return False
            cast(ed25519.Ed25519PublicKey | ed448.Ed448PublicKey, key).verify(signature, data)
        else:
            return False
    except (InvalidSignature, UnsupportedAlgorithm, ValueError, TypeError):
        return False
    return True


class CachingVerifier:
    """verify_signature with an LRU cache keyed by (issuer key, subject certificate) hashes.

    A verified signature stays verified, so a warm evaluation of a chain seen before costs no
    public-key operation.  The cache holds at most `size` results.
    """

    def __init__(self, size: int = 20_000) -> None:
        self._results: LRU[tuple[bytes, bytes], bool] = LRU(size)

    def verify(self, issuer: Certificate, subject: Certificate) -> bool:
        return self._results.get_or_compute(
            (issuer.spki_sha256, subject.sha256), lambda: verify_signature(issuer, subject)
        )
