"""Fuzz targets for what trustd reads from others: trust-settings plists, exceptions blobs,
varlink messages (framing and calls).  Each target is a hypothesis strategy and a check; the
short runs are tests/security/test_fuzz.py, the long run is bench/fuzz.py.

Certificate parsing and evaluation have their mutation properties in
tests/core/test_malformed.py; bench/fuzz.py runs those longer too.

A check raises (AssertionError or anything else) on a bug.  What counts as a bug:

- plists and blobs: any exception but the module's own InvalidRecord / InvalidExceptions; a
  value accepted that cannot be written back, stored and read back unchanged;
- varlink framing: the server dies or stops answering, a reply that is not one JSON object;
- varlink calls: not exactly one reply, a reply that is not JSON, an error name the
  interface does not declare, a change to state the caller may not change (the admin domain
  and the certificate store by anyone but root, a user's settings, exceptions and epoch by
  anyone but that user), and any internal error (an exception that escaped the methods).
  Each one found so far has a regression test in test_fuzz.py.
"""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import json
import logging
import os
import plistlib
import re
import shutil
import socket
import tempfile
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import strategies as st
from pki import PKI, Issued

from trustd.api import methods
from trustd.api.varlink import Encoded, Peer, ServiceInfo, VarlinkServer
from trustd.core import EvaluationRequest, Policy, PolicyKind, evaluate
from trustd.core.trust_settings import Domain
from trustd.plist.exceptions import InvalidExceptions, decode_exceptions, encode_exceptions
from trustd.plist.trust_settings import InvalidRecord, decode_record, encode_record
from trustd.service import TrustService
from trustd.store.engine import migrate, open_engine
from trustd.store.repository import Actor, NoTrustSettings, TrustStore
from trustd.store.system_anchors import SystemAnchors

NOW = dt.datetime.now(dt.UTC)
SHORT = {"not_before": NOW - dt.timedelta(days=10), "not_after": NOW + dt.timedelta(days=300)}
ADMIN, ALICE, BOB = 0, 1000, 1001
ACTOR = Actor(uid=0, pid=1)

# Set to a dict by bench/fuzz.py: internal errors are then collected, not raised.
COLLECTED: dict[tuple[str, str], tuple[int, dict[str, Any]]] | None = None


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass(frozen=True)
class Material:
    root: Issued  # the system anchor
    inter: Issued
    leaf: Issued
    expired: Issued
    org: Issued  # a self-signed root nobody trusts yet
    exceptions: bytes  # a real exceptions blob (the expired leaf's)


_material: Material | None = None


def material() -> Material:
    global _material  # noqa: PLW0603 - built once per process (hypothesis runs many examples)
    if _material is None:
        pki = PKI()
        root = pki.root("Fuzz System Root")
        inter = pki.intermediate(root, "Fuzz CA")
        expired = pki.leaf(
            inter,
            dns=["old.example"],
            not_before=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
            not_after=dt.datetime(2021, 1, 1, tzinfo=dt.UTC),
        )
        request = EvaluationRequest(
            (expired.der, inter.der),
            (Policy(PolicyKind.SSL, name="old.example"),),
            anchors=(root.der,),
            anchors_only=True,
        )
        blob = encode_exceptions(evaluate(request, _EMPTY, NOW).exceptions)
        _material = Material(
            root,
            inter,
            pki.leaf(inter, dns=["www.example"], **SHORT),  # type: ignore[arg-type]
            expired,
            pki.root("Fuzz Org Root"),
            blob,
        )
    return _material


class _Empty:
    exceptions_epoch = 0
    cache_token = None

    def issuers_of(self, issuer_key: bytes) -> list[Any]:
        return []

    def trust_settings_for(self, certificate: Any) -> None:
        return None

    def is_system_anchor(self, certificate: Any) -> bool:
        return False


_EMPTY: Any = _Empty()

# -- plist-shaped values ------------------------------------------------------------------------

