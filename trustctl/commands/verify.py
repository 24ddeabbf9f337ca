"""trustctl verify-cert: evaluate a chain or a TLS server through trustd (`security verify-cert`).

Options follow `security`'s getopt string `Cc:r:p:k:e:s:d:LlNnPqR:tv` (shared/reference/
apple-trust.md section 1.7) and the output follows docs/research/apple-strings.md sections 2, 3
and 6:

- success (result proceed or unspecified): stdout `...certificate verification successful.`;
- deny: stderr `SecTrustEvaluate result: kSecTrustResultDeny`, exit 1;
- any other failure: stderr `Cert Verify Result: <message>`, exit 1, where the message is that
  of the highest-priority CSSM status code among the failed checks (SecTrustGetCssmResultCode's
  priority), printed the way `cssmPerror` does: the header comment of Apple's X509TP codes, the
  symbolic name of the CSSM TP and CSP codes;
- `-P`, `-t`, `-v`: the chain; `-v`: the per-certificate errors in red; for the TLS policies
  (ssl, IPSec, eap, a URL) the EV and Certificate Transparency lines, which always say "none"
  and "not verified" since trustd checks neither.

`-R` asks for revocation checking (ocsp, crl, require, offline, online: trustd fetches OCSP
answers and CRLs, soft-failing unless `require`).  A host:port or URL is evaluated with the
exceptions stored for that host, and the network (missing issuers by AIA) allowed.  `-k`,
`-N`, `-L` and `-l` are accepted no-ops, as on modern macOS.  `--explain` (trustd's own)
prints, after everything else on stdout, every path the search tried as a tree
(trustctl.explain); it adds to `-v` rather than replacing it.
Imports of the client and of cryptography happen inside the command so `--help` stays fast.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from trustctl import completion
from trustctl.common import flag, keychain, value
from trustctl.errors import Failure, UsageProblem
from trustctl.output import emit_json

if TYPE_CHECKING:
    from trustctl.explain import Node
    from trustd.client import EvaluationResult, Policy

POLICIES = (
    "basic",
    "ssl",
    "smime",
    "codeSign",
    "IPSec",
    "swUpdate",
    "pkgSign",
    "eap",
    "appleID",
    "macappstore",
    "timestamping",
)
NAMED_POLICIES = frozenset({"ssl", "eap", "smime"})  # the policies -n (-s, -e) applies to
CLIENT_SIDE_POLICIES = frozenset({"ssl", "eap", "IPSec"})  # the policies -C applies to
TLS_POLICIES = frozenset({"ssl", "IPSec", "eap"})  # those printing the EV and CT lines
REVOCATION_OPTIONS = frozenset({"ocsp", "require", "offline", "crl", "online"})
DATE_FORMATS = ("%Y-%m-%d-%H:%M:%S", "%Y-%m-%d")
DEFAULT_TLS_PORT = 443
CONNECT_TIMEOUT = 10.0
ANSI_RED = "\x1b[31m"
ANSI_RESET = "\x1b[0m"

# cssmPerror's text for the CSSM codes trustd's checks carry (trustd/core/results.py): the
# header comment of Apple's X509TP private codes (cssmapple.h), the symbolic name of the CSSM
# TP and CSP codes, which have no comment (cssmerr.h).
CSSM_MESSAGES: dict[int, str] = {
    0x80010913: "CSSMERR_CSP_ALGID_MISMATCH",
    0x80010918: "CSSMERR_CSP_UNSUPPORTED_KEY_SIZE",
    0x80010955: "CSSMERR_CSP_INVALID_DIGEST_ALGORITHM",
    0x8001210A: "CSSMERR_TP_CERT_EXPIRED",
    0x8001210B: "CSSMERR_TP_CERT_NOT_VALID_YET",
    0x8001210C: "CSSMERR_TP_CERT_REVOKED",
    0x8001210D: "CSSMERR_TP_CERT_SUSPENDED",
    0x80012114: "CSSMERR_TP_VERIFY_ACTION_FAILED",
    0x80012115: "CSSMERR_TP_INVALID_CERTIFICATE",
    0x80012116: "CSSMERR_TP_INVALID_CERT_AUTHORITY",
    0x8001212A: "CSSMERR_TP_NOT_TRUSTED",
    0x80012400: "Host name mismatch",
    0x80012401: "Non-understood extension with Critical flag true",
    0x80012402: "Basic Constraints extension required per policy, but not present",
    0x80012403: "Invalid BasicConstraints.CA",
    0x80012404: "Invalid Authority Key ID",
    0x80012406: "Invalid Key Usage for policy",
    0x80012407: "Invalid Extended Key Usage for policy",
    0x80012409: "PathLengthConstraint exceeded",
    0x80012410: "Unknown critical cert extension",
    0x80012418: "S/MIME Email address mismatch",
    0x80012423: "revocation check not successful for each cert",
    0x80012436: "Trust Setting: deny",
    0x80012437: "Invalid empty SubjectName",
    0x80012439: "Missing required extension",
    0x8001243B: "Required name or identifier not present",
    0x8001243C: "Certificate authority pinning mismatch",
    0x8001243D: "Leaf pinning mismatch",
}

# SecTrustGetCssmResultCode's priority (SecTrust.cpp convertCssmResultToPriority): lower wins,
# anything not listed is 5.
CSSM_PRIORITY: dict[int, int] = {
    0x8001210C: 1,  # CSSMERR_TP_CERT_REVOKED
    0x80012436: 1,  # CSSMERR_APPLETP_TRUST_SETTING_DENY
    0x80012402: 2,  # CSSMERR_APPLETP_NO_BASIC_CONSTRAINTS
    0x80012438: 2,  # CSSMERR_APPLETP_UNKNOWN_QUAL_CERT_STATEMENT
    0x80012437: 2,  # CSSMERR_APPLETP_INVALID_EMPTY_SUBJECT
    0x80012404: 2,  # CSSMERR_APPLETP_INVALID_AUTHORITY_ID
    0x80012115: 2,  # CSSMERR_TP_INVALID_CERTIFICATE
    0x80012401: 2,  # CSSMERR_APPLETP_UNKNOWN_CRITICAL_EXTEN
    0x8001210A: 3,  # CSSMERR_TP_CERT_EXPIRED
    0x8001212A: 4,  # CSSMERR_TP_NOT_TRUSTED
    0x8001242F: 4,  # CSSMERR_APPLETP_CS_BAD_CERT_CHAIN_LENGTH
}
LOWEST_PRIORITY = 5

# `verify-cert -v`'s per-check text (trusted_cert_ssl.m errorStringForKey); other keys print
# as `[Key]` alone.
CHECK_TEXTS: dict[str, str] = {
    "SSLHostname": "Host name not found in Subject Alternative Name extension",
    "TemporalValidity": "Certificate has expired, or is not yet valid (check date)",
    "KeySize": "Certificate uses a key size which is considered too weak",
    "SignatureHashAlgorithms": "Certificate uses a signing algorithm which is considered too weak",
    "KeyUsage": "The Key Usage extension does not permit this use for the certificate",
    "ExtendedKeyUsage": (
        "The Extended Key Usage extension does not permit this use for the certificate"
    ),
    "Revocation": "Certificate has been revoked and cannot be used",
    "BlackListedLeaf": "Certificate has been blocked and cannot be used",
    "AnchorTrusted": "The root of the certificate chain is not trusted",
    "MissingIntermediate": "Unable to find next certificate in the chain",
    "NonEmptySubject": "Certificate has no subject, and SAN is missing or not marked critical",
    "BasicCertificateProcessing": (
        "Certificate not standards compliant (RFC 5280|CABF Baseline Requirements)"
    ),
    "NameConstraints": "Certificate violates name constraints placed on issuing CA",
    "PolicyConstraints": "Certificate violates policy constraints placed on issuing CA",
    "CTRequired": "Certificate Transparency validation is required but missing",
    "ValidityPeriodMaximums": (
        "Certificate exceeds maximum allowable validity period (normally 825 days)"
    ),
    "ServerAuthEKU": "The Extended Key Usage extension does not permit server authentication",
    "UnparseableExtension": (
        "Unable to parse a standard extension (corrupt or invalid format detected)"
    ),
}

CertsOption = value("-c", metavar="FILE", help="Certificate to verify (leaf first); repeatable.")
RootsOption = value(
    "-r",
    metavar="FILE",
    help="Anchor certificate; repeatable. Anchors given are the only ones trusted.",
)
PolicyOption = value(
    "-p",
    metavar="POLICY",
    help=f"Policy: {', '.join(POLICIES)}.",
    default="basic",
    complete=completion.verify_policies,
)
ClientSideOption = flag("-C", help="Evaluate the client side (ssl, eap, IPSec).")
NameOption = value("-n", metavar="NAME", help="Name to verify: host name or e-mail address.")
HostOption = value("-s", metavar="HOST", help="Host name to verify (deprecated: use -n).")
EmailOption = value("-e", metavar="EMAIL", help="E-mail address to verify (deprecated: use -n).")
DateOption = value(
    "-d", metavar="DATE", help="Verification date, GMT: YYYY-MM-DD-hh:mm:ss or YYYY-MM-DD."
)
RevocationOption = value(
    "-R",
    metavar="OPT",
    help="Revocation: ocsp, require, offline, crl, online; repeatable.",
    complete=completion.revocation,
)
PemOption = flag("-P", help="Print the chain as PEM.")
TextOption = flag("-t", help="Print the chain as text.")
VerboseOption = flag("-v", help="Verbose: the chain and the certificate errors.")
QuietOption = flag("-q", help="Quiet: no result lines.")
KeychainOption = keychain("Keychain to search (no effect).", metavar="KEYCHAIN")
NoKeychainsOption = flag("-N", help="Search no keychains (no effect).")
LeafIsCaOption = flag("-l", help="Leaf is a CA (no effect).")
LocalOnlyOption = flag("-L", help="No network fetch of certificates (no effect).")
JsonOption = flag("--json", help="Print the verdict as JSON.")
ExplainOption = flag(
    "--explain", help="Explain: every path tried, as a tree, with each failure's check and a hint."
)
UrlArgument = typer.Argument(
    None,
    metavar="url",
    help="host[:port] or https://host[:port]/...: verify the TLS server's chain.",
)


def register(app: typer.Typer) -> None:
    """Add the verify-cert command to the trustctl app."""
    app.command("verify-cert")(verify_cert)


# -- pure helpers -------------------------------------------------------------------------------


def cssm_message(code: int) -> str:
    """cssmPerror's text for a CSSM status code (0 is "No error.")."""
    if code == 0:
        return "No error."
    unsigned = code & 0xFFFFFFFF
    signed = unsigned - 2**32 if unsigned >= 2**31 else unsigned
    return CSSM_MESSAGES.get(unsigned, f"unknown error {signed}={unsigned:x}")


