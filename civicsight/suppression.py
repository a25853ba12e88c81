"""Small-count and secondary suppression of two-way tables whose margins are published.

One table is one 15-minute bin's counts laid out in two dimensions (``cells`` keyed by
``(row, column)``), published with its row totals, column totals and grand total (true
sums). ``TOTAL`` stands for "all" in a key: ``(row, TOTAL)`` is a row total,
``(TOTAL, col)`` a column total, ``(TOTAL, TOTAL)`` the grand total. Cells and totals are
*entries*; each has the table's threshold ``k``.

**Primary suppression.** An entry with ``0 < n < k`` is withheld. A zero is published: it
says nothing happened, which singles out no one, and hiding it would hide that the camera
worked. Zeros are never withheld as complements either (below): every withheld entry is
at least 1, which is what makes the guarantee below hold.

**Secondary (complementary) suppression.** Published margins let a reader solve for a
lone withheld entry of a row (total minus the rest). Look at the table with its margins
as a bipartite graph: a node per row (the totals row included) and per column (the
totals column included), an edge per entry. Every node's edges sum to zero once totals
are counted negative, so:

- a withheld entry whose edge is a *bridge* of the graph of withheld edges can be solved
  for exactly (cut the graph at the edge: the published sums of one side give it);
- a withheld entry whose edge lies on a *cycle* of withheld edges cannot: adding ``+t``
  and ``-t`` alternately around the cycle keeps every sum, and since each withheld entry
  is at least 1, ``t`` can move at least 1 either way, so the reader's interval for the
  entry is at least 2 wide (and non-negativity cannot close it).

So while a withheld edge is a bridge, ``protect`` closes a cycle through it along the
cheapest path of the graph without it (cost: the values it newly withholds, so the
smallest cells go first; entries already withheld cost nothing; zeros are never used).
That is stronger than "every row and column with a withheld entry has at least two"
(two per line can still leave a bridge between two blocks), and it covers the margins
themselves: a withheld total with one withheld sibling is a bridge too.

**Linked tables.** Entries of different tables may count the same things: a junction's
turning totals of a leg and that line's crossings, a speed count and its line's
crossings in both directions, a journey count and its origin-destination cell. A
``Link`` says that one entry may equal the sum of others; when it does in the data, a
reader may assume it, so the joint system of every table's equations and every such
link is audited: an entry that it pins down (its unit vector lies in the row space of the
equations over the withheld entries) gets a further complement near it (the smallest
published entry sharing an equation with it, else one step further), until none is
pinned. With every non-zero entry withheld nothing is pinned (scaling every entry by the
same factor keeps every equation), so this ends. Tables without margins (``margins=False``:
speed and journey counts) take part through their links only.

Pure: values in, the set of withheld entries out; the result depends only on the
non-zero entries and ``k`` (never on zero rows, key order given, or what a caller asked).
"""

from __future__ import annotations

import heapq
import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Final

import numpy as np
import scipy.linalg

TOTAL: Final = "*"
"""The key of a margin: "all rows" or "all columns" (never a valid id: ids are slugs)."""

Key = Hashable
Cell = tuple[Key, Key]
EntryId = tuple[str, Key, Key]
"""(table name, row, column): an entry of one table of a protection run."""


def _order(key: Key) -> str:
    return repr(key)


@dataclass(frozen=True)
class Table:
    """One two-way table: ``cells`` (``(row, column) -> count``, zeros may be left out),
    published with its margins (``margins=False``: cells only, no equations of their
    own); ``k`` its threshold; ``name`` unique in one run."""

    name: str
    k: int
    cells: Mapping[Cell, int] = field(default_factory=dict)
    margins: bool = True

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ValueError(f"{self.name}: k must be at least 1")
        for (r, c), n in self.cells.items():
            if r == TOTAL or c == TOTAL:
                raise ValueError(f"{self.name}: {TOTAL!r} is the margins' key, not a cell's")
            if n < 0:
                raise ValueError(f"{self.name}: negative count at {(r, c)!r}")

    def entries(self) -> dict[Cell, int]:
        """The cells and the margins (true sums); the same dict every call (do not change
        it)."""
        return self._entries

    @cached_property
    def _entries(self) -> dict[Cell, int]:
        out: dict[Cell, int] = dict(self.cells)
        if not self.margins:
            return out
        rows: dict[Key, int] = {}
        cols: dict[Key, int] = {}
        for (r, c), n in self.cells.items():
            rows[r] = rows.get(r, 0) + n
            cols[c] = cols.get(c, 0) + n
        for r, n in rows.items():
            out[(r, TOTAL)] = n
        for c, n in cols.items():
            out[(TOTAL, c)] = n
        out[(TOTAL, TOTAL)] = sum(rows.values())
        return out

    def lines(self) -> list[list[tuple[Cell, int]]]:
        """The table's equations: each row and each column (the totals row and column
        included) with its entries and their signs (cells +1, the line's total -1)."""
        if not self.margins:
            return []
        entries = self.entries()
        by_row: dict[Key, list[tuple[Cell, int]]] = {}
        by_col: dict[Key, list[tuple[Cell, int]]] = {}
        for r, c in entries:
            by_row.setdefault(r, []).append(((r, c), -1 if c == TOTAL else 1))
            by_col.setdefault(c, []).append(((r, c), -1 if r == TOTAL else 1))
        return [*by_row.values(), *by_col.values()]


