"""Waiting for a condition in tests: `eventually()` polls until it holds, never a fixed sleep."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(
    condition: Callable[[], T],
    seconds: float = 20,
    what: str | Callable[[], object] = "the condition",
    interval: float = 0.05,
) -> T:
    """Call `condition` until it returns a true value, and return that value.

    Fails the test (AssertionError) when `seconds` pass first; the message is `what`, or what
    `what()` returns then (a daemon's log, say, read only on failure).
    """
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            message = what() if callable(what) else what
            raise AssertionError(f"not within {seconds} s: {message}")
        time.sleep(interval)
