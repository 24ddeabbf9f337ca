"""How trustctl fails: one line on stderr in the `security` tool's format, and an exit code.

Exit codes follow `security`: 0 success, 1 failure, 2 usage error; some commands return
Apple's own values (find-certificate's "not found" exits 44).
"""

from __future__ import annotations


class Failure(Exception):
    """A failure to report as `message` on stderr, exiting with `code`."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class UsageProblem(Failure):
    """Wrong arguments: the command's usage is printed and the exit code is 2."""

    def __init__(self, message: str = "") -> None:
        super().__init__(message, 2)
