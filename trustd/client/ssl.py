"""TLS server verification through trustd, for the standard library, urllib3 and requests.

This is what the ``truststore`` package does with Security.framework on macOS, with trustd in
its place: OpenSSL performs the handshake without verifying anything (CERT_NONE at the OpenSSL
level), then the whole chain the server sent is given to trustd's ``Evaluate`` with the ``ssl``
policy and the server's name, and the connection is refused unless the verdict is trusted.
Trust settings, distrust, system anchors and Apple's TLS rules (validity limits, serverAuth
EKU, key sizes...) are therefore trustd's, the same for every program on the machine.

::

    import urllib.request
    from trustd.client.ssl import create_context

    context = create_context()
    urllib.request.urlopen("https://example.com/", context=context)
    http.client.HTTPSConnection("example.com", context=context)
    urllib3.PoolManager(ssl_context=context)
    asyncio.open_connection("example.com", 443, ssl=context)
    # requests: trustd.client.adapters.TrustdAdapter, or trustd.client.adapters.session()

What the familiar knobs mean on a :class:`TrustdSSLContext`:

``verify_mode``
    CERT_REQUIRED (the default) and CERT_OPTIONAL (which for a client means the same in
    OpenSSL) ask trustd and refuse an untrusted server.  CERT_NONE asks nothing and accepts
    any server.  As with ``ssl.SSLContext``, CERT_NONE cannot be set while ``check_hostname``
    is on, and turning ``check_hostname`` on upgrades CERT_NONE to CERT_REQUIRED.
``check_hostname``
    True (the default): the server name given to ``wrap_socket``/``wrap_bio``
    (``server_hostname``, which http.client, urllib and urllib3 always pass) goes into the ssl
    policy, and trustd's SSLHostname check matches it against the certificate (DNS names and IP
    addresses of the subjectAltName, Apple's rules).  OpenSSL's own host check stays off.
    False: the chain is still evaluated, for the ssl policy without a name.
``load_verify_locations``, ``load_default_certs``, ``set_default_verify_paths``
    Accepted and ignored: anchors are trustd's.  Pass ``anchors=`` (DER) to add some for this
    context only (``anchors_only=True`` to trust nothing else), or give trustd trust settings.
``verify_flags``, ``hostname_checks_common_name``
    Have no effect (OpenSSL does not verify); revocation is whatever trustd checks.

Failures raise :class:`TrustdVerificationError`, an ``ssl.SSLCertVerificationError`` whose
``verify_code`` is the SecTrustResultType number (5 recoverableTrustFailure, 6
fatalTrustFailure, 3 deny, 7 when trustd could not be asked), whose ``verify_message`` is the
verdict's message followed by the names of the failed checks (SSLHostname, AnchorTrusted,
TemporalValidity...), and whose ``result`` is the full :class:`EvaluationResult`.  If trustd
cannot be reached the connection is refused too (fail closed).

With ``apply_exceptions=True`` the exceptions the user stored for the host (and port) with
``Client.set_exceptions`` apply, as Safari's "visit this website anyway" does.  For wrap_bio
(asyncio) the port is unknown and port 0 is used.

Only client-side use is supported: OpenSSL gives Python no way to ask for a client certificate
without also verifying it, so ``server_side=True`` raises ValueError.  With asyncio the
evaluation is a blocking call to the local daemon made inside the event loop's handshake step
(as truststore does); it is one local round trip, usually well under a millisecond.

Peer chains come from ``SSLSocket._sslobj.get_unverified_chain()`` (CPython 3.10 and later,
private), else the public ``get_unverified_chain()`` of Python 3.13, else the leaf alone from
``getpeercert(binary_form=True)`` (trustd then needs the intermediates in its store).
"""

from __future__ import annotations

import _ssl
import base64
import json
import socket
import ssl
import threading
import types
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, Self, overload

from trustd.client import _protocol as protocol
from trustd.client.errors import TrustdError
from trustd.client.models import TRUSTED_RESULTS, EvaluationResult, reader
from trustd.client.sync import Client

if TYPE_CHECKING:
    from ssl import _PeerCertRetDictType, _PeerCertRetType

    from _typeshed import ReadableBuffer, StrOrBytesPath

__all__ = [
    "TrustdSSLContext",
    "TrustdSSLObject",
    "TrustdSSLSocket",
    "TrustdVerificationError",
    "create_context",
    "peer_chain",
]

OTHER_ERROR = 7  # SecTrustResultType otherError: the evaluation could not be carried out
_C_CONTEXT = _ssl._SSLContext.__dict__  # the OpenSSL-level properties, below ours


