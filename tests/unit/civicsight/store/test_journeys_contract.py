"""Journey times and origin-destination: one behaviour for every store backend (SQLite
always; Elasticsearch when CIVICSIGHT_ES_URL names a cluster, see conftest.py: none can
run on the CI machines, so there the request bodies are tested in test_journeys_es.py).

The tracks are written as the stream app publishes them: per-tracklet ``t-`` tracks
beside the join's ``g-`` tracks, revisions, merges (``merged_into``) and splits. Each test
names the bug it guards."""

from __future__ import annotations

from typing import Any

import pytest

from civicsight.events import TrackletRef, TrackUpdate, global_track_id
from civicsight.plate_journeys import JourneyPart
from civicsight.store import TrackStore
from civicsight.traffic import BIN_S, JourneyBin, OdBin, TrafficQuery

T0 = 1_790_000_100.0  # a bin start
ALL = TrafficQuery(since=0.0, until=4e9)
Leg = tuple[str, int, float, float]


def track(
    track_id: str,
    version: int,
    legs: tuple[Leg, ...],
    cls: str = "car",
    merged_into: str | None = None,
    emitted_at: float | None = None,
) -> TrackUpdate:
    refs = tuple(
        TrackletRef(camera_id=c, track_id=n, first_seen=T0 + f, last_seen=T0 + last)
        for c, n, f, last in legs
    )
    return TrackUpdate(
        track_id=track_id,
        version=version,
        cls=cls,  # type: ignore[arg-type]
        tracklets=refs,
        first_seen=min(r.first_seen for r in refs),
        last_seen=max(r.last_seen for r in refs),
        emitted_at=emitted_at if emitted_at is not None else T0 + 5000 + version,
        closed=merged_into is not None,
        merged_into=merged_into,
    )


def own(*legs: Leg) -> list[TrackUpdate]:
    """Each tracklet's own track, as the tracklet stage publishes it beside the join."""
    return [track(global_track_id(c, n), 2, ((c, n, f, last),)) for c, n, f, last in legs]


A, B, C = ("cam-a", 1, 0.0, 10.0), ("cam-b", 2, 70.0, 80.0), ("cam-c", 3, 200.0, 210.0)


def od(store: Any, query: TrafficQuery = ALL) -> list[tuple[str, str, str, int]]:
    return [(r.origin, r.destination, r.cls, r.count) for r in store.od(query)]


def trips(store: Any, query: TrafficQuery = ALL) -> list[tuple[str, str, float | None, int]]:
    return [(r.origin, r.destination, r.p50_s, r.count) for r in store.journeys(query)]


def test_journeys_and_od_come_from_the_joins_tracks_only(store: TrackStore) -> None:
    """Guards counting the per-tracklet t- tracks (every visit a trip of its own: the OD
    matrix would be mostly its diagonal, twice the trips)."""
    store.write([*own(A, B, C), track("g-1", 1, (A, B, C))], T0)
    assert od(store) == [("cam-a", "cam-c", "car", 1)]
    assert trips(store) == [("cam-a", "cam-b", 60.0, 1), ("cam-b", "cam-c", 120.0, 1)]
    rows = store.journeys(ALL)  # type: ignore[attr-defined]
    assert all(isinstance(r, JourneyBin) and r.source == "tracks" for r in rows)
    assert all(isinstance(r, OdBin) and r.bin_start == T0 for r in store.od(ALL))  # type: ignore[attr-defined]


def test_the_latest_version_counts_and_a_merged_track_counts_once(store: TrackStore) -> None:
    """Guards an old version counted after the join revised it, and a merge counted twice
    (the retired track's last version repeats its holder's tracklets)."""
    store.write(
        [
            track("g-1", 1, (A,)),
            track("g-3", 1, (C,)),
            track("g-1", 2, (A, B)),
            track("g-1", 3, (A, B, C)),  # the join merged g-3 into g-1
            track("g-3", 2, (A, B, C), merged_into="g-1"),
        ],
        T0,
    )
    assert od(store) == [("cam-a", "cam-c", "car", 1)]
    assert [c for *_, c in trips(store)] == [1, 1]


def test_a_merge_half_stored_counts_once(store: TrackStore) -> None:
    """Guards the window between storing a merge's new holder and the retired track's last
    version (different partitions): the tracklets count in the newest decision only."""
    store.write(
        [
            track("g-3", 1, (C,), emitted_at=T0 + 300),
            track("g-1", 2, (A, B, C), emitted_at=T0 + 400),
        ],
        T0,
    )
    assert od(store) == [("cam-a", "cam-c", "car", 1)]


