"""Progress bars for long work, drawn on stderr only when stderr is a terminal.

::

    with progress(batches, "Importing certificates", weight=len) as steps:
        for batch in steps:
            client.add_certificates(batch)

The bar advances once the body of the loop has finished with an item (by `weight(item)`, 1 by
default), and is finished off (its line ended) however the loop ends.  Work of `THRESHOLD`
units or less, and output that is not a terminal (a pipe, a file, a test), get no bar and not
a single byte on stderr, so that scripts and `2>&1` see exactly what they would without it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from typing import TypeVar

import typer

__all__ = ["THRESHOLD", "progress", "stderr_is_terminal"]

THRESHOLD = 50  # units of work (certificates, usually) below which a bar is only noise

Item = TypeVar("Item")


def stderr_is_terminal() -> bool:
    """Whether stderr is a terminal (False when it is closed or replaced by a non-file)."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


@contextmanager
def progress(
    items: Collection[Item],
    label: str,
    *,
    weight: Callable[[Item], int] | None = None,
    threshold: int = THRESHOLD,
) -> Iterator[Iterator[Item]]:
    """Iterate over `items`, with a bar on a terminal when the work exceeds `threshold` units.

    `weight` says how many units an item is (a batch of certificates: its length); the total
    is the sum over `items`.
    """
    measure: Callable[[Item], int] = weight if weight is not None else (lambda _item: 1)
    total = sum(measure(item) for item in items)
    if total <= threshold or not stderr_is_terminal():
        yield iter(items)
        return
    with typer.progressbar(length=total, label=label, file=sys.stderr) as bar:

        def advancing() -> Iterator[Item]:
            for item in items:
                yield item
                bar.update(measure(item))

        yield advancing()
