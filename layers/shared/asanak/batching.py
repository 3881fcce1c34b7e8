"""How many destinations or msgids one call takes, and splitting longer lists (pure, no I/O)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

__all__ = ["MAX_BATCH", "chunked"]

MAX_BATCH = 100
"""Most destinations per ``sendsms`` and most msgids per ``msgstatus`` (manual, sections 3 and 4)."""

T = TypeVar("T")


def chunked(items: Sequence[T], size: int = MAX_BATCH) -> Iterator[list[T]]:
    """Split ``items`` into consecutive lists of at most ``size``, keeping their order.

    >>> [len(batch) for batch in chunked(list(range(250)))]
    [100, 100, 50]
    """
    if size < 1:
        raise ValueError(f"size must be at least 1, got {size}")
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
