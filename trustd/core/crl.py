"""Revocation: CRLs (RFC 5280 5 and 6.3) and OCSP answers (trustd.core.ocsp).

CRL processing follows RFC 5280 6.3.3 for every certificate below the anchor: each distribution
point of the certificate (one with the certificate's issuer as cRLIssuer when it names none) is
matched against every complete CRL whose issuer and scope fit it (issuer name, indirect CRLs and
cRLIssuer, the issuing distribution point's names, onlyContainsUserCerts, onlyContainsCACerts,
onlyContainsAttributeCerts), the reasons each CRL covers (onlySomeReasons and the distribution
point's reasons) are collected until they cover all reasons, a delta CRL of the same scope is
applied when one is at hand, and every CRL must be signed by a key whose certificate chains to
the same anchor and may sign CRLs (cRLSign): the path's own certificates, or another
certificate of the CRL issuer (a separate CRL key, a key rollover by self-issued certificates),
whose own path the caller validates (`CrlSigners`).

A certificate is covered when usable CRLs cover all reasons.  When the caller handed in a CRL
that concerns the certificate's issuer (`crls`), or revocation is required, a certificate that
is not covered fails closed with RevocationResponseRequired: a CRL that cannot be used
(bad signature, issuer without cRLSign, missing or critical CRL number, out of date, unknown
critical extension, wrong scope) is no evidence.  CRLs the daemon fetched (`fetched_crls`) go
through the same processing but their absence is soft-fail, unless a positive answer is
required.  A revoked certificate is the fatal Revocation, whatever says so.  Fetching is outside
the core (trustd.net).
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from cryptography import x509
from cryptography.x509 import ocsp
from cryptography.x509.oid import CRLEntryExtensionOID, ExtensionOID

from trustd.core.certificates import Certificate, name_key
from trustd.core.lru import LRU
from trustd.core.ocsp import CLOCK_SKEW, DEFAULT_LIFETIME, Status, answer_for
from trustd.core.pem import begins_pem
from trustd.core.reasons import REASON_CODES, UNSPECIFIED_REASON
from trustd.core.results import CheckName
from trustd.core.verdict import Failure

REMOVE_FROM_CRL = 8
# RFC 5280 4.2.1.13 ReasonFlags (bits 1 to 8): the CRL reasons but unspecified and removeFromCRL.
ALL_REASONS = frozenset(x509.ReasonFlags) - {
    x509.ReasonFlags.unspecified,
    x509.ReasonFlags.remove_from_crl,
}
# How deep CRL signer paths may nest (a CRL signer whose CRL has another signer ...).
MAX_SIGNER_DEPTH = 4


@dataclass(frozen=True, slots=True)
class RevocationList:
    """A CRL decoded once: everything the checks read, so nothing can fail later."""

    crl: x509.CertificateRevocationList
    issuer_key: bytes
    this_update: datetime
    next_update: datetime | None
    structure_problem: str | None  # why the CRL cannot be used whatever the issuer, or None
    revoked: dict[tuple[bytes, int], int]  # (certificate issuer name key, serial) -> reason
    number: int | None = None
    delta_base: int | None = None  # BaseCRLNumber of a delta CRL, None for a complete CRL
    scope: x509.IssuingDistributionPoint | None = None
    verified: dict[bytes, bool] = field(default_factory=dict, compare=False)

    @property
    def indirect(self) -> bool:
        return self.scope is not None and self.scope.indirect_crl

    def signed_by(self, cert: Certificate) -> bool:
        """Whether the CRL's signature verifies with `cert`'s key (cached per key)."""
        key = cert.spki_sha256
        if key not in self.verified:
            try:
                self.verified[key] = bool(self.crl.is_signature_valid(cert.public_key))
            except Exception:
                self.verified[key] = False
        return self.verified[key]

    def current_at(self, moment: datetime) -> str | None:
        if self.this_update > moment:
            return "CRL is not yet valid"
        if self.next_update is not None and self.next_update < moment:
            return "CRL is out of date"
        return None


_Kind = TypeVar("_Kind", bound=x509.ExtensionType)
_PARSED: LRU[bytes, RevocationList | None] = LRU(2048)


def parse_crl(data: bytes) -> RevocationList | None:
    """Parse a DER or PEM CRL; None when it is not one (parsed CRLs are cached by digest)."""
    return _PARSED.get_or_compute(hashlib.sha256(data).digest(), lambda: _parse(data))


def _parse(data: bytes) -> RevocationList | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            crl = x509.load_pem_x509_crl(data) if begins_pem(data) else x509.load_der_x509_crl(data)
            issuer_key = name_key(crl.issuer)
            problem = _structure_problem(crl)
            scope = _extension(crl, x509.IssuingDistributionPoint) if not problem else None
            number = _extension(crl, x509.CRLNumber) if not problem else None
            delta = _extension(crl, x509.DeltaCRLIndicator) if not problem else None
            return RevocationList(
                crl=crl,
                issuer_key=issuer_key,
                this_update=crl.last_update_utc,
                next_update=crl.next_update_utc,
                structure_problem=problem,
                revoked=_entries(crl, issuer_key, scope is not None and scope.indirect_crl),
                number=None if number is None else number.crl_number,
                delta_base=None if delta is None else delta.crl_number,
                scope=scope,
            )
        except Exception:
            return None


def _extension(crl: x509.CertificateRevocationList, kind: type[_Kind]) -> _Kind | None:
    try:
        return crl.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _entries(
    crl: x509.CertificateRevocationList, issuer_key: bytes, indirect: bool
) -> dict[tuple[bytes, int], int]:
    """Entries by (certificate issuer, serial): in an indirect CRL the certificateIssuer entry
    extension names the issuer of this entry and the ones after it (RFC 5280 5.3.3)."""
    entries: dict[tuple[bytes, int], int] = {}
    current = issuer_key
    for entry in crl:
        if indirect:
            try:
                names = entry.extensions.get_extension_for_class(x509.CertificateIssuer).value
            except x509.ExtensionNotFound:
                names = None
            if names is not None:
                directory = names.get_values_for_type(x509.DirectoryName)
                current = name_key(directory[0]) if directory else b""
        entries[(current, entry.serial_number)] = _reason(entry)
    return entries


# CRL and CRL-entry extensions this implementation processes (RFC 5280 5.2, 5.3).  A CRL with
# any other critical extension MUST NOT be used.
_CRL_EXTENSIONS = frozenset(
    oid.dotted_string
    for oid in (
        ExtensionOID.CRL_NUMBER,
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
        ExtensionOID.ISSUER_ALTERNATIVE_NAME,
        ExtensionOID.ISSUING_DISTRIBUTION_POINT,
        ExtensionOID.DELTA_CRL_INDICATOR,
        ExtensionOID.FRESHEST_CRL,
    )
)
_ENTRY_EXTENSIONS = frozenset(
    oid.dotted_string
    for oid in (
        CRLEntryExtensionOID.CRL_REASON,
        CRLEntryExtensionOID.INVALIDITY_DATE,
        CRLEntryExtensionOID.CERTIFICATE_ISSUER,
    )
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


class CrlSigners(Protocol):
    """Where CRL signers come from and who vouches for their paths (the evaluation)."""

    def crl_signer_candidates(self, issuer_key: bytes) -> Iterable[Certificate]:
        """Certificates known to the evaluation whose subject is this name."""

    def crl_signer_valid(self, signer: Certificate, anchor: Certificate) -> bool:
        """Whether `signer` has a valid path to `anchor` (RFC 5280 6.3.3 (f))."""


@dataclass(frozen=True, slots=True)
class RevocationEvidence:
    """What an evaluation knows about revocation.

    `crls` were handed in by the caller, who wants them used: a certificate whose issuer one of
    them concerns must be covered by usable CRLs (RevocationResponseRequired otherwise).
    `fetched_crls` (from distribution points) and `ocsp` (stapled or fetched responses) are used
    when they can be believed and ignored otherwise (soft fail).  With `required`, every
    certificate below the anchor needs a usable answer.  `signers` finds and validates CRL
    signers other than the path's own certificates.
    """

    crls: Sequence[RevocationList] = ()
    fetched_crls: Sequence[RevocationList] = ()
    ocsp: Sequence[ocsp.OCSPResponse] = ()
    required: bool = False
    signers: CrlSigners | None = field(default=None, compare=False)

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
        cert = path[index]
        answer = answer_for(evidence.ocsp, cert, path[index + 1], moment)
        if answer is not None and answer.status is Status.REVOKED:
            yield Failure(index, CheckName.Revocation, value=answer.reason, detail="revoked (OCSP)")
            continue
        known = answer is not None and answer.status is Status.GOOD
        status = _CrlCheck(path, index, evidence, moment).run()
        if status.reason is not None:
            yield Failure(index, CheckName.Revocation, value=status.reason, detail="listed on CRL")
            continue
        if known or status.covered:
            continue
        if evidence.required or status.concerned:
            yield Failure(
                index,
                CheckName.RevocationResponseRequired,
                detail=status.problem or "no usable revocation information",
            )


@dataclass(frozen=True, slots=True)
class _Point:
    """A distribution point of a certificate, its names resolved (RFC 5280 4.2.1.13)."""

    names: frozenset[tuple[str, object]] | None  # None: no distributionPoint name
    reasons: frozenset[x509.ReasonFlags]
    crl_issuers: frozenset[bytes] | None  # name keys of cRLIssuer, None when absent


def _general_name(name: x509.GeneralName) -> tuple[str, object]:
    if isinstance(name, x509.DirectoryName):
        return ("dn", name_key(name.value))
    return (type(name).__name__, name.value)


def _point_names(
    full_name: Iterable[x509.GeneralName] | None,
    relative: x509.RelativeDistinguishedName | None,
    base: x509.Name | None,
) -> frozenset[tuple[str, object]] | None:
    if full_name is not None:
        return frozenset(_general_name(n) for n in full_name)
    if relative is not None and base is not None:
        return frozenset({("dn", name_key(x509.Name([*base.rdns, relative])))})
    return None


def _points(cert: Certificate) -> list[_Point]:
    extension = cert.extension(x509.CRLDistributionPoints)
    if extension is None:
        # Without distribution points: one with no name, every reason, issued by the issuer.
        return [_Point(None, ALL_REASONS, frozenset({cert.issuer_key}))]
    points = []
    for point in extension.value:
        issuers = None
        base: x509.Name | None = cert.x509.issuer
        if point.crl_issuer is not None:
            directory = [n.value for n in point.crl_issuer if isinstance(n, x509.DirectoryName)]
            issuers = frozenset(name_key(n) for n in directory)
            base = directory[0] if directory else None
        points.append(
            _Point(
                _point_names(point.full_name, point.relative_name, base),
                frozenset(point.reasons) & ALL_REASONS if point.reasons else ALL_REASONS,
                issuers,
            )
        )
    return points


@dataclass(slots=True)
class _Status:
    reason: int | None = None  # revoked, with this reason code
    covered: bool = False  # usable CRLs cover every reason
    concerned: bool = False  # a CRL handed in by the caller concerns this certificate
    problem: str | None = None  # why the last CRL that concerned it could not be used


class _CrlCheck:
    """RFC 5280 6.3.3 for the certificate at `index` of `path`."""

    def __init__(
        self,
        path: Sequence[Certificate],
        index: int,
        evidence: RevocationEvidence,
        moment: datetime,
    ) -> None:
        self.path = path
        self.index = index
        self.cert = path[index]
        self.evidence = evidence
        self.moment = moment
        self.status = _Status()
        # Newest first: once usable CRLs cover every reason the search stops (6.3.3), and an
        # older CRL that is still current must not speak for a newer one.
        self.all_crls = sorted(
            (*evidence.crls, *evidence.fetched_crls),
            key=lambda c: (c.this_update, c.number or 0),
            reverse=True,
        )
        self.handed_in = {id(c) for c in evidence.crls}
        self.delta: RevocationList | None = None

    def run(self) -> _Status:
        mask: set[x509.ReasonFlags] = set()
        for point in _points(self.cert):
            for crl in self.all_crls:
                if crl.delta_base is not None:
                    continue  # a delta CRL is only read with its complete CRL
                if not self._issuer_fits(crl, point):
                    continue
                if id(crl) in self.handed_in:
                    self.status.concerned = True
                interim = self._usable(crl, point)
                if interim is None or interim <= mask:
                    continue
                reason = self._listed(crl)
                if reason is not None:
                    self.status.reason = reason
                    return self.status
                mask |= interim
                if mask >= ALL_REASONS:
                    self.status.covered = True
                    return self.status
        return self.status

    def _issuer_fits(self, crl: RevocationList, point: _Point) -> bool:
        """6.3.3 (b)(1): the CRL is from the certificate's issuer or the point's cRLIssuer."""
        if point.crl_issuers is not None and point.crl_issuers != {self.cert.issuer_key}:
            return crl.issuer_key in point.crl_issuers
        return crl.issuer_key == self.cert.issuer_key

    def _refuse(self, problem: str) -> None:
        """Note why a CRL cannot be used (None: the CRL covers no reason)."""
        self.status.problem = problem

    def _usable(self, crl: RevocationList, point: _Point) -> frozenset[x509.ReasonFlags] | None:
        """The reasons this CRL covers for the certificate, or None if it cannot be used."""
        if crl.structure_problem:
            self._refuse(crl.structure_problem)
            return None
        current = crl.current_at(self.moment)
        if current:
            self._refuse(current)  # 6.3.3 (a)
            return None
        if crl.issuer_key != self.cert.issuer_key and not crl.indirect:
            self._refuse("CRL of another issuer is not indirect")  # 6.3.3 (b)(1)
            return None
        scope = crl.scope
        reasons = ALL_REASONS
        if scope is not None:  # 6.3.3 (b)(2)
            scope_names = _point_names(scope.full_name, scope.relative_name, crl.crl.issuer)
            if scope_names is not None:
                wanted = point.names
                if wanted is None:
                    wanted = frozenset(("dn", key) for key in point.crl_issuers or ())
                if not scope_names & wanted:
                    self._refuse("CRL's distribution point does not match")
                    return None
            if scope.only_contains_user_certs and self.cert.is_ca:
                self._refuse("CRL covers only end-entity certificates")
                return None
            if scope.only_contains_ca_certs and not self.cert.is_ca:
                self._refuse("CRL covers only CA certificates")
                return None
            if scope.only_contains_attribute_certs:
                self._refuse("CRL covers only attribute certificates")
                return None
            if scope.only_some_reasons:
                reasons = frozenset(scope.only_some_reasons) & ALL_REASONS
        signer = self._signer(crl)  # 6.3.3 (f), (g)
        if signer is None:
            self._refuse(self.status.problem or "no valid signer for the CRL")
            return None
        self.delta = self._delta(crl, signer)  # 6.3.3 (h)
        return reasons & point.reasons  # 6.3.3 (c)

    def _may_sign(self, cert: Certificate, crl: RevocationList) -> bool:
        if cert.subject_key != crl.issuer_key:
            return False
        usage = cert.key_usage
        if usage is not None and not usage.crl_sign:
            self._refuse("CRL issuer lacks cRLSign")  # RFC 5280 6.3.3 (f)
            return False
        if not crl.signed_by(cert):
            self._refuse("CRL signature does not verify")
            return False
        return True

    def _signer(self, crl: RevocationList) -> Certificate | None:
        """A certificate of the CRL's issuer, with a valid path, whose key signed the CRL."""
        above = self.path[self.index + 1 :]
        for cert in above:  # validated with the path itself
            if self._may_sign(cert, crl):
                return cert
        signers = self.evidence.signers
        if signers is None:
            return None
        candidates = [*signers.crl_signer_candidates(crl.issuer_key), self.cert]
        for cert in dict.fromkeys(candidates):
            if cert in above or not self._may_sign(cert, crl):
                continue
            if signers.crl_signer_valid(cert, self.path[-1]):
                return cert
            self._refuse("the CRL signer's certificate is not valid")
        return None

    def _delta(self, crl: RevocationList, signer: Certificate) -> RevocationList | None:
        """The newest usable delta CRL for this complete CRL (RFC 5280 5.2.4, 6.3.3 (h))."""
        best = None
        for delta in self.all_crls:
            if (
                delta.delta_base is None
                or delta.issuer_key != crl.issuer_key
                or delta.scope != crl.scope
                or crl.number is None
                or delta.number is None
                or not delta.delta_base <= crl.number < delta.number
                or delta.structure_problem
                or delta.current_at(self.moment)
                or not delta.signed_by(signer)
            ):
                continue
            if best is None or (best.number or 0) < delta.number:
                best = delta
        return best

    def _listed(self, crl: RevocationList) -> int | None:
        """6.3.3 (i)-(k): the reason the certificate is revoked for, None if it is not."""
        serial = int.from_bytes(self.cert.parts.serial, "big", signed=True)
        key = (self.cert.issuer_key, serial)
        if self.delta is not None:
            reason = self.delta.revoked.get(key)
            if reason is not None:
                return None if reason == REMOVE_FROM_CRL else reason
        reason = crl.revoked.get(key)
        return None if reason is None or reason == REMOVE_FROM_CRL else reason


def _reason(entry: x509.RevokedCertificate) -> int:
    """RFC 5280 5.3.1 reason code of a CRL entry (0, unspecified, when absent)."""
    try:
        reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    except Exception:
        return UNSPECIFIED_REASON
    return REASON_CODES.get(reason, UNSPECIFIED_REASON)
