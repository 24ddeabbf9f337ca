"""Loading property lists from untrusted bytes.

`plistlib` reads XML and binary plists.  An XML plist may carry a DOCTYPE with entity
declarations ("billion laughs"); Apple's writers never produce one, so any ENTITY declaration is
refused before parsing.  Sizes are capped.
"""

from __future__ import annotations

import plistlib
import re
from typing import Any

MAX_PLIST_BYTES = 16 * 1024 * 1024
_ENTITY = re.compile(rb"<!ENTITY", re.IGNORECASE)


class InvalidPlist(ValueError):
    """Bytes that are not an acceptable property list."""


def load_plist(data: bytes, *, limit: int = MAX_PLIST_BYTES) -> Any:
    """Parse an XML or binary plist; raise InvalidPlist with a one-line reason."""
    if len(data) > limit:
        raise InvalidPlist(f"property list is larger than {limit} bytes")
    if not data.startswith(b"bplist") and _ENTITY.search(data):
        raise InvalidPlist("property list declares XML entities")
    try:
        return plistlib.loads(data)
    except (plistlib.InvalidFileException, ValueError, TypeError, OverflowError) as problem:
        raise InvalidPlist(f"not a property list: {problem}") from None
    except Exception as problem:  # expat errors and recursion on hostile input
        raise InvalidPlist(f"not a property list: {type(problem).__name__}") from None
