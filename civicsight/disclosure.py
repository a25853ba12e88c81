"""Disclosure control for published numbers: fixed bins and small-count suppression.

Why fixed bins. A count below the threshold is suppressed so that one car at night
cannot be singled out. If a caller could choose any window, two windows that differ by
ten seconds would differ by at most the vehicles first seen in those ten seconds, and
the difference of two published counts would pin a suppressed vehicle to a ten-second
slice. So every published number covers whole, aligned bins:

- a bin is ``bin_s`` seconds long, at least ``MIN_BIN_S`` (15 minutes), a multiple of it,
  and divides a day, so bins of every allowed length nest and line up with UTC midnight;
- a window is widened to whole bins at its start and cut to whole bins at its end;
- a bin is published only once it is over and ``settle_s`` has passed (late and revised
  tracks arrive), so polling the current bin shows nothing moving.

Then any two answers differ only by whole bins, and differencing recovers nothing finer
than one bin. (Recovering a suppressed *bin* from totals is secondary suppression,
which the traffic tables handle.)

Pure: values in, values out; the caller passes ``now``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MIN_BIN_S = 900
DAY_S = 86_400
ALLOWED_BINS_S: tuple[int, ...] = tuple(
    b for b in range(MIN_BIN_S, DAY_S + 1, MIN_BIN_S) if DAY_S % b == 0
)
SETTLE_S = 120.0
"""How long after a bin ends it is published: the join revises decisions for two minutes."""
MIN_COUNT = 5


class BinError(ValueError):
    """A bin length that is not allowed; the message lists the allowed ones."""


@dataclass(frozen=True)
class Window:
    """Whole bins ``[start, end)``; empty when ``end <= start``."""

    start: float
    end: float
    bin_s: int

    @property
    def empty(self) -> bool:
        return self.end <= self.start

    def bin_of(self, t: float) -> float | None:
        """The start of the bin holding ``t``, or None outside the window."""
        if not self.start <= t < self.end:
            return None
        return math.floor(t / self.bin_s) * self.bin_s

    def bins(self) -> list[float]:
        n = max(0, round((self.end - self.start) / self.bin_s))
        return [self.start + i * self.bin_s for i in range(n)]


def check_bin(bin_s: int) -> int:
    if bin_s not in ALLOWED_BINS_S:
        allowed = ", ".join(str(b) for b in ALLOWED_BINS_S)
        raise BinError(f"bin length {bin_s} s is not allowed; choose one of {allowed}")
    return bin_s


def published_window(
    since: float, until: float, bin_s: int, now: float, settle_s: float = SETTLE_S
) -> Window:
    """The bins a request for ``[since, until)`` may see at ``now``: since widened down to
    its bin's start, until cut down to the last bin that is over and settled."""
    check_bin(bin_s)
    start = math.floor(since / bin_s) * bin_s
    last = min(until, now - settle_s)
    end = math.floor(last / bin_s) * bin_s
    return Window(float(start), float(max(end, start)), bin_s)


def suppress(count: int, k: int = MIN_COUNT) -> int | None:
    """The count, or None when it is below ``k`` (zero is published: nothing was seen)."""
    return count if count == 0 or count >= k else None
