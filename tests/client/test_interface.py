"""The client's description of the wire held against the interface description itself.

trustd.client.errors declares one class per error (wire name, message, fields) and
trustd.client.models one dataclass per type the client decodes (its fields and their types);
io.trustd.Trust.varlink is what the daemon checks every call and reply against.  These tests
say that the two agree: every error and type declared there has its class, every class is
declared there, with the same fields, of fitting types.
"""

from __future__ import annotations

import dataclasses
import inspect
import string
import types
import typing
from datetime import datetime
from importlib import resources
from typing import Any

import pytest

from trustd.api import idl
from trustd.api.varlink import SERVICE_DESCRIPTION
from trustd.client import errors, models
from trustd.varlink_framing import INTERFACE, SERVICE

DEFINITION = idl.parse(resources.files("trustd.api").joinpath(f"{INTERFACE}.varlink").read_text())
STANDARD = idl.parse(SERVICE_DESCRIPTION)
FIELD_TYPES = {"string": "str", "int": "int"}  # an error field's varlink type -> its annotation

# Interface types no model decodes, and why.
NOT_DECODED = {
    "TrustStores": "Status.trust_stores keeps the object as received",
    "Workers": "the evaluation pool's state in Status; the client does not read it",
    "VerdictCounters": "the reply cache's counters in Status; the client does not read them",
}
# Reply fields no model field reads, and why.
NOT_READ = {
    ("Verdict", "valid_from"): "kept in EvaluationResult.raw (the daemon's cache window)",
    ("Verdict", "valid_until"): "kept in EvaluationResult.raw (the daemon's cache window)",
    ("Status", "workers"): "see NOT_DECODED",
    ("Status", "verdicts"): "see NOT_DECODED",
}


def _declared(cls: type[errors.TrustdError]) -> dict[str, str]:
    return {name: kind for name, kind in inspect.get_annotations(cls).items()}


def _decoded() -> list[type[models.WireObject]]:
    found: list[type[models.WireObject]] = []
    pending = [models.WireObject]
    while pending:
        for subclass in pending.pop().__subclasses__():
            # (dataclass(slots=True) makes a new class: the one the module holds is the model)
            if getattr(models, subclass.__name__, None) is subclass and subclass not in found:
                found.append(subclass)
            pending.append(subclass)
    return found


def test_every_interface_error_has_its_class_with_its_fields() -> None:
    for name, fields in DEFINITION.errors.items():
        cls = errors.ERRORS.get(f"{INTERFACE}.{name}")
        assert cls is not None, f"no class for {name}"
        assert cls.__name__ == name and cls.error_name == f"{INTERFACE}.{name}"
        assert _declared(cls) == {f: FIELD_TYPES[str(k)] for f, k in fields.fields.items()}, name


def test_every_error_class_is_declared_and_its_message_uses_its_fields() -> None:
    legacy = {f"{INTERFACE}.InvalidParameter"}  # what earlier daemons sent, mapped for them
    for wire_name, cls in errors.ERRORS.items():
        interface, _, name = wire_name.rpartition(".")
        if wire_name in legacy:
            assert cls is errors.InvalidParameter
            continue
        assert getattr(errors, cls.__name__) is cls and cls.__name__ in errors.__all__
        if interface == INTERFACE:
            assert name in DEFINITION.errors, f"{wire_name} is not in the interface"
        else:
            assert interface == SERVICE
            # The standard errors' fields, plus trustd's own (InvalidParameter's reason).
            assert set(STANDARD.errors[name].fields) <= set(_declared(cls)), wire_name
        used = {field for _, field, _, _ in string.Formatter().parse(cls.template) if field}
        assert used <= set(_declared(cls)), wire_name
    # Every standard error the daemon sends has its class; it answers PermissionDenied with
    # trustd's own (a reason comes with it).
    assert {n for n in STANDARD.errors if f"{SERVICE}.{n}" not in errors.ERRORS} == {
        "PermissionDenied"
    }


def test_an_error_reads_its_fields_and_defaults_what_is_missing() -> None:
    quota = errors.from_reply(f"{INTERFACE}.QuotaExceeded", {"what": "certificates", "limit": 5})
    assert isinstance(quota, errors.QuotaExceeded)
    assert (quota.what, quota.limit) == ("certificates", 5)
    assert str(quota) == "a user may store at most 5 certificates"
    empty = errors.from_reply(f"{INTERFACE}.RequestTooLarge", {})
    assert isinstance(empty, errors.RequestTooLarge)
    assert empty.limit == 0 and str(empty) == "request too large (the limit is ? bytes)"
    unknown = errors.from_reply(f"{INTERFACE}.SomethingNew", {"a": 1})
    assert type(unknown) is errors.TrustdError and str(unknown) == f"{INTERFACE}.SomethingNew (a=1)"


