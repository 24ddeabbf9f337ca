"""`list-keychains` and `default-keychain`: the keychain paths a Mac would print, mapped to
trustd's stores (trustctl.keychains), so that output captured in a script works when passed
back to any command.

- `list-keychains [-d user|system|common|dynamic] [-s keychain...]` prints the search list, one
  `    "<path>"` line per keychain as `security` does: for the user domain (the default) the
  caller's login keychain, then System.keychain; for system, System.keychain; common and
  dynamic are empty.
- `default-keychain [-d user|system|common|dynamic] [-s [keychain]]` prints the default
  keychain the same way: System.keychain for root (and for the system domain), the login
  keychain for everyone else; common and dynamic have none.
- `-s` (set) is accepted so that CI scripts run, but trustd's search list and default keychain
  are fixed: nothing changes, and a note on stderr says so (a keychain that stands for the
  system roots is refused: it cannot be searched first or written).
"""

from __future__ import annotations

import sys

import typer

from trustctl import completion
from trustctl.common import flag, value
from trustctl.errors import Failure, UsageProblem

DOMAINS = ("user", "system", "common", "dynamic")
NO_DEFAULT = "A default keychain could not be found."  # errSecNoDefaultKeychain (-25307)
FIXED = (
    "trustctl: note: trustd's keychains are fixed (your own store, then"
    " /Library/Keychains/System.keychain; certificates go to {default} by default): nothing"
    " changed"
)

DomainOption = value(
    "-d",
    metavar="user|system|common|dynamic",
    help="Preference domain (default: user).",
    complete=completion.domains,
)
SetListOption = flag(
    "-s", help="Set the search list (accepted; trustd's is fixed, so nothing changes)."
)
SetDefaultOption = flag(
    "-s", help="Set the default keychain (accepted; trustd's is fixed, nothing changes)."
)
KeychainArguments = typer.Argument(None, metavar="keychain", help="Keychains, with -s.")


def register(app: typer.Typer) -> None:
    app.command("list-keychains")(list_keychains)
    app.command("default-keychain")(default_keychain)


def _domain(ctx: typer.Context, domain: str | None) -> str:
    from trustctl.reasons import choices

    if domain is None:
        return "user"
    if domain not in DOMAINS:
        raise UsageProblem("trustctl: " + choices("-d", domain, DOMAINS), ctx)
    return domain


def _print(paths: list[str]) -> None:
    for path in paths:
        print(f'    "{path}"')


def _accept_setting(keychains: list[str] | None) -> None:
    from trustctl.keychains import (
        Store,
        default_store,
        path_of,
        read_only_reason,
        store_of,
    )

    for keychain in keychains or []:
        if store_of(keychain) is Store.SYSTEM:
            raise Failure(f"trustctl: {keychain}: cannot be set\n{read_only_reason()}")
    print(FIXED.format(default=path_of(default_store())), file=sys.stderr)


def _shown_domain(
    ctx: typer.Context, domain: str | None, keychains: list[str] | None, setting: bool, what: str
) -> str | None:
    """The domain (-d) whose keychains to print, or None when -s asked to set them (accepted,
    nothing to print); keychains named without -s are a usage error."""
    chosen = _domain(ctx, domain)
    if setting:
        _accept_setting(keychains)
        return None
    if keychains:
        raise UsageProblem(f"trustctl: {what} given only with -s", ctx)
    return chosen


def list_keychains(
    ctx: typer.Context,
    *,
    keychains: list[str] | None = KeychainArguments,
    domain: str | None = DomainOption,
    set_list: bool = SetListOption,
) -> None:
    """Display or manipulate the keychain search list."""
    from trustctl.keychains import Store, path_of, search_list

    chosen = _shown_domain(ctx, domain, keychains, set_list, "keychains are")
    if chosen == "user":
        _print([path_of(store) for store in search_list()])
    elif chosen == "system":
        _print([path_of(Store.SHARED)])


def default_keychain(
    ctx: typer.Context,
    *,
    keychains: list[str] | None = KeychainArguments,
    domain: str | None = DomainOption,
    set_default: bool = SetDefaultOption,
) -> None:
    """Display or set the default keychain."""
    from trustctl.keychains import Store, default_store, path_of

    chosen = _shown_domain(ctx, domain, keychains, set_default, "a keychain is")
    if chosen is None:
        return
    if chosen == "user":
        _print([path_of(default_store())])
    elif chosen == "system":
        _print([path_of(Store.SHARED)])
    else:
        raise Failure(f"trustctl: SecKeychainCopyDomainDefault: {NO_DEFAULT}")
