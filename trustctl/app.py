"""The trustctl command line: a Typer app shaped like macOS `security`.

- Commands are registered explicitly, in the order of `security`'s command table, and a command
  may be abbreviated to any prefix: the first command in table order that starts with it runs
  (`trustctl dump-trust` is `dump-trust-settings`), as `security` does.
- Errors are translated in one place (`main`): a usage error prints `Usage: <cmd> <usage>`
  and the one-line help and exits 2; a `Failure` prints its one line and exits with its code;
  a daemon that is not running is one line saying how to start it.  No traceback reaches a
  user.
- Imports of the client, cryptography and the plist code happen inside commands, so that
  `trustctl --help` and `--version` start fast; a command's run imports only its own family's
  module (FAMILIES), and plain parameters (text, paths) are converted without the pydantic
  machinery Typer would otherwise load for them (`_plain_coercion`).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
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


# Every command, in `security`'s table order (abbreviations resolve in this order), with the
# module of trustctl.commands that registers it: add-certificates, find-certificate,
# delete-certificate, ..., add-trusted-cert, remove-trusted-cert, dump-trust-settings,
# trust-settings-export, trust-settings-import, verify-cert; then trustctl's own commands.
FAMILIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "certificates",
        (
            "list-keychains",
            "default-keychain",
            "add-certificates",
            "find-certificate",
            "delete-certificate",
            "import",
            "export",
        ),
    ),
    (
        "trust_settings",
        (
            "add-trusted-cert",
            "remove-trusted-cert",
            "dump-trust-settings",
            "trust-settings-export",
            "trust-settings-import",
        ),
    ),
    ("verify", ("verify-cert",)),
    ("status", ("status",)),
    ("bundle", ("export-bundle",)),
    ("show", ("show-cert",)),
    ("audit", ("audit",)),
    ("exceptions", ("exceptions",)),  # groups: Typer lists them after the commands
    ("profiles", ("profiles",)),
)
_registered: list[str] = []  # families registered on `app`, in order


def _register(family: str | None = None) -> None:
    """Register one family's commands (for running one of them), or every family in table
    order (for the command list, `--help`).  Each family is registered once."""
    import importlib

    wanted = [family] if family is not None else [name for name, _ in FAMILIES]
    if family is None and _registered and _registered != wanted[: len(_registered)]:
        # registered for one command before: start again, so that the order is the table's
        app.registered_commands.clear()
        app.registered_groups.clear()
        _registered.clear()
    for name in wanted:
        if name not in _registered:
            importlib.import_module(f"trustctl.commands.{name}").register(app)
            _registered.append(name)


def command_names() -> list[str]:
    """Top-level command names in registration (security's table) order."""
    names = [c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands]
    names += [g.name or "" for g in app.registered_groups]
    return [n for n in names if n]


def _command_index(args: list[str]) -> int:
    """Where the command is in `args` (after the global options), or len(args)."""
    takes_value = {"--socket"}
    index = 0
    while index < len(args) and args[index].startswith("-"):
        index += 2 if args[index] in takes_value else 1
    return index


def expand_abbreviation(args: list[str]) -> list[str]:
    """`security` runs the first command in table order whose name starts with what was typed."""
    index = _command_index(args)
    if index >= len(args):
        return args
    typed = args[index]
    names = [name for _, commands in FAMILIES for name in commands]
    if typed in names:
        return args
    for name in names:
        if name.startswith(typed):
            return [*args[:index], name, *args[index + 1 :]]
    raise Failure(f'trustctl: unknown command "{typed}"', 1)


def _family(args: list[str]) -> str | None:
    """The family of the command `args` (expanded) run, None when they name none."""
    index = _command_index(args)
    if index < len(args):
        for family, commands in FAMILIES:
            if args[index] in commands:
                return family
    return None


def _is_enum(annotation: object) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, Enum)


# Integers pydantic and int() read alike: ASCII digits, a sign, nothing around them (pydantic
# refuses other scripts' digits that int() takes, and takes "5.0"; those are left to it).
_DECIMAL = re.compile(r"[+-]?[0-9]+")


