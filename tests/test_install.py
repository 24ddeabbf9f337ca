"""`make install` and `make uninstall`, as a packager and an administrator run them.

- The sdist holds what is needed to rebuild the wheel and run the tests, and does both.
- `make install DESTDIR=<tmp>` stages the whole tree: the environment, commands, units,
  manual pages, completions, configuration and documentation, naming only final paths; the
  installed units pass `systemd-analyze verify` as written, the pages render with `man -l`, the
  installed trustctl completes through the installed bash completion file (both run where they
  were installed for, in a mount namespace with the staged /usr/local bound over /usr/local);
  `make uninstall DESTDIR=<tmp>` leaves the tree empty.
- As root, in a private mount namespace (overlays over /usr/local and /etc, tmpfs over /run and
  /var/lib): `make install` (keeping the administrator's own trustd.conf), then the installed
  unit's command under `systemd-socket-activate` answers `trustctl status` from a plain uid,
  logging for journald; `make uninstall` gives back the namespace's files as they were.

No network: the wheelhouse `make install` installs from holds trustd's wheel, built from the
sdist without build isolation, and the wheels of its dependencies, repacked from the
distributions installed in this virtual environment (the files their RECORD lists).  One
wheelhouse and one staged install serve the whole module.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import trustd

REPO = Path(__file__).resolve().parents[1]
SYSTEM_PYTHON = "/usr/bin/python3"
PREFIX = "/usr/local"
LIBDIR = f"{PREFIX}/lib/trustd"
VERSION = trustd.__version__
# What make install writes outside the environment, relative to the root (PREFIX=/usr/local).
EXPECTED = {
    "usr/local/bin/trustd",
    "usr/local/bin/trustctl",
    "usr/local/lib/systemd/system/trustd.service",
    "usr/local/lib/systemd/system/trustd.socket",
    "usr/local/share/man/man1/trustctl.1",
    "usr/local/share/man/man1/trustctl-verify-cert.1",
    "usr/local/share/man/man5/trustd.conf.5",
    "usr/local/share/man/man8/trustd.8",
    "usr/local/share/bash-completion/completions/trustctl",
    "usr/local/share/zsh/site-functions/_trustctl",
    "usr/local/share/fish/vendor_completions.d/trustctl.fish",
    "usr/local/share/doc/trustd/README.md",
    "usr/local/share/doc/trustd/CHANGELOG.md",
    "usr/local/share/doc/trustd/LICENSE",
    "usr/local/share/doc/trustd/trustd.conf.example",
    "etc/trustd/trustd.conf",
}

pytestmark = [
    pytest.mark.long(seconds=50),
    pytest.mark.skipif(
        not os.access(SYSTEM_PYTHON, os.X_OK), reason=f"{SYSTEM_PYTHON} is not installed"
    ),
]


def _run(
    command: list[str | Path], *, check: bool = True, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        **kwargs,  # type: ignore[arg-type]
    )
    if check:
        assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    return result


def _make_environment() -> dict[str, str]:
    """This environment, less what an outer `make` (make test) passes to its children."""
    return {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MAKELEVEL", "MFLAGS"}}


# --- the wheelhouse ----------------------------------------------------------------------------


def _runtime_distributions(name: str) -> list[importlib.metadata.Distribution]:
    """`name`'s installed dependencies, transitively, without extras (not `name` itself)."""
    seen: dict[str, importlib.metadata.Distribution] = {}
    pending = [Requirement(text) for text in importlib.metadata.distribution(name).requires or []]
    while pending:
        requirement = pending.pop()
        key = canonicalize_name(requirement.name)
        if key in seen or (
            requirement.marker is not None and not requirement.marker.evaluate({"extra": ""})
        ):
            continue
        seen[key] = importlib.metadata.distribution(requirement.name)
        pending += [Requirement(text) for text in seen[key].requires or []]
    return list(seen.values())


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return f"sha256={digest.decode()},{len(data)}"