def cssm_priority(code: int) -> int:
    """SecTrustGetCssmResultCode's priority of a CSSM code: 1 (most important) to 5."""
    return CSSM_PRIORITY.get(code & 0xFFFFFFFF, LOWEST_PRIORITY)


def counted_checks(result: EvaluationResult) -> list[list[str]]:
    """Per chain position, the names of the failed checks that counted, in report order."""
    size = max(len(result.chain), 1 + max((f.index for f in result.failures), default=-1), 1)
    positions: list[list[str]] = [[] for _ in range(size)]
    for failure in result.failures:
        if failure.rescued_by is None and failure.check not in positions[failure.index]:
            positions[failure.index].append(failure.check)
    return positions


def result_cssm_code(result: EvaluationResult) -> int:
    """The CSSM code "Cert Verify Result" reports: leaf first, strictly better priority wins."""
    if result.trusted:
        return 0
    from trustd.core.results import peer_check as check

    best_code, best_priority = 0, LOWEST_PRIORITY + 1
    for names in counted_checks(result):
        for name in names:
            code = check(name).cssm
            priority = cssm_priority(code)
            if priority < best_priority:
                best_code, best_priority = code, priority
        if best_priority == 1:
            break
    return best_code & 0xFFFFFFFF


def parse_date(text: str) -> datetime:
    """A -d date, GMT; UsageProblem("Date processing error") if malformed."""
    for layout in DATE_FORMATS:
        try:
            return datetime.strptime(text, layout).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise UsageProblem("Date processing error")


