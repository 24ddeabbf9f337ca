"""trustctl trust-settings commands, as macOS `security` has them (reference sections 1.2-1.5).

- `add-trusted-cert` builds the usage-constraint array exactly as Apple's trusted_cert_add.c
  does (one dictionary per policy x policy string x allowed error; kSecTrustSettingsResult only
  when the result is not trustRoot) and either replaces the certificate's array in a domain
  through trustd or, with `-o` (and `-i`), edits a trust-settings plist file without the daemon.
- `remove-trusted-cert` removes a certificate's whole entry from a domain.
- `dump-trust-settings` prints a domain in `security`'s exact layout; like Apple's tool it lists
  only entries whose certificate is known (to trustd's store).
- `trust-settings-export` / `trust-settings-import` move a domain's whole record as a plist.

Errors are Apple's `cssmPerror` lines (`<API>: <message>`), rc 1; usage problems exit 2.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import typer

from trustctl import completion
from trustctl.common import JSON, core_constraint, flag, keychain, value
from trustctl.errors import Failure, UsageProblem
from trustctl.output import emit_json

if TYPE_CHECKING:
    from trustd.client.errors import TrustdError
    from trustd.client.models import UsageConstraint as ClientConstraint
    from trustd.core.trust_settings import TrustSettingsEntry

# -- Apple's values and texts -------------------------------------------------------------------

APPLE_POLICY_PREFIX = "1.2.840.113635.100.1"  # = trustd.core.policy.APPLE_POLICY_ARC

# `add-trusted-cert -p` names: (last arc of the Apple policy OID, kSecTrustSettingsPolicyName).
ADD_POLICIES: dict[str, tuple[int, str]] = {
    "ssl": (3, "sslServer"),
    "smime": (8, "SMIME"),
    "codeSign": (16, "CodeSigning"),
    "IPSec": (11, "ipsecServer"),
    "basic": (2, "basicX509"),
    "swUpdate": (10, "AppleSWUpdateSigning"),
    "pkgSign": (17, "PackageSigning"),
    "eap": (9, "eapServer"),
    "macappstore": (19, "MacAppStoreReceipt"),
    "appleID": (18, "AppleIDAuthority"),
    "timestamping": (20, "AppleTimeStamping"),
}

RESULT_TYPES = {"trustRoot": 1, "trustAsRoot": 2, "deny": 3, "unspecified": 4}
RESULT_NAMES = {
    0: "kSecTrustSettingsResultInvalid",
    1: "kSecTrustSettingsResultTrustRoot",
    2: "kSecTrustSettingsResultTrustAsRoot",
    3: "kSecTrustSettingsResultDeny",
    4: "kSecTrustSettingsResultUnspecified",
}
TRUST_ROOT = 1

CERT_EXPIRED = -2147409654  # CSSMERR_TP_CERT_EXPIRED (0x8001210A)
HOSTNAME_MISMATCH = -2147408896  # CSSMERR_APPLETP_HOSTNAME_MISMATCH (0x80012400)
SMIME_EMAIL_MISMATCH = -2147408872  # CSSMERR_APPLETP_SMIME_EMAIL_ADDRS_NOT_FOUND (0x80012418)
ALLOWED_ERROR_NAMES = {"certExpired": CERT_EXPIRED, "hostnameMismatch": HOSTNAME_MISMATCH}
ALLOWED_ERROR_TEXTS = {
    CERT_EXPIRED: "CSSMERR_TP_CERT_EXPIRED",
    HOSTNAME_MISMATCH: "Host name mismatch",
    SMIME_EMAIL_MISMATCH: "S/MIME Email address mismatch",
}

KEY_USAGE_ANY = 0xFFFFFFFF
KEY_USAGE_NAMES = (
    (0x01, "Signature"),
    (0x02, "EnDecryptData"),
    (0x04, "EnDecryptKey"),
    (0x08, "SignCert"),
    (0x10, "SignRevocation"),
    (0x20, "KeyExchange"),
)

# cssmPerror texts of the OSStatus values these commands meet.
NO_TRUST_SETTINGS = "No Trust Settings were found."  # errSecNoTrustSettings -25263
ITEM_NOT_FOUND = "The specified item could not be found in the keychain."  # -25300
PARAM = "One or more parameters passed to a function were not valid."  # errSecParam -50
CORRUPTED = "The Trust Settings Record was corrupted."  # errSecInvalidTrustSettings -25262

MAX_REPEATS = 16  # trusted_cert_add.c: maxPolicies, for -p, -s and -e alike
INDENT = "   "
LABEL_WIDTH = 22  # the colon of a field line is column 23 of its text

# -- options (module level: B008) ---------------------------------------------------------------

AdminOption = flag("-d", help="Admin domain (default: your user domain).")
ResultOption = value(
    "-r",
    metavar="resultType",
    help="trustRoot (default), trustAsRoot, deny, unspecified.",
    complete=completion.result_types,
)
PolicyOption = value(
    "-p",
    metavar="policy",
    help="Policy constraint, repeatable: ssl, smime, codeSign, IPSec, basic, swUpdate, "
    "pkgSign, eap, macappstore, appleID, timestamping.",
    complete=completion.trust_policies,
)
AppOption = value("-a", metavar="appPath", help="Application constraint.")
PolicyStringOption = value(
    "-s", metavar="policyString", help="Policy string (host, e-mail), repeatable; needs -p."
)
AllowedErrorOption = value(
    "-e",
    metavar="allowedError",
    help="Allowed error, repeatable: certExpired, hostnameMismatch or a number.",
    complete=completion.allowed_errors,
)
KeyUsageOption = value(
    "-u", metavar="keyUsage", help="Key usage (-1: any).", complete=completion.key_usages
)
KeychainOption = keychain("Also add the certificate to that keychain's store.")
SettingsInOption = value(
    "-i", metavar="settingsFileIn", help="Trust-settings file to start from (needs -o)."
)
SettingsOutOption = value(
    "-o", metavar="settingsFileOut", help="Write a trust-settings file, not a domain."
)
CertArgument = typer.Argument(None, metavar="certFile", help="The certificate (PEM or DER).")
RequiredCertArgument = typer.Argument(
    None, metavar="certFile", help="The certificate (PEM or DER)."
)
SettingsFileArgument = typer.Argument(None, metavar="settings_file", help="The plist file.")
JsonOption = JSON


def _pick_domain(ctx: typer.Context, param: Any, value: bool) -> bool:
    """-s and -d: the last one given wins (Click processes options in command-line order)."""
    if value:
        ctx.meta["trustctl.domain"] = "system" if param.name == "system" else "admin"
    return value


SystemDomainOption = typer.Option(False, "-s", callback=_pick_domain, help="System domain.")
AdminDomainOption = typer.Option(False, "-d", callback=_pick_domain, help="Admin domain.")


def register(app: typer.Typer) -> None:
    """Add the trust-settings commands, in `security`'s table order."""
    app.command("add-trusted-cert")(add_trusted_cert)
    app.command("remove-trusted-cert")(remove_trusted_cert)
    app.command("dump-trust-settings")(dump_trust_settings)
    app.command("trust-settings-export")(trust_settings_export)
    app.command("trust-settings-import")(trust_settings_import)


