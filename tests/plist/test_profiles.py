"""Configuration profiles: decoding the payloads trustd applies, and opening signed profiles."""

from __future__ import annotations

import plistlib
import re

import pytest
from mobileconfig import PEM, PKCS1, ROOT, payload, profile, sign
from pki import PKI

from trustd.cms import BadSignature, is_signed, open_signed
from trustd.plist.profiles import InvalidProfile, decode_profile


@pytest.mark.parametrize("binary", [False, True], ids=["xml", "binary"])
def test_certificate_payloads_are_decoded_and_others_listed(pki: PKI, binary: bool) -> None:
    root = pki.root("Example Org Root")
    intermediate = pki.intermediate(root, "Example Org Issuing CA")
    extra = pki.intermediate(root, "Example Org Mail CA")
    wifi = {"PayloadType": "com.apple.wifi.managed", "PayloadIdentifier": "wifi", "SSID_STR": "x"}
    data = profile(
        "com.example.trust",
        [payload(ROOT, root, "com.example.trust.root"), payload(PKCS1, intermediate),
         payload(PEM, extra), wifi],
        binary=binary,
    )  # fmt: skip
    decoded = decode_profile(data)
    assert decoded.identifier == "com.example.trust"
    assert decoded.display_name == "Example Org CA" and decoded.organization == "Example Org"
    assert [p.certificate for p in decoded.certificates] == [root.der, intermediate.der, extra.der]
    assert [p.certificate for p in decoded.roots] == [root.der]
    assert decoded.roots[0].identifier == "com.example.trust.root"
    assert decoded.ignored == ("com.apple.wifi.managed",)


@pytest.mark.parametrize(
    ("top", "reason"),
    [
        ([], "not a dictionary"),
        ({"PayloadType": "Profile", "PayloadIdentifier": "x"},
         'PayloadType is not "Configuration"'),
        ({"PayloadType": "Configuration"}, "PayloadIdentifier is missing"),
        ({"PayloadType": "Configuration", "PayloadIdentifier": "x", "PayloadContent": {}},
         "PayloadContent is not an array"),
        ({"PayloadType": "Configuration", "PayloadIdentifier": "x",
          "PayloadContent": [{"PayloadType": ROOT, "PayloadContent": b"garbage"}]},
         "payload 1 (com.apple.security.root): not certificate data"),
        ({"PayloadType": "Configuration", "PayloadIdentifier": "x",
          "PayloadContent": [{"PayloadType": ROOT, "PayloadContent": "text"}]},
         "PayloadContent is not data"),
    ],
)  # fmt: skip
def test_what_is_not_a_usable_profile_says_why(top: object, reason: str) -> None:
    with pytest.raises(InvalidProfile, match=re.escape(reason)):
        decode_profile(plistlib.dumps(top))


def test_garbage_and_entities_are_refused() -> None:
    with pytest.raises(InvalidProfile, match="not a property list"):
        decode_profile(b"\x00\x01 no plist")
    laughs = b'<?xml version="1.0"?><!DOCTYPE p [<!ENTITY a "aaaa">]><plist><dict/></plist>'
    with pytest.raises(InvalidProfile, match="entities"):
        decode_profile(laughs)


def test_a_signed_profile_opens_to_its_content_and_signer(pki: PKI) -> None:
    root = pki.root("Example Org Root")
    issuing = pki.intermediate(root, "Example Org Signing CA")
    signer = pki.leaf(issuing, dns=["profiles.example"])
    data = profile("com.example.trust", [payload(ROOT, root)])
    signed = sign(data, signer, issuing)
    assert is_signed(signed) and not is_signed(data)
    opened = open_signed(signed)
    assert opened.content == data
    assert opened.signer == signer.der
    assert opened.certificates == (signer.der, issuing.der)
    assert decode_profile(opened.content).identifier == "com.example.trust"


def test_a_profile_changed_after_signing_is_refused(pki: PKI) -> None:
    root = pki.root("Example Org Root")
    signer = pki.leaf(root, dns=["profiles.example"])
    signed = sign(profile("com.example.trust", [payload(ROOT, root)], name="Org CA"), signer)
    tampered = signed.replace(b"Org CA", b"Evil!!")
    assert tampered != signed
    with pytest.raises(BadSignature, match="verification failure"):
        open_signed(tampered)
    with pytest.raises(BadSignature):
        open_signed(signed[:-40])  # truncated
