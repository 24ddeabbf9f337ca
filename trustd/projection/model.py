"""The projected set: what trustd trusts machine-wide, per certificate and purpose.  Pure.

Input: the admin domain's trust settings with their certificates (API edits and drop-in files
both end there).  For each certificate and each purpose that file-based stores can carry
(TLS server, TLS client, e-mail, code signing) the decision is the one evaluation makes for that
certificate above the leaf (`trust_settings.decide` with the purpose's policy and no name):

- trusted for a purpose: the first matching usage constraint is TrustRoot (self-signed) or
  TrustAsRoot (not self-signed), or the array is empty and the certificate is self-signed;
- rejected for a purpose: the first matching constraint is Deny;
- neither: nothing matches, Unspecified, or a result that does not fit the certificate.

A constraint naming a host or e-mail address (a policy string) never matches a usage without a
name, so trust or distrust limited to one host is left out, as the file-based stores cannot
express it.  A constraint naming one policy (S/MIME, say) matches only that purpose: a root
trusted for S/MIME only is not a TLS anchor.  Entries known only by their SHA-1 (imported
records of certificates the store lacks) can still reject: a system root is recognised by its
digest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from trustd.core.certificates import Certificate
from trustd.core.policy import Policy, PolicyKind
from trustd.core.trust_settings import (
    Decision,
    Domain,
    TrustSettings,
    TrustSettingsEntry,
    Usage,
    decide,
)


class Purpose(StrEnum):
    """What a file-based store can say a certificate is trusted for (OpenSSL's and p11-kit's
    names of the extended key usages)."""

    SERVER_AUTH = "serverAuth"
    CLIENT_AUTH = "clientAuth"
    EMAIL_PROTECTION = "emailProtection"
    CODE_SIGNING = "codeSigning"


# The policy whose evaluation each purpose stands for.
PURPOSE_POLICIES: dict[Purpose, Policy] = {
    Purpose.SERVER_AUTH: Policy(PolicyKind.SSL),
    Purpose.CLIENT_AUTH: Policy(PolicyKind.SSL, client=True),
    Purpose.EMAIL_PROTECTION: Policy(PolicyKind.SMIME),
    Purpose.CODE_SIGNING: Policy(PolicyKind.CODE_SIGN),
}

# RFC 5280 extended key usage OIDs of the purposes.
PURPOSE_OIDS: dict[Purpose, str] = {
    Purpose.SERVER_AUTH: "1.3.6.1.5.5.7.3.1",
    Purpose.CLIENT_AUTH: "1.3.6.1.5.5.7.3.2",
    Purpose.EMAIL_PROTECTION: "1.3.6.1.5.5.7.3.4",
    Purpose.CODE_SIGNING: "1.3.6.1.5.5.7.3.3",
}


@dataclass(frozen=True, slots=True)
class Projected:
    """One certificate of the projection and the purposes it is trusted and rejected for."""

    sha1: bytes
    certificate: Certificate | None  # None: a Deny known only by the certificate's SHA-1
    trusted: frozenset[Purpose] = frozenset()
    rejected: frozenset[Purpose] = frozenset()

    @property
    def sha256(self) -> bytes | None:
        return None if self.certificate is None else self.certificate.sha256

    @property
    def label(self) -> str:
        if self.certificate is None:
            return self.sha1.hex().upper()
        return self.certificate.subject_summary


@dataclass(frozen=True, slots=True)
class Projection:
    """The projected set, sorted by SHA-1 (so equal inputs give equal digests)."""

    certificates: tuple[Projected, ...] = ()
    digest: str = field(default="", compare=False)

    def anchors(self, purpose: Purpose) -> tuple[Projected, ...]:
        """Certificates trusted as anchors for the purpose (each with its certificate)."""
        return tuple(
            p for p in self.certificates if purpose in p.trusted and p.certificate is not None
        )

    def denied(self, purpose: Purpose) -> tuple[Projected, ...]:
        return tuple(p for p in self.certificates if purpose in p.rejected)

    def with_any_trust(self) -> tuple[Projected, ...]:
        """Certificates trusted or rejected for some purpose, with their certificate."""
        return tuple(
            p for p in self.certificates if p.certificate is not None and (p.trusted or p.rejected)
        )


def _digest(certificates: Iterable[Projected]) -> str:
    text = "\n".join(
        f"{p.sha1.hex()} {'' if p.sha256 is None else p.sha256.hex()} "
        f"+{','.join(sorted(p.trusted))} -{','.join(sorted(p.rejected))}"
        for p in certificates
    )
    return hashlib.sha256(text.encode()).hexdigest()


def decisions(
    settings: TrustSettings, self_signed: bool
) -> tuple[frozenset[Purpose], frozenset[Purpose]]:
    """(trusted, rejected) purposes of one certificate's trust settings."""
    trusted, rejected = set(), set()
    for purpose, policy in PURPOSE_POLICIES.items():
        decision, _ = decide(settings, Usage(policy, is_leaf=False), self_signed)
        if decision is Decision.ANCHOR:
            trusted.add(purpose)
        elif decision is Decision.DENY:
            rejected.add(purpose)
    return frozenset(trusted), frozenset(rejected)


def project(
    entries: Iterable[tuple[TrustSettingsEntry, Certificate | None]],
    is_self_signed: Callable[[Certificate], bool],
) -> Projection:
    """The projection of the admin domain's entries (certificates with no decision for any
    purpose are left out)."""
    found: dict[bytes, Projected] = {}
    for entry, certificate in entries:
        sha1 = entry.sha1 if certificate is None else certificate.sha1
        if sha1 is None:  # the deprecated default-root record: never applied
            continue
        settings = TrustSettings(Domain.ADMIN, entry.constraints)
        if certificate is None:
            # Without the certificate only a Deny can be projected (by digest); whether
            # TrustRoot or TrustAsRoot applies depends on the certificate itself.
            _, rejected = decisions(settings, self_signed=True)
            trusted: frozenset[Purpose] = frozenset()
        else:
            trusted, rejected = decisions(settings, is_self_signed(certificate))
        if trusted or rejected:
            found[sha1] = Projected(sha1, certificate, trusted, rejected)
    ordered = tuple(found[key] for key in sorted(found))
    return Projection(ordered, _digest(ordered))
