"""The daemon helpers live in tests/daemons.py and the `daemon` fixture in tests/conftest.py;
these names stay importable from here for the tests that import them this way."""

from daemons import Daemon, call, read_message, running_daemon, start_daemon

__all__ = ["Daemon", "call", "read_message", "running_daemon", "start_daemon"]