def parse_url(url: str) -> tuple[str, int]:
    """Host and port of `host[:port]` or `https://host[:port]/...` (port 443 by default)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url if "://" in url else f"https://{url}")
        port = parts.port
    except ValueError:
        raise Failure(f"*** invalid URL: {url}") from None
    if not parts.hostname:
        raise Failure(f"*** invalid URL: {url}")
    return parts.hostname, port or DEFAULT_TLS_PORT


def policy_for(kind: str, name: str | None, client_side: bool) -> Policy:
    """The policy -p asked for, with the name and side where they apply."""
    from trustd.client import Policy

    if kind not in POLICIES:
        raise Failure(f"*** policy creation failed for {kind}")
    return Policy(
        kind,
        name if kind in NAMED_POLICIES else None,
        client_side and kind in CLIENT_SIDE_POLICIES,
    )


def read_certificate(path: Path) -> bytes:
    """A certificate file (PEM, the first CERTIFICATE block, or DER) as DER, checked for the
    shape of a certificate only (the DER walk the parser starts with); "Error reading file" if
    not.  Whether cryptography takes it is `refuse_unreadable`'s question."""
    from trustd.core.der import DERProblem, certificate_parts
    from trustd.core.pem import is_pem, pem_certificate

    try:
        data = path.read_bytes()
    except OSError as problem:
        raise _unreadable(path, problem) from None
    try:
        der = pem_certificate(data) if is_pem(data) else data
        certificate_parts(der)
    except (DERProblem, ValueError):
        raise _unreadable(path) from None
    return der


