"""The traffic rows in both stores (``traffic_sql.py``, ``traffic_es.py``): written by the
indexer, read back by the API and the exports. SQLite always; Elasticsearch whenever
CIVICSIGHT_ES_URL names a cluster (none can run on the CI machines: there its requests
are checked body by body in test_traffic_es.py)."""

from __future__ import annotations

import pytest

from civicsight.store import TrackStore
from civicsight.traffic import (
    BIN_S,
    CameraBin,
    CountBin,
    SpeedBin,
    TrafficQuery,
    TurnBin,
    ZoneBin,
)

B = 1_700_000_100.0
STORED_AT = B + 2000


def count(camera: str, b: float, n: int, cls: str = "car", way: str = "north") -> CountBin:
    return CountBin(bin_start=b, camera=camera, rule="mid", direction=way, cls=cls, count=n)


def zone(b: float, entries: int) -> ZoneBin:
    return ZoneBin(
        bin_start=b,
        camera="street",
        zone="bay",
        cls="car",
        entries=entries,
        exits=entries - 1,
        occupancy_mean=0.75,
        occupancy_max=2,
        dwell_count=entries - 1,
        dwell_p50_s=30.5 if entries > 1 else None,
        dwell_p90_s=41.0 if entries > 1 else None,
    )


ROWS = [
    CameraBin(bin_start=B, camera="street", up=True),
    CameraBin(bin_start=B + BIN_S, camera="street", up=False),
    CameraBin(bin_start=B, camera="plaza", up=True),
    count("street", B, 4),
    count("street", B, 1, way="south"),
    count("street", B, 2, cls="bus"),
    count("street", B + BIN_S, 7),
    count("plaza", B, 3),
    zone(B, 3),
    TurnBin(bin_start=B, camera="street", entry="mid", exit="east", cls="car", count=2),
    SpeedBin(
        bin_start=B,
        camera="street",
        rule="mid",
        cls="car",
        count=4,
        p15_kmh=22.5,
        p50_kmh=31.0,
        p85_kmh=44.25,
    ),
    SpeedBin(bin_start=B, camera="street", rule="mid", cls="bus", count=0),
]


def test_rows_come_back_as_written_in_bin_order(store: TrackStore) -> None:
    """Guards a field lost or renamed between the row and the store (the API would
    publish it wrong), and rows out of bin order."""
    assert store.write_traffic(ROWS, STORED_AT) == len(ROWS)
    everything = TrafficQuery(since=B, until=B + 2 * BIN_S)
    src = store  # the store is the API's TrafficSource
    assert src.camera_bins(everything) == sorted(ROWS[:3], key=lambda r: (r.bin_start, r.camera))
    counts = src.counts(everything)
    assert counts == sorted(
        ROWS[3:8], key=lambda r: (r.bin_start, r.camera, r.rule, r.direction, r.cls)
    )
    assert src.zones(everything) == [ROWS[8]]
    assert src.turns(everything) == [ROWS[9]]
    assert src.speeds(everything) == [ROWS[11], ROWS[10]]


@pytest.mark.parametrize(
    ("query", "want"),
    [
        (
            TrafficQuery(since=B, until=B + BIN_S),
            [("plaza", B, "car"), ("street", B, "bus"), ("street", B, "car"), ("street", B, "car")],
        ),
        (TrafficQuery(since=B + 1, until=B + 2 * BIN_S), [("street", B + BIN_S, "car")]),
        (TrafficQuery(since=B, until=B + 2 * BIN_S, camera="plaza"), [("plaza", B, "car")]),
        (TrafficQuery(since=B, until=B + 2 * BIN_S, cls="bus"), [("street", B, "bus")]),
        (TrafficQuery(since=B + 2 * BIN_S, until=B + 3 * BIN_S), []),
    ],
)
def test_queries_take_bins_starting_in_since_until(
    store: TrackStore, query: TrafficQuery, want: list[tuple[str, float, str]]
) -> None:
    """Guards a closed upper bound (the next bin would be read twice by a reader paging
    by bins) and camera or class filters ignored."""
    store.write_traffic(ROWS, STORED_AT)
    got = [(r.camera, r.bin_start, r.cls) for r in store.counts(query)]
    assert got == want
    ups = store.camera_bins(TrafficQuery(since=B, until=B + BIN_S, cls="bus"))
    assert len(ups) == 2  # the class does not apply to whether a camera worked


def test_a_row_written_again_replaces_the_stored_one(store: TrackStore) -> None:
    """A bin sent again as it fills, or recounted: the newer row wins, never the sum.
    Guards counts that add up on every message (or after a redelivery)."""
    store.write_traffic(ROWS, STORED_AT)
    store.write_traffic(ROWS, STORED_AT)  # redelivered
    store.write_traffic([count("street", B, 6), zone(B, 5)], STORED_AT + 5)
    store.write_traffic(
        [TurnBin(bin_start=B, camera="street", entry="mid", exit="east", cls="car", count=0)],
        STORED_AT + 5,
    )
    q = TrafficQuery(since=B, until=B + BIN_S, camera="street", cls="car")
    got = {(r.direction, r.count) for r in store.counts(q)}
    assert got == {("north", 6), ("south", 1)}
    (z,) = store.zones(q)
    assert (z.entries, z.exits, z.dwell_p50_s) == (5, 4, 30.5)
    (t,) = store.turns(q)
    assert t.count == 0


def test_retention_deletes_old_bins_only(store: TrackStore) -> None:
    """Guards traffic bins deleted with the tracks (30 days) instead of after their own,
    much longer period, and the cut-off applied to the wrong field."""
    store.write_traffic(ROWS, STORED_AT)
    assert "traffic" in store.data_classes
    store.purge("tracks", B + 10 * BIN_S)
    everything = TrafficQuery(since=0, until=B + 10 * BIN_S)
    assert len(store.counts(everything)) == 5
    assert store.purge("traffic", B + BIN_S) == 2  # the camera bins of the first bin
    assert [r.bin_start for r in store.counts(everything)] == [B + BIN_S]
    assert [r.up for r in store.camera_bins(everything)] == [False]
    assert store.zones(everything) == [] and store.speeds(everything) == []