# -- shared helpers ---------------------------------------------------------------------------


def _domain(ctx: typer.Context) -> str:
    value = ctx.meta.get("trustctl.domain", "user")
    return str(value)


def _atoi(text: str) -> int:
    """C atoi(): optional blanks and sign, then leading digits; 0 if none."""
    stripped = text.lstrip(" \t\n\v\f\r")
    sign, digits = 1, ""
    if stripped[:1] in ("+", "-"):
        sign, stripped = (-1 if stripped[0] == "-" else 1), stripped[1:]
    for char in stripped:
        if not char.isdigit() or not char.isascii():
            break
        digits += char
    value = sign * int(digits) if digits else 0
    return (value + 2**31) % 2**32 - 2**31  # an int, as C truncates it


def _read_certificate(path: str) -> Any:
    """readCertFile: PEM (first block) or DER; "Error reading file <f>" rc 1."""
    from trustctl.reasons import lines, unreadable_file
    from trustd.core.certificates import MalformedCertificate, parse_certificate

    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as problem:
        raise Failure(lines(f"Error reading file {path}", unreadable_file(path, problem))) from None
    try:
        return parse_certificate(data)
    except MalformedCertificate:
        raise Failure(lines(f"Error reading file {path}", unreadable_file(path))) from None


def _say(ctx: typer.Context, text: str) -> None:
    if not ctx.obj.quiet:
        print(text)


