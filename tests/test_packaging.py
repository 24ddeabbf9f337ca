"""Every package of the tree is listed in pyproject.toml (the list is explicit)."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_every_package_is_listed() -> None:
    listed = set(
        tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        ".".join(init.parent.relative_to(REPO).parts)
        for top in ("trustd", "trustctl")
        for init in (REPO / top).rglob("__init__.py")
    }
    found |= {
        "trustd.migrations"
        + "".join("." + p for p in init.parent.relative_to(REPO / "migrations").parts)
        for init in (REPO / "migrations").rglob("__init__.py")
    }
    assert found == listed