def _repack(distribution: importlib.metadata.Distribution, into: Path) -> Path:
    """A wheel of an installed distribution: the files its RECORD lists inside site-packages
    (console scripts outside it are written anew from entry_points.txt by the installer)."""
    files = [
        path
        for path in distribution.files or []
        if not str(path).startswith("..") and "__pycache__" not in path.parts
    ]
    info = next(path.parts[0] for path in files if path.parts[0].endswith(".dist-info"))
    skipped = {f"{info}/{name}" for name in ("RECORD", "INSTALLER", "REQUESTED")}
    skipped.add(f"{info}/direct_url.json")
    wheel_file = Path(str(distribution.locate_file(f"{info}/WHEEL"))).read_text()
    tags = [
        line.split(":", 1)[1].strip() for line in wheel_file.splitlines() if line.startswith("Tag:")
    ]
    parts = [sorted({tag.split("-")[index] for tag in tags}) for index in range(3)]
    name = re.sub(r"[-_.]+", "_", distribution.metadata["Name"]).lower()
    wheel = into / f"{name}-{distribution.version}-{'-'.join('.'.join(p) for p in parts)}.whl"
    record = []
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_STORED) as archive:
        for path in files:
            if str(path) in skipped:
                continue
            data = Path(str(distribution.locate_file(path))).read_bytes()
            archive.writestr(str(path), data)
            record.append(f"{path},{_record_hash(data)}")
        record.append(f"{info}/RECORD,,")
        archive.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return wheel


def build_wheelhouse(house: Path) -> Path:
    """trustd's sdist and its wheel built from that sdist, and the dependencies' wheels, in
    `house` (the session's `wheelhouse` fixture, tests/conftest.py)."""
    _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", house, REPO])
    for distribution in _runtime_distributions("trustd"):
        _repack(distribution, house)
    (house / ".built").touch()  # newer than every source: `make install` builds nothing
    return house


# --- the sdist ---------------------------------------------------------------------------------


def test_sdist_holds_the_tree_and_rebuilds_the_wheel(wheelhouse: Path) -> None:
    [sdist] = wheelhouse.glob(f"trustd-{VERSION}.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    for required in (
        "Makefile",
        "LICENSE",
        "CHANGELOG.md",
        "MANIFEST.in",
        "systemd/trustd.service",
        "systemd/trustd.socket",
        "docs/trustd.conf.example",
        "docs/threat-model.md",
        "man/trustd.8",
        "man/trustd.conf.5",
        "man/trustctl.1",
        "scripts/system_install.py",
        "scripts/manpages.py",
        "scripts/install-system-deps.sh",
        "tests/conftest.py",
        "tests/pki.py",
        "tests/test_install.py",
        "tests/api/conftest.py",
        "migrations/env.py",
    ):
        assert required in names, required
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]
    # `python -m build` built the wheel from this sdist (not from the tree).
    [wheel] = wheelhouse.glob(f"trustd-{VERSION}-py3-none-any.whl")
    with zipfile.ZipFile(wheel) as archive:
        members = set(archive.namelist())
        metadata = archive.read(f"trustd-{VERSION}.dist-info/METADATA").decode()
    assert f"trustd-{VERSION}.dist-info/licenses/LICENSE" in members
    assert "trustd/api/io.trustd.Trust.varlink" in members
    assert "trustd/migrations/script.py.mako" in members
    assert f"\nVersion: {VERSION}\n" in metadata
    assert "\nLicense-Expression: Apache-2.0\n" in metadata


def test_tests_run_from_the_unpacked_sdist(wheelhouse: Path, tmp_path: Path) -> None:
    """The sdist's own tests pass against the sdist's own code."""
    [sdist] = wheelhouse.glob(f"trustd-{VERSION}.tar.gz")
    with tarfile.open(sdist) as archive:
        archive.extractall(tmp_path, filter="data")
    tree = tmp_path / f"trustd-{VERSION}"
    environment = {**os.environ, "PYTHONPATH": str(tree)}
    where = _run(
        [sys.executable, "-c", "import trustd; print(trustd.__file__)"], env=environment, cwd=tree
    )
    assert where.stdout.strip() == str(tree / "trustd" / "__init__.py")
    result = _run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-n0",  # three tests: not worth starting workers
            "tests/test_packaging.py::test_every_package_is_listed",
            "tests/test_packaging.py::test_licence_is_the_apache_2_text",
            "tests/core/test_names.py",
        ],
        env=environment,
        cwd=tree,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert re.search(r"\d+ passed", result.stdout)


# --- make install DESTDIR=... ------------------------------------------------------------------


def _make(action: str, wheelhouse: Path, *settings: str) -> subprocess.CompletedProcess[str]:
    return _run(
        [
            "make",
            "--no-print-directory",
            "-C",
            REPO,
            action,
            f"WHEELHOUSE={wheelhouse}",
            f"PIP={sys.executable} -m pip",
            *settings,
        ],
        env=_make_environment(),
    )


