"""Explaining a verdict to people: every path the search tried, as a tree, with hints.

TN2232's "Investigating Hard-To-Debug Trust Evaluation Failures" in one screen.  The daemon
records the search when asked (`Evaluate` with `explain`): each candidate issuer considered,
where it came from, the trust settings consulted, how each path ended and the judgement of each
complete path.  These pure functions turn that record into

- a tree (`explanation_tree`): the leaf, under it every candidate issuer tried, under each of
  those its own candidates, and at each end of a path how it ended (an anchor of which domain,
  denied, no issuer found, too long, a budget run out), the path's result and every failure
  with its Apple check name, the certificate it concerns and a one-line hint of what to do;
- text lines (`explanation_lines`), coloured with `Palette.for_stream` only on a terminal
  (and never under NO_COLOR);
- JSON (`explanation_json`) for tools.

Hints follow TN2232's advice: fix the server's chain, add the missing intermediate, trust a CA
for this policy only, and store an exception only for a known benign failure.

Nothing here talks to the daemon or imports cryptography at import time, so that trustctl's
`--help` stays fast; check messages come from trustd.core.results when rendering.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from trustd.client.models import AppliedSetting, Attempt, EvaluationResult, Failure

# -- what the words mean --------------------------------------------------------------------------

# Where a certificate of a path came from (trustd.core.snapshot.Origin).
ORIGINS: dict[str, str] = {
    "request": "from the request",
    "callerAnchor": "an anchor given with the request",
    "intermediates": "from trustd's intermediates store",
    "system": "from the system CA bundle",
    "admin": "has admin trust settings",
    "user": "has your trust settings",
    "network": "fetched through AIA (caIssuers)",
}

# What made a certificate an anchor (the `detail` of an "anchor" end: its origin).
ANCHORS: dict[str, str] = {
    "system": "a system anchor (the operating system's CA bundle)",
    "admin": "trusted as a root by the admin domain's trust settings",
    "user": "trusted as a root by your trust settings",
    "callerAnchor": "an anchor given with the request (-r)",
}

DOMAINS: dict[str, str] = {"admin": "admin-domain", "user": "your (user-domain)"}

# Outcomes of a candidate issuer that end nothing (the search goes on, or skips it).
CANDIDATE_OUTCOMES = frozenset({"extended", "signature", "loop"})

# One line of what to do, per Apple check name, in TN2232's spirit.
HINTS: dict[str, str] = {
    "MissingIntermediate": (
        "the server should send its intermediate certificates; until it does, add the "
        "missing intermediate (trustctl add-certificates FILE) or let trustd fetch it "
        "through the certificate's AIA caIssuers URL"
    ),
    "AnchorTrusted": (
        "the chain ends at a root nobody trusts: if you trust this CA, trust it for this "
        "policy only (trustctl add-trusted-cert -p ssl ROOT.pem; -d for every user); for a "
        "self-signed server, trust that one certificate (-p ssl -s HOST)"
    ),
    "TemporalValidity": (
        "a certificate is expired or not yet valid: renew it on the server (or check this "
        "machine's clock); store an exception (trustctl exceptions add HOST:PORT) only for a "
        "known benign case"
    ),
    "ValidLeaf": "the leaf is not valid at this time: renew it on the server",
    "ValidRoot": "the root has expired: the server must chain to a current root",
    "SSLHostname": (
        "the certificate does not name this host: connect with a name from its Subject "
        "Alternative Names or reissue it with this one; allow the mismatch (add-trusted-cert "
        "-e hostnameMismatch) or store an exception only for a known benign case"
    ),
    "Email": "the certificate does not carry this e-mail address: use one issued for it",
    "UsageConstraints": (
        "a user or administrator denied this certificate: if that is wrong, remove the "
        "setting (trustctl remove-trusted-cert [-d] CERT.pem); otherwise the server must "
        "use a chain that avoids it"
    ),
    "Revocation": (
        "the issuer revoked this certificate: the server needs a new one; nothing (trust "
        "settings or exceptions) overrides a revocation"
    ),
    "RevocationResponseRequired": (
        "no OCSP responder or CRL answered for this certificate and an answer is required: "
        "check access to the URLs in the certificate, or evaluate without -R require"
    ),
    "BasicConstraints": (
        "an issuing certificate has no basic constraints: the chain uses a certificate that "
        "is not a CA; the server must send its real intermediate"
    ),
    "BasicConstraintsCA": (
        "a certificate that is not a CA signed the one below it: the server must send its "
        "real intermediate, or the certificate must be reissued by a CA"
    ),
    "BasicConstraintsPathLen": (
        "the chain has more CAs below one than its path length constraint allows: use a "
        "chain that respects it"
    ),
    "ChainLength": "the chain is longer than allowed: use a shorter chain",
    "KeyUsage": (
        "the key usage does not permit this use: request a certificate issued for this purpose"
    ),
    "ExtendedKeyUsage": (
        "the extended key usage does not permit this use (a TLS server needs serverAuth): "
        "request a certificate issued for this purpose"
    ),
    "ServerAuthEKU": (
        "a TLS server certificate needs the serverAuth extended key usage: reissue it with "
        "serverAuth"
    ),
    "EmailProtectionEKU": "an S/MIME certificate needs emailProtection: reissue it with it",
    "NotCA": "the leaf is a CA certificate: the server must use an end-entity certificate",
    "NameConstraints": (
        "an issuing CA may not issue for this name: reissue under a CA allowed to, or fix "
        "the CA's name constraints"
    ),
    "PolicyConstraints": "a CA's policy constraints are violated: reissue under a proper CA",
    "CertificatePolicy": "a required certificate policy is missing: reissue with it",
    "WeakKeySize": "the key is dangerously small: reissue with RSA 2048 or more, or EC P-256",
    "KeySize": "the key is too small for this use: reissue with RSA 2048 or more, or EC P-256",
    "WeakSignature": "signed with a broken hash (MD2, MD4, MD5): reissue with SHA-256",
    "SignatureHashAlgorithms": (
        "signed with a hash not allowed for this use (SHA-1): reissue with SHA-256"
    ),
    "ValidityPeriodMaximums": (
        "valid for longer than TLS allows (398 days for public CAs): reissue with a shorter "
        "validity"
    ),
    "SystemTrustValidityPeriod": (
        "valid for longer than allowed under a system root (398 days): reissue with a shorter "
        "validity"
    ),
    "OtherTrustValidityPeriod": (
        "valid for longer than allowed (825 days): reissue with a shorter validity"
    ),
    "CriticalExtensions": (
        "the certificate has a critical extension nobody understands: reissue it without"
    ),
    "UnparseableExtension": "an extension cannot be parsed: reissue the certificate",
    "DuplicateExtension": "an extension appears twice: reissue the certificate",
    "BasicCertificateProcessing": (
        "the certificate is not standards compliant (RFC 5280): reissue it"
    ),
    "NonEmptySubject": (
        "the certificate has no subject and no critical SAN: reissue it with a name"
    ),
    "IdLinkage": (
        "authority and subject key identifiers disagree: the server may send an old or "
        "wrong intermediate; send the one that issued the certificate"
    ),
    "BlackListedLeaf": "this certificate is blocked: replace it",
    "BlackListedKey": "this key is blocked: replace the certificate and its key",
    "GrayListedLeaf": "this certificate is listed as untrusted: replace it",
    "GrayListedKey": "this key is listed as untrusted: replace the certificate and its key",
    "MalformedCertificate": "this is not a certificate trustd can read: check the file",
    "BudgetExhausted": (
        "path building gave up on a pathological set of certificates: the server should "
        "send only its own chain"
    ),
}
DEFAULT_HINT = "reissue the certificate, or fix the chain the server sends"

# What became of a candidate that ended nothing.
CANDIDATE_NOTES: dict[str, str] = {
    "signature": (
        "its key does not verify the signature below: not that certificate's issuer (another "
        "CA of the same name, or an old key)"
    ),
    "loop": "already on this path: skipped (a loop)",
}


NAME_CHECKS = frozenset({"SSLHostname", "Email"})  # whose detail is the name asked for


def hint(check: str) -> str:
    """The one-line hint for a check name (a generic one for names without their own)."""
    return HINTS.get(check, DEFAULT_HINT)


def _message(check: str) -> str:
    from trustd.core.results import peer_check as check_info

    return check_info(check).message


# -- colours --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Palette:
    """ANSI colours, or none at all."""

    enabled: bool = False

    @classmethod
    def for_stream(cls, stream: TextIO, environ: Mapping[str, str] | None = None) -> Palette:
        """Colours only on a terminal, and never when NO_COLOR is set (no-color.org)."""
        environment = os.environ if environ is None else environ
        if environment.get("NO_COLOR") or environment.get("TERM") == "dumb":
            return cls(False)
        isatty = getattr(stream, "isatty", None)
        return cls(bool(isatty is not None and isatty()))

    def _wrap(self, code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.enabled and text else text

    def good(self, text: str) -> str:
        return self._wrap("32", text)

    def bad(self, text: str) -> str:
        return self._wrap("31", text)

    def hint(self, text: str) -> str:
        return self._wrap("33", text)

    def name(self, text: str) -> str:
        return self._wrap("1", text)

    def dim(self, text: str) -> str:
        return self._wrap("2", text)


# -- the tree -------------------------------------------------------------------------------------


@dataclass(slots=True)
class Node:
    """A certificate tried at one position of one path, and what became of it there."""

    depth: int
    sha1: str
    subject: str
    origin: str
    considered: str | None  # extended, signature, loop; None for the leaf
    path: tuple[str, ...]  # SHA-1s from the leaf to this certificate
    setting: AppliedSetting | None = None
    end: Attempt | None = None  # how a path ended here (anchor, denied, no issuer, ...)
    chosen: bool = False  # the path ending here is the verdict's chain
    children: list[Node] = field(default_factory=list)

    def walk(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            yield from child.walk()


def _node(attempt: Attempt, parent: Node | None, considered: str | None) -> Node:
    path = (*(parent.path if parent is not None else ()), attempt.certificate)
    return Node(
        attempt.depth,
        attempt.certificate,
        attempt.subject,
        attempt.origin,
        considered,
        path,
        attempt.setting,
    )


def explanation_tree(
    result: EvaluationResult, leaf_sha1: str, leaf_subject: str, chain_sha1s: Sequence[str]
) -> Node:
    """The search as a tree rooted at the leaf (`chain_sha1s`: the verdict's chain, leaf first).

    The attempts are a depth-first trace, so a stack of the current path rebuilds the tree: a
    candidate at depth d is a child of the certificate at depth d-1; a path's end at depth d
    belongs to the certificate at depth d (or, when the search stopped before noting the
    candidate, as for a budget run out on its signature, to a new child).
    """
    root = Node(0, leaf_sha1.upper(), leaf_subject, "request", None, (leaf_sha1.upper(),))
    stack = [root]
    for attempt in result.attempts or ():
        depth = max(attempt.depth, 0)
        if attempt.outcome in CANDIDATE_OUTCOMES:
            del stack[max(depth, 1) :]
            if attempt.outcome == "loop" and attempt.certificate == stack[-1].sha1:
                continue  # a self-signed certificate as its own issuer: no loop to report
            node = _node(attempt, stack[-1], attempt.outcome)
            stack[-1].children.append(node)
            if attempt.outcome == "extended":
                stack.append(node)
            continue
        del stack[depth + 1 :]
        if depth < len(stack) and stack[depth].sha1 == attempt.certificate:
            node = stack[depth]
        elif depth == 0:
            node = root
        else:  # an end noted before its candidate was (a budget run out on the signature)
            del stack[depth:]
            node = _node(attempt, stack[-1], None)
            stack[-1].children.append(node)
        if depth == 0:
            node.origin = attempt.origin
            node.subject = attempt.subject or node.subject
        node.end = attempt
        if node.setting is None:
            node.setting = attempt.setting
    chain = tuple(s.upper() for s in chain_sha1s)
    for node in root.walk():
        if node.end is not None and node.path == chain:
            node.chosen = True
            break
    return root


# -- text -----------------------------------------------------------------------------------------


def _short(sha1: str) -> str:
    return sha1[:8]


def setting_text(setting: AppliedSetting) -> str:
    """What a certificate's trust settings say at one position."""
    whose = DOMAINS.get(setting.domain, setting.domain)
    at = setting.constraint_index
    if setting.effect == "anchor":
        what = (
            "an unconstrained entry: trusted as a root"
            if at is None
            else f"usage constraint {at} matches: trusted as a root"
        )
    elif setting.effect == "deny":
        what = f"usage constraint {at} matches: Deny"
    elif setting.effect == "noMatch":
        what = "no usage constraint matches this use (policy, name, key usage): no decision"
    elif setting.effect == "noDecision":
        what = (
            f"usage constraint {at} matches but decides nothing (Unspecified, or a root "
            "result that does not fit this certificate)"
        )
    elif setting.effect == "allowedError":
        what = "an allowed error"
    else:
        what = setting.effect
    return f"{whose} trust settings: {what}"


def _end_text(node: Node, failures: Sequence[Failure]) -> str:
    """How the path ended at this node, in words."""
    end = node.end
    assert end is not None
    if end.outcome == "anchor":
        return "anchor: " + ANCHORS.get(end.detail, end.detail)
    if end.outcome == "denied":
        setting = node.setting
        how = "trust settings"
        if setting is not None:
            how = f"{DOMAINS.get(setting.domain, setting.domain)} trust settings"
            if setting.constraint_index is not None:
                how += f" (usage constraint {setting.constraint_index})"
        return f"denied by {how}: the path may not end here"
    if end.outcome == "no issuer":
        if any(f.check == "AnchorTrusted" and f.index == node.depth for f in failures):
            return "self-signed, and not an anchor: the path ends at an untrusted root"
        return f"no issuer found: trustd knows no certificate named “{end.detail}”"
    if end.outcome == "depth":
        return f"too long: {end.detail} intermediates"
    if end.outcome == "budget":
        return f"gave up here: {end.detail} [BudgetExhausted]"
    return f"{end.outcome} {end.detail}".strip()


def _rescue_text(failure: Failure) -> str:
    if failure.rescued_by == "exception":
        return "accepted by an exception"
    if failure.rescued_by == "allowedError":
        return "allowed by the certificate's trust settings (allowed error)"
    return f"rescued ({failure.rescued_by})"


def _detail_text(failure: Failure) -> str:
    """The failure's detail in words: for a name check, the name that was asked for."""
    if not failure.detail:
        return ""
    if failure.check in NAME_CHECKS:
        return f" (asked for “{failure.detail}”, a name the certificate does not carry)"
    return f" ({failure.detail})"


def failure_hint(failure: Failure, missing: str | None = None) -> str:
    """The hint for a failure; for a missing issuer, whether it is likely a root to trust."""
    if failure.check != "MissingIntermediate" or not missing:
        return hint(failure.check)
    if failure.index > 0:  # a CA whose issuer is unknown: most likely the root
        return (
            f"“{missing}” is not known to trustd; servers do not send roots, so if it is the"
            " root and you trust it, get it from its CA and trust it for this policy"
            " (trustctl add-trusted-cert -p ssl ROOT.pem; -d for every user); if it is an"
            " intermediate, add it (trustctl add-certificates FILE)"
        )
    return (
        hint(failure.check) + f"; if “{missing}” is itself a root you trust, trust it"
        " (trustctl add-trusted-cert -p ssl ROOT.pem; -d for every user)"
    )


def _failure_lines(
    failure: Failure, path: Sequence[Node], palette: Palette, missing: str | None = None
) -> list[str]:
    """A failure of a path, the certificate it concerns, and what to do (unless rescued);
    `missing`: the name of the issuer the path's end did not find."""
    subject = path[failure.index].subject if failure.index < len(path) else "?"
    text = f"[{failure.check}] “{subject}” (position {failure.index}): "
    text += _message(failure.check) + _detail_text(failure)
    if failure.rescued_by is not None:
        return [f"{palette.good('✓ ' + text)}: {_rescue_text(failure)}"]
    return [
        palette.bad(f"✗ {text}"),
        palette.hint(f"  hint: {failure_hint(failure, missing)}"),
    ]


def _node_notes(node: Node, path: Sequence[Node], palette: Palette) -> list[str]:
    """The lines under a node's own line: settings, candidate outcome, path end, failures."""
    notes: list[str] = []
    if node.setting is not None:
        notes.append(setting_text(node.setting))
    if node.considered in CANDIDATE_NOTES:
        notes.append(palette.bad(f"✗ {CANDIDATE_NOTES[node.considered]}"))
    end = node.end
    if end is None:
        return notes
    failures = end.failures
    ending = _end_text(node, failures)
    good = end.outcome == "anchor"
    notes.append(palette.good(f"✓ {ending}") if good else palette.bad(f"✗ {ending}"))
    if end.result is not None:
        trusted = end.result in ("proceed", "unspecified")
        verdict = "trusted" if trusted else "refused"
        summary = f"path {verdict}: {end.result}"
        if node.chosen:
            summary += " (the path chosen)"
        notes.append(palette.good(summary) if trusted else palette.bad(summary))
    elif end.outcome == "budget":
        notes.append(palette.hint(f"  hint: {hint('BudgetExhausted')}"))
    missing = end.detail if end.outcome == "no issuer" else None
    for failure in failures:
        notes.extend(_failure_lines(failure, path, palette, missing))
    return notes


def _origin_text(node: Node, request_origin: str) -> str:
    source = request_origin if node.origin == "request" else ORIGINS.get(node.origin, node.origin)
    return f"the leaf, {source}" if node.considered is None and node.depth == 0 else source


def _render(
    node: Node,
    path: list[Node],
    lines: list[str],
    *,
    prefix: str,
    own: str,
    palette: Palette,
    request_origin: str,
) -> None:
    """Append the node's lines: `own` is its connector, `prefix` what precedes it."""
    path = [*path, node]
    origin = _origin_text(node, request_origin)
    lines.append(
        f"{prefix}{own}{palette.name(node.subject or '(no subject)')}  "
        + palette.dim(f"[{origin}; SHA-1 {_short(node.sha1)}]")
    )
    below = prefix + ("" if not own else ("    " if own.startswith("└") else "│   "))
    bar = "│ " if node.children else "  "
    for note in _node_notes(node, path, palette):
        lines.append(f"{below}{bar} {note}".rstrip())
    for index, child in enumerate(node.children):
        last = index == len(node.children) - 1
        _render(
            child,
            path,
            lines,
            prefix=below,
            own="└── " if last else "├── ",
            palette=palette,
            request_origin=request_origin,
        )


def explanation_lines(
    result: EvaluationResult,
    tree: Node,
    *,
    palette: Palette | None = None,
    request_origin: str = "from the request",
    host: str | None = None,
) -> list[str]:
    """The explanation as text lines: a heading, the tree, exceptions and the result."""
    palette = palette or Palette()
    lines = ["---", "Paths tried (leaf first; every candidate issuer, how each path ended)"]
    _render(tree, [], lines, prefix="", own="", palette=palette, request_origin=request_origin)
    if not tree.children and tree.end is None and result.failures:
        # Nothing was searched (a malformed leaf, say): the verdict's failures alone.
        for failure in result.failures:
            lines.extend(f"   {line}" for line in _failure_lines(failure, [tree], palette))
    lines.append("---")
    lines.extend(_exception_lines(result, host))
    trusted = result.trusted
    outcome = f"Result: {result.result}: {result.message}"
    lines.append(palette.good(outcome) if trusted else palette.bad(outcome))
    return lines


def _exception_lines(result: EvaluationResult, host: str | None) -> list[str]:
    where = f" stored for {host}" if host else ""
    rescued = sorted({f.check for f in result.failures if f.rescued_by == "exception"})
    if result.exceptions_usable is None:
        return [f"Exceptions: none{where}" if host else "Exceptions: none offered"]
    if not result.exceptions_usable:
        return [
            f"Exceptions{where}: not applied (made for another leaf certificate, or before "
            "`trustctl exceptions reset`)"
        ]
    if rescued:
        return [f"Exceptions{where}: applied, accepting {', '.join(rescued)}"]
    return [f"Exceptions{where}: made for this leaf, none needed"]


# -- JSON -----------------------------------------------------------------------------------------


def _failure_json(
    failure: Failure, path: Sequence[Node], missing: str | None = None
) -> dict[str, Any]:
    node = path[failure.index] if failure.index < len(path) else None
    return {
        "index": failure.index,
        "certificate": None if node is None else node.sha1,
        "subject": None if node is None else node.subject,
        "check": failure.check,
        "message": _message(failure.check),
        "severity": failure.severity,
        "detail": failure.detail,
        "rescued_by": failure.rescued_by,
        "hint": None if failure.rescued_by is not None else failure_hint(failure, missing),
    }


def _setting_json(setting: AppliedSetting | None) -> dict[str, Any] | None:
    if setting is None:
        return None
    return {
        "domain": setting.domain,
        "constraint_index": setting.constraint_index,
        "effect": setting.effect,
        "text": setting_text(setting),
    }


def _node_json(node: Node, path: list[Node]) -> dict[str, Any]:
    path = [*path, node]
    end = node.end
    return {
        "depth": node.depth,
        "certificate": node.sha1,
        "subject": node.subject,
        "origin": node.origin,
        "considered": node.considered,
        "setting": _setting_json(node.setting),
        "end": None
        if end is None
        else {
            "outcome": end.outcome,
            "detail": end.detail,
            "text": _end_text(node, end.failures),
            "result": end.result,
            "chosen": node.chosen,
            "failures": [
                _failure_json(f, path, end.detail if end.outcome == "no issuer" else None)
                for f in end.failures
            ],
        },
        "children": [_node_json(child, path) for child in node.children],
    }


def explanation_json(result: EvaluationResult, tree: Node) -> dict[str, Any]:
    """The explanation for tools: the tree, and what exceptions did."""
    return {
        "tree": _node_json(tree, []),
        "exceptions_usable": result.exceptions_usable,
        "exceptions_applied": result.exceptions_applied,
    }
