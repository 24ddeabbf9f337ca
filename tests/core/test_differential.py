"""Differential tests: trustd's verdict against pyca cryptography's X.509 verifier.

Every scenario builds a chain with the test PKI (tests/pki.py) and asks both validators whether
it is acceptable: trustd with the ssl policy (server with a hostname or IP address, or client),
the root as the only caller anchor and a fixed verification date; pyca with a server (or client)
verifier, the same root as its store and the same date.  They must agree on accept/reject.

pyca implements the CA/Browser Forum web PKI profile and trustd Apple's policies (plus the
stricter rules of docs/deviations.md), so some answers legitimately differ.  Those are listed in
KNOWN_DIFFERENCES with the reason, and for them the test asserts that the answers *do* differ,
so the list cannot go stale.  Disagreements that look like trustd bugs are in SUSPECTED_BUGS
and run as strict xfails.

Each scenario also states what each validator should say: pyca's error (a substring) and the
trustd checks that must be among the counted failures.  Two validators agreeing to reject a
chain for some reason other than the one the scenario is about would prove nothing.
"""

from __future__ import annotations

import ipaddress
import random
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Unpack

import cryptography
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError
from pki import PKI, CertOptions, Issued

from trustd.core import EvaluationRequest, Evaluator, MemorySnapshot, Policy, PolicyKind, Verdict
from trustd.public_suffixes import public_suffix_list

VERIFY_AT = datetime(2030, 1, 1, tzinfo=UTC)
# The wall clock handed to evaluate(): irrelevant, since the request's verify_date wins.
WALL_CLOCK = datetime(2001, 1, 1, tzinfo=UTC)
HOST = "example.com"
# trustd as the service runs it: with the Public Suffix List.
EVALUATOR = Evaluator(public_suffixes=public_suffix_list())

# Leaves live one year around VERIFY_AT: Apple limits TLS server certificates issued after
# mid-2019 to 825 days unless a system root anchors them, and pyca has no such limit.
LEAF_FROM = datetime(2029, 6, 1, tzinfo=UTC)
LEAF_UNTIL = datetime(2030, 6, 1, tzinfo=UTC)
# CA validity windows entirely before or after VERIFY_AT.
PAST = (datetime(2020, 1, 1, tzinfo=UTC), datetime(2029, 1, 1, tzinfo=UTC))
FUTURE = (datetime(2031, 1, 1, tzinfo=UTC), datetime(2031, 12, 1, tzinfo=UTC))

PRIVATE_OID = x509.ObjectIdentifier("1.3.6.1.4.1.55555.1.1")  # an extension nobody implements
NOT_CA = (False, None, True)

# pyca's messages, shortened to what identifies them.
EXPIRED = "not valid at validation time"
NO_SAN_MATCH = "no matching subjectAltName"
NO_PATH = "candidates exhausted"
FORBIDDEN_SIGNATURE = "Forbidden signature algorithm"
FORBIDDEN_KEY = "Forbidden public key algorithm"
NOT_PERMITTED = "no permitted name constraints matched SAN"
# cryptography 50 started to enforce wildcard and directoryName name constraints.
PYCA_50 = tuple(int(part) for part in cryptography.__version__.split(".")[:2]) >= (50, 0)
EXCLUDED = "excluded name constraint matched SAN"
NO_EKU = "required EKU not found"
UNHANDLED_CRITICAL = "unaccounted-for critical extensions"


@dataclass(frozen=True)
class Chain:
    """What both validators are given."""

    leaf: bytes
    intermediates: Sequence[bytes]
    roots: Sequence[bytes]
    name: str = HOST  # the hostname or IP literal the server must have; unused for clients
    client: bool = False


@dataclass(frozen=True)
class Scenario:
    """A chain builder and what each validator should answer (None: accept)."""

    build: Callable[[PKI], Chain]
    pyca: str | tuple[str, ...] | None  # substring(s) of pyca's VerificationError message
    trustd: frozenset[str] | None  # check names that must all be among the counted failures


SCENARIOS: dict[str, Scenario] = {}


def scenario(
    *, pyca: str | tuple[str, ...] | None = None, trustd: str | Sequence[str] | None = None
) -> Callable[[Callable[[PKI], Chain]], Callable[[PKI], Chain]]:
    """Register a chain builder under its function name with dashes (the test id)."""

    def register(build: Callable[[PKI], Chain]) -> Callable[[PKI], Chain]:
        checks = (
            None if trustd is None else frozenset([trustd] if isinstance(trustd, str) else trustd)
        )
        SCENARIOS[build.__name__.replace("_", "-")] = Scenario(build, pyca, checks)
        return build

    return register


# --------------------------------------------------------------------------- helpers


def leaf(
    pki: PKI, issuer: Issued | None, cn: str | None = None, **opts: Unpack[CertOptions]
) -> Issued:
    """A TLS server leaf for HOST, valid for a year around VERIFY_AT unless told otherwise."""
    merged: CertOptions = {"dns": [HOST], "not_before": LEAF_FROM, "not_after": LEAF_UNTIL}
    merged.update(opts)
    return pki.leaf(issuer, cn, **merged)


def chain3(
    pki: PKI, cn: str | None = None, **leaf_opts: Unpack[CertOptions]
) -> tuple[Issued, Issued, Issued]:
    """root -> intermediate -> leaf, EC P-256 unless told otherwise."""
    root = pki.root()
    inter = pki.intermediate(root)
    return root, inter, leaf(pki, inter, cn, **leaf_opts)


def under(inter: Issued, root: Issued, end: Issued | bytes, name: str = HOST) -> Chain:
    """The chain end <- inter <- root, checked for `name`."""
    return Chain(_der(end), (inter.der,), (root.der,), name=name)


def simple(root: Issued, *intermediates: Issued | bytes, end: Issued | bytes) -> Chain:
    return Chain(_der(end), tuple(_der(i) for i in intermediates), (root.der,))


def _der(item: Issued | bytes) -> bytes:
    return item if isinstance(item, bytes) else item.der


def unknown_extension(critical: bool) -> tuple[x509.ExtensionType, bool]:
    return x509.UnrecognizedExtension(PRIVATE_OID, b"\x05\x00"), critical


def with_ca(pki: PKI, path_length: int | None = None, **ca_opts: Unpack[CertOptions]) -> Chain:
    """root -> intermediate (with these options) -> leaf."""
    root = pki.root()
    inter = pki.intermediate(root, path_length=path_length, **ca_opts)
    return simple(root, inter, end=leaf(pki, inter))


