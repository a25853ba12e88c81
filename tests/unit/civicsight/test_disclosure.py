"""Fixed, aligned, settled bins and small-count suppression for published numbers."""

from __future__ import annotations

import pytest

from civicsight.disclosure import (
    ALLOWED_BINS_S,
    MIN_BIN_S,
    SETTLE_S,
    BinError,
    Window,
    published_window,
    suppress,
)

DAY = 86_400.0
MIDNIGHT = 1_800_000_000.0 // DAY * DAY


def test_allowed_bins_nest_into_days_and_are_at_least_15_minutes() -> None:
    assert ALLOWED_BINS_S[0] == MIN_BIN_S == 900 and ALLOWED_BINS_S[-1] == DAY
    assert all(b % MIN_BIN_S == 0 and DAY % b == 0 for b in ALLOWED_BINS_S)


@pytest.mark.parametrize("bin_s", [0, 60, 300, 600, 1000, 4000, 86_401, 2 * 86_400])
def test_other_bins_are_refused(bin_s: int) -> None:
    """Guards bins finer than 15 minutes, or bins that do not line up with days (two
    overlapping grids would difference into slices finer than a bin)."""
    with pytest.raises(BinError, match="900"):
        published_window(MIDNIGHT, MIDNIGHT + DAY, bin_s, MIDNIGHT + 2 * DAY)


@pytest.mark.parametrize(
    ("since", "until", "bin_s", "now", "expected"),
    [
        # whole settled bins: since widened down, until cut down
        (MIDNIGHT + 10, MIDNIGHT + 3 * 3600 + 10, 3600, MIDNIGHT + DAY, (0, 3 * 3600)),
        (MIDNIGHT + 3599, MIDNIGHT + 7199, 3600, MIDNIGHT + DAY, (0, 3600)),
        # the running bin is never published, nor one that ended less than SETTLE_S ago
        (MIDNIGHT, MIDNIGHT + DAY, 900, MIDNIGHT + 1800 + 10, (0, 900)),
        (MIDNIGHT, MIDNIGHT + DAY, 900, MIDNIGHT + 1800 + SETTLE_S, (0, 1800)),
        # nothing over yet: an empty window, not an error
        (MIDNIGHT, MIDNIGHT + DAY, 3600, MIDNIGHT + 60, (0, 0)),
        (MIDNIGHT, MIDNIGHT + 20 * DAY, DAY, MIDNIGHT + 3 * DAY + 200, (0, 3 * DAY)),
    ],
)
def test_published_window(
    since: float, until: float, bin_s: int, now: float, expected: tuple[float, float]
) -> None:
    win = published_window(since, until, bin_s, now)
    assert (win.start - MIDNIGHT, win.end - MIDNIGHT) == expected


def test_windows_a_few_seconds_apart_publish_the_same_bins() -> None:
    """Guards the differencing attack of the outside probe (finding 4): 31 requests with
    ``until`` moved in 10 s steps must all see the same bins, so no two answers differ by
    a slice finer than one bin."""
    since = MIDNIGHT - DAY
    now = MIDNIGHT + 2 * DAY
    windows = {
        published_window(since, MIDNIGHT + 3 * 3600 + 10 * step, 86_400, now) for step in range(31)
    }
    assert len(windows) == 1
    windows = {
        published_window(since, MIDNIGHT + 900 * 5 + 10 * step, 900, now) for step in range(31)
    }
    assert {(w.end - MIDNIGHT) for w in windows} <= {4500.0, 5400.0, 6300.0, 7200.0}
    # every answer ends on a bin boundary
    assert all(w.end % 900 == 0 and w.start % 900 == 0 for w in windows)


@pytest.mark.parametrize(
    ("t", "expected"),
    [(MIDNIGHT - 1, None), (MIDNIGHT, MIDNIGHT), (MIDNIGHT + 1799, MIDNIGHT + 900),
     (MIDNIGHT + 3600, None)],
)  # fmt: skip
def test_bin_of(t: float, expected: float | None) -> None:
    assert Window(MIDNIGHT, MIDNIGHT + 3600, 900).bin_of(t) == expected


@pytest.mark.parametrize(
    ("count", "k", "expected"),
    [(0, 5, 0), (1, 5, None), (4, 5, None), (5, 5, 5), (9, 10, None), (10, 10, 10)],
)
def test_suppress(count: int, k: int, expected: int | None) -> None:
    assert suppress(count, k) == expected
