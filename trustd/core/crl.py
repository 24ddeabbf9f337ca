"""Revocation against CRLs handed in with a request (RFC 5280 5 and 6.3, simplified).

A CRL applies to a certificate when the CRL's issuer is the certificate's issuer and it is
signed by the issuer's key.  When a CRL was handed in for an issuer, the caller wants revocation
checked: a CRL that cannot be used (bad signature, issuer without cRLSign, missing or critical
CRL number, out of date) fails closed with RevocationResponseRequired, and a listed serial is the
fatal Revocation.  Network fetching of CRLs is outside the core (trustd.net).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.x509.oid import ExtensionOID

from trustd.core.certificates import PEM_MARKER, Certificate, name_key
from trustd.core.verdict import Failure

# RFC 5280 5.3.1 reason codes; the Revocation check's value is the reason number.
UNSPECIFIED_REASON = 0


@dataclass(frozen=True, slots=True)
class RevocationList:
    crl: x509.CertificateRevocationList
    issuer_key: bytes


def parse_crl(data: bytes) -> RevocationList | None:
    """Parse a DER or PEM CRL; None when it is not one."""
    try:
        if data.lstrip()[:10] == PEM_MARKER:
            crl = x509.load_pem_x509_crl(data)
        else:
            crl = x509.load_der_x509_crl(data)
        return RevocationList(crl, name_key(crl.issuer))
    except ValueError:
        return None


def _unusable(
    crl: x509.CertificateRevocationList, issuer: Certificate, moment: datetime
) -> str | None:
    """Why this CRL cannot be relied on, or None."""
    usage = issuer.key_usage
    if usage is not None and not usage.crl_sign:
        return "CRL issuer lacks cRLSign"  # RFC 5280 6.3.3 (f)
    try:
        if not crl.is_signature_valid(issuer.public_key):
            return "CRL signature does not verify"
    except (InvalidSignature, UnsupportedAlgorithm, TypeError, ValueError):
        return "CRL signature does not verify"
    try:
        number = crl.extensions.get_extension_for_oid(ExtensionOID.CRL_NUMBER)
    except x509.ExtensionNotFound:
        return "CRL has no CRL number"  # RFC 5280 5.2.3: MUST be included
    except ValueError:
        return "CRL extensions cannot be parsed"
    if number.critical:
        return "CRL number is critical"  # RFC 5280 5.2.3: MUST be non-critical
    if crl.last_update_utc > moment:
        return "CRL is not yet valid"
    if crl.next_update_utc is not None and crl.next_update_utc < moment:
        return "CRL is out of date"
    return None


def revocation_failures(
    path: Sequence[Certificate], crls: Sequence[RevocationList], moment: datetime
) -> Iterator[Failure]:
    if not crls:
        return
    for index in range(len(path) - 1):
        cert, issuer = path[index], path[index + 1]
        relevant = [r for r in crls if r.issuer_key == cert.issuer_key]
        for revocation_list in relevant:
            problem = _unusable(revocation_list.crl, issuer, moment)
            if problem:
                yield Failure(index, "RevocationResponseRequired", detail=problem)
                break
            entry = revocation_list.crl.get_revoked_certificate_by_serial_number(
                cert.x509.serial_number
            )
            if entry is not None:
                yield Failure(index, "Revocation", value=_reason(entry), detail="listed on CRL")
                break


def _reason(entry: x509.RevokedCertificate) -> int:
    try:
        reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    except (x509.ExtensionNotFound, ValueError):
        return UNSPECIFIED_REASON
    codes = list(x509.ReasonFlags)
    order = [
        x509.ReasonFlags.unspecified,
        x509.ReasonFlags.key_compromise,
        x509.ReasonFlags.ca_compromise,
        x509.ReasonFlags.affiliation_changed,
        x509.ReasonFlags.superseded,
        x509.ReasonFlags.cessation_of_operation,
        x509.ReasonFlags.certificate_hold,
        None,
        x509.ReasonFlags.remove_from_crl,
        x509.ReasonFlags.privilege_withdrawn,
        x509.ReasonFlags.aa_compromise,
    ]
    return order.index(reason) if reason in codes and reason in order else UNSPECIFIED_REASON
