"""trustctl status: what the daemon knows and how it is doing."""

from __future__ import annotations

import typer

from trustctl.common import JSON
from trustctl.output import emit_json


def register(app: typer.Typer) -> None:
    app.command(
        "status",
        help="Show trustd's version, database, counts, drop-in problems and the system "
        "trust stores it keeps in step.",
    )(status)


def status(
    ctx: typer.Context,
    as_json: bool = JSON,
) -> None:
    with ctx.obj.client() as client:
        state = client.status()
    if as_json:
        emit_json(
            {
                "version": state.version,
                "database_revision": state.database_revision,
                "counts": {
                    "certificates": state.counts.certificates,
                    "system_anchors": state.counts.system_anchors,
                    "admin_settings": state.counts.admin_settings,
                    "user_settings": state.counts.user_settings,
                },
                "dropin_problems": list(state.dropin_problems),
                "uptime_seconds": state.uptime_seconds,
                "requests_served": state.requests_served,
                "trust_stores": state.trust_stores,
            }
        )
        return
    print(f"trustd {state.version} (database revision {state.database_revision})")
    print(f"up {state.uptime_seconds:.0f} s, {state.requests_served} evaluations served")
    counts = state.counts
    print(
        f"{counts.system_anchors} system anchors, {counts.certificates} stored certificates, "
        f"{counts.admin_settings} admin and {counts.user_settings} user trust settings"
    )
    for problem in state.dropin_problems:
        print(f"drop-in problem: {problem}")
    stores = state.trust_stores or {}
    if stores.get("outputs"):
        print(
            f"system trust stores kept in step ({', '.join(stores['outputs'])}): "
            f"{stores.get('updates', 0)} updates, last {stores.get('last_update') or 'never'}"
        )
        for problem in stores.get("problems", []):
            print(f"trust store problem: {problem}")