def with_root(pki: PKI, path_length: int | None = None, **root_opts: Unpack[CertOptions]) -> Chain:
    """root (with these options) -> intermediate -> leaf."""
    root = pki.root(path_length=path_length, **root_opts)
    inter = pki.intermediate(root)
    return simple(root, inter, end=leaf(pki, inter))


def chain_with_leaf(pki: PKI, cn: str | None = None, **leaf_opts: Unpack[CertOptions]) -> Chain:
    root, inter, end = chain3(pki, cn, **leaf_opts)
    return simple(root, inter, end=end)


def constrained(
    pki: PKI,
    permitted: Sequence[Any] | None,
    excluded: Sequence[Any] | None,
    name: str = HOST,
    cn: str | None = None,
    **leaf_opts: Unpack[CertOptions],
) -> Chain:
    """root -> intermediate with name constraints -> leaf."""
    root = pki.root()
    inter = pki.intermediate(root, name_constraints=(permitted, excluded))
    return under(inter, root, leaf(pki, inter, cn, **leaf_opts), name)


def rsa_chain(pki: PKI, **leaf_opts: Unpack[CertOptions]) -> Chain:
    root = pki.root(key_type="rsa-2048")
    inter = pki.intermediate(root, key_type="rsa-2048")
    return simple(root, inter, end=leaf(pki, inter, **leaf_opts))


# --------------------------------------------------------------------------- valid chains


@scenario()
def valid_2cert_p256(pki: PKI) -> Chain:
    root = pki.root()
    return simple(root, end=leaf(pki, root))


@scenario()
def valid_3cert_p256(pki: PKI) -> Chain:
    return chain_with_leaf(pki)


@scenario()
def valid_4cert_p256(pki: PKI) -> Chain:
    root = pki.root()
    upper = pki.intermediate(root, "Upper CA")
    lower = pki.intermediate(upper, "Lower CA")
    return simple(root, lower, upper, end=leaf(pki, lower))


@scenario()
def valid_3cert_p384(pki: PKI) -> Chain:
    root = pki.root(key_type="ec-p384", hash_alg="sha384")
    inter = pki.intermediate(root, key_type="ec-p384", hash_alg="sha384")
    return simple(root, inter, end=leaf(pki, inter, key_type="ec-p384", hash_alg="sha384"))


@scenario()
def valid_3cert_rsa2048(pki: PKI) -> Chain:
    return rsa_chain(pki, key_type="rsa-2048")


@scenario()
def valid_3cert_rsa3072_root(pki: PKI) -> Chain:
    root = pki.root(key_type="rsa-3072", hash_alg="sha384")
    inter = pki.intermediate(root, key_type="rsa-2048", hash_alg="sha384")
    return simple(root, inter, end=leaf(pki, inter, key_type="rsa-2048"))


@scenario()
def valid_3cert_rsa_pss(pki: PKI) -> Chain:
    root = pki.root(key_type="rsa-2048")
    inter = pki.intermediate(root, key_type="rsa-2048", rsa_pss=True)
    return simple(root, inter, end=leaf(pki, inter, rsa_pss=True))


@scenario()
def valid_3cert_mixed_keys(pki: PKI) -> Chain:
    root = pki.root(key_type="rsa-2048")
    inter = pki.intermediate(root, key_type="ec-p384")
    return simple(root, inter, end=leaf(pki, inter, hash_alg="sha384"))


@scenario()
def valid_sha512_signatures(pki: PKI) -> Chain:
    root = pki.root(hash_alg="sha512")
    inter = pki.intermediate(root, hash_alg="sha512")
    return simple(root, inter, end=leaf(pki, inter, hash_alg="sha512"))


@scenario(pyca=FORBIDDEN_KEY)
def valid_3cert_ed25519(pki: PKI) -> Chain:
    root = pki.root(key_type="ed25519")
    inter = pki.intermediate(root, key_type="ed25519")
    return simple(root, inter, end=leaf(pki, inter, key_type="ed25519"))


@scenario()
def valid_leaf_p521(pki: PKI) -> Chain:
    return chain_with_leaf(pki, key_type="ec-p521")


@scenario()
def valid_root_also_sent(pki: PKI) -> Chain:
    root, inter, end = chain3(pki)
    return simple(root, inter, root, end=end)


@scenario()
def valid_noncritical_unknown_extension(pki: PKI) -> Chain:
    return chain_with_leaf(pki, extra_extensions=[unknown_extension(False)])


@scenario()
def valid_leaf_without_key_usage(pki: PKI) -> Chain:
    return chain_with_leaf(pki, key_usage=None)


@scenario()
def valid_leaf_basic_constraints_not_ca(pki: PKI) -> Chain:
    return chain_with_leaf(pki, basic_constraints=NOT_CA)


@scenario()
def valid_empty_subject_critical_san(pki: PKI) -> Chain:
    return chain_with_leaf(pki, subject=x509.Name([]))


@scenario()
def intermediate_as_anchor(pki: PKI) -> Chain:
    root, inter, end = chain3(pki)
    return Chain(end.der, (inter.der, root.der), (inter.der,))


@scenario()
def leaf_is_anchor(pki: PKI) -> Chain:
    root = pki.root()
    end = leaf(pki, root)
    return Chain(end.der, (root.der,), (end.der,))


@scenario()
def sha1_self_signed_root(pki: PKI) -> Chain:
    return with_root(pki, key_type="rsa-2048", hash_alg="sha1")


@scenario(pyca="2.5.29.15: Certificate is missing required extension")
def intermediate_without_key_usage(pki: PKI) -> Chain:
    return with_ca(pki, key_usage=None)


@scenario(pyca=UNHANDLED_CRITICAL)
def critical_certificate_policies_intermediate(pki: PKI) -> Chain:
    dv = x509.PolicyInformation(x509.ObjectIdentifier("2.23.140.1.2.1"), None)
    return with_ca(pki, extra_extensions=[(x509.CertificatePolicies([dv]), True)])


# --------------------------------------------------------------------------- validity periods


@scenario(pyca=EXPIRED, trustd="TemporalValidity")
def expired_leaf(pki: PKI) -> Chain:
    return chain_with_leaf(pki, not_before=LEAF_FROM - timedelta(days=365), not_after=LEAF_FROM)


@scenario(pyca=EXPIRED, trustd="TemporalValidity")
def expired_intermediate(pki: PKI) -> Chain:
    return with_ca(pki, not_before=PAST[0], not_after=PAST[1])


@scenario(pyca=EXPIRED, trustd="TemporalValidity")
def expired_root(pki: PKI) -> Chain:
    return with_root(pki, not_before=PAST[0], not_after=PAST[1])