def primary(table: Table) -> set[Cell]:
    """The entries below the table's threshold (zeros excluded)."""
    return {e for e, n in table.entries().items() if 0 < n < table.k}


def _bridges(n: int, edges: Sequence[tuple[int, int]]) -> list[int]:
    """The indexes of the edges that are bridges (Tarjan, iterative)."""
    adj: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    for i, (u, v) in enumerate(edges):
        adj[u].append((v, i))
        adj[v].append((u, i))
    disc = [-1] * n
    low = [0] * n
    time = 0
    found: list[int] = []
    for start in range(n):
        if disc[start] != -1 or not adj[start]:
            continue
        disc[start] = low[start] = time
        time += 1
        stack = [(start, -1, iter(adj[start]))]
        while stack:
            u, via, it = stack[-1]
            for v, edge in it:
                if edge == via:
                    continue
                if disc[v] == -1:
                    disc[v] = low[v] = time
                    time += 1
                    stack.append((v, edge, iter(adj[v])))
                    break
                low[u] = min(low[u], disc[v])
            else:
                stack.pop()
                if stack:
                    parent = stack[-1][0]
                    low[parent] = min(low[parent], low[u])
                    if low[u] > disc[parent]:
                        found.append(via)
    return sorted(found)


class _Graph:
    """A table's non-zero entries as a bipartite graph, nodes and edges in a fixed order
    that depends on the keys only."""

    def __init__(self, entries: Mapping[Cell, int]) -> None:
        nonzero = sorted(
            ((e, n) for e, n in entries.items() if n > 0),
            key=lambda item: (_order(item[0][0]), _order(item[0][1])),
        )
        nodes: dict[tuple[str, Key], int] = {}
        for (r, c), _ in nonzero:
            nodes.setdefault(("r", r), len(nodes))
            nodes.setdefault(("c", c), len(nodes))
        self.n = len(nodes)
        self.cells = [e for e, _ in nonzero]
        self.values = [n for _, n in nonzero]
        self.ends = [(nodes[("r", r)], nodes[("c", c)]) for r, c in self.cells]
        self.adj: list[list[tuple[int, int]]] = [[] for _ in range(self.n)]
        for i, (u, v) in enumerate(self.ends):
            self.adj[u].append((v, i))
            self.adj[v].append((u, i))

    def cheapest_cycle(self, edge: int, withheld: set[int]) -> list[int]:
        """The edges of the cheapest path between ``edge``'s ends without it (cost: the
        values of edges not yet withheld, then how many): with ``edge``, a cycle."""
        source, target = self.ends[edge]
        best: dict[int, tuple[int, int]] = {source: (0, 0)}
        back: dict[int, int] = {}
        heap = [(0, 0, source)]
        while heap:
            cost, hops, u = heapq.heappop(heap)
            if u == target:
                break
            if best[u] < (cost, hops):
                continue
            for v, i in self.adj[u]:
                if i == edge:
                    continue
                step = (0, 0) if i in withheld else (self.values[i], 1)
                cand = (cost + step[0], hops + step[1])
                if v not in best or cand < best[v]:
                    best[v] = cand
                    back[v] = i
                    heapq.heappush(heap, (cand[0], cand[1], v))
        if target not in back:
            raise AssertionError("a non-zero entry always closes a cycle over the margins")
        path: list[int] = []
        node = target
        while node != source:
            i = back[node]
            path.append(i)
            u, v = self.ends[i]
            node = u if v == node else v
        return path


