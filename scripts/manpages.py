"""Write trustd's manual pages, example configuration and trustctl's help screen from the code
they document.

    python scripts/manpages.py [--check] [ROOT]        (make man)

- trustctl(1) and one trustctl-COMMAND(1) per command: click-man's page writer, fed with the
  help records of the Typer app, the same ones `trustctl --help` prints.  (Typer vendors its
  own copy of click, so click-man's own walk, which looks for `click.Option`, finds no options;
  the walk below asks the Typer commands instead.)
- trustctl/help_screen.py: `trustctl --help`, the text the app prints, for trustctl.main to
  print without loading Typer.
- trustd(8): argparse-manpage, from trustd's argument parser.
- trustd.conf(5) and trustd.conf.example: from the keys the configuration loader accepts
  (`trustd.daemon.FILE_SETTINGS`), the help of the command-line options of the same names and
  the system daemon's defaults.

The pages carry trustd's version and the date of its CHANGELOG.md entry, so the output
depends on the tree alone; tests/test_packaging.py fails when the committed files differ from
what this writes.  `--check` writes nothing and exits 1 when they differ.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import fields
from inspect import cleandoc
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MAN = Path("man")
EXAMPLE = Path("docs") / "trustd.conf.example"
HELP_SCREEN = Path("trustctl") / "help_screen.py"
SHORT_HELP = 100  # characters of a command's one-line help in trustctl(1)'s command list


def release_date(changelog: Path, version: str) -> str:
    """The date of `version`'s entry in the changelog (`## 0.1.0 - 2026-12-03`)."""
    match = re.search(
        rf"^## {re.escape(version)} - (\d{{4}}-\d\d-\d\d)$", changelog.read_text(), re.M
    )
    if match is None:
        raise SystemExit(f"{changelog}: no '## {version} - YYYY-MM-DD' entry for this version")
    return match.group(1)


def roff_text(text: str) -> str:
    r"""Plain text made safe for roff: backslashes, and lines that would read as requests."""
    lines = text.replace("\\", r"\e").splitlines()
    return "\n".join(r"\&" + line if line.startswith((".", "'")) else line for line in lines)


# --- trustctl ----------------------------------------------------------------------------------


def _trustctl_pages(date: str, version: str) -> Iterator[tuple[str, str]]:
    import typer
    from click_man.man import ManPage  # type: ignore[import-untyped]

    from trustctl import app as trustctl_app

    trustctl_app._register()
    command = typer.main.get_command(trustctl_app.app)

    def pages(name: str, cmd: Any, parent: Any) -> Iterator[tuple[str, str]]:
        ctx = typer.Context(cmd, info_name=name, parent=parent)
        page = ManPage(ctx.command_path)
        page.version = version
        page.date = date
        page.short_help = roff_text(cmd.get_short_help_str(limit=SHORT_HELP))
        page.description = roff_text(cleandoc(cmd.help or ""))
        page.synopsis = " ".join(cmd.collect_usage_pieces(ctx))
        records = [
            param.get_help_record(ctx)
            for param in cmd.params
            if not getattr(param, "hidden", False)
        ]
        page.options = [(name, roff_text(text)) for name, text in filter(None, records)]
        children = getattr(cmd, "commands", {})
        page.commands = [
            (child, roff_text(sub.get_short_help_str(limit=SHORT_HELP)))
            for child, sub in children.items()
            if not sub.hidden
        ]
        text = str(page)
        # click-man names a subcommand's page "<parent path>-<name>"; with spaces in a nested
        # parent's path that is no page name: the files are named with dashes throughout.
        text = text.replace(
            f"See \\fB{ctx.command_path}-", f"See \\fB{ctx.command_path.replace(' ', '-')}-"
        )
        if parent is None:
            text += (
                ".SH ENVIRONMENT\n.TP\n\\fBTRUSTD_SOCKET\\fP\n"
                "The socket of the trustd to ask, as \\fB\\-\\-socket\\fP.\n"
                ".SH SEE ALSO\n\\fBtrustd\\fP(8), \\fBtrustd.conf\\fP(5)\n"
            )
        yield ctx.command_path.replace(" ", "-") + ".1", text
        for child, sub in children.items():
            if not sub.hidden:
                yield from pages(child, sub, ctx)

    yield from pages("trustctl", command, None)