@scenario(pyca=EXPIRED, trustd="TemporalValidity")
def not_yet_valid_leaf(pki: PKI) -> Chain:
    return chain_with_leaf(pki, not_before=FUTURE[0], not_after=FUTURE[1])


@scenario(pyca=EXPIRED, trustd="TemporalValidity")
def not_yet_valid_intermediate(pki: PKI) -> Chain:
    return with_ca(pki, not_before=FUTURE[0], not_after=FUTURE[1])


@scenario()
def leaf_valid_until_this_second(pki: PKI) -> Chain:
    return chain_with_leaf(pki, not_before=VERIFY_AT - timedelta(days=300), not_after=VERIFY_AT)


@scenario()
def leaf_valid_from_this_second(pki: PKI) -> Chain:
    return chain_with_leaf(pki, not_before=VERIFY_AT, not_after=VERIFY_AT + timedelta(days=300))


@scenario(pyca=EXPIRED, trustd="TemporalValidity")
def leaf_expired_one_second_ago(pki: PKI) -> Chain:
    until = VERIFY_AT - timedelta(seconds=1)
    return chain_with_leaf(pki, not_before=until - timedelta(days=300), not_after=until)


@scenario(trustd="OtherTrustValidityPeriod")
def leaf_lifetime_over_825_days(pki: PKI) -> Chain:
    start = datetime(2028, 1, 1, tzinfo=UTC)
    return chain_with_leaf(pki, not_before=start, not_after=start + timedelta(days=900))


# --------------------------------------------------------------------------- names


@scenario(pyca=NO_SAN_MATCH, trustd="SSLHostname")
def wrong_hostname(pki: PKI) -> Chain:
    return chain_with_leaf(pki, dns=["example.org"])


@scenario(pyca="leaf server certificate has no subjectAltName", trustd="SSLHostname")
def no_san_common_name_only(pki: PKI) -> Chain:
    root = pki.root()
    inter = pki.intermediate(root)
    end = pki.leaf(inter, HOST, not_before=LEAF_FROM, not_after=LEAF_UNTIL)
    return simple(root, inter, end=end)


@scenario()
def hostname_case_insensitive(pki: PKI) -> Chain:
    root, inter, end = chain3(pki, dns=["WWW.Example.COM"])
    return under(inter, root, end, "www.example.com")


@scenario()
def hostname_second_san_entry(pki: PKI) -> Chain:
    root, inter, end = chain3(pki, dns=["other.test", "www.example.com", HOST])
    return under(inter, root, end, "www.example.com")


@scenario()
def hostname_idna_a_label(pki: PKI) -> Chain:
    root, inter, end = chain3(pki, dns=["xn--bcher-kva.example"])
    return under(inter, root, end, "xn--bcher-kva.example")


@scenario(pyca=NO_SAN_MATCH)
def san_trailing_dot(pki: PKI) -> Chain:
    return chain_with_leaf(pki, HOST, dns=["example.com."])


@scenario(trustd="BasicCertificateProcessing")
def cn_respells_san(pki: PKI) -> Chain:
    return chain_with_leaf(pki, "EXAMPLE.com")


@scenario()
def wildcard_match(pki: PKI) -> Chain:
    root, inter, end = chain3(pki, dns=["*.example.com"])
    return under(inter, root, end, "www.example.com")


@scenario(pyca=NO_SAN_MATCH, trustd="SSLHostname")
def wildcard_apex_mismatch(pki: PKI) -> Chain:
    return chain_with_leaf(pki, dns=["*.example.com"])


@scenario(pyca=NO_SAN_MATCH, trustd="SSLHostname")
def wildcard_two_levels_mismatch(pki: PKI) -> Chain:
    root, inter, end = chain3(pki, dns=["*.example.com"])
    return under(inter, root, end, "a.b.example.com")


@scenario(pyca=NO_SAN_MATCH, trustd="SSLHostname")
def wildcard_partial_label(pki: PKI) -> Chain:
    root, inter, end = chain3(pki, dns=["w*.example.com"])
    return under(inter, root, end, "www.example.com")


@scenario(trustd="SSLHostname")
def wildcard_under_public_suffix(pki: PKI) -> Chain:
    root, inter, end = chain3(pki, dns=["*.co.uk"])
    return under(inter, root, end, "shop.co.uk")


@scenario(trustd="SSLHostname")
def wildcard_with_two_labels(pki: PKI) -> Chain:
    root, inter, end = chain3(pki, dns=["*.com"])
    return under(inter, root, end, "shop.com")


@scenario()
def ip_san_match(pki: PKI) -> Chain:
    root, inter, end = chain3(pki, "192.0.2.7", dns=[], ips=["192.0.2.7"])
    return under(inter, root, end, "192.0.2.7")


@scenario()
def ipv6_san_match(pki: PKI) -> Chain:
    root, inter, end = chain3(pki, "server", dns=[], ips=["2001:db8::7"])
    return under(inter, root, end, "2001:db8::7")


@scenario(pyca=NO_SAN_MATCH, trustd="SSLHostname")
def ip_san_mismatch(pki: PKI) -> Chain:
    root, inter, end = chain3(pki, "server", dns=[], ips=["192.0.2.7"])
    return under(inter, root, end, "192.0.2.8")


@scenario(pyca=NO_SAN_MATCH, trustd="SSLHostname")
def ip_wanted_dns_given(pki: PKI) -> Chain:
    root, inter, end = chain3(pki, "server", dns=["192.0.2.7"])
    return under(inter, root, end, "192.0.2.7")


@scenario(pyca="MUST NOT be critical when subject is nonempty", trustd="BasicCertificateProcessing")
def san_critical_with_subject(pki: PKI) -> Chain:
    return chain_with_leaf(pki, san_critical=True)


@scenario(pyca="MUST be critical when subject is empty", trustd="NonEmptySubject")
def empty_subject_noncritical_san(pki: PKI) -> Chain:
    return chain_with_leaf(pki, subject=x509.Name([]), san_critical=False)


@scenario(pyca=NO_PATH)
def issuer_name_differs_in_case(pki: PKI) -> Chain:
    lower = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "root ca")])
    return with_ca(pki, issuer_name=lower)


# --------------------------------------------------------------------------- path structure


@scenario(pyca=NO_PATH, trustd="MissingIntermediate")
def missing_intermediate(pki: PKI) -> Chain:
    root, _, end = chain3(pki)
    return simple(root, end=end)


@scenario(pyca=NO_PATH, trustd="AnchorTrusted")
def untrusted_root(pki: PKI) -> Chain:
    root, inter, end = chain3(pki)
    return Chain(end.der, (inter.der, root.der), (pki.root("Other Root").der,))


