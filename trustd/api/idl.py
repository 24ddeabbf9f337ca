"""Varlink interface definitions (https://varlink.org/Interface-Definition): parsed, and used
to check a call's parameters before any handler sees them.

The interface file is the one description of what a method takes: a parameter it does not
declare, one it declares but the call leaves out (or sends as null without `?`), a value of
another type, an enum value outside its set or an int outside 64 bits is refused with
`org.varlink.service.InvalidParameter`, naming the parameter (`certificates`,
`policies[0].client`).  Types nest only as deep as the interface declares, so a value that passes is
never deeper than its declaration.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

INT64 = range(-(2**63), 2**63)
MAX_NAME = 200  # of a parameter named in an error


@dataclass(frozen=True, slots=True)
class Maybe:
    element: Type


@dataclass(frozen=True, slots=True)
class Array:
    element: Type


@dataclass(frozen=True, slots=True)
class Map:
    element: Type


@dataclass(frozen=True, slots=True)
class Struct:
    fields: dict[str, Type]


@dataclass(frozen=True, slots=True)
class Enum:
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Named:
    name: str


Type = str | Maybe | Array | Map | Struct | Enum | Named  # str: bool, int, float, string, object
BUILTIN = frozenset({"bool", "int", "float", "string", "object"})


@dataclass(frozen=True, slots=True)
class Method:
    name: str
    input: Struct
    output: Struct


@dataclass
class Definition:
    """One parsed interface: its name, types, methods and errors."""

    name: str
    types: dict[str, Type] = field(default_factory=dict)
    methods: dict[str, Method] = field(default_factory=dict)
    errors: dict[str, Struct] = field(default_factory=dict)

    def resolve(self, kind: Type) -> Type:
        while isinstance(kind, Named):
            kind = self.types[kind.name]
        return kind


class Invalid(Exception):
    """A value does not fit its declared type; `parameter` is where (a dotted path)."""

    def __init__(self, parameter: str, reason: str) -> None:
        if len(parameter) > MAX_NAME:  # a name the caller made up can be megabytes long
            parameter = parameter[:MAX_NAME] + "..."
        super().__init__(f"{parameter}: {reason}")
        self.parameter = parameter
        self.reason = reason


class SyntaxProblem(ValueError):
    """The interface text is not a varlink interface definition."""


_TOKEN = re.compile(r"\s*(->|\[\]|\[string\]|[():,?]|[A-Za-z_][A-Za-z0-9_.]*)")


def _tokens(text: str) -> list[str]:
    source = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    tokens: list[str] = []
    position = 0
    while position < len(source):
        if source[position:].strip() == "":
            break
        match = _TOKEN.match(source, position)
        if match is None:
            raise SyntaxProblem(f"unexpected {source[position : position + 20].strip()!r}")
        tokens.append(match.group(1))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.at = 0

    def peek(self) -> str:
        return self.tokens[self.at] if self.at < len(self.tokens) else ""

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if not token or (expected is not None and token != expected):
            raise SyntaxProblem(f"expected {expected or 'more'}, found {token or 'the end'!r}")
        self.at += 1
        return token

    def name(self) -> str:
        token = self.take()
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", token):
            raise SyntaxProblem(f"expected a name, found {token!r}")
        return token

    def type(self) -> Type:
        token = self.peek()
        if token == "?":
            self.take()
            return Maybe(self.type())
        if token == "[]":
            self.take()
            return Array(self.type())
        if token == "[string]":
            self.take()
            return Map(self.type())
        if token == "(":
            return self.struct_or_enum()
        token = self.name()
        return token if token in BUILTIN else Named(token)

    def struct_or_enum(self) -> Struct | Enum:
        self.take("(")
        fields: dict[str, Type] = {}
        values: list[str] = []
        while self.peek() != ")":
            member = self.name()
            if self.peek() == ":":
                self.take()
                fields[member] = self.type()
            else:
                values.append(member)
            if self.peek() != ")":
                self.take(",")
        self.take(")")
        if fields and values:
            raise SyntaxProblem("a type mixes fields and enum values")
        return Enum(tuple(values)) if values else Struct(fields)

    def struct(self) -> Struct:
        kind = self.struct_or_enum()
        return kind if isinstance(kind, Struct) else Struct({})  # "()" parses as no values

    def definition(self) -> Definition:
        self.take("interface")
        result = Definition(self.name())
        while self.peek():
            keyword = self.take()
            name = self.name()
            if keyword == "type":
                result.types[name] = self.struct_or_enum()
            elif keyword == "method":
                arguments = self.struct()
                self.take("->")
                result.methods[name] = Method(name, arguments, self.struct())
            elif keyword == "error":
                result.errors[name] = self.struct()
            else:
                raise SyntaxProblem(f"unexpected {keyword!r}")
        for kind in (*result.types.values(), *(m.input for m in result.methods.values())):
            _check_names(result, kind)
        return result


def _check_names(definition: Definition, kind: Type) -> None:
    if isinstance(kind, Named):
        if kind.name not in definition.types:
            raise SyntaxProblem(f"unknown type {kind.name}")
    elif isinstance(kind, Maybe | Array | Map):
        _check_names(definition, kind.element)
    elif isinstance(kind, Struct):
        for member in kind.fields.values():
            _check_names(definition, member)


def parse(text: str) -> Definition:
    """The interface defined by `text` (SyntaxProblem when it is not one)."""
    return _Parser(text).definition()


def check_parameters(definition: Definition, method: Method, parameters: Any) -> None:
    """Raise Invalid unless `parameters` are exactly what `method` takes."""
    _check_struct(definition, method.input, parameters, "")


def check(definition: Definition, kind: Type, value: Any, where: str) -> None:
    """Raise Invalid unless `value` fits `kind` (`where`: its name, for the error)."""
    kind = definition.resolve(kind)
    if isinstance(kind, Maybe):
        if value is not None:
            check(definition, kind.element, value, where)
        return
    if value is None:
        raise Invalid(where, "missing")
    if isinstance(kind, Struct):
        _check_struct(definition, kind, value, where)
    elif isinstance(kind, Enum):
        if not isinstance(value, str) or value not in kind.values:
            raise Invalid(where, f"one of {', '.join(kind.values)}")
    elif isinstance(kind, Array):
        if not isinstance(value, list):
            raise Invalid(where, "not an array")
        for index, item in enumerate(value):
            check(definition, kind.element, item, f"{where}[{index}]")
    elif isinstance(kind, Map):
        if not isinstance(value, dict):
            raise Invalid(where, "not an object")
        for key, item in value.items():
            check(definition, kind.element, item, f"{where}[{key}]")
    elif isinstance(kind, str) and not _fits(kind, value):  # (a Named was resolved)
        raise Invalid(where, f"not {'an' if kind in ('int', 'object') else 'a'} {kind}")


def _fits(kind: str, value: Any) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool) and value in INT64
    if kind == "float":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, dict)  # object: any JSON object


def _check_struct(definition: Definition, kind: Struct, value: Any, where: str) -> None:
    if not isinstance(value, Mapping):
        raise Invalid(where or "parameters", "not an object")
    prefix = f"{where}." if where else ""
    for name in value:
        if name not in kind.fields:
            raise Invalid(f"{prefix}{name}", "unknown")
    for name, member in kind.fields.items():
        check(definition, member, value.get(name), f"{prefix}{name}")
