"""Revocation: CRLs (RFC 5280 5 and 6.3, simplified) and OCSP answers (trustd.core.ocsp).

A CRL applies to a certificate when the CRL's issuer is the certificate's issuer and it is
signed by the issuer's key.  When the caller handed a CRL in for an issuer, the caller wants
revocation checked: a CRL that cannot be used (bad signature, issuer without cRLSign, missing or
critical CRL number, out of date) fails closed with RevocationResponseRequired.  Evidence the
daemon fetched is used only when it can be believed (soft fail), unless a positive answer is
required.  A revoked certificate is the fatal Revocation, whatever says so.  Fetching is outside
the core (trustd.net).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.x509 import ocsp
from cryptography.x509.oid import CRLEntryExtensionOID, ExtensionOID

from trustd.core.certificates import PEM_MARKER, Certificate, name_key
from trustd.core.ocsp import CLOCK_SKEW, DEFAULT_LIFETIME, Status, answer_for
from trustd.core.reasons import REASON_CODES, UNSPECIFIED_REASON
from trustd.core.verdict import Failure


@dataclass(frozen=True, slots=True)
class RevocationList:
    """A CRL decoded once: everything the checks read, so nothing can fail later."""

    crl: x509.CertificateRevocationList
    issuer_key: bytes
    this_update: datetime
    next_update: datetime | None
    structure_problem: str | None  # why the CRL cannot be used whatever the issuer, or None
    revoked: dict[int, int]  # serial -> RFC 5280 reason code


def parse_crl(data: bytes) -> RevocationList | None:
    """Parse a DER or PEM CRL; None when it is not one."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if data.lstrip()[:10] == PEM_MARKER:
                crl = x509.load_pem_x509_crl(data)
            else:
                crl = x509.load_der_x509_crl(data)
            return RevocationList(
                crl=crl,
                issuer_key=name_key(crl.issuer),
                this_update=crl.last_update_utc,
                next_update=crl.next_update_utc,
                structure_problem=_structure_problem(crl),
                revoked={entry.serial_number: _reason(entry) for entry in crl},
            )
        except Exception:
            return None


# CRL and CRL-entry extensions this implementation processes (RFC 5280 5.2, 5.3).  A CRL with
# any other critical extension MUST NOT be used; indirect CRLs (certificateIssuer), delta CRLs
# and issuing distribution points are not processed, so they make a critical-marked CRL unusable.
_CRL_EXTENSIONS = frozenset(
    oid.dotted_string
    for oid in (
        ExtensionOID.CRL_NUMBER,
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
        ExtensionOID.ISSUER_ALTERNATIVE_NAME,
    )
)
_ENTRY_EXTENSIONS = frozenset(
    oid.dotted_string
    for oid in (CRLEntryExtensionOID.CRL_REASON, CRLEntryExtensionOID.INVALIDITY_DATE)
)


def _critical_problem(crl: x509.CertificateRevocationList) -> str | None:
    for extension in crl.extensions:
        if extension.critical and extension.oid.dotted_string not in _CRL_EXTENSIONS:
            return f"CRL has an unprocessed critical extension {extension.oid.dotted_string}"
    for entry in crl:
        for extension in entry.extensions:
            if extension.critical and extension.oid.dotted_string not in _ENTRY_EXTENSIONS:
                return (
                    f"CRL entry has an unprocessed critical extension {extension.oid.dotted_string}"
                )
    return None


def _structure_problem(crl: x509.CertificateRevocationList) -> str | None:
    try:
        critical = _critical_problem(crl)
    except Exception:
        return "CRL extensions cannot be parsed"
    if critical:
        return critical
    try:
        number = crl.extensions.get_extension_for_oid(ExtensionOID.CRL_NUMBER)
    except x509.ExtensionNotFound:
        return "CRL has no CRL number"  # RFC 5280 5.2.3: MUST be included
    except Exception:
        return "CRL extensions cannot be parsed"
    if number.critical:
        return "CRL number is critical"  # RFC 5280 5.2.3: MUST be non-critical
    return None


