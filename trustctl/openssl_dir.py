"""OpenSSL's hashed certificate directory (`openssl rehash`, `-CApath`).

OpenSSL finds an issuer in a directory by the hash of its subject name: it opens
`<hash>.0`, `<hash>.1`, ... where `<hash>` is eight lower-case hex digits of
`X509_NAME_hash`, the first four bytes (little-endian) of the SHA-1 of the name's canonical
encoding.  `cryptography` does not expose that hash, so it is computed here from OpenSSL's
rules (crypto/x509/x_name.c, `x509_name_canon` and `asn1_string_canon`):

- each attribute value of a string type is converted to UTF-8 and re-tagged UTF8String,
  leading and trailing white space is removed, inner runs of white space become one space,
  and ASCII letters are lower-cased; other types are kept as they are;
- each RDN is encoded as a SET OF AttributeTypeAndValue (DER: elements sorted), and the
  encodings of the RDNs are concatenated without the outer SEQUENCE.

tests/cli/test_export_bundle.py checks the hash against `openssl x509 -subject_hash`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence

from trustd.core.der import DERProblem, children, read_tlv

_UTF8 = 0x0C
# Tags whose values OpenSSL canonicalises, with how their bytes become text.
_STRING_CODECS = {
    0x0C: "utf-8",  # UTF8String
    0x13: "latin-1",  # PrintableString
    0x14: "latin-1",  # T61String (OpenSSL reads it as Latin-1)
    0x16: "latin-1",  # IA5String
    0x1A: "latin-1",  # VisibleString
    0x1C: "utf-32-be",  # UniversalString
    0x1E: "utf-16-be",  # BMPString
}
_SPACE = b" \t\n\v\f\r"
_HASH_FILE = re.compile(r"[0-9a-f]{8}\.[0-9]+")


def _tlv(tag: int, content: bytes) -> bytes:
    length = len(content)
    if length < 0x80:
        return bytes([tag, length]) + content
    size = (length.bit_length() + 7) // 8
    return bytes([tag, 0x80 | size]) + length.to_bytes(size, "big") + content


def _canonical_text(value: bytes) -> bytes:
    """asn1_string_canon on UTF-8 bytes: trim, collapse white space, lower-case ASCII."""
    trimmed = value.strip(_SPACE)
    collapsed = re.sub(rb"[ \t\n\v\f\r]+", b" ", trimmed)
    return bytes(b + 32 if 0x41 <= b <= 0x5A else b for b in collapsed)


def _canonical_value(tag: int, content: bytes) -> bytes:
    codec = _STRING_CODECS.get(tag)
    if codec is None:
        return _tlv(tag, content)
    try:
        text = content.decode(codec).encode("utf-8")
    except UnicodeError:
        raise DERProblem(f"attribute value is not valid {codec}") from None
    return _tlv(_UTF8, _canonical_text(text))


def canonical_name(name_der: bytes) -> bytes:
    """OpenSSL's canonical encoding of a DER Name (empty for an empty name)."""
    tag, start, end = read_tlv(name_der)
    if tag != 0x30 or end != len(name_der):
        raise DERProblem("a Name is one SEQUENCE")
    out = bytearray()
    for rdn_tag, _, rdn_start, rdn_end in children(name_der, start, end):
        if rdn_tag != 0x31:
            raise DERProblem("an RDN is a SET")
        entries = []
        for _, _, atv_start, atv_end in children(name_der, rdn_start, rdn_end):
            fields = children(name_der, atv_start, atv_end)
            if len(fields) != 2 or fields[0][0] != 0x06:
                raise DERProblem("an attribute is a SEQUENCE of an OID and a value")
            (_, oid_at, _, oid_end), (value_tag, _, value_start, value_end) = fields
            oid = name_der[oid_at:oid_end]
            value = _canonical_value(value_tag, name_der[value_start:value_end])
            entries.append(_tlv(0x30, oid + value))
        out += _tlv(0x31, b"".join(sorted(entries)))
    return bytes(out)


def subject_hash(name_der: bytes) -> str:
    """`X509_NAME_hash` of a DER Name as OpenSSL prints it (8 lower-case hex digits)."""
    digest = hashlib.sha1(canonical_name(name_der)).digest()
    return f"{int.from_bytes(digest[:4], 'little'):08x}"


def hashed_names(subjects: Sequence[bytes]) -> Iterator[str]:
    """File names for certificates with these subjects, in order: `<hash>.<n>`, n counting
    certificates that share a hash."""
    seen: dict[str, int] = {}
    for subject in subjects:
        name_hash = subject_hash(subject)
        count = seen.get(name_hash, 0)
        seen[name_hash] = count + 1
        yield f"{name_hash}.{count}"


def is_hash_file(name: str) -> bool:
    """A file name OpenSSL's directory lookup would open."""
    return _HASH_FILE.fullmatch(name) is not None
