"""Drop-in directories: administrators' anchors, distrust and trust-settings files, applied live.

Three directories (defaults under /etc/trustd) feed the admin domain:

- `anchors/`: PEM or DER certificate files (a PEM file may hold several certificates); each
  certificate is stored and trusted as an anchor: an empty settings array (TrustRoot) when it is
  self-signed, `[{Result: TrustAsRoot}]` otherwise;
- `distrust/`: certificate files whose certificates are denied (`[{Result: Deny}]`);
- `trust-settings/`: macOS trust-settings plists (XML or binary, as `security
  trust-settings-export` writes them), each entry merged into the admin domain.

Modules: `parse` decodes files, `reconcile` computes what to change as a pure diff, `scan`
reads the directories with the safety rules, `apply` writes a plan to the `TrustStore`, and
`watch.DropinWatcher` ties them to watchdog events.

Store API this package would use if it existed (it works around their absence today):
`TrustStore.sources(prefix) -> set[str]` instead of its read-only query of the `source`
columns; `TrustStore.set_trust_settings_entries(domain, uid, entries, *, actor, source)` to
merge raw `TrustSettingsEntry` values (with `modDate` and unknown keys) for certificates the
store does not hold, instead of leaving them pending; and `TrustStore.replace_source(source,
certificates, settings, *, actor)` to swap a file's rows in one transaction.
"""

from trustd.watcher.apply import ApplyReport, apply_plan
from trustd.watcher.reconcile import DirectoryContents, Kind, Plan, ReadProblem, reconcile
from trustd.watcher.watch import DropinDirectories, DropinWatcher

__all__ = [
    "ApplyReport",
    "DirectoryContents",
    "DropinDirectories",
    "DropinWatcher",
    "Kind",
    "Plan",
    "ReadProblem",
    "apply_plan",
    "reconcile",
]