def _literal(text: str) -> str:
    """A Python string literal for `text`, quoted as ruff format would quote it."""
    literal = repr(text)
    if literal.startswith("'") and '"' not in text:
        literal = '"' + literal[1:-1].replace("\\'", "'") + '"'
    return literal


def _help_screen() -> str:
    """trustctl/help_screen.py: `trustctl --help` as the app prints it at 80 columns (COLUMNS is
    80 here), so that trustctl.main can print it without loading Typer."""
    import typer

    from trustctl import app as trustctl_app

    trustctl_app._register()
    command = typer.main.get_command(trustctl_app.app)
    ctx = typer.Context(command, info_name="trustctl", **command.context_settings)
    text = command.get_help(ctx) + "\n"  # click.echo's newline
    lines = "\n".join(f"    {_literal(line)}" for line in text.splitlines(keepends=True))
    return (
        '"""`trustctl --help`, as the Typer app prints it at 80 columns or more: written by\n'
        "scripts/manpages.py from the app (do not edit), printed by trustctl.main without loading\n"
        'Typer."""\n\n'
        f"TOP = (\n{lines}\n)\n"
    )


# --- trustd ------------------------------------------------------------------------------------


def _option(parser: argparse.ArgumentParser, dest: str) -> argparse.Action:
    for action in parser._actions:
        if action.dest == dest and action.option_strings:
            return action
    raise SystemExit(f"trustd has no command-line option for the file setting {dest!r}")


def _trustd_page(date: str, version: str) -> str:
    from argparse_manpage.manpage import Manpage  # type: ignore[import-untyped]

    from trustd.daemon import DATABASE, argument_parser
    from trustd.paths import default_paths

    paths = default_paths(environ={}, uid=0)
    page = Manpage(
        argument_parser(),
        {
            "project_name": "trustd",
            "version": version,
            "date": date,
            "manual_section": 8,
            "manual_title": "System Manager's Manual",
            "description": "the certificate trust service",
        },
    )
    dropins = paths.config_dir
    page.add_section(
        "files",
        ">",
        f""".TP
.I {paths.config_dir / "trustd.conf"}
Settings (TOML): see \\fBtrustd.conf\\fP(5).
.TP
.I {dropins / "anchors"}/, {dropins / "distrust"}/, {dropins / "trust-settings"}/
Drop-in certificates trusted as roots, denied, and macOS trust-settings plists, applied to
the admin domain within a second of a change.
.TP
.I {paths.state_dir / DATABASE}
The store: certificates, trust settings, exceptions, the audit log and the network cache.
.TP
.I {paths.socket}
The varlink socket clients connect to (\\fBtrustd.socket\\fP listens there under systemd).""",
    )
    page.add_section(
        "environment",
        ">",
        """.TP
.B TRUSTD_SOCKET
The socket path, as \\fB\\-\\-socket\\fP.
.TP
.B LISTEN_FDS, LISTEN_PID
Sockets passed by systemd (socket activation): trustd serves them instead of binding its own.
.TP
.B NOTIFY_SOCKET
Where readiness, reloads and stopping are reported (sd_notify).
.TP
.B JOURNAL_STREAM
When it names the stream stderr is, each log line starts with its syslog priority (\\fB<N>\\fP)
for journald; otherwise with a timestamp.""",
    )
    page.add_section(
        "signals",
        ">",
        """.TP
.B SIGHUP
Re-read the configuration file, the CA bundle and the drop-in directories.
.TP
.B SIGTERM, SIGINT
Finish the calls in flight and exit 0.""",
    )
    page.add_section(
        "see also",
        ">",
        "\\fBtrustctl\\fP(1), \\fBtrustd.conf\\fP(5), \\fBsystemd.socket\\fP(5)",
    )
    return str(page)


