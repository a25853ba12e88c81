"""The recovery attack: as a traffic analyst, fetch everything the role can fetch over a
demo-like day (every /api/traffic table, unfiltered and filtered by every camera and
every class, JSON and CSV, shifted windows), then try to recover each withheld value.

The attacker writes down every published value (checking that every answer agrees with
every other: what was asked never changes a value), the equations the tables' margins
give (each row and column of a bin's table sums to its published total), and the
equalities that hold in this data and that an attacker may guess (a junction leg's
turning totals are its line's crossings; a speed count is its line's crossings both
ways; a journey count is its origin-destination cell). With every value non-negative,
``scipy.optimize.linprog`` finds the least and the greatest each withheld value can be.
The test fails when an interval is narrower than 1 (a single value: recovered).

Table-driven: with secondary suppression switched off the same attack must recover
values, which shows the attack works. The retired ``/api/aggregates`` is gone (404), so
it publishes nothing to attack.
"""

from __future__ import annotations

import csv
import io
import time
from collections import defaultdict
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from scipy.optimize import linprog

from civicsight import traffic_tables
from civicsight.audit import AuditLog
from civicsight.auth import Role, TokenStore
from civicsight.services.api.app import create_app
from civicsight.services.api.camera_registry import CameraRegistry
from civicsight.services.api.state import ApiState
from civicsight.store.sqlite import SqliteTrackStore
from civicsight.suppression import protect
from civicsight.traffic_tables import CLASSES, COLUMN_TYPES, TABLES
from tests.support import RowsSource
from tests.traffic_data import LINKS, cameras, demo_day

DAY = time.time() // 86_400 * 86_400 - 2 * 86_400
T = "*"
Key = tuple[Any, ...]
CAMERAS = [c.id for c in cameras()]
WINDOWS = [  # the whole day, and windows that start and end inside bins
    (DAY, DAY + 86_400),
    (DAY + 7 * 3600 + 437, DAY + 9 * 3600 + 61),
    (DAY + 12 * 3600 + 5, DAY + 86_400 + 7),
]


