"""Install trustd as the machine's service, or remove exactly what an install added.

    python3 scripts/system_install.py install   [options]      (make install)
    python3 scripts/system_install.py uninstall [options]      (make uninstall)

The options mirror the Makefile's variables (DESTDIR, PREFIX, LIBDIR, ...): see the Makefile.
Standard library only: it runs on the interpreter the environment is built on.

How the environment is built, and why this way.  Debian 12's own Python packages are too old for
trustd (cryptography, SQLAlchemy, typer), so trustd runs in a virtual environment of its own,
LIBDIR (/usr/local/lib/trustd), built from the wheels in WHEELHOUSE (`make wheels` fills it:
trustd's wheel and those of its dependencies) without reaching any index.  A virtual
environment is not relocatable: its scripts name its interpreter by absolute path, and
pyvenv.cfg and the activate scripts name the environment.  So it is created at the path it will
have, DESTDIR + LIBDIR, and when DESTDIR is set (a package being staged) every mention of the
staged path is then rewritten to LIBDIR, and the bytecode is compiled with LIBDIR as the
recorded source path.  What is left under DESTDIR is then byte for byte what `make install`
without DESTDIR writes, ready to be packaged, and it never names DESTDIR (a test checks).  The
interpreter (SYSTEM_PYTHON, /usr/bin/python3) is the system's: the environment links to it, so
every user can run trustd and trustctl, and it stays valid as long as that Python's minor
version does.

What is installed is recorded in LIBDIR/install-manifest.json: every file written outside LIBDIR,
every directory created (only those that did not exist before), and the sha256 of the
configuration file as installed.  `uninstall` removes those files, LIBDIR, then those
directories when empty; the configuration file only when it is unchanged (an edited one is
kept, and said so).  The state the daemon keeps (/var/lib/trustd) is never touched.

systemd: where systemd runs (/run/systemd/system exists, as sd_booted(3) checks) and DESTDIR is
empty, install reloads systemd, enables and starts trustd.socket and restarts trustd.service if
it was running (an upgrade); uninstall stops and disables both units first.  Elsewhere (a
container, a chroot, a package being staged) nothing is asked of systemd.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1]
MANIFEST = "install-manifest.json"
COMMANDS = ("trustd", "trustctl")
UNITS = ("trustd.service", "trustd.socket")
SHIPPED_EXEC_START = "ExecStart=/usr/bin/trustd"
MINIMUM_PYTHON = (3, 11)


class InstallError(Exception):
    """A reason to stop, said in one line."""


@dataclass
class Layout:
    """Where everything goes: final paths (as the installed system sees them) and DESTDIR."""

    destdir: str
    prefix: str
    sysconfdir: str
    libdir: str
    bindir: str
    mandir: str
    docdir: str
    unitdir: str
    bashcompdir: str
    zshcompdir: str
    fishcompdir: str

    def staged(self, final: str | Path) -> Path:
        """Where a final path is written: under DESTDIR when one is given."""
        final = str(final)
        if not final.startswith("/"):
            raise InstallError(f"not an absolute path: {final}")
        return Path(self.destdir.rstrip("/") + final) if self.destdir else Path(final)


@dataclass
class Manifest:
    version: str = ""
    files: list[str] = field(default_factory=list)
    dirs: list[str] = field(default_factory=list)
    config: dict[str, str] | None = None  # {"path": ..., "sha256": ...}

    @classmethod
    def load(cls, path: Path) -> Manifest | None:
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        return cls(data["version"], data["files"], data["dirs"], data.get("config"))

    def save(self, path: Path) -> None:
        data = {
            "version": self.version,
            "files": self.files,
            "dirs": self.dirs,
            "config": self.config,
        }
        path.write_text(json.dumps(data, indent=2) + "\n")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _version() -> str:
    text = (SOURCE / "trustd" / "__init__.py").read_text()
    match = re.search(r'^__version__ = "([^"]+)"$', text, re.M)
    if match is None:
        raise InstallError("trustd/__init__.py has no __version__")
    return match.group(1)


def _systemd_booted() -> bool:
    return Path("/run/systemd/system").is_dir()


def _run(
    command: list[str], env: dict[str, str] | None = None, cwd: str | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, text=True, capture_output=True, check=False, env=env, cwd=cwd)
    if result.returncode != 0:
        shown = " ".join(command)
        raise InstallError(f"{shown} failed ({result.returncode}):\n{result.stderr.strip()}")
    return result


class Installer:
    def __init__(self, layout: Layout, manifest: Manifest, previous: Manifest | None) -> None:
        self.layout = layout
        self.manifest = manifest
        self.ours = set(previous.files) if previous else set()

    def directory(self, final: str | Path) -> None:
        """Make `final` and its missing parents, recording the ones this install created."""
        if self.layout.destdir:  # DESTDIR itself is the packager's, never recorded
            Path(self.layout.destdir).mkdir(parents=True, exist_ok=True)
        missing = []
        path = Path(final)
        while path != path.parent and not self.layout.staged(path).exists():
            missing.append(path)
            path = path.parent
        for path in reversed(missing):
            self.layout.staged(path).mkdir(mode=0o755)
            if str(path) not in self.manifest.dirs:
                self.manifest.dirs.append(str(path))

    def claim(self, final: str | Path) -> Path:
        """The staged path for a file about to be written; never someone else's file."""
        staged = self.layout.staged(final)
        if (staged.exists() or staged.is_symlink()) and str(final) not in self.ours:
            raise InstallError(
                f"{final} exists and was not installed by `make install`; "
                "move it away (a `pip install` of trustd?) and run it again"
            )
        self.directory(Path(final).parent)
        staged.unlink(missing_ok=True)
        self.manifest.files.append(str(final))
        return staged

    def write(self, final: str | Path, text: str, mode: int = 0o644) -> None:
        staged = self.claim(final)
        staged.write_text(text)
        staged.chmod(mode)

    def copy(self, source: Path, final: str | Path) -> None:
        staged = self.claim(final)
        shutil.copyfile(source, staged)
        staged.chmod(0o644)

    def symlink(self, target: str, final: str | Path) -> None:
        self.claim(final).symlink_to(target)


