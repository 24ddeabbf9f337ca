"""Loading property lists from untrusted bytes.

`plistlib` reads XML and binary plists.  An XML plist may carry a DOCTYPE with entity
declarations ("billion laughs"); Apple's writers never produce one, so any ENTITY declaration is
refused before parsing.  Sizes are capped.

What is accepted can also be written back in both forms, since trustd stores what it reads and
exports it again: a binary plist can carry what neither writer can (text with control
characters, which XML cannot hold; integers beyond 64 bits; dictionary keys that are not text;
UIDs, which belong to NSKeyedArchiver archives), and such a value is refused here rather than
stored to break every later export.
"""

from __future__ import annotations

import datetime
import plistlib
import re
from typing import Any

MAX_PLIST_BYTES = 16 * 1024 * 1024
_ENTITY = re.compile(rb"<!ENTITY", re.IGNORECASE)
_XML_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")  # what plistlib's XML writer refuses
_INTEGERS = range(-(2**63), 2**64)  # what the binary writer can hold
_SCALARS = (bool, float, bytes, datetime.datetime)


class InvalidPlist(ValueError):
    """Bytes that are not an acceptable property list."""


def xml_can_hold(text: str) -> bool:
    """Whether an XML plist can hold `text` (XML 1.0 has no control characters but tab and
    line ends)."""
    return _XML_CONTROL.search(text) is None


def load_plist(
    data: bytes, *, limit: int = MAX_PLIST_BYTES, invalid: type[ValueError] = InvalidPlist
) -> Any:
    """Parse an XML or binary plist; raise `invalid` (the caller's own error, InvalidPlist
    unless it names one) with a one-line reason."""
    try:
        return _load(data, limit)
    except InvalidPlist as problem:
        raise invalid(str(problem)) from None


def _load(data: bytes, limit: int) -> Any:
    if len(data) > limit:
        raise InvalidPlist(f"property list is larger than {limit} bytes")
    if not data.startswith(b"bplist") and _ENTITY.search(data):
        raise InvalidPlist("property list declares XML entities")
    try:
        value = plistlib.loads(data)
    except (plistlib.InvalidFileException, ValueError, TypeError, OverflowError) as problem:
        raise InvalidPlist(f"not a property list: {problem}") from None
    except Exception as problem:  # expat errors and recursion on hostile input
        raise InvalidPlist(f"not a property list: {type(problem).__name__}") from None
    _check_writable(value, budget=len(data))
    return value


def _check_writable(value: Any, budget: int) -> None:
    """Raise InvalidPlist for anything in `value` that plistlib cannot write as XML and binary.

    Every value takes at least a byte of its file, so a walk of more than `budget` values
    means containers referenced many times over (a binary plist may share them): written out
    as XML, such a tree would be exponentially large.
    """
    pending = [value]
    while pending:  # a loop, not recursion: nesting depth is the sender's choice
        budget -= 1
        if budget < 0:
            raise InvalidPlist("the property list shares containers")
        item = pending.pop()
        if isinstance(item, str):
            if not xml_can_hold(item):
                raise InvalidPlist("a string holds control characters")
        elif isinstance(item, dict):
            if not all(isinstance(key, str) for key in item):
                raise InvalidPlist("a dictionary key is not a string")
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, int) and not isinstance(item, bool):
            if item not in _INTEGERS:
                raise InvalidPlist("an integer does not fit in 64 bits")
        elif not isinstance(item, _SCALARS):
            raise InvalidPlist(f"unsupported value of type {type(item).__name__}")
