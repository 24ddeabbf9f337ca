"""The few DER facts about a certificate that `cryptography` does not expose.

`cryptography` parses certificates fully, but it hides or normalises some fields a validator
must see as they were encoded: the signature AlgorithmIdentifier inside the TBSCertificate (RFC
5280 4.1.1.2 requires it to equal the outer one), the serial number's content octets (4.1.2.2
bounds its length and sign), and the raw extension list (so that one malformed extension does not
hide which extensions are present and which are critical).  This module walks just enough DER to
read them; everything else is left to `cryptography`.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import NamedTuple

SEQUENCE = 0x30
INTEGER = 0x02
BOOLEAN = 0x01
OCTET_STRING = 0x04
OID = 0x06
EXPLICIT_0 = 0xA0
EXPLICIT_3 = 0xA3


class DERProblem(ValueError):
    """The bytes are not the DER structure expected."""


def read_header(data: bytes, offset: int = 0, *, ber: bool = False) -> tuple[int, int, int | None]:
    """Read the tag and length octets at `offset`: return (tag, content start, content length).

    DER by default: the length is definite and minimal.  With `ber`, BER's indefinite length
    (None) and non-minimal lengths are accepted too, for telling file formats apart (PKCS#7 and
    PKCS#12 files are often BER).  The contents are not checked to fit in `data`.
    """
    if offset + 2 > len(data):
        raise DERProblem("truncated tag or length")
    tag = data[offset]
    if tag & 0x1F == 0x1F:
        raise DERProblem("multi-byte tags are not used in certificates")
    first = data[offset + 1]
    pos = offset + 2
    if first < 0x80:
        return tag, pos, first
    count = first & 0x7F
    if count == 0 and ber:
        return tag, pos, None
    if count == 0 or count > 4 or pos + count > len(data):
        raise DERProblem("bad length encoding")
    length = int.from_bytes(data[pos : pos + count], "big")
    if not ber and (length < 0x80 or data[pos] == 0):
        raise DERProblem("non-minimal length encoding")
    return tag, pos + count, length


def read_tlv(data: bytes, offset: int = 0) -> tuple[int, int, int]:
    """Read one tag-length-value at `offset`: return (tag, content start, content end)."""
    tag, pos, length = read_header(data, offset)
    assert length is not None  # DER lengths are definite
    end = pos + length
    if end > len(data):
        raise DERProblem("value runs past the end of the data")
    return tag, pos, end


def children(data: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """The TLVs inside [start, end): (tag, TLV start, content start, content end) each."""
    items = []
    pos = start
    while pos < end:
        tag, cstart, cend = read_tlv(data, pos)
        if cend > end:
            raise DERProblem("child runs past its parent")
        items.append((tag, pos, cstart, cend))
        pos = cend
    return items


@functools.lru_cache(maxsize=4096)
def decode_oid(content: bytes) -> str:
    """Dotted string of an OBJECT IDENTIFIER's content octets."""
    if not content or content[-1] & 0x80:
        raise DERProblem("bad OID encoding")
    arcs: list[int] = []
    value = 0
    for byte in content:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(a) for a in [first, arcs[0] - 40 * first, *arcs[1:]])


_DOTTED_OID = re.compile(r"([01]\.([0-9]|[1-3][0-9])|2\.(0|[1-9][0-9]*))(\.(0|[1-9][0-9]*))*")


def is_dotted_oid(text: str) -> bool:
    """Whether `text` is an OBJECT IDENTIFIER in dotted form (X.660: 0 and 1 have 40 arcs)."""
    return _DOTTED_OID.fullmatch(text) is not None