def test_an_investigators_split_is_honoured(store: TrackStore) -> None:
    """Guards a split track still counted as one trip (its journey B -> C is not one)."""
    store.write(
        [
            track("g-1", 1, (A, B, C)),
            track("g-1", 2, (A, B)),  # split: C is another vehicle
            track("g-3", 1, (C,)),
        ],
        T0,
    )
    assert od(store) == [("cam-a", "cam-b", "car", 1), ("cam-c", "cam-c", "car", 1)]
    assert trips(store) == [("cam-a", "cam-b", 60.0, 1)]


@pytest.mark.parametrize(
    ("query", "want_od", "want_journeys"),
    [
        (ALL, 4, 3),
        (TrafficQuery(since=T0, until=T0 + BIN_S), 3, 1),
        # the bus left in the first bin and arrived in the second: its journey is there
        (TrafficQuery(since=T0 + BIN_S, until=T0 + 2 * BIN_S), 1, 2),
        (TrafficQuery(since=0, until=4e9, cls="bus"), 1, 1),
        (TrafficQuery(since=0, until=4e9, camera="cam-c"), 2, 1),
        (TrafficQuery(since=0, until=4e9, camera="cam-d"), 0, 0),
    ],
)
def test_journey_and_od_queries(
    store: TrackStore, query: TrafficQuery, want_od: int, want_journeys: int
) -> None:
    """Guards a window on the track's start for journeys (a journey arriving in the asked
    bin from a trip that started before it is lost), a camera filter only on origins, and
    a class filter ignored."""
    late = ("cam-c", 9, BIN_S - 100, BIN_S + 50)
    arrive = ("cam-c", 8, BIN_S + 100, BIN_S + 120)
    store.write(
        [
            track("g-1", 1, (A, B)),
            track("g-2", 1, (("cam-a", 5, 20.0, 30.0), arrive), cls="bus"),
            track(
                "g-9",
                1,
                (("cam-b", 7, BIN_S + 10, BIN_S + 20), ("cam-a", 6, BIN_S + 90, BIN_S + 95)),
            ),
            track("g-8", 1, (late,)),
        ],
        T0,
    )
    assert sum(r.count for r in store.od(query)) == want_od  # type: ignore[attr-defined]
    assert sum(r.count for r in store.journeys(query)) == want_journeys  # type: ignore[attr-defined]


def part(run: str, *seconds: float, start: float = T0, cls: str = "car") -> JourneyPart:
    return JourneyPart(
        bin_start=start,
        origin="cam-a",
        destination="cam-b",
        cls=cls,  # type: ignore[arg-type]
        run=run,
        seconds=seconds,
    )


def test_plate_journey_parts_are_idempotent_and_read_as_bins(store: TrackStore) -> None:
    """Guards a replayed part counted again, an older part replacing a fuller one, and two
    runs' parts (before and after a restart) not added up."""
    s: Any = store
    assert s.write_journey_parts([part("aaaaaaaa", 10.0)], T0) == 1
    assert s.write_journey_parts([part("aaaaaaaa", 10.0, 30.0)], T0) == 1
    assert s.write_journey_parts([part("aaaaaaaa", 10.0, 30.0)], T0) == 0  # a replay
    assert s.write_journey_parts([part("aaaaaaaa", 10.0)], T0) == 0  # older: refused
    s.write_journey_parts([part("bbbbbbbb", 20.0), part("bbbbbbbb", 5.0, start=T0 + BIN_S)], T0)
    s.write([track("g-1", 1, (A, B))], T0)
    rows = s.journeys(ALL)
    assert [(r.bin_start, r.source, r.count, r.p50_s) for r in rows] == [
        (T0, "plates", 3, 20.0),
        (T0, "tracks", 1, 60.0),
        (T0 + BIN_S, "plates", 1, 5.0),
    ]
    assert rows[0].p85_s == 27.0
    assert [r.count for r in s.journeys(TrafficQuery(since=T0 + 1, until=4e9))] == [1]
    assert s.journeys(TrafficQuery(since=0, until=4e9, cls="bus")) == []
    assert s.journeys(TrafficQuery(since=0, until=4e9, camera="cam-c")) == []
    assert s.od(ALL) == [
        OdBin(bin_start=T0, origin="cam-a", destination="cam-b", cls="car", count=1)
    ]
