"""The SQLite track store: idempotent, version-ordered upserts, search, retention."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from civicsight.events import PlateRead, TrackletRef, TrackUpdate
from civicsight.plate_text import SKELETON_KEY
from civicsight.sqlite_file import SqliteFile
from civicsight.store import BadCursorError, PlateQuery, TrackQuery
from civicsight.store.sqlite import MIGRATION_2, SCHEMA, SqliteTrackStore


def update(
    track: str,
    version: int,
    cls: str = "car",
    cameras: tuple[str, ...] = ("cam-a",),
    first: float = 100.0,
    last: float = 110.0,
    crop: bytes | None = None,
    closed: bool = False,
) -> TrackUpdate:
    return TrackUpdate(
        track_id=track,
        version=version,
        cls=cls,  # type: ignore[arg-type]
        tracklets=tuple(
            TrackletRef(camera_id=c, track_id=i + 1, first_seen=first, last_seen=last)
            for i, c in enumerate(cameras)
        ),
        first_seen=first,
        last_seen=last,
        emitted_at=last + 1,
        best_crop_jpeg=crop,
        closed=closed,
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteTrackStore]:
    s = SqliteTrackStore(tmp_path / "tracks.db")
    s.open()
    yield s
    s.close()


@pytest.mark.parametrize(
    ("versions", "expected"),
    [
        ([1, 2, 3], 3),
        ([1, 3, 2], 3),  # a late, older version never regresses the track
        ([2, 2, 2], 2),  # a replay is a no-op
        ([3, 1, 1, 2], 3),
    ],
)
def test_upserts_are_idempotent_and_keep_the_newest(
    store: SqliteTrackStore, versions: list[int], expected: int
) -> None:
    for v in versions:
        store.upsert(update("t-1", v, last=100.0 + v), stored_at=200.0)
    got = store.get("t-1")
    assert got is not None and got.version == expected and got.last_seen == 100.0 + expected
    assert store.versions() == [("t-1", v) for v in sorted(set(versions))]


def test_crop_survives_updates_without_one(store: SqliteTrackStore) -> None:
    """Updates send the crop only when it changed; the stored crop must not be erased."""
    store.upsert(update("t-1", 1, crop=b"\xff\xd8jpeg"), 1.0)
    store.upsert(update("t-1", 2), 2.0)
    assert store.crop("t-1") == b"\xff\xd8jpeg"
    got = store.get("t-1")
    assert got is not None and got.has_crop


def fill(store: SqliteTrackStore) -> None:
    for i in range(30):
        store.upsert(
            update(
                f"t-{i:02d}",
                1,
                cls="person" if i % 3 else "car",
                cameras=("cam-a",) if i % 2 else ("cam-a", "cam-b"),
                first=float(i * 10),
                last=float(i * 10 + 5),
            ),
            1.0,
        )


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (TrackQuery(limit=100), 30),
        (TrackQuery(cls="car", limit=100), 10),
        (TrackQuery(camera="cam-b", limit=100), 15),
        (TrackQuery(cls="car", camera="cam-b", limit=100), 5),
        (TrackQuery(since=200.0, limit=100), 10),  # last_seen >= 200
        (TrackQuery(until=49.0, limit=100), 5),  # first_seen <= 49
        (TrackQuery(camera="nowhere", limit=100), 0),
    ],
)
def test_search_filters(store: SqliteTrackStore, query: TrackQuery, expected: int) -> None:
    fill(store)
    assert len(store.search(query).items) == expected


def test_pagination_visits_every_track_once_newest_first(store: SqliteTrackStore) -> None:
    fill(store)
    seen: list[str] = []
    cursor = None
    while True:
        page = store.search(TrackQuery(limit=7, cursor=cursor))
        seen += [t.track_id for t in page.items]
        if page.next is None:
            break
        cursor = page.next
    assert seen == [f"t-{i:02d}" for i in range(29, -1, -1)]


def test_bad_cursor_is_refused(store: SqliteTrackStore) -> None:
    with pytest.raises(BadCursorError):
        store.search(TrackQuery(cursor="!!not-a-cursor"))


def test_retention_deletes_old_tracks_everywhere(store: SqliteTrackStore) -> None:
    fill(store)
    assert store.purge_before(100.0) == 10  # last_seen 5..95
    assert len(store.search(TrackQuery(limit=100)).items) == 20
    assert all(v[0] >= "t-10" for v in store.versions())
    assert store.search(TrackQuery(camera="cam-b", limit=100, until=99.0)).items == []


def test_latency_ignores_versions_that_only_close_a_track(store: SqliteTrackStore) -> None:
    first = update("t-1", 1, last=100.0)
    store.upsert(first, stored_at=100.5)
    store.upsert(update("t-1", 2, last=100.0, closed=True), stored_at=104.0)
    assert store.version_times() == [("t-1", 100.0, first.emitted_at, 100.5)]


def test_graph_path_finds_what_exact_search_finds(
    store: SqliteTrackStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guards the HNSW path (taken above 20,000 vectors, forced here): candidates looked
    up by id, replaced vectors dropped from the graph, filters applied after it."""
    import numpy as np

    from civicsight.events import Appearance
    from civicsight.store import SimilarQuery

    monkeypatch.setattr("civicsight.store.sqlite.EXACT_KNN_MAX", 0)
    rng = np.random.default_rng(5)
    vectors = rng.standard_normal((1500, 32)).astype(np.float32)

    def look(i: int, v: np.ndarray, quality: float = 0.5) -> Appearance:
        return Appearance(
            camera_id="cam-a" if i % 2 else "cam-b",
            track_id=i,
            captured_at=1000.0 + i,
            cls="car",
            quality=quality,
            model="m@1",
            embedding=tuple(v.tolist()),
        )

    store.write([look(i, v) for i, v in enumerate(vectors)], 1.0)
    assert store.warm() == 1500
    for i in range(0, 1500, 75):
        hits = store.search_similar(SimilarQuery(vectors[i], "car", "m@1", k=5))
        assert hits[0].tracklet == f"cam-{'a' if i % 2 else 'b'}/{i}"
    moved = vectors[7] * -1.0  # a better crop of tracklet 7 points the other way
    store.write([look(7, moved, quality=0.9)], 2.0)
    assert store.search_similar(SimilarQuery(vectors[7], "car", "m@1", k=1))[0].tracklet != (
        "cam-a/7"
    )
    only_b = store.search_similar(
        SimilarQuery(vectors[8], "car", "m@1", k=3, cameras=("cam-b",), since=1001.0)
    )
    assert only_b[0].tracklet == "cam-b/8" and all(h.camera_id == "cam-b" for h in only_b)


