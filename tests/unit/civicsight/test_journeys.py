"""Journey times and origin-destination from trips (``civicsight.journeys``), and the
traffic helpers they use (``civicsight.traffic.percentile`` and ``bin_window``). Pure:
each test builds trips by hand and checks the rows."""

from __future__ import annotations

import math

import numpy as np
import pytest

from civicsight.events import ObjectClass
from civicsight.journeys import (
    Trip,
    Visit,
    journey_bins,
    legs,
    merge_rows,
    od_bins,
    owned,
    stops,
)
from civicsight.traffic import BIN_S, JourneyBin, OdBin, TrafficQuery, bin_window, percentile

T0 = 1_790_000_100.0  # a bin start (a multiple of 900)
ALL = TrafficQuery(since=0.0, until=4e9)


def trip(
    key: str, *visits: tuple[str, float, float], cls: ObjectClass = "car", at: float = 0.0
) -> Trip:
    return Trip(
        key,
        cls,
        tuple(
            Visit(f"{cam}/{key}.{i}", cam, T0 + a, T0 + b) for i, (cam, a, b) in enumerate(visits)
        ),
        decided_at=at,
    )


# ---- the traffic helpers -------------------------------------------------------------


@pytest.mark.parametrize(
    "values",
    [[3.0], [1.0, 2.0], [5.0, 1.0, 4.0, 2.0, 3.0], [10.0, 10.0, 11.0, 50.0, 7.5, 8.25, 9.0]],
)
@pytest.mark.parametrize("q", [0, 15, 50, 85, 100])
def test_percentile_is_numpys_linear_definition(values: list[float], q: float) -> None:
    """Guards a p85 that differs from the one every other table and tool uses (numpy's
    default), e.g. nearest rank, or one that assumes sorted input."""
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_percentile_of_nothing_and_out_of_range() -> None:
    assert percentile([], 50) is None
    with pytest.raises(ValueError, match="between 0 and 100"):
        percentile([1.0], 101)


@pytest.mark.parametrize(
    ("since", "until", "want"),
    [
        (T0, T0 + BIN_S, (T0, T0 + BIN_S)),
        (T0 + 1, T0 + BIN_S, (T0 + BIN_S, T0 + BIN_S)),  # the bin starting before since: out
        (T0 - 1, T0 + 1, (T0, T0 + BIN_S)),  # the bin starting before until: in
    ],
)
def test_bin_window_holds_the_times_whose_bin_starts_in_the_query(
    since: float, until: float, want: tuple[float, float]
) -> None:
    """Guards a store prefilter that drops arrivals late in the last asked bin, or keeps
    those of a bin that starts before ``since``."""
    assert bin_window(since, until) == want


# ---- stops, legs, ownership ----------------------------------------------------------


def test_consecutive_visits_to_one_camera_are_one_stop() -> None:
    """Guards an occlusion that split one visit in two tracklets counted as a journey
    A -> A, or the journey after it measured from the first tracklet's end."""
    t = trip("g-1", ("a", 0, 10), ("a", 12, 20), ("b", 80, 90))
    assert [(s.camera, s.first_seen - T0, s.last_seen - T0) for s in stops(t.visits)] == [
        ("a", 0, 20),
        ("b", 80, 90),
    ]
    assert [(leg.origin, leg.destination, leg.seconds) for leg in legs(t)] == [("a", "b", 60)]


def test_legs_follow_time_not_the_order_the_store_gave() -> None:
    t = trip("g-1", ("c", 200, 210), ("a", 0, 10), ("b", 100, 110))
    assert [(leg.origin, leg.destination, leg.seconds) for leg in legs(t)] == [
        ("a", "b", 90),
        ("b", "c", 90),
    ]


def test_overlapping_views_give_a_journey_of_zero() -> None:
    """Guards negative journey times from cameras that see one spot."""
    t = trip("g-1", ("a", 0, 30), ("b", 20, 40))
    assert [leg.seconds for leg in legs(t)] == [0.0]


def test_a_tracklet_two_tracks_claim_counts_once_in_the_newest_decision() -> None:
    """Guards a merge counted twice while the retired track's last version has not been
    stored yet (the two travel in different partitions)."""
    old = trip("g-old", ("a", 0, 10), ("b", 60, 70), at=5.0)
    new = Trip(
        "g-new",
        "car",
        (*old.visits, Visit("c/9", "c", T0 + 130, T0 + 140)),
        decided_at=9.0,
    )
    kept = owned([old, new])
    assert [t.key for t in kept] == ["g-new"]
    assert len(kept[0].visits) == 3
    assert sum(r.count for r in od_bins([old, new], ALL)) == 1


