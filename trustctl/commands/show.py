"""trustctl show-cert: a certificate the way a person reads it (TN2232's "Displaying Certificates").

The argument is a file (PEM, DER, PKCS#7 or PKCS#12, as `import` reads them; the first
certificate) or a SHA-1 or SHA-256 fingerprint (hex, colons and spaces allowed) of a certificate
trustd knows: in its store, a system anchor, or one with trust settings.

Shown: the subject summary, subject and issuer, serial number, validity with the time left,
subject alternative names, key type and size, signature algorithm, key usage, extended key
usage, basic and name constraints, AIA (CA issuers, OCSP) and CRL locations, key identifiers,
SHA-1 and SHA-256 fingerprints, and what trustd knows of it: whether it is a system anchor,
the trust settings the admin domain and your own domain hold for it (each usage constraint:
its result, the policy, name, application, key usage it is limited to, the error it allows),
and whether it is in trustd's certificate store.  A file is shown even when trustd is not
running (a warning says the trust part is missing); `--json` gives the same for tools.
"""

from __future__ import annotations

import base64
import hashlib
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from trustctl.common import JSON
from trustctl.errors import Failure
from trustctl.output import emit_json

if TYPE_CHECKING:
    from cryptography import x509

    from trustd.client import Client
    from trustd.client.models import TrustSettingsEntry, UsageConstraint
    from trustd.core.certificates import Certificate

HEX_DIGITS = re.compile(r"[0-9a-fA-F]+")
DIGEST_LENGTHS = {40: "sha1", 64: "sha256"}
LABEL_WIDTH = 28
DOMAINS = ("admin", "user")  # settings domains shown, in precedence order

# kSecTrustSettingsResult values, by name (a missing result means TrustRoot).
RESULTS = {0: "Invalid", 1: "TrustRoot", 2: "TrustAsRoot", 3: "Deny", 4: "Unspecified"}

KEY_USAGES = (
    ("digital_signature", "digitalSignature"),
    ("content_commitment", "nonRepudiation"),
    ("key_encipherment", "keyEncipherment"),
    ("data_encipherment", "dataEncipherment"),
    ("key_agreement", "keyAgreement"),
    ("key_cert_sign", "keyCertSign"),
    ("crl_sign", "cRLSign"),
)
EXTENDED_KEY_USAGES = {
    "1.3.6.1.5.5.7.3.1": "serverAuth",
    "1.3.6.1.5.5.7.3.2": "clientAuth",
    "1.3.6.1.5.5.7.3.3": "codeSigning",
    "1.3.6.1.5.5.7.3.4": "emailProtection",
    "1.3.6.1.5.5.7.3.5": "ipsecEndSystem",
    "1.3.6.1.5.5.7.3.6": "ipsecTunnel",
    "1.3.6.1.5.5.7.3.7": "ipsecUser",
    "1.3.6.1.5.5.7.3.8": "timeStamping",
    "1.3.6.1.5.5.7.3.9": "OCSPSigning",
    "1.3.6.1.5.5.7.3.17": "ipsecIKE",
    "2.5.29.37.0": "anyExtendedKeyUsage",
}

SIGNATURE_ALGORITHMS = {
    "1.2.840.113549.1.1.4": "md5WithRSAEncryption",
    "1.2.840.113549.1.1.5": "sha1WithRSAEncryption",
    "1.2.840.113549.1.1.11": "sha256WithRSAEncryption",
    "1.2.840.113549.1.1.12": "sha384WithRSAEncryption",
    "1.2.840.113549.1.1.13": "sha512WithRSAEncryption",
    "1.2.840.113549.1.1.10": "RSASSA-PSS",
    "1.2.840.10045.4.1": "ecdsa-with-SHA1",
    "1.2.840.10045.4.3.2": "ecdsa-with-SHA256",
    "1.2.840.10045.4.3.3": "ecdsa-with-SHA384",
    "1.2.840.10045.4.3.4": "ecdsa-with-SHA512",
    "1.3.101.112": "Ed25519",
    "1.3.101.113": "Ed448",
}

