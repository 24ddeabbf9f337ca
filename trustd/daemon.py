"""trustd: the daemon.  The composition root: configuration, logging, migrations, the store,
the service, the varlink API, drop-in directories, signals and systemd readiness.

Runs in the foreground.  As root: state in /var/lib/trustd, socket /run/trustd/trustd.sock,
configuration and drop-ins under /etc/trustd.  As another user: the XDG state, runtime and
configuration directories.  TRUSTD_SOCKET overrides the socket path (trustctl and the client
library honour it too).  SIGHUP reloads the configuration's CA bundle and the drop-ins (a
rebuilt CA bundle is also noticed within a second by itself); SIGTERM answers every call
accepted (also connections still queued on the socket) and exits 0.  One daemon per state
directory: a lock in it refuses a second one.  The system daemon keeps the distribution's trust
stores in step (trustd.projection; `trust_stores` in trustd.conf).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
import time
import tomllib
from collections.abc import Callable, Collection, Hashable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NoReturn

import trustd
from trustd import journal, systemd
from trustd.api import methods
from trustd.api.varlink import MAX_CONNECTIONS_PER_USER, ServiceInfo, VarlinkServer
from trustd.cms import SignedContent
from trustd.core.evaluate import Evaluator
from trustd.core.policy import Policy
from trustd.core.request import EvaluationRequest
from trustd.core.trust_settings import Domain
from trustd.net.fetcher import Fetcher
from trustd.paths import default_paths
from trustd.projection.live import LiveProjection
from trustd.projection.model import Projection, project
from trustd.projection.outputs import choose_outputs
from trustd.service import Asked, Caller, TrustService
from trustd.store.engine import (
    StoreUnusable,
    current_revision,
    location_problem,
    lock_state_directory,
    open_database,
)
from trustd.store.repository import TrustStore
from trustd.store.system_anchors import SystemAnchors
from trustd.watcher.profiles import ProfileReader
from trustd.watcher.watch import DropinDirectories, DropinWatcher
from trustd.workers import WORKER_TIMEOUT, EvaluationPool

log = logging.getLogger("trustd")

DATABASE = "trustd.sqlite3"
BUNDLE_POLL_SECONDS = 1.0


# The settings trustd.conf may hold (trustd.conf(5) and the example are generated from this list
# and the command-line options of the same names).
FILE_SETTINGS = (
    "socket",
    "state_dir",
    "dropin_dir",
    "ca_bundle",
    "admin_group",
    "log_level",
    "workers",
    "worker_timeout",
    "idle_timeout",
    "max_connections_per_user",
    "trust_stores",
    "profile_signers",
)


@dataclass(frozen=True)
class Config:
    """Everything the daemon can be told, with the defaults for the running user."""

    socket: Path
    state_dir: Path
    dropin_dir: Path
    config_file: Path
    log_level: str = "info"
    workers: int = 0  # evaluation processes; 0 = one per core
    worker_timeout: float = WORKER_TIMEOUT  # seconds before a worker that does not answer is killed
    idle_timeout: float = 120.0  # seconds a connection may stay silent
    max_connections_per_user: int = MAX_CONNECTIONS_PER_USER  # root and trustd's user: no limit
    admin_group: int | None = None
    ca_bundle: Path | None = None
    # The distribution trust stores kept in step: ("auto",) picks the running distribution's,
    # () is off; None: auto for the system daemon (root, state in /var/lib/trustd), off for a
    # per-user daemon and for a root daemon on another state directory (a test or a copy).
    trust_stores: tuple[str, ...] | None = None
    # Organisations (the O of a signer's subject) whose signed profiles are applied; empty:
    # every profile, signed or not (signed ones are still checked and shown verified or not).
    profile_signers: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def defaults(cls, environ: dict[str, str] | None = None, uid: int | None = None) -> Config:
        paths = default_paths(environ, uid)
        return cls(
            socket=paths.socket,
            state_dir=paths.state_dir,
            dropin_dir=paths.config_dir,
            config_file=paths.config_dir / "trustd.conf",
        )

    def wanted_trust_stores(self, euid: int) -> tuple[str, ...]:
        """The trust stores to keep in step: as configured, else "auto" for the system daemon
        (root with the system's state directory) and none for any other."""
        if self.trust_stores is not None:
            return self.trust_stores
        system = euid == 0 and self.state_dir == default_paths(uid=0).state_dir
        return ("auto",) if system else ()

    def with_file(self) -> Config:
        """Apply the TOML configuration file, if there is one (command-line options win later)."""
        try:
            data = tomllib.loads(self.config_file.read_text())
        except FileNotFoundError:
            return self
        except (OSError, tomllib.TOMLDecodeError) as problem:
            raise SystemExit(f"trustd: cannot read {self.config_file}: {problem}") from None
        unknown = sorted(set(data) - set(FILE_SETTINGS))
        if unknown:
            raise SystemExit(f"trustd: {self.config_file}: unknown settings {', '.join(unknown)}")
        source = self.config_file
        read: dict[str, Callable[[Any], Any]] = {
            "socket": Path,
            "state_dir": Path,
            "dropin_dir": Path,
            "ca_bundle": Path,
            "log_level": str,
            "workers": int,
            "worker_timeout": float,
            "idle_timeout": float,
            "max_connections_per_user": int,
            "admin_group": _group,
            "trust_stores": lambda value: _trust_stores(source, value),
            "profile_signers": lambda value: _names(source, value),
        }
        updates = {key: convert(data[key]) for key, convert in read.items() if key in data}
        return replace(self, **updates)


def _names(source: Path, value: object) -> tuple[str, ...]:
    """A list of names (profile_signers = ["Example Org", ...])."""
    if not isinstance(value, list) or not all(isinstance(n, str) and n for n in value):
        raise SystemExit(f"trustd: {source}: profile_signers must be a list of names")
    return tuple(value)


def _trust_stores(source: Path | str, value: object) -> tuple[str, ...]:
    """trust_stores = "auto" | "off" | ["debian", "fedora"] (on the command line: auto, off, or
    a comma-separated list)."""
    names = [value] if isinstance(value, str) else value
    if isinstance(source, str) and isinstance(value, str):
        names = [name.strip() for name in value.split(",")]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise SystemExit(f'trustd: {source}: trust_stores must be "auto", "off" or a list')
    if names == ["off"]:
        return ()
    unknown = sorted(set(names) - {"auto", "debian", "fedora"})
    if unknown:
        raise SystemExit(f"trustd: {source}: unknown trust stores {', '.join(unknown)}")
    return tuple(names)


def _group(value: object) -> int:
    if isinstance(value, int):
        return value
    import grp

    try:
        return grp.getgrnam(str(value)).gr_gid
    except KeyError:
        raise SystemExit(f"trustd: unknown admin group {value!r}") from None


def argument_parser() -> argparse.ArgumentParser:
    """trustd's command line (also the source of trustd(8) and trustd.conf(5))."""
    parser = argparse.ArgumentParser(
        prog="trustd",
        description="The trust service: evaluates certificate chains and keeps "
        "trust settings, answering over a varlink Unix socket.",
    )
    parser.add_argument("--socket", type=Path, help="socket path (also TRUSTD_SOCKET)")
    parser.add_argument("--state-dir", type=Path, help="where the database lives")
    parser.add_argument("--config", type=Path, help="configuration file (TOML)")
    parser.add_argument(
        "--dropin-dir",
        type=Path,
        help="directory holding the anchors/, distrust/ and trust-settings/ drop-ins",
    )
    parser.add_argument("--ca-bundle", type=Path, help="system CA bundle (default: the OS one)")
    parser.add_argument("--admin-group", help="group whose members may change the admin domain")
    parser.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        help="the least severe messages logged (default info)",
    )
    parser.add_argument(
        "--idle-timeout",
        type=float,
        help="seconds before a silent connection is closed (default 120)",
    )
    parser.add_argument(
        "--max-connections-per-user",
        type=int,
        help="connections one user (not root) may hold at once "
        f"(default {MAX_CONNECTIONS_PER_USER})",
    )
    parser.add_argument(
        "--workers",
        type=int,
        help="evaluation worker processes (default: one per core; 1 = in-process)",
    )
    parser.add_argument(
        "--worker-timeout",
        type=float,
        help="seconds an evaluation may take in a worker before the worker is killed and "
        f"replaced (default {WORKER_TIMEOUT:g})",
    )
    parser.add_argument(
        "--trust-stores",
        metavar="auto|off|debian,fedora",
        help="the distribution trust stores kept in step with what trustd trusts machine-wide "
        "(default: auto for the system daemon, root with the system state directory; off for "
        "any other)",
    )
    parser.add_argument(
        "--profile-signer",
        dest="profile_signers",
        metavar="ORGANISATION",
        action="append",
        help="apply only configuration profiles signed by a signer trustd trusts whose subject "
        "names this organisation (O); may be repeated (default: every profile, signed or not)",
    )
    parser.add_argument("--version", action="version", version=f"trustd {trustd.__version__}")
    return parser


