"""Debian and Ubuntu: the projection as sources of `update-ca-certificates`.

The mechanism ca-certificates documents (update-ca-certificates(8), README.Debian): certificate
files under /usr/share/ca-certificates are used when /etc/ca-certificates.conf lists them, and
deselected by a line starting with `!`.  So:

- a certificate trustd trusts as a TLS anchor becomes /usr/share/ca-certificates/trustd/<name>.crt
  with the line `trustd/<name>.crt` in the configuration;
- a distribution root trustd denies for TLS gets its line turned into `!<path>` (and back when
  the deny goes; only lines trustd itself turned are ever turned back, as recorded in the state
  file);
- a certificate no longer trusted first gets `!trustd/<name>.crt`, so that the tool removes it
  and tells its hooks (`-/etc/ssl/certs/<name>.pem`); once the tool ran, the file and the line
  go.

Then `update-ca-certificates` rebuilds /etc/ssl/certs, ca-certificates.crt and, through its
hooks, Java's cacerts (ca-certificates-java).  /usr/local/share/ca-certificates is the
administrator's: the tool adds every file there unconditionally, so a denied certificate placed
there cannot be deselected; that is reported (remove the file), never overridden.  Only TLS
server trust is projected here: these stores carry no purposes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from trustd.projection import files
from trustd.projection.model import Projection, Purpose

SUBDIRECTORY = "trustd"


@dataclass(frozen=True, slots=True)
class DebianLayout:
    certs_dir: Path = Path("/usr/share/ca-certificates")
    local_dir: Path = Path("/usr/local/share/ca-certificates")
    conf: Path = Path("/etc/ca-certificates.conf")
    command: tuple[str, ...] = ("update-ca-certificates",)

    @property
    def own_dir(self) -> Path:
        return self.certs_dir / SUBDIRECTORY

    def configured(self) -> bool:
        """update-ca-certificates has its configuration."""
        return self.conf.is_file()

    def own_additions(self) -> files.OwnAdditions:
        others = (str(self.certs_dir), str(self.local_dir))
        return files.OwnAdditions(own=(str(self.own_dir),), others=others)


@dataclass(slots=True)
class _State:
    """What trustd changed in the configuration and must undo itself."""

    deselected: set[str] = field(default_factory=set)  # distribution lines trustd turned to !
    pending: bool = False  # sources changed, the update command has not succeeded since

    @classmethod
    def read(cls, path: Path) -> _State:
        try:
            data = json.loads(path.read_text())
            return cls(set(data.get("deselected", [])), bool(data.get("pending", False)))
        except (OSError, ValueError, AttributeError):
            return cls()

    def write(self, path: Path) -> None:
        text = json.dumps({"deselected": sorted(self.deselected), "pending": self.pending})
        files.write_atomic(path, (text + "\n").encode(), 0o600)


class DebianOutput(files.ToolOutput[DebianLayout]):
    """Keeps update-ca-certificates' sources in step with the projection."""

    name = "debian"

    def _distribution_index(self) -> dict[bytes, list[str]]:
        """SHA-1 of each distribution certificate -> its configuration lines (relative paths)."""
        index: dict[bytes, list[str]] = {}
        certs = self.layout.certs_dir
        for path in files.source_files(certs, skip=self.layout.own_dir):
            if path.suffix == ".crt":
                for sha1 in files.file_digests(path).sha1:
                    index.setdefault(sha1, []).append(str(path.relative_to(certs)))
        return index

    def _local_index(self) -> dict[bytes, list[Path]]:
        index: dict[bytes, list[Path]] = {}
        for path in files.source_files(self.layout.local_dir):
            if path.suffix == ".crt":
                for sha1 in files.file_digests(path).sha1:
                    index.setdefault(sha1, []).append(path)
        return index

    def apply(self, projection: Projection) -> bool:
        """Bring the sources in step and run the tool if anything changed; True if it ran."""
        layout = self.layout
        warnings: list[str] = []
        state = _State.read(self.state_file)
        wanted = {
            files.file_name(p.certificate) + ".crt": files.pem(p.certificate)
            for p in projection.anchors(Purpose.SERVER_AUTH)
            if p.certificate is not None
        }
        denied = projection.denied(Purpose.SERVER_AUTH)
        deny_lines: set[str] = set()
        if denied:
            distribution, local = self._distribution_index(), self._local_index()
            for p in denied:
                deny_lines.update(distribution.get(p.sha1, ()))
                for path in local.get(p.sha1, ()):
                    warnings.append(
                        f"{p.label} is denied but {path} installs it; update-ca-certificates "
                        "adds every file there: remove the file to distrust it everywhere"
                    )
        try:
            lines = layout.conf.read_text().splitlines()
        except OSError as problem:
            raise files.OutputFailure(f"cannot read {layout.conf}: {problem}") from None
        try:
            files.public_directory(layout.own_dir)
            present = {p.name for p in layout.own_dir.glob("*.crt")}
        except OSError as problem:
            raise files.OutputFailure(f"cannot use {layout.own_dir}: {problem}") from None
        stale = present - wanted.keys()

        desired_own = {f"{SUBDIRECTORY}/{name}" for name in wanted}
        retired_own = {f"{SUBDIRECTORY}/{name}" for name in stale}
        new_lines, seen = _turn(lines, desired_own, retired_own, deny_lines, state)
        for line in sorted(desired_own - seen):
            new_lines.append(line)
        for line in sorted(retired_own - seen):
            new_lines.append("!" + line)

        changed = False
        try:
            for name, data in wanted.items():
                changed |= files.write_atomic(layout.own_dir / name, data)
            conf_changed = new_lines != lines
            if conf_changed or changed:
                state.pending = True
                state.write(self.state_file)
            if conf_changed:
                files.write_atomic(layout.conf, ("\n".join(new_lines) + "\n").encode())
        except OSError as problem:
            raise files.OutputFailure(f"cannot write the sources: {problem}") from None
        self.warnings = warnings
        if not state.pending:
            return False
        said = self.run_tool()
        # The tool itself succeeded; a hook that failed (Java's cacerts not rebuilt, say) only
        # says so in its output ("E: <hook> exited with code N.").
        self.warnings.extend(
            f"{' '.join(layout.command)}: {line.strip()}"
            for line in said.splitlines()
            if line.startswith("E: ")
        )
        # The tool removed the retired certificates (and told its hooks): their files and
        # their `!` lines can go now.
        try:
            for name in stale:
                (layout.own_dir / name).unlink(missing_ok=True)
            if stale:
                kept = [line for line in new_lines if line.strip().lstrip("!") not in retired_own]
                files.write_atomic(layout.conf, ("\n".join(kept) + "\n").encode())
            state.pending = False
            state.write(self.state_file)
        except OSError as problem:
            raise files.OutputFailure(f"cannot tidy the sources: {problem}") from None
        return True


def _turn(
    lines: Sequence[str],
    desired_own: set[str],
    retired_own: set[str],
    deny_lines: set[str],
    state: _State,
) -> tuple[list[str], set[str]]:
    """The configuration with trustd's lines selected or deselected; and the paths seen."""
    out: list[str] = []
    seen: set[str] = set()
    for raw in lines:
        line = raw.strip()
        bang = line.startswith("!")
        path = line[1:] if bang else line
        if not line or line.startswith("#"):
            out.append(raw)
            continue
        seen.add(path)
        if path in desired_own:
            out.append(path)
        elif path in retired_own:
            out.append("!" + path)
        elif path.startswith(SUBDIRECTORY + "/"):
            continue  # a line of trustd's whose file is gone: nothing to select or remove
        elif path in deny_lines:
            if not bang:
                state.deselected.add(path)
            out.append("!" + path)
        elif bang and path in state.deselected:
            state.deselected.discard(path)
            out.append(path)
        else:
            if not bang:
                state.deselected.discard(path)
            out.append(raw)
    return out, seen
