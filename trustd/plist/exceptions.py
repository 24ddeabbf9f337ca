"""The exceptions blob of SecTrustCopyExceptions / SecTrustSetExceptions.

A binary plist array with one dictionary per chain position (leaf first): the failed check names
with their values, `SHA1Digest` (the certificate's 20-byte SHA-1) and, when the exceptions epoch
is not zero, `ExceptionResetCount` (shared/reference/apple-trust.md section 5).  An empty
dictionary stands for a position without failures.
"""

from __future__ import annotations

import plistlib
from typing import Any

from trustd.core.exceptions import CertificateExceptions, ExceptionList
from trustd.plist.safe import load_plist

SHA1_DIGEST = "SHA1Digest"
RESET_COUNT = "ExceptionResetCount"
MAX_BLOB_BYTES = 1024 * 1024


class InvalidExceptions(ValueError):
    """An exceptions blob that cannot be read."""


def encode_exceptions(exceptions: ExceptionList) -> bytes:
    """The binary plist Apple's SecTrustCopyExceptions returns for these exceptions."""
    items: list[dict[str, Any]] = []
    for entry in exceptions.entries:
        item: dict[str, Any] = {}
        if entry is not None:
            item.update(entry.checks)
            if entry.sha1 is not None:
                item[SHA1_DIGEST] = entry.sha1
            if entry.reset_count:
                item[RESET_COUNT] = entry.reset_count
        items.append(item)
    return plistlib.dumps(items, fmt=plistlib.FMT_BINARY, sort_keys=True)


def decode_exceptions(data: bytes) -> ExceptionList:
    """Read a blob.  A plist that is not an array means "no exceptions", as on Apple platforms."""
    value = load_plist(data, limit=MAX_BLOB_BYTES, invalid=InvalidExceptions)
    if not isinstance(value, list):
        return ExceptionList()
    entries: list[CertificateExceptions | None] = []
    for index, item in enumerate(value):
        if not isinstance(item, dict) or not item:
            entries.append(None)
            continue
        digest = item.get(SHA1_DIGEST)
        if digest is not None and not (isinstance(digest, bytes) and len(digest) == 20):
            raise InvalidExceptions(f"entry {index}: SHA1Digest is not 20 bytes")
        count = item.get(RESET_COUNT)
        if count is not None and (
            not isinstance(count, int) or isinstance(count, bool) or count < 0
        ):
            raise InvalidExceptions(f"entry {index}: ExceptionResetCount is not a count")
        checks = {k: v for k, v in item.items() if k not in (SHA1_DIGEST, RESET_COUNT)}
        if not all(isinstance(k, str) for k in checks):
            raise InvalidExceptions(f"entry {index}: keys must be check names")
        entries.append(CertificateExceptions(sha1=digest, checks=checks, reset_count=count))
    return ExceptionList(tuple(entries))
