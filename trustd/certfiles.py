"""Certificate file formats: reading what `security import` reads, writing what
`security export` writes, for certificates only.

Reading (`read_certificates`) returns the DER of every certificate in the data, in order, each
certificate once.  The format is recognised from the content, never from a file name:

- DER: one X.509 certificate;
- PEM: any number of blocks, anywhere in the text.  ``CERTIFICATE`` and ``X509 CERTIFICATE``
  blocks are certificates; ``TRUSTED CERTIFICATE`` (OpenSSL's certificate followed by its
  auxiliary trust settings) contributes its certificate, the OpenSSL trust settings are
  ignored; ``PKCS7`` and ``CMS`` blocks contribute their certificates.  Other blocks (keys,
  CRLs, requests) are skipped;
- PKCS#7 / CMS SignedData, DER or PEM (``.p7b``, ``.p7c``; ``openssl crl2pkcs7`` output): its
  certificates;
- PKCS#12 (``.p12``, ``.pfx``): the certificate of the key and the additional certificates.
  Private keys are never read out.  Without a password, no password and the empty one are
  tried; when the data needs one, `PasswordNeeded` says so.

An explicit format (`security`'s ``-f`` names) overrides the recognition: ``x509`` is exactly
one certificate (DER, or one PEM block), ``openssl`` and ``pemseq`` are PEM text, ``pkcs7`` is
PKCS#7 (DER or PEM), ``pkcs12`` is PKCS#12.  Anything that cannot be read raises
`UndecodableData` with a one-line reason.

Writing (`write_certificates`) produces ``pemseq`` (PEM blocks one after the other, base64 in
64 columns, as ``security export -f pemseq -p``), ``x509`` (one certificate: DER, or PEM with
``pem=True``) and ``pkcs7`` (a certs-only PKCS#7 SignedData, DER or PEM).  ``pkcs12`` is
refused: a PKCS#12 file exists to carry private keys with their certificates, and trustd stores
certificates only, so there is nothing meaningful to put in one.  Problems raise
`CannotEncode`.

`cryptography` and the core's PEM and DER readers (`trustd.core.pem`, `trustd.core.der`) are
imported inside the functions, so that importing this module (and ``trustctl --help``) stays
cheap.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from cryptography import x509

    from trustd.core.pem import Block

__all__ = [
    "READ_FORMATS",
    "WRITE_FORMATS",
    "CannotEncode",
    "FormatError",
    "PasswordNeeded",
    "UndecodableData",
    "pem_armour",
    "read_certificates",
    "write_certificates",
]

READ_FORMATS = ("openssl", "x509", "pkcs7", "pkcs12", "pemseq")  # security import -f
WRITE_FORMATS = ("pemseq", "x509", "pkcs7")  # security export -f, for certificates

TRUSTED_LABEL = "TRUSTED CERTIFICATE"  # OpenSSL: certificate DER, then X509_CERT_AUX
PKCS7_LABELS = frozenset({"PKCS7", "CMS", "PKCS #7 SIGNED DATA"})

# The first element inside the outer SEQUENCE tells the three DER formats apart.
_SEQUENCE, _INTEGER, _OID = 0x30, 0x02, 0x06
_KIND_OF_FIRST_ELEMENT = {_SEQUENCE: "x509", _OID: "pkcs7", _INTEGER: "pkcs12"}


class FormatError(ValueError):
    """Certificate data that cannot be read or written as asked."""


class UndecodableData(FormatError):
    """The data holds no certificate trustctl can read, or is damaged."""


class PasswordNeeded(UndecodableData):
    """PKCS#12 data that needs a password which was not given."""


class CannotEncode(FormatError):
    """The certificates cannot be written in the format asked for."""


# -- reading ------------------------------------------------------------------------------------


