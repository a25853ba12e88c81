"""The indexer's batch step: what the store refuses goes to the DLQ with its reason,
the rest is written once. Real SQLite; for Elasticsearch (no server here) the client
is a fake at the network boundary that refuses one item."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from civicsight.bus import Received
from civicsight.events import (
    Appearance,
    PlateRead,
    PlateSighting,
    TrackletRef,
    TrackUpdate,
    TrafficBins,
)
from civicsight.plate_journeys import PlateJourneys
from civicsight.pseudonyms import utc_day
from civicsight.services.indexer.logic import capture_ages, index_batch, match_sightings
from civicsight.store import PlateQuery
from civicsight.store.elastic import ElasticTrackStore
from civicsight.store.sqlite import SqliteTrackStore
from civicsight.traffic import CameraBin, CountBin, TrafficQuery, ZoneBin

T0 = 1_700_000_000.0
TRACK = TrackUpdate(
    track_id="t-1",
    version=1,
    cls="car",
    tracklets=(TrackletRef(camera_id="cam-a", track_id=1, first_seen=T0, last_seen=T0 + 1),),
    first_seen=T0,
    last_seen=T0 + 1,
    emitted_at=T0 + 2,
)
PLATE = PlateRead(camera_id="cam-a", track_id=1, captured_at=T0, text="AB123CD", conf=0.9)
LOOK = Appearance(
    camera_id="cam-a",
    track_id=1,
    captured_at=T0,
    cls="car",
    quality=0.5,
    model="m@1",
    embedding=(1.0,) * 8,
)


def received(*events: Any) -> list[Received]:
    return [Received("t", "k", e, None) for e in events]  # type: ignore[arg-type]


def test_sqlite_batch_is_written_once(tmp_path: Path) -> None:
    """Guards a replayed batch (redelivery after a crash) counted or stored twice."""
    store = SqliteTrackStore(tmp_path / "tracks.db")
    store.open()
    dead: list[str] = []
    batch = received(TRACK, PLATE, LOOK)
    assert index_batch(store, batch, lambda _r, why: dead.append(why), T0) == 3
    assert index_batch(store, batch, lambda _r, why: dead.append(why), T0) == 0
    assert dead == []
    assert [h.track_id for h in store.search_plates(PlateQuery("exact", "AB123CD")).items] == [
        "t-1"
    ]
    store.close()


class RefusingClient:
    """Network boundary fake: refuses the plate document as a strict mapping would."""

    def bulk(self, operations: list[dict[str, Any]], refresh: bool) -> dict[str, Any]:
        items = []
        for head in operations[::2]:
            if head["index"]["_index"].endswith(("plate-reads", "traffic-zones")):
                error = {"type": "strict_dynamic_mapping_exception", "reason": "no [race]"}
                items.append({"index": {"status": 400, "error": error}})
            else:
                items.append({"index": {"status": 201}})
        return {"errors": True, "items": items}


def test_refused_items_go_to_the_dlq_with_the_reason() -> None:
    """Guards an item the cluster refused being committed silently (lost) or blocking
    the partition forever."""
    store = ElasticTrackStore("http://es", client=RefusingClient())
    dead: list[tuple[Any, str]] = []
    batch = received(TRACK, PLATE, LOOK)
    assert index_batch(store, batch, lambda r, why: dead.append((r.event, why)), T0) == 2
    assert dead == [(PLATE, "store refused: 400 strict_dynamic_mapping_exception: no [race]")]


def test_capture_ages_are_the_stored_track_versions_end_to_end_latency() -> None:
    """Guards the capture -> store metric measuring the wrong thing: it is now minus the
    capture time of each stored track version's last observation, for track versions
    only, and never for one the store refused."""
    other = TRACK.model_copy(update={"track_id": "t-2", "last_seen": T0 + 4})
    batch = received(TRACK, PLATE, LOOK, other)
    assert capture_ages(batch, [], T0 + 11) == [10.0, 7.0]
    assert capture_ages(batch, [batch[3]], T0 + 11) == [10.0]
    assert capture_ages(batch, [], T0) == [0.0, 0.0]  # a clock behind never goes negative


def test_capture_ages_leave_out_closing_and_joined_versions() -> None:
    """Guards the latency figure mixing in versions that are late by design: a track's
    closing version (sent after its timeout) and the cross-camera join's ``g-`` tracks
    (decided after a settle window) say nothing about how fast the hub follows a camera."""
    closing = TRACK.model_copy(update={"track_id": "t-3", "closed": True})
    joined = TRACK.model_copy(update={"track_id": "g-4"})
    batch = received(TRACK, closing, joined)
    assert capture_ages(batch, [], T0 + 11) == [10.0]


# ---- plate sightings -------------------------------------------------------------------


def sighting(camera: str, at: float) -> PlateSighting:
    return PlateSighting(
        camera_id=camera,
        captured_at=at,
        cls="car",
        pseudonym="0123456789abcdef",
        key_day=utc_day(at),
    )


def test_sightings_become_journey_bins_and_nothing_else(tmp_path: Path) -> None:
    """Guards sightings written to the track store as they are (pseudonyms kept), a
    sightings-only batch sent to the store as an empty write (Elasticsearch refuses an
    empty bulk), and bins that change with every wall-clock tick."""
    store = SqliteTrackStore(tmp_path / "tracks.db")
    store.open()
    matcher = PlateJourneys(run="0000abcd", lateness_s=0)
    batch = received(sighting("cam-a", T0), sighting("cam-b", T0 + 90))
    assert index_batch(RefusingClientStore(), batch, lambda _r, _why: None, T0) == 0
    assert match_sightings(store, matcher, batch, T0 + 91) == 1
    assert match_sightings(store, matcher, [], T0 + 500) == 0  # the idle tick: nothing new
    rows = store.journeys(TrafficQuery(since=0, until=4e9))
    assert [(r.origin, r.destination, r.source, r.count, r.p50_s) for r in rows] == [
        ("cam-a", "cam-b", "plates", 1, 90.0)
    ]
    tables = [r[0] for r in store.db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    for table in tables:
        for row in store.db.execute(f"SELECT * FROM {table}"):
            assert "0123456789abcdef" not in str(row)
    store.close()


class RefusingClientStore:
    """A store that fails the test if it is asked to write anything."""

    def write(self, events: Any, stored_at: float) -> Any:
        raise AssertionError(f"asked to write {events!r}")


def bins(count: int, at: float, camera: str = "cam-a") -> TrafficBins:
    return TrafficBins.of(
        camera,
        [
            CameraBin(bin_start=T0 - 100, camera=camera, up=True),
            CountBin(
                bin_start=T0 - 100, camera=camera, rule="l1", direction="in", cls="car", count=count
            ),
        ],
        at,
    )


def test_sqlite_traffic_bins_replace_their_rows(tmp_path: Path) -> None:
    """Guards traffic_bins never reaching the store (the traffic API would read nothing),
    and a bin sent again as it fills, or redelivered, adding up instead of replacing."""
    store = SqliteTrackStore(tmp_path / "tracks.db")
    store.open()
    dead: list[str] = []
    batch = received(TRACK, bins(2, T0), bins(3, T0 + 5))
    assert index_batch(store, batch, lambda _r, why: dead.append(why), T0 + 6) == 1
    assert index_batch(store, batch, lambda _r, why: dead.append(why), T0 + 7) == 0
    q = TrafficQuery(since=T0 - 1000, until=T0)
    assert [r.count for r in store.counts(q)] == [3] and dead == []
    assert [r.up for r in store.camera_bins(q)] == [True]
    store.close()


def test_refused_traffic_rows_go_to_the_dlq_with_the_reason() -> None:
    """Guards a traffic message the cluster refused committed silently, or blocking the
    messages after it."""
    store = ElasticTrackStore("http://es", client=RefusingClient())
    zone = ZoneBin(
        bin_start=T0 - 100,
        camera="cam-a",
        zone="bay",
        cls="car",
        entries=1,
        exits=0,
        occupancy_mean=0.1,
        occupancy_max=1,
        dwell_count=0,
    )
    refused = TrafficBins.of("cam-a", [zone], T0)
    dead: list[tuple[Any, str]] = []
    index_batch(
        store, received(bins(1, T0), refused), lambda r, why: dead.append((r.event, why)), T0
    )
    assert [(e, why.split(";")[0]) for e, why in dead] == [
        (refused, "store refused: 1 of 1 traffic rows refused")
    ]
