"""io.trustd.Trust: wire parameters <-> service calls.  Thin: decode, call, encode.

`TrustInterface` has one method per call; `WIRE_ERRORS` is the one table from the service's
and the store's exceptions to the interface's errors.  Decoding is `trustd.api.decode`'s,
encoding `trustd.wire`'s.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Collection, Hashable, Iterator, Mapping
from datetime import UTC, datetime
from importlib import resources
from typing import Any, Protocol

from trustd.api import decode
from trustd.api.decode import NAME, error, invalid
from trustd.api.varlink import Encoded, Interface, Peer, VarlinkError
from trustd.core.evaluate import digest_of, request_key
from trustd.core.policy import Policy
from trustd.core.verdict_cache import VerdictCache, Window
from trustd.plist.exceptions import InvalidExceptions, decode_exceptions, encode_exceptions
from trustd.plist.profiles import InvalidProfile, ProfileRecord
from trustd.plist.trust_settings import InvalidRecord, decode_record, encode_record
from trustd.service import (
    AUDIT_LIMIT,
    MAX_AUDIT_LIMIT,
    Asked,
    Caller,
    EvaluationFailed,
    InvalidTrustSettings,
    PermissionDenied,
    TrustService,
)
from trustd.store.repository import NotFound, NoTrustSettings, QuotaExceeded, StorageFailure
from trustd.wire import (
    b64,
    certificate_out,
    constraint_out,
    encode_verdict,
    profile_out,
    wire_time,
)

__all__ = ["NAME", "TrustInterface", "description", "interface"]

REPLY_CACHE_BYTES = 32 * 1024 * 1024  # encoded replies kept, all users together
REPLY_CACHE_PER_USER = 1000  # replies kept for one uid
REPLY_CACHE_LARGEST = 1024 * 1024  # a larger reply is not kept
FACT_BYTES = 200  # what one fact a reply read costs to keep (a tuple of a word and a digest)
REPLY_CACHE_ENTRIES = 100_000  # replies kept in all (the bytes bound comes first in practice)

# The service's and the store's exceptions as the interface's errors (the first entry the
# exception is an instance of wins: subclasses before their bases).
WIRE_ERRORS: tuple[tuple[type[Exception], Callable[[Any], VarlinkError]], ...] = (
    (PermissionDenied, lambda e: error("PermissionDenied", reason=str(e))),
    (NoTrustSettings, lambda e: error("NoTrustSettings", domain=str(e))),
    (NotFound, lambda e: error("NotFound", what=str(e))),
    (InvalidTrustSettings, lambda e: error("InvalidTrustSettings", reason=str(e))),
    # logged by the store; nothing was changed
    (StorageFailure, lambda e: error("StorageFailure", reason=str(e))),
    (QuotaExceeded, lambda e: error("QuotaExceeded", what=e.what, limit=e.limit)),
    # the worker was replaced; the caller may retry
    (EvaluationFailed, lambda e: error("EvaluationFailed", reason=str(e))),
)


def wire_error(problem: Exception) -> VarlinkError | None:
    """The interface's error for an exception of the service or the store (None: not one)."""
    for kind, make in WIRE_ERRORS:
        if isinstance(problem, kind):
            return make(problem)
    return None


def _caller(peer: Peer) -> Caller:
    return Caller(uid=peer.uid, pid=peer.pid, groups=peer.groups)


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


# -- recent replies ---------------------------------------------------------------------------


def request_digest(asked: Asked) -> bytes:
    """SHA-256 of the decoded request (the core's digest of its key, with where it is for and
    what the network may be asked; not who asks): equal digests, equal requests."""
    return digest_of((request_key(asked.request), asked.host, asked.port, asked.fetch))


def reply_cache() -> VerdictCache[tuple[int, bytes], Encoded]:
    """Encoded Evaluate replies by (uid, digest of the decoded request): at most
    REPLY_CACHE_BYTES of replies in all and REPLY_CACHE_PER_USER of one uid.  A key is 32 bytes
    of digest whatever the request's size, and the request itself is never kept."""
    return VerdictCache(
        REPLY_CACHE_ENTRIES,
        max_bytes=REPLY_CACHE_BYTES,
        per_owner=REPLY_CACHE_PER_USER,
        largest=REPLY_CACHE_LARGEST,
    )


# -- the interface ----------------------------------------------------------------------------


