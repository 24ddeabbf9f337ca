"""trustctl certificate commands, as macOS `security` has them (reference section 1.8).

trustd has one certificate store (candidate issuers for path building), which stands in for
`security`'s keychains: `-k keychain` and keychain arguments are accepted for compatibility,
only name the store in messages, and never select anything.

- `add-certificates [-k keychain] file...` stores every certificate of each file (DER, or PEM
  with one or more blocks).  Nothing is printed on success.  A file holding a certificate that
  is already stored prints `trustctl: <file>: already in <keychain|default keychain>`; a file
  that cannot be read prints `Error reading file <file>`; one that does not decode prints
  `trustctl: SecCertificateAddToKeychain: Unable to decode the provided data.`  Every file is
  processed; any problem makes the exit status 1.
- `find-certificate [-a] [-c name] [-e email] [-m] [-p] [-Z] [keychain...]` prints the first
  match (every match with `-a`).  For each: with `-Z` the `SHA-256 hash:` and `SHA-1 hash:`
  lines; without `-p` an attribute dump; with `-m` `email addresses: a, b`; with `-p` the PEM.
  The attribute dump is a modest subset of Apple's::

      keychain: "trustd"
      version: 512
      class: 0x80001000
      attributes:
          "alis"<blob>="<first e-mail address>"      (<NULL> without one)
          "cenc"<uint32>=0x00000003
          "ctyp"<uint32>=0x00000001
          "issu"<blob>=0x<issuer Name DER, hex>
          "labl"<blob>="<subject summary>"
          "snbr"<blob>=0x<serial number, hex>
          "subj"<blob>=0x<subject Name DER, hex>

  No match prints `SecKeychainSearchCopyNext`'s "item could not be found" line and exits 44.
  `--json` prints the matches as a list of objects instead.
- `delete-certificate [-c name] [-Z hash] [-t] [keychain...]` deletes exactly one certificate:
  `-Z` is its SHA-1 (40 hex digits) or SHA-256 (64); `-c` a case-insensitive substring of its
  subject summary, where an exact match of the whole summary or of a common name wins over
  substring matches.  Several matches fail as ambiguous; none prints
  `Unable to delete certificate matching "<x>"` without a newline, as Apple's tool does.
  `-t` first removes the certificate's user-domain trust settings, and the admin-domain ones
  when running as root (settings that do not exist are ignored).
"""

from __future__ import annotations

import base64
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from trustctl.errors import Failure, UsageProblem
from trustctl.output import emit_json

if TYPE_CHECKING:
    from trustd.client import Client
    from trustd.client.errors import TrustdError
    from trustd.client.models import StoredCertificate

# -- Apple's texts and values -------------------------------------------------------------------

ITEM_NOT_FOUND = "The specified item could not be found in the keychain."  # errSecItemNotFound
NOT_FOUND_STATUS = 44  # find-certificate's exit status when nothing matches
DECODE = "Unable to decode the provided data."  # errSecDecode
DEFAULT_KEYCHAIN = "default keychain"
STORE_NAME = "trustd"  # what the attribute dump shows as the keychain
CERTIFICATE_CLASS = 0x80001000  # CSSM_DL_DB_RECORD_X509_CERTIFICATE
RECORD_VERSION = 512
CERT_TYPE_X509V3 = 1  # CSSM_CERT_X_509v3
CERT_ENCODING_DER = 3  # CSSM_CERT_ENCODING_DER
PEM_BEGIN = b"-----BEGIN CERTIFICATE-----"
PEM_END = b"-----END CERTIFICATE-----"

# -- options (module level, for ruff's B008) ---------------------------------------------------

KeychainOption = typer.Option(
    None, "-k", metavar="keychain", help="Keychain name, used in messages only."
)
FilesArgument = typer.Argument(..., metavar="file...", help="Certificate files (PEM or DER).")
AllOption = typer.Option(False, "-a", help="Find all matching certificates, not just the first.")
NameOption = typer.Option(
    None, "-c", metavar="name", help="Match on name (case-insensitive substring of the subject)."
)
EmailOption = typer.Option(None, "-e", metavar="emailAddress", help="Match on e-mail address.")
PrintEmailOption = typer.Option(False, "-m", help="Show the e-mail addresses in the certificate.")
PemOption = typer.Option(False, "-p", help="Output the certificate in PEM format.")
HashOption = typer.Option(
    False, "-Z", help="Print the SHA-256 and SHA-1 hashes of the certificate."
)
KeychainsArgument = typer.Argument(
    None, metavar="[keychain...]", help="Keychains (accepted; trustd has one store)."
)
JsonOption = typer.Option(False, "--json", help="Print the matches as JSON.")
DeleteNameOption = typer.Option(
    None, "-c", metavar="name", help="Certificate name (exact name preferred to a substring)."
)
DeleteHashOption = typer.Option(
    None, "-Z", metavar="hash", help="SHA-1 (40 hex digits) or SHA-256 (64) of the certificate."
)
DeleteTrustOption = typer.Option(
    False, "-t", help="Also delete user trust settings (and admin ones when run as root)."
)