def _unreadable(path: Path, problem: OSError | None = None) -> Failure:
    from trustctl.reasons import lines, unreadable_file

    return Failure(lines(f"Error reading file {path}", unreadable_file(path, problem)))


def refuse_unreadable(paths: Sequence[Path]) -> None:
    """ "Error reading file" for the first of `paths` that is no certificate the parser takes
    (what the daemon parses it with); nothing when all are."""
    if not paths:
        return
    from trustd.core.certificates import MalformedCertificate, parse_certificate

    for path in paths:
        try:
            parse_certificate(path.read_bytes())
        except OSError as problem:
            raise _unreadable(path, problem) from None
        except MalformedCertificate:
            raise _unreadable(path) from None


def fetch_server_chain(host: str, port: int) -> list[bytes]:
    """The whole chain a TLS server sends (leaf first, DER), verifying nothing."""
    import socket
    import ssl

    from trustd.client.ssl import peer_chain

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection((host, port), timeout=CONNECT_TIMEOUT) as raw,
            context.wrap_socket(raw, server_hostname=host) as connection,
        ):
            chain, _ = peer_chain(connection)
    except (OSError, ssl.SSLError) as problem:
        raise Failure(f"*** unable to connect to {host}:{port}: {problem}") from None
    if not chain:
        raise Failure(f"*** {host}:{port} sent no certificate")
    return chain


# -- printing -----------------------------------------------------------------------------------


