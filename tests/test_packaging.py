"""Packaging: every package listed, one version source, the licence, the manual pages and the
example configuration generated from the code (and checked against it), the sdist."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_every_package_is_listed() -> None:
    listed = set(
        tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        ".".join(init.parent.relative_to(REPO).parts)
        for top in ("trustd", "trustctl")
        for init in (REPO / top).rglob("__init__.py")
    }
    found |= {
        "trustd.migrations"
        + "".join("." + p for p in init.parent.relative_to(REPO / "migrations").parts)
        for init in (REPO / "migrations").rglob("__init__.py")
    }
    assert found == listed


# --- version, licence, changelog ---------------------------------------------------------------


def test_one_version_source() -> None:
    """pyproject.toml reads the version from trustd/__init__.py; every other place agrees."""
    import trustd
    from trustctl.app import VERSION

    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "version" not in project["project"]
    assert "version" in project["project"]["dynamic"]
    attribute = project["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert attribute == "trustd.__version__"
    assert trustd.__version__ == VERSION
    assert re.fullmatch(r"\d+\.\d+\.\d+", trustd.__version__)
    newest = re.search(r"^## (\S+) - \d{4}-\d\d-\d\d$", (REPO / "CHANGELOG.md").read_text(), re.M)
    assert newest is not None
    assert newest.group(1) == trustd.__version__


def test_licence_is_the_apache_2_text() -> None:
    text = (REPO / "LICENSE").read_text()
    assert text.lstrip().startswith("Apache License\n                           Version 2.0")
    assert "END OF TERMS AND CONDITIONS" in text
    assert "APPENDIX: How to apply the Apache License to your work." in text
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE"]


# --- manual pages and the example configuration ------------------------------------------------

MAN = REPO / "man"


def _run(*command: str | Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        **kwargs,
    )


def test_generated_files_match_the_code(tmp_path: Path) -> None:
    """man/, docs/trustd.conf.example and trustctl/help_screen.py are what scripts/manpages.py
    writes from the code today: change a --help text, an option or a configuration key and
    this fails until `make man` is run.  Checked on a copy with one page edited by hand, so
    that the one run shows both that the check notices a difference and that there is no
    other."""
    copy = tmp_path / "tree"
    for name in ("man", "docs"):
        shutil.copytree(REPO / name, copy / name)
    shutil.copy(REPO / "CHANGELOG.md", copy)
    (copy / "trustctl").mkdir()
    shutil.copy(REPO / "trustctl" / "help_screen.py", copy / "trustctl")
    page = copy / "man" / "trustctl-status.1"
    page.write_text(page.read_text().replace("Print JSON", "Print YAML"))
    result = _run(sys.executable, REPO / "scripts" / "manpages.py", "--check", copy)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "man/trustctl-status.1: differs from what scripts/manpages.py writes"
    ]


def _page_text(page: Path) -> str:
    """A page's source as plain words: roff escapes and font changes removed."""
    text = page.read_text()
    for escape, plain in ((r"\-", "-"), (r"\e", "\\"), (r"\&", ""), (r"\(aq", "'")):
        text = text.replace(escape, plain)
    text = re.sub(r"\\f[BIRP]|\\f\(CR", "", text)
    text = re.sub(r"^\.(TP|PP|B|I|nf|fi|ft.*)$", "", text, flags=re.M)
    return " ".join(text.split())