CertificateArgument = typer.Argument(
    ...,
    metavar="FILE|SHA1|SHA256",
    help="A certificate file, or the fingerprint of one trustd knows.",
)
JsonOption = JSON


def register(app: typer.Typer) -> None:
    """Add the show-cert command to the trustctl app."""
    app.command("show-cert")(show_cert)


# -- what a certificate says ----------------------------------------------------------------------


def fingerprint(data: bytes) -> str:
    """Upper-case hex bytes joined by colons."""
    return ":".join(f"{byte:02X}" for byte in data)


def span(delta: timedelta) -> str:
    """A duration as people say it: days, else hours, else minutes."""
    seconds = int(delta.total_seconds())
    if seconds >= 2 * 86400:
        return f"{seconds // 86400} days"
    if seconds >= 2 * 3600:
        return f"{seconds // 3600} hours"
    minutes = max(seconds // 60, 0)
    return f"{minutes} minute" + ("" if minutes == 1 else "s")


def validity_state(not_before: datetime, not_after: datetime, now: datetime) -> tuple[str, str]:
    """("valid" | "expired" | "not yet valid", the time left or since, in words)."""
    if now < not_before:
        return "not yet valid", f"not yet valid: starts in {span(not_before - now)}"
    if now > not_after:
        return "expired", f"expired {span(now - not_after)} ago"
    return "valid", f"expires in {span(not_after - now)}"


# OpenSSL's prefix for each kind of general name (cryptography's class names)
GENERAL_NAME_PREFIXES = {
    "DNSName": "DNS",
    "IPAddress": "IP",
    "RFC822Name": "email",
    "UniformResourceIdentifier": "URI",
    "DirectoryName": "DirName",
    "RegisteredID": "RID",
}


def general_name(name: x509.GeneralName) -> str:
    """A general name as OpenSSL prints one (DNS:, IP:, email:, URI:, DirName:)."""
    from cryptography import x509

    if isinstance(name, x509.OtherName):
        return f"othername:{name.type_id.dotted_string}"
    prefix = GENERAL_NAME_PREFIXES.get(type(name).__name__)
    if prefix is None:
        return str(name)
    value = name.value
    if isinstance(value, x509.Name):
        value = value.rfc4514_string()
    elif isinstance(value, x509.ObjectIdentifier):
        value = value.dotted_string
    return f"{prefix}:{value}"


def _key_usages(usage: x509.KeyUsage) -> list[str]:
    names = [label for attribute, label in KEY_USAGES if getattr(usage, attribute)]
    if usage.key_agreement:
        names += ["encipherOnly"] if usage.encipher_only else []
        names += ["decipherOnly"] if usage.decipher_only else []
    return names


def _signature_algorithm(cert: Certificate) -> str:
    """The signature algorithm's usual name, else its hash and OID."""
    from trustd.core.checks import signature_hash_name

    oid = cert.x509.signature_algorithm_oid.dotted_string
    if oid in SIGNATURE_ALGORITHMS:
        return SIGNATURE_ALGORITHMS[oid]
    hashed = signature_hash_name(cert)
    return f"{hashed.upper() if hashed else 'unknown hash'} ({oid})"


def certificate_facts(der: bytes, now: datetime) -> dict[str, Any]:
    """Everything show-cert shows of the certificate itself, as JSON-ready values."""
    from cryptography import x509
    from cryptography.x509.oid import ExtensionOID

    from trustd.core.certificates import parse_certificate

    cert = parse_certificate(der)
    state, left = validity_state(cert.not_before, cert.not_after, now)
    key = cert.key_facts
    names = cert.subject_alt_names
    usage = cert.key_usage
    eku = cert.extension(x509.ExtendedKeyUsage)
    constraints = cert.basic_constraints
    limits = cert.name_constraints
    aki = cert.authority_key_id
    ski = cert.subject_key_identifier
    return {
        "subject_summary": cert.subject_summary,
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "self_issued": cert.is_self_issued,
        "serial_number": fingerprint(cert.parts.serial),
        "version": cert.x509.version.value + 1,
        "not_before": cert.not_before.isoformat(),
        "not_after": cert.not_after.isoformat(),
        "validity": {
            "state": state,
            "text": left,
            "seconds_left": int((cert.not_after - now).total_seconds()),
        },
        "subject_alternative_names": [] if names is None else [general_name(n) for n in names],
        "public_key": {"algorithm": key.algorithm, "bits": key.bits, "curve": key.curve},
        "signature_algorithm": _signature_algorithm(cert),
        "key_usage": None
        if usage is None
        else {
            "usages": _key_usages(usage),
            "critical": cert.is_critical(ExtensionOID.KEY_USAGE),
        },
        "extended_key_usage": None
        if eku is None
        else {
            "usages": [
                EXTENDED_KEY_USAGES.get(oid.dotted_string, oid.dotted_string) for oid in eku.value
            ],
            "critical": eku.critical,
        },
        "basic_constraints": None
        if constraints is None
        else {
            "ca": constraints.ca,
            "path_length": constraints.path_length,
            "critical": cert.is_critical(ExtensionOID.BASIC_CONSTRAINTS),
        },
        "name_constraints": None
        if limits is None
        else {
            "permitted": [general_name(n) for n in limits.permitted_subtrees or ()],
            "excluded": [general_name(n) for n in limits.excluded_subtrees or ()],
            "critical": cert.is_critical(ExtensionOID.NAME_CONSTRAINTS),
        },
        "ca_issuers": list(cert.ca_issuer_urls),
        "ocsp": list(cert.ocsp_urls),
        "crl_distribution_points": list(cert.crl_urls),
        "subject_key_identifier": None if ski is None else fingerprint(ski),
        "authority_key_identifier": None if aki is None else fingerprint(aki),
        "sha1": fingerprint(hashlib.sha1(der).digest()),
        "sha256": fingerprint(hashlib.sha256(der).digest()),
    }


def _critical(part: dict[str, Any]) -> str:
    return " (critical)" if part["critical"] else ""


def _field(label: str, value: str) -> str:
    return f"  {label + ':':<{LABEL_WIDTH}}{value}"


def certificate_lines(facts: dict[str, Any]) -> list[str]:
    """The certificate part of show-cert's text."""
    key = facts["public_key"]
    key_text = f"{key['algorithm']} {key['bits']} bits" + (
        f" ({key['curve']})" if key["curve"] else ""
    )
    validity = facts["validity"]
    names = facts["subject_alternative_names"]
    lines = [
        facts["subject_summary"] or "(no subject)",
        _field("Subject", facts["subject"] or "(empty)"),
        _field("Issuer", facts["issuer"] + ("  (self-issued)" if facts["self_issued"] else "")),
        _field("Serial number", facts["serial_number"]),
        _field("Not before", _when(facts["not_before"])),
        _field("Not after", f"{_when(facts['not_after'])}  ({validity['text']})"),
        _field("Subject alternative names", ", ".join(names) or "none"),
        _field("Public key", key_text),
        _field("Signature algorithm", facts["signature_algorithm"]),
    ]
    usage = facts["key_usage"]
    if usage is not None:
        lines.append(_field("Key usage", ", ".join(usage["usages"]) + _critical(usage)))
    eku = facts["extended_key_usage"]
    if eku is not None:
        lines.append(_field("Extended key usage", ", ".join(eku["usages"]) + _critical(eku)))
    constraints = facts["basic_constraints"]
    if constraints is not None:
        text = "CA" if constraints["ca"] else "not a CA"
        if constraints["path_length"] is not None:
            text += f", path length {constraints['path_length']}"
        lines.append(_field("Basic constraints", text + _critical(constraints)))
    limits = facts["name_constraints"]
    if limits is not None:
        permitted = ", ".join(limits["permitted"]) or "none"
        excluded = ", ".join(limits["excluded"]) or "none"
        text = f"permitted {permitted}; excluded {excluded}"
        lines.append(_field("Name constraints", text + _critical(limits)))
    for label, key_name in (
        ("CA issuers (AIA)", "ca_issuers"),
        ("OCSP (AIA)", "ocsp"),
        ("CRL distribution points", "crl_distribution_points"),
    ):
        if facts[key_name]:
            lines.append(_field(label, ", ".join(facts[key_name])))
    for label, key_name in (
        ("Subject key ID", "subject_key_identifier"),
        ("Authority key ID", "authority_key_identifier"),
    ):
        if facts[key_name] is not None:
            lines.append(_field(label, facts[key_name]))
    lines.append(_field("SHA-1", facts["sha1"]))
    lines.append(_field("SHA-256", facts["sha256"]))
    return lines


def _when(text: str) -> str:
    return datetime.fromisoformat(text).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


# -- what trustd knows of it ----------------------------------------------------------------------


def constraint_text(constraint: UsageConstraint) -> str:
    """One usage constraint in words: its result, what it is limited to, the error it allows."""
    from trustctl.commands.trust_settings import (
        allowed_error_text,
        key_usage_text,
        policy_display,
    )

    result = 1 if constraint.result is None else constraint.result
    scope = []
    if constraint.policy_oid is not None:
        scope.append(f"policy {policy_display(constraint.policy_oid)}")
    elif constraint.policy_name is not None:
        scope.append(f"policy {constraint.policy_name}")
    if constraint.policy_string is not None:
        scope.append(f"name {constraint.policy_string.rstrip(chr(0))}")
    if constraint.application is not None:
        application = bytes(constraint.application).split(b"\0", 1)[0]
        scope.append(f"application {application.decode('utf-8', 'replace')}")
    if constraint.key_usage is not None:
        scope.append(f"key usage {key_usage_text(constraint.key_usage)}")
    text = RESULTS.get(result, f"result {result}")
    text += f" for {', '.join(scope)}" if scope else " for every use"
    if constraint.allowed_error is not None:
        text += f", allowing {allowed_error_text(constraint.allowed_error)}"
    return text


def _constraint_json(constraint: UsageConstraint) -> dict[str, Any]:
    application = constraint.application
    return {
        "result": constraint.result,
        "policy_oid": constraint.policy_oid,
        "policy_name": constraint.policy_name,
        "policy_string": constraint.policy_string,
        "application": None if application is None else base64.b64encode(application).decode(),
        "allowed_error": constraint.allowed_error,
        "key_usage": constraint.key_usage,
        "text": constraint_text(constraint),
    }


@dataclass(frozen=True, slots=True)
class Trust:
    """What trustd knows of one certificate."""

    system_anchor: bool
    settings: dict[str, tuple[UsageConstraint, ...] | None]  # per domain; None: no entry
    stored_source: str | None  # its source in trustd's store, None: not stored

    def as_json(self) -> dict[str, Any]:
        return {
            "system_anchor": self.system_anchor,
            "trust_settings": {
                domain: None if found is None else [_constraint_json(c) for c in found]
                for domain, found in self.settings.items()
            },
            "stored": self.stored_source is not None,
            "source": self.stored_source,
        }


def settings_lines(domain: str, constraints: Sequence[UsageConstraint] | None) -> list[str]:
    """A domain's trust settings for the certificate, one line per usage constraint."""
    label = {"admin": "Admin domain", "user": "Your domain"}.get(domain, domain)
    if constraints is None:
        return [_field(label, "no trust settings")]
    if not constraints:
        return [_field(label, "an empty array: TrustRoot for every use (if self-signed)")]
    return [
        _field(label, f"{index}: {constraint_text(constraint)}")
        if index == 0
        else " " * (2 + LABEL_WIDTH) + f"{index}: {constraint_text(constraint)}"
        for index, constraint in enumerate(constraints)
    ]


def trust_lines(trust: Trust) -> list[str]:
    """The trust part of show-cert's text."""
    system = (
        "a system anchor (in the operating system's CA bundle)"
        if trust.system_anchor
        else "not in the system CA bundle"
    )
    lines = ["Trust", _field("System", system)]
    for domain in DOMAINS:
        lines.extend(settings_lines(domain, trust.settings.get(domain)))
    stored = (
        f"in trustd's certificate store (source: {trust.stored_source})"
        if trust.stored_source is not None
        else "not in trustd's certificate store"
    )
    lines.append(_field("Store", stored))
    return lines


# -- finding the certificate ----------------------------------------------------------------------


def parse_digest(text: str) -> tuple[str, str] | None:
    """("sha1" | "sha256", lower-case hex) for a fingerprint, None if it is none."""
    compact = re.sub(r"[\s:]", "", text)
    if not HEX_DIGITS.fullmatch(compact) or len(compact) not in DIGEST_LENGTHS:
        return None
    return DIGEST_LENGTHS[len(compact)], compact.lower()


def read_file(path: Path) -> bytes:
    """The first certificate of a file, as DER."""
    from trustd.certfiles import FormatError, read_certificates

    try:
        data = path.read_bytes()
    except OSError as problem:
        raise Failure(f"trustctl: {path}: {problem.strerror}") from None
    try:
        found = read_certificates(data)
    except FormatError as problem:
        raise Failure(f"trustctl: {path}: {problem}") from None
    if not found:
        raise Failure(f"trustctl: {path}: no certificate in the file")
    return found[0]


def _matches(der: bytes, kind: str, digest: str) -> bool:
    return hashlib.new(kind, der).hexdigest() == digest


def trust_of(client: Client, der: bytes, entries: dict[str, Sequence[TrustSettingsEntry]]) -> Trust:
    """What trustd knows of the certificate, from its store and its domains' entries."""
    sha1 = hashlib.sha1(der).hexdigest().upper()
    settings: dict[str, tuple[UsageConstraint, ...] | None] = {}
    for domain in DOMAINS:
        mine = [e for e in entries[domain] if e.sha1.upper() == sha1]
        settings[domain] = mine[0].constraints if mine else None
    stored = client.find_certificates(sha1=sha1)
    return Trust(
        system_anchor=any(e.sha1.upper() == sha1 for e in entries["system"]),
        settings=settings,
        stored_source=stored[0].source if stored else None,
    )


def domain_entries(client: Client) -> dict[str, Sequence[TrustSettingsEntry]]:
    return {domain: client.copy_trust_settings(domain) for domain in ("system", *DOMAINS)}


def known_certificate(
    client: Client, kind: str, digest: str, entries: dict[str, Sequence[TrustSettingsEntry]]
) -> bytes | None:
    """A certificate trustd knows by fingerprint: stored, a system anchor, or with settings."""
    stored = client.find_certificates(**{kind: digest})
    if stored:
        return stored[0].certificate
    for listed in entries.values():
        for entry in listed:
            if entry.certificate is not None and _matches(entry.certificate, kind, digest):
                return entry.certificate
    return None


# -- the command ----------------------------------------------------------------------------------


def show_cert(
    ctx: typer.Context,
    certificate: str = CertificateArgument,
    as_json: bool = JsonOption,
) -> None:
    """Display a certificate: names, validity, key, extensions, fingerprints and its trust."""
    from trustd.client.errors import TrustdError

    path = Path(certificate)
    digest = None if path.exists() else parse_digest(certificate)
    if digest is None and not path.exists():
        raise Failure(f"trustctl: {certificate}: no such file, and not a SHA-1 or SHA-256")
    trust: Trust | None = None
    problem: str | None = None
    if digest is None:
        der = read_file(path)
        try:
            with ctx.obj.client() as client:
                trust = trust_of(client, der, domain_entries(client))
        except TrustdError as failed:
            problem = str(failed)
    else:
        kind, value = digest
        with ctx.obj.client() as client:
            entries = domain_entries(client)
            found = known_certificate(client, kind, value, entries)
            if found is None:
                raise Failure(f"trustctl: no certificate with {kind.upper()} {value} is known")
            der = found
            trust = trust_of(client, der, entries)
    try:
        facts = certificate_facts(der, datetime.now(UTC))
    except ValueError as failed:
        raise Failure(f"trustctl: {certificate}: cannot be shown: {failed}") from None
    if as_json:
        emit_json({**facts, "trust": None if trust is None else trust.as_json()})
    else:
        print("\n".join(certificate_lines(facts)))
        if trust is not None:
            print("\n".join(trust_lines(trust)))
    if problem is not None:
        print(f"trustctl: trust unknown: {problem}", file=sys.stderr)
