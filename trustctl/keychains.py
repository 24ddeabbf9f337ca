"""What `security`'s keychain arguments mean for trustd's certificate stores.

A Mac has keychains; trustd has three certificate stores that stand in for the ones scripts
name:

- `/Library/Keychains/System.keychain` is the shared store (the daemon's domain "admin"):
  searched for everyone's path building; only root or the admin group change it.
- `/System/Library/Keychains/SystemRootCertificates.keychain` is the system anchors (the
  operating system's CA bundle that trustd reads): listed by find-certificate and export,
  never changed (Apple's "Write permissions error." when a script tries).
- Any other keychain (`login.keychain`, `login.keychain-db`, a CI job's `build.keychain`, a
  path under `~/Library/Keychains`) is the caller's own store (domain "user"): searched for
  that user only.

Without a keychain argument a command uses the search list: the caller's own store, then the
shared one (`list-keychains` prints it); the default keychain (`default-keychain`, where
add-certificates and import put certificates without `-k`) is System.keychain for root, as on
a Mac, and the login keychain for everyone else.  The login keychain's path is the one macOS
would print, under the caller's home directory, so that output captured from
`default-keychain` or `list-keychains` can be passed back to any command.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from trustctl.errors import Failure

if TYPE_CHECKING:
    from trustd.client import Client
    from trustd.client.models import StoredCertificate

SYSTEM_KEYCHAIN = "/Library/Keychains/System.keychain"
SYSTEM_ROOTS_KEYCHAIN = "/System/Library/Keychains/SystemRootCertificates.keychain"
LOGIN_KEYCHAIN = "Library/Keychains/login.keychain-db"  # under the home directory
WRITE_PERMISSIONS = "Write permissions error."  # errSecWrPerm (-61)
DELETE_REFUSED = "UNIX[Operation not permitted]"  # SecKeychainItemDelete on the roots keychain


class Store(enum.Enum):
    """A certificate store; the value is the daemon's domain name for it."""

    OWN = "user"
    SHARED = "admin"
    SYSTEM = "system"


def login_keychain() -> str:
    """The caller's login keychain, as macOS names it."""
    return os.path.join(os.path.expanduser("~"), LOGIN_KEYCHAIN)


def path_of(store: Store) -> str:
    """The keychain path that stands for `store`."""
    if store is Store.SHARED:
        return SYSTEM_KEYCHAIN
    if store is Store.SYSTEM:
        return SYSTEM_ROOTS_KEYCHAIN
    return login_keychain()


def store_of(keychain: str) -> Store:
    """The store a keychain name or path stands for (module docstring)."""
    name = os.path.basename(keychain.strip().strip('"').rstrip("/"))
    if name.startswith("SystemRootCertificates.keychain"):
        return Store.SYSTEM
    if name.startswith("System.keychain"):
        return Store.SHARED
    return Store.OWN


def search_list() -> list[Store]:
    """The stores searched when no keychain is named: the caller's own, then the shared one."""
    return [Store.OWN, Store.SHARED]


def default_store() -> Store:
    """Where certificates go without -k: System.keychain for root, the login keychain else."""
    return Store.SHARED if os.geteuid() == 0 else Store.OWN


def stores(keychains: Sequence[str] | None) -> list[Store]:
    """The stores that keychain arguments name, in order and each once; none: the search list."""
    if not keychains:
        return search_list()
    named: list[Store] = []
    for keychain in keychains:
        store = store_of(keychain)
        if store not in named:
            named.append(store)
    return named


def writable_domain(keychain: str | None, api: str) -> str:
    """The daemon's domain for a store that certificates are added to (`-k keychain`, or the
    default keychain); the system roots keychain is read-only, as on a Mac."""
    store = default_store() if keychain is None else store_of(keychain)
    if store is Store.SYSTEM:
        raise Failure(f"trustctl: {api}: {WRITE_PERMISSIONS}\n{read_only_reason()}")
    return str(store.value)


def read_only_reason() -> str:
    return (
        "trustctl: SystemRootCertificates.keychain is the operating system's CA bundle and"
        " cannot be changed; add certificates to /Library/Keychains/System.keychain (root) or"
        " to your login keychain instead"
    )


def _matches(
    stored: StoredCertificate,
    sha1: str | None,
    sha256: str | None,
    subject: str | None,
    email: str | None,
) -> bool:
    """FindCertificates' criteria, for the system anchors (which that call does not list)."""
    if sha1 is not None and stored.sha1.lower() != sha1.lower():
        return False
    if sha256 is not None and stored.sha256.lower() != sha256.lower():
        return False
    if subject is not None and subject.lower() not in stored.subject.lower():
        return False
    if email is not None:
        from trustd.core.certificates import parse_certificate

        emails = {e.lower() for e in parse_certificate(stored.certificate).email_addresses}
        return email.lower() in emails
    return True


def system_anchors(
    client: Client,
    *,
    sha1: str | None = None,
    sha256: str | None = None,
    subject: str | None = None,
    email: str | None = None,
) -> list[StoredCertificate]:
    """The system anchors matching every criterion given: the system domain's certificates
    (CopyTrustSettings of "system" lists each system anchor with its certificate)."""
    import hashlib

    from trustd.client.errors import NoTrustSettings
    from trustd.client.models import StoredCertificate

    try:
        entries = client.copy_trust_settings("system")
    except NoTrustSettings:
        return []
    found = []
    for entry in entries:
        if entry.certificate is None:
            continue
        stored = StoredCertificate(
            certificate=entry.certificate,
            sha1=entry.sha1.upper(),
            sha256=hashlib.sha256(entry.certificate).hexdigest().upper(),
            subject=entry.subject or "",
            source="system",
        )
        if _matches(stored, sha1, sha256, subject, email):
            found.append(stored)
    return found


def store_of_certificate(stored: StoredCertificate) -> Store:
    """Which store a certificate FindCertificates answered is in (source "user": the caller's)."""
    if stored.source == "system":
        return Store.SYSTEM
    return Store.OWN if stored.source == "user" else Store.SHARED


def certificates_in(
    client: Client, wanted: Iterable[Store], **criteria: str
) -> list[tuple[Store, StoredCertificate]]:
    """The certificates matching `criteria` in each of `wanted`, store by store in that order
    (a certificate held by two stores appears once for each)."""
    order = list(wanted)
    by_store: dict[Store, list[StoredCertificate]] = {store: [] for store in order}
    if Store.OWN in by_store or Store.SHARED in by_store:
        for stored in client.find_certificates(**criteria):
            store = store_of_certificate(stored)
            if store in by_store:
                by_store[store].append(stored)
    if Store.SYSTEM in by_store:
        by_store[Store.SYSTEM] = system_anchors(client, **criteria)
    return [(store, stored) for store in order for stored in by_store[store]]


def unique_by_certificate(
    found: Iterable[tuple[Store, StoredCertificate]],
) -> list[tuple[Store, StoredCertificate]]:
    """Each certificate once, with the first store (in search order) that holds it."""
    seen: set[str] = set()
    unique = []
    for store, stored in found:
        if stored.sha256.upper() not in seen:
            seen.add(stored.sha256.upper())
            unique.append((store, stored))
    return unique