def _set_openssl(context: ssl.SSLContext, name: str, value: object) -> None:
    """Set the OpenSSL-level `check_hostname` or `verify_mode`, bypassing our properties."""
    _C_CONTEXT[name].__set__(context, value)


class TrustdVerificationError(ssl.SSLCertVerificationError):
    """trustd did not trust the server (or could not be asked): the handshake is refused."""

    def __init__(
        self,
        verify_message: str,
        verify_code: int = OTHER_ERROR,
        result: EvaluationResult | None = None,
    ) -> None:
        verdict = "" if result is None else f" [trustd: {result.result}]"
        super().__init__(
            f"[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: {verify_message}{verdict}"
        )
        self.verify_code = verify_code
        self.verify_message = verify_message
        self.result = result
        self.library = "SSL"
        self.reason = "CERTIFICATE_VERIFY_FAILED"

    @classmethod
    def from_result(cls, result: EvaluationResult) -> TrustdVerificationError:
        """The error for an untrusted verdict: its message, then the failed checks' names."""
        checks = ", ".join(result.checks)
        message = f"{result.message} ({checks})" if checks else result.message
        return cls(message, result.code, result)


def _unverified_chain(
    connection: ssl.SSLSocket | ssl.SSLObject,
) -> tuple[list[bytes], Any]:
    """The certificates the peer sent, leaf first, as DER, and the leaf as an _ssl.Certificate
    (whose get_info() is the getpeercert() dictionary; None when the Python version has none)."""
    inner = getattr(connection, "_sslobj", None)
    private = getattr(inner, "get_unverified_chain", None)
    if callable(private):  # CPython 3.10+: _ssl.Certificate objects
        certificates = private() or ()
        chain = [
            c if isinstance(c, bytes) else c.public_bytes(_ssl.ENCODING_DER) for c in certificates
        ]
        leaf = certificates[0] if certificates else None
        return chain, leaf if callable(getattr(leaf, "get_info", None)) else None
    public = getattr(connection, "get_unverified_chain", None)
    if callable(public):  # Python 3.13+: DER bytes
        return [bytes(c) for c in public() or ()], None
    der = connection.getpeercert(binary_form=True)
    return ([der] if der else []), None


def peer_chain(
    connection: ssl.SSLSocket | ssl.SSLObject,
) -> tuple[list[bytes], dict[str, Any] | None]:
    """The certificates the peer sent, leaf first, as DER, and the leaf's getpeercert() dict
    (None when the Python version does not give it)."""
    chain, leaf = _unverified_chain(connection)
    return chain, None if leaf is None else leaf.get_info()


def _peer_port(connection: ssl.SSLSocket | ssl.SSLObject) -> int:
    if isinstance(connection, ssl.SSLSocket):
        try:
            address = connection.getpeername()
        except OSError:
            return 0
        if isinstance(address, tuple) and len(address) >= 2 and isinstance(address[1], int):
            return address[1]
    return 0


def _verify_once(connection: TrustdSSLSocket | TrustdSSLObject) -> None:
    """After the handshake: ask trustd once about the peer (raises if it is refused)."""
    context = connection.context
    if not connection._trustd_checked and isinstance(context, TrustdSSLContext):
        connection._trustd_verdict, connection._trustd_leaf = context._verify(connection)
        connection._trustd_checked = True


class _VerifiedByTrustd:
    """What TrustdSSLSocket and TrustdSSLObject add to the standard library's: trustd's verdict
    (``trustd_result``), and ``getpeercert()`` filled once trustd trusted the peer.

    A trusted verdict is kept as received and decoded into an EvaluationResult when
    ``trustd_result`` is first read: the handshake itself needs only its ``trusted``.
    """

    _trustd_checked = False
    _trustd_verdict: EvaluationResult | dict[str, Any] | None = None
    _trustd_leaf: Any = None  # the trusted leaf, an _ssl.Certificate (its get_info())
    _trustd_peer: dict[str, Any] | None = None

    @property
    def trustd_result(self) -> EvaluationResult | None:
        """trustd's verdict on the server (None before the handshake, or with CERT_NONE)."""
        verdict = self._trustd_verdict
        if isinstance(verdict, dict):
            verdict = self._trustd_verdict = EvaluationResult.from_wire(verdict)
        return verdict

    @trustd_result.setter
    def trustd_result(self, verdict: EvaluationResult | None) -> None:
        self._trustd_verdict = verdict

    def _trustd_peer_info(self) -> dict[str, Any] | None:
        """The trusted leaf's getpeercert() dictionary (made on first use)."""
        if self._trustd_peer is None and self._trustd_leaf is not None:
            self._trustd_peer = self._trustd_leaf.get_info()
            self._trustd_leaf = None
        return self._trustd_peer

    @overload
    def getpeercert(self, binary_form: Literal[False] = False) -> _PeerCertRetDictType | None: ...
    @overload
    def getpeercert(self, binary_form: Literal[True]) -> bytes | None: ...
    @overload
    def getpeercert(self, binary_form: bool) -> _PeerCertRetType: ...
    def getpeercert(self, binary_form: bool = False) -> _PeerCertRetType:
        """As the standard library's getpeercert; the dictionary form is filled once trustd
        trusted the peer (OpenSSL, told not to verify, leaves it empty)."""
        value: _PeerCertRetType = super().getpeercert(binary_form)  # type: ignore[misc]
        if not binary_form and not value:
            info = self._trustd_peer_info()
            if info is not None:
                return info
        return value