def _plain_coercion(command: Any) -> None:
    """Convert the text, path, choice and integer parameters (and lists of them) of `command`
    and its subcommands as Typer does, without the pydantic TypeAdapter Typer builds for every
    parameter it sees a value for, even None (importing pydantic is most of a short command's
    start-up).  The conversion is Typer's own: text stays text, a path goes through Typer's
    coerce_cli_path given the Path pydantic would have made of the text, a choice through its
    coerce_cli_choice, a plain decimal through int(); None is None.  Anything else (a choice
    that is not one, an integer pydantic reads differently) goes to the runtime parameter
    Typer would have built, and so gets its message.  Nothing changes if Typer's internals
    are not the ones this was written against."""
    try:
        from typer._coercion import RuntimeParam, build_runtime_param
        from typer._param_types import coerce_cli_choice, coerce_cli_path
    except ImportError:
        return

    @dataclass(frozen=True)
    class PlainRuntimeParam(RuntimeParam):
        descriptor: Any
        item: type | None  # str, Path, int or an Enum: converted here; None: Typer's conversion

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            if self._unchanged(value):
                return value
            items = list(value) if isinstance(value, list | tuple) else [value]
            if (
                self.item is None
                or not all(isinstance(item, str) for item in items)
                or (self.item is int and not all(_DECIMAL.fullmatch(item) for item in items))
            ):
                return build_runtime_param(self.descriptor)._coerce_value(value, param, ctx)
            if self.item is int:
                items = [int(item) for item in items]
            elif issubclass(self.item, Enum):
                choices, sensitive = list(self.item), self.parameter_info.case_sensitive
                try:
                    items = [
                        coerce_cli_choice(i, choices=choices, case_sensitive=sensitive, ctx=ctx)
                        for i in items
                    ]
                except ValueError:  # not a choice: Typer's message
                    return build_runtime_param(self.descriptor)._coerce_value(value, param, ctx)
            elif self.item is Path:
                info = self.parameter_info
                path_type = info.path_type or Path
                items = [
                    coerce_cli_path(Path(i), info, path_type=path_type, param=param, ctx=ctx)
                    for i in items
                ]
            return items if self.descriptor.is_list else items[0]

        def _unchanged(self, value: Any) -> bool:
            """A default that Typer's conversion gives back as it is: a member of the
            parameter's Enum, an int for an int without bounds."""
            annotation, info = self.annotation, self.parameter_info
            if _is_enum(annotation):
                return type(value) is annotation and getattr(info, "parser", None) is None
            return (
                annotation is int
                and type(value) is int
                and getattr(info, "parser", None) is None
                and getattr(info, "min", None) is None
                and getattr(info, "max", None) is None
            )

    def seed(param: Any) -> Any:
        descriptor = getattr(param, "type_descriptor", None)
        if descriptor is None or getattr(param, "_runtime_param", False) is not None:
            return param
        info = descriptor.parameter_info
        annotation = descriptor.annotation
        if descriptor.is_list:
            (annotation,) = getattr(annotation, "__args__", (None,))
        plain = (
            (annotation in (str, Path, int) or _is_enum(annotation))
            and not descriptor.is_tuple
            and descriptor.file_annotation is None
            and getattr(info, "parser", None) is None
            and getattr(info, "min", None) is None
            and getattr(info, "max", None) is None
        )
        param._runtime_param = PlainRuntimeParam(
            parameter_info=info,
            annotation=descriptor.annotation,
            descriptor=descriptor,
            item=annotation if plain else None,
        )
        return param

    def seeding_help_option(current: Any) -> Any:
        made = current.get_help_option  # the help option is made on first use, per command
        return lambda ctx: seed(made(ctx))

    commands = [command]
    while commands:
        current = commands.pop()
        commands.extend(getattr(current, "commands", {}).values())
        for param in current.params:
            seed(param)
        if hasattr(current, "get_help_option"):
            current.get_help_option = seeding_help_option(current)


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
    args = list(sys.argv[1:] if argv is None else argv)
    from trustctl.completion import named_shell

    done = named_shell(args)
    if done is not None:
        return done
    try:
        args = expand_abbreviation(args)
        _ARGS[:] = args
        _register(_family(args))
        command = typer.main.get_command(app)
        _plain_coercion(command)
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
