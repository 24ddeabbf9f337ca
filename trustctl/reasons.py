"""The second line of an error: why, and what to do.

Every error keeps the first line `security` prints (byte for byte, with `trustctl:` where
`security` writes `security:`); the reason, and a hint where one helps, follow on lines of
their own that start with `trustctl: `, so that scripts matching Apple's line still match and
people see what is wrong.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

PREFIX = "trustctl: "


def lines(first: str, *more: str | None) -> str:
    """`first`, then each reason or hint given (None: left out) on a `trustctl: ` line."""
    return "\n".join([first, *(PREFIX + text for text in more if text)])


def unreadable_file(path: str | Path, problem: OSError | None = None) -> str:
    """Why a certificate file cannot be used: the system's reason, or what the data is."""
    if problem is not None:
        return f"{path}: {problem.strerror or problem}"
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        return f"{path}: {error.strerror or error}"
    return f"{path}: {certificate_data_problem(data)}"


def certificate_data_problem(data: bytes) -> str:
    """What is wrong with data that was to hold a certificate."""
    from trustd import certfiles

    if not data.strip():
        return "the file is empty"
    if b"PRIVATE KEY-----" in data and b"CERTIFICATE-----" not in data:
        return "it holds a private key, not a certificate"
    try:
        certfiles.read_certificates(data)
    except certfiles.UndecodableData as problem:
        return str(problem)
    return "not a certificate (DER, or PEM with a CERTIFICATE block)"


def choices(option: str, value: str, valid: Iterable[str]) -> str:
    """A usage error's reason: the bad value of `option` and the valid ones."""
    return f'{option} "{value}" is not valid; use one of: {", ".join(valid)}'


def socket_hint(socket_path: str) -> str:
    """What to do when the socket cannot be opened for lack of permission."""
    return (
        f"hint: uid {os.geteuid()} may not open {socket_path} (or search a directory above it);"
        " trustd's socket is meant for every user (mode 0666 in a 0755 directory, as"
        " trustd.socket sets it): ask the administrator, or pick another daemon with --socket"
        " or TRUSTD_SOCKET"
    )


TRUST_AS_ROOT_HINT = (
    "hint: the certificate is not self-signed, and trustRoot (the default result) is for"
    " roots; use -r trustAsRoot to trust an intermediate or a leaf as if it were a root"
)
