"""Security tests run against a real daemon (tests/daemons.py, a subprocess on a private
socket) configured as the system service runs: evaluations in a pool of worker processes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from daemons import Daemon, running_daemon
from pki import PKI


@pytest.fixture
def daemon(pki: PKI) -> Iterator[Daemon]:
    with running_daemon(pki.root("System Root"), "--workers", "2") as running:
        yield running
