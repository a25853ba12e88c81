"""The numbered ring behind the live rule hits (``services.api.recent``)."""

from __future__ import annotations

import threading

import pytest

from civicsight.services.api.recent import Recent


def filled(n: int, size: int = 4) -> Recent[str]:
    ring: Recent[str] = Recent(size)
    for i in range(1, n + 1):
        assert ring.add(f"e{i}") == i
    return ring


@pytest.mark.parametrize(
    ("kept", "cursor", "limit", "items", "next_cursor", "missed"),
    [
        (0, 0, None, [], 0, 0),
        (3, 0, None, ["e1", "e2", "e3"], 3, 0),
        (3, 1, None, ["e2", "e3"], 3, 0),
        (3, 3, None, [], 3, 0),
        (6, 0, None, ["e3", "e4", "e5", "e6"], 6, 0),  # a new reader missed nothing
        (6, 1, None, ["e3", "e4", "e5", "e6"], 6, 1),  # e2 was dropped after its cursor
        (6, 2, 2, ["e3", "e4"], 4, 0),  # a limit pages forward, oldest first
        (3, 9, None, ["e1", "e2", "e3"], 3, 0),  # the API restarted: read everything
    ],
    ids=["empty", "all", "after-one", "up-to-date", "wrapped", "fell-behind", "limited",
         "cursor-from-before-a-restart"],
)  # fmt: skip
def test_after_a_cursor(
    kept: int,
    cursor: int,
    limit: int | None,
    items: list[str],
    next_cursor: int,
    missed: int,
) -> None:
    """Guards a polling page that sees an event twice, skips one without knowing, or
    stalls forever on a cursor from before the API restarted."""
    page = filled(kept).after(cursor, limit)
    assert (page.items, page.cursor, page.missed) == (items, next_cursor, missed)


def test_adds_from_many_threads_get_distinct_numbers() -> None:
    ring: Recent[int] = Recent(10_000)
    numbers: list[int] = []
    lock = threading.Lock()

    def add() -> None:
        for i in range(500):
            n = ring.add(i)
            with lock:
                numbers.append(n)

    threads = [threading.Thread(target=add) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(numbers) == list(range(1, 4001)) and ring.last == 4000


def test_a_ring_holds_something() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Recent(0)
