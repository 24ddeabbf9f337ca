"""The trustctl command line: a Typer app shaped like macOS `security`.

- Commands are registered explicitly, in the order of `security`'s command table, and a command
  may be abbreviated to any prefix: the first command in table order that starts with it runs
  (`trustctl dump-trust` is `dump-trust-settings`), as `security` does.
- Errors are translated in one place (`main`): a usage error prints `Usage: <cmd> <usage>`
  and the one-line help and exits 2; a `Failure` prints its one line and exits with its code;
  a daemon that is not running is one line saying how to start it.  No traceback reaches a
  user.
- Imports of the client, cryptography and the plist code happen inside commands, so that
  `trustctl --help` and `--version` start fast.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

import trustd
from trustctl.errors import Failure, UsageProblem

VERSION = trustd.__version__  # the one version source (trustd/__init__.py)


@dataclass
class Options:
    """Global options, available to every command as ctx.obj."""

    socket: Path | None
    quiet: bool
    verbose: bool

    def client(self) -> Any:
        """A connection to trustd (imported here: the client is not needed for --help)."""
        from trustd.client import Client

        return Client(self.socket)


app = typer.Typer(
    add_completion=True,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Certificate trust settings and evaluation through trustd, like macOS `security`.",
)


def _version(value: bool) -> None:
    if value:
        print(f"trustctl {VERSION}")
        raise typer.Exit()


SocketOption = typer.Option(
    None, "--socket", envvar="TRUSTD_SOCKET", help="trustd's socket (also TRUSTD_SOCKET)."
)
QuietOption = typer.Option(False, "-q", "--quiet", help="Suppress the ...success lines.")
VerboseOption = typer.Option(False, "-v", "--verbose", help="Echo the command to stderr.")
VersionOption = typer.Option(
    False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
)


@app.callback()
def root(
    ctx: typer.Context,
    socket: Path | None = SocketOption,
    quiet: bool = QuietOption,
    verbose: bool = VerboseOption,
    version: bool = VersionOption,
) -> None:
    if verbose:
        print(verbose_echo(_ARGS or sys.argv[1:], ctx.invoked_subcommand), file=sys.stderr)
    ctx.obj = Options(socket, quiet, verbose)


_ARGS: list[str] = []  # the command line main() runs (abbreviation expanded), for -v


def verbose_echo(args: Sequence[str], command: str | None) -> str:
    """security -v: the command's full name, then each of its arguments in double quotes."""
    if command is None or command not in args:
        return " ".join(args)
    rest = args[list(args).index(command) + 1 :]
    return command + "".join(f' "{arg}"' for arg in rest)


def _register() -> None:
    """Every command, in `security`'s table order (abbreviations resolve in this order)."""
    from trustctl.commands import (
        audit,
        bundle,
        certificates,
        exceptions,
        profiles,
        show,
        status,
        trust_settings,
        verify,
    )

    # security's table: add-certificates, find-certificate, delete-certificate, ...,
    # add-trusted-cert, remove-trusted-cert, dump-trust-settings, trust-settings-export,
    # trust-settings-import, verify-cert; then trustctl's own commands.
    families = (certificates, trust_settings, verify, status, exceptions, bundle, show, audit)
    for family in (*families, profiles):
        family.register(app)


def command_names() -> list[str]:
    """Top-level command names in registration (security's table) order."""
    names = [c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands]
    names += [g.name or "" for g in app.registered_groups]
    return [n for n in names if n]


def expand_abbreviation(args: list[str]) -> list[str]:
    """`security` runs the first command in table order whose name starts with what was typed."""
    takes_value = {"--socket"}
    index = 0
    while index < len(args) and args[index].startswith("-"):
        index += 2 if args[index] in takes_value else 1
    if index >= len(args):
        return args
    typed = args[index]
    names = command_names()
    if typed in names:
        return args
    for name in names:
        if name.startswith(typed):
            return [*args[:index], name, *args[index + 1 :]]
    raise Failure(f'trustctl: unknown command "{typed}"', 1)


def _usage_line(problem: BaseException, args: Sequence[str] = ()) -> str:
    """`Usage: <cmd> <usage>` and the one-line help, from a click-style usage error (of the
    command named in `args` when the error does not say which)."""
    ctx = getattr(problem, "ctx", None)
    command = getattr(ctx, "command", None)
    if ctx is None or command is None or command.name == "trustctl":
        ctx = _command_context(args)
        command = getattr(ctx, "command", None)
    if ctx is None or command is None:
        return "Usage: trustctl [options] command [command options]"
    pieces = command.collect_usage_pieces(ctx)
    help_line = (command.short_help or command.help or "").strip().splitlines()
    usage = f"Usage: {ctx.command_path} {' '.join(pieces)}"
    return usage + (f"\n        {help_line[0]}" if help_line else "")


def _command_context(args: Sequence[str]) -> Any:
    """A context for the subcommand that `args` name (already expanded), or None."""
    group = typer.main.get_command(app)
    for arg in args:
        if arg.startswith("-"):
            continue
        sub = getattr(group, "commands", {}).get(arg)
        if sub is None:
            return None
        parent = group.context_class(group, info_name="trustctl")
        return sub.context_class(sub, info_name=arg, parent=parent)
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run trustctl; the one place errors become output and exit codes."""
    _register()
    command = typer.main.get_command(app)
    args = list(sys.argv[1:] if argv is None else argv)
    from trustctl.completion import named_shell

    done = named_shell(args)
    if done is not None:
        return done
    try:
        args = expand_abbreviation(args)
        _ARGS[:] = args
        command.main(args=args, prog_name="trustctl", standalone_mode=False)
    except Failure as problem:
        if problem.message:
            print(problem.message, file=sys.stderr)
        if isinstance(problem, UsageProblem):
            print(_usage_line(problem), file=sys.stderr)
        return problem.code
    except KeyboardInterrupt:
        return 130
    except Exception as problem:
        return _report(problem, args)
    return 0


def _report(problem: Exception, args: Sequence[str] = ()) -> int:
    """Click's exceptions (whichever click Typer uses), the daemon's, and the unforeseen."""
    exit_code = getattr(problem, "exit_code", None)
    if isinstance(exit_code, int) and hasattr(problem, "format_message"):
        if exit_code == 2:  # a usage error
            print(f"trustctl: {problem.format_message()}", file=sys.stderr)
            print(_usage_line(problem, args), file=sys.stderr)
            return 2
        if exit_code != 0:
            print(f"trustctl: {problem.format_message()}", file=sys.stderr)
        return exit_code
    if type(problem).__name__ == "Abort":
        print("trustctl: aborted", file=sys.stderr)
        return 1
    from trustd.client.errors import TrustdError

    if isinstance(problem, TrustdError):
        print(f"trustctl: {problem}", file=sys.stderr)
        if isinstance(problem.__cause__, PermissionError):
            from trustctl.reasons import socket_hint

            socket_path = problem.parameters.get("socket", "the socket")
            print(f"trustctl: {socket_hint(str(socket_path))}", file=sys.stderr)
        return 1
    print(f"trustctl: internal error: {type(problem).__name__}: {problem}", file=sys.stderr)
    return 1