# --- install -----------------------------------------------------------------------------------


def build_environment(layout: Layout, python: str, pip: list[str], wheelhouse: Path) -> None:
    env_dir = layout.staged(layout.libdir)
    _run([python, "-m", "venv", "--without-pip", str(env_dir)])
    env_python = env_dir / "bin" / "python"
    _run(
        [
            *pip,
            "--python",
            str(env_python),
            "install",
            "--isolated",  # no pip.conf, no PIP_* variables: only the wheelhouse
            "--no-index",
            "--find-links",
            str(wheelhouse),
            "--no-compile",
            "--no-warn-script-location",
            "--disable-pip-version-check",
            "--quiet",
            f"trustd=={_version()}",
        ]
    )
    if layout.destdir:
        _relocate(env_dir, layout.libdir)
    compile_command = [str(env_python), "-m", "compileall", "-q", "-j", "0"]
    if layout.destdir:  # record LIBDIR, not the staged path, as the source of each .pyc
        compile_command += ["-s", layout.destdir.rstrip("/"), "-p", "/"]
    _run([*compile_command, str(env_dir / "lib")])


def _relocate(env_dir: Path, final: str) -> None:
    """Rewrite the staged environment's own path to its final one in the text files that name
    it: the scripts' #! lines, pyvenv.cfg and the activate scripts."""
    staged = str(env_dir).encode()
    for path in [env_dir / "pyvenv.cfg", *sorted((env_dir / "bin").iterdir())]:
        if path.is_symlink() or not path.is_file():
            continue
        data = path.read_bytes()
        if staged in data and b"\0" not in data:
            path.write_bytes(data.replace(staged, final.encode()))