@scenario(pyca=NO_PATH, trustd="AnchorTrusted")
def self_signed_leaf(pki: PKI) -> Chain:
    return simple(pki.root(), end=leaf(pki, None, aki=True))


@scenario(pyca="basicConstraints.cA must be asserted", trustd="BasicConstraintsCA")
def intermediate_not_ca(pki: PKI) -> Chain:
    return with_ca(pki, basic_constraints=NOT_CA)


@scenario(pyca="CA certificate has no basicConstraints", trustd="BasicConstraintsCA")
def intermediate_without_basic_constraints(pki: PKI) -> Chain:
    return with_ca(pki, basic_constraints=None)


@scenario(
    pyca="2.5.29.19: Certificate extension has incorrect criticality", trustd="BasicConstraints"
)
def intermediate_bc_not_critical(pki: PKI) -> Chain:
    return with_ca(pki, basic_constraints=(True, None, False))


@scenario(pyca="basicConstraints.cA must be asserted", trustd="BasicConstraintsCA")
def root_not_ca(pki: PKI) -> Chain:
    root = pki.root(basic_constraints=NOT_CA, key_usage=["digitalSignature"])
    return simple(root, end=leaf(pki, root))


@scenario(pyca="keyCertSign must be asserted", trustd="KeyUsage")
def root_key_usage_without_keycertsign(pki: PKI) -> Chain:
    return with_root(pki, key_usage=["digitalSignature", "cRLSign"])


@scenario(pyca="keyCertSign must be asserted", trustd="KeyUsage")
def intermediate_key_usage_without_keycertsign(pki: PKI) -> Chain:
    return with_ca(pki, key_usage=["digitalSignature", "cRLSign"])


@scenario()
def pathlen_0_respected(pki: PKI) -> Chain:
    return with_ca(pki, path_length=0)


@scenario()
def pathlen_1_respected_4cert(pki: PKI) -> Chain:
    root = pki.root()
    upper = pki.intermediate(root, "Upper CA", path_length=1)
    lower = pki.intermediate(upper, "Lower CA", path_length=0)
    return simple(root, lower, upper, end=leaf(pki, lower))


@scenario(pyca="path length constraint violated", trustd="BasicConstraintsPathLen")
def pathlen_0_violated_by_intermediate(pki: PKI) -> Chain:
    root = pki.root()
    upper = pki.intermediate(root, "Upper CA", path_length=0)
    lower = pki.intermediate(upper, "Lower CA")
    return simple(root, lower, upper, end=leaf(pki, lower))


@scenario(pyca="path length constraint violated", trustd="BasicConstraintsPathLen")
def pathlen_0_violated_at_root(pki: PKI) -> Chain:
    return with_root(pki, path_length=0)


@scenario(pyca=NO_PATH)
def self_issued_not_counted_by_pathlen(pki: PKI) -> Chain:
    # RFC 5280 6.1.4 (l): the self-issued key-rollover certificate does not use up the pathLen.
    root = pki.root(path_length=1)
    rolled = pki.intermediate(root, "Root CA")
    inter = pki.intermediate(rolled)
    return simple(root, inter, rolled, end=leaf(pki, inter))


@scenario(trustd="IdLinkage")
def intermediate_without_ski(pki: PKI) -> Chain:
    return with_ca(pki, ski=False)


@scenario()
def root_without_ski(pki: PKI) -> Chain:
    """Anchors need no SKI: real trusted roots lack one (docs/deviations.md)."""
    return with_root(pki, ski=False)


@scenario(trustd="IdLinkage")
def intermediate_without_aki(pki: PKI) -> Chain:
    return with_ca(pki, aki=False)


@scenario(pyca="2.5.29.35: Certificate is missing required extension", trustd="IdLinkage")
def leaf_without_aki(pki: PKI) -> Chain:
    return chain_with_leaf(pki, aki=False)


@scenario(trustd="IdLinkage")
def leaf_aki_mismatch(pki: PKI) -> Chain:
    return chain_with_leaf(pki, aki=b"\x01" * 20)


@scenario(
    pyca="2.5.29.35: Certificate extension has incorrect criticality", trustd="CriticalExtensions"
)
def critical_aki_leaf(pki: PKI) -> Chain:
    root = pki.root()
    inter = pki.intermediate(root)
    aki = x509.AuthorityKeyIdentifier(inter.ski, None, None)
    return simple(root, inter, end=leaf(pki, inter, extra_extensions=[(aki, True)]))


@scenario(pyca="must be an X509v3 certificate", trustd="BasicCertificateProcessing")
def v1_intermediate(pki: PKI) -> Chain:
    root, inter, end = chain3(pki)
    return simple(root, pki.with_version(inter, 0), end=end)


@scenario(pyca="must be an X509v3 certificate", trustd="BasicCertificateProcessing")
def v1_leaf(pki: PKI) -> Chain:
    root, inter, end = chain3(pki)
    return simple(root, inter, end=pki.with_version(end, 0))


@scenario(pyca="serial number cannot be negative", trustd="BasicCertificateProcessing")
def negative_serial_leaf(pki: PKI) -> Chain:
    root, inter, end = chain3(pki)
    return simple(root, inter, end=pki.with_serial(end, -5))


@scenario(trustd="BasicCertificateProcessing")
def zero_serial_leaf(pki: PKI) -> Chain:
    root, inter, end = chain3(pki)
    return simple(root, inter, end=pki.with_serial(end, 0))


@scenario(trustd="BasicCertificateProcessing")
def serial_21_octets_leaf(pki: PKI) -> Chain:
    root, inter, end = chain3(pki)
    return simple(root, inter, end=pki.with_serial(end, 1 << 164))


@scenario(trustd="UnparseableExtension")
def leaf_pathlen_without_ca(pki: PKI) -> Chain:
    return chain_with_leaf(pki, basic_constraints=(False, 0, True))


def deep_chain(pki: PKI, depth: int) -> Chain:
    root = pki.root()
    issuer, cas = root, []
    for level in range(depth):
        issuer = pki.intermediate(issuer, f"CA {level}")
        cas.append(issuer)
    return simple(root, *reversed(cas), end=leaf(pki, issuer))


@scenario()
def deep_chain_8_intermediates(pki: PKI) -> Chain:
    return deep_chain(pki, 8)


@scenario(pyca="exceeds max depth", trustd="MissingIntermediate")
def deep_chain_9_intermediates(pki: PKI) -> Chain:
    return deep_chain(pki, 9)


# --------------------------------------------------------------------------- key usages


@scenario(pyca=NO_EKU, trustd="ExtendedKeyUsage")
def leaf_eku_clientauth_only(pki: PKI) -> Chain:
    return chain_with_leaf(pki, eku=["clientAuth"])