def _help_entries(help_text: str) -> dict[str, list[tuple[str, str]]]:
    """The entries of a click help screen's sections: {"Options": [(name, description)], ...}."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for line in help_text.splitlines():
        if re.fullmatch(r"[A-Z][a-z]+:", line):
            current = sections.setdefault(line[:-1], [])
        elif current is not None and re.match(r"  \S", line):
            name, _, description = line.strip().partition("  ")
            current.append((name.strip(), description.strip()))
        elif current is not None and line.strip():
            name, description = current[-1]
            # click wraps after a hyphen too ("pem-" / "bundle"): no space was there.
            joint = "" if description.endswith("-") else " "
            current[-1] = (name, f"{description}{joint}{line.strip()}".strip())
        elif not line.strip():
            current = None if current is None or current else current
    return sections


class TrustctlHelp:
    """`trustctl ... --help` screens, from one build of the command tree (building it per
    screen costs a second on a busy machine)."""

    def __init__(self) -> None:
        import typer

        from trustctl import app

        app._register()
        self.command = typer.main.get_command(app.app)
        self.screens: dict[tuple[str, ...], str] = {}

    def __call__(self, capsys: pytest.CaptureFixture[str], *words: str) -> str:
        if words not in self.screens:
            self.command.main(args=[*words, "--help"], prog_name="trustctl", standalone_mode=False)
            self.screens[words] = capsys.readouterr().out
        return self.screens[words]

    def commands(self, capsys: pytest.CaptureFixture[str], *words: str) -> list[tuple[str, ...]]:
        """Every command path below `words`, depth first, as the help screens list them."""
        found = []
        for name, _description in _help_entries(self(capsys, *words)).get("Commands", []):
            found.append((*words, name))
            found += self.commands(capsys, *words, name)
        return found


def test_trustctl_help_matches_the_man_pages(capsys: pytest.CaptureFixture[str]) -> None:
    """Every option, argument and command `trustctl ... --help` shows is in the page of that
    command, with the same description; every command has its page."""
    screens = TrustctlHelp()
    # The screens are the program's own: the top one as the installed command prints it.
    real = _run(sys.executable, "-m", "trustctl", "--help", env={**os.environ, "COLUMNS": "80"})
    assert real.returncode == 0, real.stderr
    assert screens(capsys) == real.stdout
    commands = [(), *screens.commands(capsys)]
    assert len(commands) > 15
    for words in commands:
        page = MAN / ("-".join(("trustctl", *words)) + ".1")
        assert page.is_file(), f"no page for trustctl {' '.join(words)}"
        text = _page_text(page)
        entries = _help_entries(screens(capsys, *words))
        assert entries.get("Options"), words
        for section in ("Options", "Arguments"):
            for name, description in entries.get(section, []):
                if name == "-h, --help":
                    continue  # click's own, the same everywhere
                entry = " ".join(f"{name} {description}".split())
                assert entry in text, (page.name, entry)
        for name, description in entries.get("Commands", []):
            assert name in text, (page.name, name)
            assert description.rstrip(".").removesuffix("..") in text, (page.name, description)
    pages = {path.name for path in MAN.glob("trustctl*.1")}
    assert pages == {"-".join(("trustctl", *words)) + ".1" for words in commands}


def test_trustd_help_and_configuration_keys_are_documented() -> None:
    """trustd(8) holds every option of `trustd --help`; trustd.conf(5) every key the loader
    accepts, with the help of the option of the same name."""
    from trustd.daemon import FILE_SETTINGS, argument_parser

    help_text = argument_parser().format_help()  # what `trustd --help` prints
    options = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", help_text))
    assert "--max-connections-per-user" in options
    daemon_page = _page_text(MAN / "trustd.8")
    for option in options - {"--help"}:  # argparse's own, in the synopsis as -h
        assert option in daemon_page
    conf_page = _page_text(MAN / "trustd.conf.5")
    parser = argument_parser()
    for key in FILE_SETTINGS:
        [action] = [a for a in parser._actions if a.dest == key and a.option_strings]
        assert f"{key} = " in conf_page
        assert (action.help or "")[1:] in conf_page
        assert action.option_strings[0] in conf_page


def _example_settings() -> dict[str, Any]:
    """The settings the example shows, commented out, each parsed as its TOML line."""
    settings: dict[str, Any] = {}
    for line in (REPO / "docs" / "trustd.conf.example").read_text().splitlines():
        match = re.fullmatch(r"#([a-z_]+) = (.*)", line)
        if match:
            assert match.group(1) not in settings
            settings.update(tomllib.loads(match.group(0)[1:]))
    return settings


def test_example_configuration_holds_every_key_with_its_default(tmp_path: Path) -> None:
    """docs/trustd.conf.example shows each key the loader accepts, no other, with the value the
    system daemon uses by default; uncommented, the loader takes it as it stands."""
    from trustd.daemon import FILE_SETTINGS, Config

    shown = _example_settings()
    assert sorted(shown) == sorted(FILE_SETTINGS)
    defaults = Config.defaults(environ={}, uid=0)
    uncommented = tmp_path / "trustd.conf"
    # admin_group's example names a group this machine need not have.
    uncommented.write_text(
        "".join(
            f"{line[1:]}\n"
            for line in (REPO / "docs" / "trustd.conf.example").read_text().splitlines()
            if re.match(r"#[a-z_]+ = ", line) and not line.startswith("#admin_group")
        )
    )
    loaded = Config(
        socket=Path("/nowhere/socket"),
        state_dir=Path("/nowhere/state"),
        dropin_dir=Path("/nowhere/etc"),
        config_file=uncommented,
    ).with_file()
    for key in FILE_SETTINGS:
        if key == "admin_group":
            assert isinstance(shown[key], str)
        elif getattr(defaults, key) is None:
            assert getattr(loaded, key) is not None  # an example value, loaded
        else:
            assert getattr(loaded, key) == getattr(defaults, key), key
    # The file as installed (everything commented out) means every default.
    installed = tmp_path / "installed.conf"
    shutil.copy(REPO / "docs" / "trustd.conf.example", installed)
    assert replace(defaults, config_file=installed).with_file() == replace(
        defaults, config_file=installed
    )


@pytest.mark.skipif(shutil.which("man") is None, reason="man-db is not installed")
def test_every_page_renders(tmp_path: Path) -> None:
    """`man -l` formats each page without a troff warning."""
    pages = sorted(MAN.glob("*.[158]"))
    assert {"trustctl.1", "trustd.8", "trustd.conf.5"} <= {page.name for page in pages}
    for page in pages:
        result = _run(
            "man",
            "--warnings",
            "-l",
            page,
            env={**os.environ, "MANWIDTH": "80", "MAN_KEEP_FORMATTING": "0", "PAGER": "cat"},
        )
        assert result.returncode == 0, (page.name, result.stderr)
        assert result.stderr == "", (page.name, result.stderr)
        rendered = re.sub(".\b", "", result.stdout)  # overstrike bold and underline
        assert "\nNAME\n" in rendered
        name = page.name.rsplit(".", 1)[0]
        assert f"{name} - " in " ".join(rendered.split()), page.name