def register(app: typer.Typer) -> None:
    """Add the certificate commands, in `security`'s table order."""
    app.command("add-certificates")(add_certificates)
    app.command("find-certificate")(find_certificate)
    app.command("delete-certificate")(delete_certificate)


# -- add-certificates ---------------------------------------------------------------------------


def split_certificates(data: bytes) -> list[bytes]:
    """The certificate blobs of a file: each PEM CERTIFICATE block, or the whole file as DER.

    A PEM file without a complete CERTIFICATE block yields the whole file, which then fails to
    decode like any other bad data.
    """
    blocks: list[bytes] = []
    position = 0
    while (start := data.find(PEM_BEGIN, position)) >= 0:
        end = data.find(PEM_END, start)
        if end < 0:
            break
        position = end + len(PEM_END)
        blocks.append(data[start:position] + b"\n")
    return blocks or [data]


def _decode(blobs: Sequence[bytes]) -> list[bytes] | None:
    """DER of every blob, or None when one of them is not a certificate."""
    from trustd.core.certificates import MalformedCertificate, parse_certificate

    try:
        return [parse_certificate(blob).der for blob in blobs]
    except MalformedCertificate:
        return None


def _reraise_connection(problem: TrustdError) -> None:
    """Connection problems are not per-file failures: main() reports them once."""
    from trustd.client.errors import ConnectionFailed

    if isinstance(problem, ConnectionFailed):
        raise problem


def add_certificates(
    ctx: typer.Context,
    *,
    files: list[Path] = FilesArgument,
    keychain: str | None = KeychainOption,
) -> None:
    """Add certificates to a keychain (trustd's certificate store)."""
    from trustd.client.errors import TrustdError

    where = keychain if keychain is not None else DEFAULT_KEYCHAIN
    failed = False
    with ctx.obj.client() as client:
        for path in files:
            try:
                data = path.read_bytes()
            except OSError:
                print(f"Error reading file {path}", file=sys.stderr)
                failed = True
                continue
            certificates = _decode(split_certificates(data))
            if certificates is None:
                print(f"trustctl: SecCertificateAddToKeychain: {DECODE}", file=sys.stderr)
                failed = True
                continue
            try:
                result = client.add_certificates(certificates)
            except TrustdError as problem:
                _reraise_connection(problem)
                print(f"trustctl: SecCertificateAddToKeychain: {problem}", file=sys.stderr)
                failed = True
                continue
            if result.existing:
                print(f"trustctl: {path}: already in {where}", file=sys.stderr)
                failed = True
    if failed:
        raise Failure("", 1)


# -- find-certificate ---------------------------------------------------------------------------


def pem_text(der: bytes) -> str:
    """PEM with 64-column base64, as `security -p` prints it."""
    encoded = base64.b64encode(der).decode("ascii")
    lines = [encoded[i : i + 64] for i in range(0, len(encoded), 64)]
    return "\n".join(["-----BEGIN CERTIFICATE-----", *lines, "-----END CERTIFICATE-----"])


def email_addresses(der: bytes) -> tuple[str, ...]:
    """The certificate's e-mail addresses (subjectAltName rfc822Name, then subject emailAddress)."""
    from trustd.core.certificates import parse_certificate

    return parse_certificate(der).email_addresses


