"""The daemon's log lines, shaped for where stderr goes.

Under systemd, stderr is a stream to journald, which reads a `<N>` prefix on each line as the
line's syslog priority (sd-daemon(3)) and stamps the time itself: there every line starts with
its priority, so `journalctl -p warning` finds the warnings.  systemd tells a service that its
stderr is the journal with JOURNAL_STREAM=<device>:<inode>; the variable is inherited by
children whose stderr may go elsewhere, so it counts only when it names the stream stderr
really is (systemd.exec(5)).  Anywhere else (a terminal, a file, a pipe) a line starts with a
timestamp.  Standard library only.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import TextIO

# syslog(3) priorities by logging level: crit, err, warning, info, debug (notice is unused).
_PRIORITIES = (
    (logging.CRITICAL, 2),
    (logging.ERROR, 3),
    (logging.WARNING, 4),
    (logging.INFO, 6),
)
DEBUG_PRIORITY = 7

LINE_FORMAT = "%(levelname)s %(name)s: %(message)s"
TIMESTAMP_FORMAT = "%(asctime)s.%(msecs)03d " + LINE_FORMAT
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


def syslog_priority(level: int) -> int:
    """The syslog priority for a logging level (levels between two take the lower one's)."""
    for threshold, priority in _PRIORITIES:
        if level >= threshold:
            return priority
    return DEBUG_PRIORITY


def is_journal(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """Whether `stream` is the journald stream that $JOURNAL_STREAM names."""
    value = (os.environ if environ is None else environ).get("JOURNAL_STREAM", "")
    device, separator, inode = value.partition(":")
    if not separator:
        return False
    try:
        status = os.fstat(stream.fileno())
        return (status.st_dev, status.st_ino) == (int(device), int(inode))
    except (ValueError, OSError, AttributeError):  # io.UnsupportedOperation is an OSError
        return False


class JournalFormatter(logging.Formatter):
    """`<N>` before every line of a record: journald takes each line as its own entry."""

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{syslog_priority(record.levelno)}>"
        return "\n".join(prefix + line for line in super().format(record).splitlines())


def configure(
    level: str, stream: TextIO | None = None, environ: Mapping[str, str] | None = None
) -> logging.Handler:
    """Send the root logger's records at `level` and above to `stream` (stderr), formatted
    for the journal or with timestamps; replaces handlers installed before.  The handler."""
    stream = sys.stderr if stream is None else stream
    handler = logging.StreamHandler(stream)
    if is_journal(stream, environ):
        handler.setFormatter(JournalFormatter(LINE_FORMAT))
    else:
        handler.setFormatter(logging.Formatter(TIMESTAMP_FORMAT, DATE_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler
