"""trustctl audit: the audit log, who changed what and when.

Every change of trust state writes an audit row in the daemon's store: when, the uid and pid of
the client that asked (from the socket's peer credentials), the operation, the domain, the
object (a certificate's SHA-1, host:port, a drop-in file) and, for changes that came from a
drop-in file, that file.  `trustctl audit` lists them oldest first, the newest last:

    2025-05-01 09:12:44 UTC  set-trust-settings (admin)  by uid 0 (root), pid 4242
        5A3FC6AE...: 1 usage constraints for Example Corp Root CA

Filters: --since and --until (a date, a date and time, UTC unless an offset is given, or a
time ago: 30m, 12h, 7d, 2w), --domain admin|user, --cert FILE|SHA1|SHA256, --limit (the newest
N entries, 100 by default).  Administrators see every entry; other users see their own changes
and those of what everyone shares (the admin domain, the certificate store, drop-in files).
"""

from __future__ import annotations

import pwd
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from trustctl.common import JSON, value
from trustctl.errors import Failure, UsageProblem
from trustctl.output import emit_json

if TYPE_CHECKING:
    from trustd.client import Client
    from trustd.client.models import AuditEntry

DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000  # the daemon answers at most this many
AGO = re.compile(r"(\d+)\s*([smhdw])")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}

SinceOption = value(
    "--since", metavar="WHEN", help="Entries at or after WHEN: a date (UTC) or 30m, 7d..."
)
UntilOption = value("--until", metavar="WHEN", help="Entries before WHEN.")
DomainOption = value("--domain", metavar="DOMAIN", help="admin or user.")
CertOption = value(
    "-c", "--cert", metavar="FILE|SHA1|SHA256", help="Entries about this certificate."
)
LimitOption = value(
    "-n",
    "--limit",
    metavar="N",
    help="The newest N entries (at most 10000).",
    default=DEFAULT_LIMIT,
)
JsonOption = JSON


def register(app: typer.Typer) -> None:
    """Add the audit command to the trustctl app."""
    app.command("audit")(audit)


def parse_when(text: str, now: datetime) -> datetime:
    """A moment: ISO 8601 (UTC unless an offset is given) or a time ago (30m, 12h, 7d, 2w)."""
    ago = AGO.fullmatch(text.strip())
    if ago is not None:
        return now - timedelta(**{UNITS[ago.group(2)]: int(ago.group(1))})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise Failure(
            f"trustctl: {text!r} is not a time: use YYYY-MM-DD[THH:MM[:SS]] or 30m, 12h, 7d, 2w"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def user_name(uid: int) -> str:
    """The user's name, when the system knows it."""
    try:
        return pwd.getpwuid(uid).pw_name
    except (KeyError, OverflowError):
        return ""


def who(entry: AuditEntry) -> str:
    """By whom: uid (name), and the pid or the drop-in file."""
    name = user_name(entry.uid)
    text = f"by uid {entry.uid}" + (f" ({name})" if name else "")
    if entry.source is not None:
        return f"{text}, from the drop-in file {entry.source}"
    return text + (f", pid {entry.pid}" if entry.pid is not None else "")


def entry_lines(entry: AuditEntry) -> list[str]:
    """Two lines per entry: when, what and who; then the object and summary."""
    when = entry.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    domain = f" ({entry.domain})" if entry.domain else ""
    return [
        f"{when}  {entry.operation}{domain}  {who(entry)}",
        f"    {entry.object}: {entry.summary}",
    ]


def entry_json(entry: AuditEntry) -> dict[str, Any]:
    return {
        "at": entry.at.isoformat(),
        "uid": entry.uid,
        "user": user_name(entry.uid) or None,
        "pid": entry.pid,
        "operation": entry.operation,
        "domain": entry.domain,
        "object": entry.object,
        "summary": entry.summary,
        "source": entry.source,
    }


def certificate_sha1(client: Client, given: str) -> str:
    """The SHA-1 audit rows name a certificate by, from a file or a fingerprint."""
    import hashlib

    from trustctl.commands.show import domain_entries, known_certificate, parse_digest, read_file

    path = Path(given)
    if path.exists():
        return hashlib.sha1(read_file(path)).hexdigest().upper()
    digest = parse_digest(given)
    if digest is None:
        raise Failure(f"trustctl: {given}: no such file, and not a SHA-1 or SHA-256")
    kind, value = digest
    if kind == "sha1":
        return value.upper()
    found = known_certificate(client, kind, value, domain_entries(client))
    if found is None:
        raise Failure(f"trustctl: no certificate with SHA-256 {value} is known: give its SHA-1")
    return hashlib.sha1(found).hexdigest().upper()


def chronological(entries: Sequence[AuditEntry]) -> list[AuditEntry]:
    """The daemon answers newest first; people read a log oldest first."""
    return list(reversed(entries))


def audit(
    ctx: typer.Context,
    *,
    since: str | None = SinceOption,
    until: str | None = UntilOption,
    domain: str | None = DomainOption,
    cert: str | None = CertOption,
    limit: int = LimitOption,
    as_json: bool = JsonOption,
) -> None:
    """List the audit log: who changed trust settings, certificates and exceptions, and when.

    Administrators see every entry; other users their own changes and those of what everyone
    shares (the admin domain, the certificate store, drop-in files).  Oldest first.
    """
    if domain is not None and domain not in ("admin", "user"):
        raise UsageProblem(f'trustctl: unknown domain "{domain}" (use admin or user)', ctx)
    if not 1 <= limit <= MAX_LIMIT:
        raise UsageProblem(f"trustctl: --limit must be 1 to {MAX_LIMIT}", ctx)
    now = datetime.now(UTC)
    start = None if since is None else parse_when(since, now)
    end = None if until is None else parse_when(until, now)
    with ctx.obj.client() as client:
        sha1 = None if cert is None else certificate_sha1(client, cert)
        entries = chronological(
            client.audit_log(since=start, until=end, domain=domain, sha1=sha1, limit=limit)
        )
    if as_json:
        emit_json([entry_json(e) for e in entries])
        return
    if not entries:
        print("No audit entries.")
        return
    for entry in entries:
        print("\n".join(entry_lines(entry)))