def read_certificates(
    data: bytes, *, fmt: str | None = None, password: bytes | None = None
) -> list[bytes]:
    """The DER of every certificate in `data`, in order, without duplicates.

    `fmt` forces a format (`READ_FORMATS`); `password` unlocks PKCS#12 data.  Raises
    `UndecodableData` (`PasswordNeeded` for PKCS#12 data needing a password).
    """
    kind = None if fmt is None else fmt.lower()
    if kind is not None and kind not in READ_FORMATS:
        raise UndecodableData(f'unknown format "{fmt}" (use one of {", ".join(READ_FORMATS)})')
    if kind is None:
        found = _read_any(data, password)
    elif kind in ("openssl", "pemseq"):
        if not _looks_like_pem(data):
            raise UndecodableData("not PEM data")
        found = _read_pem(data, password, labels=None)
    elif kind == "x509":
        found = _read_one_certificate(data)
    elif kind == "pkcs7":
        found = _read_pem(data, password, labels=PKCS7_LABELS) if _is_pem(data) else _pkcs7(data)
    else:
        if _is_pem(data):
            raise UndecodableData("not PKCS#12 data (PKCS#12 is binary, this is PEM text)")
        found = _pkcs12(data, password)
    return _unique(found)


def _read_any(data: bytes, password: bytes | None) -> list[bytes]:
    kind = _der_kind(data)
    if kind == "x509":
        return [_certificate(data)]
    if kind == "pkcs7":
        return _pkcs7(data)
    if kind == "pkcs12":
        return _pkcs12(data, password)
    if _looks_like_pem(data):
        return _read_pem(data, password, labels=None)
    raise UndecodableData("not certificate data (DER or PEM certificates, PKCS#7 or PKCS#12)")


def _read_one_certificate(data: bytes) -> list[bytes]:
    """-f x509: exactly one certificate, DER or one PEM certificate block."""
    if not _is_pem(data):
        return [_certificate(data)]
    from trustd.core.pem import CERTIFICATE_LABELS

    found = _read_pem(data, None, labels=CERTIFICATE_LABELS | {TRUSTED_LABEL})
    if len(found) != 1:
        raise UndecodableData(f"the x509 format holds one certificate, this holds {len(found)}")
    return found


def _unique(ders: Iterable[bytes]) -> list[bytes]:
    seen: set[bytes] = set()
    unique: list[bytes] = []
    for der in ders:
        digest = hashlib.sha256(der).digest()
        if digest not in seen:
            seen.add(digest)
            unique.append(der)
    return unique


# -- DER ----------------------------------------------------------------------------------------


class _Header(NamedTuple):
    tag: int
    size: int  # of the tag and length octets
    length: int | None  # of the contents; None for BER's indefinite length


def _header(data: bytes, offset: int) -> _Header | None:
    """The DER/BER tag-length header at `offset` (low tag numbers only), or None."""
    from trustd.core.der import DERProblem, read_header

    try:
        tag, start, length = read_header(data, offset, ber=True)
    except DERProblem:
        return None
    return _Header(tag, start - offset, length)


def _der_kind(data: bytes) -> str | None:
    """ "x509", "pkcs7" or "pkcs12" when `data` is one DER (or BER) structure of that shape."""
    outer = _header(data, 0)
    if outer is None or outer.tag != _SEQUENCE:
        return None
    if outer.length is not None and outer.size + outer.length != len(data):
        return None
    inner = _header(data, outer.size)
    return None if inner is None else _KIND_OF_FIRST_ELEMENT.get(inner.tag)


def _first_element(data: bytes) -> bytes:
    """The first complete DER element of `data` (TRUSTED CERTIFICATE: the certificate)."""
    header = _header(data, 0)
    if header is None or header.length is None or header.size + header.length > len(data):
        raise UndecodableData("damaged TRUSTED CERTIFICATE block")
    return data[: header.size + header.length]


def _load(der: bytes) -> x509.Certificate:
    from cryptography import x509

    try:
        return x509.load_der_x509_certificate(der)
    except x509.InvalidVersion as problem:  # not a ValueError
        raise UndecodableData(
            f"not a valid X.509 certificate (version {problem.parsed_version + 1})"
        ) from None
    except Exception:  # whatever cryptography raises for bytes that are not a certificate
        raise UndecodableData("not a valid X.509 certificate") from None


def _certificate(der: bytes) -> bytes:
    """`der` itself, once it is known to be a certificate."""
    _load(der)
    return bytes(der)


def _der_of(certificate: x509.Certificate) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding

    return certificate.public_bytes(Encoding.DER)


def _pkcs7(der: bytes) -> list[bytes]:
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.serialization import pkcs7

    try:
        certificates = pkcs7.load_der_pkcs7_certificates(der)
    except ValueError as problem:
        if "no certificate" in str(problem).lower():
            raise UndecodableData("the PKCS#7 data holds no certificates") from None
        raise UndecodableData("not valid PKCS#7 data") from None
    except UnsupportedAlgorithm:  # enveloped, digested...: not SignedData
        raise UndecodableData(
            "not PKCS#7 SignedData (the kind that carries certificates)"
        ) from None
    except Exception:  # InvalidVersion of a certificate inside, and the like
        raise UndecodableData("the PKCS#7 data holds a certificate that is not valid") from None
    return [_der_of(certificate) for certificate in certificates]


