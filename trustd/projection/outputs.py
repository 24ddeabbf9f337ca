"""Which outputs the daemon keeps in step: configured by name, or the running distribution's."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from trustd.projection import debian, fedora
from trustd.projection.files import OwnAdditions, applies
from trustd.projection.live import Output

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AllOwnAdditions:
    """The union of several outputs' own additions (picklable, like each of them)."""

    parts: tuple[OwnAdditions, ...]

    def __call__(self) -> frozenset[bytes]:
        found: frozenset[bytes] = frozenset()
        for part in self.parts:
            found |= part()
        return found


def choose_outputs(
    names: Sequence[str], state_dir: Path
) -> tuple[list[Output], Callable[[], frozenset[bytes]] | None]:
    """The outputs for configured names ("auto": whichever the machine has), and what the
    system anchors must leave out of the bundle."""
    chosen: list[debian.DebianOutput | fedora.FedoraOutput] = []
    for name in names:
        if name in ("auto", "debian") and applies(debian.DebianLayout()):
            chosen.append(
                debian.DebianOutput(state_dir / "truststores-debian.json", debian.DebianLayout())
            )
        elif name in ("auto", "fedora") and applies(fedora.FedoraLayout()):
            chosen.append(
                fedora.FedoraOutput(state_dir / "truststores-fedora.pending", fedora.FedoraLayout())
            )
        elif name != "auto":
            log.warning("trust stores: %s is not installed here; not kept in step", name)
    unique = list({output.name: output for output in chosen}.values())
    if not unique:
        if names:
            log.warning("trust stores: no supported trust store tool found; none kept in step")
        return [], None
    return list(unique), AllOwnAdditions(tuple(o.own_additions() for o in unique))
