"""trustd: the daemon.  The composition root: configuration, logging, migrations, the store,
the service, the varlink API, drop-in directories, signals and systemd readiness.

Runs in the foreground.  As root: state in /var/lib/trustd, socket /run/trustd/trustd.sock,
configuration and drop-ins under /etc/trustd.  As another user: the XDG state, runtime and
configuration directories.  TRUSTD_SOCKET overrides the socket path (trustctl and the client
library honour it too).  SIGHUP reloads the configuration's CA bundle and the drop-ins; SIGTERM
finishes the calls in flight and exits 0.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import trustd
from trustd import systemd
from trustd.api import methods
from trustd.api.varlink import MAX_CONNECTIONS_PER_USER, ServiceInfo, VarlinkServer
from trustd.core.request import EvaluationRequest
from trustd.core.trust_settings import Domain
from trustd.net.completion import FetchOptions
from trustd.net.fetcher import Fetcher
from trustd.paths import default_paths
from trustd.service import Caller, TrustService
from trustd.store.engine import StoreUnusable, current_revision, location_problem, open_database
from trustd.store.repository import TrustStore
from trustd.store.system_anchors import SystemAnchors
from trustd.watcher.watch import DropinDirectories, DropinWatcher
from trustd.workers import EvaluationPool

log = logging.getLogger("trustd")

DATABASE = "trustd.sqlite3"


@dataclass(frozen=True)
class Config:
    """Everything the daemon can be told, with the defaults for the running user."""

    socket: Path
    state_dir: Path
    dropin_dir: Path
    config_file: Path
    log_level: str = "info"
    workers: int = 0  # evaluation processes; 0 = one per core
    idle_timeout: float = 120.0  # seconds a connection may stay silent
    max_connections_per_user: int = MAX_CONNECTIONS_PER_USER  # root and trustd's user: no limit
    admin_group: int | None = None
    ca_bundle: Path | None = None
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

    def with_file(self) -> Config:
        """Apply the TOML configuration file, if there is one (command-line options win later)."""
        try:
            data = tomllib.loads(self.config_file.read_text())
        except FileNotFoundError:
            return self
        except (OSError, tomllib.TOMLDecodeError) as problem:
            raise SystemExit(f"trustd: cannot read {self.config_file}: {problem}") from None
        known = {
            "socket",
            "state_dir",
            "dropin_dir",
            "idle_timeout",
            "max_connections_per_user",
            "log_level",
            "admin_group",
            "ca_bundle",
            "workers",
        }
        unknown = sorted(set(data) - known)
        if unknown:
            raise SystemExit(f"trustd: {self.config_file}: unknown settings {', '.join(unknown)}")
        updates: dict[str, Any] = {}
        for key in ("socket", "state_dir", "dropin_dir", "ca_bundle"):
            if key in data:
                updates[key] = Path(data[key])
        if "log_level" in data:
            updates["log_level"] = str(data["log_level"])
        if "workers" in data:
            updates["workers"] = int(data["workers"])
        if "idle_timeout" in data:
            updates["idle_timeout"] = float(data["idle_timeout"])
        if "max_connections_per_user" in data:
            updates["max_connections_per_user"] = int(data["max_connections_per_user"])
        if "admin_group" in data:
            updates["admin_group"] = _group(data["admin_group"])
        return replace(self, **updates)


def _group(value: object) -> int:
    if isinstance(value, int):
        return value
    import grp

    try:
        return grp.getgrnam(str(value)).gr_gid
    except KeyError:
        raise SystemExit(f"trustd: unknown admin group {value!r}") from None


def parse_arguments(argv: Sequence[str] | None = None) -> tuple[Config, dict[str, Any]]:
    """The configuration, and the options given on the command line (they win over the file,
    also when it is re-read on SIGHUP)."""
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
        help="directory holding anchors.d, distrust.d and trust-settings.d",
    )
    parser.add_argument("--ca-bundle", type=Path, help="system CA bundle (default: the OS one)")
    parser.add_argument("--admin-group", help="group whose members may change the admin domain")
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
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
    parser.add_argument("--version", action="version", version=f"trustd {trustd.__version__}")
    args = parser.parse_args(argv)
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
            "idle_timeout",
            "max_connections_per_user",
        )
        if getattr(args, key) is not None
    }
    if args.admin_group is not None:
        overrides["admin_group"] = _group(args.admin_group)
    return replace(config.with_file(), **overrides), overrides


class Daemon:
    """The running service; `run()` blocks until SIGTERM or SIGINT."""

    def __init__(self, config: Config, overrides: dict[str, Any] | None = None) -> None:
        self.config = config
        self.overrides = overrides or {}
        self.stop = threading.Event()
        self.reload_requested = threading.Event()
        try:
            self.engine = open_database(config.state_dir / DATABASE)
        except StoreUnusable as problem:  # one line, status 1; the file is left as it is
            raise SystemExit(f"trustd: {problem}") from None
        self.system = SystemAnchors(config.ca_bundle)
        self.store = TrustStore(self.engine, self.system)
        self.service = TrustService(
            self.store, admin_group=config.admin_group, fetcher=Fetcher(cache=self.store)
        )
        self.dropins = DropinWatcher(
            self.store,
            DropinDirectories(
                anchors=config.dropin_dir / "anchors",
                distrust=config.dropin_dir / "distrust",
                trust_settings=config.dropin_dir / "trust-settings",
            ),
            on_change=self.service.changed,
        )
        self.owned_socket: Path | None = None  # removed at exit (not when systemd owns it)
        workers = config.workers or os.cpu_count() or 1
        self.pool = (
            EvaluationPool(config.state_dir / DATABASE, self.system.path, workers)
            if workers > 1
            else None
        )
        self.server = VarlinkServer(
            ServiceInfo("trustd", "trustd", trustd.__version__, ""),
            idle_timeout=config.idle_timeout,
            max_per_user=config.max_connections_per_user,
            interfaces=[
                methods.interface(
                    self.service,
                    self.status,
                    self.reload,
                    None if self.pool is None else self.evaluate_in_pool,
                )
            ],
        )

    def evaluate_in_pool(
        self,
        caller: Caller,
        request: EvaluationRequest,
        host: str | None,
        port: int,
        fetch: FetchOptions | None,
    ) -> dict[str, Any]:
        assert self.pool is not None
        self.service.requests += 1
        return self.pool.evaluate(
            caller.uid, request, host, port, generation=self.store.generation, fetch=fetch
        )

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
            "requests_served": self.service.requests,
            "generation": store.generation,
        }

    def reload(self) -> None:
        """Re-read the CA bundle and the drop-in directories; readers see the result at once."""
        systemd.reloading()
        try:
            self.reread_configuration()
            self.reconcile_dropins()
            if self.system.refresh():
                log.info(
                    "system CA bundle %s re-read: %d anchors", self.system.path, self.system.count
                )
                self.store.bump()
                self.service.changed()
        finally:
            systemd.ready()

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
        for key in ("socket", "state_dir", "dropin_dir", "ca_bundle", "workers"):
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
        self.server.listen(str(self.config.socket))
        self.owned_socket = self.config.socket
        log.info("listening on %s", self.config.socket)

    def run(self) -> int:
        self.reconcile_dropins()
        self.dropins.start()
        if self.pool is not None:
            self.pool.start()
            log.info("evaluating in %d worker processes", self.pool.processes)
        self.listen()
        signal.signal(signal.SIGTERM, lambda *_: self.stop.set())
        signal.signal(signal.SIGINT, lambda *_: self.stop.set())
        signal.signal(signal.SIGHUP, lambda *_: self.reload_requested.set())
        systemd.ready()
        log.info(
            "trustd %s ready: %d certificates, %d system anchors from %s",
            trustd.__version__,
            self.store.count_certificates(),
            self.system.count,
            self.system.path,
        )
        while not self.stop.is_set():
            if self.reload_requested.wait(0.2):
                self.reload_requested.clear()
                self.reload()
        systemd.stopping()
        log.info("stopping: finishing calls in flight")
        self.dropins.stop()
        self.service.close()
        self.server.shutdown()
        if self.pool is not None:
            self.pool.close()
        if self.owned_socket is not None:
            self.owned_socket.unlink(missing_ok=True)
        self.engine.dispose()
        log.info("stopped")
        return 0


def main(argv: Sequence[str] | None = None) -> int:
    config, overrides = parse_arguments(argv)
    logging.basicConfig(
        level=config.log_level.upper(),
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    return Daemon(config, overrides).run()


if __name__ == "__main__":
    raise SystemExit(main())
