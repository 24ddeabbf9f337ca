"""What trustctl's commands declare alike: their Typer options in one line each, the options
several commands share, and the helpers that turn what the daemon answers into output.

Options are module-level values (ruff's B008 keeps calls out of parameter defaults); Typer
reads each one afresh for every command that uses it, so one value may serve several commands.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import typer

from trustctl import completion

if TYPE_CHECKING:
    from trustd.client.models import UsageConstraint as ClientConstraint
    from trustd.core.trust_settings import UsageConstraint

Completer = Callable[[str], list[tuple[str, str]]]


def flag(*names: str, help: str) -> Any:
    """An option that is off unless given."""
    return typer.Option(False, *names, help=help)


def value(
    *names: str,
    help: str,
    metavar: str | None = None,
    default: Any = None,
    complete: Completer | None = None,
) -> Any:
    """An option that takes a value (None, or `default`, when not given)."""
    return typer.Option(default, *names, metavar=metavar, help=help, autocompletion=complete)


def keychain(help: str, metavar: str = "keychain") -> Any:
    """`-k keychain`, completed with the keychain paths trustd understands."""
    return value("-k", metavar=metavar, help=help, complete=completion.keychains)


JSON = flag("--json", help="Print JSON.")


def core_constraint(constraint: ClientConstraint) -> UsageConstraint:
    """A usage constraint as the daemon sent it, as the core's (for the core's own readers)."""
    from trustd.core.trust_settings import SettingsResult, UsageConstraint

    return UsageConstraint(
        policy_oid=constraint.policy_oid,
        policy_name=constraint.policy_name,
        policy_string=constraint.policy_string,
        application=constraint.application,
        allowed_error=constraint.allowed_error,
        result=None if constraint.result is None else SettingsResult(constraint.result),
        key_usage=constraint.key_usage,
    )