# --- trustd.conf -------------------------------------------------------------------------------

# What an unset (None) default means, for the settings that have one.
UNSET_DEFAULT: dict[str, Callable[[], str]] = {}


def _bundle_default() -> str:
    from trustd.store.system_anchors import BUNDLE_CANDIDATES

    return "the first of " + ", ".join(BUNDLE_CANDIDATES) + " that exists, else certifi's bundle"


UNSET_DEFAULT["ca_bundle"] = _bundle_default
UNSET_DEFAULT["admin_group"] = lambda: "none: only root may change the admin domain"
UNSET_DEFAULT["trust_stores"] = lambda: (
    '"auto" for the system daemon (root, state in /var/lib/trustd), "off" for any other'
)
# An example value for settings that are unset by default (the example file shows it).
UNSET_EXAMPLE = {
    "ca_bundle": "/etc/ssl/certs/ca-certificates.crt",
    "admin_group": "trustd-admin",
    "trust_stores": "auto",
}
# The TOML type of settings whose command-line option does not say it.
KINDS = {
    "admin_group": "string (a group name) or integer (a gid)",
    "trust_stores": 'string ("auto" or "off") or list of strings ("debian", "fedora")',
    "profile_signers": "list of strings (organisation names)",
}


def _settings() -> Iterator[tuple[str, argparse.Action, str, Any]]:
    """(key, option, TOML type, system default) for every key the loader accepts."""
    from trustd.daemon import FILE_SETTINGS, Config, argument_parser

    parser = argument_parser()
    defaults = Config.defaults(environ={}, uid=0)
    values = {field.name: getattr(defaults, field.name) for field in fields(defaults)}
    for key in FILE_SETTINGS:
        option = _option(parser, key)
        kinds: dict[object, str] = {int: "integer", float: "number", Path: "string (a path)"}
        kind = KINDS.get(key) or kinds.get(option.type, "string")
        if option.choices:
            kind = "string: " + ", ".join(f'"{choice}"' for choice in option.choices)
        yield key, option, kind, values[key]


def _toml(value: Any) -> str:
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _sentence(text: str) -> str:
    text = text.strip()
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _help(option: argparse.Action, key: str) -> str:
    text = option.help or f"the {key.replace('_', ' ')}"
    return _sentence(text.replace("%%", "%"))


# What a default value means, where the value alone does not say.
DEFAULT_MEANING = {
    "workers": "one worker process per core",
    "profile_signers": "every profile is applied, signed or not",
}


def _default_text(key: str, value: Any) -> str:
    if value is None:
        return UNSET_DEFAULT[key]()
    meaning = DEFAULT_MEANING.get(key)
    return _toml(value) + (f" ({meaning})" if meaning else "")