def parse_arguments(argv: Sequence[str] | None = None) -> tuple[Config, dict[str, Any]]:
    """The configuration, and the options given on the command line (they win over the file,
    also when it is re-read on SIGHUP)."""
    args = argument_parser().parse_args(argv)
    config = Config.defaults()
    if args.config is not None:
        config = replace(config, config_file=args.config)
    overrides: dict[str, Any] = {
        key: getattr(args, key)
        for key in (
            "socket",
            "state_dir",
            "dropin_dir",
            "ca_bundle",
            "log_level",
            "workers",
            "worker_timeout",
            "idle_timeout",
            "max_connections_per_user",
        )
        if getattr(args, key) is not None
    }
    if args.admin_group is not None:
        overrides["admin_group"] = _group(args.admin_group)
    if args.trust_stores is not None:
        overrides["trust_stores"] = _trust_stores("--trust-stores", args.trust_stores)
    if args.profile_signers:
        overrides["profile_signers"] = tuple(args.profile_signers)
    return replace(config.with_file(), **overrides), overrides


class Daemon:
    """The running service; `run()` blocks until SIGTERM or SIGINT."""

    def __init__(self, config: Config, overrides: dict[str, Any] | None = None) -> None:
        self.config = config
        self.overrides = overrides or {}
        self.stop = threading.Event()
        self.reload_requested = threading.Event()
        self.wake = threading.Event()  # set with either: the main loop acts at once
        try:
            # held until the process ends; a second daemon on this directory is refused
            self.lock = lock_state_directory(config.state_dir)
            self.engine = open_database(config.state_dir / DATABASE)
        except StoreUnusable as problem:  # one line, status 1; the file is left as it is
            raise SystemExit(f"trustd: {problem}") from None
        self.outputs, own_additions = choose_outputs(
            config.wanted_trust_stores(os.geteuid()), config.state_dir
        )
        self.system = SystemAnchors(config.ca_bundle, exclude=own_additions)
        self.store = TrustStore(self.engine, self.system)
        # The network cache on a store object of its own: caching an answer changes no trust
        # state, so it must not move the generation that caches and Monitor follow.
        network_cache = TrustStore(self.engine)
        self.service = TrustService(
            self.store, admin_group=config.admin_group, fetcher=Fetcher(cache=network_cache)
        )
        self.dropins = DropinWatcher(
            self.store,
            DropinDirectories.under(config.dropin_dir),
            on_change=self.service.changed,
            profiles=ProfileReader(self.profile_signer, config.profile_signers),
        )
        # The socket this daemon made, and its identity (device, inode): removed at exit only
        # if it is still that file (not when systemd owns it, nor once another took the path).
        self.owned_socket: tuple[Path, tuple[int, int]] | None = None
        workers = config.workers or os.cpu_count() or 1
        self.pool = (
            EvaluationPool(
                config.state_dir / DATABASE,
                self.system.path,
                workers,
                exclude=own_additions,
                fetcher=self.service.fetcher,
                timeout=config.worker_timeout,
            )
            if workers > 1
            else None
        )
        self.projection = LiveProjection(self.project, self.outputs) if self.outputs else None
        self.api = methods.TrustInterface(
            self.service,
            self.status,
            self.reload,
            None if self.pool is None else self.evaluate_in_pool,
            self.dropins,
        )
        self.server = VarlinkServer(
            ServiceInfo("trustd", "trustd", trustd.__version__, ""),
            idle_timeout=config.idle_timeout,
            max_per_user=config.max_connections_per_user,
            interfaces=[self.api.interface()],
        )

    def evaluate_in_pool(self, asked: Asked) -> tuple[dict[str, Any], Collection[Hashable]]:
        assert self.pool is not None
        return self.pool.evaluate(asked, generation=self.store.generation)

    def status(self) -> dict[str, Any]:
        store = self.store
        return {
            "version": trustd.__version__,
            "database_revision": current_revision(self.engine) or "",
            "counts": {
                "certificates": store.count_certificates(),
                "system_anchors": self.system.count,
                "admin_settings": len(store.trust_settings(Domain.ADMIN, 0)),
                "user_settings": store.count_user_settings(),
            },
            "dropin_problems": self.dropins.problems,
            "uptime_seconds": round(self.service.uptime, 3),
            "requests_served": self.api.requests,
            "verdicts": self.api.counters(),
            "generation": store.generation,
            "trust_stores": (
                {
                    "outputs": [],
                    "updates": 0,
                    "digest": "",
                    "busy": False,
                    "last_update": "",
                    "problems": [],
                }
                if self.projection is None
                else self.projection.status()
            ),
            **({} if self.pool is None else {"workers": self.pool.health()}),
        }

    def profile_signer(self, signed: SignedContent) -> str | None:
        """Whether trustd trusts a signed profile's signer (basic X.509 policy, evaluated as
        root, the profile's own certificates offered as intermediates): None, or why not."""
        request = EvaluationRequest(certificates=signed.certificates, policies=(Policy(),))
        verdict = self.service.evaluate(Caller(0, None), request)
        return None if verdict.trusted else verdict.message

    def project(self) -> Projection:
        """What the distribution's trust stores should hold, from the admin domain."""
        evaluator = Evaluator()  # this thread's own (the evaluations' caches stay theirs)
        return project(self.store.trust_settings(Domain.ADMIN, 0), evaluator.is_self_signed)

    def follow_changes(self) -> None:
        """Poke the projection at every store generation (what Monitor subscribers see)."""
        assert self.projection is not None
        for _ in self.service.watch():
            self.projection.poke()

    def reload(self) -> None:
        """Re-read the CA bundle and the drop-in directories; readers see the result at once."""
        systemd.reloading()
        try:
            self.reread_configuration()
            self.reconcile_dropins()
            self.refresh_bundle()
            if self.projection is not None:
                self.projection.poke()  # check the stores' files even when nothing changed
        finally:
            systemd.ready()

    def refresh_bundle(self) -> None:
        """Re-read the system CA bundle if it changed (a package update, the projection)."""
        if self.system.refresh():
            log.info("system CA bundle %s re-read: %d anchors", self.system.path, self.system.count)
            self.store.bump()
            self.service.changed()

    def reread_configuration(self) -> None:
        """Apply what can change while running: log level, admin group, connections per user."""
        try:
            fresh = replace(self.config.with_file(), **self.overrides)
        except SystemExit as problem:
            log.error("configuration not reloaded: %s", problem)
            return
        logging.getLogger().setLevel(fresh.log_level.upper())
        self.service.admin_group = fresh.admin_group
        self.server.max_per_user = fresh.max_connections_per_user
        restart_only = (
            "socket", "state_dir", "dropin_dir", "ca_bundle", "workers", "trust_stores",
            "profile_signers",
        )  # fmt: skip
        for key in restart_only:
            if getattr(fresh, key) != getattr(self.config, key):
                log.warning("%s changed in %s: it takes effect at restart", key, fresh.config_file)
        self.config = replace(
            self.config,
            log_level=fresh.log_level,
            admin_group=fresh.admin_group,
            max_connections_per_user=fresh.max_connections_per_user,
        )
        log.warning(
            "configuration re-read: log level %s, admin group %s",
            fresh.log_level,
            fresh.admin_group,
        )

    def reconcile_dropins(self) -> None:
        report = self.dropins.reconcile_now()
        for problem in self.dropins.problems:
            log.warning("drop-in: %s", problem)
        if report.changed:
            log.info("drop-ins: applied %s, removed %s", report.applied, report.removed)

    def listen(self) -> None:
        activated = systemd.listen_fds()
        if activated:
            for listening in activated:
                self.server.adopt(listening)
            log.info("serving %d socket(s) passed by systemd", len(activated))
            return
        self.config.socket.parent.mkdir(parents=True, exist_ok=True)
        unsafe = location_problem(self.config.socket.parent)
        if unsafe is not None:  # whoever could replace the socket could answer for trustd
            raise SystemExit(f"trustd: unsafe socket directory: {unsafe}; refusing to start")
        if _answering(self.config.socket):  # never take the path from a live daemon
            raise SystemExit(
                f"trustd: another daemon is answering on {self.config.socket}; refusing to "
                "take its socket (give this one another --socket)"
            )
        self.server.listen(str(self.config.socket))
        made = self.config.socket.lstat()
        self.owned_socket = (self.config.socket, (made.st_dev, made.st_ino))
        log.info("listening on %s", self.config.socket)

    def remove_socket(self) -> None:
        """Remove the socket file this daemon made, if the path still names it."""
        if self.owned_socket is None:
            return
        path, identity = self.owned_socket
        try:
            now = path.lstat()
        except FileNotFoundError:
            return
        if (now.st_dev, now.st_ino) != identity:
            log.warning("%s is no longer the socket this daemon made; left in place", path)
            return
        path.unlink(missing_ok=True)

    def request(self, what: threading.Event) -> None:
        """Ask the main loop to stop or reload (a signal handler's whole work)."""
        what.set()
        self.wake.set()

    def run(self) -> int:
        self.reconcile_dropins()
        self.dropins.start()
        if self.pool is not None:
            self.pool.start()
            log.info("evaluating in %d worker processes", self.pool.processes)
        # Before the socket exists: a SIGTERM right after the first answer stops the daemon
        # cleanly (the calls accepted are answered) instead of killing it.
        signal.signal(signal.SIGTERM, lambda *_: self.request(self.stop))
        signal.signal(signal.SIGINT, lambda *_: self.request(self.stop))
        signal.signal(signal.SIGHUP, lambda *_: self.request(self.reload_requested))
        self.listen()
        if self.projection is not None:
            self.projection.start()
            threading.Thread(
                target=self.follow_changes, name="trust-stores-follow", daemon=True
            ).start()
            log.info(
                "keeping the system trust stores in step: %s",
                ", ".join(o.name for o in self.outputs),
            )
        systemd.ready()
        log.info(
            "trustd %s ready: %d certificates, %d system anchors from %s",
            trustd.__version__,
            self.store.count_certificates(),
            self.system.count,
            self.system.path,
        )
        next_look = time.monotonic() + BUNDLE_POLL_SECONDS
        while not self.stop.is_set():
            self.wake.wait(max(0.0, next_look - time.monotonic()))
            self.wake.clear()
            if self.reload_requested.is_set():
                self.reload_requested.clear()
                self.reload()
            if time.monotonic() >= next_look:  # a CA bundle rebuilt by its tool is seen in 1 s
                next_look = time.monotonic() + BUNDLE_POLL_SECONDS
                self.refresh_bundle()
        systemd.stopping()
        log.info("stopping: answering the calls accepted")
        self.remove_socket()  # first: new clients learn at once that trustd is gone
        self.dropins.stop()
        self.service.close()  # ends Monitor streams
        if self.projection is not None:
            self.projection.stop()
        self.server.shutdown()
        if self.pool is not None:
            self.pool.close()
        self.engine.dispose()
        log.info("stopped")
        return 0


def _answering(path: Path) -> bool:
    """Whether a process accepts connections on the Unix socket at `path` (a stale file left
    by a daemon that died refuses them)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(2)
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


def main(argv: Sequence[str] | None = None) -> NoReturn:
    config, overrides = parse_arguments(argv)
    journal.configure(config.log_level)  # `<N>` priorities under journald, else timestamps
    logging.getLogger("alembic").setLevel(logging.WARNING)
    status = Daemon(config, overrides).run()
    # Everything is answered, written and closed: leave without the interpreter's teardown of
    # every module and object (about a quarter of a second that every stop and restart waited).
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    main()