def _daemon_failure(call: str, problem: TrustdError, **texts: str) -> Exception:
    """`<call>: <message>` for an error answered by trustd; connection problems pass through."""
    from trustd.client.errors import ConnectionFailed, RequestTooLarge

    if isinstance(problem, ConnectionFailed | RequestTooLarge):
        return problem
    kind = type(problem).__name__
    default = {"NoTrustSettings": NO_TRUST_SETTINGS, "NotFound": ITEM_NOT_FOUND}
    message = texts.get(kind) or default.get(kind) or str(problem)
    return Failure(f"{call}: {message}")


# -- add-trusted-cert ---------------------------------------------------------------------------


def build_constraints(
    *,
    policies: Sequence[str],
    policy_strings: Sequence[str],
    allowed_errors: Sequence[int],
    result: int,
    app_path: str | None,
    key_usage: int,
) -> list[ClientConstraint]:
    """trusted_cert_add.c: one dictionary per policy x policy string x allowed error.

    Without a policy: one dictionary with the last allowed error and no policy string.  Empty
    dictionaries are dropped (as Apple's library drops them): `-r trustRoot` alone is the
    unconditional root.  Raise KeyError for an unknown policy name.
    """

    from trustd.client.models import UsageConstraint as Constraint  # not needed for --help

    def one(policy: str | None, text: str | None, error: int | None) -> ClientConstraint:
        oid = name = None
        if policy is not None:
            arc, name = ADD_POLICIES[policy]
            oid = f"{APPLE_POLICY_PREFIX}.{arc}"
        return Constraint(
            policy_oid=oid,
            policy_name=name,
            policy_string=text,
            application=None if app_path is None else app_path.encode(),
            allowed_error=error or None,
            result=None if result == TRUST_ROOT else result,
            key_usage=key_usage or None,
        )

    made: list[ClientConstraint] = []
    if policies:
        texts: Sequence[str | None] = policy_strings or [None]
        errors: Sequence[int | None] = allowed_errors or [None]
        made = [one(p, t, e) for p in policies for t in texts for e in errors]
    else:
        made = [one(None, None, allowed_errors[-1] if allowed_errors else None)]
    return [c for c in made if c != Constraint()]


def add_trusted_cert(
    ctx: typer.Context,
    *,
    cert_file: str | None = CertArgument,
    admin: bool = AdminOption,
    result_type: str | None = ResultOption,
    policies: list[str] | None = PolicyOption,
    app_path: str | None = AppOption,
    policy_strings: list[str] | None = PolicyStringOption,
    allowed_errors: list[str] | None = AllowedErrorOption,
    key_usage: str | None = KeyUsageOption,
    keychain: str | None = KeychainOption,
    settings_in: str | None = SettingsInOption,
    settings_out: str | None = SettingsOutOption,
) -> None:
    """Add trusted certificate(s).

    Sets the certificate's trust settings in your domain (-d: admin), replacing any it had; no
    constraint options means "always trust this root".  With -o (and -i) a trust-settings file
    is edited instead of a domain.
    """
    policies, policy_strings = policies or [], policy_strings or []
    given = (result_type, app_path, key_usage, keychain, settings_in, settings_out, cert_file)
    if not admin and not policies and not policy_strings and not allowed_errors:
        if all(value is None for value in given):
            raise UsageProblem("", ctx)  # `security add-trusted-cert` alone: just the usage
    for values, what in (
        (policies, "policy"),
        (policy_strings, "policy string"),
        (allowed_errors or [], '"allowed error"'),
    ):
        if len(values) > MAX_REPEATS:
            raise UsageProblem(f"Too many {what} arguments.", ctx)
    from trustctl.reasons import choices

    result = TRUST_ROOT
    if result_type is not None:
        if result_type not in RESULT_TYPES:
            raise UsageProblem("trustctl: " + choices("-r", result_type, RESULT_TYPES), ctx)
        result = RESULT_TYPES[result_type]
    errors: list[int] = []
    for text in allowed_errors or []:
        value = ALLOWED_ERROR_NAMES.get(text, _atoi(text))
        if value == 0:
            raise UsageProblem("Invalid value for allowed error.", ctx)
        errors.append(value)
    if cert_file is None and settings_out is None:
        raise UsageProblem("No cert file specified.", ctx)
    if settings_out is not None and admin:
        raise UsageProblem("Can't specify both domain and a settingsFile", ctx)
    if settings_in is not None and settings_out is None:
        raise UsageProblem("Can't specify settingsFileIn and no settingsFileOut", ctx)
    have_constraints = bool(
        result_type is not None
        or policies
        or app_path is not None
        or policy_strings
        or errors
        or key_usage is not None
    )
    constraints: list[ClientConstraint] = []
    if have_constraints:
        try:
            constraints = build_constraints(
                policies=policies,
                policy_strings=policy_strings,
                allowed_errors=errors,
                result=result,
                app_path=app_path,
                key_usage=0 if key_usage is None else _atoi(key_usage),
            )
        except KeyError:
            bad = next(p for p in policies if p not in ADD_POLICIES)
            raise UsageProblem("trustctl: " + choices("-p", bad, ADD_POLICIES), ctx) from None
    if settings_out is not None:
        _add_to_file(
            ctx,
            settings_in=settings_in,
            settings_out=settings_out,
            cert_file=cert_file,
            keychain=keychain,
            constraints=constraints,
        )
        return
    assert cert_file is not None  # checked above
    certificate = _read_certificate(cert_file)
    from trustd.client.errors import TrustdError

    with ctx.obj.client() as client:
        if keychain is not None:
            _add_to_store(client, certificate.der, keychain)
        try:
            client.set_trust_settings(
                "admin" if admin else "user",
                certificate.der,
                constraints,
            )
        except TrustdError as problem:
            failure = _daemon_failure(
                "SecTrustSettingsSetTrustSettings", problem, InvalidTrustSettings=PARAM
            )
            raise _with_reason(failure, problem, certificate, result) from None