_dates = st.datetimes(
    min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30), allow_imaginary=False
)
_plist_scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=40),
    st.binary(max_size=40),
    _dates,
)
PLIST_VALUES = st.recursive(
    _plist_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
_HEX = st.text(alphabet="0123456789abcdefABCDEF", min_size=40, max_size=40)
_CONSTRAINT_KEYS = st.sampled_from(
    [
        "kSecTrustSettingsPolicy",
        "kSecTrustSettingsPolicyName",
        "kSecTrustSettingsPolicyString",
        "kSecTrustSettingsApplication",
        "kSecTrustSettingsAllowedError",
        "kSecTrustSettingsResult",
        "kSecTrustSettingsKeyUsage",
        "kSecTrustSettingsPolicyOptions",
    ]
)
_CONSTRAINT_VALUES = st.one_of(
    st.sampled_from(
        [
            b"\x2a\x86\x48\x86\xf7\x63\x64\x01\x03",  # Apple's SSL policy OID, DER content
            "1.2.840.113635.100.1.3",
            "sslServer",
            -2147409654,
            1,
            2,
            3,
            4,
            0,
            5,
            2**32,
        ]
    ),
    PLIST_VALUES,
)
_CONSTRAINTS = st.lists(
    st.one_of(
        st.dictionaries(
            st.one_of(_CONSTRAINT_KEYS, st.text(max_size=8)), _CONSTRAINT_VALUES, max_size=5
        ),
        PLIST_VALUES,
    ),
    max_size=3,
)
_ENTRY = st.one_of(
    st.fixed_dictionaries(
        {
            "issuerName": st.binary(max_size=40),
            "serialNumber": st.binary(max_size=20),
            "modDate": _dates,
        },
        optional={"trustSettings": st.one_of(_CONSTRAINTS, PLIST_VALUES), "extra": PLIST_VALUES},
    ),
    PLIST_VALUES,
)
RECORDS = st.one_of(
    st.fixed_dictionaries(
        {
            "trustVersion": st.one_of(st.just(1), PLIST_VALUES),
            "trustList": st.one_of(
                st.dictionaries(st.one_of(_HEX, st.text(max_size=8)), _ENTRY, max_size=4),
                PLIST_VALUES,
            ),
        }
    ),
    PLIST_VALUES,
)


def _serialise(value: Any, binary: bool) -> bytes | None:
    try:
        return plistlib.dumps(value, fmt=plistlib.FMT_BINARY if binary else plistlib.FMT_XML)
    except (TypeError, OverflowError, ValueError):
        return None  # plistlib cannot write it (keys that are not text, huge ints...)


Edit = tuple[int, int, bytes]
EDITS = st.lists(
    st.tuples(st.integers(0, 2), st.integers(0, 1 << 16), st.binary(min_size=1, max_size=6)),
    max_size=5,
)


def mutate(data: bytes, edits: list[Edit]) -> bytes:
    """Overwrite, insert or cut at positions that wrap around the current length."""
    out = bytearray(data)
    for kind, position, value in edits:
        at = position % (len(out) or 1)
        if kind == 0:
            out[at : at + len(value)] = value
        elif kind == 1:
            out[at:at] = value
        else:
            del out[at : at + value[0] % 16 + 1]
    return bytes(out)


# -- targets ------------------------------------------------------------------------------------


@dataclass
class Target:
    name: str
    strategy: st.SearchStrategy[Any]
    check: Callable[[Any], None]


class Stores:
    """A real store in a temporary directory, shared by the examples of one process."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="trustd-fuzz-"))
        bundle = self.base / "bundle.pem"
        bundle.write_bytes(material().root.pem)
        self.engine = open_engine(self.base / "state" / "trustd.sqlite3")
        migrate(self.engine)
        self.store = TrustStore(self.engine, SystemAnchors(bundle))

    def close(self) -> None:
        self.engine.dispose()
        shutil.rmtree(self.base, ignore_errors=True)


_stores: Stores | None = None


def stores() -> Stores:
    global _stores  # noqa: PLW0603 - one store per process
    if _stores is None:
        _stores = Stores()
    return _stores


def _check_record(data: bytes) -> None:
    try:
        entries = decode_record(data)
    except InvalidRecord:
        return
    try:
        written = encode_record(entries)
    except ValueError as problem:  # known: strings XML cannot hold (test_fuzz.py pins it)
        if "control characters" in str(problem):
            return
        raise
    # Apple's XML keeps whole seconds, so the first write may round a binary plist's dates;
    # from then on the record is a fixed point.
    assert encode_record(decode_record(written)) == written
    store = stores().store
    store.import_domain(Domain.USER, ALICE, entries, actor=ACTOR)
    assert store.export_domain(Domain.USER, ALICE) == entries


def check_record(example: tuple[Any, bool, list[Edit]]) -> None:
    value, binary, edits = example
    data = _serialise(value, binary)
    if data is not None:
        _check_record(mutate(data, edits))


def check_exceptions(example: tuple[Any, bool, list[Edit]]) -> None:
    value, binary, edits = example
    m = material()
    if value is None:
        data: bytes | None = m.exceptions
    else:
        data = _serialise(value, binary)
    if data is None:
        return
    data = mutate(data, edits)
    try:
        exceptions = decode_exceptions(data)
    except InvalidExceptions:
        return
    # Written back, a blob is a fixed point (an entry that says nothing becomes an empty one).
    try:
        blob = encode_exceptions(exceptions)
    except OverflowError:  # known: integers a plist cannot hold (test_fuzz.py pins it)
        return
    assert encode_exceptions(decode_exceptions(blob)) == blob
    request = EvaluationRequest(
        (m.expired.der, m.inter.der),
        (Policy(PolicyKind.SSL, name="old.example"),),
        anchors=(m.root.der,),
        anchors_only=True,
        exceptions=exceptions,
    )
    verdict = evaluate(request, _EMPTY, NOW)
    assert verdict.result is not None
    store = stores().store
    store.set_exceptions(BOB, "fuzz.example", 443, exceptions, actor=ACTOR)
    stored = store.exceptions_for(BOB, "fuzz.example", 443)
    assert stored is not None and encode_exceptions(stored) == blob


_EXCEPTION_ITEMS = st.one_of(
    st.none(),  # the real blob, mutated
    st.lists(
        st.one_of(
            st.dictionaries(
                st.one_of(
                    st.sampled_from(
                        [
                            "SHA1Digest",
                            "ExceptionResetCount",
                            "SSLHostname",
                            "TemporalValidity",
                            "AnchorTrusted",
                        ]
                    ),
                    st.text(max_size=10),
                ),
                st.one_of(
                    st.binary(min_size=20, max_size=20), st.integers(-5, 2**70), PLIST_VALUES
                ),
                max_size=4,
            ),
            PLIST_VALUES,
        ),
        max_size=4,
    ),
    PLIST_VALUES,
)

RECORD_TARGET = Target(
    "trust-settings plist", st.tuples(RECORDS, st.booleans(), EDITS), check_record
)
EXCEPTIONS_TARGET = Target(
    "exceptions blob", st.tuples(_EXCEPTION_ITEMS, st.booleans(), EDITS), check_exceptions
)


# -- varlink ------------------------------------------------------------------------------------


class InternalErrors(logging.Handler):
    """Collects the tracebacks the server logs for exceptions that escaped a method."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.found: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.found.append(record)


def signature(record: logging.LogRecord) -> tuple[str, str]:
    """(exception type, "module.function" innermost in trustd) of a logged internal error."""
    assert record.exc_info is not None and record.exc_info[1] is not None
    problem = record.exc_info[1]
    frames = traceback.extract_tb(record.exc_info[2])
    ours = [f for f in frames if f"{os.sep}trustd{os.sep}" in f.filename]
    return type(
        problem
    ).__name__, f"{Path(ours[-1].filename).stem}.{ours[-1].name}" if ours else "?"


class Server:
    """io.trustd.Trust over a real store, served in this process (calls from any uid)."""

    def __init__(self) -> None:
        self.stores = stores()
        self.service = TrustService(self.stores.store)
        self.varlink = VarlinkServer(
            ServiceInfo("trustd", "trustd", "fuzz", "https://trustd.invalid/"),
            [methods.interface(self.service, lambda: {"fuzz": True}, lambda: None)],
            idle_timeout=5,
        )
        self.errors = InternalErrors()
        logging.getLogger("trustd.api").addHandler(self.errors)
        logging.getLogger("trustd.api").setLevel(logging.INFO)
        self.declared = set(re.findall(r"^error (\w+)", methods.description(), re.MULTILINE))
        self._socket: Path | None = None

    @property
    def socket(self) -> Path:
        """A listening socket for the framing target (started on first use)."""
        if self._socket is None:
            path = self.stores.base / "fuzz.sock"
            self.varlink.listen(str(path))
            self._socket = path
        return self._socket

    def state(self) -> dict[str, Any]:
        store = self.stores.store
        admin = store.trust_settings(Domain.ADMIN, 0)
        out: dict[str, Any] = {
            "admin": [(e.key, repr(e.constraints)) for e, _ in admin],
            "certificates": sorted(
                c.certificate.sha256 for c in store.find_certificates(limit=10_000)
            ),
        }
        for uid in (ADMIN, ALICE, BOB):
            exceptions = store.list_exceptions(uid)
            try:
                domain: Any = [
                    (e.key, repr(e.constraints)) for e in store.export_domain(Domain.USER, uid)
                ]
            except NoTrustSettings:
                domain = None
            out[uid] = (
                domain,
                [(e.host, e.port, encode_exceptions(e.exceptions)) for e in exceptions],
                store.exceptions_epoch(uid),
            )
        return out


_server: Server | None = None


def server() -> Server:
    global _server  # noqa: PLW0603 - one server per process
    if _server is None:
        _server = Server()
    return _server


def reset() -> None:
    """Stop the in-process server and remove the store (the end of a test module)."""
    global _server, _stores  # noqa: PLW0603
    if _server is not None:
        logging.getLogger("trustd.api").removeHandler(_server.errors)
        _server.varlink.shutdown(timeout=5)
        _server = None
    if _stores is not None:
        _stores.close()
        _stores = None


def _wire(reply: Mapping[str, Any]) -> Any:
    parameters = reply.get("parameters")
    if isinstance(parameters, Encoded):
        return json.loads(parameters.text)
    return json.loads(json.dumps(reply))


def check_call(example: tuple[int, dict[str, Any]]) -> None:
    uid, call = example
    served = server()
    before = served.state()
    served.errors.found.clear()
    stream = served.varlink.replies(Peer(os.getpid(), uid, uid), call)
    # Monitor with more streams until the client goes: its first reply is enough.
    streaming = call.get("method") == f"{methods.NAME}.Monitor" and bool(call.get("more"))
    replies = list(itertools.islice(stream, 1 if streaming else 2))
    stream.close()
    assert len(replies) == 1, replies
    [reply] = replies
    if streaming and "error" not in reply:
        assert reply.get("continues") is True, reply
    _wire(reply)  # a JSON object on the wire
    if "error" in reply:
        name = str(reply["error"])
        interface, _, error = name.rpartition(".")
        assert interface == "org.varlink.service" or (
            interface == methods.NAME and error in served.declared
        ), name
    for record in served.errors.found:
        found = signature(record)
        if COLLECTED is not None:  # a long run: note it, with the first call that showed it
            COLLECTED.setdefault(found, (uid, call))
        else:
            raise AssertionError(
                f"internal error {found} for uid {uid} {json.dumps(call)[:2000]}\n"
                + "".join(traceback.format_exception(*record.exc_info))  # type: ignore[misc]
            )
    after = served.state()
    if uid != ADMIN:
        assert after["admin"] == before["admin"], "a user changed the admin domain"
        assert after["certificates"] == before["certificates"], "a user changed the store"
    for other in (ADMIN, ALICE, BOB):
        if other != uid:
            assert after[other] == before[other], f"uid {uid} changed uid {other}'s state"


def check_framing(chunks: list[bytes]) -> None:
    served = server()
    with socket.socket(socket.AF_UNIX) as conn:
        conn.settimeout(10)
        conn.connect(str(served.socket))
        received = b""
        try:
            for chunk in chunks:
                conn.sendall(chunk)
            conn.shutdown(socket.SHUT_WR)
            while data := conn.recv(65536):
                received += data
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server hung up on a bad message: allowed
    messages = received.split(b"\0")
    assert messages[-1] == b"", "a reply without its terminator"
    for message in messages[:-1]:
        reply = json.loads(message)
        assert isinstance(reply, dict) and ("parameters" in reply or "error" in reply), reply
    assert len(messages) - 1 <= sum(chunk.count(b"\0") for chunk in chunks) + 1
    # The server still serves everyone else.
    with socket.socket(socket.AF_UNIX) as probe:
        probe.settimeout(10)
        probe.connect(str(served.socket))
        probe.sendall(b'{"method":"io.trustd.Trust.Echo","parameters":{"text":"ok"}}\0')
        answer = b""
        while b"\0" not in answer:
            data = probe.recv(65536)
            assert data, "closed without an answer"
            answer += data
        assert json.loads(answer[:-1]) == {"parameters": {"text": "ok"}}


# Call strategies: real values most of the time, anything JSON sometimes.
_json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)
)
JSON = st.recursive(
    _json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


# Wrong types and edge values, more often than arbitrary JSON would give them.
WRONG = st.one_of(
    st.sampled_from([None, True, False, 0, -1, 2**31, 2**63, 2**70, -(2**70), 1.5, 1e300,
                     "", "x", "\u0000", [], {}, [1], ["x"], {"a": 1}, [[]], [{}]]),
    JSON,
)  # fmt: skip


def _maybe(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(good, good, WRONG)


@st.composite
def _certificates(draw: st.DrawFn) -> str:
    m = material()
    pool = [m.root.der, m.inter.der, m.leaf.der, m.expired.der, m.org.der]
    der = draw(st.sampled_from(pool))
    if draw(st.integers(0, 5)) == 0:
        der = mutate(der, draw(EDITS))
    return b64(der)


def _sha1s() -> st.SearchStrategy[str]:
    import hashlib

    m = material()
    ders = [m.root.der, m.inter.der, m.leaf.der, m.org.der]
    return st.one_of(st.sampled_from([hashlib.sha1(d).hexdigest() for d in ders]), _HEX)


_POLICY = st.fixed_dictionaries(
    {"policy": _maybe(st.sampled_from(["ssl", "basic", "smime", "codeSign", "eap", "IPSec",
                                       "nope"]))},
    optional={"client": _maybe(st.booleans()),
              "name": _maybe(st.sampled_from(["www.example", "old.example", "a@b.example",
                                              "127.0.0.1", ""]))},
)  # fmt: skip
_CONSTRAINT = st.fixed_dictionaries(
    {},
    optional={
        "policy_oid": _maybe(st.sampled_from(["1.2.840.113635.100.1.3", "1.2.3"])),
        "policy_name": _maybe(st.text(max_size=10)),
        "policy_string": _maybe(st.text(max_size=10)),
        "application": _maybe(st.sampled_from([b64(b"app"), "***"])),
        "allowed_error": _maybe(st.integers(-(2**31), 2**31)),
        "result": _maybe(st.integers(0, 5)),
        "key_usage": _maybe(st.integers(-1, 2**32)),
    },
)


@st.composite
def _plists(draw: st.DrawFn) -> str:
    value = draw(RECORDS)
    data = _serialise(value, draw(st.booleans())) or b"junk"
    return b64(mutate(data, draw(EDITS)) if draw(st.booleans()) else data)


_PARAMETERS: dict[str, st.SearchStrategy[Any]] = {
    "certificates": st.lists(_certificates(), max_size=4),
    "certificate": _certificates(),
    "anchors": st.lists(_certificates(), max_size=2),
    "crls": st.lists(st.sampled_from([b64(b"junk"), "***"]), max_size=2),
    "policies": st.lists(_POLICY, max_size=2),
    "policy": _POLICY,
    "verify_date": st.sampled_from(
        ["2024-01-01T00:00:00+00:00", "2024-01-01", "2020-06-01T00:00:00Z", "yesterday"]
    ),
    "anchors_only": st.booleans(),
    "explain": st.booleans(),
    "require_revocation": st.booleans(),
    "network": st.booleans(),  # the in-process service has no fetcher: nothing leaves
    "revocation": st.lists(
        st.sampled_from(["ocsp", "crl", "require", "preferCRL", "x"]), max_size=3
    ),
    "ocsp_responses": st.lists(
        st.sampled_from([b64(b"junk"), b64(b"0\x03\n\x01\x01"), "***"]), max_size=2
    ),
    "since": st.sampled_from(["2024-01-01T00:00:00+00:00", "2024-01-01", "soon", ""]),
    "until": st.sampled_from(["2099-01-01T00:00:00Z", "2024-13-01", "later"]),
    "limit": st.integers(-5, 20_000),
    "exceptions": st.builds(lambda e: b64(mutate(material().exceptions, e)), EDITS),
    "host": st.sampled_from(["old.example", "OLD.example.", "www.example", "", "x" * 300]),
    "port": st.one_of(st.integers(-1, 70000), st.sampled_from([2**63, 2**64, -(2**63) - 1])),
    "domain": st.sampled_from(["admin", "user", "system", "nope"]),
    "constraints": st.lists(_CONSTRAINT, max_size=3),
    "plist": _plists(),
    "sha1": _sha1s(),
    "sha256": st.sampled_from(["00" * 32, "zz"]),
    "subject": st.text(max_size=10),
    "email": st.text(max_size=10),
    "text": st.text(max_size=10),
    "uid": st.sampled_from([ADMIN, ALICE, BOB]),  # a claim the daemon must refuse
}
METHODS = {
    "Evaluate": ["certificates", "policies", "verify_date", "anchors", "anchors_only",
                 "exceptions", "crls", "host", "port", "explain", "require_revocation",
                 "network", "revocation", "ocsp_responses"],
    "Echo": ["text"],
    "Status": [],
    "AddCertificates": ["certificates"],
    "FindCertificates": ["sha1", "sha256", "subject", "email"],
    "DeleteCertificate": ["sha1"],
    "ListAnchors": ["policy"],
    "SetTrustSettings": ["domain", "certificate", "constraints"],
    "RemoveTrustSettings": ["domain", "sha1"],
    "CopyTrustSettings": ["domain"],
    "ExportTrustSettings": ["domain"],
    "ImportTrustSettings": ["domain", "plist"],
    "SetExceptions": ["host", "port", "exceptions"],
    "ListExceptions": [],
    "RemoveExceptions": ["host", "port"],
    "ResetExceptions": [],
    "AuditLog": ["since", "until", "domain", "sha1", "limit"],
}  # fmt: skip


REQUIRED = {"certificates", "text", "domain", "certificate", "constraints", "plist", "sha1",
            "host", "exceptions"}  # fmt: skip


@st.composite
def calls(draw: st.DrawFn) -> tuple[int, dict[str, Any]]:
    uid = draw(st.sampled_from([ADMIN, ALICE, BOB]))
    method = draw(st.sampled_from(sorted(METHODS)))
    names = METHODS[method] + ["uid"]
    required = [name for name in METHODS[method] if name in REQUIRED] if draw(st.booleans()) else []
    chosen = required + draw(st.lists(st.sampled_from(names), unique=True, max_size=len(names)))
    parameters = {name: draw(_maybe(_PARAMETERS[name])) for name in chosen}
    call: dict[str, Any] = {"method": f"{methods.NAME}.{method}", "parameters": parameters}
    shape = draw(st.integers(0, 9))
    if shape == 0:
        call = draw(st.dictionaries(st.sampled_from(["method", "parameters", "more", "oneway"]),
                                    JSON, max_size=4))  # fmt: skip
    elif shape == 1:
        call["method"] = draw(
            st.sampled_from(
                [
                    "org.varlink.service.GetInfo",
                    "Nope",
                    "",
                    "org.varlink.service.GetInterfaceDescription",
                    "io.trustd.Trust",
                    "io.trustd.Trust.Monitor",
                ]
            )
        )
        call["parameters"] = draw(st.one_of(st.just({"interface": "io.trustd.Trust"}), JSON))
    if draw(st.booleans()):
        call["more"] = draw(_maybe(st.booleans()))
    return uid, call


@st.composite
def framed(draw: st.DrawFn) -> list[bytes]:
    """A byte stream cut into chunks: messages (good, broken, oversized-looking), NULs."""
    good = json.dumps({"method": "io.trustd.Trust.Echo", "parameters": {"text": "x"}}).encode()
    pieces = draw(
        st.lists(
            st.one_of(
                st.just(good + b"\0"),
                st.just(b"\0"),
                st.binary(max_size=64),
                st.builds(lambda v: json.dumps(v).encode() + b"\0", JSON),
                st.builds(lambda b: good[: b % len(good)], st.integers(0, 200)),
                st.just(b'{"method":"io.trustd.Trust.Echo","parameters":{"text":"\xff\xfe"}}\0'),
            ),
            max_size=8,
        )
    )
    stream = b"".join(pieces)
    cuts = sorted(draw(st.lists(st.integers(0, len(stream)), max_size=4)))
    out, last = [], 0
    for cut in [*cuts, len(stream)]:
        out.append(stream[last:cut])
        last = cut
    return [chunk for chunk in out if chunk]


CALL_TARGET = Target("varlink calls", calls(), check_call)
FRAMING_TARGET = Target("varlink framing", framed(), check_framing)
TARGETS = [RECORD_TARGET, EXCEPTIONS_TARGET, CALL_TARGET, FRAMING_TARGET]


@dataclass
class Tally:
    """What a long run did: examples and distinct failures per target."""

    examples: dict[str, int] = field(default_factory=dict)
    failures: dict[str, list[str]] = field(default_factory=dict)


def counting(target: Target, tally: Tally) -> Callable[[Any], None]:
    def run(example: Any) -> None:
        tally.examples[target.name] = tally.examples.get(target.name, 0) + 1
        target.check(example)

    return run