@scenario()
def leaf_eku_server_and_client(pki: PKI) -> Chain:
    return chain_with_leaf(pki, eku=["clientAuth", "serverAuth"])


@scenario()
def leaf_eku_server_and_any(pki: PKI) -> Chain:
    return chain_with_leaf(pki, eku=["serverAuth", "any"])


@scenario(trustd="ServerAuthEKU")
def leaf_without_eku(pki: PKI) -> Chain:
    return chain_with_leaf(pki, eku=None)


@scenario(pyca=NO_EKU, trustd="ServerAuthEKU")
def leaf_any_eku_only(pki: PKI) -> Chain:
    return chain_with_leaf(pki, eku=["any"])


@scenario()
def intermediate_eku_serverauth(pki: PKI) -> Chain:
    return with_ca(pki, eku=["serverAuth"])


@scenario()
def intermediate_eku_any(pki: PKI) -> Chain:
    return with_ca(pki, eku=["any"])


@scenario(pyca="Neither EKU nor anyEKU", trustd="ExtendedKeyUsage")
def intermediate_eku_clientauth_only(pki: PKI) -> Chain:
    return with_ca(pki, eku=["clientAuth"])


@scenario()
def client_leaf_clientauth(pki: PKI) -> Chain:
    root, inter, end = chain3(
        pki, "alice", dns=[], emails=["alice@example.com"], eku=["clientAuth"]
    )
    return Chain(end.der, (inter.der,), (root.der,), client=True)


@scenario(pyca=NO_EKU, trustd="ExtendedKeyUsage")
def client_leaf_serverauth_only(pki: PKI) -> Chain:
    root, inter, end = chain3(pki)
    return Chain(end.der, (inter.der,), (root.der,), client=True)


@scenario(pyca="EE keyUsage must not assert keyCertSign", trustd="KeyUsage")
def leaf_keycertsign_without_ca(pki: PKI) -> Chain:
    return chain_with_leaf(pki, key_usage=["digitalSignature", "keyCertSign"])


@scenario(pyca="cA must not be asserted in an EE certificate", trustd="KeyUsage")
def leaf_ca_without_keycertsign(pki: PKI) -> Chain:
    return chain_with_leaf(pki, basic_constraints=(True, None, True))


@scenario(pyca="cA must not be asserted in an EE certificate")
def leaf_is_ca(pki: PKI) -> Chain:
    usage = ["digitalSignature", "keyCertSign"]
    return chain_with_leaf(pki, basic_constraints=(True, None, True), key_usage=usage)


# --------------------------------------------------------------------------- policies


@scenario(pyca=UNHANDLED_CRITICAL, trustd="PolicyConstraints")
def require_explicit_policy_unmet(pki: PKI) -> Chain:
    constraints = x509.PolicyConstraints(require_explicit_policy=0, inhibit_policy_mapping=None)
    return with_ca(pki, extra_extensions=[(constraints, True)])


@scenario(trustd="PolicyConstraints")
def policy_constraints_not_critical(pki: PKI) -> Chain:
    constraints = x509.PolicyConstraints(require_explicit_policy=None, inhibit_policy_mapping=0)
    return with_ca(pki, extra_extensions=[(constraints, False)])


# --------------------------------------------------------------------------- name constraints


@scenario()
def nc_permitted_dns_ok(pki: PKI) -> Chain:
    return constrained(pki, ["example.com"], None, "www.example.com", dns=["www.example.com"])


@scenario()
def nc_noncritical_permitted_dns_ok(pki: PKI) -> Chain:
    root = pki.root()
    inter = pki.intermediate(
        root, name_constraints=(["example.com"], None), name_constraints_critical=False
    )
    return under(inter, root, leaf(pki, inter))


@scenario(pyca=NOT_PERMITTED, trustd="NameConstraints")
def nc_permitted_dns_violated(pki: PKI) -> Chain:
    return constrained(pki, ["example.org"], None)


@scenario(pyca=NOT_PERMITTED, trustd="NameConstraints")
def nc_permitted_dns_other_san_violates(pki: PKI) -> Chain:
    return constrained(pki, ["example.com"], None, dns=[HOST, "evil.test"])


@scenario(pyca=NOT_PERMITTED, trustd="NameConstraints")
def nc_permitted_dns_suffix_not_label(pki: PKI) -> Chain:
    return constrained(pki, ["ample.com"], None)


@scenario(pyca=EXCLUDED, trustd="NameConstraints")
def nc_excluded_dns_violated(pki: PKI) -> Chain:
    return constrained(pki, None, ["example.com"], "www.example.com", dns=["www.example.com"])


@scenario(pyca=EXCLUDED, trustd="NameConstraints")
def nc_excluded_dns_case_insensitive(pki: PKI) -> Chain:
    return constrained(pki, None, ["EXAMPLE.com"])


@scenario()
def nc_excluded_dns_ok(pki: PKI) -> Chain:
    return constrained(pki, None, ["example.org"])


@scenario(pyca=EXCLUDED, trustd="NameConstraints")
def nc_excluded_wildcard_reaches_excluded(pki: PKI) -> Chain:
    # CVE-2025-61727: *.example.com also stands for the excluded bad.example.com.
    return constrained(pki, None, ["bad.example.com"], "good.example.com", dns=["*.example.com"])


@scenario(pyca=NOT_PERMITTED if PYCA_50 else None, trustd="NameConstraints")
def nc_wildcard_wider_than_permitted(pki: PKI) -> Chain:
    return constrained(pki, ["www.example.com"], None, "www.example.com", dns=["*.example.com"])


@scenario(pyca=NOT_PERMITTED, trustd="NameConstraints")
def nc_on_root_violated(pki: PKI) -> Chain:
    return with_root(pki, name_constraints=(["example.org"], None))


# pyca 50 reports the last candidate it tried: the root, whose key did not sign the intermediate.
@scenario(pyca=(NOT_PERMITTED, "signature does not match"), trustd="NameConstraints")
def nc_on_self_issued_intermediate_violated(pki: PKI) -> Chain:
    root = pki.root()
    rolled = pki.intermediate(root, "Root CA", name_constraints=(["example.org"], None))
    inter = pki.intermediate(rolled)
    return simple(root, inter, rolled, end=leaf(pki, inter))


@scenario(pyca="malformed DNS name constraint", trustd="NameConstraints")
def nc_leading_dot_constraint(pki: PKI) -> Chain:
    return constrained(pki, [".example.com"], None, "www.example.com", dns=["www.example.com"])


@scenario()
def nc_permitted_ip_ok(pki: PKI) -> Chain:
    return constrained(
        pki, ["192.0.2.0/24"], None, "192.0.2.7", "server", dns=[], ips=["192.0.2.7"]
    )


