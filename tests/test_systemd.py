"""systemd integration: the unit files, sd_notify datagrams and socket activation.

Everything here runs against the real thing: `systemd-analyze` checks the units, notifications
are read from a real AF_UNIX datagram socket, and socket activation is driven by
`systemd-socket-activate` (or, for the cases it cannot produce, a child process that inherits
real sockets at descriptors 3, 4, ...).  scripts/install-system-deps.sh installs the tools.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from trustd import systemd

REPO = Path(__file__).resolve().parents[1]
UNITS = REPO / "systemd"
SERVICE = UNITS / "trustd.service"
SOCKET = UNITS / "trustd.socket"
SOCKET_PATH = "/run/trustd/trustd.sock"
TIMEOUT = 10.0
# sockaddr_un.sun_path is 108 bytes; leave room for the socket's own name.
MAX_SOCKET_DIR = 90
INSTALL_HINT = "run scripts/install-system-deps.sh"


# --- the unit files ----------------------------------------------------------------------------


def _directives(path: Path) -> dict[tuple[str, str], list[str]]:
    """A unit file's settings as (section, key) -> values, in order (keys may repeat)."""
    settings: dict[tuple[str, str], list[str]] = {}
    section = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, separator, value = line.partition("=")
        assert separator, f"{path.name}: not a KEY=VALUE line: {raw!r}"
        settings.setdefault((section, key.strip()), []).append(value.strip())
    return settings


def _verifiable_executable() -> str:
    """An executable that exists here, to stand in for /usr/bin/trustd.

    `systemd-analyze verify` fails a unit whose ExecStart= binary does not exist, and the
    packaged path /usr/bin/trustd exists only once a distribution package installs it.  The
    virtualenv's `trustd` console script is the closest stand-in; /bin/true otherwise.
    """
    script = Path(sys.executable).parent / "trustd"
    if script.is_file() and os.access(script, os.X_OK):
        return str(script)
    return shutil.which("true") or "/bin/true"


def _units_for_verify(directory: Path, executable: str) -> tuple[Path, Path]:
    """Copies of both units in `directory`, the service's ExecStart= pointed at `executable`.

    The socket unit needs its service beside it (verify fails it otherwise), hence one folder.
    """
    service = SERVICE.read_text()
    lines = service.splitlines(keepends=True)
    exec_start = [i for i, line in enumerate(lines) if line.startswith("ExecStart=")]
    assert len(exec_start) == 1
    assert lines[exec_start[0]].strip() == "ExecStart=/usr/bin/trustd"
    lines[exec_start[0]] = f"ExecStart={executable}\n"
    (directory / "trustd.service").write_text("".join(lines))
    shutil.copyfile(SOCKET, directory / "trustd.socket")
    return directory / "trustd.service", directory / "trustd.socket"


def _systemd_analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip(f"systemd-analyze is not installed ({INSTALL_HINT})")
    return tool