def _name_summary(name: Any) -> str:
    """A short form of an x509.Name: its common names, else units, else organisations."""
    from cryptography.x509.oid import NameOID

    for oid in (NameOID.COMMON_NAME, NameOID.ORGANIZATIONAL_UNIT_NAME, NameOID.ORGANIZATION_NAME):
        values = [str(a.value) for a in name.get_attributes_for_oid(oid)]
        if values:
            return ", ".join(reversed(values))
    return str(name.rfc4514_string())


def _fingerprint(der: bytes, algorithm: str) -> str:
    import hashlib

    return ":".join(f"{b:02X}" for b in hashlib.new(algorithm, der).digest())


def _sha1(der: bytes) -> str:
    """The SHA-1 of `der` in hex (hashlib is loaded only by the paths that print one)."""
    import hashlib

    return hashlib.sha1(der).hexdigest()


def _certificate_text(certificate: Any) -> list[str]:
    """-t: the certificate's main fields, one per line."""
    from cryptography import x509

    parsed: x509.Certificate = certificate.x509
    lines = [
        f"Subject: {parsed.subject.rfc4514_string()}",
        f"Issuer: {parsed.issuer.rfc4514_string()}",
        f"Serial Number: {parsed.serial_number:X}",
        f"Not Before: {certificate.not_before:%Y-%m-%d %H:%M:%S} GMT",
        f"Not After: {certificate.not_after:%Y-%m-%d %H:%M:%S} GMT",
    ]
    try:
        names = parsed.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError):
        names = None
    if names is not None:
        entries = [f"DNS:{n}" for n in names.get_values_for_type(x509.DNSName)]
        entries += [f"IP:{n}" for n in names.get_values_for_type(x509.IPAddress)]
        entries += [f"email:{n}" for n in names.get_values_for_type(x509.RFC822Name)]
        entries += [f"URI:{n}" for n in names.get_values_for_type(x509.UniformResourceIdentifier)]
        lines.append(f"Subject Alternative Names: {', '.join(entries)}")
    lines.append(f"SHA-1 Fingerprint: {_fingerprint(certificate.der, 'sha1')}")
    lines.append(f"SHA-256 Fingerprint: {_fingerprint(certificate.der, 'sha256')}")
    return lines


def _pem(der: bytes) -> str:
    from trustd.core.pem import armour

    return armour(der).rstrip("\n")


def _parse_all(chain: Sequence[bytes]) -> list[Any]:
    from trustd.core.certificates import MalformedCertificate, parse_certificate

    parsed: list[Any] = []
    for der in chain:
        try:
            parsed.append(parse_certificate(der))
        except MalformedCertificate:
            parsed.append(None)
    return parsed


def print_chain(chain: Sequence[bytes], *, pem: bool, text: bool) -> None:
    """`---`, `Certificate chain`, then each certificate as printCertChain shows it."""
    print("---\nCertificate chain")
    parsed = _parse_all(chain)
    for index, (der, certificate) in enumerate(zip(chain, parsed, strict=True)):
        address = _sha1(der)[:12]
        if certificate is None:
            print(f" {index}: <NULL>\n    <cert(0x{address}) s: <NULL> i: <NULL>>")
        else:
            issuer = next(
                (
                    c.subject_summary
                    for c in parsed
                    if c is not None and c.subject == certificate.issuer
                ),
                _name_summary(certificate.issuer),
            )
            summary = certificate.subject_summary
            print(f" {index}: {summary}\n    <cert(0x{address}) s: {summary} i: {issuer}>")
            if text:
                for line in _certificate_text(certificate):
                    print(f"    {line}")
        if pem:
            print(_pem(der))


def print_errors(chain: Sequence[bytes], result: EvaluationResult) -> None:
    """-v: `Certificate errors`, every chain position and, in red, each of its failed checks."""
    positions = counted_checks(result)
    if not any(positions):
        return
    parsed = _parse_all(chain)
    print("---\nCertificate errors")
    for index, names in enumerate(positions):
        certificate = parsed[index] if index < len(parsed) else None
        print(f" {index}: {certificate.subject_summary if certificate is not None else '<NULL>'}")
        for name in names:
            text = f"{CHECK_TEXTS[name]} [{name}]" if name in CHECK_TEXTS else f"[{name}]"
            print(f"{ANSI_RED}    {text}{ANSI_RESET}")


