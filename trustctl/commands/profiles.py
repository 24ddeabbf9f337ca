"""trustctl profiles: Apple configuration profiles (`.mobileconfig`) that trustd applies.

A profile's root certificate payloads (`com.apple.security.root`) are trusted in the admin
domain for the SSL and basic policies, its other certificate payloads (`pkcs1`, `pem`) stored
for path building; other payloads are listed as ignored.  Signed profiles are checked: the
signature must hold, and the signer is shown as verified when trustd trusts it.  Installed
profiles live in the daemon's `profiles/` drop-in directory, where configuration management
may also put them; the PayloadIdentifier identifies a profile, and installing one with the
identifier of an installed profile replaces it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from trustctl.common import JSON
from trustctl.errors import Failure
from trustctl.output import emit_json

if TYPE_CHECKING:
    from trustd.client import InstalledProfile

profiles_app = typer.Typer(
    help="Configuration profiles (.mobileconfig): install, list, show, remove."
)
JsonOption = JSON
ProfileFile = typer.Argument(..., help="A .mobileconfig file (XML, binary or signed).")


def register(app: typer.Typer) -> None:
    app.add_typer(profiles_app, name="profiles")


def _as_json(profile: InstalledProfile) -> dict[str, Any]:
    return {
        "identifier": profile.identifier,
        "display_name": profile.display_name,
        "organization": profile.organization,
        "file": profile.file,
        "signed": profile.signed,
        "signer": profile.signer,
        "verified": profile.verified,
        "trust": profile.trust,
        "certificates": [hashlib.sha1(der).hexdigest().upper() for der in profile.certificates],
        "roots": list(profile.roots),
        "ignored": list(profile.ignored),
    }


def _signature(profile: InstalledProfile) -> str:
    if not profile.signed:
        return "unsigned"
    if profile.verified:
        return f"verified, signed by {profile.signer}"
    return f"not verified, signed by {profile.signer}: {profile.trust}"


def _subject(der: bytes) -> str:
    from cryptography import x509

    try:
        return x509.load_der_x509_certificate(der).subject.rfc4514_string()
    except ValueError:
        return "(unreadable certificate)"


def _find(profiles: tuple[InstalledProfile, ...], identifier: str) -> InstalledProfile:
    for profile in profiles:
        if profile.identifier == identifier:
            return profile
    raise Failure(f"trustctl: no installed profile {identifier}")


@profiles_app.command("list")
def list_profiles(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """List the installed configuration profiles."""
    with ctx.obj.client() as client:
        profiles = client.list_profiles()
    if as_json:
        emit_json([_as_json(p) for p in profiles])
        return
    for profile in profiles:
        name = profile.display_name or profile.identifier
        print(f"{profile.identifier}  {name}  ({_signature(profile)})")


@profiles_app.command("show")
def show_profile(
    ctx: typer.Context,
    identifier: str = typer.Argument(..., help="The profile's PayloadIdentifier."),
    as_json: bool = JsonOption,
) -> None:
    """Show one installed profile: who made it, its signature, its certificates."""
    with ctx.obj.client() as client:
        profile = _find(client.list_profiles(), identifier)
    if as_json:
        emit_json(_as_json(profile))
        return
    print(f"identifier: {profile.identifier}")
    print(f"name: {profile.display_name}")
    print(f"organization: {profile.organization}")
    print(f"file: {profile.file}")
    print(f"signature: {_signature(profile)}")
    for der in profile.certificates:
        sha1 = hashlib.sha1(der).hexdigest().upper()
        role = "root, trusted for ssl and basic" if sha1 in profile.roots else "certificate"
        print(f"{role}: {sha1} {_subject(der)}")
    for kind in profile.ignored:
        print(f"ignored payload: {kind}")


@profiles_app.command("install")
def install_profile(
    ctx: typer.Context,
    path: Path = ProfileFile,
) -> None:
    """Install a configuration profile (root or the admin group)."""
    try:
        data = path.read_bytes()
    except OSError as problem:
        raise Failure(f"trustctl: cannot read {path}: {problem.strerror}") from None
    with ctx.obj.client() as client:
        profile = client.install_profile(data)
    if not ctx.obj.quiet:
        print(f"...profile {profile.identifier} installed ({_signature(profile)})")


@profiles_app.command("remove")
def remove_profile(
    ctx: typer.Context,
    identifier: str = typer.Argument(..., help="The profile's PayloadIdentifier."),
) -> None:
    """Remove an installed profile and what it added (root or the admin group)."""
    with ctx.obj.client() as client:
        profile = client.remove_profile(identifier)
    if not ctx.obj.quiet:
        print(f"...profile {profile.identifier} removed")