def _verify(tool: str, *units: Path) -> tuple[int, list[str]]:
    """Run `systemd-analyze verify`; its exit code and every line it printed."""
    result = subprocess.run(
        [tool, "verify", "--man=no", *[str(unit) for unit in units]],
        cwd=units[0].parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return result.returncode, (result.stdout + result.stderr).splitlines()


def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    tool = _systemd_analyze()
    service, socket_unit = _units_for_verify(tmp_path, _verifiable_executable())
    code, output = _verify(tool, service, socket_unit)
    # verify exits 0 on unknown keys and unparsable values, only warning about them, so any
    # line about our units is a failure too.  Lines about the host's other units are not ours.
    ours = [line for line in output if "trustd" in line]
    assert code == 0, "\n".join(output)
    assert ours == [], "\n".join(output)


def test_verify_reports_mistakes_in_our_units(tmp_path: Path) -> None:
    """The check above can fail: a misspelt value and an unknown key are both reported."""
    tool = _systemd_analyze()
    service, socket_unit = _units_for_verify(tmp_path, _verifiable_executable())
    text = service.read_text().replace("ProtectSystem=strict", "ProtectSystem=stricter")
    service.write_text(text.replace("[Install]", "[Install]\nWantedByy=multi-user.target"))
    _code, output = _verify(tool, service, socket_unit)
    assert any("stricter" in line for line in output), output
    assert any("WantedByy" in line for line in output), output


def test_service_sandbox_exposure_stays_low(tmp_path: Path) -> None:
    """`systemd-analyze security` rates the sandbox: 1.8 ("OK") with systemd 252.

    The threshold (3.0, in tenths below) leaves room for newer systemd versions that score
    more settings, but fails if a block of the hardening is dropped.
    """
    tool = _systemd_analyze()
    service, _socket = _units_for_verify(tmp_path, _verifiable_executable())
    result = subprocess.run(
        [tool, "security", "--offline=yes", "--threshold=30", "--no-pager", str(service)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if "--offline" in result.stderr and "unrecognized" in result.stderr:
        pytest.skip("systemd-analyze security --offline needs systemd 250 or later")
    assert result.returncode == 0, result.stdout + result.stderr


def test_service_settings() -> None:
    """The settings other parts of trustd rely on (checked by value, not just by verify)."""
    unit = _directives(SERVICE)

    def get(key: str, section: str = "Service") -> list[str]:
        return unit.get((section, key), [])

    assert get("Type") == ["notify"]
    assert get("ExecStart") == ["/usr/bin/trustd"]
    assert get("ExecReload") == ["/bin/kill -HUP $MAINPID"]
    assert get("Restart") == ["on-failure"]
    assert get("StateDirectory") == ["trustd"]
    assert get("StateDirectoryMode") == ["0700"]
    assert get("RuntimeDirectory") == ["trustd"]
    assert get("RuntimeDirectoryMode") == ["0755"]
    # Stopping the service must not delete the socket trustd.socket listens on.
    assert get("RuntimeDirectoryPreserve") == ["yes"]
    assert get("ConfigurationDirectory") == ["trustd"]
    assert get("UMask") == ["0077"]
    assert get("CapabilityBoundingSet") == [""]
    # The Java virtual machine of the ca-certificates-java hook needs W+X memory.
    assert get("MemoryDenyWriteExecute") == ["no"]
    # Exactly what keeping the distribution's trust stores in step writes, nothing more.
    assert " ".join(get("ReadWritePaths")).split() == [
        "-/usr/share/ca-certificates",
        "-/etc/ca-certificates.conf",
        "-/etc/ssl/certs",
        "-/var/lib/dpkg",
        "-/var/lib/ca-certificates-java",
        "-/var/log/dpkg.log",
        "-/etc/pki/ca-trust",
    ]
    assert get("ProtectSystem") == ["strict"]
    assert "@system-service" in get("SystemCallFilter")
    # AIA, OCSP and CRL fetches need outbound IPv4 and IPv6.
    families = " ".join(get("RestrictAddressFamilies")).split()
    assert sorted(families) == ["AF_INET", "AF_INET6", "AF_UNIX"]
    assert get("PrivateNetwork") in ([], ["no"])
    assert get("IPAddressDeny") == []
    # SO_PEERCRED uids are translated into the daemon's user namespace: none may be private.
    assert get("PrivateUsers") in ([], ["no"])
    assert get("DynamicUser") in ([], ["no"])
    documentation = " ".join(get("Documentation", "Unit")).split()
    assert documentation == ["man:trustd(8)", "man:trustd.conf(5)", "man:trustctl(1)"]
    assert get("Requires", "Unit") == ["trustd.socket"]
    assert "trustd.socket" in " ".join(get("After", "Unit")).split()
    assert get("Also", "Install") == ["trustd.socket"]


def test_comments_name_the_drop_in_directories_the_daemon_reads() -> None:
    """The daemon watches anchors/, distrust/ and trust-settings/ (README, drop-in tests)."""
    text = SERVICE.read_text()
    assert "the anchors/, distrust/ and trust-settings/ drop-ins" in text
    assert not re.search(r"\b(anchors|distrust|trust-settings)\.d\b", text)


def test_socket_settings() -> None:
    unit = _directives(SOCKET)
    assert unit[("Unit", "Documentation")] == ["man:trustd(8) man:trustctl(1)"]
    assert unit[("Socket", "ListenStream")] == [SOCKET_PATH]
    assert unit[("Socket", "SocketMode")] == ["0666"]
    assert unit[("Socket", "DirectoryMode")] == ["0755"]
    assert unit.get(("Socket", "Accept"), ["no"]) == ["no"]
    # The socket lives in the service's RuntimeDirectory= (/run/<name>).
    runtime = _directives(SERVICE)[("Service", "RuntimeDirectory")]
    assert str(Path(SOCKET_PATH).parent) == f"/run/{runtime[0]}"


# --- sd_notify ---------------------------------------------------------------------------------


@pytest.fixture
def short_dir(tmp_path: Path) -> Iterator[Path]:
    """A folder whose name leaves room for socket names within sun_path's 108 bytes."""
    if len(os.fsencode(tmp_path)) <= MAX_SOCKET_DIR:
        yield tmp_path
        return
    directory = Path(tempfile.mkdtemp(prefix="trustd-", dir="/tmp"))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _receiver(address: str | bytes) -> socket.socket:
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(address)
    receiver.settimeout(TIMEOUT)
    return receiver


@pytest.fixture
def notify_socket(short_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A real datagram socket standing in for systemd's, named by $NOTIFY_SOCKET."""
    path = short_dir / "notify"
    with _receiver(str(path)) as receiver:
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        yield receiver


def _fields(datagram: bytes) -> list[str]:
    return datagram.decode().split("\n")


def test_ready_reloading_stopping_arrive(notify_socket: socket.socket) -> None:
    assert systemd.ready() is True
    assert notify_socket.recv(4096) == b"READY=1"

    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert systemd.reloading() is True
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    reloading = _fields(notify_socket.recv(4096))
    assert reloading[0] == "RELOADING=1"
    assert len(reloading) == 2
    key, _, usec = reloading[1].partition("=")
    assert key == "MONOTONIC_USEC"
    assert before <= int(usec) <= after

    assert systemd.ready() is True
    assert notify_socket.recv(4096) == b"READY=1"
    assert systemd.stopping() is True
    assert notify_socket.recv(4096) == b"STOPPING=1"


def test_status_and_several_fields(notify_socket: socket.socket) -> None:
    assert systemd.status("serving 3 clients\nof 4") is True
    assert notify_socket.recv(4096) == b"STATUS=serving 3 clients of 4"
    assert systemd.notify("READY=1", "STATUS=up", "MAINPID=" + str(os.getpid())) is True
    assert _fields(notify_socket.recv(4096)) == ["READY=1", "STATUS=up", f"MAINPID={os.getpid()}"]


def test_notification_carries_the_sender_pid(notify_socket: socket.socket) -> None:
    """systemd attributes a notification by the kernel's SCM_CREDENTIALS (NotifyAccess=main)."""
    notify_socket.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    assert systemd.ready() is True
    credentials = struct.calcsize("3i")
    data, ancillary, _flags, _address = notify_socket.recvmsg(4096, socket.CMSG_SPACE(credentials))
    assert data == b"READY=1"
    [(level, kind, payload)] = ancillary
    assert (level, kind) == (socket.SOL_SOCKET, socket.SCM_CREDENTIALS)
    pid, uid, gid = struct.unpack("3i", payload[:credentials])
    assert (pid, uid, gid) == (os.getpid(), os.getuid(), os.getgid())


def test_abstract_namespace_address(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"trustd-test-notify-{uuid.uuid4().hex}"
    with _receiver(b"\0" + name.encode()) as receiver:
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert systemd.ready() is True
        assert receiver.recv(4096) == b"READY=1"
        assert systemd.stopping() is True
        assert receiver.recv(4096) == b"STOPPING=1"


@pytest.mark.parametrize("value", [None, ""])
def test_not_under_systemd(monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    if value is None:
        monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    else:
        monkeypatch.setenv("NOTIFY_SOCKET", value)
    assert systemd.notify("READY=1") is False
    assert systemd.ready() is False
    assert systemd.reloading() is False
    assert systemd.stopping() is False
    assert systemd.status("idle") is False


def test_unreachable_or_foreign_address_is_logged_not_raised(
    monkeypatch: pytest.MonkeyPatch, short_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(short_dir / "nobody-listens"))
    assert systemd.ready() is False
    monkeypatch.setenv("NOTIFY_SOCKET", "vsock:2:1234")
    assert systemd.ready() is False
    messages = [record.getMessage() for record in caplog.records]
    assert any("nobody-listens" in message for message in messages), messages
    assert any("vsock:2:1234" in message for message in messages), messages


def test_malformed_fields_are_rejected(notify_socket: socket.socket) -> None:
    with pytest.raises(ValueError, match="KEY=VALUE"):
        systemd.notify("READY")
    with pytest.raises(ValueError, match="KEY=VALUE"):
        systemd.notify("STATUS=ok\nREADY=1")
    assert systemd.notify() is False
    notify_socket.settimeout(0.2)
    with pytest.raises(TimeoutError):
        notify_socket.recv(4096)


# --- socket activation -------------------------------------------------------------------------

# Run under systemd-socket-activate: take the sockets, answer one client on the first of them
# with a JSON report and the byte the client sent, then exit.
ACTIVATED_CHILD = """
import json, os, socket
from trustd import systemd

names = ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")
passed = {name: os.environ.get(name) for name in names}
sockets = systemd.listen_fds()
report = {
    "count": len(sockets),
    "passed": passed,
    "left": sorted(name for name in names if name in os.environ),
    "again": len(systemd.listen_fds()),
    "fds": [s.fileno() for s in sockets],
    "paths": [s.getsockname() for s in sockets],
    "kinds": [[s.family.name, s.type.name] for s in sockets],
    "inheritable": [os.get_inheritable(s.fileno()) for s in sockets],
}
connection, _ = sockets[0].accept()
with connection:
    connection.settimeout(10)
    byte = connection.recv(1)
    connection.sendall(json.dumps(report).encode() + b"\\n" + byte)
"""


def _child_environment() -> dict[str, str]:
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", "NOTIFY_SOCKET"):
        environment.pop(name, None)
    return environment


def _connect(path: Path, process: subprocess.Popen[bytes]) -> socket.socket:
    """Connect to `path`, retrying until the activator has bound and is listening."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.settimeout(TIMEOUT)
        try:
            client.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError):
            client.close()
            if process.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.02)
        else:
            return client


def _read_all(connection: socket.socket) -> bytes:
    chunks = []
    while chunk := connection.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _finish(process: subprocess.Popen[bytes]) -> str:
    """Wait for `process` (killing it if it hangs); its stderr, for failure messages."""
    try:
        _stdout, stderr = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        _stdout, stderr = process.communicate()
    return stderr.decode(errors="replace")


def test_listen_fds_under_systemd_socket_activate(short_dir: Path) -> None:
    activate = shutil.which("systemd-socket-activate")
    if activate is None:
        pytest.skip(f"systemd-socket-activate is not installed ({INSTALL_HINT})")
    first, second = short_dir / "a.sock", short_dir / "b.sock"
    process = subprocess.Popen(
        [activate, "-l", str(first), "-l", str(second), sys.executable, "-c", ACTIVATED_CHILD],
        env=_child_environment(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        with _connect(first, process) as client:
            client.sendall(b"!")
            answer = _read_all(client)
        line, _, byte = answer.partition(b"\n")
        assert byte == b"!", answer
        report = json.loads(line)
    finally:
        stderr = _finish(process)
    assert process.returncode == 0, stderr
    assert report["passed"]["LISTEN_FDS"] == "2"
    assert report["count"] == 2
    assert report["fds"] == [3, 4]
    assert report["paths"] == [str(first), str(second)]
    assert report["kinds"] == [["AF_UNIX", "SOCK_STREAM"]] * 2
    assert report["inheritable"] == [False, False]
    assert report["left"] == []
    assert report["again"] == 0


# For what systemd-socket-activate cannot produce: move the sockets inherited at the descriptors
# given in argv[2:] to 3, 4, ..., set the variables (LISTEN_PID=self unless argv[1] names another
# pid) and print what listen_fds makes of them.
INHERITING_CHILD = """
import fcntl, json, os, sys
from trustd import systemd

pid = os.getpid() if sys.argv[1] == "self" else int(sys.argv[1])
unset = sys.argv[2] == "unset"
names = ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")
inherited = [int(fd) for fd in sys.argv[3:]]
high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in inherited]
for fd in inherited:
    os.close(fd)
for index, fd in enumerate(high):
    os.dup2(fd, 3 + index)
    os.close(fd)
os.environ.update(LISTEN_PID=str(pid), LISTEN_FDS=str(len(high)), LISTEN_FDNAMES="x")
report = {}
try:
    sockets = systemd.listen_fds(unset_environment=unset)
except ValueError as error:
    report["error"] = str(error)
    sockets = []
report["fds"] = [s.fileno() for s in sockets]
report["names"] = [s.getsockname() for s in sockets]
report["left"] = sorted(name for name in names if name in os.environ)
report["open"] = []
for fd in range(3, 3 + len(high)):
    try:
        os.fstat(fd)
        report["open"].append(fd)
    except OSError:
        continue  # closed: only open descriptors are reported
print(json.dumps(report))
"""


def _inherit(sockets: list[socket.socket], pid: str = "self", unset: bool = True) -> Any:
    """Run INHERITING_CHILD with `sockets` inherited; its JSON report."""
    fds = [s.fileno() for s in sockets]
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            INHERITING_CHILD,
            pid,
            "unset" if unset else "keep",
            *map(str, fds),
        ],
        pass_fds=fds,
        env=_child_environment(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return json.loads(result.stdout)


def _listening(path: Path) -> socket.socket:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen()
    return listener


def test_listen_fds_adopts_inherited_sockets(short_dir: Path) -> None:
    with _listening(short_dir / "a.sock") as first, _listening(short_dir / "b.sock") as second:
        report = _inherit([first, second])
    assert report == {
        "fds": [3, 4],
        "names": [str(short_dir / "a.sock"), str(short_dir / "b.sock")],
        "left": [],
        "open": [3, 4],
    }


def test_listen_fds_keeps_environment_when_asked(short_dir: Path) -> None:
    with _listening(short_dir / "a.sock") as listener:
        report = _inherit([listener], unset=False)
    assert report["fds"] == [3]
    assert report["left"] == ["LISTEN_FDNAMES", "LISTEN_FDS", "LISTEN_PID"]


def test_listen_fds_ignores_another_process_sockets(short_dir: Path) -> None:
    """LISTEN_PID names a parent: the descriptors are not ours, but the variables still go."""
    with _listening(short_dir / "a.sock") as listener:
        report = _inherit([listener], pid="1")
    assert report == {"fds": [], "names": [], "left": [], "open": [3]}


def test_listen_fds_rejects_a_datagram_socket(short_dir: Path) -> None:
    with (
        _listening(short_dir / "a.sock") as listener,
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as datagram,
    ):
        report = _inherit([listener, datagram])
    assert "descriptor 4" in report["error"]
    assert "SOCK_DGRAM" in report["error"]
    # Neither descriptor was closed behind the caller's back.
    assert report["open"] == [3, 4]
    assert report["left"] == []


@pytest.fixture
def listen_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        monkeypatch.delenv(name, raising=False)
    yield monkeypatch


def test_listen_fds_when_not_activated(listen_environment: pytest.MonkeyPatch) -> None:
    assert systemd.listen_fds() == []
    listen_environment.setenv("LISTEN_FDS", "1")
    assert systemd.listen_fds(unset_environment=False) == []
    assert os.environ["LISTEN_FDS"] == "1"


def test_listen_fds_with_zero_sockets(listen_environment: pytest.MonkeyPatch) -> None:
    listen_environment.setenv("LISTEN_PID", str(os.getpid()))
    listen_environment.setenv("LISTEN_FDS", "0")
    assert systemd.listen_fds() == []
    assert "LISTEN_PID" not in os.environ
    assert "LISTEN_FDS" not in os.environ


@pytest.mark.parametrize(
    ("pid", "count"), [("self", "two"), ("self", "-1"), ("x", "1"), ("self", "")]
)
def test_listen_fds_rejects_malformed_variables(
    listen_environment: pytest.MonkeyPatch, pid: str, count: str
) -> None:
    listen_environment.setenv("LISTEN_PID", str(os.getpid()) if pid == "self" else pid)
    listen_environment.setenv("LISTEN_FDS", count)
    listen_environment.setenv("LISTEN_FDNAMES", "trustd.socket")
    with pytest.raises(ValueError, match="LISTEN_FDS"):
        systemd.listen_fds()
    # Removed even though they were unusable, like sd_listen_fds(3) does.
    assert not {"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"} & set(os.environ)


# --- journald ----------------------------------------------------------------------------------

# Configure logging as the daemon does, with stderr wherever the parent put it, and log a line at
# each level, a multi-line one, and one record below the configured level.
LOGGING_CHILD = """
import logging
from trustd import journal

journal.configure("debug")
log = logging.getLogger("trustd")
log.critical("c")
log.error("e")
log.warning("w")
log.info("i")
log.debug("d")
log.warning("first\\nsecond")
logging.getLogger("trustd").setLevel(logging.INFO)
log.debug("hidden")
"""


def _log_lines(stderr_file: Path, journal_stream: str | None) -> list[str]:
    """What LOGGING_CHILD writes to `stderr_file`, run with JOURNAL_STREAM=`journal_stream`."""
    environment = _child_environment()
    environment.pop("JOURNAL_STREAM", None)
    if journal_stream is not None:
        environment["JOURNAL_STREAM"] = journal_stream
    with stderr_file.open("wb") as stderr:
        subprocess.run(
            [sys.executable, "-c", LOGGING_CHILD],
            env=environment,
            stderr=stderr,
            timeout=60,
            check=True,
        )
    return stderr_file.read_text().splitlines()


def _stream_id(path: Path) -> str:
    status = path.stat()
    return f"{status.st_dev}:{status.st_ino}"


def test_journal_lines_carry_syslog_priorities(tmp_path: Path) -> None:
    """stderr is the stream JOURNAL_STREAM names: `<N>` per line, crit 2 ... debug 7."""
    target = tmp_path / "journal"
    target.touch()
    lines = _log_lines(target, _stream_id(target))
    assert lines == [
        "<2>CRITICAL trustd: c",
        "<3>ERROR trustd: e",
        "<4>WARNING trustd: w",
        "<6>INFO trustd: i",
        "<7>DEBUG trustd: d",
        "<4>WARNING trustd: first",
        "<4>second",
    ]


STAMPED = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} (CRITICAL|ERROR|WARNING|INFO|DEBUG) ")


@pytest.mark.parametrize("journal_stream", [None, "", "garbage", "1:2", "other"])
def test_other_streams_get_timestamps(tmp_path: Path, journal_stream: str | None) -> None:
    """Without JOURNAL_STREAM, or when it names another stream (inherited from a parent whose
    stderr was the journal), lines start with a timestamp and carry no priority prefix."""
    target = tmp_path / "log"
    target.touch()
    if journal_stream == "other":
        other = tmp_path / "journal"
        other.touch()
        journal_stream = _stream_id(other)
    lines = _log_lines(target, journal_stream)
    assert len(lines) == 7, lines
    assert all(STAMPED.match(line) for line in lines[:6]), lines
    assert lines[0].endswith("CRITICAL trustd: c")
    assert lines[6] == "second"
    assert not any(line.startswith("<") for line in lines)
