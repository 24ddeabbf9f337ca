"""trustctl's entry point: the two answers that need no command, then the Typer app.

`trustctl --version` and `trustctl --help` (or `-h`) alone are answered here, without loading
Typer (which is most of their cost): the version from trustd's one version source, the help
screen from `trustctl.help_screen`, which scripts/manpages.py writes from the app itself (the
same text Typer prints; tests/test_packaging.py runs both and compares).  The screen is the one
Typer prints at 80 columns or more; on a narrower terminal, or with anything else on the command
line, `trustctl.app.main` runs as before.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

HELP_COLUMNS = 80  # click wraps help to min(terminal width, 80) - 2 columns
SHELL_DETECTION = "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION"  # changes Typer's help


def terminal_columns() -> int:
    """The terminal's width as click asks for it (shutil.get_terminal_size: COLUMNS, else the
    terminal of sys.__stdout__, else 80), without importing shutil."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or HELP_COLUMNS


def main(argv: Sequence[str] | None = None) -> int:
    """Run trustctl (`trustctl.app.main` unless the answer needs no command)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--version"]:
        import trustd

        print(f"trustctl {trustd.__version__}")
        return 0
    if (
        args in (["--help"], ["-h"])
        and terminal_columns() >= HELP_COLUMNS
        and SHELL_DETECTION not in os.environ
    ):
        from trustctl.help_screen import TOP

        sys.stdout.write(TOP)
        return 0
    from trustctl.app import main as run

    return run(args)
