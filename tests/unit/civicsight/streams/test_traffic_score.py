"""Scoring journey and OD tables against the truth (``streams.traffic_score``): pure,
on hand-made rows."""

from __future__ import annotations

from collections import Counter

import pytest

from civicsight.streams.traffic_score import (
    Span,
    compare_journeys,
    compare_od,
    count_errors,
    truth_trips,
)
from civicsight.traffic import JourneyBin, OdBin

T0 = 1_790_000_100.0


@pytest.mark.parametrize(
    ("hub", "truth", "mae", "within"),
    [
        ({"x": 10}, {"x": 10}, 0.0, 1.0),
        ({"x": 11}, {"x": 10}, 1.0, 1.0),  # 10 %: within
        ({"x": 3}, {"x": 2}, 1.0, 0.0),  # small counts: only exact is within
        ({"x": 2, "y": 1}, {"x": 2}, 0.5, 0.5),  # a cell only the hub has: truth 0
        ({}, {"x": 4, "y": 6}, 5.0, 0.0),  # cells the hub missed
    ],
)
def test_count_errors(
    hub: dict[str, int], truth: dict[str, int], mae: float, within: float
) -> None:
    """Guards an error over the truth's cells only (false trips free) or a 10 % band that
    lets small counts pass when wrong."""
    got = count_errors(hub, truth)  # type: ignore[arg-type]
    assert (got["mae"], got["within_10pct"]) == (mae, within)
    assert got["cells"] == len(set(hub) | set(truth))


def test_published_cells_are_those_with_enough_true_trips() -> None:
    got = count_errors({"a": 4, "b": 9}, {"a": 4, "b": 10})  # type: ignore[dict-item]
    assert got["published"] == {"cells": 1, "mae": 1.0, "within_10pct": 1.0}


def od(o: str, d: str, n: int, cls: str = "car") -> OdBin:
    return OdBin(bin_start=T0, origin=o, destination=d, cls=cls, count=n)  # type: ignore[arg-type]


def jb(o: str, d: str, n: int, p50: float, p85: float) -> JourneyBin:
    return JourneyBin(
        bin_start=T0, origin=o, destination=d, cls="car", count=n, p50_s=p50, p85_s=p85
    )


def test_od_cells_are_bin_origin_destination_class() -> None:
    """Guards cells that merge classes (a bus counted as a car is an error)."""
    got = compare_od([od("a", "b", 2, "bus")], [od("a", "b", 2)])
    assert (got["cells"], got["mae"], got["within_10pct"]) == (2, 2.0, 0.0)


def test_journey_times_are_compared_where_both_sides_have_journeys() -> None:
    hub = [jb("a", "b", 5, 100.0, 120.0), jb("b", "c", 1, 50.0, 50.0)]
    truth = [jb("a", "b", 5, 95.0, 140.0), jb("c", "d", 2, 30.0, 31.0)]
    got = compare_journeys(hub, truth)
    assert got["p50_s"]["cells"] == 1 and got["p50_s"]["mae"] == 5.0
    assert got["p50_s"]["within_10pct"] == 1.0
    assert got["p85_s"]["mae"] == 20.0 and got["p85_s"]["within_10pct"] == 0.0
    assert got["p50_s"]["published"]["cells"] == 1
    assert (got["cells"], got["truth_total"], got["hub_total"]) == (3, 7, 6)


def test_truth_trips_take_the_identitys_tracklets_and_majority_class() -> None:
    """Guards a truth that drops an identity's later visits, or names a car a person
    because one tracklet flickered."""
    spans = {
        "a/1": Span("a", T0, T0 + 10, Counter(car=20, truck=2)),
        "b/4": Span("b", T0 + 60, T0 + 70, Counter(truck=5)),
        "c/2": Span("c", T0 + 5, T0 + 6, Counter(person=3)),
    }
    rows = [
        {"local_track_id": "a/1", "identity": 7},
        {"local_track_id": "b/4", "identity": 7},
        {"local_track_id": "c/2", "identity": 8},
        {"local_track_id": "d/9", "identity": 9},  # no detection: no visit
    ]
    trips = truth_trips(rows, spans)
    assert [(t.key, t.cls, [v.camera for v in t.visits]) for t in trips] == [
        ("truth-7", "car", ["a", "b"]),
        ("truth-8", "person", ["c"]),
    ]
