"""System anchors: the operating system's CA bundle, read-only, re-read when it changes.

The bundle is found in the standard location of the running distribution, unless a path is
configured; certifi's bundle is the embedded fallback when no system bundle exists.  Admin trust
settings can deny a system anchor; nothing can add to or change the bundle through trustd.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from trustd.core import pem
from trustd.core.certificates import Certificate, parse_certificate

# Where distributions put the bundle of trusted CA certificates, most specific first.
BUNDLE_CANDIDATES = (
    "/etc/ssl/certs/ca-certificates.crt",  # Debian, Ubuntu, Gentoo, Arch (p11-kit extract)
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",  # Fedora, RHEL, CentOS
    "/etc/pki/tls/certs/ca-bundle.crt",  # Fedora, RHEL (compatibility link)
    "/etc/ca-certificates/extracted/tls-ca-bundle.pem",  # Arch
    "/var/lib/ca-certificates/ca-bundle.pem",  # openSUSE
    "/etc/ssl/ca-bundle.pem",  # openSUSE, SLES
    "/etc/ssl/cert.pem",  # Alpine, some BSDs
)

# OpenSSL's TRUSTED CERTIFICATE blocks are read as their certificate when they hold nothing
# else: one with trust settings after it (X509_CERT_AUX) is not a certificate trustd can read.
_LABELS = frozenset({"CERTIFICATE", "TRUSTED CERTIFICATE"})


def certifi_bundle() -> Path:
    import certifi

    return Path(certifi.where())


def find_bundle(
    configured: Path | None = None, candidates: Sequence[str] = BUNDLE_CANDIDATES
) -> Path:
    """The configured bundle, else the first standard one that exists, else certifi's."""
    if configured is not None:
        return configured
    for candidate in candidates:
        path = Path(candidate)
        if path.is_file():
            return path
    return certifi_bundle()


def parse_bundle(data: bytes) -> tuple[list[Certificate], int]:
    """Certificates of a PEM bundle, and how many blocks could not be parsed."""
    certificates: list[Certificate] = []
    seen: set[bytes] = set()
    broken = 0
    for block in pem.blocks(data):
        if block.label not in _LABELS:
            continue
        try:
            cert = parse_certificate(block.der())
        except ValueError:  # damaged base64, or MalformedCertificate
            broken += 1
            continue
        if cert.sha256 not in seen:
            seen.add(cert.sha256)
            certificates.append(cert)
    return certificates, broken


@dataclass(frozen=True, slots=True)
class _Loaded:
    stamp: tuple[int, int, int] | None  # (inode, size, mtime_ns) of the file read
    by_subject: dict[bytes, tuple[Certificate, ...]]
    sha256: frozenset[bytes]
    count: int
    broken: int


class SystemAnchors:
    """The system domain's anchors, indexed by subject; `refresh()` re-reads a changed bundle."""

    def __init__(
        self, path: Path | None = None, exclude: Callable[[], frozenset[bytes]] | None = None
    ) -> None:
        """`exclude`, asked at every re-read: SHA-256s of bundle certificates that are not
        system anchors (the ones trustd's own projection put into the bundle)."""
        self._configured = path
        self._exclude = exclude
        self._lock = threading.Lock()
        self._loaded = _Loaded(None, {}, frozenset(), 0, 0)
        self.version = 0  # increases with every re-read
        self.path = find_bundle(path)
        self.refresh()

    def refresh(self) -> bool:
        """Re-read the bundle if it changed (or moved into place); True if it was re-read."""
        path = find_bundle(self._configured)
        try:
            info = path.stat()
            stamp = (info.st_ino, info.st_size, info.st_mtime_ns)
        except OSError:
            stamp = None
        with self._lock:
            if stamp == self._loaded.stamp and path == self.path:
                return False
            try:
                data = path.read_bytes()
            except OSError:
                data = b""
            certificates, broken = parse_bundle(data)
            if self._exclude is not None:
                excluded = self._exclude()
                certificates = [c for c in certificates if c.sha256 not in excluded]
            grouped: dict[bytes, list[Certificate]] = defaultdict(list)
            for cert in certificates:
                grouped[cert.subject_key].append(cert)
            self.path = path
            self.version += 1
            self._loaded = _Loaded(
                stamp,
                {key: tuple(certs) for key, certs in grouped.items()},
                frozenset(c.sha256 for c in certificates),
                len(certificates),
                broken,
            )
            return True

    @property
    def count(self) -> int:
        return self._loaded.count

    @property
    def broken(self) -> int:
        """Blocks of the bundle that were not certificates we can read."""
        return self._loaded.broken

    @property
    def modified(self) -> datetime:
        """When the bundle read last changed (the epoch when no bundle could be read)."""
        stamp = self._loaded.stamp
        return datetime.fromtimestamp(0 if stamp is None else stamp[2] / 1e9, UTC)

    def by_subject(self, subject_key: bytes) -> tuple[Certificate, ...]:
        return self._loaded.by_subject.get(subject_key, ())

    def contains(self, cert: Certificate) -> bool:
        return cert.sha256 in self._loaded.sha256

    def all(self) -> list[Certificate]:
        return [cert for certs in self._loaded.by_subject.values() for cert in certs]