@pytest.fixture(scope="module")
def staged(wheelhouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("destdir")
    output = _make("install", wheelhouse, f"DESTDIR={root}").stdout
    assert f"trustd {VERSION} installed in {LIBDIR}" in output
    assert "systemd left alone" in output
    return root


def _tree(root: Path) -> set[str]:
    return {str(path.relative_to(root)) for path in root.rglob("*")}


def test_destdir_lays_out_the_tree(staged: Path) -> None:
    outside = {name for name in _tree(staged) if not name.startswith(LIBDIR[1:])}
    files = {
        name for name in outside if not (staged / name).is_dir() or (staged / name).is_symlink()
    }
    assert files >= EXPECTED, EXPECTED - files
    assert {name for name in files if "/man1/" in name} == {
        f"usr/local/share/man/man1/{page.name}" for page in (REPO / "man").glob("*.1")
    }
    assert files - EXPECTED <= {name for name in files if "/man1/" in name}
    # Commands: relative links into the environment, whose scripts run its own interpreter.
    for command in ("trustd", "trustctl"):
        link = staged / "usr/local/bin" / command
        assert os.readlink(link) == f"../lib/trustd/bin/{command}"
        script = (staged / LIBDIR[1:] / "bin" / command).read_text().splitlines()[0]
        assert script == f"#!{LIBDIR}/bin/python"
    assert os.readlink(staged / LIBDIR[1:] / "bin" / "python3") == SYSTEM_PYTHON
    # The service runs the command on the PATH; the configuration is the example, verbatim.
    unit = (staged / "usr/local/lib/systemd/system/trustd.service").read_text()
    assert re.findall(r"^ExecStart=.*$", unit, re.M) == ["ExecStart=/usr/local/bin/trustd"]
    shipped = (REPO / "systemd/trustd.service").read_text()
    assert unit == shipped.replace("ExecStart=/usr/bin/trustd", "ExecStart=/usr/local/bin/trustd")
    example = (REPO / "docs/trustd.conf.example").read_text()
    assert (staged / "etc/trustd/trustd.conf").read_text() == example
    # Readable by everyone, writable by the owner alone.
    for name in _tree(staged):
        mode = (staged / name).lstat().st_mode
        if stat.S_ISLNK(mode):
            continue
        assert mode & 0o022 == 0, name
        assert mode & 0o004, name


def test_nothing_names_the_destdir(staged: Path) -> None:
    """The staged tree is what an install without DESTDIR writes: no file (scripts,
    pyvenv.cfg, bytecode, records) mentions the staging directory."""
    needle = str(staged).encode()
    naming = [
        str(path.relative_to(staged))
        for path in staged.rglob("*")
        if path.is_file() and not path.is_symlink() and needle in path.read_bytes()
    ]
    assert naming == []
    compiled = list((staged / LIBDIR[1:]).rglob("trustd/__pycache__/daemon.cpython-*.pyc"))
    assert compiled, "the environment's bytecode was not compiled"


def _namespace_prefix() -> list[str]:
    """unshare(1) for a private mount namespace: as root, or else in a user namespace."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not installed")
    command = ["unshare", "--mount", "--propagation", "private"]
    if os.geteuid() != 0:
        command[1:1] = ["--user", "--map-root-user"]
    probe = _run([*command, "true"], check=False)
    if probe.returncode != 0:
        pytest.skip(f"no mount namespace here: {probe.stderr.strip()}")
    return command


def _as_installed(staged: Path, script: str) -> subprocess.CompletedProcess[str]:
    """Run a shell script with the staged /usr/local bound over /usr/local, privately."""
    return _run(
        [
            *_namespace_prefix(),
            "sh",
            "-euc",
            'mount --bind "$0/usr/local" /usr/local\n' + script,
            staged,
        ],
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/nonexistent"},
        cwd="/",
        check=False,
    )


def test_installed_units_pass_systemd_analyze_verify(staged: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (scripts/install-system-deps.sh)")
    result = _as_installed(
        staged,
        "systemd-analyze verify --man=no trustd.service trustd.socket\n"
        "systemd-analyze verify --man=no /usr/local/lib/systemd/system/trustd.socket\n"
        "systemd-analyze cat-config --no-pager systemd/system/trustd.service | head -n 1\n",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # Found by name: PREFIX/lib/systemd/system is on systemd's unit path; nothing to say.
    assert [line for line in result.stderr.splitlines() if "trustd" in line] == []
    assert result.stdout.splitlines()[0] == "# /usr/local/lib/systemd/system/trustd.service"


def test_installed_pages_render(staged: Path) -> None:
    if shutil.which("man") is None:
        pytest.skip("man-db is not installed (scripts/install-system-deps.sh)")
    pages = sorted((staged / "usr/local/share/man").rglob("*.[158]"))
    assert len(pages) == len(list((REPO / "man").glob("*.[158]")))
    for page in pages:
        result = _run(["man", "--warnings", "-l", page], env={**os.environ, "MANWIDTH": "80"})
        assert result.stderr == "", (page.name, result.stderr)
        assert "NAME" in re.sub(".\b", "", result.stdout)


def test_installed_trustctl_completes_through_the_installed_bash_file(staged: Path) -> None:
    """bash-completion sources the file on demand and calls its function: so do we."""
    complete = (
        "source /usr/local/share/bash-completion/completions/trustctl\n"
        'COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 ))\n'
        "_trustctl_completion trustctl\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    for words, expected in (
        (("trustctl", "verify-c"), "verify-cert"),
        (("trustctl", "exceptions", "re"), "remove"),
        (("trustctl", "add-trusted-cert", "-"), "-d"),
    ):
        result = _as_installed(staged, f"exec bash -c '{complete}' bash {' '.join(words)}")
        assert result.returncode == 0, result.stderr
        offered = result.stdout.split()
        assert expected in offered, (words, result.stdout, result.stderr)
        # Each offer completes what was typed (the candidates come from the installed app).
        assert all(offer.startswith(words[-1]) for offer in offered), offered
    version = _as_installed(staged, "command -v trustctl; trustctl --version; trustd --version")
    assert version.stdout.split("\n")[:3] == [
        "/usr/local/bin/trustctl",
        f"trustctl {VERSION}",
        f"trustd {VERSION}",
    ], version.stderr


def test_zsh_and_fish_files(staged: Path) -> None:
    zsh = (staged / "usr/local/share/zsh/site-functions/_trustctl").read_text()
    assert zsh.startswith("#compdef trustctl\n")
    assert '_trustctl_completion "$@"' in zsh  # completes on the autoloaded first call too
    fish = (staged / "usr/local/share/fish/vendor_completions.d/trustctl.fish").read_text()
    assert fish.startswith("complete --command trustctl ")
    for shell, path in (
        ("zsh", "zsh/site-functions/_trustctl"),
        ("fish", "fish/vendor_completions.d/trustctl.fish"),
    ):
        if shutil.which(shell):
            _run([shell, "-n", staged / "usr/local/share" / path])


def test_reinstall_keeps_an_edited_configuration(staged: Path, wheelhouse: Path) -> None:
    """Installing again (an upgrade) rebuilds the environment and rewrites what it owns, but
    never the administrator's edits to trustd.conf."""
    config = staged / "etc/trustd/trustd.conf"
    pristine = config.read_text()
    before = _tree(staged)
    config.write_text(pristine + 'log_level = "warning"\n')
    output = _make("install", wheelhouse, f"DESTDIR={staged}").stdout
    assert "kept your edited /etc/trustd/trustd.conf" in output
    assert config.read_text() == pristine + 'log_level = "warning"\n'
    assert _tree(staged) == before
    config.write_text(pristine)  # as installed again: the uninstall below may remove it


def test_uninstall_leaves_the_destdir_empty(staged: Path, wheelhouse: Path) -> None:
    """Runs last in this module: it removes what the tests above looked at."""
    output = _make("uninstall", wheelhouse, f"DESTDIR={staged}").stdout
    assert f"trustd {VERSION} removed from {LIBDIR}" in output
    assert _tree(staged) == set()


# --- as root, in a private mount namespace -----------------------------------------------------

# Run by unshare --mount as root: overlays over /usr/local and /etc, tmpfs over /run and
# /var/lib, then make install, the installed service under systemd-socket-activate, a plain
# uid's trustctl, make uninstall.  Prints a JSON report.
NAMESPACE_CHILD = r"""
import json, os, re, signal, socket, stat, subprocess, sys, time
from pathlib import Path

scratch, repo, wheelhouse, pip = sys.argv[1:5]
report = {}

def run(*command, check=True, **kwargs):
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, **kwargs)
    if check and result.returncode != 0:
        raise SystemExit(f"{command} failed: {result.stdout} {result.stderr}")
    return result

# /usr/share/ca-certificates too: the installed daemon, root on the default state directory,
# keeps the distribution's trust stores in step.
for directory in ("/usr/local", "/etc", "/usr/share/ca-certificates"):
    name = directory.strip("/").replace("/", "-")
    upper, work = f"{scratch}/{name}/upper", f"{scratch}/{name}/work"
    lower = f"{scratch}/{name}/lower"  # the directory as it is, still in sight once overlaid
    os.makedirs(upper); os.makedirs(work); os.makedirs(lower)
    run("mount", "--bind", directory, lower)
    run("mount", "-t", "overlay", "overlay", "-o",
        f"lowerdir={directory},upperdir={upper},workdir={work}", directory)
for directory in ("/run", "/var/lib"):
    run("mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", directory)

# What this namespace changed in an overlaid directory, read off the overlay's upper layer (so
# changes the host makes to the lower layer meanwhile do not count): files, links and
# whiteouts (deletions) by path, and directories whose owner or mode differ from the lower's.
def changes(directory):
    name = directory.strip("/").replace("/", "-")
    upper = f"{scratch}/{name}/upper"
    entries, directories = [], []
    for base, dirs, files in os.walk(upper):
        for entry in files:
            path = os.path.join(base, entry)
            kind = "whiteout" if stat.S_ISCHR(os.lstat(path).st_mode) else "file"
            entries.append(f"{kind} {os.path.relpath(path, upper)}")
        for entry in dirs:
            path = os.path.join(base, entry)
            lower = os.path.join(f"{scratch}/{name}/lower", os.path.relpath(path, upper))
            mine = os.lstat(path)
            theirs = os.lstat(lower) if os.path.lexists(lower) else None
            if theirs is None or (mine.st_mode, mine.st_uid, mine.st_gid) != (
                theirs.st_mode, theirs.st_uid, theirs.st_gid):
                directories.append(os.path.relpath(path, upper))
    return sorted(entries), sorted(directories)

# The administrator's own configuration, there before the install: never to be touched.
os.makedirs("/etc/trustd", mode=0o755)
Path("/etc/trustd/trustd.conf").write_text('log_level = "debug"\n')
make = ["make", "--no-print-directory", "-C", repo]
settings = [f"WHEELHOUSE={wheelhouse}", f"PIP={pip}"]
started = time.monotonic()
report["install"] = run(*make, "install", *settings).stdout
report["install_seconds"] = round(time.monotonic() - started, 1)
report["config_after_install"] = Path("/etc/trustd/trustd.conf").read_text()
report["systemd_booted"] = os.path.isdir("/run/systemd/system")

unit = Path("/usr/local/lib/systemd/system/trustd.service").read_text()
[exec_start] = re.findall(r"^ExecStart=(.*)$", unit, re.M)
socket_unit = Path("/usr/local/lib/systemd/system/trustd.socket").read_text()
[listen] = re.findall(r"^ListenStream=(.*)$", socket_unit, re.M)
[socket_mode] = re.findall(r"^SocketMode=(.*)$", socket_unit, re.M)
[directory_mode] = re.findall(r"^DirectoryMode=(.*)$", socket_unit, re.M)
report["exec_start"] = exec_start
os.makedirs(os.path.dirname(listen), mode=int(directory_mode, 8))
log_path = f"{scratch}/trustd.log"
log = open(log_path, "w")
status = os.fstat(log.fileno())
environment = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
# As systemd does for a service whose stderr is the journal (systemd-socket-activate passes
# its own environment on only when told to, with -E).
journal = f"JOURNAL_STREAM={status.st_dev}:{status.st_ino}"
daemon = subprocess.Popen(["systemd-socket-activate", "-E", journal, "-l", listen,
                           *exec_start.split()],
                          stdout=subprocess.DEVNULL, stderr=log, env=environment)
deadline = time.monotonic() + 60
while not os.path.exists(listen):
    if time.monotonic() > deadline or daemon.poll() is not None:
        raise SystemExit("the socket never appeared: " + open(log_path).read())
    time.sleep(0.05)
# systemd-socket-activate has no SocketMode=: give the socket the unit's mode, as systemd does.
os.chmod(listen, int(socket_mode, 8))
report["socket_mode"] = socket_mode

plain = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "env", "-i",
         "PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/nonexistent", "LANG=C.UTF-8"]
# No socket named: a plain uid's clients find the system daemon's by default.
status_run = run(*plain, "trustctl", "status", "--json", check=False)
report["status"] = [status_run.returncode, status_run.stdout, status_run.stderr]
report["id"] = run(*plain, "id", "-u").stdout.strip()
complete = ("source /usr/local/share/bash-completion/completions/trustctl; "
            "COMP_WORDS=(trustctl show-c); COMP_CWORD=1; _trustctl_completion trustctl; "
            "echo ${COMPREPLY[@]}")
report["completion"] = run(*plain, "bash", "-c", complete).stdout.split()
# man's own search (Debian's /usr/local/man is a link to /usr/local/share/man).
report["man"] = [os.path.realpath(run("man", "-w", *page.split()).stdout.strip())
                 for page in ("1 trustctl", "8 trustd", "5 trustd.conf")]
daemon.send_signal(signal.SIGTERM)
report["daemon_exit"] = daemon.wait(timeout=60)
log.close()
report["log"] = open(log_path).read().splitlines()

report["uninstall"] = run(*make, "uninstall", *settings).stdout
report["changes"] = {directory: changes(directory) for directory in ("/usr/local", "/etc")}
report["config_after_uninstall"] = Path("/etc/trustd/trustd.conf").read_text()
print(json.dumps(report))
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (mount namespace, overlays)")
def test_install_serve_uninstall_as_root_in_a_mount_namespace(
    wheelhouse: Path, tmp_path: Path
) -> None:
    for tool in ("unshare", "systemd-socket-activate", "setpriv", "man"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (scripts/install-system-deps.sh)")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    scratch.chmod(0o755)
    result = _run(
        [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            sys.executable,
            "-c",
            NAMESPACE_CHILD,
            scratch,
            REPO,
            wheelhouse,
            f"{sys.executable} -m pip",
        ],
        env=_make_environment(),
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    report = json.loads(result.stdout)
    assert f"trustd {VERSION} installed in {LIBDIR}" in report["install"]
    assert report["systemd_booted"] is False
    assert "systemd is not running here" in report["install"]
    assert report["exec_start"] == "/usr/local/bin/trustd"
    assert "kept /etc/trustd/trustd.conf (not installed by make install)" in report["install"]
    assert report["config_after_install"] == 'log_level = "debug"\n'
    assert report["install_seconds"] < 120
    assert report["socket_mode"] == "0666"
    # A plain uid asks the installed daemon through the installed trustctl.
    assert report["id"] == "65534"
    code, out, err = report["status"]
    assert code == 0, err
    status = json.loads(out)
    assert status["version"] == VERSION
    assert status["counts"]["system_anchors"] > 0  # the OS bundle, found by the defaults
    assert status["dropin_problems"] == []
    assert report["completion"] == ["show-cert"]
    assert report["man"] == [
        "/usr/local/share/man/man1/trustctl.1",
        "/usr/local/share/man/man8/trustd.8",
        "/usr/local/share/man/man5/trustd.conf.5",
    ]
    # stderr was the stream JOURNAL_STREAM named: every line carries a syslog priority.
    assert report["daemon_exit"] == 0, report["log"]
    # systemd-socket-activate's own lines ("Listening on ...", "Execing ...") come first.
    activator = re.compile(r"(Listening on|Communication attempt on|Execing) ")
    lines = [line for line in report["log"] if not activator.match(line)]
    assert lines, report["log"]
    assert all(re.match(r"<[0-7]>", line) for line in lines), report["log"]
    assert any(re.match(rf"<6>INFO trustd: trustd {VERSION} ready", line) for line in lines)
    # Uninstall gave back /usr/local and /etc as they were: nothing is left in the overlays'
    # upper layers but the administrator's trustd.conf, made before the install, and
    # directories as the lower layer has them.
    assert f"trustd {VERSION} removed from {LIBDIR}" in report["uninstall"]
    assert report["changes"] == {
        "/usr/local": [[], []],
        "/etc": [["file trustd/trustd.conf"], ["trustd"]],
    }
    assert report["config_after_uninstall"] == 'log_level = "debug"\n'
