"""`trustctl export-bundle`: what trustd trusts, as files for programs that only read files.

Like p11-kit's `trust extract`, it writes the anchors trustd would end a path at for one policy
(ssl by default), as the daemon's `ListAnchors` answers for the calling user: system anchors
that no trust setting denies for the policy, plus certificates whose admin or user trust
settings make them roots for it.  Certificates trusted only for one host, or only for another
policy, are left out, as they are in evaluation.

Formats:
- `pem-bundle` (default): one file of PEM certificates, for `SSL_CERT_FILE`, curl's `--cacert`,
  requests' `REQUESTS_CA_BUNDLE`; `-` writes to standard output.
- `openssl-directory`: a directory of `<subject hash>.<n>` PEM files, for OpenSSL's `-CApath`
  and `SSL_CERT_DIR` (trustctl.openssl_dir computes OpenSSL's hash).
- `openssl-trusted`: OpenSSL's TRUSTED CERTIFICATE blocks carrying per-purpose trust and
  rejects (serverAuth, clientAuth, emailProtection, codeSigning), for every purpose at once
  (`--policy` does not apply): each anchor is trusted for the purposes it ends paths for, and a
  certificate a trust setting denies for a purpose is rejected for it, so the file also vetoes
  that root where OpenSSL finds it elsewhere.  Written by `openssl x509 -trustout`.
- `java-truststore`: a PKCS#12 truststore (Java's trusted-certificate entries, alias = subject
  and digest) for `-Djavax.net.ssl.trustStore`, protected by `--storepass` (default
  changeit); written by cryptography.

Files are written whole and renamed into place, so a reader never sees half a bundle.  An
existing output is replaced only with `--overwrite` (in a directory, only hash files are
removed).  `--comment` puts each certificate's subject summary and origin above it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from trustctl.common import core_constraint, flag, value
from trustctl.errors import Failure
from trustctl.output import emit_json

if TYPE_CHECKING:
    from trustd.client.models import StoredCertificate, TrustSettingsEntry
    from trustd.client.sync import Client
    from trustd.projection.model import Purpose


class BundleFormat(StrEnum):
    PEM_BUNDLE = "pem-bundle"
    OPENSSL_DIRECTORY = "openssl-directory"
    OPENSSL_TRUSTED = "openssl-trusted"
    JAVA_TRUSTSTORE = "java-truststore"


OutputArgument = typer.Argument(
    ..., metavar="OUTPUT", help="File or directory to write; - for standard output (pem-bundle)."
)
PolicyOption = value(
    "-p", "--policy", metavar="policy", help="Policy the anchors are trusted for.", default="ssl"
)
FormatOption = value("-f", "--format", help="Output format.", default=BundleFormat.PEM_BUNDLE)
CommentOption = flag("--comment", help="Precede each certificate by its name.")
OverwriteOption = flag("--overwrite", help="Replace an existing output.")
JsonOption = flag("--json", help="Print what was written as JSON.")
StorepassOption = value(
    "--storepass", metavar="password", help="java-truststore: its password.", default="changeit"
)


def register(app: typer.Typer) -> None:
    app.command("export-bundle")(export_bundle)


def _comment(anchor: StoredCertificate) -> str:
    return f"# {anchor.subject} (trusted by the {anchor.source} domain)\n"


def render_bundle(anchors: Sequence[StoredCertificate], *, comment: bool) -> str:
    from trustd.certfiles import pem_armour

    return "".join((_comment(a) if comment else "") + pem_armour(a.certificate) for a in anchors)


def _write_file(path: Path, data: str | bytes) -> None:
    """Write a sibling temporary file and rename it over `path`."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            if isinstance(data, str):
                data = data.encode()
            out.write(data)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _write_directory(
    path: Path, anchors: Sequence[StoredCertificate], *, comment: bool, overwrite: bool
) -> None:
    from trustctl.openssl_dir import hashed_names, is_hash_file
    from trustd.core.certificates import parse_certificate

    if path.exists() and not path.is_dir():
        raise Failure(f"trustctl: {path}: not a directory")
    path.mkdir(parents=True, exist_ok=True)
    stale = [entry for entry in path.iterdir() if is_hash_file(entry.name)]
    if stale and not overwrite:
        raise Failure(f"trustctl: {path}: already holds certificates (use --overwrite)")
    from trustd.certfiles import pem_armour

    subjects = [parse_certificate(a.certificate).subject_der for a in anchors]
    names = list(hashed_names(subjects))
    from trustctl.progress import progress

    with progress(list(zip(names, anchors, strict=True)), "Writing certificates") as steps:
        for name, anchor in steps:
            text = (_comment(anchor) if comment else "") + pem_armour(anchor.certificate)
            _write_file(path / name, text)
    for entry in stale:
        if entry.name not in names:
            entry.unlink()


