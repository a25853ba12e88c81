"""Small-count and secondary suppression of tables with published margins
(``civicsight.suppression``): what is withheld, and that nothing withheld can be solved
for, checked by linear algebra (``determined``) and by linear programming (the widest a
reader could narrow each withheld entry down to)."""

from __future__ import annotations

import random

import numpy as np
import pytest
from scipy.optimize import linprog

from civicsight.suppression import TOTAL, EntryId, Link, Table, determined, primary, protect

T = TOTAL


def lp_widths(
    tables: list[Table], withheld: frozenset[EntryId], links: tuple[Link, ...] | list[Link] = ()
) -> dict[EntryId, float]:
    """For each withheld entry, max - min over every non-negative solution of the tables'
    equations (and the links) that agrees with every published entry."""
    entries = [((t.name, *e), n) for t in tables for e, n in t.entries().items()]
    index = {e: i for i, (e, _) in enumerate(entries)}
    rows = []
    for t in tables:
        for line in t.lines():
            row = np.zeros(len(entries))
            for cell, sign in line:
                row[index[(t.name, *cell)]] = sign
            rows.append(row)
    for link in links:
        row = np.zeros(len(entries))
        row[index[link.total]] = -1
        for p in link.parts:
            row[index[p]] = 1
        rows.append(row)
    a = np.array(rows)
    bounds = [(0, None) if e in withheld else (n, n) for e, n in entries]
    out = {}
    for e in withheld:
        c = np.zeros(len(entries))
        c[index[e]] = 1
        low = linprog(c, A_eq=a, b_eq=np.zeros(len(a)), bounds=bounds, method="highs")
        high = linprog(-c, A_eq=a, b_eq=np.zeros(len(a)), bounds=bounds, method="highs")
        out[e] = float("inf") if high.status == 3 else -high.fun - low.fun
    return out


@pytest.mark.parametrize(
    ("cells", "k", "expected"),
    [
        ({("a", "x"): 3, ("a", "y"): 0, ("b", "x"): 9, ("b", "y"): 12}, 5,
         {("a", "x"), ("a", T)}),  # 0 is published; row a's total (3) is small too
        ({("a", "x"): 5, ("b", "x"): 7}, 5, set()),  # 5 is not below 5
        ({("a", "x"): 1, ("b", "y"): 1}, 5,  # a quiet bin: every entry small
         {("a", "x"), ("b", "y"), ("a", T), ("b", T), (T, "x"), (T, "y"), (T, T)}),
        ({("a", "x"): 9}, 10, {("a", "x"), ("a", T), (T, "x"), (T, T)}),
        ({("a", "x"): 0}, 5, set()),  # nothing seen: nothing to hide
    ],
)  # fmt: skip
def test_primary_suppression(cells: dict, k: int, expected: set) -> None:
    """Guards a count below k published (cells and margins alike) or a zero withheld."""
    assert primary(Table("t", k, cells)) == expected


@pytest.mark.parametrize(
    ("cells", "must_include"),
    [
        # a lone small cell: its row's other cells and totals would give it away
        ({("a", "x"): 3, ("a", "y"): 10, ("b", "x"): 7, ("b", "y"): 8},
         {("t", "a", "x")}),
        # the complement is the smallest cell that closes a cycle, not the first one seen
        ({("a", "x"): 2, ("a", "y"): 40, ("a", "z"): 6, ("b", "x"): 30, ("b", "y"): 30,
          ("b", "z"): 7}, {("t", "a", "x"), ("t", "a", "z"), ("t", "b", "x"), ("t", "b", "z")}),
        # a small row total: its sibling totals and the grand total would give it away
        ({("a", "x"): 2, ("a", "y"): 1, ("b", "x"): 20, ("b", "y"): 30, ("c", "x"): 25},
         {("t", "a", T)}),
    ],
)  # fmt: skip
def test_nothing_withheld_can_be_solved_for(cells: dict, must_include: set) -> None:
    """Guards primary suppression alone: with published margins a lone withheld entry
    of a line is its total minus the rest. After ``protect`` the linear algebra pins
    nothing and every withheld entry's interval is at least 2 wide."""
    table = Table("t", 5, cells)
    withheld = protect([table])
    assert must_include <= withheld
    assert determined([table], withheld) == []
    assert min(lp_widths([table], withheld).values()) >= 2
    assert all(table.entries()[(r, c)] > 0 for _, r, c in withheld)  # never a zero


def test_the_smallest_cells_are_the_complements() -> None:
    """Guards complements that hide big numbers when small ones do: row a's 3 is
    protected with the 6 beside it (and the 7 below that), not with the 40s."""
    cells = {("a", "x"): 3, ("a", "y"): 40, ("a", "z"): 6,
             ("b", "x"): 30, ("b", "y"): 41, ("b", "z"): 7}  # fmt: skip
    withheld = protect([Table("t", 5, cells)])
    assert withheld == {("t", "a", "x"), ("t", "a", "z"), ("t", "b", "x"), ("t", "b", "z")}


