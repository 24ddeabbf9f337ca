"""The daemon speaks varlink as the specification and other clients expect: the standard
errors, parameters checked against the interface description, enums that hold what is sent,
deep JSON answered, and the PyPI `varlink` client and command line receiving all of it."""

from __future__ import annotations

import base64
import datetime as dt
import json
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import varlink
from daemons import Daemon, call, read_message, start_daemon
from pki import PKI, KeyCache

from trustd.api import idl, methods
from trustd.api.varlink import Encoded, Interface, Peer, ServiceInfo, VarlinkServer
from trustd.client import errors
from trustd.core.results import Severity, TrustResult
from trustd.core.snapshot import Origin
from trustd.core.trust_settings import Domain
from trustd.core.verdict import Rescue

TRUST = idl.parse(methods.description())


@pytest.fixture(scope="module")
def daemon(pki_keys: KeyCache) -> Iterator[Daemon]:
    """One daemon for this module's tests (none of them depends on what another changed)."""
    base = Path(tempfile.mkdtemp(prefix="trustd-test-", dir="/tmp"))
    running = start_daemon(base, PKI(pki_keys).root("System Root"))
    try:
        yield running
    finally:
        assert running.stop() == 0
        shutil.rmtree(base, ignore_errors=True)


SHORT = {
    "not_before": dt.datetime.now(dt.UTC) - dt.timedelta(days=10),
    "not_after": dt.datetime.now(dt.UTC) + dt.timedelta(days=300),
}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _pypi_call(connection: Any, method: str, parameters: dict[str, Any]) -> Any:
    """One call through the PyPI client's own connection, as its command line sends it (its
    typed methods check and drop parameters before sending; the daemon must do so itself)."""
    message = {"method": f"io.trustd.Trust.{method}", "parameters": parameters}
    connection._send_message(json.dumps(message).encode())
    reply, _ = connection._next_varlink_message()
    return reply


def test_the_pypi_client_receives_the_standard_invalid_parameter(daemon: Daemon) -> None:
    """A wrong type, a missing and an unknown parameter, at the top and inside a struct, and a
    value outside an enum: org.varlink.service.InvalidParameter naming it, for the PyPI client
    (which maps it to its varlink.InvalidParameter) as for any other."""
    cases = [
        ("Echo", {"text": 1}, "text"),
        ("Echo", {}, "text"),
        ("Echo", {"text": None}, "text"),
        ("Echo", {"text": "hi", "junk": True}, "junk"),
        ("Evaluate", {"certificates": "x"}, "certificates"),
        ("Evaluate", {"certificates": [b64(b"x")], "policies": [{"x": 1}]}, "policies[0].x"),
        ("Evaluate", {"certificates": [b64(b"x")], "port": 2**64}, "port"),
        ("CopyTrustSettings", {"domain": "everyone"}, "domain"),
    ]
    with (
        varlink.Client(address=f"unix:{daemon.socket}") as client,
        client.open("io.trustd.Trust") as trust,
    ):
        for method, parameters, name in cases:
            with pytest.raises(varlink.InvalidParameter) as refused:
                _pypi_call(trust, method, parameters)
            assert refused.value.error() == "org.varlink.service.InvalidParameter"
            assert refused.value.parameters() == {"parameter": name}, (method, parameters)
        assert _pypi_call(trust, "Echo", {"text": "still here"}) == {"text": "still here"}
    # On the wire the reason comes too, and trustd's client library maps the error to its
    # InvalidParameter with a message trustctl prints.
    reply = daemon.call("Echo", text="hi", junk=True)
    assert reply == {
        "error": "org.varlink.service.InvalidParameter",
        "parameters": {"parameter": "junk", "reason": "unknown"},
    }
    problem = errors.from_reply(reply["error"], reply["parameters"])
    assert isinstance(problem, errors.InvalidParameter)
    assert str(problem) == "invalid parameter junk: unknown"
    assert str(errors.from_reply(reply["error"], {"parameter": "x"})) == "invalid parameter x"
    assert isinstance(
        errors.from_reply("io.trustd.Trust.InvalidParameter", {}), errors.InvalidParameter
    )  # what earlier daemons sent


def test_the_readme_command_line_works(daemon: Daemon) -> None:
    """The PyPI package's command line, as the README gives it for systems without
    varlinkctl, calls Status and prints the interface."""

    def cli(*arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "varlink.cli", *arguments],
            capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip

    status = cli("call", f"unix:{daemon.socket}/io.trustd.Trust.Status", "{}")
    assert json.loads(status.stdout)["counts"]["system_anchors"] == 1
    described = cli("help", f"unix:{daemon.socket}/io.trustd.Trust")
    assert "interface io.trustd.Trust" in described.stdout
    assert "type Domain (system, admin, user)" in described.stdout
    refused = cli("call", f"unix:{daemon.socket}/io.trustd.Trust.Echo", '{"text": 1}')
    assert "org.varlink.service.InvalidParameter" in refused.stderr