def everything(client: TestClient) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Every answer the role can get for the day: (table, rows)."""
    since, until = WINDOWS[0]
    for name in TABLES:
        asks: list[dict[str, Any]] = [{"since": s, "until": u} for s, u in WINDOWS]
        asks += [{"since": since, "until": until, "camera": c} for c in CAMERAS]
        asks += [{"since": since, "until": until, "cls": c} for c in CLASSES]
        asks += [{"since": since, "until": until, "camera": "junction", "cls": "car",
                  "format": "csv"},
                 {"since": since, "until": until, "camera": "walkway", "format": "csv"},
                 {"since": since, "until": until, "cls": "truck", "format": "csv"},
                 {"since": since, "until": until, "format": "csv"}]  # fmt: skip
        for params in asks:
            resp = client.get(f"/api/traffic/{name}", params=params)
            assert resp.status_code == 200, resp.text
            if params.get("format") == "csv":
                yield name, [typed(r) for r in csv.DictReader(io.StringIO(resp.text))]
            else:
                yield name, resp.json()["rows"]


def typed(row: dict[str, str]) -> dict[str, Any]:
    kinds = {"int": int, "float": float, "text": str, "time": str}
    return {k: None if v == "" else kinds[COLUMN_TYPES[k]](v) for k, v in row.items()}


def entries(name: str, r: dict[str, Any]) -> Iterator[tuple[Key, Any]]:
    """The published values of one row, keyed (table of the bin, bin, row, column)."""
    b = r["bin_start"]
    if name == "counts":
        row = T if r["camera"] == T else (r["camera"], r["rule"], r["direction"])
        yield ("counts", b, row, r["class"]), r["count"]
    elif name == "turning":
        yield (f"turning/{r['camera']}/{r['class']}", b, r["entry"], r["exit"]), r["count"]
    elif name == "zones":
        row = T if r["camera"] == T else (r["camera"], r["zone"])
        yield ("entries", b, row, r["class"]), r["entries"]
        yield ("exits", b, row, r["class"]), r["exits"]
    elif name == "od":
        yield (f"od/{r['class']}", b, r["origin"], r["destination"]), r["count"]
    elif name == "speeds":
        yield ("speeds", b, (r["camera"], r["rule"]), r["class"]), r["count"]
    else:
        trip = (r["origin"], r["destination"], r["source"])
        yield ("journeys", b, trip, r["class"]), r["count"]


def knowledge(client: TestClient) -> dict[Key, Any]:
    """Every value the role saw (None: withheld), checked for agreement across answers."""
    known: dict[Key, Any] = {}
    for name, rows in everything(client):
        for r in rows:
            if r["status"] == "camera_down":
                continue
            for key, value in entries(name, r):
                assert known.setdefault(key, value) == value, (key, known[key], value)
    return known


def equations(known: dict[Key, Any]) -> list[list[tuple[Key, int]]]:
    """Each line of each bin's table sums to its total; and the equalities that hold in
    the demo-like data (``tests.traffic_data.LINKS``)."""
    eqs: list[list[tuple[Key, int]]] = []
    grids: dict[tuple[str, Any], list[tuple[Any, Any]]] = defaultdict(list)
    for t, b, r, c in known:
        if t not in ("speeds", "journeys"):
            grids[(t, b)].append((r, c))
    for (t, b), cells in grids.items():
        rows: dict[Any, list[tuple[Key, int]]] = defaultdict(list)
        cols: dict[Any, list[tuple[Key, int]]] = defaultdict(list)
        for r, c in cells:
            rows[r].append(((t, b, r, c), -1 if c == T else 1))
            cols[c].append(((t, b, r, c), -1 if r == T else 1))
        eqs += [*rows.values(), *cols.values()]
    crossings: dict[tuple[Any, str, str, str], list[Key]] = defaultdict(list)
    for key in known:
        t, b, r, c = key
        if t == "counts" and r != T:
            crossings[(b, r[0], r[1], c)].append(key)
    for key in known:
        t, b, r, c = key
        if t.startswith("turning/"):
            _, camera, cls = t.split("/")
            if c == T and r != T:
                eqs.append([(key, 1), (("counts", b, (camera, r, LINKS.inwards), cls), -1)])
            if r == T and c != T:
                eqs.append([(key, 1), (("counts", b, (camera, c, LINKS.outwards), cls), -1)])
        elif t == "speeds":
            eqs.append([(key, 1), *((p, -1) for p in crossings[(b, r[0], r[1], c)])])
        elif t == "journeys" and r[2] == "tracks":
            eqs.append([(key, 1), ((f"od/{c}", b, r[0], r[1]), -1)])
    return [eq for eq in eqs if all(k in known for k, _ in eq)]


def recovered(known: dict[Key, Any], stop_at_first: bool = False) -> list[tuple[Key, float]]:
    """The withheld values whose least and greatest possible values are less than 1
    apart, with that width (one LP each way per value, per group of linked values)."""
    unknown = sorted((k for k, v in known.items() if v is None), key=repr)
    index = {k: i for i, k in enumerate(unknown)}
    parent = list(range(len(unknown)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    groups: dict[int, list[list[tuple[Key, int]]]] = defaultdict(list)
    touching = [eq for eq in equations(known) if any(k in index for k, _ in eq)]
    for eq in touching:
        first, *rest = [index[k] for k, _ in eq if k in index]
        for j in rest:
            parent[find(j)] = find(first)
    for eq in touching:
        groups[find(next(index[k] for k, _ in eq if k in index))].append(eq)
    found: list[tuple[Key, float]] = []
    for eqs in groups.values():
        names = sorted({k for eq in eqs for k, _ in eq if k in index}, key=repr)
        col = {k: i for i, k in enumerate(names)}
        a = np.zeros((len(eqs), len(names)))
        rhs = np.zeros(len(eqs))
        for m, eq in enumerate(eqs):
            for k, coef in eq:
                if k in col:
                    a[m, col[k]] += coef
                else:
                    rhs[m] -= coef * known[k]
        for k in names:
            c = np.zeros(len(names))
            c[col[k]] = 1
            low = linprog(c, A_eq=a, b_eq=rhs, bounds=(0, None), method="highs")
            high = linprog(-c, A_eq=a, b_eq=rhs, bounds=(0, None), method="highs")
            assert low.status == 0 and high.status in (0, 3), (k, low.message, high.message)
            width = float("inf") if high.status == 3 else -high.fun - low.fun
            if width < 1 - 1e-6:
                found.append((k, width))
                if stop_at_first:
                    return found
    return found


@pytest.fixture
def analyst(tmp_path: Path, tokens: TokenStore, trail: AuditLog) -> Iterator[TestClient]:
    state = ApiState(
        store=SqliteTrackStore(tmp_path / "tracks.db"),
        tokens=tokens,
        audit=trail,
        cameras=CameraRegistry(cameras()),
        traffic=RowsSource(demo_day(DAY)),
    )
    token = tokens.issue(Role.TRAFFIC_ANALYST, "attacker")
    with TestClient(create_app(state), headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


@pytest.mark.parametrize(
    ("secondary", "recoverable"),
    [(True, False), (False, True)],
    ids=["secondary-suppression", "primary-only"],
)
def test_no_withheld_value_can_be_recovered_from_what_the_role_can_fetch(
    analyst: TestClient, monkeypatch: pytest.MonkeyPatch, secondary: bool, recoverable: bool
) -> None:
    """Guards every way a withheld small count could be solved for: a lone withheld cell
    of a line with published totals, a bridge between blocks of withheld cells, a
    withheld total, a turning total equal to a published crossing, a speed count that a
    class column gives, a journey count equal to a published OD cell, or an answer that
    changes with a filter or a window. Primary suppression alone leaves many."""
    if not secondary:
        monkeypatch.setattr(traffic_tables, "protect", partial(protect, secondary=False))
    assert analyst.get("/api/aggregates", params={"since": DAY}).status_code == 404
    known = knowledge(analyst)
    withheld = [k for k, v in known.items() if v is None]
    assert len(withheld) > 1000  # a quiet night and busy peaks: much is withheld
    leaks = recovered(known, stop_at_first=not secondary)
    if recoverable:
        assert leaks, "primary suppression alone should leave values recoverable"
    else:
        assert leaks == [], leaks[:10]