def _conf_page(date: str, version: str) -> str:
    lines = [
        f'.TH TRUSTD.CONF "5" "{date}" "trustd {version}" "File Formats Manual"',
        ".SH NAME",
        "trustd.conf \\- settings of the trustd certificate trust service",
        ".SH SYNOPSIS",
        ".I /etc/trustd/trustd.conf",
        ".SH DESCRIPTION",
        "\\fBtrustd\\fP(8) reads its settings from a TOML file: \\fI/etc/trustd/trustd.conf\\fP",
        "for the system daemon, \\fI$XDG_CONFIG_HOME/trustd/trustd.conf\\fP for another user's,",
        "or the file named by \\fB\\-\\-config\\fP.  Every setting is optional; a missing file",
        "means every default.  A command-line option of the same name (with dashes for the",
        "underscores) wins over the file.  An unknown key, or a value of the wrong type, stops",
        "the daemon with a one-line message.  \\fBSIGHUP\\fP re-reads the file; a setting that",
        "cannot change while the daemon runs is logged and takes effect at the next start.",
        ".PP",
        "\\fBmake install\\fP installs an example holding every setting, commented out with its",
        "default, as \\fI/etc/trustd/trustd.conf\\fP when there is none yet (an existing file is",
        "never overwritten), and keeps a copy in the documentation directory.",
        ".SH SETTINGS",
    ]
    for key, option, kind, value in _settings():
        lines += [
            ".TP",
            f"\\fB{key}\\fP = \\fI{roff_text(kind)}\\fP",
            roff_text(_help(option, key)),
            f"Default: {roff_text(_default_text(key, value))}.",
            f"Command line: \\fB{option.option_strings[0].replace('-', chr(92) + '-')}\\fP.",
        ]
    lines += [
        ".SH EXAMPLE",
        ".nf",
        ".ft CR",
        'log_level = "warning"',
        'admin_group = "trustd-admin"',
        "max_connections_per_user = 16",
        ".ft",
        ".fi",
        ".SH SEE ALSO",
        "\\fBtrustd\\fP(8), \\fBtrustctl\\fP(1)",
    ]
    return "\n".join(lines) + "\n"


def _conf_example() -> str:
    out = [
        "# trustd.conf: settings of the trustd system daemon (TOML); see trustd.conf(5).",
        "#",
        "# Every setting is optional.  Each one is listed below, commented out, with the value",
        "# the daemon uses when it is absent; remove the '#' to change it.  An option given on",
        "# trustd's command line wins over this file, an unknown key stops the daemon, and",
        "# SIGHUP (systemctl reload trustd) re-reads the file.",
    ]
    for key, option, kind, value in _settings():
        out += ["", f"# {_help(option, key)}", f"# Type: {kind}."]
        if key in DEFAULT_MEANING:
            out.append(f"# {_sentence(f'{_toml(value)}: {DEFAULT_MEANING[key]}')}")
        if value is None:
            out.append(f"# Default: {_default_text(key, value)}; for example:")
            out.append(f"#{key} = {_toml(UNSET_EXAMPLE[key])}")
        else:
            out.append(f"#{key} = {_toml(value)}")
    return "\n".join(out) + "\n"


# --- all of them -------------------------------------------------------------------------------


def generate(root: Path = ROOT) -> dict[Path, str]:
    """Every generated file, by path relative to the repository root."""
    os.environ["COLUMNS"] = "80"  # argparse wraps the synopsis to the terminal's width
    import trustd

    version = trustd.__version__
    date = release_date(root / "CHANGELOG.md", version)
    files = {MAN / name: text for name, text in _trustctl_pages(date, version)}
    files[MAN / "trustd.8"] = _trustd_page(date, version)
    files[MAN / "trustd.conf.5"] = _conf_page(date, version)
    files[EXAMPLE] = _conf_example()
    files[HELP_SCREEN] = _help_screen()
    return files


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    parser.add_argument("root", nargs="?", type=Path, default=ROOT)
    args = parser.parse_args(argv)
    files = generate(args.root)
    stale = sorted(
        str(path)
        for path, text in files.items()
        if not (args.root / path).is_file() or (args.root / path).read_text() != text
    )
    extra = sorted(
        str(path.relative_to(args.root))
        for path in (args.root / MAN).glob("*.[158]")
        if path.relative_to(args.root) not in files
    )
    if args.check:
        for name in stale:
            print(f"{name}: differs from what scripts/manpages.py writes", file=sys.stderr)
        for name in extra:
            print(f"{name}: not written by scripts/manpages.py any more", file=sys.stderr)
        return 1 if stale or extra else 0
    for name in extra:
        (args.root / name).unlink()
    for path, text in files.items():
        (args.root / path).parent.mkdir(parents=True, exist_ok=True)
        (args.root / path).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
