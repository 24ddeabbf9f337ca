"""The import contract that keeps SQL in the store names every other package of trustd."""

from __future__ import annotations

import pkgutil
import tomllib
from pathlib import Path

import trustd

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_but_the_store_is_forbidden_sqlalchemy() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts = config["tool"]["importlinter"]["contracts"]
    (contract,) = [c for c in contracts if c["name"].startswith("SQL stays in the store")]
    assert set(contract["forbidden_modules"]) == {"sqlalchemy", "alembic"}
    packages = {f"trustd.{m.name}" for m in pkgutil.iter_modules(trustd.__path__)}
    assert set(contract["source_modules"]) == packages - {"trustd.store"} | {"trustctl"}