def _with_reason(failure: Exception, problem: Any, certificate: Any, result: int) -> Exception:
    """errSecParam's line, then the daemon's reason, and the -r trustAsRoot hint for a
    certificate that is not self-signed given the default trustRoot."""
    from trustctl.reasons import TRUST_AS_ROOT_HINT, lines
    from trustd.client.errors import InvalidTrustSettings

    if not isinstance(failure, Failure) or not isinstance(problem, InvalidTrustSettings):
        return failure
    reason = str(problem.parameters.get("reason") or problem)
    hint = None
    if result == TRUST_ROOT and certificate.subject_der != certificate.issuer_der:
        hint = TRUST_AS_ROOT_HINT
    return Failure(lines(failure.message, reason, hint), failure.code)


def _add_to_store(client: Any, der: bytes, keychain: str) -> None:
    """-k: SecCertificateAddToKeychain (a duplicate is fine), to the store `keychain` names."""
    from trustctl.commands.certificates import keychain_domain
    from trustd.client.errors import TrustdError

    try:
        domain = keychain_domain(keychain)
    except Failure as problem:  # cssmPerror's line here: the API's name, no program name
        raise Failure(problem.message.removeprefix("trustctl: "), problem.code) from None
    try:
        client.add_certificates([der], domain)
    except TrustdError as problem:
        raise _daemon_failure("SecCertificateAddToKeychain", problem) from None


def _add_to_file(
    ctx: typer.Context,
    *,
    settings_in: str | None,
    settings_out: str,
    cert_file: str | None,
    keychain: str | None,
    constraints: Sequence[ClientConstraint],
) -> None:
    """File mode: SecTrustSettingsSetTrustSettingsExternal on the -i data (or an empty record)."""
    from trustd.plist.trust_settings import InvalidRecord, decode_record, encode_record

    if settings_in is not None:
        try:
            with open(settings_in, "rb") as handle:
                data_in = handle.read()
        except OSError:
            raise Failure(f"Error reading file {settings_in}") from None
    else:
        data_in = encode_record([])
    data_out = data_in  # no certificate: output := input
    if cert_file is not None:
        certificate = _read_certificate(cert_file)
        if keychain is not None:
            with ctx.obj.client() as client:
                _add_to_store(client, certificate.der, keychain)
        try:
            entries = decode_record(data_in)
        except InvalidRecord:
            raise Failure(f"SecTrustSettingsSetTrustSettings: {CORRUPTED}") from None
        data_out = encode_record(_replace_entry(entries, certificate, constraints))
    try:
        with open(settings_out, "wb") as handle:
            handle.write(data_out)
    except OSError as problem:
        raise Failure(
            f"Error {problem.errno} writing to {settings_out}\nError writing to {settings_out}"
        ) from None
    _say(ctx, f"...wrote {len(data_out)} bytes to {settings_out}")


