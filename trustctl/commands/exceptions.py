"""trustctl exceptions: the caller's per-host trust exceptions (TN2232's "accept this failure").

`add` evaluates the server's chain for the host through trustd (the chain given with `-c`, or
the one the server at HOST:PORT sends) and stores the exceptions that let exactly that
evaluation pass: the same certificates failing the same checks, until the epoch is reset.
Fatal failures (a revoked certificate, a broken signature) are never excepted.
"""

from __future__ import annotations

import base64
from pathlib import Path

import typer

from trustctl.common import JSON, value
from trustctl.errors import Failure
from trustctl.output import emit_json

exceptions_app = typer.Typer(help="Per-host exceptions: failures you accepted for a host.")
CertificatesOption = value(
    "-c",
    "--cert",
    help="The server's chain, leaf first (PEM or DER); repeatable.  Default: ask the server.",
)


def register(app: typer.Typer) -> None:
    app.add_typer(exceptions_app, name="exceptions")


def _host_port(target: str) -> tuple[str, int]:
    host, _, port = target.rpartition(":") if target.count(":") == 1 else (target, "", "")
    if not port:
        return target, 0
    if not port.isdigit():
        raise Failure(f"trustctl: bad port in {target!r}")
    return host, int(port)


def _read_certificates(paths: list[Path]) -> list[bytes]:
    from trustd.core.certificates import MalformedCertificate, parse_certificate

    ders = []
    for path in paths:
        try:
            ders.append(parse_certificate(path.read_bytes()).der)
        except OSError as problem:
            raise Failure(f"Error reading file {path}: {problem.strerror}") from None
        except MalformedCertificate:
            raise Failure(f"Error reading file {path}: not a certificate") from None
    return ders


@exceptions_app.command("list")
def list_exceptions(ctx: typer.Context, as_json: bool = JSON) -> None:
    """List your stored exceptions."""
    with ctx.obj.client() as client:
        stored = client.list_exceptions()
    if as_json:
        emit_json(
            [
                {
                    "host": e.host,
                    "port": e.port,
                    "created": e.created,
                    "exceptions": base64.b64encode(e.exceptions).decode(),
                }
                for e in stored
            ]
        )
        return
    for entry in stored:
        where = entry.host if entry.port == 0 else f"{entry.host}:{entry.port}"
        print(f"{where}  (since {entry.created})")


@exceptions_app.command("add")
def add_exception(
    ctx: typer.Context,
    target: str = typer.Argument(..., help="HOST or HOST:PORT (port 0 or none: any port)."),
    certificates: list[Path] | None = CertificatesOption,
) -> None:
    """Accept the failures the server's chain has today, for this host only."""
    from trustctl.commands.verify import fetch_server_chain
    from trustd.client import Policy

    host, port = _host_port(target)
    if certificates:
        chain = _read_certificates(certificates)
    elif port:
        chain = fetch_server_chain(host, port)
    else:
        raise Failure("trustctl: give HOST:PORT to ask the server, or its chain with -c", 2)
    with ctx.obj.client() as client:
        result = client.evaluate(chain, [Policy.ssl(host)])
        if result.trusted:
            raise Failure(f"trustctl: the chain is already trusted for {host}; nothing to add")
        fatal = [f.check for f in result.failures if f.severity != "recoverable"]
        if fatal:
            raise Failure(f"trustctl: cannot except {', '.join(fatal)}: not recoverable")
        client.set_exceptions(host, port, result.exceptions)
    if not ctx.obj.quiet:
        print(f"...exceptions stored for {target}: {', '.join(result.checks)}")


@exceptions_app.command("remove")
def remove_exception(
    ctx: typer.Context, target: str = typer.Argument(..., help="HOST or HOST:PORT.")
) -> None:
    """Remove the exceptions stored for a host."""
    host, port = _host_port(target)
    with ctx.obj.client() as client:
        client.remove_exceptions(host, port)


@exceptions_app.command("reset")
def reset_exceptions(ctx: typer.Context) -> None:
    """Make every exception you stored stop applying (a new exceptions epoch)."""
    with ctx.obj.client() as client:
        epoch = client.reset_exceptions()
    if not ctx.obj.quiet:
        print(f"...exceptions reset (epoch {epoch})")
