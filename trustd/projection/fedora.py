"""Fedora, RHEL, CentOS: the projection as sources of `update-ca-trust`.

update-ca-trust(8) documents the sources under /etc/pki/ca-trust/source: files in the extended
BEGIN TRUSTED CERTIFICATE format directly in source/ (read by p11-kit with their per-purpose
trust and rejects), and distrusted certificates in source/blocklist/.  So:

- a certificate trustd trusts or rejects for some purposes becomes
  source/trustd-<name>.pem, a TRUSTED CERTIFICATE carrying exactly those purposes: a root trusted
  for S/MIME only reaches the e-mail bundle and not the TLS one; a system root denied for TLS
  is rejected for serverAuth (and only that);
- a certificate denied for every purpose (or known only by its digest: then no file can name it,
  which is reported) is put in source/blocklist/trustd-<name>.pem.

Then `update-ca-trust extract` rebuilds /etc/pki/ca-trust/extracted (the PEM bundles, the
OpenSSL directory, Java's cacerts, the EDK2 store).  Only files named trustd-* are trustd's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from trustd.projection import files
from trustd.projection.formats import openssl_trusted
from trustd.projection.model import Projected, Projection, Purpose

PREFIX = "trustd-"


@dataclass(frozen=True, slots=True)
class FedoraLayout:
    source: Path = Path("/etc/pki/ca-trust/source")
    distribution: Path = Path("/usr/share/pki/ca-trust-source")
    command: tuple[str, ...] = ("update-ca-trust", "extract")

    @property
    def blocklist(self) -> Path:
        return self.source / "blocklist"

    def configured(self) -> bool:
        return self.source.is_dir()

    def own_additions(self) -> files.OwnAdditions:
        # Only trustd-* files of source/ are trustd's; source/anchors/ is the administrator's.
        others = (str(self.distribution), str(self.source / "anchors"))
        return files.OwnAdditions(own=(str(self.source),), others=others, own_prefix=PREFIX)


class FedoraOutput(files.ToolOutput[FedoraLayout]):
    name = "fedora"

    def wanted(self, projection: Projection) -> tuple[dict[str, bytes], dict[str, bytes]]:
        """The files trustd's sources should be: (in source/, in source/blocklist/)."""
        trusted: dict[str, bytes] = {}
        blocked: dict[str, bytes] = {}
        warnings = []
        distribution = self._distribution() if projection.certificates else frozenset()
        for p in projection.certificates:
            if p.certificate is None:
                warnings.append(f"{p.label} is denied but trustd does not hold the certificate")
                continue
            name = files.file_name(p.certificate, PREFIX) + ".pem"
            if p.rejected == set(Purpose) and not p.trusted:
                blocked[name] = files.pem(p.certificate)
            elif p.certificate.sha256 in distribution:
                # p11-kit reads the purposes of a TRUSTED CERTIFICATE as the only ones: for a
                # system anchor, every purpose its trust settings do not reject (evaluation
                # falls back to the system anchor where they decide nothing).
                everything = frozenset(Purpose) - p.rejected
                trusted[name] = _trusted(replace(p, trusted=everything))
            else:
                trusted[name] = _trusted(p)
        self.warnings = warnings
        return trusted, blocked

    def _distribution(self) -> frozenset[bytes]:
        """SHA-256s of the certificates of the distribution's and the administrator's sources."""
        layout = self.layout
        found: set[bytes] = set()
        for path in files.source_files(layout.distribution):
            found |= files.file_digests(path).sha256
        for path in files.source_files(layout.source):
            if not path.name.startswith(PREFIX):
                found |= files.file_digests(path).sha256
        return frozenset(found)

    def apply(self, projection: Projection) -> bool:
        trusted, blocked = self.wanted(projection)
        layout = self.layout
        changed = self.state_file.exists()  # a marker: an earlier update did not finish
        try:
            files.public_directory(layout.blocklist)
            for directory, wanted in ((layout.source, trusted), (layout.blocklist, blocked)):
                for name, data in wanted.items():
                    changed |= files.write_atomic(directory / name, data)
                for path in directory.glob(PREFIX + "*"):
                    if path.name not in wanted:
                        path.unlink()
                        changed = True
            if changed:
                files.write_atomic(self.state_file, b"pending\n", 0o600)
        except OSError as problem:
            raise files.OutputFailure(f"cannot write the sources: {problem}") from None
        if not changed:
            return False
        self.run_tool()
        self.state_file.unlink(missing_ok=True)
        return True


def _trusted(p: Projected) -> bytes:
    assert p.certificate is not None
    return openssl_trusted(p.certificate.der, p.trusted, p.rejected, p.certificate.subject_summary)