def close_cycles(table: Table, withheld: Iterable[Cell], graph: _Graph | None = None) -> set[Cell]:
    """``withheld`` grown until no withheld entry of ``table`` is a bridge of the graph of
    withheld entries: none can be solved for from the others and the published ones."""
    graph = graph or _Graph(table.entries())
    index = {e: i for i, e in enumerate(graph.cells)}
    held = {index[e] for e in withheld if e in index}
    extra = {e for e in withheld if e not in index}  # zeros: nothing to protect
    while True:
        order = sorted(held)
        bridges = _bridges(graph.n, [graph.ends[i] for i in order])
        if not bridges:
            break
        held.update(graph.cheapest_cycle(order[bridges[0]], held))
    return {graph.cells[i] for i in held} | extra


@dataclass(frozen=True)
class Link:
    """``total`` may equal the sum of ``parts`` (entries of other tables)."""

    total: EntryId
    parts: tuple[EntryId, ...]


class _Run:
    """The tables of one protection run, their entries and equations, computed once. A
    link takes part only where it holds in the data (and is not zero)."""

    def __init__(self, tables: Sequence[Table], links: Iterable[Link]) -> None:
        names = [t.name for t in tables]
        if len(set(names)) != len(names):
            raise ValueError("table names must be unique in one run")
        self.tables = {t.name: t for t in tables}
        self.entries = {t.name: t.entries() for t in tables}
        self.equations: list[list[tuple[EntryId, int]]] = [
            [((t.name, *cell), sign) for cell, sign in line] for t in tables for line in t.lines()
        ]
        self.links: list[Link] = []
        self.linked: set[EntryId] = set()
        for link in links:
            total = self.value(link.total)
            parts = [self.value(p) for p in link.parts]
            if total and None not in parts and total == sum(p or 0 for p in parts):
                self.links.append(link)
                nonzero = [p for p in link.parts if self.value(p)]
                self.equations.append([(link.total, -1), *((p, 1) for p in nonzero)])
                self.linked |= {link.total, *nonzero}
        self.near: dict[EntryId, list[int]] = {}
        for i, eq in enumerate(self.equations):
            for e, _ in eq:
                self.near.setdefault(e, []).append(i)
        self.graphs: dict[str, _Graph] = {}

    def graph(self, name: str) -> _Graph:
        if name not in self.graphs:
            self.graphs[name] = _Graph(self.entries[name])
        return self.graphs[name]

    def value(self, entry: EntryId) -> int | None:
        name, r, c = entry
        return self.entries.get(name, {}).get((r, c))

    def twins(self) -> list[tuple[EntryId, EntryId]]:
        """Links that make two entries equal (one non-zero part)."""
        out = []
        for link in self.links:
            nonzero = [p for p in link.parts if self.value(p)]
            if len(nonzero) == 1:
                out.append((link.total, nonzero[0]))
        return out

    def pinned(self, withheld: Iterable[EntryId], linked_only: bool) -> list[EntryId]:
        """The withheld entries the published ones and the equations pin to one value
        (ignoring non-negativity). ``linked_only``: only in groups of withheld entries
        that a link joins (alone, a table's closed cycles already protect them)."""
        unknown = sorted(
            {e for e in withheld if (self.value(e) or 0) > 0}, key=lambda e: tuple(map(_order, e))
        )
        column = {e: i for i, e in enumerate(unknown)}
        rows = [{column[e]: float(sign) for e, sign in eq if e in column} for eq in self.equations]
        rows = [r for r in rows if r]
        linked = {column[e] for e in self.linked if e in column}
        parent = list(range(len(unknown)))

        def find(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        for eq in rows:
            first, *rest = eq
            for j in rest:
                parent[find(j)] = find(first)
        groups: dict[int, list[int]] = {}
        for i in range(len(unknown)):
            groups.setdefault(find(i), []).append(i)
        eqs_of: dict[int, list[dict[int, float]]] = {}
        for eq in rows:
            eqs_of.setdefault(find(next(iter(eq))), []).append(eq)
        found: list[EntryId] = []
        for root, members in groups.items():
            if linked_only and not linked.intersection(members):
                continue
            if root not in eqs_of:  # in no equation: free
                continue
            local = {j: n for n, j in enumerate(members)}
            matrix = np.zeros((len(members), len(eqs_of[root])))  # the equations' transpose
            for m, eq in enumerate(eqs_of[root]):
                for j, coef in eq.items():
                    matrix[local[j], m] = coef
            # the row space of the equations: the first ``rank`` columns of Q; an unknown
            # is pinned when its unit vector lies in it (nothing of it is left outside)
            q, r, _ = scipy.linalg.qr(matrix, pivoting=True, mode="full")
            diag = np.abs(np.diag(r)) if r.size else np.zeros(0)
            rank = int((diag > 1e-9 * max(1.0, float(diag.max(initial=0.0)))).sum())
            outside = np.abs(q[:, rank:]).max(axis=1, initial=0.0)
            found += [unknown[j] for j, n in local.items() if outside[n] < 1e-9]
        return sorted(found, key=lambda e: tuple(map(_order, e)))

    def complement(self, entry: EntryId, withheld: set[EntryId]) -> EntryId | None:
        """The smallest published non-zero entry sharing an equation with ``entry`` (its
        row, its column, its links), else one equation further, and so on."""
        seen = {entry}
        ring = [entry]
        while ring:
            nxt = {e for x in ring for i in self.near.get(x, []) for e, _ in self.equations[i]}
            nxt -= seen
            free = [e for e in nxt if e not in withheld and (self.value(e) or 0) > 0]
            if free:
                return min(free, key=lambda e: (self.value(e), tuple(map(_order, e))))
            seen |= nxt
            ring = sorted(nxt, key=lambda e: tuple(map(_order, e)))
        return None


def determined(
    tables: Sequence[Table], withheld: Iterable[EntryId], links: Iterable[Link] = ()
) -> list[EntryId]:
    """The withheld entries that the published entries, the tables' equations and the
    equal-valued links pin down to one value (ignoring non-negativity), in a fixed order."""
    return _Run(tables, links).pinned(withheld, linked_only=False)


_MEMO: OrderedDict[Hashable, frozenset[EntryId]] = OrderedDict()
_MEMO_SIZE = 20_000
_MEMO_LOCK = threading.Lock()


def _memo_key(tables: Sequence[Table], links: Sequence[Link]) -> Hashable:
    cells = (
        (t.name, t.k, t.margins, frozenset((e, n) for e, n in t.cells.items() if n)) for t in tables
    )
    return tuple(cells), tuple(links)


def protect(
    tables: Sequence[Table], links: Iterable[Link] = (), *, secondary: bool = True
) -> frozenset[EntryId]:
    """The entries to withhold: primary suppression in every table, then (``secondary``)
    complements until no withheld entry can be solved for, in any table or through the
    ``links`` between them that hold. ``secondary=False`` exists for the tests that
    show what it prevents. A bin protected once is remembered (its answer depends on
    nothing else)."""
    links = list(links)
    key = _memo_key(tables, links) if secondary else None
    with _MEMO_LOCK:
        if key in _MEMO:
            _MEMO.move_to_end(key)
            return _MEMO[key]
    run = _Run(tables, links)
    withheld: set[EntryId] = {(t.name, *e) for t in tables for e in primary(t)}
    if secondary:
        _complete(run, withheld)
        with _MEMO_LOCK:
            _MEMO[key] = frozenset(withheld)
            while len(_MEMO) > _MEMO_SIZE:
                _MEMO.popitem(last=False)
    return frozenset(withheld)


def _complete(run: _Run, withheld: set[EntryId]) -> None:
    dirty = {name for name, _, _ in withheld}
    while True:
        for name in sorted(dirty):
            if not run.tables[name].margins:
                continue
            mine = {(r, c) for n, r, c in withheld if n == name}
            closed = close_cycles(run.tables[name], mine, run.graph(name))
            withheld |= {(name, *e) for e in closed}
        dirty = set()
        for a, b in run.twins():
            if (a in withheld) != (b in withheld):
                withheld |= {a, b}
                dirty |= {a[0], b[0]}
        if dirty:
            continue
        if not run.linked & withheld:
            return
        pinned = run.pinned(withheld, linked_only=True)
        if not pinned:
            return
        for entry in pinned:
            extra = run.complement(entry, withheld)
            if extra is not None:
                withheld.add(extra)
                dirty.add(extra[0])
        if not dirty:  # every non-zero entry withheld: then nothing can be pinned
            raise AssertionError(f"{pinned[0]!r} pinned with everything withheld")
