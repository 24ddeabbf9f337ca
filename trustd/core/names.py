"""Names: matching a reference identity against a certificate, and name constraints.

Hostname matching follows Apple's SecDNSMatch (shared/reference/apple-trust.md 4.3) and RFC 6125:
only subjectAltName dNSName entries count (no common-name fallback), a wildcard is allowed only
as the whole left-most label of a name with at least three labels, comparison ignores case and a
trailing dot, and an IP address literal is compared with iPAddress entries in binary form.

Name constraints follow RFC 5280 4.2.1.10 for dNSName, iPAddress, rfc822Name and directoryName.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from cryptography import x509

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# RFC 5322 3.2.3 atext, for the dot-atom local part of a mailbox.
_ATEXT = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+$")

PublicSuffixTest = Callable[[str], bool]


def never_public(_: str) -> bool:
    """The public-suffix test of a caller that hands none: no domain is a public suffix."""
    return False


# RFC 1034 3.5 "preferred name syntax" label (LDH), as required of dNSName by RFC 5280 4.2.1.6.
_LDH_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def parse_ip(text: str) -> IPAddress | None:
    """The address if `text` is an IPv4 dotted quad or an IPv6 literal, else None.

    Python's parser refuses leading zeros and other ambiguous IPv4 forms (hex, octal, short).
    """
    candidate = text.strip("[]") if text.startswith("[") else text
    if ":" not in candidate and not candidate.replace(".", "").isdigit():
        return None  # neither IPv6 nor a dotted quad: no need to ask ipaddress (it raises)
    try:
        return ipaddress.ip_address(candidate)
    except ValueError:
        return None


def loose_ip(text: str) -> IPAddress | None:
    """An address as lenient parsers read it (inet_aton's hex, octal and short IPv4 forms)."""
    strict = parse_ip(text)
    if strict is not None:
        return strict
    try:
        return ipaddress.IPv4Address(socket.inet_aton(text))
    except OSError:
        return None


def normalize_hostname(name: str) -> str | None:
    """Lower-case A-label form of a reference hostname without its trailing dot, or None."""
    name = name[:-1] if name.endswith(".") else name
    if not name:
        return None
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    name = name.lower()
    if not all(_LDH_LABEL.match(label) for label in name.split(".")):
        return None
    return name


def _without_root_dot(name: str) -> str:
    """The name without one trailing dot (the absolute form); a second one stays, invalid."""
    return name[:-1] if name.endswith(".") else name


def is_valid_dns_pattern(pattern: str) -> bool:
    """A presented dNSName: LDH labels, optionally a wildcard as the whole first label."""
    if not pattern.isascii():
        return False
    labels = _without_root_dot(pattern.lower()).split(".")
    if labels[0] == "*":
        labels = labels[1:]
        if len(labels) < 2:
            return False
    return bool(labels) and all(_LDH_LABEL.match(label) for label in labels)


def is_valid_mailbox(address: str) -> bool:
    """RFC 5280 4.2.1.6 / RFC 5321 4.1.2 Mailbox: dot-atom or quoted local part, LDH domain."""
    local, at, domain = address.rpartition("@")
    if not at or not local or not address.isascii():
        return False
    if local.startswith('"') and local.endswith('"') and len(local) >= 2:
        quoted = local[1:-1].replace('\\"', "").replace("\\\\", "")
        if '"' in quoted or "\\" in quoted:
            return False
    elif not all(_ATEXT.match(atom) for atom in local.split(".")):
        return False
    return normalize_hostname(domain) is not None


def dns_pattern_matches(
    pattern: str, reference: str, is_public_suffix: PublicSuffixTest = never_public
) -> bool:
    """Whether a SAN dNSName `pattern` matches the normalised `reference` hostname.

    A wildcard needs at least three labels and must not stand directly under a public suffix
    (Apple refuses *.co.uk as it refuses *.com).
    """
    if not is_valid_dns_pattern(pattern):
        return False
    pattern = _without_root_dot(pattern.lower())
    if not pattern.startswith("*."):
        return pattern == reference
    pattern_labels = pattern.split(".")
    reference_labels = reference.split(".")
    return (
        len(pattern_labels) >= 3
        and len(pattern_labels) == len(reference_labels)
        and pattern_labels[1:] == reference_labels[1:]
        and not is_public_suffix(pattern[2:])
    )


def hostname_matches(
    san: x509.SubjectAlternativeName | None,
    reference: str,
    is_public_suffix: PublicSuffixTest = never_public,
) -> bool:
    """Whether the certificate's SAN covers `reference` (hostname or IP literal)."""
    if san is None:
        return False
    address = parse_ip(reference)
    if address is not None:
        return any(ip == address for ip in san.get_values_for_type(x509.IPAddress))
    return dns_names_match(san.get_values_for_type(x509.DNSName), reference, is_public_suffix)


def presented_names_match(
    dns_names: Iterable[str],
    addresses: Iterable[object],
    reference: str,
    is_public_suffix: PublicSuffixTest = never_public,
) -> bool:
    """hostname_matches for a SAN already split into its dNSName and iPAddress values."""
    address = parse_ip(reference)
    if address is not None:
        return any(ip == address for ip in addresses)
    return dns_names_match(dns_names, reference, is_public_suffix)


def dns_names_match(
    dns_names: Iterable[str], reference: str, is_public_suffix: PublicSuffixTest
) -> bool:
    """Whether one of the dNSName values matches `reference`, a hostname (not an address)."""
    normalized = normalize_hostname(reference)
    if normalized is None:
        return False
    return any(dns_pattern_matches(p, normalized, is_public_suffix) for p in dns_names)


def email_matches(addresses: Iterable[str], reference: str) -> bool:
    """RFC 5280 4.2.1.6: local part exact, domain case-insensitive."""
    local, _, domain = reference.rpartition("@")
    if not local or not domain:
        return False
    for address in addresses:
        a_local, _, a_domain = address.rpartition("@")
        if a_local == local and a_domain.lower() == domain.lower():
            return True
    return False


# -- name constraints -------------------------------------------------------------------------


def dns_in_subtree(name: str, constraint: str) -> bool:
    """RFC 5280 4.2.1.10: `name` is `constraint` or has labels added on its left."""
    name = name.lower().rstrip(".")
    constraint = constraint.lower().rstrip(".")
    if not constraint:
        return True
    return name == constraint or name.endswith("." + constraint)


def wildcard_within_subtree(pattern: str, constraint: str) -> bool:
    """Every name `*.base` can stand for lies inside the subtree (for permitted subtrees)."""
    return dns_in_subtree(pattern[2:], constraint)


def wildcard_meets_subtree(pattern: str, constraint: str) -> bool:
    """Some name `*.base` can stand for lies inside the subtree (for excluded subtrees).

    A wildcard certificate for *.example.com presented for bar.example.com must not escape an
    exclusion of bar.example.com (CVE-2025-61727), so exclusions are tested against every name
    the pattern could match.
    """
    base = pattern[2:]
    return dns_in_subtree(base, constraint) or _is_exact_label_under(constraint, base)


def _is_exact_label_under(constraint: str, base: str) -> bool:
    """`constraint` is exactly one label added to the left of `base` (x.base)."""
    constraint = constraint.lower().rstrip(".").lstrip(".")
    base = base.lower().rstrip(".")
    head, dot, rest = constraint.partition(".")
    return bool(dot) and bool(head) and rest == base


def is_valid_dns_constraint(constraint: str) -> bool:
    """A dNSName subtree is a host or domain name: no wildcard, no leading period (4.2.1.10)."""
    # An IA5String of A-labels: a U-label (`bücher.example`) is malformed, not a spelling of
    # `xn--bcher-kva.example`, so that an excluded subtree can never be silently missed.
    return constraint == "" or (constraint.isascii() and normalize_hostname(constraint) is not None)


def dns_name_in_subtree(name: str, constraint: str, *, excluded: bool) -> bool:
    """Name-constraint test for one presented dNSName (possibly a wildcard pattern)."""
    if name.startswith("*."):
        if excluded:
            return wildcard_meets_subtree(name, constraint)
        return wildcard_within_subtree(name, constraint)
    return dns_in_subtree(name, constraint)


def uri_in_subtree(uri: str, constraint: str) -> bool:
    """RFC 5280 4.2.1.10 URI constraints apply to the host: exactly it, or (".host") below it.

    A URI without a host name (a URN, an IP literal) cannot satisfy a URI constraint.
    """
    try:
        host = urlsplit(uri).hostname
    except ValueError:
        return False
    if not host or parse_ip(host) is not None:
        return False
    host = host.lower().rstrip(".")
    constraint = constraint.lower().rstrip(".")
    if constraint.startswith("."):
        return host.endswith(constraint)
    return host == constraint


def email_in_subtree(address: str, constraint: str) -> bool:
    """RFC 5280 4.2.1.10 rfc822Name constraints: a mailbox, a host, or a domain (".host")."""
    local, at, host = address.rpartition("@")
    if not at or not local:
        return False
    if "@" in constraint:
        c_local, _, c_host = constraint.rpartition("@")
        return c_local == local and c_host.lower() == host.lower()
    if constraint.startswith("."):
        return host.lower().endswith(constraint.lower())
    return host.lower() == constraint.lower()


def ip_in_subtree(
    address: IPAddress, network: ipaddress.IPv4Network | ipaddress.IPv6Network
) -> bool:
    return address.version == network.version and address in network


NormalizedRDNs = list[tuple[tuple[str, object], ...]]


def directory_in_subtree(rdns: NormalizedRDNs, constraint: NormalizedRDNs) -> bool:
    """The constraint's RDNs are a prefix of the subject's (both normalised)."""
    return len(constraint) <= len(rdns) and rdns[: len(constraint)] == constraint


def normalized_rdns(name: x509.Name) -> NormalizedRDNs:
    """RDN sequence for comparison (RFC 5280 7.1, simplified RFC 4518).

    String values are compared case-insensitively with runs of white space folded and leading or
    trailing space removed; the attributes inside one RDN are compared as a set.
    """
    result: NormalizedRDNs = []
    for rdn in name.rdns:
        attributes = []
        for attribute in rdn:
            value: object = attribute.value
            if isinstance(value, str):
                value = " ".join(value.split()).casefold()
            attributes.append((attribute.oid.dotted_string, value))
        result.append(tuple(sorted(attributes, key=repr)))
    return result