def attribute_dump(stored: StoredCertificate) -> list[str]:
    """The modest `security`-style attribute dump of a stored certificate (module docstring)."""
    from trustd.core.certificates import parse_certificate

    parsed = parse_certificate(stored.certificate)
    emails = parsed.email_addresses
    alias = f'"{emails[0]}"' if emails else "<NULL>"
    serial = parsed.x509.serial_number
    serial_hex = serial.to_bytes(max(1, (serial.bit_length() + 8) // 8), "big").hex().upper()
    return [
        f'keychain: "{STORE_NAME}"',
        f"version: {RECORD_VERSION}",
        f"class: 0x{CERTIFICATE_CLASS:08X}",
        "attributes:",
        f'    "alis"<blob>={alias}',
        f'    "cenc"<uint32>=0x{CERT_ENCODING_DER:08X}',
        f'    "ctyp"<uint32>=0x{CERT_TYPE_X509V3:08X}',
        f'    "issu"<blob>=0x{parsed.issuer_der.hex().upper()}',
        f'    "labl"<blob>="{stored.subject}"',
        f'    "snbr"<blob>=0x{serial_hex}',
        f'    "subj"<blob>=0x{parsed.subject_der.hex().upper()}',
    ]


def _as_json(stored: StoredCertificate) -> dict[str, Any]:
    return {
        "sha1": stored.sha1.upper(),
        "sha256": stored.sha256.upper(),
        "subject": stored.subject,
        "source": stored.source,
        "emails": list(email_addresses(stored.certificate)),
        "pem": pem_text(stored.certificate) + "\n",
    }


def find_certificate(
    ctx: typer.Context,
    *,
    keychains: list[str] | None = KeychainsArgument,
    find_all: bool = AllOption,
    name: str | None = NameOption,
    email: str | None = EmailOption,
    print_email: bool = PrintEmailOption,
    pem: bool = PemOption,
    print_hash: bool = HashOption,
    as_json: bool = JsonOption,
) -> None:
    """Find a certificate item (in trustd's certificate store)."""
    with ctx.obj.client() as client:
        found = client.find_certificates(subject=name, email=email)
    if not found:
        raise Failure(f"trustctl: SecKeychainSearchCopyNext: {ITEM_NOT_FOUND}", NOT_FOUND_STATUS)
    matches = list(found) if find_all else [found[0]]
    if as_json:
        emit_json([_as_json(stored) for stored in matches])
        return
    for stored in matches:
        lines: list[str] = []
        if print_hash:
            lines.append(f"SHA-256 hash: {stored.sha256.upper()}")
            lines.append(f"SHA-1 hash: {stored.sha1.upper()}")
        if not pem:
            lines.extend(attribute_dump(stored))
        if print_email:
            lines.append(f"email addresses: {', '.join(email_addresses(stored.certificate))}")
        if pem:
            lines.append(pem_text(stored.certificate))
        print("\n".join(lines))


# -- delete-certificate -------------------------------------------------------------------------


class _Usage(UsageProblem):
    """A usage problem that knows its command, so the usage line names it."""

    def __init__(self, ctx: typer.Context, message: str = "") -> None:
        super().__init__(message)
        self.ctx = ctx


def _unable(what: str) -> Failure:
    """Apple's tool prints this line without a newline; so does trustctl."""
    sys.stderr.write(f'Unable to delete certificate matching "{what}"')
    sys.stderr.flush()
    return Failure("", 1)


def _digest_criteria(digest: str) -> dict[str, str] | None:
    """find_certificates() criteria for a -Z value, or None if it is no SHA-1 or SHA-256."""
    text = digest.strip().replace(" ", "").lower()
    if len(text) not in (40, 64) or any(c not in "0123456789abcdef" for c in text):
        return None
    return {"sha1": text} if len(text) == 40 else {"sha256": text}


def _exact(stored: StoredCertificate, name: str) -> bool:
    """Whether `name` is the whole subject summary or a whole common name (ignoring case)."""
    from trustd.core.certificates import parse_certificate

    wanted = name.casefold()
    names = (stored.subject, *parse_certificate(stored.certificate).common_names)
    return any(candidate.casefold() == wanted for candidate in names)


def unique_certificate(client: Client, name: str | None, digest: str | None) -> StoredCertificate:
    """The one certificate that -c/-Z designate, or a Failure (none, or ambiguous)."""
    what = digest if digest is not None else name or ""
    criteria: dict[str, str] = {}
    if digest is not None:
        by_digest = _digest_criteria(digest)
        if by_digest is None:
            raise _unable(what)
        criteria.update(by_digest)
    if name is not None:
        criteria["subject"] = name
    found = list(client.find_certificates(**criteria))
    if len(found) > 1 and name is not None:
        exact = [stored for stored in found if _exact(stored, name)]
        found = exact or found
    if not found:
        raise _unable(what)
    if len(found) > 1:
        raise Failure(f'trustctl: "{what}" is ambiguous, matches more than one certificate')
    return found[0]


def _remove_trust(client: Client, stored: StoredCertificate) -> None:
    """`-t`: drop the user's trust settings, and admin's too when root; absent ones are fine."""
    from trustd.client.errors import NotFound, NoTrustSettings, TrustdError

    domains = ["user", "admin"] if os.geteuid() == 0 else ["user"]
    for domain in domains:
        try:
            client.remove_trust_settings(domain, stored.sha1)
        except (NoTrustSettings, NotFound):
            continue
        except TrustdError as problem:
            _reraise_connection(problem)
            raise Failure(f"trustctl: SecTrustSettingsRemoveTrustSettings: {problem}") from None


def delete_certificate(
    ctx: typer.Context,
    *,
    keychains: list[str] | None = KeychainsArgument,
    name: str | None = DeleteNameOption,
    digest: str | None = DeleteHashOption,
    trust: bool = DeleteTrustOption,
) -> None:
    """Delete a certificate from a keychain (trustd's certificate store)."""
    from trustd.client.errors import NotFound, TrustdError

    if name is None and digest is None:
        raise _Usage(ctx)
    with ctx.obj.client() as client:
        stored = unique_certificate(client, name, digest)
        if trust:
            _remove_trust(client, stored)
        try:
            client.delete_certificate(stored.sha1)
        except NotFound:
            raise _unable(digest if digest is not None else name or "") from None
        except TrustdError as problem:
            _reraise_connection(problem)
            raise Failure(f"trustctl: SecKeychainItemDelete: {problem}") from None