def encode_oid(dotted: str) -> bytes:
    """Content octets of an OBJECT IDENTIFIER (as stored in trust settings, no tag/length)."""
    if not is_dotted_oid(dotted):
        raise ValueError(f"not an OID: {dotted!r}")
    arcs = [int(a) for a in dotted.split(".")]
    out = bytearray()
    for arc in [40 * arcs[0] + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        rest = arc >> 7
        while rest:
            chunk.append(0x80 | (rest & 0x7F))
            rest >>= 7
        out.extend(reversed(chunk))
    return bytes(out)


EC_PUBLIC_KEY = "1.2.840.10045.2.1"
POLICY_MAPPINGS = "2.5.29.33"


def policy_mappings(value: bytes) -> list[tuple[str, str]]:
    """(issuerDomainPolicy, subjectDomainPolicy) pairs of a PolicyMappings extension value."""
    tag, start, end = read_tlv(value)
    if tag != SEQUENCE or end != len(value):
        raise DERProblem("PolicyMappings is not one SEQUENCE")
    pairs = []
    for ptag, _, pstart, pend in children(value, start, end):
        fields = children(value, pstart, pend)
        if ptag != SEQUENCE or len(fields) != 2 or any(f[0] != OID for f in fields):
            raise DERProblem("a policy mapping is two OIDs")
        pairs.append(
            (
                decode_oid(value[fields[0][2] : fields[0][3]]),
                decode_oid(value[fields[1][2] : fields[1][3]]),
            )
        )
    return pairs


def has_explicit_ec_parameters(spki: bytes) -> bool:
    """Whether an id-ecPublicKey SubjectPublicKeyInfo spells its curve out (RFC 5480 2.1.1).

    Only the namedCurve form is allowed (CA/B 7.1.3.1.2); explicit parameters have hidden
    weak or backdoored curves (CVE-2020-0601).
    """
    try:
        _, start, end = read_tlv(spki)
        algorithm = children(spki, start, end)[0]
        fields = children(spki, algorithm[2], algorithm[3])
        if decode_oid(spki[fields[0][2] : fields[0][3]]) != EC_PUBLIC_KEY:
            return False
        return len(fields) < 2 or fields[1][0] != OID
    except (DERProblem, IndexError):
        return False


@dataclass(frozen=True, slots=True)
class RawExtension:
    oid: str
    critical: bool
    value: bytes


class CertificateParts(NamedTuple):
    """Fields of a Certificate as encoded (RFC 5280 4.1).

    The extensions are only located (`extensions_span`); `raw_extensions` walks them when asked,
    which is only needed when cryptography cannot parse them.
    """

    version: int
    serial: bytes
    inner_signature_algorithm: bytes
    outer_signature_algorithm: bytes
    issuer: bytes
    subject: bytes
    subject_public_key_info: bytes
    extensions_span: tuple[int, int] | None  # content of the extensions SEQUENCE in the DER
    tbs_span: tuple[int, int] = (0, 0)  # the whole tbsCertificate TLV in the DER


def certificate_parts(der: bytes) -> CertificateParts:
    """Split a DER Certificate into the fields above; raise DERProblem if it is not one."""
    parts = _plain_certificate_parts(der)
    return parts if parts is not None else _checked_certificate_parts(der)


def _plain_certificate_parts(der: bytes) -> CertificateParts | None:
    """certificate_parts of a certificate shaped as nearly all are (every length in at most
    three octets, a one-octet version); None for anything else, which
    _checked_certificate_parts splits or refuses with its reason."""
    size = len(der)
    tlvs: list[tuple[int, int, int, int]] = []  # tag, TLV start, content start, content end
    pos = 0
    # The Certificate, tbsCertificate, each TBS field, then signatureAlgorithm and signature.
    while pos < size:
        tag = der[pos]
        if tag & 0x1F == 0x1F or pos + 2 > size:
            return None
        first = der[pos + 1]
        if first < 0x80:
            start, length = pos + 2, first
        elif first == 0x81:
            if pos + 3 > size or der[pos + 2] < 0x80:
                return None
            start, length = pos + 3, der[pos + 2]
        elif first == 0x82:
            if pos + 4 > size or der[pos + 2] == 0:
                return None
            start, length = pos + 4, (der[pos + 2] << 8) | der[pos + 3]
        else:
            return None
        end = start + length
        tlvs.append((tag, pos, start, end))
        # Step into the Certificate and the tbsCertificate; over everything else.
        pos = start if len(tlvs) <= 2 else end
    if pos != size or len(tlvs) < 11:
        return None
    certificate, whole_tbs, version, *tbs, outer, signature = tlvs
    tbs_end = whole_tbs[3]
    if (
        certificate[0] != SEQUENCE
        or certificate[3] != size
        or whole_tbs[0] != SEQUENCE
        or version[0] != EXPLICIT_0
        or outer[0] != SEQUENCE
        or outer[1] != tbs_end
        or signature[3] != size
    ):
        return None
    # The [0] version's content is one INTEGER of one octet; then the serial.
    version_start = version[2]
    if (
        version[3] - version_start != 3
        or der[version_start] != INTEGER
        or der[version_start + 1] != 1
        or der[version_start + 2] >= 0x80
    ):
        return None
    if tbs[-1][3] != tbs_end or tbs[0][0] != INTEGER:
        return None
    span = None
    for tag, _, cstart, cend in tbs[6:]:
        if tag == EXPLICIT_3:
            try:
                seq_tag, sstart, send = read_tlv(der, cstart)
            except DERProblem:
                return None
            if seq_tag != SEQUENCE or send != cend:
                return None
            span = (sstart, send)
    return CertificateParts(
        der[version_start + 2],
        der[tbs[0][2] : tbs[0][3]],
        der[tbs[1][1] : tbs[1][3]],
        der[outer[1] : outer[3]],
        der[tbs[2][1] : tbs[2][3]],
        der[tbs[4][1] : tbs[4][3]],
        der[tbs[5][1] : tbs[5][3]],
        span,
        (whole_tbs[1], tbs_end),
    )


def _checked_certificate_parts(der: bytes) -> CertificateParts:
    """certificate_parts for any input: every TLV checked, the reason of a refusal given."""
    tag, start, end = read_tlv(der)
    if tag != SEQUENCE or end != len(der):
        raise DERProblem("a certificate is one SEQUENCE and nothing after it")
    top = children(der, start, end)
    if len(top) != 3 or top[0][0] != SEQUENCE or top[1][0] != SEQUENCE:
        raise DERProblem("a certificate is tbsCertificate, signatureAlgorithm, signature")
    outer_alg = der[top[1][1] : top[1][3]]
    tbs = children(der, top[0][2], top[0][3])
    version = 0
    index = 0
    if tbs and tbs[0][0] == EXPLICIT_0:
        vtag, vstart, vend = read_tlv(der, tbs[0][2])
        if vtag != INTEGER:
            raise DERProblem("version is not an INTEGER")
        version = int.from_bytes(der[vstart:vend], "big", signed=True)
        index = 1
    if len(tbs) < index + 6:
        raise DERProblem("tbsCertificate has too few fields")
    serial_tag, _, serial_start, serial_end = tbs[index]
    if serial_tag != INTEGER:
        raise DERProblem("serialNumber is not an INTEGER")
    span = None
    for tag, _, cstart, _cend in tbs[index + 6 :]:
        if tag == EXPLICIT_3:
            seq_tag, sstart, send = read_tlv(der, cstart)
            if seq_tag != SEQUENCE:
                raise DERProblem("extensions is not a SEQUENCE")
            span = (sstart, send)

    def field(position: int) -> bytes:
        return der[tbs[position][1] : tbs[position][3]]

    return CertificateParts(
        version=version,
        serial=der[serial_start:serial_end],
        inner_signature_algorithm=field(index + 1),
        outer_signature_algorithm=outer_alg,
        issuer=field(index + 2),
        subject=field(index + 4),
        subject_public_key_info=field(index + 5),
        extensions_span=span,
        tbs_span=(top[0][1], top[0][3]),
    )


SET = 0x31
UTF8_STRING = 0x0C
PRINTABLE_STRING = 0x13
IA5_STRING = 0x16
_PRINTABLE = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?"
)


