"""The two halves of systemd integration that trustd needs, without libsystemd.

`notify` speaks the sd_notify(3) protocol: one datagram of newline-separated ``KEY=VALUE``
assignments sent to the AF_UNIX socket named by ``$NOTIFY_SOCKET`` (a path, or an abstract
address written with a leading ``@``).  The helpers send the messages of a Type=notify
service's life: `ready` once the daemon can answer requests, `reloading` then `ready` around a
SIGHUP reload (with the ``MONOTONIC_USEC`` that systemd 253 and later require alongside
``RELOADING=1``), `stopping` on SIGTERM, and free-form `status` text for ``systemctl status``.
Outside systemd (no ``$NOTIFY_SOCKET``) every call is a no-op that returns False.

`listen_fds` is sd_listen_fds(3): a socket-activated daemon inherits its listening sockets as
file descriptors 3, 4, ... when ``$LISTEN_PID`` names this process and ``$LISTEN_FDS`` counts
them.  They are returned as `socket.socket` objects, close-on-exec, and the variables are
removed from the environment so that a child process never mistakes them for its own.
"""

from __future__ import annotations

import logging
import os
import socket
import time

__all__ = [
    "LISTEN_FDS_START",
    "listen_fds",
    "notify",
    "ready",
    "reloading",
    "status",
    "stopping",
]

_log = logging.getLogger(__name__)

#: The first inherited file descriptor (SD_LISTEN_FDS_START).
LISTEN_FDS_START = 3

_LISTEN_VARIABLES = ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")


def _notify_address(value: str) -> bytes | None:
    """The sockaddr_un path for a $NOTIFY_SOCKET value, or None when it is not AF_UNIX."""
    if value.startswith("@"):
        # Abstract namespace: systemd writes the leading NUL byte as '@'.
        return b"\0" + os.fsencode(value[1:])
    if value.startswith("/"):
        return os.fsencode(value)
    return None


def notify(*fields: str) -> bool:
    """Send ``KEY=VALUE`` fields to the service manager in one datagram.

    Returns True when the datagram was sent; False when the process does not run under a
    service manager that listens for notifications (``$NOTIFY_SOCKET`` unset or empty), when
    the address is of a kind this module does not speak (systemd's ``vsock:`` addresses), or
    when sending fails (the failure is logged, never raised: a daemon must not die because its
    supervisor went away).  A field that is not an assignment, or that holds a newline (which
    would split it into two assignments), raises ValueError.
    """
    for field in fields:
        if "=" not in field or "\n" in field:
            raise ValueError(f"not a single KEY=VALUE notification field: {field!r}")
    target = os.environ.get("NOTIFY_SOCKET", "")
    if not target or not fields:
        return False
    address = _notify_address(target)
    if address is None:
        _log.warning("NOTIFY_SOCKET=%r is not an AF_UNIX address; notification not sent", target)
        return False
    message = "\n".join(fields).encode()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sent = sock.sendto(message, address)
    except OSError as error:
        _log.warning("could not notify the service manager at %r: %s", target, error)
        return False
    # A datagram is sent whole or not at all; anything else would be a kernel oddity.
    return sent == len(message)


def ready() -> bool:
    """Tell the service manager that start-up (or a reload) is complete: ``READY=1``."""
    return notify("READY=1")


def reloading() -> bool:
    """Tell the service manager that a reload has begun: ``RELOADING=1``.

    ``MONOTONIC_USEC`` (CLOCK_MONOTONIC in microseconds) is sent with it, as systemd 253 and
    later require; earlier versions ignore the field.  Follow with `ready` when the reload is
    done, whether it succeeded or not.
    """
    usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    return notify("RELOADING=1", f"MONOTONIC_USEC={usec}")


def stopping() -> bool:
    """Tell the service manager that the daemon is shutting down: ``STOPPING=1``."""
    return notify("STOPPING=1")


def status(text: str) -> bool:
    """Set the one-line status text that ``systemctl status`` shows: ``STATUS=<text>``.

    Line breaks in `text` are replaced by spaces: the protocol is line-based.
    """
    return notify("STATUS=" + " ".join(text.splitlines()))


def _unset_listen_environment() -> None:
    for name in _LISTEN_VARIABLES:
        os.environ.pop(name, None)


def listen_fds(unset_environment: bool = True) -> list[socket.socket]:
    """The listening sockets passed by socket activation, in order; [] when there are none.

    Follows sd_listen_fds(3): the sockets are the file descriptors from 3 on, as many as
    ``$LISTEN_FDS`` says, and only when ``$LISTEN_PID`` is this process's id (otherwise the
    variables were meant for a parent and are ignored).  Each descriptor is made close-on-exec.
    With `unset_environment` (the default) ``LISTEN_PID``, ``LISTEN_FDS`` and ``LISTEN_FDNAMES``
    are removed from the environment whatever the outcome, so a second call returns [].

    trustd speaks varlink over Unix stream sockets only, so a passed descriptor that is not an
    AF_UNIX SOCK_STREAM socket (a unit with ListenDatagram= or ListenStream=<port>, say) raises
    ValueError, as do malformed variables; the descriptors are left open in that case.
    """
    try:
        pid_text = os.environ.get("LISTEN_PID")
        count_text = os.environ.get("LISTEN_FDS")
        if not pid_text or count_text is None:
            return []
        try:
            pid = int(pid_text)
            count = int(count_text)
        except ValueError:
            raise ValueError(
                f"malformed socket activation variables LISTEN_PID={pid_text!r} "
                f"LISTEN_FDS={count_text!r}"
            ) from None
        if pid != os.getpid():
            return []
        if count < 0:
            raise ValueError(f"malformed socket activation variable LISTEN_FDS={count_text!r}")
        return _adopt(range(LISTEN_FDS_START, LISTEN_FDS_START + count))
    finally:
        if unset_environment:
            _unset_listen_environment()


def _name(value: object) -> str:
    """An enum member's name (AF_INET, SOCK_DGRAM), or the plain number for an unknown one."""
    return str(getattr(value, "name", value))


def _adopt(fds: range) -> list[socket.socket]:
    """Wrap inherited descriptors as sockets, checking each is a Unix stream socket."""
    sockets: list[socket.socket] = []
    try:
        for fd in fds:
            try:
                sock = socket.socket(fileno=fd)
            except OSError as error:
                message = f"inherited file descriptor {fd} is not a socket: {error}"
                raise ValueError(message) from error
            sockets.append(sock)
            if sock.family != socket.AF_UNIX or sock.type != socket.SOCK_STREAM:
                raise ValueError(
                    f"inherited file descriptor {fd} is a {_name(sock.family)} "
                    f"{_name(sock.type)} socket; trustd listens on AF_UNIX SOCK_STREAM only"
                )
            os.set_inheritable(fd, False)
    except BaseException:
        # Leave the descriptors open (they are the service manager's to reuse) without letting
        # the socket objects close them when they are collected.
        for sock in sockets:
            sock.detach()
        raise
    return sockets
