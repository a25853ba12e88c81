"""Journeys on SQLite: the schema step on a file made before it, and the read-time query
staying on its index (the behaviour both stores share is test_journeys_contract.py)."""

from __future__ import annotations

from pathlib import Path

from civicsight.events import TrackletRef, TrackUpdate
from civicsight.store.journeys_sql import TRIPS
from civicsight.store.sqlite import SqliteTrackStore
from civicsight.traffic import TrafficQuery

T0 = 1_790_000_100.0


def update(track_id: str) -> TrackUpdate:
    refs = (
        TrackletRef(camera_id="cam-a", track_id=1, first_seen=T0, last_seen=T0 + 5),
        TrackletRef(camera_id="cam-b", track_id=2, first_seen=T0 + 65, last_seen=T0 + 70),
    )
    return TrackUpdate(
        track_id=track_id,
        version=1,
        cls="car",
        tracklets=refs,
        first_seen=T0,
        last_seen=T0 + 70,
        emitted_at=T0 + 71,
    )


class StoreBeforeJourneys(SqliteTrackStore):
    migrations = SqliteTrackStore.migrations[:3]


def test_a_store_made_before_journeys_is_upgraded_with_its_tracks(tmp_path: Path) -> None:
    """Guards a data folder of the previous release: its tracks must give journeys after
    the upgrade (the index is built over the existing tracklets, the parts table added)."""
    path = tmp_path / "tracks.db"
    old = StoreBeforeJourneys(path)
    old.open()
    old.write([update("g-1")], T0)
    old.close()
    store = SqliteTrackStore(path)
    store.open()
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == len(store.migrations)
    rows = store.journeys(TrafficQuery(since=0, until=4e9))
    assert [(r.origin, r.destination, r.count, r.p50_s) for r in rows] == [
        ("cam-a", "cam-b", 1, 60.0)
    ]
    store.close()


def test_the_read_time_query_uses_the_tracklet_start_index(tmp_path: Path) -> None:
    """Guards a query that scans every tracklet of the store for each traffic request
    (the bench's 100k tracks stay fast only through this index)."""
    store = SqliteTrackStore(tmp_path / "tracks.db")
    store.open()
    plan = " ".join(
        str(row[-1]) for row in store.db.execute("EXPLAIN QUERY PLAN " + TRIPS, [T0, T0 + 900])
    )
    store.close()
    assert "track_tracklets_first_seen" in plan
    assert "SCAN tt" not in plan and "SCAN t " not in plan


def test_no_pseudonym_column_exists(tmp_path: Path) -> None:
    """Guards a schema that could hold what matching needed (pseudonyms) beyond it."""
    store = SqliteTrackStore(tmp_path / "tracks.db")
    store.open()
    columns = {r[1] for r in store.db.execute("PRAGMA table_info(journey_parts)")}
    store.close()
    assert columns == {
        "bin_start",
        "origin",
        "destination",
        "cls",
        "run",
        "count",
        "seconds",
        "stored_at",
    }
