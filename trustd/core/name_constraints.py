"""RFC 5280 4.2.1.10 / 6.1.3 (b)-(c) name constraints over a whole path.

Each CA's constraints apply to every certificate below it, except self-issued intermediates.
Checking every CA's permitted set separately is the same as intersecting them (6.1.4 (g)).  A
name of a type that a CA constrains with a form we do not implement (otherName, ...) fails,
so an unsupported constraint never widens what is accepted.  Comparisons are counted against
the Budget, which stops the quadratic blow-ups of pathological certificates.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import NameOID

from trustd.core.budget import Budget
from trustd.core.certificates import Certificate
from trustd.core.names import (
    IPAddress,
    NormalizedRDNs,
    directory_in_subtree,
    dns_name_in_subtree,
    email_in_subtree,
    ip_in_subtree,
    is_valid_dns_constraint,
    is_valid_dns_pattern,
    is_valid_mailbox,
    normalized_rdns,
    uri_in_subtree,
)
from trustd.core.results import CheckName
from trustd.core.verdict import Failure

_TYPES = {
    x509.DNSName: "dns",
    x509.IPAddress: "ip",
    x509.RFC822Name: "email",
    x509.DirectoryName: "dn",
    x509.UniformResourceIdentifier: "uri",
}


@dataclass(frozen=True, slots=True)
class Names:
    """The names of one certificate that constraints apply to, by type."""

    dns: tuple[str, ...]
    ip: tuple[IPAddress, ...]
    email: tuple[str, ...]
    dn: tuple[NormalizedRDNs, ...]
    uri: tuple[str, ...]
    other_types: frozenset[type]
    malformed_ip: bool  # an iPAddress SAN that is not one address (4 or 16 octets)


def certificate_names(cert: Certificate) -> Names:
    san = cert.subject_alt_names
    general = list(san) if san is not None else []
    dns = tuple(n.value for n in general if isinstance(n, x509.DNSName))
    ip = tuple(n.value for n in general if isinstance(n, x509.IPAddress))
    subject_emails = tuple(
        str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.EMAIL_ADDRESS)
    )
    email = tuple(n.value for n in general if isinstance(n, x509.RFC822Name)) + subject_emails
    dn: list[NormalizedRDNs] = []
    if cert.subject_der != b"\x30\x00":
        dn.append(normalized_rdns(cert.subject))
    dn.extend(normalized_rdns(n.value) for n in general if isinstance(n, x509.DirectoryName))
    others = frozenset(type(n) for n in general if type(n) not in _TYPES)
    addresses = tuple(a for a in ip if isinstance(a, ipaddress.IPv4Address | ipaddress.IPv6Address))
    uri = tuple(n.value for n in general if isinstance(n, x509.UniformResourceIdentifier))
    return Names(dns, addresses, email, tuple(dn), uri, others, len(addresses) != len(ip))


def _matches(kind: str, name: object, subtree: x509.GeneralName, *, excluded: bool) -> bool:
    value = subtree.value
    if kind == "dns":
        return dns_name_in_subtree(str(name), str(value), excluded=excluded)
    if kind == "ip":
        return ip_in_subtree(name, value)  # type: ignore[arg-type]
    if kind == "email":
        return email_in_subtree(str(name), str(value))
    if kind == "uri":
        return uri_in_subtree(str(name), str(value))
    return directory_in_subtree(name, normalized_rdns(value))  # type: ignore[arg-type]


def _subtrees_by_kind(
    subtrees: Sequence[x509.GeneralName] | None,
) -> tuple[dict[str, list[x509.GeneralName]], set[type]]:
    by_kind: dict[str, list[x509.GeneralName]] = {}
    unsupported: set[type] = set()
    for subtree in subtrees or ():
        kind = _TYPES.get(type(subtree))
        if kind is None:
            unsupported.add(type(subtree))
        else:
            by_kind.setdefault(kind, []).append(subtree)
    return by_kind, unsupported


def _invalid_name(names: Names) -> str | None:
    if names.malformed_ip:
        return "invalid IP address in SAN"
    for name in names.dns:
        if not is_valid_dns_pattern(name):
            return f"invalid DNS name {name!r}"
    for address in names.email:
        if not is_valid_mailbox(address):
            return f"invalid e-mail address {address!r}"
    return None


def name_constraint_failures(path: Sequence[Certificate], budget: Budget) -> Iterator[Failure]:
    constrained = [
        (index, cert.name_constraints)
        for index, cert in enumerate(path)
        if index > 0 and cert.name_constraints is not None
    ]
    if not constrained:
        return
    for index in range(len(path) - 1):
        cert = path[index]
        if index > 0 and cert.is_self_issued:
            continue  # RFC 5280 6.1.3 (b): self-issued intermediates are not checked
        names = certificate_names(cert)
        above = [(i, nc) for i, nc in constrained if i > index]
        if not above:
            continue
        problem = _invalid_name(names)
        if problem:
            # A name that is not a valid name cannot be shown to satisfy a constraint.
            yield Failure(index, CheckName.NameConstraints, detail=problem)
            continue
        for ca_index, constraints in above:
            problem = _violation(names, constraints, budget)
            if problem:
                yield Failure(
                    index,
                    CheckName.NameConstraints,
                    detail=f"{problem} (constraint of #{ca_index})",
                )
                break


def _violation(names: Names, constraints: x509.NameConstraints, budget: Budget) -> str | None:
    permitted, permitted_unsupported = _subtrees_by_kind(constraints.permitted_subtrees)
    excluded, excluded_unsupported = _subtrees_by_kind(constraints.excluded_subtrees)
    unsupported = (permitted_unsupported | excluded_unsupported) & names.other_types
    if unsupported:
        kinds = ", ".join(sorted(t.__name__ for t in unsupported))
        return f"constrained name type not supported: {kinds}"
    for subtree in [*permitted.get("dns", ()), *excluded.get("dns", ())]:
        if not is_valid_dns_constraint(str(subtree.value)):
            return f"invalid DNS name constraint {subtree.value!r}"
    for kind in ("dns", "ip", "email", "dn", "uri"):
        values: Sequence[object] = getattr(names, kind)
        if not values:
            continue
        budget.spend(
            "name_constraint_comparisons",
            len(values) * (len(permitted.get(kind, ())) + len(excluded.get(kind, ()))),
        )
        for value in values:
            for subtree in excluded.get(kind, ()):
                if _matches(kind, value, subtree, excluded=True):
                    return f"{_show(value)} is excluded"
            allowed = permitted.get(kind)
            if allowed is not None and not any(
                _matches(kind, value, subtree, excluded=False) for subtree in allowed
            ):
                return f"{_show(value)} is not permitted"
    return None


def _show(value: object) -> str:
    if isinstance(value, list):
        return "directory name"
    return str(value)