def test_two_withheld_per_line_is_not_enough() -> None:
    """Guards the textbook rule "every line with a withheld cell has two": two blocks of
    four withheld cells joined by one more cell meet it in every row and column, yet
    that cell is a bridge between the blocks and the margins give it exactly."""
    cells = {
        ("a", "w"): 6, ("a", "x"): 7, ("b", "w"): 8, ("b", "x"): 9,  # block one
        ("c", "y"): 6, ("c", "z"): 7, ("d", "y"): 8, ("d", "z"): 9,  # block two
        ("a", "y"): 3,  # the bridge
        ("b", "y"): 20, ("c", "w"): 20, ("d", "x"): 20, ("a", "z"): 20,
    }  # fmt: skip
    table = Table("t", 5, cells)
    two_per_line = {("t", r, c) for (r, c) in cells if cells[(r, c)] < 10}
    rows = {r for _, r, _ in two_per_line}
    assert all(sum(1 for _, r, _ in two_per_line if r == row) >= 2 for row in rows)
    assert determined([table], two_per_line) == [("t", "a", "y")]
    assert lp_widths([table], frozenset(two_per_line))[("t", "a", "y")] == 0
    withheld = protect([table])
    assert determined([table], withheld) == []


def test_protection_depends_on_the_non_zero_cells_only() -> None:
    """Guards an answer that depends on what was asked: zero rows (filled in for a
    camera's lines, more or fewer with the window) and the order the cells come in
    change nothing."""
    cells = {("a", "x"): 3, ("a", "y"): 12, ("b", "x"): 8, ("b", "y"): 2, ("c", "x"): 30}
    padded = {**cells, ("z", "x"): 0, ("z", "y"): 0, ("a", "q"): 0}
    shuffled = dict(reversed(list(padded.items())))
    assert protect([Table("t", 5, cells)]) == protect([Table("t", 5, shuffled)])


def test_linked_entries_are_withheld_together() -> None:
    """Guards a withheld turning total that the equal line crossing publishes: a leg's
    turning total equals its line's crossings (one vehicle, one entry), so both or
    neither are withheld, and the joint system pins nothing."""
    counts = Table("counts", 5, {("north-in", "car"): 3, ("north-in", "bus"): 9,
                                 ("south-in", "car"): 12, ("south-in", "bus"): 8})  # fmt: skip
    turning = Table("turning", 5, {("north", "south"): 3, ("south", "north"): 12,
                                   ("south", "south"): 6})  # fmt: skip
    links = [Link(("turning", "north", T), (("counts", "north-in", "car"),))]
    withheld = protect([counts, turning], links)
    assert ("counts", "north-in", "car") in withheld and ("turning", "north", T) in withheld
    assert determined([counts, turning], withheld, links) == []
    assert min(lp_widths([counts, turning], withheld, links).values()) >= 1


def test_a_sum_link_cannot_pin_a_withheld_total() -> None:
    """Guards the speed count that equals its line's crossings both ways: protected alone,
    the counts table withholds both small car crossings of the mid-block line, but the
    car column's published cells give their sum, 3, which is the (withheld) speed
    count. Protected together, more is withheld until that sum is loose too."""
    counts = Table("counts", 5, {
        ("mid-south", "car"): 1, ("mid-north", "car"): 2, ("gate-south", "car"): 9,
        ("gate-north", "car"): 30, ("mid-south", "bus"): 6, ("mid-north", "bus"): 7,
        ("gate-south", "bus"): 8, ("gate-north", "bus"): 20,
    })  # fmt: skip
    speeds = Table("speeds", 5, {("mid", "car"): 3}, margins=False)
    ways = (("counts", "mid-south", "car"), ("counts", "mid-north", "car"))
    links = [Link(("speeds", "mid", "car"), ways)]
    alone = protect([counts]) | {("speeds", "mid", "car")}
    assert determined([counts, speeds], alone, links) == [("speeds", "mid", "car")]
    withheld = protect([counts, speeds], links)
    assert determined([counts, speeds], withheld, links) == []
    assert min(lp_widths([counts, speeds], withheld, links).values()) >= 1


def test_secondary_off_leaves_cells_recoverable() -> None:
    """Shows what secondary suppression prevents (and that the checks above can fail):
    primary suppression alone leaves a withheld cell with a zero-width interval."""
    table = Table("t", 5, {("a", "x"): 3, ("a", "y"): 10, ("b", "x"): 7, ("b", "y"): 8})
    withheld = protect([table], secondary=False)
    assert withheld == {("t", "a", "x")}
    assert determined([table], withheld) == [("t", "a", "x")]
    assert lp_widths([table], withheld)[("t", "a", "x")] == 0


def test_random_tables_leave_every_withheld_entry_at_least_2_wide() -> None:
    """Guards the claim of the module's docstring on tables nobody drew by hand: quiet
    and busy bins, one to six rows and columns."""
    rng = random.Random(12)
    for _ in range(60):
        rate = rng.choice([0.5, 1.5, 4, 12])
        cells = {
            (f"r{i}", f"c{j}"): int(np.random.default_rng(rng.randrange(10**6)).poisson(rate))
            for i in range(rng.randint(1, 6))
            for j in range(rng.randint(1, 6))
        }
        table = Table("t", 5, cells)
        withheld = protect([table])
        widths = lp_widths([table], withheld)
        assert not widths or min(widths.values()) >= 2, (cells, withheld)


@pytest.mark.parametrize(
    ("cells", "problem"),
    [({("a", T): 1}, "margins' key"), ({("a", "x"): -1}, "negative")],
)
def test_bad_tables_are_refused(cells: dict, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        Table("t", 5, cells)