class TrustdSSLSocket(_VerifiedByTrustd, ssl.SSLSocket):
    """An SSLSocket whose handshake ends with trustd's verdict on the server.

    ``trustd_result`` is that verdict (None before the handshake, or with CERT_NONE);
    ``getpeercert()`` gives the leaf's dictionary once trustd trusted it, as a verifying
    ``ssl.SSLContext`` would.
    """

    def do_handshake(self, block: bool = False) -> None:
        """Handshake, then verify the server through trustd (closing the socket if refused)."""
        super().do_handshake(block)
        try:
            _verify_once(self)
        except BaseException:
            self.close()
            raise


class TrustdSSLObject(_VerifiedByTrustd, ssl.SSLObject):
    """An SSLObject (wrap_bio, asyncio) whose handshake ends with trustd's verdict."""

    def do_handshake(self) -> None:
        """Handshake, then verify the server through trustd."""
        super().do_handshake()
        _verify_once(self)


def _for_clients(server_side: bool) -> None:
    if server_side:
        raise ValueError("TrustdSSLContext is for clients: it verifies servers")


class TrustdSSLContext(ssl.SSLContext):
    """An ``ssl.SSLContext`` for clients whose server verification is trustd's.

    ``client`` is the trustd connection to use (default: a ``Client()`` made on first use, for
    TRUSTD_SOCKET or the default socket).  ``anchors`` (DER) are extra anchors for this context,
    the only ones with ``anchors_only``.  With ``apply_exceptions`` the exceptions stored for the
    server's host and port apply.  ``revocation`` asks trustd to check revocation
    (``verify-cert -R`` words: ocsp, crl, require, offline, online); ``network=False`` keeps
    trustd from fetching missing intermediates and revocation answers for this context.  See the
    module documentation for what ``verify_mode`` and ``check_hostname`` mean here.
    """

    sslsocket_class = TrustdSSLSocket
    sslobject_class = TrustdSSLObject

    def __new__(cls, protocol: int = ssl.PROTOCOL_TLS_CLIENT, *args: Any, **kwargs: Any) -> Self:
        return super().__new__(cls, protocol)

    def __init__(
        self,
        protocol: int = ssl.PROTOCOL_TLS_CLIENT,
        *,
        client: Client | None = None,
        anchors: Sequence[bytes] = (),
        anchors_only: bool = False,
        apply_exceptions: bool = False,
        revocation: Sequence[str] = (),
        network: bool | None = None,
    ) -> None:
        if protocol != ssl.PROTOCOL_TLS_CLIENT:
            raise ValueError("TrustdSSLContext verifies servers: use ssl.PROTOCOL_TLS_CLIENT")
        self._trustd_client = client
        self._trustd_client_lock = threading.Lock()
        self.anchors: tuple[bytes, ...] = tuple(anchors)
        self.anchors_only = anchors_only
        self.apply_exceptions = apply_exceptions
        self.revocation: tuple[str, ...] = tuple(revocation)
        self.network = network
        # The JSON of the Evaluate parameters that are the context's, and what it was made of
        self._trustd_request: tuple[object, str] = ((), "")
        self._trustd_check_hostname = True
        self._trustd_verify_mode = ssl.CERT_REQUIRED
        _set_openssl(self, "check_hostname", False)
        _set_openssl(self, "verify_mode", ssl.CERT_NONE)
        # A renegotiation could change the peer's certificate after we verified it.
        self.options |= ssl.OP_NO_RENEGOTIATION

    # -- the verification knobs, ours rather than OpenSSL's --------------------------------------

    @property
    def check_hostname(self) -> bool:
        """Whether trustd matches the server name (SSLHostname); see the module docs."""
        return self._trustd_check_hostname

    @check_hostname.setter
    def check_hostname(self, value: bool) -> None:
        value = bool(value)
        if value and self._trustd_verify_mode == ssl.CERT_NONE:
            self._trustd_verify_mode = ssl.CERT_REQUIRED  # as ssl.SSLContext does
        self._trustd_check_hostname = value

    @property  # type: ignore[override]
    def verify_mode(self) -> ssl.VerifyMode:
        """CERT_REQUIRED/CERT_OPTIONAL: ask trustd; CERT_NONE: accept any server."""
        return self._trustd_verify_mode

    @verify_mode.setter
    def verify_mode(self, value: ssl.VerifyMode) -> None:
        mode = ssl.VerifyMode(value)
        if mode == ssl.CERT_NONE and self._trustd_check_hostname:
            raise ValueError("Cannot set verify_mode to CERT_NONE when check_hostname is enabled.")
        self._trustd_verify_mode = mode

    @property
    def client(self) -> Client:
        """The trustd client verifications go through (made on first use if none was given)."""
        with self._trustd_client_lock:
            if self._trustd_client is None:
                self._trustd_client = Client()
            return self._trustd_client

    # -- anchors are trustd's --------------------------------------------------------------------

    def load_verify_locations(
        self,
        cafile: StrOrBytesPath | None = None,
        capath: StrOrBytesPath | None = None,
        cadata: str | ReadableBuffer | None = None,
    ) -> None:
        """Ignored: trustd decides which anchors count (use ``anchors=`` for extra ones)."""

    def load_default_certs(self, purpose: ssl.Purpose = ssl.Purpose.SERVER_AUTH) -> None:
        """Ignored: the system anchors are trustd's."""

    def set_default_verify_paths(self) -> None:
        """Ignored: the system anchors are trustd's."""

    # -- wrapping --------------------------------------------------------------------------------

    def wrap_socket(  # noqa: PLR0917 (ssl.SSLContext's signature)
        self,
        sock: socket.socket,
        server_side: bool = False,
        do_handshake_on_connect: bool = True,
        suppress_ragged_eofs: bool = True,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLSocket:
        """As ssl.SSLContext.wrap_socket; the handshake also asks trustd about the server."""
        _for_clients(server_side)
        return super().wrap_socket(
            sock,
            server_side=False,
            do_handshake_on_connect=do_handshake_on_connect,
            suppress_ragged_eofs=suppress_ragged_eofs,
            server_hostname=server_hostname,
            session=session,
        )

    def wrap_bio(
        self,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        server_side: bool = False,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLObject:
        """As ssl.SSLContext.wrap_bio; do_handshake() also asks trustd about the server."""
        _for_clients(server_side)
        if self.check_hostname and not server_hostname:
            raise ValueError("check_hostname requires server_hostname")
        return super().wrap_bio(
            incoming, outgoing, server_side=False, server_hostname=server_hostname, session=session
        )

    # -- the verification ------------------------------------------------------------------------

    def verify_peer(
        self, connection: ssl.SSLSocket | ssl.SSLObject
    ) -> tuple[EvaluationResult | None, dict[str, Any] | None]:
        """Ask trustd about the server of a completed handshake.

        Returns the verdict (None with CERT_NONE) and the leaf's getpeercert() dictionary;
        raises TrustdVerificationError unless trustd trusts the chain.
        """
        verdict, leaf = self._verify(connection)
        if isinstance(verdict, dict):
            verdict = EvaluationResult.from_wire(verdict)
        return verdict, None if leaf is None else leaf.get_info()

    def _verify(
        self, connection: ssl.SSLSocket | ssl.SSLObject
    ) -> tuple[EvaluationResult | dict[str, Any] | None, Any]:
        """verify_peer, but a trusted verdict is left as received (a dict) and the leaf is
        the _ssl.Certificate (None if unknown): what is not needed is not decoded."""
        if self._trustd_verify_mode == ssl.CERT_NONE:
            return None, None
        hostname = connection.server_hostname
        if self._trustd_check_hostname and not hostname:
            raise ValueError("check_hostname requires server_hostname")
        chain, leaf = _unverified_chain(connection)
        if not chain:
            raise TrustdVerificationError("the server sent no certificate")
        try:
            call = self._evaluate_call(chain, hostname, connection)
            verdict = self.client._call(call, _read_verdict)
        except TrustdError as problem:
            raise TrustdVerificationError(f"trustd could not be asked: {problem}") from problem
        if isinstance(verdict, EvaluationResult):  # not trusted (or not plainly so)
            if not verdict.trusted:
                raise TrustdVerificationError.from_result(verdict)
        return verdict, leaf

    def _evaluate_call(
        self,
        chain: Sequence[bytes],
        hostname: str | None,
        connection: ssl.SSLSocket | ssl.SSLObject,
    ) -> protocol.Encoded[EvaluationResult | dict[str, Any]]:
        """The Evaluate call Client.evaluate would send for this peer, encoded directly: the
        chain's base64 goes into the JSON text as it is (base64 needs no escaping), and the
        parameters that are the context's come from its last connection's."""
        policy: dict[str, Any] = {"policy": "ssl"}
        if self._trustd_check_hostname and hostname is not None:
            policy["name"] = hostname
        rest: dict[str, Any] = {"policies": [policy]}
        if self.apply_exceptions and hostname:
            rest["host"], rest["port"] = hostname, _peer_port(connection)
        key = (self.anchors, self.anchors_only, self.revocation, self.network)
        if self._trustd_request[0] != key:
            self._trustd_request = (key, _evaluate_options(*key))
        certificates = '","'.join([base64.b64encode(c).decode("ascii") for c in chain])
        data = (
            f'{{"method":"{protocol.INTERFACE}.Evaluate","parameters":{{"certificates":'
            f'["{certificates}"],{_JSON(rest)[1:-1]}{self._trustd_request[1]}}}}}\0'
        ).encode()
        return protocol.Encoded("Evaluate", {}, "verdict", data=protocol.checked_size(data))


def _evaluate_options(
    anchors: tuple[bytes, ...],
    anchors_only: bool,
    revocation: tuple[str, ...],
    network: bool | None,
) -> str:
    """A context's own Evaluate parameters as JSON members, each after a comma ("" if none),
    as Client.evaluate gives them."""
    options = {
        "anchors": [base64.b64encode(a).decode("ascii") for a in anchors] or None,
        "anchors_only": anchors_only or None,
        "network": network,
        "revocation": list(revocation) or None,
    }
    given = {name: value for name, value in options.items() if value is not None}
    return "," + _JSON(given)[1:-1] if given else ""


_JSON = json.JSONEncoder(separators=(",", ":")).encode  # as trustd.varlink_framing encodes
_FULL_VERDICT = reader(EvaluationResult)


def _read_verdict(value: Any, key: str) -> EvaluationResult | dict[str, Any]:
    """The verdict of an Evaluate reply: a plainly trusted one as received (decoded when
    ``trustd_result`` is read), any other decoded now (ProtocolError if malformed)."""
    if (
        isinstance(value, dict)
        and value.get("trusted") is True
        and value.get("result") in TRUSTED_RESULTS
    ):
        return value
    verdict: EvaluationResult = _FULL_VERDICT(value, key)
    return verdict


def _pinned(accessor: property) -> property:
    """`accessor` (a property of ssl.SSLContext) with its functions bound to that class.

    ssl.SSLContext's setters find their base as ``super(SSLContext, SSLContext)``, naming the
    ssl module's SSLContext when called.  Once trustd.client.inject_into_ssl() made that name a
    subclass of ours, they would find themselves again and recurse for ever; these copies see
    the original class under that name.
    """
    namespace = dict(vars(ssl), SSLContext=ssl.SSLContext)

    def bound(function: Any) -> Any:
        if function is None:
            return None
        return types.FunctionType(
            function.__code__,
            namespace,
            function.__name__,
            function.__defaults__,
            function.__closure__,
        )

    return property(bound(accessor.fget), bound(accessor.fset), bound(accessor.fdel))


for _name, _accessor in vars(ssl.SSLContext).items():
    if isinstance(_accessor, property) and _name not in vars(TrustdSSLContext):
        setattr(TrustdSSLContext, _name, _pinned(_accessor))


def create_context(
    client: Client | None = None,
    host_check: bool = True,
    *,
    anchors: Sequence[bytes] = (),
    anchors_only: bool = False,
    apply_exceptions: bool = False,
    revocation: Sequence[str] = (),
    network: bool | None = None,
) -> TrustdSSLContext:
    """A client TLS context that verifies servers through trustd.

    ``host_check=False`` evaluates the chain without matching the server name.  The other
    arguments are :class:`TrustdSSLContext`'s.
    """
    context = TrustdSSLContext(
        client=client,
        anchors=anchors,
        anchors_only=anchors_only,
        apply_exceptions=apply_exceptions,
        revocation=revocation,
        network=network,
    )
    context.check_hostname = host_check
    return context
