"""Configuration profiles in the `profiles/` drop-in directory: opening and judging them.

A `.mobileconfig` file is an unsigned property list or CMS SignedData around one (what MDM
servers, Apple Configurator and `security cms -S` write).  Before the reconcile decodes a
profile's payloads (`reconcile.decode_file`), `ProfileReader.read` opens it:

- a signed profile whose signature does not hold (changed after signing, truncated) is refused;
- a signed profile's signer is judged by trustd itself (`SignerCheck`: the daemon evaluates the
  signer's chain with the basic X.509 policy, the certificates the profile carries offered as
  intermediates), and the profile is shown as verified or not, with the signer's name;
- with `required_signers` (trustd.conf `profile_signers`), only profiles signed by a trusted
  signer whose organisation (O) is listed are applied; others are refused and reported.

What each profile holds (identifier, names, signer, certificates, roots) is kept as a
`ProfileRecord` for `trustctl profiles list/show`.  Signature checks are remembered by the
file's digest, so an unchanged file is not opened again at every reconcile.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable

from cryptography import x509
from cryptography.x509.oid import NameOID

from trustd.cms import BadSignature, SignedContent, is_signed, open_signed
from trustd.plist.profiles import InvalidProfile, ProfileRecord, decode_profile
from trustd.watcher.reconcile import FileContent, ReadProblem

SignerCheck = Callable[[SignedContent], str | None]
"""Judge a signed profile's signer: None when trustd trusts it, else why not (one line)."""

MAX_REMEMBERED = 1024  # signature checks kept, by file digest


class ProfileReader:
    def __init__(
        self, check_signer: SignerCheck | None = None, required_signers: Iterable[str] = ()
    ) -> None:
        self.check_signer = check_signer
        self.required_signers = frozenset(required_signers)
        self._opened: dict[bytes, SignedContent | str] = {}

    def read(self, source: str, data: bytes) -> tuple[FileContent, ProfileRecord | None]:
        """The profile's property list for the reconcile (or why it is refused), and its record
        (None when it cannot be decoded; the reconcile then reports why)."""
        signed: SignedContent | None = None
        trust = ""
        if is_signed(data):
            opened = self._open(data)
            if isinstance(opened, str):
                return ReadProblem(f"signed profile refused: {opened}"), None
            signed = opened
            content = opened.content
            trust = self._judge(opened)
        else:
            content = data
        problem = self._required(signed, trust)
        try:
            profile = decode_profile(content)
        except InvalidProfile:
            return (ReadProblem(problem) if problem else content), None
        record = ProfileRecord(
            source=source,
            identifier=profile.identifier,
            display_name=profile.display_name,
            organization=profile.organization,
            signed=signed is not None,
            signer=_subject(signed.signer) if signed is not None else "",
            verified=signed is not None and not trust,
            trust=trust,
            certificates=tuple(payload.certificate for payload in profile.certificates),
            roots=tuple(payload.certificate for payload in profile.roots),
            ignored=profile.ignored,
        )
        return (ReadProblem(problem) if problem else content), record

    def _open(self, data: bytes) -> SignedContent | str:
        key = hashlib.sha256(data).digest()
        opened = self._opened.get(key)
        if opened is None:
            try:
                opened = open_signed(data)
            except BadSignature as problem:
                opened = str(problem)
            if len(self._opened) >= MAX_REMEMBERED:
                self._opened.clear()
            self._opened[key] = opened
        return opened

    def _judge(self, signed: SignedContent) -> str:
        if self.check_signer is None:
            return "no signer check configured"
        return self.check_signer(signed) or ""

    def _required(self, signed: SignedContent | None, trust: str) -> str:
        """Why `profile_signers` refuses this profile, or ""."""
        if not self.required_signers:
            return ""
        wanted = ", ".join(sorted(self.required_signers))
        if signed is None:
            return f"unsigned; profile_signers requires a signature by {wanted}"
        if trust:
            return f"its signer is not trusted ({trust}); profile_signers requires {wanted}"
        organizations = _organizations(signed.signer)
        if not organizations & self.required_signers:
            found = ", ".join(sorted(organizations)) or "no organisation"
            return f"signed by {found}; profile_signers requires {wanted}"
        return ""


def _name(der: bytes) -> x509.Name | None:
    try:
        return x509.load_der_x509_certificate(der).subject
    except ValueError:
        return None


def _subject(der: bytes) -> str:
    name = _name(der)
    return "(an unreadable certificate)" if name is None else name.rfc4514_string()


def _organizations(der: bytes) -> frozenset[str]:
    name = _name(der)
    if name is None:
        return frozenset()
    return frozenset(str(a.value) for a in name.get_attributes_for_oid(NameOID.ORGANIZATION_NAME))