def completion_scripts(layout: Layout) -> dict[str, str]:
    """bash, zsh and fish completion scripts, as the installed trustctl writes them."""
    env_dir = layout.staged(layout.libdir)
    scripts = {}
    for shell in ("bash", "zsh", "fish"):
        environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
        environment["_TRUSTCTL_COMPLETE"] = f"source_{shell}"
        result = _run(
            [str(env_dir / "bin" / "python"), "-I", str(env_dir / "bin" / "trustctl")],
            env=environment,
            cwd="/",
        )
        if "trustctl" not in result.stdout:
            raise InstallError(f"trustctl wrote no {shell} completion script")
        # zsh's compinit reads "#compdef" only on the first line.
        scripts[shell] = result.stdout.strip("\n") + "\n"
    # zsh autoloads the file from its fpath as the function _trustctl: on that first call it
    # must complete as well as register the function for later calls.
    register = "compdef _trustctl_completion trustctl"
    if register not in scripts["zsh"]:
        raise InstallError("trustctl's zsh completion script has an unexpected shape")
    scripts["zsh"] = scripts["zsh"].replace(
        register,
        'if [ "$funcstack[1]" = "_trustctl" ]; then\n'
        '    _trustctl_completion "$@"\n'
        "else\n"
        f"    {register}\n"
        "fi",
    )
    return scripts


def unit_text(name: str, layout: Layout) -> str:
    text = (SOURCE / "systemd" / name).read_text()
    if name != "trustd.service":
        return text
    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.startswith("ExecStart=")]
    if len(starts) != 1 or lines[starts[0]].strip() != SHIPPED_EXEC_START:
        raise InstallError(f"systemd/{name}: expected one line {SHIPPED_EXEC_START}")
    lines[starts[0]] = f"ExecStart={layout.bindir}/trustd\n"
    return "".join(lines)


def install_config(installer: Installer, layout: Layout, previous: Manifest | None) -> str:
    """/etc/trustd/trustd.conf from the example, unless the administrator has one of their own.
    What was done, for the summary."""
    example = SOURCE / "docs" / "trustd.conf.example"
    final = f"{layout.sysconfdir}/trustd/trustd.conf"
    staged = layout.staged(final)
    recorded = previous.config if previous else None
    if staged.exists():
        if recorded is None or recorded["path"] != final:
            return f"kept {final} (not installed by make install)"
        installer.manifest.config = recorded
        if _sha256(staged) != recorded["sha256"]:
            return f"kept your edited {final}"
    installer.directory(Path(final).parent)
    shutil.copyfile(example, staged)
    staged.chmod(0o644)
    installer.manifest.config = {"path": final, "sha256": _sha256(staged)}
    return f"installed {final}"


def install(layout: Layout, python: str, pip: list[str], wheelhouse: Path) -> None:
    checked = _run([python, "-c", "import sys; print(*sys.version_info[:2])"]).stdout.split()
    if tuple(int(part) for part in checked) < MINIMUM_PYTHON:
        raise InstallError(f"{python} is Python {'.'.join(checked)}; trustd needs 3.11 or later")
    if not any(wheelhouse.glob(f"trustd-{_version()}-*.whl")):
        raise InstallError(f"no trustd {_version()} wheel in {wheelhouse}: run `make wheels`")
    env_dir = layout.staged(layout.libdir)
    manifest_path = env_dir / MANIFEST
    previous = Manifest.load(manifest_path)
    if previous is None and env_dir.exists():
        raise InstallError(f"{layout.libdir} exists and was not made by `make install`")
    if previous is not None:  # an upgrade or a reinstall: the old environment goes first
        shutil.rmtree(env_dir)
    manifest = Manifest(version=_version(), dirs=list(previous.dirs) if previous else [])
    try:
        config = _install_everything(
            layout, manifest, previous, python=python, pip=pip, wheelhouse=wheelhouse
        )
    finally:  # even half done, `make uninstall` (or the next install) can clean up after it
        if env_dir.is_dir():
            manifest.save(manifest_path)
            manifest_path.chmod(0o644)

    print(f"trustd {manifest.version} installed in {layout.libdir}; {config}")
    print(f"  commands: {layout.bindir}/trustd, {layout.bindir}/trustctl")
    print(f"  units:    {layout.unitdir}/trustd.service, trustd.socket")
    if layout.destdir:
        print(f"  staged under {layout.destdir}; systemd left alone")
    elif _systemd_booted():
        _run(["systemctl", "daemon-reload"])
        _run(["systemctl", "enable", "--now", "trustd.socket"])
        _run(["systemctl", "try-restart", "trustd.service"])  # an upgrade: the new code runs
        print("  systemd: trustd.socket enabled and listening on /run/trustd/trustd.sock")
    else:
        print("  systemd is not running here: start the daemon with `trustd` (as root)")


