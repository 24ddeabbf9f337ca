"""Real-world `security` command lines (tests/cli/security_corpus.toml), replayed in order with
`security` replaced by `trustctl`, as root and as a plain uid, each against a fresh daemon;
output and exit status are checked against what macOS prints (the file says where each line
comes from, and where trustd deviates on purpose)."""

from __future__ import annotations

import datetime as dt
import re
import shlex
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from cli.users import PLAIN, Users, users_for
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from pki import DEFAULT_KEYS, PKI
from security.clients import require_root

pytestmark = pytest.mark.long(seconds=21)

CORPUS = tomllib.loads((Path(__file__).parent / "security_corpus.toml").read_text())["line"]
NOW = dt.datetime.now(dt.UTC)
TLS_VALIDITY = {
    "not_before": NOW - dt.timedelta(days=10),
    "not_after": NOW + dt.timedelta(days=300),
}

BUILD = PKI(DEFAULT_KEYS)
SYSTEM_ROOT = BUILD.root("System Root")
ROOT = BUILD.root("Corp Root CA")
INTER = BUILD.intermediate(ROOT, "Corp Issuing CA")
LEAF = BUILD.leaf(INTER, dns=["www.example.com"], **TLS_VALIDITY)  # type: ignore[arg-type]
STRANGER = BUILD.root("Stranger Root")
STRANGER_LEAF = BUILD.leaf(STRANGER, dns=["stranger.example"], **TLS_VALIDITY)  # type: ignore[arg-type]
OTHER_CA = BUILD.root("Other Root CA")
PROXY = BUILD.root("mitmproxy")
BURP = BUILD.root("PortSwigger CA")


@pytest.fixture(params=[0, PLAIN], ids=["root", "user"])
def replay(request: pytest.FixtureRequest) -> Iterator[tuple[Users, int]]:
    require_root()
    for users in users_for(SYSTEM_ROOT):
        yield users, request.param


def placeholders(users: Users, uid: int) -> dict[str, str]:
    home = users.home if uid else users.base / "root-home"
    p12 = pkcs12.serialize_key_and_certificates(
        b"signing",
        LEAF.key,  # type: ignore[arg-type]
        LEAF.cert,
        [INTER.cert],
        serialization.BestAvailableEncryption(b"pw"),
    )
    return {
        "root": users.write("corp-root.pem", ROOT.pem),
        "root_cn": "Corp Root CA",
        "root_sha1": ROOT.sha1.upper(),
        "root_pem": ROOT.pem.decode(),
        "inter": users.write("corp-issuing.pem", INTER.pem),
        "leaf": users.write("www.pem", LEAF.pem),
        "p12": users.write("signing.p12", p12),
        "proxy": users.write("mitmproxy-ca-cert.pem", PROXY.pem),
        "burp_der": users.write("cacert.der", BURP.der),
        "stranger_leaf": users.write("stranger.pem", STRANGER_LEAF.pem),
        "other_ca": users.write("other-ca.pem", OTHER_CA.pem),
        "other_ca_sha1": OTHER_CA.sha1.upper(),
        "system_root_pem": SYSTEM_ROOT.pem.decode(),
        "files": str(users.files),
        "login": f"{home}/Library/Keychains/login.keychain-db",
    }


def fill(text: str, values: Mapping[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), text)


def arguments(command: str, values: Mapping[str, str]) -> list[str]:
    """The line's arguments for trustctl: `sudo` and `security` dropped, placeholders filled."""
    words = shlex.split(fill(command, values))
    if words[0] == "sudo":
        words = words[1:]
    assert words[0] == "security", command
    return words[1:]


def mismatches(expected: Mapping[str, Any], code: int, out: str, err: str) -> list[str]:
    seen = {"stdout": out, "stderr": err}
    problems = []
    if code != expected["code"]:
        problems.append(f"exit {code}, expected {expected['code']}")
    for stream, text in seen.items():
        if stream in expected and text != expected[stream]:
            problems.append(f"{stream} {text!r}, expected {expected[stream]!r}")
        if f"{stream}_start" in expected and not text.startswith(expected[f"{stream}_start"]):
            problems.append(f"{stream} {text!r} does not start {expected[f'{stream}_start']!r}")
        if f"{stream}_has" in expected and expected[f"{stream}_has"] not in text:
            problems.append(f"{stream} {text!r} lacks {expected[f'{stream}_has']!r}")
    return problems


def test_corpus_is_large_and_sourced() -> None:
    assert len(CORPUS) >= 30
    for line in CORPUS:
        assert line["source"] and line["command"].split()[0] in ("security", "sudo")
        assert {"root", "user"} <= line.keys()


def test_replay(replay: tuple[Users, int]) -> None:
    users, uid = replay
    values = placeholders(users, uid)
    who = "root" if uid == 0 else "user"
    failures = []
    for number, line in enumerate(CORPUS, 1):
        run = users.run(*arguments(line["command"], values), uid=uid)
        expected = {k: fill(v, values) if isinstance(v, str) else v for k, v in line[who].items()}
        for problem in mismatches(expected, run.code, run.out, run.err):
            failures.append(f"{number}. {line['command']} ({line['source']}): {problem}")
    assert not failures, "\n".join(failures)
