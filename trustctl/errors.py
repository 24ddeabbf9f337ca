"""How trustctl fails: one line on stderr in the `security` tool's format, and an exit code.

Exit codes follow `security`: 0 success, 1 failure, 2 usage error; some commands return
Apple's own values (find-certificate's "not found" exits 44).
"""

from __future__ import annotations

from typing import Any


class Failure(Exception):
    """A failure to report as `message` on stderr, exiting with `code`."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class UsageProblem(Failure):
    """Wrong arguments: the command's usage is printed and the exit code is 2.  `ctx`, the
    command's Typer context, makes the usage line that command's own."""

    def __init__(self, message: str = "", ctx: Any = None) -> None:
        super().__init__(message, 2)
        self.ctx = ctx
