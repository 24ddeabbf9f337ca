"""Shared fixtures. ``pki`` builds real X.509 certificates and CRLs: see tests/pki.py."""

import pytest
from pki import DEFAULT_KEYS, PKI, KeyCache


@pytest.fixture(scope="session")
def pki_keys() -> KeyCache:
    """Private keys shared by the whole session (RSA and DSA generation is slow)."""
    return DEFAULT_KEYS


@pytest.fixture
def pki(pki_keys: KeyCache) -> PKI:
    """A fresh builder per test; its keys come from the session cache."""
    return PKI(pki_keys)
