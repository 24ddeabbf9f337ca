"""Host-name, e-mail and name-constraint matching rules."""

from __future__ import annotations

import ipaddress

import pytest
from cryptography import x509

from trustd.core.names import (
    dns_name_in_subtree,
    dns_pattern_matches,
    email_in_subtree,
    hostname_matches,
    is_valid_mailbox,
    loose_ip,
    normalize_hostname,
    uri_in_subtree,
)


def san(*names: x509.GeneralName) -> x509.SubjectAlternativeName:
    return x509.SubjectAlternativeName(list(names))


@pytest.mark.parametrize(
    ("pattern", "reference", "expected"),
    [
        ("example.com", "example.com", True),
        ("EXAMPLE.com", "example.com", True),
        ("*.example.com", "www.example.com", True),
        ("*.example.com", "example.com", False),
        ("*.example.com", "a.b.example.com", False),
        ("*.com", "example.com", False),  # fewer than three labels
        ("w*.example.com", "www.example.com", False),  # partial-label wildcard
        ("www.*.com", "www.example.com", False),
        ("*.*.example.com", "a.b.example.com", False),
        ("ex_ample.com", "ex_ample.com", False),
        ("exämple.com", "exämple.com", False),
    ],
)
def test_dns_patterns(pattern: str, reference: str, expected: bool) -> None:
    normalized = normalize_hostname(reference)
    assert (normalized is not None and dns_pattern_matches(pattern, normalized)) is expected


def test_wildcard_under_a_public_suffix_is_refused() -> None:
    public = {"co.uk", "github.io"}.__contains__
    assert not dns_pattern_matches("*.co.uk", "example.co.uk", public)
    assert dns_pattern_matches("*.example.co.uk", "www.example.co.uk", public)


def test_trailing_dot_and_case_are_ignored() -> None:
    assert hostname_matches(san(x509.DNSName("example.com")), "Example.COM.")


def test_no_common_name_fallback() -> None:
    assert not hostname_matches(None, "example.com")


def test_ip_literals_compare_with_ip_entries_only() -> None:
    names = san(x509.DNSName("127.0.0.1"), x509.IPAddress(ipaddress.ip_address("::1")))
    assert not hostname_matches(names, "127.0.0.1")
    assert hostname_matches(names, "::1")
    assert hostname_matches(names, "[::1]")
    assert hostname_matches(names, "0:0:0:0:0:0:0:1")


def test_ambiguous_ipv4_forms_are_not_addresses_but_lenient_parsing_sees_them() -> None:
    assert normalize_hostname("0xC0A80101") == "0xc0a80101"
    assert str(loose_ip("0xC0A80101")) == "192.168.1.1"
    assert str(loose_ip("192.168.001.001")) == "192.168.1.1"


@pytest.mark.parametrize(
    ("name", "constraint", "excluded", "expected"),
    [
        ("example.com", "example.com", False, True),
        ("www.example.com", "example.com", False, True),
        ("wwwexample.com", "example.com", False, False),
        ("*.example.com", "example.com", False, True),
        ("*.example.com", "www.example.com", False, False),
        ("*.example.com", "bar.example.com", True, True),  # CVE-2025-61727
        ("*.example.com", "a.bar.example.com", True, False),
        ("anything.test", "", False, True),
    ],
)
def test_dns_subtrees(name: str, constraint: str, excluded: bool, expected: bool) -> None:
    assert dns_name_in_subtree(name, constraint, excluded=excluded) is expected


@pytest.mark.parametrize(
    ("address", "constraint", "expected"),
    [
        ("foo@example.com", "foo@example.com", True),
        ("Foo@example.com", "foo@example.com", False),  # local parts are case-sensitive
        ("foo@EXAMPLE.com", "example.com", True),
        ("foo@sub.example.com", "example.com", False),
        ("foo@sub.example.com", ".example.com", True),
        ("foo@example.com", ".example.com", False),
    ],
)
def test_email_subtrees(address: str, constraint: str, expected: bool) -> None:
    assert email_in_subtree(address, constraint) is expected


@pytest.mark.parametrize(
    ("address", "valid"),
    [
        ("user@example.com", True),
        ("first.last+tag@example.com", True),
        ('"quoted user"@example.com', True),
        ("invalid@address@example.com", False),
        ("@example.com", False),
        ("user@", False),
        ("user@exa mple.com", False),
        ("üser@example.com", False),
    ],
)
def test_mailboxes(address: str, valid: bool) -> None:
    assert is_valid_mailbox(address) is valid


@pytest.mark.parametrize(
    ("uri", "constraint", "expected"),
    [
        ("http://host.example.com/path", "host.example.com", True),
        ("http://other.example.com/", "host.example.com", False),
        ("https://a.example.com:8443/", ".example.com", True),
        ("https://example.com/", ".example.com", False),
        ("urn:isbn:0451450523", "example.com", False),
        ("http://192.0.2.1/", "192.0.2.1", False),
    ],
)
def test_uri_subtrees(uri: str, constraint: str, expected: bool) -> None:
    assert uri_in_subtree(uri, constraint) is expected