def _optional(hint: Any) -> Any | None:
    """X of `X | None`, else None."""
    if typing.get_origin(hint) in (types.UnionType, typing.Union):
        (inner,) = (a for a in typing.get_args(hint) if a is not type(None))
        return inner
    return None


def _fits(hint: Any, kind: idl.Type, defaulted: bool) -> bool:
    """Whether the Python type `hint` (of a field with a default, or not) reads the varlink
    `kind`."""
    if isinstance(kind, idl.Maybe):
        inner = _optional(hint)
        return (
            _fits(inner, kind.element, False)
            if inner is not None
            else defaulted and (_fits(hint, kind.element, False))
        )
    if _optional(hint) is not None:
        return False  # a field the interface always sends is never None
    if isinstance(kind, idl.Named):
        resolved = DEFINITION.resolve(kind)
        if isinstance(resolved, idl.Enum):
            return hint is str
        return isinstance(hint, type) and getattr(hint, "wire_type", None) == kind.name
    if isinstance(kind, idl.Array):
        origin, arguments = typing.get_origin(hint), typing.get_args(hint)
        if origin is tuple and arguments[1:] == (Ellipsis,):
            return _fits(arguments[0], kind.element, False)
        return origin is frozenset and _fits(arguments[0], kind.element, False)
    scalars = {"string": (str, bytes, datetime), "int": (int,), "bool": (bool,)}
    return hint in scalars.get(str(kind), (float,) if kind == "float" else ())


@pytest.mark.parametrize("cls", _decoded(), ids=lambda cls: cls.__name__)
def test_every_model_decodes_a_declared_type_field_by_field(cls: type[models.WireObject]) -> None:
    if cls.wire_type is not None:
        struct = DEFINITION.resolve(idl.Named(cls.wire_type))
        declared_as = cls.wire_type
    else:
        assert cls.reply_of is not None, f"{cls.__name__} says neither wire= nor reply="
        struct = DEFINITION.methods[cls.reply_of].output
        declared_as = cls.reply_of
    assert isinstance(struct, idl.Struct)
    hints = typing.get_type_hints(cls)
    read = set()
    for field in cls.fields_on_wire():
        if field.whole:
            continue
        assert field.key in struct.fields, f"{cls.__name__}.{field.name}: no {field.key!r}"
        defaulted = field.default is not dataclasses.MISSING
        if field.name == "trust_stores":  # a raw object: see NOT_DECODED
            assert isinstance(struct.fields[field.key], idl.Maybe) and defaulted
        else:
            assert _fits(hints[field.name], struct.fields[field.key], defaulted), (
                f"{cls.__name__}.{field.name}: {hints[field.name]} for {struct.fields[field.key]}"
            )
        read.add(field.key)
    unread = {key for key in struct.fields if key not in read}
    assert unread == {key for (name, key) in NOT_READ if name == declared_as}, cls.__name__


def test_every_declared_type_has_its_model() -> None:
    decoded = {cls.wire_type for cls in _decoded() if cls.wire_type is not None}
    replies = {cls.reply_of for cls in _decoded() if cls.reply_of is not None}
    structs = {
        name
        for name, kind in DEFINITION.types.items()
        if not isinstance(DEFINITION.resolve(kind), idl.Enum)
    }
    assert structs - decoded == set(NOT_DECODED)
    assert decoded <= structs
    assert replies <= set(DEFINITION.methods)


def test_what_the_client_sends_reads_back_as_sent() -> None:
    policy = models.Policy("ssl", "example.com", client=True)
    assert policy.to_wire() == {"policy": "ssl", "name": "example.com", "client": True}
    assert models.Policy().to_wire() == {"policy": "basic"}  # the daemon's defaults left out
    assert models.Policy.from_wire(policy.to_wire()) == policy
    full = models.UsageConstraint("1.2", "n", "s", b"app", 0, 2, 3)
    assert full.to_wire() == {
        "policy_oid": "1.2",
        "policy_name": "n",
        "policy_string": "s",
        "application": "YXBw",
        "allowed_error": 0,
        "result": 2,
        "key_usage": 3,
    }
    assert models.UsageConstraint.from_wire(full.to_wire()) == full
    assert models.UsageConstraint().to_wire() == {}


def test_a_reply_of_the_wrong_shape_is_a_protocol_error() -> None:
    good = {"host": "example.com", "port": 443, "exceptions": "AAEC", "created": "2026-01-02"}
    entry = models.HostExceptions.from_wire(good)
    assert entry.exceptions == b"\x00\x01\x02" and entry.created == datetime(2026, 1, 2)
    for key, wrong in [
        ("port", True),
        ("port", "443"),
        ("exceptions", "not base64!"),
        ("created", "yesterday"),
        ("host", None),
    ]:
        with pytest.raises(errors.ProtocolError, match=key):
            models.HostExceptions.from_wire({**good, key: wrong})
