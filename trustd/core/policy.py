"""Evaluation policies: what a chain is being trusted for.

Names, OIDs and rules follow Apple's SecPolicy (shared/reference/apple-trust.md section 4).  A
policy is a value; the checks module reads it to decide which leaf rules apply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from cryptography.x509.oid import ExtendedKeyUsageOID

APPLE_POLICY_ARC = "1.2.840.113635.100.1"

ANY_EKU = ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE.dotted_string
SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH.dotted_string
CLIENT_AUTH = ExtendedKeyUsageOID.CLIENT_AUTH.dotted_string
EMAIL_PROTECTION = ExtendedKeyUsageOID.EMAIL_PROTECTION.dotted_string
CODE_SIGNING = ExtendedKeyUsageOID.CODE_SIGNING.dotted_string
TIME_STAMPING = ExtendedKeyUsageOID.TIME_STAMPING.dotted_string
MICROSOFT_SGC = "1.3.6.1.4.1.311.10.3.3"
NETSCAPE_SGC = "2.16.840.1.113730.4.1"
IPSEC_IKE = "1.3.6.1.5.5.7.3.17"

EKU_NAMES = {
    "serverAuth": SERVER_AUTH,
    "clientAuth": CLIENT_AUTH,
    "emailProtection": EMAIL_PROTECTION,
    "codeSigning": CODE_SIGNING,
    "timeStamping": TIME_STAMPING,
    "anyExtendedKeyUsage": ANY_EKU,
    "OCSPSigning": ExtendedKeyUsageOID.OCSP_SIGNING.dotted_string,
}


class PolicyKind(StrEnum):
    """The policies `verify-cert -p` and `add-trusted-cert -p` name."""

    BASIC = "basic"
    SSL = "ssl"
    SMIME = "smime"
    CODE_SIGN = "codeSign"
    EAP = "eap"
    IPSEC = "IPSec"
    SW_UPDATE = "swUpdate"
    PKG_SIGN = "pkgSign"
    APPLE_ID = "appleID"
    MAC_APP_STORE = "macappstore"
    TIMESTAMPING = "timestamping"

    @classmethod
    def parse(cls, text: str) -> PolicyKind:
        """Policy by its `security -p` name; 'ipsec' is accepted in any case."""
        for kind in cls:
            if kind.value == text or (kind is cls.IPSEC and text.lower() == "ipsec"):
                return kind
        raise ValueError(f"unknown policy {text!r}")


@dataclass(frozen=True, slots=True)
class PolicyInfo:
    arc: int  # last arc of the Apple policy OID (the "compatibility OID" for trust settings)
    server_name: str | None  # kSecTrustSettingsPolicyName
    client_name: str | None
    server_ekus: frozenset[str] | None  # leaf EKUs accepted, None = not checked
    client_ekus: frozenset[str] | None
    network_by_default: bool  # NoNetworkAccess is set for basic and EAP


# Leaf EKUs accepted: a TLS (or EAP) server or client, and the policies of one purpose.
_SERVER_EKUS = frozenset({ANY_EKU, SERVER_AUTH, MICROSOFT_SGC, NETSCAPE_SGC})
_CLIENT_EKUS = frozenset({ANY_EKU, CLIENT_AUTH})
_EMAIL_EKUS = frozenset({ANY_EKU, EMAIL_PROTECTION})
_CODE_EKUS = frozenset({ANY_EKU, CODE_SIGNING})
_TIME_EKUS = frozenset({TIME_STAMPING})

_INFO = {
    PolicyKind.BASIC: PolicyInfo(2, "basicX509", "basicX509", None, None, False),
    PolicyKind.SSL: PolicyInfo(3, "sslServer", "sslClient", _SERVER_EKUS, _CLIENT_EKUS, True),
    PolicyKind.SMIME: PolicyInfo(8, "SMIME", "SMIME", _EMAIL_EKUS, _EMAIL_EKUS, True),
    PolicyKind.EAP: PolicyInfo(9, "eapServer", "eapClient", _SERVER_EKUS, _CLIENT_EKUS, False),
    PolicyKind.SW_UPDATE: PolicyInfo(10, "AppleSWUpdateSigning", None, None, None, True),
    PolicyKind.IPSEC: PolicyInfo(11, "ipsecServer", "ipsecClient", None, None, True),
    PolicyKind.CODE_SIGN: PolicyInfo(
        16, "CodeSigning", "CodeSigning", _CODE_EKUS, _CODE_EKUS, True
    ),
    PolicyKind.PKG_SIGN: PolicyInfo(17, "PackageSigning", None, None, None, True),
    PolicyKind.APPLE_ID: PolicyInfo(18, "AppleIDAuthority", None, None, None, True),
    PolicyKind.MAC_APP_STORE: PolicyInfo(19, "MacAppStoreReceipt", None, None, None, True),
    PolicyKind.TIMESTAMPING: PolicyInfo(
        20, "AppleTimeStamping", None, _TIME_EKUS, _TIME_EKUS, True
    ),
}

# Policy display names of `dump-trust-settings`, by the last arc of the Apple policy OID.
POLICY_DISPLAY_NAMES = {
    1: "iSign",
    2: "Apple X509 Basic",
    3: "SSL",
    8: "SMIME",
    9: "EAP",
    10: "SW Update Signing",
    11: "IPSec",
    12: "iChat",
    13: "Resource Signing",
    14: "PKINIT Client",
    15: "PKINIT Server",
    16: "Code Signing",
    17: "Package Signing",
    18: "Mac App Store",
    19: "AppleID Sharing",
}


@dataclass(frozen=True, slots=True)
class Policy:
    """One policy of an evaluation request.

    `name` is the hostname or IP literal (ssl, eap, ipsec) or e-mail address (smime) to verify.
    `extended_key_usages` and `key_usages`, when given, replace the policy's own leaf rules: the
    leaf must assert every one of them (used by callers with their own profile, such as the
    x509-limbo harness).
    """

    kind: PolicyKind = PolicyKind.BASIC
    client: bool = False
    name: str | None = None
    extended_key_usages: frozenset[str] | None = None
    key_usages: frozenset[str] = field(default_factory=frozenset)

    @property
    def info(self) -> PolicyInfo:
        return _INFO[self.kind]

    @property
    def oid(self) -> str:
        """Apple policy OID; SSL server and client share it, as trust settings store it."""
        return f"{APPLE_POLICY_ARC}.{self.info.arc}"

    @property
    def apple_name(self) -> str | None:
        """kSecTrustSettingsPolicyName of this policy (sslServer, sslClient, ...)."""
        return self.info.client_name if self.client else self.info.server_name

    @property
    def is_tls_server(self) -> bool:
        return self.kind is PolicyKind.SSL and not self.client

    @property
    def leaf_ekus(self) -> frozenset[str] | None:
        """EKUs of which the leaf's extension (when present) must contain one."""
        if self.extended_key_usages is not None:
            return self.extended_key_usages
        return self.info.client_ekus if self.client else self.info.server_ekus

    @property
    def network_by_default(self) -> bool:
        return self.info.network_by_default