def _rejected_purposes(client: Client) -> dict[str, tuple[bytes, frozenset[Purpose]]]:
    """SHA-1 -> (certificate, purposes its trust settings deny) for the caller: the admin
    domain's entry where there is one, else the caller's own, as evaluation chooses."""
    from trustd.client.errors import NoTrustSettings
    from trustd.core.certificates import parse_certificate
    from trustd.core.evaluate import Evaluator
    from trustd.core.trust_settings import Domain, TrustSettings
    from trustd.projection.model import decisions

    chosen: dict[str, tuple[Domain, TrustSettingsEntry]] = {}
    for domain in (Domain.USER, Domain.ADMIN):  # admin last: it wins
        try:
            entries = client.copy_trust_settings(domain.value)
        except NoTrustSettings:
            continue
        for entry in entries:
            if entry.certificate is not None:
                chosen[entry.sha1.upper()] = (domain, entry)
    evaluator = Evaluator()
    found = {}
    for sha1, (domain, entry) in chosen.items():
        assert entry.certificate is not None
        constraints = tuple(core_constraint(c) for c in entry.constraints)
        cert = parse_certificate(entry.certificate)
        _, rejected = decisions(TrustSettings(domain, constraints), evaluator.is_self_signed(cert))
        if rejected:
            found[sha1] = (entry.certificate, rejected)
    return found


def render_trusted(client: Client) -> tuple[bytes, list[StoredCertificate]]:
    """The openssl-trusted file: every purpose's anchors and every denied certificate."""
    from trustd.client.models import Policy
    from trustd.projection.formats import openssl_trusted
    from trustd.projection.model import Purpose

    policies = {
        Purpose.SERVER_AUTH: Policy.ssl(),
        Purpose.CLIENT_AUTH: Policy.ssl(client=True),
        Purpose.EMAIL_PROTECTION: Policy("smime"),
        Purpose.CODE_SIGNING: Policy("codeSign"),
    }
    anchors: dict[str, StoredCertificate] = {}
    trusted: dict[str, set[Purpose]] = {}
    for purpose, policy in policies.items():
        for anchor in client.list_anchors(policy):
            anchors.setdefault(anchor.sha1.upper(), anchor)
            trusted.setdefault(anchor.sha1.upper(), set()).add(purpose)
    rejected = _rejected_purposes(client)
    out = []
    for sha1 in sorted(set(anchors) | set(rejected), key=lambda k: (k not in anchors, k)):
        der = anchors[sha1].certificate if sha1 in anchors else rejected[sha1][0]
        alias = anchors[sha1].subject if sha1 in anchors else None
        denied = rejected.get(sha1, (b"", frozenset()))[1] - trusted.get(sha1, set())
        out.append(openssl_trusted(der, trusted.get(sha1, set()), denied, alias))
    return b"".join(out), list(anchors.values())


def _render(
    fmt: BundleFormat,
    anchors: Sequence[StoredCertificate],
    trusted_text: bytes,
    *,
    comment: bool,
    storepass: str,
) -> str | bytes:
    """The one file `fmt` writes: a PEM bundle, OpenSSL TRUSTED CERTIFICATEs, a truststore."""
    if fmt is BundleFormat.PEM_BUNDLE:
        return render_bundle(anchors, comment=comment)
    if fmt is BundleFormat.OPENSSL_TRUSTED:
        return trusted_text
    from trustd.projection.formats import java_truststore

    return java_truststore(
        [(f"{a.subject} [{a.sha256[:12]}]", a.certificate) for a in anchors], storepass.encode()
    )


def export_bundle(
    ctx: typer.Context,
    *,
    output: str = OutputArgument,
    policy: str = PolicyOption,
    fmt: BundleFormat = FormatOption,
    comment: bool = CommentOption,
    overwrite: bool = OverwriteOption,
    as_json: bool = JsonOption,
    storepass: str = StorepassOption,
) -> None:
    """Write the anchors trusted for a policy as a PEM bundle, an OpenSSL directory, OpenSSL
    TRUSTED CERTIFICATEs (every purpose) or a Java PKCS#12 truststore."""
    from trustd.client.errors import UnknownPolicy

    trusted_text = b""
    with ctx.obj.client() as client:
        try:
            if fmt is BundleFormat.OPENSSL_TRUSTED:
                trusted_text, anchors = render_trusted(client)
            else:
                anchors = list(client.list_anchors(policy))
        except UnknownPolicy:
            raise Failure(f"*** policy creation failed for {policy}") from None
    target = Path(output)
    if fmt is BundleFormat.OPENSSL_DIRECTORY:
        if output == "-":
            raise Failure("trustctl: openssl-directory needs a directory, not -", 2)
        try:
            _write_directory(target, anchors, comment=comment, overwrite=overwrite)
        except OSError as problem:
            raise Failure(f"Error ({problem.errno}) writing {target}.") from None
    else:
        if output == "-" and fmt is BundleFormat.JAVA_TRUSTSTORE:
            raise Failure("trustctl: java-truststore needs an output file, not -", 2)
        if output == "-" and fmt is BundleFormat.PEM_BUNDLE and as_json:
            raise Failure("trustctl: --json needs an output file, not -", 2)
        data = _render(fmt, anchors, trusted_text, comment=comment, storepass=storepass)
        if output == "-":
            print(data if isinstance(data, str) else data.decode(), end="")
            return
        if target.exists() and not overwrite:
            raise Failure(f"trustctl: {target}: already exists (use --overwrite)")
        try:
            _write_file(target, data)
        except OSError as problem:
            raise Failure(f"Error ({problem.errno}) writing {target}.") from None
    if as_json:
        emit_json(
            {
                "policy": policy,
                "format": str(fmt),
                "output": str(target),
                "certificates": [
                    {"sha1": a.sha1, "subject": a.subject, "domain": a.source} for a in anchors
                ],
            }
        )
    elif not ctx.obj.quiet:
        from trustctl.commands.certificates import count_text

        print(f"{count_text(len(anchors))} written to {target}.")