def simple_name_attributes(name: bytes) -> list[tuple[str, str]] | None:
    """(dotted OID, text) of each attribute of a DER Name, in order, when every RDN holds one
    attribute whose value is a UTF8String (valid UTF-8), a PrintableString (its X.680
    characters) or an IA5String (ASCII), the Names nearly every certificate has; None for any
    other Name, and for bytes that are not one."""
    try:
        tag, pos, end = read_tlv(name)
        if tag != SEQUENCE or end != len(name):
            return None
        attributes = []
        while pos < end:
            set_tag, set_start, set_end = read_tlv(name, pos)
            if set_tag != SET or set_end > end:
                return None
            pair_tag, pair_start, pair_end = read_tlv(name, set_start)
            if pair_tag != SEQUENCE or pair_end != set_end:
                return None
            oid_tag, oid_start, oid_end = read_tlv(name, pair_start)
            if oid_tag != OID:
                return None
            value_tag, value_start, value_end = read_tlv(name, oid_end)
            if value_end != pair_end:
                return None
            raw = name[value_start:value_end]
            if value_tag == UTF8_STRING:
                text = raw.decode("utf-8")
            elif (value_tag == PRINTABLE_STRING and _PRINTABLE.issuperset(raw)) or (
                value_tag == IA5_STRING and raw.isascii()
            ):
                text = raw.decode("ascii")
            else:
                return None
            attributes.append((decode_oid(name[oid_start:oid_end]), text))
            pos = set_end
        return attributes
    except (DERProblem, UnicodeDecodeError):
        return None


def raw_extensions(der: bytes, span: tuple[int, int] | None) -> tuple[RawExtension, ...]:
    """The extensions in `span` as encoded; raise DERProblem on a malformed one."""
    if span is None:
        return ()
    extensions: list[RawExtension] = []
    for etag, _, estart, eend in children(der, span[0], span[1]):
        if etag != SEQUENCE:
            raise DERProblem("extension is not a SEQUENCE")
        fields = children(der, estart, eend)
        if not fields or fields[0][0] != OID:
            raise DERProblem("extension has no extnID")
        critical = False
        rest = fields[1:]
        if rest and rest[0][0] == BOOLEAN:
            critical = der[rest[0][2] : rest[0][3]] != b"\x00"
            rest = rest[1:]
        if len(rest) != 1 or rest[0][0] != OCTET_STRING:
            raise DERProblem("extension has no extnValue")
        extensions.append(
            RawExtension(
                decode_oid(der[fields[0][2] : fields[0][3]]), critical, der[rest[0][2] : rest[0][3]]
            )
        )
    return tuple(extensions)