@scenario(pyca=NOT_PERMITTED, trustd="NameConstraints")
def nc_permitted_ip_violated(pki: PKI) -> Chain:
    return constrained(
        pki, ["198.51.100.0/24"], None, "192.0.2.7", "server", dns=[], ips=["192.0.2.7"]
    )


@scenario(pyca=EXCLUDED, trustd="NameConstraints")
def nc_excluded_ip_violated(pki: PKI) -> Chain:
    return constrained(
        pki, None, ["192.0.2.0/25"], "192.0.2.7", "server", dns=[], ips=["192.0.2.7"]
    )


@scenario(pyca=NOT_PERMITTED, trustd="NameConstraints")
def nc_permitted_dns_and_ip_ip_outside(pki: PKI) -> Chain:
    return constrained(pki, ["example.com", "192.0.2.0/24"], None, ips=["198.51.100.1"])


@scenario()
def nc_permitted_dns_only_ip_unconstrained(pki: PKI) -> Chain:
    return constrained(pki, ["example.com"], None, ips=["192.0.2.7"])


@scenario(pyca="malformed SAN", trustd="NameConstraints")
def nc_ip_network_in_san(pki: PKI) -> Chain:
    return constrained(pki, ["192.0.2.0/24"], None, ips=["192.0.2.0/28"])


@scenario(
    pyca="unsupported directoryName constraint" if PYCA_50 else None, trustd="NameConstraints"
)
def nc_directory_name_violated(pki: PKI) -> Chain:
    good = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Good")])
    return constrained(pki, [good], None)


@scenario(pyca="2.5.29.30: Certificate contains prohibited extension", trustd="NameConstraints")
def leaf_with_name_constraints(pki: PKI) -> Chain:
    return chain_with_leaf(pki, name_constraints=(["example.com"], None))


# --------------------------------------------------------------------------- signatures, keys


@scenario(pyca="signature does not match", trustd="MissingIntermediate")
def bad_signature_leaf(pki: PKI) -> Chain:
    root, inter, end = chain3(pki)
    return simple(root, inter, end=pki.corrupt_signature(end))


@scenario(pyca="signature does not match", trustd="MissingIntermediate")
def bad_signature_intermediate(pki: PKI) -> Chain:
    root, inter, end = chain3(pki)
    return simple(root, pki.corrupt_signature(inter), end=end)


@scenario(pyca=UNHANDLED_CRITICAL, trustd="CriticalExtensions")
def unknown_critical_extension_leaf(pki: PKI) -> Chain:
    return chain_with_leaf(pki, extra_extensions=[unknown_extension(True)])


@scenario(pyca=UNHANDLED_CRITICAL, trustd="CriticalExtensions")
def unknown_critical_extension_intermediate(pki: PKI) -> Chain:
    return with_ca(pki, extra_extensions=[unknown_extension(True)])


@scenario(pyca=FORBIDDEN_SIGNATURE, trustd="SignatureHashAlgorithms")
def sha1_signed_leaf(pki: PKI) -> Chain:
    return rsa_chain(pki, hash_alg="sha1")


@scenario(pyca=FORBIDDEN_SIGNATURE, trustd="SignatureHashAlgorithms")
def sha1_signed_rsa_pss_leaf(pki: PKI) -> Chain:
    return rsa_chain(pki, hash_alg="sha1", rsa_pss=True)


@scenario(pyca=FORBIDDEN_SIGNATURE, trustd="SignatureHashAlgorithms")
def sha1_signed_intermediate(pki: PKI) -> Chain:
    return with_ca(pki, hash_alg="sha1")


@scenario(pyca=FORBIDDEN_SIGNATURE, trustd="WeakSignature")
def md5_signed_leaf(pki: PKI) -> Chain:
    return rsa_chain(pki, hash_alg="md5")


@scenario(pyca=FORBIDDEN_SIGNATURE)
def sha224_signed_leaf(pki: PKI) -> Chain:
    return chain_with_leaf(pki, hash_alg="sha224")


@scenario(pyca=FORBIDDEN_SIGNATURE)
def sha3_256_signed_leaf(pki: PKI) -> Chain:
    return rsa_chain(pki, hash_alg="sha3-256")


@scenario(trustd="KeySize")
def rsa1024_leaf(pki: PKI) -> Chain:
    return chain_with_leaf(pki, key_type="rsa-1024")


@scenario(trustd="KeySize")
def p224_leaf(pki: PKI) -> Chain:
    return chain_with_leaf(pki, key_type="ec-p224")


@scenario(trustd="KeySize")
def secp256k1_leaf(pki: PKI) -> Chain:
    return chain_with_leaf(pki, key_type="ec-secp256k1")


@scenario(pyca="RSA key is too weak", trustd="KeySize")
def rsa1024_intermediate(pki: PKI) -> Chain:
    return with_ca(pki, key_type="rsa-1024")


@scenario(pyca="RSA key is too weak", trustd="KeySize")
def rsa1024_root(pki: PKI) -> Chain:
    return with_root(pki, key_type="rsa-1024")


@scenario(pyca=FORBIDDEN_KEY, trustd="KeySize")
def p224_intermediate(pki: PKI) -> Chain:
    return with_ca(pki, key_type="ec-p224")


@scenario(pyca=FORBIDDEN_KEY, trustd="KeySize")
def secp256k1_intermediate(pki: PKI) -> Chain:
    return with_ca(pki, key_type="ec-secp256k1")


@scenario(pyca=FORBIDDEN_KEY, trustd="KeySize")
def brainpool_p256_intermediate(pki: PKI) -> Chain:
    return with_ca(pki, key=ec.generate_private_key(ec.BrainpoolP256R1()))


# --------------------------------------------------------------------------- path building


def cross_signed(pki: PKI, **bridge_opts: Unpack[CertOptions]) -> tuple[Issued, ...]:
    """old root, new root, the new root cross-signed by the old, intermediate, leaf."""
    old = pki.root("Old Root")
    new = pki.root("New Root")
    bridge = pki.cross_sign(new, old, **bridge_opts)
    inter = pki.intermediate(new)
    return old, new, bridge, inter, leaf(pki, inter)


@scenario()
def cross_signed_via_old_root(pki: PKI) -> Chain:
    old, new, bridge, inter, end = cross_signed(pki)
    return Chain(end.der, (inter.der, bridge.der, new.der), (old.der,))


@scenario()
def cross_signed_new_root_anchor(pki: PKI) -> Chain:
    _, new, bridge, inter, end = cross_signed(pki)
    return Chain(end.der, (bridge.der, inter.der), (new.der,))