def _pkcs12(der: bytes, password: bytes | None) -> list[bytes]:
    from cryptography.hazmat.primitives.serialization import pkcs12

    attempts: tuple[bytes | None, ...] = (None, b"") if password is None else (password,)
    for attempt in attempts:
        try:
            loaded = pkcs12.load_pkcs12(der, attempt)
        except ValueError:
            continue
        except Exception:  # InvalidVersion of a certificate inside, unsupported algorithms
            raise UndecodableData("the PKCS#12 data cannot be read") from None
        found = [] if loaded.cert is None else [loaded.cert.certificate]
        found += [item.certificate for item in loaded.additional_certs]
        if not found:
            raise UndecodableData("the PKCS#12 data holds no certificates")
        return [_der_of(certificate) for certificate in found]
    if password is None:
        raise PasswordNeeded("the PKCS#12 data is protected: a password is needed")
    raise UndecodableData("wrong password for the PKCS#12 data, or the data is damaged")


# -- PEM ----------------------------------------------------------------------------------------


def _looks_like_pem(data: bytes) -> bool:
    from trustd.core.pem import MARKER

    return MARKER in data


def _is_pem(data: bytes) -> bool:
    """PEM rather than binary: no DER structure, and a BEGIN line."""
    return _der_kind(data) is None and _looks_like_pem(data)


def _pem_body(block: Block) -> bytes:
    try:
        return block.der()
    except ValueError:
        raise UndecodableData(f"damaged base64 in a PEM {block.label} block") from None


def _read_pem(data: bytes, password: bytes | None, labels: frozenset[str] | None) -> list[bytes]:
    """Certificates of the PEM blocks (only blocks with one of `labels`, when given)."""
    found: list[bytes] = []
    from trustd.core.pem import CERTIFICATE_LABELS, blocks

    for block in blocks(data):
        label = block.label
        if labels is not None and label not in labels:
            continue
        if label in CERTIFICATE_LABELS:
            found.append(_certificate(_pem_body(block)))
        elif label == TRUSTED_LABEL:
            found.append(_certificate(_first_element(_pem_body(block))))
        elif label in PKCS7_LABELS:
            found.extend(_pkcs7(_pem_body(block)))
    if not found:
        wanted = "PKCS#7 block" if labels == PKCS7_LABELS else "certificate"
        raise UndecodableData(f"no {wanted} in the PEM data")
    return found


def pem_armour(der: bytes, label: str = "CERTIFICATE") -> str:
    """One PEM block with 64-column base64 and a final newline, as `security -p` writes it."""
    from trustd.core.pem import armour

    return armour(der, label)


# -- writing ------------------------------------------------------------------------------------


def write_certificates(ders: Sequence[bytes], fmt: str, *, pem: bool) -> bytes:
    """`ders` encoded as `fmt` (`WRITE_FORMATS`); `pem` armours x509 and pkcs7 output.

    Raises `CannotEncode` for PKCS#12 (certificates without keys), unknown formats, no
    certificates, or more than one certificate in the x509 format.
    """
    kind = fmt.lower()
    if kind == "pkcs12":
        raise CannotEncode(
            "PKCS#12 carries private keys with their certificates and trustd stores "
            "certificates only: export as pemseq or pkcs7"
        )
    if kind not in WRITE_FORMATS:
        raise CannotEncode(
            f'certificates cannot be written as "{fmt}" (use one of {", ".join(WRITE_FORMATS)})'
        )
    if not ders:
        raise CannotEncode("no certificates to write")
    certificates = [_load(der) for der in ders]
    if kind == "pemseq":
        return "".join(pem_armour(der) for der in ders).encode("ascii")
    if kind == "x509":
        if len(ders) != 1:
            raise CannotEncode(f"the x509 format holds one certificate, not {len(ders)}")
        return pem_armour(ders[0]).encode("ascii") if pem else bytes(ders[0])
    from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

    return pkcs7.serialize_certificates(certificates, Encoding.PEM if pem else Encoding.DER)
