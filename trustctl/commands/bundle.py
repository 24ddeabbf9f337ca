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

from trustctl.errors import Failure
from trustctl.output import emit_json

if TYPE_CHECKING:
    from trustd.client.models import StoredCertificate


class BundleFormat(StrEnum):
    PEM_BUNDLE = "pem-bundle"
    OPENSSL_DIRECTORY = "openssl-directory"


OutputArgument = typer.Argument(
    ..., metavar="OUTPUT", help="File or directory to write; - for standard output (pem-bundle)."
)
PolicyOption = typer.Option(
    "ssl", "-p", "--policy", metavar="policy", help="Policy the anchors are trusted for."
)
FormatOption = typer.Option(BundleFormat.PEM_BUNDLE, "-f", "--format", help="Output format.")
CommentOption = typer.Option(False, "--comment", help="Precede each certificate by its name.")
OverwriteOption = typer.Option(False, "--overwrite", help="Replace an existing output.")
JsonOption = typer.Option(False, "--json", help="Print what was written as JSON.")


def register(app: typer.Typer) -> None:
    app.command("export-bundle")(export_bundle)


def _comment(anchor: StoredCertificate) -> str:
    return f"# {anchor.subject} (trusted by the {anchor.source} domain)\n"


def render_bundle(anchors: Sequence[StoredCertificate], *, comment: bool) -> str:
    from trustd.certfiles import pem_armour

    return "".join((_comment(a) if comment else "") + pem_armour(a.certificate) for a in anchors)


def _write_file(path: Path, data: str) -> None:
    """Write a sibling temporary file and rename it over `path`."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w") as out:
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


def export_bundle(
    ctx: typer.Context,
    *,
    output: str = OutputArgument,
    policy: str = PolicyOption,
    fmt: BundleFormat = FormatOption,
    comment: bool = CommentOption,
    overwrite: bool = OverwriteOption,
    as_json: bool = JsonOption,
) -> None:
    """Write the anchors trusted for a policy as a PEM bundle or an OpenSSL directory."""
    from trustd.client.errors import UnknownPolicy

    with ctx.obj.client() as client:
        try:
            anchors = client.list_anchors(policy)
        except UnknownPolicy:
            raise Failure(f"*** policy creation failed for {policy}") from None
    target = Path(output)
    if fmt is BundleFormat.PEM_BUNDLE:
        text = render_bundle(anchors, comment=comment)
        if output == "-":
            if as_json:
                raise Failure("trustctl: --json needs an output file, not -", 2)
            print(text, end="")
            return
        if target.exists() and not overwrite:
            raise Failure(f"trustctl: {target}: already exists (use --overwrite)")
        try:
            _write_file(target, text)
        except OSError as problem:
            raise Failure(f"Error ({problem.errno}) writing {target}.") from None
    else:
        if output == "-":
            raise Failure("trustctl: openssl-directory needs a directory, not -", 2)
        try:
            _write_directory(target, anchors, comment=comment, overwrite=overwrite)
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
