"""Users' certificate trust exceptions (SecTrustSetExceptions), per host and port, and epochs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select

from trustd.core.exceptions import ExceptionList
from trustd.plist.exceptions import decode_exceptions, encode_exceptions
from trustd.store.database import Actor, Database, NotFound, QuotaExceeded, count, one, utc
from trustd.store.models import ExceptionEpochRow, ExceptionRow


@dataclass(frozen=True, slots=True)
class StoredExceptions:
    uid: int
    host: str
    port: int
    exceptions: ExceptionList
    created_at: datetime
    last_used_at: datetime | None


def _host(host: str) -> str:
    return host.lower().rstrip(".")


class Exceptions(Database):
    """Storing, finding and removing exceptions; resetting a user's epoch."""

    def set_exceptions(
        self,
        uid: int,
        host: str,
        port: int,
        exceptions: ExceptionList,
        *,
        actor: Actor,
        max_hosts: int | None = None,
    ) -> None:
        """Store the uid's exceptions for host:port; QuotaExceeded past `max_hosts` of them."""
        host = _host(host)
        with self._write() as session:
            row = one(session, ExceptionRow, uid=uid, host=host, port=port)
            blob = encode_exceptions(exceptions)
            if row is None:
                if max_hosts is not None and count(session, ExceptionRow.uid == uid) >= max_hosts:
                    raise QuotaExceeded("hosts with exceptions", max_hosts)
                row = ExceptionRow(uid=uid, host=host, port=port, last_used_at=None)
                session.add(row)
            row.blob, row.created_at = blob, self.clock()
            self._audit(
                session,
                actor,
                "set-exceptions",
                f"{host}:{port}",
                f"{len(exceptions.entries)} positions",
            )

    def exceptions_for(self, uid: int, host: str, port: int) -> ExceptionList | None:
        """Exceptions stored for this host and port, else for the host on any port (port 0).

        Which (host, port) pairs the uid has is known per generation, so a host without
        exceptions is answered without a query."""
        host = _host(host)
        hosts = self._exception_hosts(uid)
        if (host, port) not in hosts and (host, 0) not in hosts:
            return None
        with self._read() as session:
            for candidate in (port, 0):
                row = one(session, ExceptionRow, uid=uid, host=host, port=candidate)
                if row is not None:
                    return decode_exceptions(row.blob)
        return None

    def list_exceptions(self, uid: int) -> list[StoredExceptions]:
        with self._read() as session:
            rows = session.scalars(
                select(ExceptionRow)
                .where(ExceptionRow.uid == uid)
                .order_by(ExceptionRow.host, ExceptionRow.port)
            )
            return [
                StoredExceptions(
                    row.uid,
                    row.host,
                    row.port,
                    decode_exceptions(row.blob),
                    utc(row.created_at),
                    None if row.last_used_at is None else utc(row.last_used_at),
                )
                for row in rows
            ]

    def remove_exceptions(self, uid: int, host: str, port: int, *, actor: Actor) -> None:
        host = _host(host)
        with self._write() as session:
            removed = session.execute(
                delete(ExceptionRow).where(
                    ExceptionRow.uid == uid, ExceptionRow.host == host, ExceptionRow.port == port
                )
            ).rowcount  # type: ignore[attr-defined]
            if not removed:
                raise NotFound(f"{host}:{port}")
            self._audit(session, actor, "remove-exceptions", f"{host}:{port}", "removed")

    def _exception_hosts(self, uid: int) -> frozenset[tuple[str, int]]:
        """The (host, port) pairs the uid has exceptions for (cached per generation)."""

        def load() -> frozenset[tuple[str, int]]:
            with self._read() as session:
                query = select(ExceptionRow.host, ExceptionRow.port).where(ExceptionRow.uid == uid)
                return frozenset((host, port) for host, port in session.execute(query))

        return self._cached(("hosts", uid), load)

    def exceptions_epoch(self, uid: int) -> int:
        """The uid's exceptions epoch (cached per generation: a reset is a write)."""

        def load() -> int:
            with self._read() as session:
                row = session.get(ExceptionEpochRow, uid)
                return 0 if row is None else row.epoch

        # Boxed: the cache takes None for a miss, and an epoch is an int that may be 0.
        return self._cached(("epoch", uid), lambda: (load(),))[0]

    def reset_exceptions(self, uid: int, *, actor: Actor) -> int:
        """Increment the user's epoch: every exception made before stops applying."""
        with self._write() as session:
            row = session.get(ExceptionEpochRow, uid)
            if row is None:
                row = ExceptionEpochRow(uid=uid, epoch=0)
                session.add(row)
            row.epoch += 1
            self._audit(session, actor, "reset-exceptions", str(uid), f"epoch {row.epoch}")
            return row.epoch