@scenario()
def cross_signed_expired_bridge_other_path(pki: PKI) -> Chain:
    _, new, bridge, inter, end = cross_signed(pki, not_before=PAST[0], not_after=PAST[1])
    return Chain(end.der, (bridge.der, inter.der, new.der), (new.der,))


@scenario(pyca=EXPIRED, trustd="TemporalValidity")
def cross_signed_expired_bridge_only_path(pki: PKI) -> Chain:
    old, _, bridge, inter, end = cross_signed(pki, not_before=PAST[0], not_after=PAST[1])
    return Chain(end.der, (bridge.der, inter.der), (old.der,))


@scenario()
def expired_intermediate_with_valid_reissue(pki: PKI) -> Chain:
    root = pki.root()
    current = pki.intermediate(root)
    stale = pki.cross_sign(current, root, not_before=PAST[0], not_after=PAST[1])
    return simple(root, stale, current, end=leaf(pki, current))


@scenario()
def self_issued_key_rollover(pki: PKI) -> Chain:
    root = pki.root()
    rolled = pki.intermediate(root, "Root CA")  # same name, new key: self-issued
    inter = pki.intermediate(rolled)
    return simple(root, inter, rolled, end=leaf(pki, inter))


@scenario()
def shuffled_intermediates_with_junk(pki: PKI) -> Chain:
    root = pki.root()
    upper = pki.intermediate(root, "Upper CA")
    lower = pki.intermediate(upper, "Lower CA")
    stranger = pki.root("Stranger Root")
    decoy = pki.intermediate(stranger, "Upper CA")  # the right name with the wrong key
    unrelated = pki.intermediate(stranger, "Unrelated CA")
    sent = [upper, lower, lower, decoy, stranger, unrelated, upper, root]
    random.Random(7).shuffle(sent)
    return simple(root, *sent, end=leaf(pki, lower))


@scenario(pyca=NO_PATH, trustd="AnchorTrusted")
def name_twin_intermediate_with_wrong_issuer(pki: PKI) -> Chain:
    root = pki.root()
    inter = pki.intermediate(root)
    stranger = pki.root("Stranger Root")
    twin = pki.intermediate(stranger, "Intermediate CA", key=inter.key)
    return Chain(leaf(pki, inter).der, (twin.der, stranger.der), (root.der,))


IDS = sorted(SCENARIOS)

# Where trustd (Apple's policies, docs/deviations.md) and pyca (the CA/B Forum web PKI profile)
# legitimately answer differently.
KNOWN_DIFFERENCES: dict[str, str] = {
    "valid-3cert-ed25519": (
        "pyca's web PKI profile permits only RSA and NIST-curve ECDSA keys and signatures "
        "(CA/B 6.1.5, 7.1.3); trustd verifies Ed25519 (docs/deviations.md)"
    ),
    "intermediate-without-key-usage": (
        "pyca requires keyUsage in every CA certificate (CA/B 7.1.2); RFC 5280 4.2.1.3 leaves it "
        "optional for path validation and Apple accepts a CA without one"
    ),
    "critical-certificate-policies-intermediate": (
        "pyca does not process certificate policies, so a critical certificatePolicies is an "
        "unhandled critical extension to it; trustd processes policies (RFC 5280 6.1)"
    ),
    "leaf-lifetime-over-825-days": (
        "Apple: a TLS server leaf issued after 2019-07-01 under a non-system anchor may live at "
        "most 825 days (SecPolicyServer.c); pyca has no lifetime limit"
    ),
    "san-trailing-dot": (
        "trustd ignores a trailing dot on a SAN dNSName (the absolute form of the same name); "
        "pyca compares the SAN literally"
    ),
    "cn-respells-san": (
        "trustd refuses a common name that respells a SAN identity (CA/B 7.1.4.3, "
        "docs/deviations.md); pyca never looks at the common name"
    ),
    "wildcard-under-public-suffix": (
        "Apple refuses a wildcard directly under a public suffix (*.co.uk); pyca accepts it"
    ),
    "wildcard-with-two-labels": (
        "Apple refuses a wildcard in a name of fewer than three labels (*.com); pyca accepts it"
    ),
    "issuer-name-differs-in-case": (
        "RFC 5280 7.1 compares names with caseIgnoreMatch and trustd (like Apple) chains on "
        "normalised names; pyca compares names byte for byte"
    ),
    "self-issued-not-counted-by-pathlen": (
        "RFC 5280 6.1.4 (l) does not count self-issued intermediates against pathLenConstraint "
        "and trustd follows it; pyca counts them"
    ),
    "intermediate-without-ski": (
        "trustd requires a subjectKeyIdentifier in every CA (RFC 5280 4.2.1.2, "
        "docs/deviations.md 'stricter than Apple'); pyca does not"
    ),
    "intermediate-without-aki": (
        "trustd requires an AKI in every certificate but self-signed ones and anchors "
        "(RFC 5280 4.2.1.1); pyca requires it only in the leaf"
    ),
    "leaf-aki-mismatch": (
        "Apple's IdLinkage check wants the AKI to match the issuer's SKI; pyca ignores key "
        "identifiers when building and validating"
    ),
    "zero-serial-leaf": (
        "trustd enforces RFC 5280 4.1.2.2 (serial positive); pyca only refuses negative serials"
    ),
    "serial-21-octets-leaf": (
        "trustd enforces RFC 5280 4.1.2.2 (serial at most 20 octets); pyca does not"
    ),
    "leaf-pathlen-without-ca": (
        "a pathLenConstraint without cA is invalid (RFC 5280 4.2.1.9): cryptography's parser "
        "refuses the extensions and trustd reports UnparseableExtension; pyca's verifier "
        "accepts the leaf"
    ),
    "leaf-without-eku": (
        "Apple's ServerAuthEKU rule: a leaf issued after 2019-07-01 under a non-user anchor must "
        "assert serverAuth; pyca (RFC 5280 4.2.1.12) accepts a leaf without EKU"
    ),
    "leaf-is-ca": (
        "Apple's ssl policy has no NotCA check and trustd accepts a consistent CA certificate "
        "as a leaf (docs/deviations.md, webpki::ca-as-leaf); CA/B forbids it and pyca refuses"
    ),
    "policy-constraints-not-critical": (
        "RFC 5280 4.2.1.11: policy constraints MUST be critical, which trustd enforces "
        "(docs/deviations.md); pyca ignores the extension"
    ),
    "sha224-signed-leaf": (
        "pyca's profile allows only SHA-256/384/512 signatures (CA/B 7.1.3.2); Apple and "
        "trustd reject only MD2/MD4/MD5 and, for TLS servers, SHA-1"
    ),
    "sha3-256-signed-leaf": (
        "pyca's profile allows only SHA-256/384/512 signatures (CA/B 7.1.3.2); trustd verifies "
        "any strong hash cryptography implements"
    ),
    "rsa1024-leaf": (
        "pyca restricts only the keys that verify signatures, never the leaf's own key; Apple's "
        "TLS policy wants RSA >= 2048 bits on every certificate, leaf included"
    ),
    "secp256k1-leaf": (
        "pyca restricts only the keys that verify signatures, never the leaf's own key; trustd "
        "allows only P-256/P-384/P-521 curves (CA/B 6.1.5, the curves Apple's SecKey supports)"
    ),
    "p224-leaf": (
        "pyca restricts only the keys that verify signatures, never the leaf's own key; Apple's "
        "TLS policy wants EC >= 256 bits on every certificate, leaf included"
    ),
}
if not PYCA_50:
    KNOWN_DIFFERENCES.update(
        {
            "nc-wildcard-wider-than-permitted": (
                "trustd wants every name a wildcard SAN stands for inside the permitted subtree "
                "(docs/deviations.md); pyca lets *.example.com through a permit of www.example.com"
            ),
            "nc-directory-name-violated": (
                "pyca does not apply directoryName constraints to the subject; RFC 5280 4.2.1.10 "
                "does, and so does trustd"
            ),
        }
    )