def _install_everything(
    layout: Layout,
    manifest: Manifest,
    previous: Manifest | None,
    *,
    python: str,
    pip: list[str],
    wheelhouse: Path,
) -> str:
    installer = Installer(layout, manifest, previous)
    installer.directory(Path(layout.libdir).parent)
    build_environment(layout, python, pip, wheelhouse)

    for command in COMMANDS:
        target = os.path.relpath(f"{layout.libdir}/bin/{command}", layout.bindir)
        installer.symlink(target, f"{layout.bindir}/{command}")
    for name in UNITS:
        installer.write(f"{layout.unitdir}/{name}", unit_text(name, layout))
    for page in sorted((SOURCE / "man").glob("*.[158]")):
        section = page.suffix[1:]
        installer.copy(page, f"{layout.mandir}/man{section}/{page.name}")
    scripts = completion_scripts(layout)
    installer.write(f"{layout.bashcompdir}/trustctl", scripts["bash"])
    installer.write(f"{layout.zshcompdir}/_trustctl", scripts["zsh"])
    installer.write(f"{layout.fishcompdir}/trustctl.fish", scripts["fish"])
    for name in ("README.md", "CHANGELOG.md", "LICENSE"):
        installer.copy(SOURCE / name, f"{layout.docdir}/{name}")
    installer.copy(SOURCE / "docs" / "trustd.conf.example", f"{layout.docdir}/trustd.conf.example")
    config = install_config(installer, layout, previous)
    # Files of an older install that this one no longer writes.
    for stale in sorted(set(previous.files if previous else []) - set(manifest.files)):
        layout.staged(stale).unlink(missing_ok=True)
    return config


# --- uninstall ---------------------------------------------------------------------------------


def uninstall(layout: Layout) -> None:
    env_dir = layout.staged(layout.libdir)
    manifest = Manifest.load(env_dir / MANIFEST)
    if manifest is None:
        raise InstallError(f"nothing installed by `make install` in {layout.staged(layout.libdir)}")
    systemd = not layout.destdir and _systemd_booted()
    if systemd:  # units that are not loaded or not enabled are no failure here
        subprocess.run(["systemctl", "disable", "--now", *UNITS], capture_output=True, check=False)
    for final in manifest.files:
        layout.staged(final).unlink(missing_ok=True)
    kept = []
    if manifest.config is not None:
        staged = layout.staged(manifest.config["path"])
        if staged.exists():
            if _sha256(staged) == manifest.config["sha256"]:
                staged.unlink()
            else:
                kept.append(manifest.config["path"])
    shutil.rmtree(env_dir)
    for final in sorted(manifest.dirs, key=lambda name: name.count("/"), reverse=True):
        staged = layout.staged(final)
        try:
            staged.rmdir()
        except FileNotFoundError:
            pass
        except OSError:  # not empty: something else lives there now
            kept.append(final + "/")
    if systemd:
        _run(["systemctl", "daemon-reload"])
    print(f"trustd {manifest.version} removed from {layout.libdir}")
    for name in kept:
        print(f"  kept {name} (changed or not empty)")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["install", "uninstall"])
    for name in Layout.__dataclass_fields__:
        parser.add_argument(f"--{name}", required=name != "destdir", default="")
    parser.add_argument("--python", default=sys.executable, help="SYSTEM_PYTHON")
    parser.add_argument("--pip", default="", help="the pip command (PIP)")
    parser.add_argument("--wheelhouse", type=Path, default=SOURCE / "build" / "wheelhouse")
    args = parser.parse_args(argv)
    layout = Layout(**{name: getattr(args, name) for name in Layout.__dataclass_fields__})
    os.umask(0o022)
    try:
        if args.action == "install":
            pip = args.pip.split() if args.pip else [args.python, "-m", "pip"]
            install(layout, args.python, pip, args.wheelhouse.resolve())
        else:
            uninstall(layout)
    except InstallError as problem:
        print(f"make {args.action}: {problem}", file=sys.stderr)
        return 1
    except PermissionError as problem:
        print(f"make {args.action}: {problem} (as root: sudo make {args.action})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
