"""Conformance harnesses (x509-limbo)."""
