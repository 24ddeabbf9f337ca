"""Security tests run against the real daemon of tests/api (a subprocess on a private socket)."""

from __future__ import annotations

from api.conftest import daemon as _daemon_fixture

daemon = _daemon_fixture