def _replace_entry(
    entries: list[TrustSettingsEntry], certificate: Any, constraints: Sequence[ClientConstraint]
) -> list[TrustSettingsEntry]:
    """The record's entries with this certificate's entry replaced (validated as Apple does)."""
    from trustd.core.signatures import verify_signature
    from trustd.core.trust_settings import TrustSettingsEntry, validate_for_storage

    core = tuple(core_constraint(c) for c in constraints)
    self_signed = certificate.is_self_issued and verify_signature(certificate, certificate)
    if validate_for_storage(core, self_signed):
        raise Failure(f"SecTrustSettingsSetTrustSettings: {PARAM}")
    key = certificate.sha1.hex().upper()
    entry = TrustSettingsEntry(
        key=key,
        issuer_name=certificate.issuer_der,
        serial_number=certificate.parts.serial,
        mod_date=datetime.now(UTC).replace(microsecond=0),
        constraints=core,
    )
    kept = [e for e in entries if e.key != key]
    return [*kept, entry]


# -- remove-trusted-cert ------------------------------------------------------------------------


def remove_trusted_cert(
    ctx: typer.Context,
    cert_file: str | None = RequiredCertArgument,
    admin: bool = AdminOption,
) -> None:
    """Remove trusted certificate(s).

    Removes the certificate's whole entry from your domain (-d: admin).
    """
    if cert_file is None:
        raise UsageProblem("No cert file specified.", ctx)
    certificate = _read_certificate(cert_file)
    from trustd.client.errors import TrustdError

    with ctx.obj.client() as client:
        try:
            client.remove_trust_settings("admin" if admin else "user", certificate.sha1)
        except TrustdError as problem:
            raise _daemon_failure("SecTrustSettingsRemoveTrustSettings", problem) from None


# -- dump-trust-settings ------------------------------------------------------------------------


def policy_display(oid: str) -> str:
    """The Policy OID line's value: Apple's display name or the Unknown OID form."""
    from trustd.core.der import encode_oid
    from trustd.core.policy import POLICY_DISPLAY_NAMES

    prefix, _, arc = oid.rpartition(".")
    if prefix == APPLE_POLICY_PREFIX and arc.isdigit() and int(arc) in POLICY_DISPLAY_NAMES:
        return POLICY_DISPLAY_NAMES[int(arc)]
    try:
        content = encode_oid(oid)
    except ValueError:
        return oid
    hex_bytes = "".join(f"{byte:02X} " for byte in content)
    return f"Unknown OID length {len(content)}, value {{ {hex_bytes} }}"


def allowed_error_text(value: int) -> str:
    """printCssmErr for the allowed errors trust settings hold."""
    signed = (value + 2**31) % 2**32 - 2**31
    return ALLOWED_ERROR_TEXTS.get(signed, str(signed))


def result_text(value: int) -> str:
    """printResultType."""
    return RESULT_NAMES.get(value, f"Unknown SecTrustSettingsResult ({value})")


def key_usage_text(value: int) -> str:
    """printKeyUsage: <any>, <none> or `< Name Name  >`."""
    usage = value & 0xFFFFFFFF
    if usage == KEY_USAGE_ANY:
        return "<any>"
    if usage == 0:
        return "<none>"
    names = "".join(f"{name} " for bit, name in KEY_USAGE_NAMES if usage & bit)
    return f"< {names} >"


def _field(label: str, value: str) -> str:
    return f"{INDENT * 2}{label:<{LABEL_WIDTH}}: {value}"


def constraint_lines(constraint: Any) -> Iterator[str]:
    """The field lines of one usage constraint, in Apple's order, present keys only."""
    if constraint.policy_oid is not None:
        yield _field("Policy OID", policy_display(constraint.policy_oid))
    if constraint.application is not None:
        application = bytes(constraint.application).split(b"\0", 1)[0]
        yield _field("Application", application.decode("utf-8", "replace"))
    if constraint.policy_string is not None:
        yield _field("Policy String", constraint.policy_string)
    if constraint.allowed_error is not None:
        yield _field("Allowed Error", allowed_error_text(constraint.allowed_error))
    if constraint.result is not None:
        yield _field("Result Type", result_text(int(constraint.result)))
    if constraint.key_usage is not None:
        yield _field("Key Usage", key_usage_text(constraint.key_usage))


@dataclass(frozen=True)
class _Listed:
    """A certificate dump-trust-settings lists, with its settings."""

    sha1: str
    subject: str
    constraints: tuple[Any, ...]


