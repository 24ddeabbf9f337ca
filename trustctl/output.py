"""Printing for commands: text for people, `--json` for tools."""

from __future__ import annotations

import json
import sys
from typing import Any


def emit_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, sort_keys=True, default=str)
    sys.stdout.write("\n")


def say(text: str, *, quiet: bool = False) -> None:
    if not quiet:
        print(text)