def print_extended_results() -> None:
    """The TLS lines: trustd checks neither Extended Validation nor Certificate Transparency."""
    print("---")
    print("No extended validation result found")
    print(f"Certificate Transparency (CT) status: {ANSI_RED}not verified{ANSI_RESET}")
    print("Unable to find at least 2 signed certificate timestamps (SCTs) from approved logs")


def print_details(result: EvaluationResult) -> None:
    """-v: the evaluation result dictionary on stderr, as CFShow(SecTrustCopyResult) would."""
    details = "".join(
        f"        {{ {' '.join(f'{n} = 0;' for n in names)} }},\n"
        for names in counted_checks(result)
    )
    print(
        "---\nTrust evaluation results\n{\n"
        f"    TrustResultValue = {result.code};\n"
        f"    TrustResultDetails = (\n{details}    );\n"
        "}",
        file=sys.stderr,
    )


def explained(result: EvaluationResult, chain: Sequence[bytes]) -> Node:
    """The search tree of an explained evaluation, rooted at the leaf."""
    from trustctl.explain import explanation_tree

    leaf = (result.chain or chain)[0]
    parsed = _parse_all([leaf])[0]
    subject = parsed.subject_summary if parsed is not None else "(not a certificate)"
    return explanation_tree(
        result,
        _sha1(leaf).upper(),
        subject,
        [_sha1(der).upper() for der in result.chain],
    )


def print_explanation(result: EvaluationResult, tree: Node, server: str | None) -> None:
    """--explain: the tree, in colour on a terminal."""
    from trustctl.explain import Palette, explanation_lines

    lines = explanation_lines(
        result,
        tree,
        palette=Palette.for_stream(sys.stdout),
        request_origin="sent by the server" if server else "given with -c",
        host=server,
    )
    print("\n".join(lines))


def verdict_json(result: EvaluationResult, code: int) -> dict[str, Any]:
    """--json: the verdict, its CSSM code and message, the failures and the chain."""
    parsed = _parse_all(result.chain)
    return {
        "result": result.result,
        "result_code": result.code,
        "trusted": result.trusted,
        "message": result.message,
        "cssm_code": code,
        "cssm_message": cssm_message(code),
        "checks": list(result.checks),
        "failures": [
            {
                "index": f.index,
                "check": f.check,
                "severity": f.severity,
                "detail": f.detail,
                "rescued_by": f.rescued_by,
            }
            for f in result.failures
        ],
        "chain": [
            {
                "subject": c.subject_summary if c is not None else None,
                "sha1": _sha1(der).upper(),
            }
            for der, c in zip(result.chain, parsed, strict=True)
        ],
        "anchor_origin": result.anchor_origin,
    }


# -- the command --------------------------------------------------------------------------------