def format_dump(listed: Sequence[_Listed]) -> str:
    """`security dump-trust-settings` text (without a trailing newline)."""
    lines = [f"Number of trusted certs = {len(listed)}"]
    for index, item in enumerate(listed):
        lines.append(f"Cert {index}: {item.subject}")
        lines.append(f"{INDENT}Number of trust settings : {len(item.constraints)}")
        for number, constraint in enumerate(item.constraints):
            lines.append(f"{INDENT}Trust Setting {number}:")
            lines.extend(constraint_lines(constraint))
    return "\n".join(lines)


def _subject(entry: Any) -> str:
    """The certificate's subject summary: the daemon's, which it takes from the same parser
    (so that listing needs no cryptography here), else the certificate's own."""
    if entry.subject is not None or entry.certificate is None:
        return str(entry.subject or "")
    from trustd.core.certificates import MalformedCertificate, parse_certificate

    try:
        return str(parse_certificate(entry.certificate).subject_summary)
    except MalformedCertificate:
        return str(entry.subject or "")


def _constraint_json(constraint: Any) -> dict[str, Any]:
    application = constraint.application
    return {
        "policy_oid": constraint.policy_oid,
        "policy": None if constraint.policy_oid is None else policy_display(constraint.policy_oid),
        "policy_name": constraint.policy_name,
        "policy_string": constraint.policy_string,
        "application": None if application is None else base64.b64encode(application).decode(),
        "allowed_error": constraint.allowed_error,
        "result": constraint.result,
        "key_usage": constraint.key_usage,
    }


def dump_trust_settings(
    ctx: typer.Context,
    system: bool = SystemDomainOption,
    admin: bool = AdminDomainOption,
    as_json: bool = JsonOption,
) -> None:
    """Display contents of trust settings.

    Your domain by default; -s system, -d admin (the last one given wins).  Only certificates
    trustd holds are listed.
    """
    domain = _domain(ctx)
    with ctx.obj.client() as client:
        entries = client.copy_trust_settings(domain)
    listed = [
        _Listed(e.sha1.upper(), _subject(e), tuple(e.constraints))
        for e in entries
        if e.certificate is not None
    ]
    if not listed:
        raise Failure(f"SecTrustSettingsCopyCertificates: {NO_TRUST_SETTINGS}")
    if as_json:
        emit_json(
            {
                "domain": domain,
                "certificates": [
                    {
                        "sha1": item.sha1,
                        "subject": item.subject,
                        "trust_settings": [_constraint_json(c) for c in item.constraints],
                    }
                    for item in listed
                ],
            }
        )
        return
    print(format_dump(listed))


# -- trust-settings-export / trust-settings-import ----------------------------------------------


def trust_settings_export(
    ctx: typer.Context,
    settings_file: str | None = SettingsFileArgument,
    system: bool = SystemDomainOption,
    admin: bool = AdminDomainOption,
) -> None:
    """Export trust settings.

    Writes your domain's whole record (-d admin, -s system) as a trust-settings XML plist.
    """
    if settings_file is None:
        raise UsageProblem("", ctx)
    domain = _domain(ctx)
    call = "SecTrustSettingsCreateExternalRepresentation"
    from trustd.client.errors import TrustdError

    with ctx.obj.client() as client:
        try:
            data = client.export_trust_settings(domain)
        except TrustdError as problem:
            raise _daemon_failure(call, problem) from None
    try:
        with open(settings_file, "wb") as handle:
            handle.write(data)
    except OSError as problem:
        raise Failure(f"Error ({problem.errno}) writing {settings_file}.") from None
    _say(ctx, "...Trust Settings exported successfully.")


def trust_settings_import(
    ctx: typer.Context,
    settings_file: str | None = SettingsFileArgument,
    admin: bool = AdminOption,
) -> None:
    """Import trust settings.

    Replaces your whole domain (-d: admin) with the plist's record.
    """
    if settings_file is None:
        raise UsageProblem("", ctx)
    try:
        with open(settings_file, "rb") as handle:
            data = handle.read()
    except OSError as problem:
        raise Failure(f"Error ({problem.errno}) reading {settings_file}.") from None
    from trustd.client.errors import TrustdError

    with ctx.obj.client() as client:
        try:
            client.import_trust_settings("admin" if admin else "user", data)
        except TrustdError as problem:
            raise _daemon_failure(
                "SecTrustSettingsImportExternalRepresentation",
                problem,
                InvalidTrustSettings=CORRUPTED,
            ) from None
    _say(ctx, "...Trust Settings imported successfully.")
