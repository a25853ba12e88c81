"""The newest events of a stream, numbered, for pages that poll for what is new.

``Recent`` is pure and thread-safe: the live feed's thread adds, request handlers read.
Each item gets the next number (from 1) as it arrives; a reader passes the last number it
saw and gets the items after it. Only the newest ``size`` are kept, and a reader that
fell further behind is told how many it missed. A push endpoint (WebSocket, SSE) can use
the same class: it is a cursor over a ring, not tied to HTTP polling.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    """oldest first"""
    cursor: int
    """the number of the last item returned (or the cursor given, if none): pass it back"""
    missed: int
    """items after the cursor given that were dropped before this read"""


class Recent(Generic[T]):
    def __init__(self, size: int = 200) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self.size = size
        self._items: deque[tuple[int, T]] = deque(maxlen=size)
        self._last = 0
        self._lock = threading.Lock()

    def add(self, item: T) -> int:
        """Keep ``item`` (dropping the oldest when full); its number."""
        with self._lock:
            self._last += 1
            self._items.append((self._last, item))
            return self._last

    @property
    def last(self) -> int:
        """The number of the newest item (0: none yet)."""
        return self._last

    def after(self, cursor: int, limit: int | None = None) -> Page[T]:
        """Up to ``limit`` items numbered after ``cursor``, oldest first. A cursor ahead of
        the newest number (this process restarted and numbers began again) reads
        everything kept, as cursor 0 does."""
        with self._lock:
            items = list(self._items)
            last = self._last
        if cursor > last or cursor < 0:
            cursor = 0
        oldest = items[0][0] if items else last + 1
        missed = max(0, oldest - cursor - 1) if cursor else 0
        newer = [(n, item) for n, item in items if n > cursor]
        if limit is not None:
            newer = newer[: max(0, limit)]
        return Page(
            items=[item for _, item in newer],
            cursor=newer[-1][0] if newer else max(cursor, 0),
            missed=missed,
        )