@pytest.mark.parametrize(
    ("data_class", "left"),
    [
        ("tracks", {"tracks": 0, "tracklet_crops": 0, "plate_reads": 1, "sightings": 1}),
        ("plates_non_hit", {"tracks": 1, "tracklet_crops": 1, "plate_reads": 0, "sightings": 1}),
        ("appearances", {"tracks": 1, "tracklet_crops": 1, "plate_reads": 1, "sightings": 0}),
    ],
)
def test_retention_purges_one_data_class_at_a_time(
    tmp_path: Path, data_class: str, left: dict[str, int]
) -> None:
    """Guards the per-class retention periods: purging non-hit plate reads (days) must not
    delete tracks (a month), nor the reverse."""
    from civicsight.events import Appearance, PlateRead, TrackletRef, TrackUpdate, global_track_id

    s = SqliteTrackStore(tmp_path / "t.db")
    s.open()
    ref = TrackletRef(camera_id="cam-a", track_id=1, first_seen=10.0, last_seen=20.0)
    events = [
        TrackUpdate(
            track_id=global_track_id("cam-a", 1),  # the tracklet's own track, with its crop
            version=1,
            cls="car",
            tracklets=(ref,),
            first_seen=10.0,
            last_seen=20.0,
            emitted_at=21.0,
            best_crop_jpeg=b"\xff\xd8crop",
        ),
        PlateRead(
            camera_id="cam-a",
            track_id=1,
            captured_at=15.0,
            text="AB123CD",
            conf=0.9,
            char_conf=(0.9,) * 7,
        ),
        Appearance(
            camera_id="cam-a",
            track_id=1,
            captured_at=15.0,
            cls="car",
            model="m",
            embedding=(1.0,) + (0.0,) * 127,
            quality=0.9,
        ),
    ]
    assert not s.write(events, 30.0).failed
    assert s.purge(data_class, 1000.0) >= 1
    counts = {t: s.db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in left}
    s.close()
    assert counts == left