def verify_cert(
    ctx: typer.Context,
    url: str | None = UrlArgument,
    *,
    certs: list[Path] | None = CertsOption,
    roots: list[Path] | None = RootsOption,
    policy: str = PolicyOption,
    client_side: bool = ClientSideOption,
    name: str | None = NameOption,
    host: str | None = HostOption,
    email: str | None = EmailOption,
    date: str | None = DateOption,
    revocation: list[str] | None = RevocationOption,
    pem: bool = PemOption,
    text: bool = TextOption,
    verbose: bool = VerboseOption,
    quiet: bool = QuietOption,
    keychain: str | None = KeychainOption,
    no_keychains: bool = NoKeychainsOption,
    leaf_is_ca: bool = LeafIsCaOption,
    local_only: bool = LocalOnlyOption,
    as_json: bool = JsonOption,
    explain: bool = ExplainOption,
) -> None:
    """Verify one or more certificates, or a TLS server's chain.

    With --explain, the result lines are followed by every path the search tried, as a tree
    (in colour on a terminal): the leaf, each candidate issuer and where it came from, the
    trust settings consulted, how each path ended, and each failure with its Apple check name
    and what to do about it.  With --json the tree is the "explanation" key.
    """
    if keychain is not None and no_keychains:
        raise UsageProblem("-k and -N are mutually exclusive", ctx)
    try:
        verify_date = parse_date(date) if date is not None else None
    except UsageProblem as problem:
        raise UsageProblem(problem.message, ctx) from None
    for option in revocation or ():
        if option not in REVOCATION_OPTIONS:
            raise UsageProblem(f"***unknown revocation option: {option}", ctx)
        if option == "crl":
            print("Warning: crl option is deprecated, use ocsp", file=sys.stderr)
    quiet = quiet or bool(getattr(ctx.obj, "quiet", False))

    from trustd.client.errors import TrustdError

    # The files are read as DER without the parser (cryptography is most of a run's start-up);
    # each one the daemon did not take into a trusted chain is parsed here afterwards, and all
    # of them when anything fails, so that a file holding no certificate is refused as before:
    # "Error reading file", before whatever else went wrong.
    files = [] if url is not None else [*(certs or ()), *(roots or ())]
    ders: list[bytes] = []
    try:
        try:
            anchors: list[bytes] = []
            server: str | None = None
            port = 0
            if url is not None:
                server, port = parse_url(url)
                chain = fetch_server_chain(server, port)
                policies = policy_for("ssl", server, False)
                tls = True
                verify_date = None
            else:
                chain = [read_certificate(path) for path in certs or ()]
                anchors = [read_certificate(path) for path in roots or ()]
                ders = [*chain, *anchors]  # in the order of `files`
                if not chain:
                    if not anchors:
                        raise UsageProblem("***No certs specified.", ctx)
                    if len(anchors) > 1:
                        raise UsageProblem("***Multiple roots and no certs not allowed.", ctx)
                    chain = list(anchors)
                policies = policy_for(policy, name or host or email, client_side)
                tls = policy in TLS_POLICIES

            with ctx.obj.client() as client:
                result: EvaluationResult = client.evaluate(
                    chain,
                    policies,
                    anchors=anchors,
                    anchors_only=bool(anchors),
                    verify_date=verify_date,
                    host=server,
                    port=port,
                    revocation=tuple(revocation or ()),
                    explain=explain,
                )
        except Exception:
            refuse_unreadable(files)
            raise
        used = set(result.chain) if result.trusted else set()
        refuse_unreadable([path for path, der in zip(files, ders, strict=True) if der not in used])
    except (Failure, TrustdError) as problem:
        if as_json:  # a document on stdout whatever happens, for tools reading it
            message = problem.message if isinstance(problem, Failure) else f"trustctl: {problem}"
            emit_json({"error": message, "exit_code": getattr(problem, "code", 1)})
        raise
    code = result_cssm_code(result)
    failed = not result.trusted
    tree = explained(result, chain) if explain else None
    if as_json:
        document = verdict_json(result, code)
        if tree is not None:
            from trustctl.explain import explanation_json

            document["explanation"] = explanation_json(result, tree)
        emit_json(document)
        if failed:
            raise Failure("", 1)
        return

    if failed and not quiet:
        if result.result == "deny":
            print("SecTrustEvaluate result: kSecTrustResultDeny", file=sys.stderr)
        else:
            print(f"Cert Verify Result: {cssm_message(code)}", file=sys.stderr)
    elif not failed and not quiet:
        print("...certificate verification successful.")
    shown = list(result.chain) or chain
    if pem or text or verbose:
        print_chain(shown, pem=pem, text=text)
    if verbose:
        print_errors(shown, result)
    if tls:
        print_extended_results()
    if tree is not None:
        print_explanation(result, tree, server)
    if verbose:
        print_details(result)
    if failed:
        raise Failure("", 1)