# Disagreements that look like trustd bugs: kept visible as strict xfails.  (Found here and fixed
# since: EC CA keys on secp256k1 and brainpoolP256r1 were accepted.)
SUSPECTED_BUGS: dict[str, str] = {}


# --------------------------------------------------------------------------- the validators


def pyca_error(chain: Chain) -> str | None:
    """None if pyca accepts the chain, else its error message."""
    try:
        with warnings.catch_warnings():
            # cryptography warns about zero and negative serials, which the scenarios build.
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            end = x509.load_der_x509_certificate(chain.leaf)
            untrusted = [x509.load_der_x509_certificate(der) for der in chain.intermediates]
            store = Store([x509.load_der_x509_certificate(der) for der in chain.roots])
    except ValueError as problem:
        return f"unparseable: {problem}"
    builder = PolicyBuilder().store(store).time(VERIFY_AT)
    try:
        if chain.client:
            builder.build_client_verifier().verify(end, untrusted)
        else:
            subject: x509.DNSName | x509.IPAddress
            try:
                subject = x509.IPAddress(ipaddress.ip_address(chain.name))
            except ValueError:
                subject = x509.DNSName(chain.name)
            builder.build_server_verifier(subject).verify(end, untrusted)
    except VerificationError as problem:
        return str(problem)
    return None


def trustd_verdict(chain: Chain) -> Verdict:
    policy = Policy(PolicyKind.SSL, client=chain.client, name=None if chain.client else chain.name)
    request = EvaluationRequest(
        certificates=(chain.leaf, *chain.intermediates),
        policies=(policy,),
        anchors=tuple(chain.roots),
        anchors_only=True,
        verify_date=VERIFY_AT,
    )
    return EVALUATOR.evaluate(request, MemorySnapshot(), WALL_CLOCK)


def describe(verdict: Verdict) -> str:
    failures = ", ".join(f"#{f.index} {f.check} {f.detail}".strip() for f in verdict.counted)
    return f"{verdict.result.wire_name} [{failures}]"


def _bug_marked(ids: Sequence[str]) -> list[Any]:
    params: list[Any] = []
    for scenario_id in ids:
        if scenario_id in SUSPECTED_BUGS:
            mark = pytest.mark.xfail(
                strict=True, reason=f"trustd bug: {SUSPECTED_BUGS[scenario_id]}"
            )
            params.append(pytest.param(scenario_id, marks=mark, id=scenario_id))
        else:
            params.append(pytest.param(scenario_id, id=scenario_id))
    return params


# --------------------------------------------------------------------------- the tests


def test_the_table_is_consistent() -> None:
    assert len(SCENARIOS) >= 40
    assert set(KNOWN_DIFFERENCES) <= set(SCENARIOS)
    assert set(SUSPECTED_BUGS) <= set(SCENARIOS)
    assert not set(KNOWN_DIFFERENCES) & set(SUSPECTED_BUGS)
    for scenario_id, case in SCENARIOS.items():
        expected_to_differ = scenario_id in KNOWN_DIFFERENCES
        assert ((case.pyca is None) != (case.trustd is None)) == expected_to_differ, scenario_id


@pytest.mark.parametrize("scenario_id", _bug_marked(IDS))
def test_trustd_agrees_with_pyca(scenario_id: str, pki: PKI) -> None:
    chain = SCENARIOS[scenario_id].build(pki)
    error = pyca_error(chain)
    verdict = trustd_verdict(chain)
    summary = f"pyca: {error or 'accepted'}; trustd: {describe(verdict)}"
    if scenario_id in KNOWN_DIFFERENCES:
        assert verdict.trusted != (error is None), f"no longer differs, unlist it: {summary}"
    else:
        assert verdict.trusted == (error is None), summary
    if verdict.trusted:
        assert verdict.chain[0].der == chain.leaf
        assert verdict.chain[-1].der in chain.roots
        assert not verdict.counted


@pytest.mark.parametrize("scenario_id", IDS)
def test_pyca_answers_as_the_scenario_says(scenario_id: str, pki: PKI) -> None:
    """The fixture check: pyca, an independent validator, sees the defect each scenario built."""
    case = SCENARIOS[scenario_id]
    error = pyca_error(case.build(pki))
    if case.pyca is None:
        assert error is None
    else:
        expected = (case.pyca,) if isinstance(case.pyca, str) else case.pyca
        assert error is not None and any(text in error for text in expected), error


@pytest.mark.parametrize("scenario_id", _bug_marked(IDS))
def test_trustd_answers_as_the_scenario_says(scenario_id: str, pki: PKI) -> None:
    """trustd rejects for the intended reason, not merely rejects."""
    case = SCENARIOS[scenario_id]
    verdict = trustd_verdict(case.build(pki))
    counted = {failure.check for failure in verdict.counted}
    if case.trustd is None:
        assert verdict.trusted, describe(verdict)
    else:
        assert not verdict.trusted
        assert case.trustd <= counted, describe(verdict)


def test_known_differences_are_documented() -> None:
    """docs/deviations.md lists every scenario on which trustd and pyca deliberately differ."""
    deviations = (Path(__file__).resolve().parents[2] / "docs" / "deviations.md").read_text()
    missing = [case for case in KNOWN_DIFFERENCES if f"`{case}`" not in deviations]
    assert not missing