# Evaluates and encodes: the encoded verdict and the stored facts the evaluation read.
EvaluateWire = Callable[[Asked], tuple[dict[str, Any], Collection[Hashable]]]


class ProfileDirectory(Protocol):
    """Where configuration profiles are installed (the drop-in watcher's profiles directory)."""

    @property
    def profiles(self) -> list[ProfileRecord]: ...

    def install_profile(self, data: bytes) -> ProfileRecord: ...

    def remove_profile(self, identifier: str) -> ProfileRecord: ...


class TrustInterface:
    """io.trustd.Trust bound to a service: one method per call, named as the call is.

    `status()` gives Status's reply, `reload()` reloads.  `evaluate_wire`, when given,
    evaluates and encodes (the daemon's worker pool); by default the service evaluates in the
    calling thread.  `profiles` serves the profile methods.
    """

    STREAMING = frozenset({"Monitor"})

    def __init__(
        self,
        service: TrustService,
        status: Callable[[], dict[str, Any]],
        reload: Callable[[], None],
        evaluate_wire: EvaluateWire | None = None,
        profiles: ProfileDirectory | None = None,
    ) -> None:
        self.service = service
        self._status = status
        self._reload = reload
        self._evaluate_wire = evaluate_wire or self._in_thread
        self._profiles = profiles
        # Encoded replies of recent evaluations: a repeated request is answered without
        # evaluating or re-encoding, inside its verdict's validity window, until a change
        # touches what its evaluation read; concurrent identical misses share one evaluation.
        self.replies = reply_cache()
        service.listeners.append(self.replies.invalidate)
        self.requests = 0  # Evaluate calls answered (Status's requests_served)
        self._counting = threading.Lock()

    def interface(self) -> Interface:
        """The varlink interface: every call of the description, errors translated."""
        calls = {name: self._translated(getattr(self, name)) for name in self.calls()}
        return Interface(
            name=NAME,
            description=description(),
            methods=calls,
            streaming=self.STREAMING,
            recall=self.recall,
        )

    @classmethod
    def calls(cls) -> list[str]:
        """The calls this class answers: its methods named as varlink methods are."""
        return [name for name in vars(cls) if name[:1].isupper() and name != "STREAMING"]

    @staticmethod
    def _translated(call: Callable[[Peer, Mapping[str, Any]], Any]) -> Any:
        def translated(peer: Peer, parameters: Mapping[str, Any]) -> Any:
            try:
                return call(peer, parameters)
            except Exception as problem:
                wire = wire_error(problem)
                if wire is None:
                    raise
                raise wire from None

        return translated

    # -- evaluation ----------------------------------------------------------------------------

    def _in_thread(self, asked: Asked) -> tuple[dict[str, Any], Collection[Hashable]]:
        facts: set[Hashable] = set()
        found = self.service.evaluate_with_window(asked, facts=facts)
        return encode_verdict(*found), facts

    def Evaluate(self, peer: Peer, p: Mapping[str, Any]) -> Mapping[str, Any]:
        asked = Asked(_caller(peer), *decode.evaluation(p))
        with self._counting:
            self.requests += 1

        def evaluate() -> tuple[Encoded, Window, Collection[Hashable], int]:
            verdict, facts = self._evaluate_wire(asked)
            encoded = Encoded(json.dumps({"verdict": verdict}, separators=(",", ":")), key)
            window = wire_time(verdict.get("valid_from")), wire_time(verdict.get("valid_until"))
            return encoded, window, facts, len(encoded.text) + FACT_BYTES * len(facts)

        # With a verification date the verdict is that date's whatever the clock says.
        moment = _now() if asked.request.verify_date is None else None
        key = (peer.uid, request_digest(asked))
        return self.replies.get_or_compute(key, moment, evaluate, owner=peer.uid)

    def recall(self, peer: Peer, key: object) -> Encoded | None:
        """An Evaluate reply given before (its token is its reply-cache key), if it is still
        kept and holds now: the server's answer to the same bytes from the same uid."""
        if not (isinstance(key, tuple) and key[0] == peer.uid):  # a uid recalls only its own
            return None
        reply = self.replies.get(key, _now())
        if reply is not None:
            with self._counting:
                self.requests += 1
        return reply

    def counters(self) -> dict[str, int]:
        """For Status: the reply cache's entries and what it did."""
        counters = self.replies.counters
        return {
            "entries": len(self.replies),
            "hits": counters.hits,
            "evaluations": counters.computed,
            "coalesced": counters.coalesced,
            "invalidated": counters.invalidated,
        }

    def Echo(self, peer: Peer, p: Mapping[str, Any]) -> dict[str, Any]:
        return {"text": decode.required(p, "text", str)}

    def Status(self, peer: Peer, p: Mapping[str, Any]) -> dict[str, Any]:
        return self._status()

    def Reload(self, peer: Peer, p: Mapping[str, Any]) -> dict[str, Any]:
        if not self.service.is_admin(_caller(peer)):
            raise error("PermissionDenied", reason="reloading needs root or the admin group")
        self._reload()
        return {}

    # -- certificates --------------------------------------------------------------------------

    def AddCertificates(self, peer: Peer, p: Mapping[str, Any]) -> dict[str, Any]:
        values = decode.required(p, "certificates", list)
        certificates = [decode.certificate(v, "certificates") for v in values]
        results = self.service.add_certificates(_caller(peer), certificates, decode.store_domain(p))
        return {
            "added": [c.sha1.hex().upper() for c, new in results if new],
            "existing": [c.sha1.hex().upper() for c, new in results if not new],
        }

    def FindCertificates(self, peer: Peer, p: Mapping[str, Any]) -> dict[str, Any]:
        criteria: dict[str, object] = {}
        for name in ("sha1", "sha256"):
            if p.get(name) is not None:
                try:
                    criteria[name] = bytes.fromhex(decode.required(p, name, str))
                except ValueError:
                    raise invalid(parameter=name, reason="hex") from None
        for name in ("subject", "email"):
            if p.get(name) is not None:
                criteria[name] = decode.required(p, name, str)
        found = self.service.find_certificates(_caller(peer), **criteria)
        return {"certificates": [certificate_out(s.certificate, s.source) for s in found]}

    def DeleteCertificate(self, peer: Peer, p: Mapping[str, Any]) -> dict[str, Any]:
        self.service.delete_certificate(_caller(peer), decode.sha1(p), decode.store_domain(p))
        return {}

    def ListAnchors(self, peer: Peer, p: Mapping[str, Any]) -> dict[str, Any]:
        policy = p.get("policy")
        found = self.service.anchors(
            _caller(peer), Policy() if policy is None else decode.policy(policy)
        )
        return {"certificates": [certificate_out(cert, str(domain)) for cert, domain in found]}

    # -- trust settings ------------------------------------------------------------------------

    def SetTrustSettings(self, peer: Peer, p: Mapping[str, Any]) -> dict[str, Any]:
        constraints = [decode.constraint(v) for v in decode.required(p, "constraints", list)]
        certificate = decode.certificate(decode.required(p, "certificate", str), "certificate")
        self.service.set_trust_settings(_caller(peer), decode.domain(p), certificate, constraints)
        return {}

    def RemoveTrustSettings(self, peer: Peer, p: Mapping[str, Any]) -> dict[str, Any]:
        self.service.remove_trust_settings(_caller(peer), decode.domain(p), decode.sha1(p))
        return {}

    def CopyTrustSettings(self, peer: Peer, p: Mapping[str, Any]) -> dict[str, Any]:
        entries = self.service.trust_settings(_caller(peer), decode.domain(p))
        return {
            "entries": [
                {
                    "sha1": entry.key,
                    "certificate": None if cert is None else b64(cert.der),
                    "subject": None if cert is None else cert.subject_summary,
                    "mod_date": entry.mod_date.isoformat(),
                    "constraints": [constraint_out(c) for c in entry.constraints],
                }
                for entry, cert in entries
            ]
        }

    def ExportTrustSettings(self, peer: Peer, p: Mapping[str, Any]) -> dict[str, Any]:
        entries = self.service.export_trust_settings(_caller(peer), decode.domain(p))
        return {"plist": b64(encode_record(entries))}

    def ImportTrustSettings(self, peer: Peer, p: Mapping[str, Any]) -> dict[str, Any]:
        domain = decode.domain(p)
        try:
            entries = decode_record(decode.blob(decode.required(p, "plist", str), "plist"))
        except InvalidRecord as problem:
            raise error("InvalidTrustSettings", reason=str(problem)) from None
        self.service.import_trust_settings(_caller(peer), domain, entries)
        return {"entries": len(entries)}

    # -- exceptions ----------------------------------------------------------------------------

    def SetExceptions(self, peer: Peer, p: Mapping[str, Any]) -> dict[str, Any]:
        try:
            exceptions = decode_exceptions(
                decode.blob(decode.required(p, "exceptions", str), "exceptions")
            )
        except InvalidExceptions as problem:
            raise invalid(parameter="exceptions", reason=str(problem)) from None
        self.service.set_exceptions(_caller(peer), decode.host(p), decode.port(p), exceptions)
        return {}

    def ListExceptions(self, peer: Peer, p: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "exceptions": [
                {
                    "host": e.host,
                    "port": e.port,
                    "exceptions": b64(encode_exceptions(e.exceptions)),
                    "created": e.created_at.isoformat(),
                }
                for e in self.service.list_exceptions(_caller(peer))
            ]
        }

    def RemoveExceptions(self, peer: Peer, p: Mapping[str, Any]) -> dict[str, Any]:
        self.service.remove_exceptions(_caller(peer), decode.host(p), decode.port(p))
        return {}

    def ResetExceptions(self, peer: Peer, p: Mapping[str, Any]) -> dict[str, Any]:
        return {"epoch": self.service.reset_exceptions(_caller(peer))}

    # -- the audit log and changes -------------------------------------------------------------

    def AuditLog(self, peer: Peer, p: Mapping[str, Any]) -> dict[str, Any]:
        limit = decode.optional(p, "limit", int, AUDIT_LIMIT)
        if not 1 <= limit <= MAX_AUDIT_LIMIT:
            raise invalid(parameter="limit", reason=f"1 to {MAX_AUDIT_LIMIT}")
        domain = None if p.get("domain") is None else decode.domain(p)
        entries = self.service.audit_log(
            _caller(peer),
            since=decode.moment(p, "since"),
            until=decode.moment(p, "until"),
            domain=domain,
            obj=None if p.get("sha1") is None else decode.sha1(p).hex().upper(),
            limit=limit,
        )
        return {
            "entries": [
                {
                    "at": e.at.isoformat(),
                    "uid": e.uid,
                    "pid": e.pid,
                    "operation": e.operation,
                    "domain": e.domain,
                    "object": e.object,
                    "summary": e.summary,
                    "source": e.source,
                }
                for e in entries
            ]
        }

    def Monitor(self, peer: Peer, p: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        for generation in self.service.watch():
            yield {"event": "changed", "generation": generation}

    # -- configuration profiles ----------------------------------------------------------------

    def _profile_directory(self) -> ProfileDirectory:
        if self._profiles is None:
            raise error("NotFound", what="this daemon has no profiles directory")
        return self._profiles

    def ListProfiles(self, peer: Peer, p: Mapping[str, Any]) -> dict[str, Any]:
        return {"profiles": [profile_out(r) for r in self._profile_directory().profiles]}

    def InstallProfile(self, peer: Peer, p: Mapping[str, Any]) -> dict[str, Any]:
        caller = _caller(peer)
        self.service.require_admin(caller, "installing a configuration profile")
        try:
            record = self._profile_directory().install_profile(
                decode.blob(p.get("profile"), "profile")
            )
        except InvalidProfile as problem:
            raise error("InvalidProfile", reason=str(problem)) from None
        self.service.store.record(
            self.service.actor(caller),
            "install-profile",
            record.identifier,
            f"{record.display_name or record.identifier} ({record.source})",
        )
        return {"installed": profile_out(record)}

    def RemoveProfile(self, peer: Peer, p: Mapping[str, Any]) -> dict[str, Any]:
        caller = _caller(peer)
        self.service.require_admin(caller, "removing a configuration profile")
        identifier = decode.required(p, "identifier", str)
        try:
            record = self._profile_directory().remove_profile(identifier)
        except KeyError:
            raise error("NotFound", what=f"no installed profile {identifier}") from None
        self.service.store.record(
            self.service.actor(caller), "remove-profile", identifier, record.source
        )
        return {"removed": profile_out(record)}


def interface(
    service: TrustService, status: Callable[[], dict[str, Any]], reload: Callable[[], None]
) -> Interface:
    """io.trustd.Trust bound to a service, evaluating in the calling thread and serving no
    profiles (TrustInterface's varlink interface; the daemon builds a TrustInterface)."""
    return TrustInterface(service, status, reload).interface()


def description() -> str:
    return resources.files("trustd.api").joinpath(f"{NAME}.varlink").read_text()
