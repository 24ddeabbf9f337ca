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

The store owns every query: `TrustStore.sources_under` lists the sources with rows and the
record of what each applied, `admin_settings_by_source` the denies a broken distrust file
keeps, and `replace_sources` swaps the files' rows in one transaction.  One store method is
still missing: `set_trust_settings_entries(domain, uid, entries, *, actor, source)` to merge raw
`TrustSettingsEntry` values (with `modDate` and unknown keys) for certificates the store does
not hold, instead of leaving them pending.
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