def _unusable(crl: RevocationList, issuer: Certificate, moment: datetime) -> str | None:
    """Why this CRL cannot be relied on, or None."""
    usage = issuer.key_usage
    if usage is not None and not usage.crl_sign:
        return "CRL issuer lacks cRLSign"  # RFC 5280 6.3.3 (f)
    try:
        if not crl.crl.is_signature_valid(issuer.public_key):
            return "CRL signature does not verify"
    except Exception:
        return "CRL signature does not verify"
    if crl.structure_problem:
        return crl.structure_problem
    if crl.this_update > moment:
        return "CRL is not yet valid"
    if crl.next_update is not None and crl.next_update < moment:
        return "CRL is out of date"
    return None


@dataclass(frozen=True, slots=True)
class RevocationEvidence:
    """What an evaluation knows about revocation.

    `crls` were handed in by the caller, who wants them used: one that cannot be used fails
    closed (RevocationResponseRequired).  `fetched_crls` (from distribution points) and `ocsp`
    (stapled or fetched responses) are used when they can be believed and ignored otherwise
    (soft fail).  With `required`, every certificate below the anchor needs a usable answer.
    """

    crls: Sequence[RevocationList] = ()
    fetched_crls: Sequence[RevocationList] = ()
    ocsp: Sequence[ocsp.OCSPResponse] = ()
    required: bool = False

    def __bool__(self) -> bool:
        return bool(self.crls or self.fetched_crls or self.ocsp or self.required)

    def bounds(self) -> Iterator[datetime]:
        """The moments at which this evidence starts or stops counting."""
        second = timedelta(seconds=1)
        for crl in (*self.crls, *self.fetched_crls):
            yield crl.this_update
            if crl.next_update is not None:
                yield crl.next_update + second
        for response in self.ocsp:
            for single in response.responses:
                yield single.this_update_utc - CLOCK_SKEW
                yield (single.next_update_utc or single.this_update_utc + DEFAULT_LIFETIME) + second


def revocation_failures(
    path: Sequence[Certificate], evidence: RevocationEvidence, moment: datetime
) -> Iterator[Failure]:
    """Revocation of every certificate below the anchor (the anchor itself is not checked)."""
    if not evidence:
        return
    for index in range(len(path) - 1):
        cert, issuer = path[index], path[index + 1]
        answer = answer_for(evidence.ocsp, cert, issuer, moment)
        if answer is not None and answer.status is Status.REVOKED:
            yield Failure(index, "Revocation", value=answer.reason, detail="revoked (OCSP)")
            continue
        known = answer is not None and answer.status is Status.GOOD
        found = _crl_status(cert, issuer, evidence, moment)
        if isinstance(found, Failure):
            yield Failure(index, found.check, value=found.value, detail=found.detail)
            continue
        if not (known or found) and evidence.required:
            yield Failure(
                index, "RevocationResponseRequired", detail="no usable revocation information"
            )


def _crl_status(
    cert: Certificate, issuer: Certificate, evidence: RevocationEvidence, moment: datetime
) -> Failure | bool:
    """A failure from the CRLs, or whether a usable CRL vouches for the certificate."""
    vouched = False
    for revocation_list, fail_closed in (
        *((c, True) for c in evidence.crls),
        *((c, False) for c in evidence.fetched_crls),
    ):
        if revocation_list.issuer_key != cert.issuer_key:
            continue
        problem = _unusable(revocation_list, issuer, moment)
        if problem:
            if fail_closed:
                return Failure(0, "RevocationResponseRequired", detail=problem)
            continue
        reason = revocation_list.revoked.get(cert.x509.serial_number)
        if reason is not None:
            return Failure(0, "Revocation", value=reason, detail="listed on CRL")
        vouched = True
    return vouched


def _reason(entry: x509.RevokedCertificate) -> int:
    """RFC 5280 5.3.1 reason code of a CRL entry (0, unspecified, when absent)."""
    try:
        reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    except Exception:
        return UNSPECIFIED_REASON
    return REASON_CODES.get(reason, UNSPECIFIED_REASON)
