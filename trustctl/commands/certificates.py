"""trustctl certificate commands, as macOS `security` has them (reference section 1.8).

trustd has two kinds of certificate store (candidate issuers for path building), which stand
in for `security`'s keychains: the shared store (domain "admin", searched for everyone, like
System.keychain; root or the admin group only) and each user's own (domain "user", searched
for that user only, like the login keychain).  `-k keychain` picks one (`keychain_domain`):
System.keychain is the shared store, SystemRootCertificates.keychain the system anchors
(read-only: find-certificate and export list them, changes fail with "Write permissions
error."), any other keychain the caller's own; without -k, the default keychain is root's
System.keychain and a user's login keychain (trustctl.keychains).  Keychain arguments of
find-certificate and delete-certificate name the stores searched, in order; without one, the
search list (the caller's own store, then the shared one).  delete-certificate deletes from the
first of them that holds the certificate, and only there.

- `add-certificates [-k keychain] file...` stores every certificate of each file: DER, PEM
  with one or more blocks, PKCS#7 (DER or PEM) or PKCS#12 without a password (trustd.certfiles
  recognises the format from the content).  Nothing is printed on success.  A file holding a
  certificate that is already stored prints `trustctl: <file>: already in <keychain|default
  keychain>`; a file that cannot be read prints `Error reading file <file>`; one that does
  not decode prints `trustctl: SecCertificateAddToKeychain: Unable to decode the provided
  data.`  Every file is processed; any problem makes the exit status 1.
- `find-certificate [-a] [-c name] [-e email] [-m] [-p] [-Z] [keychain...]` prints the first
  match (every match with `-a`).  For each: with `-Z` the `SHA-256 hash:` and `SHA-1 hash:`
  lines; without `-p` an attribute dump; with `-m` `email addresses: a, b`; with `-p` the PEM.
  The attribute dump has the attributes of Apple's certificate records, in its order::

      keychain: "<path of the keychain holding it>"
      version: 512
      class: 0x80001000
      attributes:
          "alis"<blob>="<first e-mail address>"      (<NULL> without one)
          "cenc"<uint32>=0x00000003
          "ctyp"<uint32>=0x00000001
          "hpky"<blob>=<SHA-1 of the public key bits>
          "issu"<blob>=<issuer Name DER>
          "labl"<blob>="<subject summary>"
          "skid"<blob>=<subject key identifier>      (<NULL> without one)
          "snbr"<blob>=<serial number content octets>
          "subj"<blob>=<subject Name DER>

  Blobs print as `security`'s print_buffer does: quoted when printable, else
  `0x<HEX>  "<the bytes, non-printable ones as octal escapes>"`.

  No match prints `SecKeychainSearchCopyNext`'s "item could not be found" line and exits 44.
  `--json` prints the matches as a list of objects instead.
- `delete-certificate [-c name] [-Z hash] [-t] [keychain...]` deletes exactly one certificate:
  `-Z` is its SHA-1 (40 hex digits) or SHA-256 (64); `-c` a case-insensitive substring of its
  subject summary, where an exact match of the whole summary or of a common name wins over
  substring matches.  Several matches fail as ambiguous; none prints
  `Unable to delete certificate matching "<x>"` without a newline, as Apple's tool does.
  `-t` first removes the certificate's user-domain trust settings, and the admin-domain ones
  when running as root (settings that do not exist are ignored).
- `import inputfile [-k keychain] [-t cert|agg] [-f openssl|x509|pkcs7|pkcs12|pemseq]
  [-P passphrase] [--json]` stores every certificate of the file (any format of
  trustd.certfiles, recognised from the content unless `-f` says; `-P` unlocks PKCS#12, and
  like any argument is visible to other local users while the command runs; private keys are
  never read).  It prints `1 certificate imported.` or `<n> certificates imported.` (not with
  `-q`), counting the certificates newly stored; certificates already in the store are
  skipped silently, as `security` skips duplicates in an aggregate, but when every one of them
  is already stored the import fails with `trustctl: SecKeychainItemImport: The specified
  item already exists in the keychain.` (exit 1), as `security` does for an item it already
  has.  `--json` prints `{"imported": <new>, "existing": <already stored>, "sha1": [<SHA-1 of
  every certificate of the file, in file order>]}` instead of the line (the duplicate rule
  still applies).  Other item types (`-t pub|priv|session`) and key formats are usage errors:
  trustd stores certificates only.  A file that cannot be read prints `trustctl: Error reading
  infile <file>: <reason>`; data that does not decode `trustctl: SecKeychainItemImport: Unable
  to decode the provided data.` and the reason on the next line, PKCS#12 data without its
  password (or with a wrong one) `trustctl: SecKeychainItemImport: MAC verification failed
  during PKCS12 import (wrong password?)` and the reason; all exit 1.  A daemon error part-way
  through a large file removes what earlier batches stored and says so (see below).  `-T`,
  `-A`, `-x`, `-w` and `-a name value` are accepted without effect (no keys, no access lists);
  a private key in the file is not kept, which is said on stderr.
- `export [-k keychain] [-t certs|all] [-f pemseq|x509|pkcs7] [-p] [-o outfile] [-c name]
  [-Z hash]` writes the certificates of the store (every one, or those whose subject contains
  `-c` name, ignoring case, as find-certificate matches, and/or whose SHA-1 or SHA-256 is `-Z`)
  to stdout or `-o` outfile: `pemseq` (the default) is PEM blocks one after the other, `x509`
  exactly one certificate (DER; PEM with `-p`), `pkcs7` a certs-only PKCS#7 (DER; PEM with
  `-p`).  `-f pkcs12` is refused: PKCS#12 exists to carry private keys, which trustd does not
  have.  Nothing to export prints `trustctl: SecKeychainItemExport: The specified item could not
  be found in the keychain.` and exits 1.

add-certificates and import send the certificates to the daemon in batches (50 certificates
first, doubling up to 500, and 4 MiB at most, well inside the daemon's 8 MiB per message), with
a progress bar on stderr when it is a terminal and the file holds more than 50 certificates
(trustctl.progress).  When a batch fails after earlier ones stored certificates, those are
removed again (all or nothing for the file), and the error's next lines say so, or name what
stayed when removing it failed too.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from trustctl import completion
from trustctl.common import flag, keychain, value
from trustctl.errors import Failure, UsageProblem
from trustctl.output import emit_json, say
from trustctl.progress import progress

if TYPE_CHECKING:
    from trustctl.keychains import Store
    from trustd.client import Client
    from trustd.client.errors import TrustdError
    from trustd.client.models import StoredCertificate

# -- Apple's texts and values -------------------------------------------------------------------

ITEM_NOT_FOUND = "The specified item could not be found in the keychain."  # errSecItemNotFound
NOT_FOUND_STATUS = 44  # find-certificate's exit status when nothing matches
DECODE = "Unable to decode the provided data."  # errSecDecode
DUPLICATE = "The specified item already exists in the keychain."  # errSecDuplicateItem
PKCS12_PASSWORD = "MAC verification failed during PKCS12 import (wrong password?)"  # -25264
DEFAULT_KEYCHAIN = "default keychain"
CERTIFICATE_CLASS = 0x80001000  # CSSM_DL_DB_RECORD_X509_CERTIFICATE
RECORD_VERSION = 512
CERT_TYPE_X509V3 = 1  # CSSM_CERT_X_509v3
CERT_ENCODING_DER = 3  # CSSM_CERT_ENCODING_DER
IMPORT_API = "SecKeychainItemImport"
BATCH_CERTIFICATES = 500  # per AddCertificates call, at most
FIRST_BATCH = 50  # the first call's; each next one doubles, up to BATCH_CERTIFICATES
BATCH_BYTES = 4 * 1024 * 1024  # of DER per call: base64 in JSON stays well under 8 MiB
IMPORT_TYPES = ("cert", "agg")  # security import -t, for certificates
EXPORT_TYPES = ("certs", "all")  # security export -t; trustd has nothing but certificates

# -- options (module level, for ruff's B008) ---------------------------------------------------

KeychainOption = keychain(
    "System.keychain: the shared store; SystemRootCertificates.keychain: the system "
    "anchors (read-only); any other: your own store."
)
FilesArgument = typer.Argument(
    ..., metavar="file...", help="Certificate files (DER, PEM, PKCS#7 or PKCS#12)."
)
AllOption = flag("-a", help="Find all matching certificates, not just the first.")
NameOption = value(
    "-c", metavar="name", help="Match on name (case-insensitive substring of the subject)."
)
EmailOption = value("-e", metavar="emailAddress", help="Match on e-mail address.")
PrintEmailOption = flag("-m", help="Show the e-mail addresses in the certificate.")
PemOption = flag("-p", help="Output the certificate in PEM format.")
HashOption = flag("-Z", help="Print the SHA-256 and SHA-1 hashes of the certificate.")
KeychainsArgument = typer.Argument(
    None,
    metavar="keychain",
    help="Keychains to search (default: the search list, your own store then System.keychain).",
    autocompletion=completion.keychains,
)
JsonOption = flag("--json", help="Print the matches as JSON.")
DeleteNameOption = value(
    "-c", metavar="name", help="Certificate name (exact name preferred to a substring)."
)
DeleteHashOption = value(
    "-Z", metavar="hash", help="SHA-1 (40 hex digits) or SHA-256 (64) of the certificate."
)
DeleteTrustOption = flag(
    "-t", help="Also delete user trust settings (and admin ones when run as root)."
)
InputFileArgument = typer.Argument(
    ..., metavar="inputfile", help="Certificates: DER, PEM, PKCS#7 or PKCS#12."
)
ImportTypeOption = value(
    "-t", metavar="type", help="Item type: cert or agg (trustd stores certificates)."
)
ImportFormatOption = value(
    "-f",
    metavar="format",
    help="openssl, x509, pkcs7, pkcs12 or pemseq (default: recognised from the content).",
)
PassphraseOption = value("-P", metavar="passphrase", help="PKCS#12 password.")
ImportJsonOption = flag(
    "--json", help="Print the numbers imported and existing, and the SHA-1s, as JSON."
)
NO_EFFECT = "Accepted for security's scripts; no effect: trustd holds no keys or access lists."
TrustedAppOption = value(
    "-T", metavar="appPath", help=f"An application allowed to use the key. {NO_EFFECT}"
)
AnyAppOption = flag("-A", help=f"Any application may use the key. {NO_EFFECT}")
NonExtractableOption = flag("-x", help=f"Private keys non-extractable after import. {NO_EFFECT}")
WrappedOption = flag("-w", help=f"Private keys are wrapped. {NO_EFFECT}")
AttributeOption = value(
    "-a", metavar="name value", help=f"An attribute for the imported items. {NO_EFFECT}"
)
ExportTypeOption = value(
    "-t", metavar="type", help="certs (or all: trustd stores certificates only).", default="certs"
)
ExportFormatOption = value(
    "-f",
    metavar="format",
    help="pemseq (default), x509 (one certificate) or pkcs7.",
    default="pemseq",
)
ArmourOption = flag("-p", help="PEM armour for x509 and pkcs7 (pemseq is PEM).")
OutfileOption = value("-o", metavar="outfile", help="Write here, not to stdout.")
ExportNameOption = value(
    "-c", metavar="name", help="Only certificates whose subject contains name."
)
ExportHashOption = value(
    "-Z", metavar="hash", help="Only the certificate with this SHA-1 or SHA-256."
)


def register(app: typer.Typer) -> None:
    """Add the keychain and certificate commands, in `security`'s table order (list-keychains
    and default-keychain come first there)."""
    from trustctl.commands import keychains

    keychains.register(app)
    app.command("add-certificates")(add_certificates)
    app.command("find-certificate")(find_certificate)
    app.command("delete-certificate")(delete_certificate)
    app.command("import")(import_certificates)
    app.command("export")(export_certificates)


# -- add-certificates ---------------------------------------------------------------------------


@dataclass
class Stored:
    """SHA-1s (upper-case hex, as the daemon answers) of what AddCertificates did so far."""

    added: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)


def batches(
    ders: Sequence[bytes],
    *,
    count: int = BATCH_CERTIFICATES,
    size: int = BATCH_BYTES,
    first: int = FIRST_BATCH,
) -> list[list[bytes]]:
    """`ders` cut into runs of at most `count` certificates and `size` bytes (a certificate
    larger than `size` goes alone, for the daemon to judge).  The runs start at `first`
    certificates and double up to `count`, so that a progress bar moves, and can estimate the
    time left, within a moment of the start."""
    runs: list[list[bytes]] = []
    current: list[bytes] = []
    current_size = 0
    limit = max(1, min(first, count))
    for der in ders:
        if current and (len(current) >= limit or current_size + len(der) > size):
            runs.append(current)
            current, current_size = [], 0
            limit = min(limit * 2, count)
        current.append(der)
        current_size += len(der)
    if current:
        runs.append(current)
    return runs


class StoreFailed(Exception):
    """A store of many certificates failed part-way: `problem` is the daemon's error,
    `stored_before` how many certificates earlier batches had added, and `kept` the SHA-1s of
    those that are still stored because removing them again failed too."""

    def __init__(self, problem: TrustdError, stored_before: int, kept: list[str]) -> None:
        super().__init__(str(problem))
        self.problem = problem
        self.stored_before = stored_before
        self.kept = kept

    def lines(self, first: str, path: str | Path) -> str:
        """`first` (Apple's line), then what became of the earlier batches, and a hint."""
        from trustctl.reasons import lines
        from trustd.client.errors import QuotaExceeded

        done = None
        if self.stored_before and not self.kept:
            done = (
                f"nothing of {path} was stored: the {count_text(self.stored_before)} that"
                " earlier batches had stored were removed again"
            )
        elif self.kept:
            shown = ", ".join(self.kept[:3]) + (", ..." if len(self.kept) > 3 else "")
            done = (
                f"{count_text(len(self.kept))} of {path} stayed stored ({shown}): removing them"
                " again failed too; run the same command again once the cause is fixed"
                " (certificates already stored are skipped), or remove them with"
                " trustctl delete-certificate -Z SHA1"
            )
        hint = None
        if isinstance(self.problem, QuotaExceeded):
            hint = (
                "hint: your own store is bounded for users who are not administrators;"
                " store fewer certificates, or have an administrator put them in the shared"
                " store (sudo trustctl import FILE -k /Library/Keychains/System.keychain)"
            )
        return lines(first, done, hint)


def keychain_domain(keychain: str | None, api: str = "SecCertificateAddToKeychain") -> str:
    """The daemon's domain for the store `keychain` stands for ("admin": the shared store,
    "user": the caller's own; see trustctl.keychains); the system roots keychain is refused
    with `api`'s write-permissions line."""
    from trustctl.keychains import writable_domain

    return writable_domain(keychain, api)


def store_certificates(
    client: Client,
    ders: Sequence[bytes],
    label: str,
    into: Stored,
    keychain: str | None,
    *,
    api: str = "SecCertificateAddToKeychain",
) -> None:
    """Add `ders` to the store `keychain` stands for, in batches, with a progress bar on a
    terminal; `into` records each batch as it completes, so that a failure part-way still
    says what was stored."""
    from trustd.client.errors import TrustdError

    domain = keychain_domain(keychain, api)
    try:
        with progress(batches(ders), label, weight=len) as steps:
            for batch in steps:
                result = client.add_certificates(batch, domain)
                into.added.extend(result.added)
                into.existing.extend(result.existing)
    except TrustdError as problem:
        if not into.added:
            raise
        kept = _remove_again(client, into.added, domain)
        raise StoreFailed(problem, len(into.added), kept) from problem


def _remove_again(client: Client, added: Sequence[str], domain: str) -> list[str]:
    """Undo what earlier batches stored, so that a failed store leaves the store as it was;
    the SHA-1s that could not be removed (none when all went well)."""
    from trustd.client.errors import NotFound, TrustdError

    for index, sha1 in enumerate(added):
        try:
            client.delete_certificate(sha1, domain)
        except NotFound:
            continue
        except TrustdError:
            return list(added[index:])
    return []


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
    from trustctl.reasons import certificate_data_problem, lines, unreadable_file
    from trustd import certfiles as formats
    from trustd.client.errors import InvalidCertificate, TrustdError

    where = keychain if keychain is not None else DEFAULT_KEYCHAIN
    keychain_domain(keychain)  # the system roots keychain is refused before anything is read
    failed = False
    with ctx.obj.client() as client:
        for path in files:
            try:
                data = path.read_bytes()
            except OSError as problem:
                print(
                    lines(f"Error reading file {path}", unreadable_file(path, problem)),
                    file=sys.stderr,
                )
                failed = True
                continue
            try:
                certificates = formats.read_certificates(data)
            except formats.UndecodableData:
                first = f"trustctl: SecCertificateAddToKeychain: {DECODE}"
                print(lines(first, f"{path}: {certificate_data_problem(data)}"), file=sys.stderr)
                failed = True
                continue
            stored = Stored()
            try:
                store_certificates(client, certificates, f"Adding {path.name}", stored, keychain)
            except InvalidCertificate:
                print(f"trustctl: SecCertificateAddToKeychain: {DECODE}", file=sys.stderr)
                failed = True
                continue
            except StoreFailed as partial:
                first = f"trustctl: SecCertificateAddToKeychain: {partial.problem}"
                print(partial.lines(first, path), file=sys.stderr)
                failed = True
                continue
            except TrustdError as problem:
                _reraise_connection(problem)
                print(f"trustctl: SecCertificateAddToKeychain: {problem}", file=sys.stderr)
                failed = True
                continue
            if stored.existing:
                print(f"trustctl: {path}: already in {where}", file=sys.stderr)
                failed = True
    if failed:
        raise Failure("", 1)


# -- find-certificate ---------------------------------------------------------------------------


def pem_text(der: bytes) -> str:
    """PEM with 64-column base64, as `security -p` prints it (no final newline)."""
    from trustd import certfiles as formats

    return formats.pem_armour(der).rstrip("\n")


def email_addresses(der: bytes) -> tuple[str, ...]:
    """The certificate's e-mail addresses (subjectAltName rfc822Name, then subject emailAddress)."""
    from trustd.core.certificates import parse_certificate

    return parse_certificate(der).email_addresses


def blob_text(data: bytes) -> str:
    """A blob attribute as `security`'s print_buffer shows it: quoted when printable (a final
    NUL allowed), else hex followed by the bytes quoted with octal escapes."""
    body = data[:-1] if data.endswith(b"\0") else data
    if all(0x20 <= byte < 0x7F for byte in body):
        return f'"{body.decode("ascii")}"'
    escaped = "".join(chr(b) if 0x20 <= b < 0x7F else f"\\{b:03o}" for b in data)
    return f'0x{data.hex().upper()}  "{escaped}"'


def attribute_dump(stored: StoredCertificate, keychain: str) -> list[str]:
    """The `security`-style attribute dump of a stored certificate (module docstring)."""
    import hashlib

    from trustd.core.certificates import parse_certificate

    parsed = parse_certificate(stored.certificate)
    emails = parsed.email_addresses
    serial = parsed.parts.serial
    key_hash = hashlib.sha1(parsed.public_key_bits).digest()
    ski = parsed.subject_key_identifier

    def blob(name: str, value: bytes | None) -> str:
        return f'    "{name}"<blob>={"<NULL>" if value is None else blob_text(value)}'

    return [
        f'keychain: "{keychain}"',
        f"version: {RECORD_VERSION}",
        f"class: 0x{CERTIFICATE_CLASS:08X}",
        "attributes:",
        blob("alis", emails[0].encode() if emails else None),
        f'    "cenc"<uint32>=0x{CERT_ENCODING_DER:08X}',
        f'    "ctyp"<uint32>=0x{CERT_TYPE_X509V3:08X}',
        blob("hpky", key_hash),
        blob("issu", parsed.issuer_der),
        blob("labl", stored.subject.encode()),
        blob("skid", ski),
        blob("snbr", serial),
        blob("subj", parsed.subject_der),
    ]


def _as_json(stored: StoredCertificate, keychain: str) -> dict[str, Any]:
    return {
        "keychain": keychain,
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
    """Find a certificate item (in the keychains named, else the search list)."""
    from trustctl.keychains import certificates_in, path_of, stores

    criteria = {k: v for k, v in (("subject", name), ("email", email)) if v is not None}
    with ctx.obj.client() as client:
        found = certificates_in(client, stores(keychains), **criteria)
    if not found:
        if as_json:
            emit_json([])  # nothing found is still a document
        raise Failure(f"trustctl: SecKeychainSearchCopyNext: {ITEM_NOT_FOUND}", NOT_FOUND_STATUS)
    matches = list(found) if find_all else [found[0]]
    if as_json:
        emit_json([_as_json(stored, path_of(store)) for store, stored in matches])
        return
    for store, stored in matches:
        lines: list[str] = []
        if print_hash:
            lines.append(f"SHA-256 hash: {stored.sha256.upper()}")
            lines.append(f"SHA-1 hash: {stored.sha1.upper()}")
        if not pem:
            lines.extend(attribute_dump(stored, path_of(store)))
        if print_email:
            lines.append(f"email addresses: {', '.join(email_addresses(stored.certificate))}")
        if pem:
            lines.append(pem_text(stored.certificate))
        print("\n".join(lines))


# -- delete-certificate -------------------------------------------------------------------------


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


def unique_certificate(
    client: Client,
    name: str | None,
    digest: str | None,
    keychains: Sequence[str] | None = None,
) -> tuple[Store, StoredCertificate]:
    """The one certificate that -c/-Z designate in the keychains named (else the search list),
    with the first of those stores that holds it; or a Failure (none, or ambiguous).  A
    certificate held by two stores is one certificate, not an ambiguity."""
    from trustctl.keychains import certificates_in, stores, unique_by_certificate

    what = digest if digest is not None else name or ""
    criteria: dict[str, str] = {}
    if digest is not None:
        by_digest = _digest_criteria(digest)
        if by_digest is None:
            raise _unable(what)
        criteria.update(by_digest)
    if name is not None:
        criteria["subject"] = name
    found = unique_by_certificate(certificates_in(client, stores(keychains), **criteria))
    if len(found) > 1 and name is not None:
        exact = [pair for pair in found if _exact(pair[1], name)]
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
        raise UsageProblem("", ctx)
    from trustctl.keychains import DELETE_REFUSED, Store, read_only_reason

    with ctx.obj.client() as client:
        store, stored = unique_certificate(client, name, digest, keychains)
        if store is Store.SYSTEM:
            raise Failure(
                f"trustctl: SecKeychainItemDelete: {DELETE_REFUSED}\n{read_only_reason()}"
            )
        if trust:
            _remove_trust(client, stored)
        try:
            client.delete_certificate(stored.sha1, store.value)
        except NotFound:
            raise _unable(digest if digest is not None else name or "") from None
        except TrustdError as problem:
            _reraise_connection(problem)
            raise Failure(f"trustctl: SecKeychainItemDelete: {problem}") from None


# -- import -------------------------------------------------------------------------------------

KEY_NOT_KEPT = "the private key was not imported: trustd stores certificates only"


def holds_private_key(data: bytes, password: bytes | None) -> bool:
    """Whether `data` (PEM, or PKCS#12 that `password` opens) carries a private key."""
    if b"PRIVATE KEY-----" in data:
        return True
    if b"-----BEGIN " in data:
        return False
    from cryptography.hazmat.primitives.serialization import pkcs12

    for attempt in (None, b"") if password is None else (password,):
        try:
            return pkcs12.load_pkcs12(data, attempt).key is not None
        except (ValueError, TypeError):
            continue
    return False


def count_text(number: int) -> str:
    """`1 certificate`, `2 certificates`."""
    return f"{number} certificate{'' if number == 1 else 's'}"


def import_certificates(
    ctx: typer.Context,
    *,
    input_file: Path = InputFileArgument,
    keychain: str | None = KeychainOption,
    item_type: str | None = ImportTypeOption,
    fmt: str | None = ImportFormatOption,
    passphrase: str | None = PassphraseOption,
    as_json: bool = ImportJsonOption,
    trusted_apps: list[str] | None = TrustedAppOption,
    any_app: bool = AnyAppOption,
    non_extractable: bool = NonExtractableOption,
    wrapped: bool = WrappedOption,
    attribute: tuple[str, str] | None = AttributeOption,
) -> None:
    """Import certificates from a file (DER, PEM, PKCS#7, PKCS#12) into trustd's store.

    -T, -A, -x, -w and -a are accepted so that `security import` lines run unchanged; they
    have no effect, as trustd holds no private keys and no access lists.  A private key in the
    file is not kept (said on stderr)."""
    import hashlib

    from trustctl.reasons import certificate_data_problem, lines
    from trustd import certfiles as formats
    from trustd.client.errors import InvalidCertificate, TrustdError

    if item_type is not None and item_type not in IMPORT_TYPES:
        message = f'trustctl: item type "{item_type}": trustd imports cert or agg only'
        raise UsageProblem(message, ctx)
    if fmt is not None and fmt.lower() not in formats.READ_FORMATS:
        choices = ", ".join(formats.READ_FORMATS)
        raise UsageProblem(f'trustctl: format "{fmt}": trustd imports {choices}', ctx)
    keychain_domain(keychain, IMPORT_API)  # the system roots keychain is refused first
    try:
        data = input_file.read_bytes()
    except OSError as problem:
        raise Failure(f"trustctl: Error reading infile {input_file}: {problem.strerror}") from None
    password = None if passphrase is None else passphrase.encode("utf-8")
    try:
        certificates = formats.read_certificates(data, fmt=fmt, password=password)
    except formats.PasswordNeeded as problem:
        why = f"{problem} (-P passphrase)"
        raise Failure(lines(f"trustctl: SecKeychainItemImport: {PKCS12_PASSWORD}", why)) from None
    except formats.UndecodableData as problem:
        first = PKCS12_PASSWORD if "wrong password" in str(problem) else DECODE
        why = certificate_data_problem(data) if "no certificate" in str(problem) else str(problem)
        raise Failure(lines(f"trustctl: SecKeychainItemImport: {first}", why)) from None
    stored = Stored()
    with ctx.obj.client() as client:
        try:
            store_certificates(
                client, certificates, "Importing certificates", stored, keychain, api=IMPORT_API
            )
        except StoreFailed as partial:
            cause = partial.problem
            why = DECODE if isinstance(cause, InvalidCertificate) else str(cause)
            first = f"trustctl: SecKeychainItemImport: {why}"
            raise Failure(partial.lines(first, input_file)) from None
        except TrustdError as problem:
            _reraise_connection(problem)
            why = DECODE if isinstance(problem, InvalidCertificate) else str(problem)
            raise Failure(f"trustctl: SecKeychainItemImport: {why}") from None
    if holds_private_key(data, password):
        print(f"trustctl: {input_file}: {KEY_NOT_KEPT}", file=sys.stderr)
    if not stored.added:
        raise Failure(f"trustctl: SecKeychainItemImport: {DUPLICATE}")
    if as_json:
        digests = [hashlib.sha1(der).hexdigest().upper() for der in certificates]
        emit_json(
            {"imported": len(stored.added), "existing": len(stored.existing), "sha1": digests}
        )
        return
    say(f"{count_text(len(stored.added))} imported.", quiet=ctx.obj.quiet)


# -- export -------------------------------------------------------------------------------------


def export_certificates(
    ctx: typer.Context,
    *,
    keychain: str | None = KeychainOption,
    item_type: str = ExportTypeOption,
    fmt: str = ExportFormatOption,
    pem: bool = ArmourOption,
    outfile: Path | None = OutfileOption,
    name: str | None = ExportNameOption,
    digest: str | None = ExportHashOption,
) -> None:
    """Export certificates of trustd's store (pemseq, x509 or pkcs7)."""
    from trustd import certfiles as formats

    if item_type not in EXPORT_TYPES:
        raise UsageProblem(f'trustctl: item type "{item_type}": trustd exports certs only', ctx)
    if fmt.lower() not in (*formats.WRITE_FORMATS, "pkcs12"):
        choices = ", ".join(formats.WRITE_FORMATS)
        raise UsageProblem(f'trustctl: format "{fmt}": trustd exports {choices}', ctx)
    criteria: dict[str, str] = {}
    if digest is not None:
        by_digest = _digest_criteria(digest)
        if by_digest is None:
            raise Failure(f'trustctl: -Z "{digest}" is not a SHA-1 or SHA-256 hash (hex)')
        criteria.update(by_digest)
    if name is not None:
        criteria["subject"] = name
    from trustctl.keychains import certificates_in, stores, unique_by_certificate

    with ctx.obj.client() as client:
        wanted = stores(None if keychain is None else [keychain])
        found = unique_by_certificate(certificates_in(client, wanted, **criteria))
    if not found:
        raise Failure(f"trustctl: SecKeychainItemExport: {ITEM_NOT_FOUND}")
    try:
        data = formats.write_certificates([s.certificate for _, s in found], fmt, pem=pem)
    except formats.CannotEncode as problem:
        raise Failure(f"trustctl: SecKeychainItemExport: {problem}") from None
    if outfile is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    try:
        outfile.write_bytes(data)
    except OSError as problem:
        raise Failure(f"trustctl: Error writing outfile {outfile}: {problem.strerror}") from None