def test_standard_errors_and_service_info(daemon: Daemon) -> None:
    """InterfaceNotFound, MethodNotFound and ExpectedMore as the specification has them;
    GetInfo names no made-up project URL; trustd's client maps each to a message."""
    socket_path = daemon.socket
    info = call(socket_path, "org.varlink.service.GetInfo")["parameters"]
    assert info["url"] == ""
    assert info["interfaces"] == ["org.varlink.service", "io.trustd.Trust"]
    replies = {
        "InterfaceNotFound": call(socket_path, "io.nowhere.Thing.Do"),
        "MethodNotFound": call(socket_path, "io.trustd.Trust.Nope"),
        "ExpectedMore": call(socket_path, "io.trustd.Trust.Monitor"),
        "ServiceMethodNotFound": call(socket_path, "org.varlink.service.Nope"),
        "DescriptionNotFound": call(
            socket_path, "org.varlink.service.GetInterfaceDescription", {"interface": "a.b"}
        ),
    }
    assert replies["InterfaceNotFound"] == {
        "error": "org.varlink.service.InterfaceNotFound",
        "parameters": {"interface": "io.nowhere.Thing"},
    }
    assert replies["MethodNotFound"] == {
        "error": "org.varlink.service.MethodNotFound",
        "parameters": {"method": "io.trustd.Trust.Nope"},
    }
    assert replies["ExpectedMore"] == {
        "error": "org.varlink.service.ExpectedMore",
        "parameters": {},
    }
    assert replies["ServiceMethodNotFound"]["error"] == "org.varlink.service.MethodNotFound"
    assert replies["DescriptionNotFound"]["error"] == "org.varlink.service.InterfaceNotFound"
    messages = {
        name: str(errors.from_reply(reply["error"], reply["parameters"]))
        for name, reply in replies.items()
    }
    assert messages["MethodNotFound"] == (
        "trustd does not know the method io.trustd.Trust.Nope "
        "(is the daemon older than the client?)"
    )
    assert messages["InterfaceNotFound"] == "trustd does not serve the interface io.nowhere.Thing"
    assert "called with more" in messages["ExpectedMore"]


def test_method_not_implemented_and_undeclared_handlers() -> None:
    """A method the description declares and no handler implements: MethodNotImplemented.  A
    handler the description does not declare is refused when the interface is made."""
    description = "interface io.example.Test\nmethod Done() -> ()\nmethod Later() -> ()\n"
    with pytest.raises(ValueError, match="does not declare Extra"):
        Interface("io.example.Test", description, {"Extra": lambda peer, p: {}})
    served = Interface("io.example.Test", description, {"Done": lambda peer, p: {}})
    server = VarlinkServer(ServiceInfo("test", "test", "0", ""), [served])
    with tempfile.TemporaryDirectory() as base:
        path = Path(base) / "test.sock"
        server.listen(str(path))
        try:
            assert call(path, "io.example.Test.Done") == {"parameters": {}}
            assert call(path, "io.example.Test.Later") == {
                "error": "org.varlink.service.MethodNotImplemented",
                "parameters": {"method": "io.example.Test.Later"},
            }
            problem = errors.from_reply("org.varlink.service.MethodNotImplemented",
                                        {"method": "io.example.Test.Later"})  # fmt: skip
            assert str(problem) == "trustd does not implement the method io.example.Test.Later"
        finally:
            server.shutdown()