# ---- bins ------------------------------------------------------------------------------


def test_journey_bins_by_arrival_with_p50_and_p85() -> None:
    """Guards journeys binned by departure, or percentiles over the wrong journeys."""
    trips = [
        trip(f"g-{i}", ("a", 0, 10), ("b", 10 + s, 20 + s))
        for i, s in enumerate(range(100, 1100, 100))
    ]
    rows = journey_bins(trips, ALL)
    times = sorted(range(100, 1100, 100))
    by_bin: dict[float, list[float]] = {}
    for s in times:
        by_bin.setdefault(T0 + BIN_S * math.floor((10 + s) / BIN_S), []).append(float(s))
    assert [(r.bin_start, r.count) for r in rows] == [
        (b, len(v)) for b, v in sorted(by_bin.items())
    ]
    for r in rows:
        assert (r.origin, r.destination, r.cls, r.source) == ("a", "b", "car", "tracks")
        assert r.p50_s == pytest.approx(np.percentile(by_bin[r.bin_start], 50), abs=0.05)
        assert r.p85_s == pytest.approx(np.percentile(by_bin[r.bin_start], 85), abs=0.05)


def test_od_is_first_to_last_stop_in_the_bin_of_the_start() -> None:
    """Guards OD from every pair of cameras (that is journeys), or binned by the end."""
    trips = [
        trip("g-1", ("a", 0, 10), ("b", 100, 110), ("c", 1000, 1010)),
        trip("g-2", ("a", 5, 10), ("c", 200, 210)),
        trip("g-3", ("b", 950, 960)),  # one camera only: the diagonal, next bin
        trip("g-4", ("a", 20, 30), ("b", 100, 110), cls="bus"),
    ]
    assert od_bins(trips, ALL) == [
        OdBin(bin_start=T0, origin="a", destination="b", cls="bus", count=1),
        OdBin(bin_start=T0, origin="a", destination="c", cls="car", count=2),
        OdBin(bin_start=T0 + BIN_S, origin="b", destination="b", cls="car", count=1),
    ]


@pytest.mark.parametrize(
    ("query", "want"),
    [
        (TrafficQuery(since=T0, until=T0 + BIN_S), [("a", "b", "car"), ("b", "c", "car")]),
        (TrafficQuery(since=T0 + BIN_S, until=T0 + 2 * BIN_S), [("a", "c", "bus")]),
        (TrafficQuery(since=0, until=4e9, camera="c"), [("b", "c", "car"), ("a", "c", "bus")]),
        (TrafficQuery(since=0, until=4e9, camera="a"), [("a", "b", "car"), ("a", "c", "bus")]),
        (TrafficQuery(since=0, until=4e9, cls="bus"), [("a", "c", "bus")]),
        (TrafficQuery(since=T0 + 1, until=4e9), [("a", "c", "bus")]),
    ],
)
def test_journey_query_filters(query: TrafficQuery, want: list[tuple[str, str, str]]) -> None:
    """Guards a camera filter that only matches origins, a class filter ignored, or a
    window that keeps the bin starting before ``since``."""
    trips = [
        trip("g-1", ("a", 0, 10), ("b", 100, 110), ("c", 200, 210)),
        trip("g-2", ("a", 0, 10), ("c", 1000, 1010), cls="bus"),
    ]
    got = [(r.origin, r.destination, r.cls) for r in journey_bins(trips, query)]
    assert got == want


def test_rows_of_both_sources_in_bin_order() -> None:
    def row(start: float, source: str) -> JourneyBin:
        return JourneyBin(
            bin_start=start,
            origin="a",
            destination="b",
            cls="car",
            source=source,
            count=1,  # type: ignore[arg-type]
        )

    merged = merge_rows([row(T0 + BIN_S, "tracks"), row(T0, "tracks")], [row(T0, "plates")])
    assert [(r.bin_start, r.source) for r in merged] == [
        (T0, "plates"),
        (T0, "tracks"),
        (T0 + BIN_S, "tracks"),
    ]