def test_a_file_of_schema_1_is_upgraded_in_place(tmp_path: Path) -> None:
    """Guards an existing tracks.db (before per-tracklet crops and ``merged_into``)
    failing to open or losing its tracks on upgrade."""
    from civicsight.events import TrackletRef, global_track_id

    class Version1(SqliteTrackStore):
        migrations = (SCHEMA,)

        def open(self) -> None:
            SqliteFile.open(self)

    old = Version1(tmp_path / "t.db")
    old.open()
    old.db.execute(
        "INSERT INTO tracks VALUES ('t-old', 3, 'car', '[\"cam-a\"]', 1, 1.0, 2.0, 1, '[]', "
        "NULL, 3.0, 4.0)"
    )
    old.db.commit()
    old.close()
    s = SqliteTrackStore(tmp_path / "t.db")
    s.open()
    got = s.get("t-old")
    assert got is not None and got.version == 3 and got.merged_into is None
    assert s.db.execute("PRAGMA user_version").fetchone()[0] == len(s.migrations) == 5
    ref = TrackletRef(camera_id="cam-a", track_id=5, first_seen=1.0, last_seen=2.0)
    s.upsert(
        TrackUpdate(
            track_id=global_track_id("cam-a", 5),
            version=1,
            cls="car",
            tracklets=(ref,),
            first_seen=1.0,
            last_seen=2.0,
            emitted_at=3.0,
            best_crop_jpeg=b"\xff\xd8c",
        ),
        5.0,
    )
    assert s.tracklet_crop("cam-a/5") == b"\xff\xd8c"
    s.close()


@pytest.mark.parametrize("marker", [None, "0ODQ,1I,2Z,5S,6G,8B"], ids=["schema-2", "old-table"])
def test_plate_grams_of_another_lookalike_table_are_built_again(
    tmp_path: Path, marker: str | None
) -> None:
    """Guards fuzzy and pattern searches missing stored plates after the look-alike table
    changed (1/7 joined one class): the grams of a file indexed before (schema 2, or
    another table) must be built again when it opens, once."""

    class Before(SqliteTrackStore):
        migrations = (SCHEMA, MIGRATION_2) if marker is None else SqliteTrackStore.migrations

        def open(self) -> None:
            SqliteFile.open(self)

    old = Before(tmp_path / "t.db")
    old.open()
    read = PlateRead(camera_id="cam-a", track_id=4, captured_at=100.0, text="AB723CD", conf=0.9)
    old.write([read], 100.0)
    # the grams as the old table built them: 7 was a class of its own
    old.db.execute("DELETE FROM plate_grams")
    grams = {"^A8", "A87", "872", "723", "23C", "3C0", "C0$"}
    old.db.executemany("INSERT INTO plate_grams VALUES (?, 1)", [(g,) for g in grams])
    if marker is not None:
        old.db.execute("DELETE FROM plate_index")
        old.db.execute("INSERT INTO plate_index VALUES (?)", (marker,))
    old.db.commit()
    old.close()

    s = SqliteTrackStore(tmp_path / "t.db")
    s.open()
    for query in (
        PlateQuery("fuzzy", "AB123CD", max_distance=0.25),
        PlateQuery("pattern", "*723CD"),
    ):
        assert [h.text for h in s.search_plates(query).items] == ["AB723CD"]
    assert s.db.execute("SELECT skeleton FROM plate_index").fetchall() == [(SKELETON_KEY,)]
    s.close()