def test_a_repeated_call_is_recalled_by_token_and_decoded_again_when_recall_declines() -> None:
    """A plain call whose reply carries a token is remembered under the uid and the call's
    bytes: the same bytes again are answered by the interface's `recall`, not its handler; a
    declined recall, other bytes or a call with `more` or `oneway` go to the handler."""
    description = "interface io.example.Test\nmethod Get(n: int) -> (n: int)\n"
    handled: list[int] = []
    kept: dict[object, Encoded] = {}

    def get(peer: Peer, p: Mapping[str, Any]) -> Encoded:
        handled.append(p["n"])
        reply = Encoded(json.dumps({"n": p["n"]}), token=("get", p["n"]))
        kept[reply.token] = reply
        return reply

    def recall(peer: Peer, token: object) -> Encoded | None:
        return kept.get(token)

    served = Interface("io.example.Test", description, {"Get": get}, recall=recall)
    server = VarlinkServer(ServiceInfo("test", "test", "0", ""), [served])
    with tempfile.TemporaryDirectory() as base:
        path = Path(base) / "test.sock"
        server.listen(str(path))
        try:
            for n in (1, 1, 2, 1):
                assert call(path, "io.example.Test.Get", {"n": n}) == {"parameters": {"n": n}}
            assert handled == [1, 2]
            kept.clear()  # the interface no longer has the replies: decoded and handled anew
            assert call(path, "io.example.Test.Get", {"n": 1}) == {"parameters": {"n": 1}}
            assert handled == [1, 2, 1]
            oneway = {"method": "io.example.Test.Get", "parameters": {"n": 3}, "oneway": True}
            info = {"method": "org.varlink.service.GetInfo", "parameters": {}}
            with socket.socket(socket.AF_UNIX) as conn:
                conn.settimeout(10)
                conn.connect(str(path))
                messages = (oneway, oneway, info)
                conn.sendall(b"".join(json.dumps(m).encode() + b"\0" for m in messages))
                assert read_message(conn)["parameters"]["product"] == "test"  # GetInfo's, first
            assert handled == [1, 2, 1, 3, 3]  # a oneway call is never remembered
            for _ in range(2):
                assert call(path, "io.example.Test.Get", {"n": 4}, more=True) == {
                    "parameters": {"n": 4}
                }
            assert handled == [1, 2, 1, 3, 3, 4, 4]  # nor one that asked for more
        finally:
            server.shutdown()


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_deeply_nested_json_gets_an_error_reply(daemon: Daemon) -> None:
    """JSON nested deeper than the decoder goes is answered InvalidParameter (no traceback in
    the log), and nesting it can decode is refused where the interface declares no such
    depth; the daemon serves on."""
    deep = '{"method":"io.trustd.Trust.Echo","parameters":{"text":' + _nested(100_000) + "}}"
    with socket.socket(socket.AF_UNIX) as conn:
        conn.settimeout(10)
        conn.connect(str(daemon.socket))
        conn.sendall(deep.encode() + b"\0")
        assert read_message(conn) == {
            "error": "org.varlink.service.InvalidParameter",
            "parameters": {"parameter": "message", "reason": "nested too deeply"},
        }
    for field in ("text", "junk"):
        shallow = {"text": "x", field: json.loads(_nested(500))}
        reply = call(daemon.socket, "io.trustd.Trust.Echo", shallow)
        assert reply["error"] == "org.varlink.service.InvalidParameter"
        assert reply["parameters"]["parameter"] == field
    assert daemon.call("Echo", text="fine") == {"parameters": {"text": "fine"}}
    log = daemon.log.read_text()
    assert "Traceback" not in log
    assert "RecursionError" not in log


def _enum(name: str) -> tuple[str, ...]:
    kind = TRUST.types[name]
    assert isinstance(kind, idl.Enum)
    return kind.values


def test_the_interface_enums_are_the_daemons_sets() -> None:
    """Each enum of the interface holds exactly the values the daemon can send or take."""
    assert set(_enum("Domain")) == {d.value for d in Domain}
    assert set(_enum("Severity")) == {s.value for s in Severity}
    assert set(_enum("Rescue")) == {r.value for r in Rescue}
    assert set(_enum("Origin")) == {o.value for o in Origin}
    assert set(_enum("Result")) == {r.wire_name for r in TrustResult}


def _fits(method: str, reply: dict[str, Any]) -> None:
    assert "parameters" in reply, reply
    idl.check(TRUST, TRUST.methods[method].output, reply["parameters"], method)


def test_replies_fit_the_interface(daemon: Daemon, pki: PKI) -> None:
    """Real replies (trusted, denied, rescued, explained) are values of the declared types,
    enums included: a client that checks them against the description accepts them."""
    org = pki.root("Org Root")
    leaf = pki.leaf(org, dns=["intranet.example"], **SHORT)
    request = {
        "certificates": [b64(leaf.der)],
        "policies": [{"policy": "ssl", "name": "intranet.example"}],
        "explain": True,
    }
    _fits("Evaluate", daemon.call("Evaluate", **request))  # no anchor: recoverable
    _fits("AddCertificates", daemon.call("AddCertificates", certificates=[b64(org.der)]))
    _fits("SetTrustSettings", daemon.call("SetTrustSettings", domain="admin",
                                          certificate=b64(org.der), constraints=[]))  # fmt: skip
    trusted = daemon.call("Evaluate", **request)
    _fits("Evaluate", trusted)
    assert trusted["parameters"]["verdict"]["anchor_origin"] == "admin"
    wrong_name = {**request, "policies": [{"policy": "ssl", "name": "other.example"}]}
    allowed = [{"allowed_error": -2147408896}]  # CSSMERR_APPLETP_HOSTNAME_MISMATCH
    daemon.call("SetTrustSettings", domain="admin", certificate=b64(leaf.der), constraints=allowed)
    _fits("Evaluate", daemon.call("Evaluate", **wrong_name))
    daemon.call("SetTrustSettings", domain="admin", certificate=b64(org.der),
                constraints=[{"result": 3}])  # fmt: skip
    denied = daemon.call("Evaluate", **request)
    _fits("Evaluate", denied)
    assert denied["parameters"]["verdict"]["result"] == "deny"
    for method, parameters in [
        ("CopyTrustSettings", {"domain": "admin"}),
        ("FindCertificates", {}),
        ("ListAnchors", {}),
        ("AuditLog", {}),
        ("Status", {}),
    ]:
        _fits(method, daemon.call(method, **parameters))


def test_trustctl_prints_the_standard_error(daemon: Daemon) -> None:
    """trustctl turns the standard InvalidParameter into its message, as before."""
    done = subprocess.run(
        [str(Path(sys.executable).parent / "trustctl"), "--socket", str(daemon.socket),
         "exceptions", "remove", "x" * 300],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.strip() == "trustctl: invalid parameter host: longer than 255"
