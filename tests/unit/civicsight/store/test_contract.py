"""One behaviour for every store backend (see conftest.py: SQLite always, Elasticsearch
when CIVICSIGHT_ES_URL is set). Each test names the bug it guards."""

from __future__ import annotations

import numpy as np
import pytest

from civicsight.events import (
    Appearance,
    PlateRead,
    TrackletRef,
    TrackUpdate,
    global_track_id,
)
from civicsight.plate_text import PatternError
from civicsight.store import (
    BadCursorError,
    PlateQuery,
    SimilarQuery,
    TrackQuery,
    TrackStore,
)

T0 = 1_700_000_000.0
MODEL = "reid-test@1"
DIM = 16


def track(
    track_id: str,
    version: int,
    legs: tuple[tuple[str, int, float, float], ...],
    cls: str = "car",
    crop: bytes | None = None,
    merged_into: str | None = None,
) -> TrackUpdate:
    refs = tuple(
        TrackletRef(camera_id=c, track_id=n, first_seen=f, last_seen=last) for c, n, f, last in legs
    )
    return TrackUpdate(
        track_id=track_id,
        version=version,
        cls=cls,  # type: ignore[arg-type]
        tracklets=refs,
        first_seen=min(r.first_seen for r in refs),
        last_seen=max(r.last_seen for r in refs),
        emitted_at=max(r.last_seen for r in refs) + 1 + version,
        best_crop_jpeg=crop,
        closed=merged_into is not None,
        merged_into=merged_into,
    )


def own(leg: tuple[str, int, float, float], version: int, crop: bytes | None) -> TrackUpdate:
    """A version of the tracklet's own track (``t-…``), as the stream app publishes it."""
    return track(global_track_id(leg[0], leg[1]), version, (leg,), crop=crop)


def jpeg(tag: str) -> bytes:
    return b"\xff\xd8" + tag.encode()


def read(camera: str, n: int, text: str, conf: float, at: float) -> PlateRead:
    return PlateRead(camera_id=camera, track_id=n, captured_at=at, text=text, conf=conf)


def look(
    camera: str, n: int, vector: np.ndarray, at: float, quality: float = 0.8, cls: str = "car"
) -> Appearance:
    return Appearance(
        camera_id=camera,
        track_id=n,
        captured_at=at,
        cls=cls,  # type: ignore[arg-type]
        quality=quality,
        model=MODEL,
        embedding=tuple(float(v) for v in vector),
    )


def basis(i: int) -> np.ndarray:
    v = np.zeros(DIM, np.float32)
    v[i] = 1.0
    return v


# ---- tracks ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("versions", "expected"),
    [
        ([1, 2, 3], 3),
        ([1, 3, 2], 3),  # a late, older version never regresses the track
        ([2, 2, 2], 2),  # a replay is a no-op
        ([3, 1, 1, 2], 3),
    ],
)
def test_track_versions_are_idempotent_and_never_regress(
    store: TrackStore, versions: list[int], expected: int
) -> None:
    for v in versions:
        store.write([track("t-1", v, (("cam-a", 1, T0, T0 + v),))], stored_at=T0 + 100)
    got = store.get("t-1")
    assert got is not None and got.version == expected and got.last_seen == T0 + expected


def test_write_counts_only_what_was_newer(store: TrackStore) -> None:
    """Guards an indexer that counts replays as new writes."""
    batch = [
        track("t-1", 1, (("cam-a", 1, T0, T0 + 1),)),
        read("cam-a", 1, "AB123CD", 0.9, T0),
        look("cam-a", 1, basis(0), T0),
    ]
    assert store.write(batch, T0).applied == 3
    assert store.write(batch, T0).applied == 0


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (TrackQuery(limit=100), 6),
        (TrackQuery(cls="person", limit=100), 3),
        (TrackQuery(camera="cam-b", limit=100), 2),
        (TrackQuery(since=T0 + 40, limit=100), 2),
        (TrackQuery(until=T0 + 15, limit=100), 2),
    ],
)
def test_track_search_filters(store: TrackStore, query: TrackQuery, expected: int) -> None:
    for i in range(6):
        cam = "cam-b" if i % 3 == 0 else "cam-a"
        cls = "person" if i % 2 else "car"
        store.write([track(f"t-{i}", 1, ((cam, i, T0 + 10 * i, T0 + 10 * i + 5),), cls)], T0)
    assert len(store.search(query).items) == expected


# ---- plates ----------------------------------------------------------------------------

PLATES = [
    # camera, tracker id, text, conf, seconds after T0
    ("cam-a", 1, "AB123CD", 0.95, 10),
    ("cam-b", 2, "AB123CD", 0.80, 50),  # the same car on another camera, later
    ("cam-a", 3, "A8I23CD", 0.60, 20),  # an OCR misread of it (B->8, 1->I)
    ("cam-a", 4, "AB723CD", 0.90, 30),  # a different car, one look-alike apart (1/7)
    ("cam-b", 5, "XY999ZZ", 0.90, 40),
    ("cam-a", 6, "ABX12QQ", 0.90, 60),
    ("cam-b", 7, "ABC12Q", 0.90, 70),
]


@pytest.fixture
def plates(store: TrackStore) -> TrackStore:
    store.write(
        [track(f"t-{n}", 1, ((c, n, T0 + s, T0 + s + 2),)) for c, n, _, _, s in PLATES]
        + [read(c, n, text, conf, T0 + s) for c, n, text, conf, s in PLATES],
        T0,
    )
    return store


def texts(store: TrackStore, query: PlateQuery) -> list[tuple[str, str, float]]:
    return [(h.text, h.camera_id, h.distance) for h in store.search_plates(query).items]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # exact: newest first; a misread is not an exact match
        (
            PlateQuery("exact", "AB123CD"),
            [("AB123CD", "cam-b", 0.0), ("AB123CD", "cam-a", 0.0)],
        ),
        (PlateQuery("exact", "ab-123 cd"), [("AB123CD", "cam-b", 0.0), ("AB123CD", "cam-a", 0.0)]),
        (PlateQuery("exact", "AB123CD", camera="cam-a"), [("AB123CD", "cam-a", 0.0)]),
        (PlateQuery("exact", "AB123CD", until=T0 + 30), [("AB123CD", "cam-a", 0.0)]),
        (PlateQuery("exact", "AB123CD", since=T0 + 30), [("AB123CD", "cam-b", 0.0)]),
        (PlateQuery("exact", "ZZ000ZZ"), []),
        # pattern: ? one character, * any run, anchored at both ends
        (
            PlateQuery("pattern", "AB?12*"),
            [("ABC12Q", "cam-b", 0.0), ("ABX12QQ", "cam-a", 0.0)],
        ),
        (PlateQuery("pattern", "AB?12Q"), [("ABC12Q", "cam-b", 0.0)]),
        (PlateQuery("pattern", "*999*"), [("XY999ZZ", "cam-b", 0.0)]),
        (
            PlateQuery("pattern", "*23CD"),
            [
                ("AB123CD", "cam-b", 0.0),
                ("AB723CD", "cam-a", 0.0),
                ("A8I23CD", "cam-a", 0.0),
                ("AB123CD", "cam-a", 0.0),
            ],
        ),
        # fuzzy: look-alikes (civicsight.plate_text, the join's table too) cost 0.25 each,
        # other edits 1; 1/7 is a look-alike
        (
            PlateQuery("fuzzy", "AB123CD", max_distance=0.25),
            [("AB123CD", "cam-b", 0.0), ("AB123CD", "cam-a", 0.0), ("AB723CD", "cam-a", 0.25)],
        ),
        (
            PlateQuery("fuzzy", "AB123CD", max_distance=0.5),
            [
                ("AB123CD", "cam-b", 0.0),
                ("AB123CD", "cam-a", 0.0),
                ("AB723CD", "cam-a", 0.25),
                ("A8I23CD", "cam-a", 0.5),
            ],
        ),
        (
            PlateQuery("fuzzy", "ABI23CD", max_distance=0.5),  # I/7 is no look-alike pair
            [("AB123CD", "cam-b", 0.25), ("A8I23CD", "cam-a", 0.25), ("AB123CD", "cam-a", 0.25)],
        ),
    ],
)
def test_plate_search(
    plates: TrackStore, query: PlateQuery, expected: list[tuple[str, str, float]]
) -> None:
    """Guards misses and false hits of exact, pattern and OCR-aware fuzzy plate search,
    and the order (nearest, then newest)."""
    got = texts(plates, query)
    assert got == expected


def test_plate_hits_name_their_track(plates: TrackStore) -> None:
    """Guards plate hits that cannot be followed to the track."""
    hits = plates.search_plates(PlateQuery("exact", "XY999ZZ")).items
    assert [(h.track_id, h.tracklet, h.conf) for h in hits] == [("t-5", "cam-b/5", 0.9)]


@pytest.mark.parametrize(
    "query",
    [
        PlateQuery("pattern", "*1*"),  # too vague: would match a large part of all plates
        PlateQuery("pattern", "A?B?C"),
        PlateQuery("pattern", "AB$12"),
        PlateQuery("pattern", ""),
        PlateQuery("exact", "AB_12"),
        PlateQuery("exact", "A" * 13),
        PlateQuery("fuzzy", "AB1", max_distance=1.0),  # too short for the distance
        PlateQuery("fuzzy", "AB123CD", max_distance=3.0),
    ],
)
def test_bad_plate_queries_are_refused(plates: TrackStore, query: PlateQuery) -> None:
    with pytest.raises(PatternError):
        plates.search_plates(query)


def test_plate_pagination_is_stable_and_complete(store: TrackStore) -> None:
    """Guards pages that repeat or skip hits (ties in time are broken by tracklet)."""
    store.write([read("cam-a", n, "CD456EF", 0.5, T0 + n // 3) for n in range(1, 24)], T0)
    seen: list[str] = []
    cursor = None
    while True:
        page = store.search_plates(PlateQuery("exact", "CD456EF", limit=5, cursor=cursor))
        seen += [h.tracklet for h in page.items]
        if page.next is None:
            break
        cursor = page.next
    assert len(seen) == 23 and len(set(seen)) == 23
    assert seen[0] in {"cam-a/21", "cam-a/22", "cam-a/23"}


def test_bad_plate_cursor_is_refused(plates: TrackStore) -> None:
    with pytest.raises(BadCursorError):
        plates.search_plates(PlateQuery("exact", "AB123CD", cursor="!!nope"))


def test_plate_read_keeps_its_best_confidence(store: TrackStore) -> None:
    """Guards a replayed or weaker read that lowers a stored confidence."""
    store.write([read("cam-a", 1, "AB123CD", 0.9, T0)], T0)
    store.write([read("cam-a", 1, "AB123CD", 0.4, T0 + 5)], T0)
    store.write([read("cam-a", 1, "AB123CD", 0.9, T0)], T0)
    hits = store.search_plates(PlateQuery("exact", "AB123CD")).items
    assert [(h.conf, h.seen_at) for h in hits] == [(0.9, T0)]


# ---- appearances -----------------------------------------------------------------------


def test_similar_finds_the_nearest_tracks_of_the_class(store: TrackStore) -> None:
    """Guards wrong order, other classes leaking in, and one track listed twice."""
    rng = np.random.default_rng(3)
    target = basis(0)
    events: list[object] = [
        track("t-near", 1, (("cam-a", 1, T0, T0 + 5), ("cam-b", 1, T0 + 60, T0 + 65))),
        look("cam-a", 1, target + 0.05 * basis(1), T0),
        look("cam-b", 1, target + 0.10 * basis(2), T0 + 60),  # same track, other camera
        look("cam-a", 2, target + 0.5 * basis(3), T0 + 10),
        look("cam-a", 3, target + 0.1 * basis(4), T0 + 10, cls="person"),  # other class
    ]
    events += [look("cam-c", 10 + i, rng.standard_normal(DIM), T0 + i) for i in range(40)]
    store.write(events, T0)  # type: ignore[arg-type]
    hits = store.search_similar(SimilarQuery(target, "car", MODEL, k=3))
    assert [h.track_id or h.tracklet for h in hits][:2] == ["t-near", "cam-a/2"]
    assert hits[0].tracklet == "cam-a/1" and hits[0].score == pytest.approx(0.99875, abs=1e-4)
    assert all(h.cls == "car" for h in hits) and len(hits) == 3
    assert store.search_similar(SimilarQuery(target, "car", "other-model@1")) == []


@pytest.mark.parametrize(
    ("cameras", "since", "until", "expected"),
    [
        ((), None, None, ["cam-a/1", "cam-b/2", "cam-a/3"]),
        (("cam-b",), None, None, ["cam-b/2"]),
        ((), T0 + 15, None, ["cam-b/2", "cam-a/3"]),
        ((), None, T0 + 15, ["cam-a/1"]),
        (("cam-a",), T0 + 25, T0 + 35, ["cam-a/3"]),
    ],
)
def test_similar_filters(
    store: TrackStore,
    cameras: tuple[str, ...],
    since: float | None,
    until: float | None,
    expected: list[str],
) -> None:
    store.write(
        [
            look("cam-a", 1, basis(0), T0 + 10),
            look("cam-b", 2, basis(0) + 0.2 * basis(1), T0 + 20),
            look("cam-a", 3, basis(0) + 0.4 * basis(1), T0 + 30),
        ],
        T0,
    )
    query = SimilarQuery(basis(0), "car", MODEL, k=5, cameras=cameras, since=since, until=until)
    assert [h.tracklet for h in store.search_similar(query)] == expected


def test_a_better_crop_replaces_the_vector_and_a_worse_one_does_not(store: TrackStore) -> None:
    """Guards stale vectors that keep matching, and a blurry crop overwriting a sharp one."""
    store.write([look("cam-a", 1, basis(0), T0, quality=0.5)], T0)
    assert store.search_similar(SimilarQuery(basis(0), "car", MODEL))[0].score > 0.99
    store.write([look("cam-a", 1, basis(1), T0 + 1, quality=0.9)], T0)
    store.write([look("cam-a", 1, basis(2), T0 + 2, quality=0.3)], T0)
    hits = store.search_similar(SimilarQuery(basis(0), "car", MODEL))
    assert len(hits) == 1 and hits[0].score == pytest.approx(0.0, abs=1e-6)
    assert store.search_similar(SimilarQuery(basis(1), "car", MODEL))[0].score > 0.99


# ---- detail and retention --------------------------------------------------------------


def test_detail_has_trajectory_plates_and_merge_split_history(store: TrackStore) -> None:
    """Guards a trajectory out of time order, plate reads of other tracks, lost history."""
    a, b, c = ("cam-a", 1, T0, T0 + 5), ("cam-b", 4, T0 + 30, T0 + 40), ("cam-c", 2, T0 + 9, T0 + 9)
    store.write(
        [
            track("t-x", 1, (a,)),
            track("t-x", 2, (a, b)),  # merged with cam-b's tracklet
            track("t-x", 3, (a, b, c)),
            track("t-x", 4, (a, b)),  # cam-c's tracklet split off again
            read("cam-b", 4, "AB123CD", 0.9, T0 + 35),
            read("cam-a", 1, "A8123CD", 0.6, T0 + 2),
            read("cam-a", 9, "ZZ999ZZ", 0.9, T0 + 2),  # another car
        ],
        T0,
    )
    d = store.detail("t-x")
    assert d is not None and d.track.version == 4
    assert [s.tracklet for s in d.trajectory] == ["cam-a/1", "cam-b/4"]
    assert [(p.text, p.conf) for p in d.plate_reads] == [("A8123CD", 0.6), ("AB123CD", 0.9)]
    assert [(h.kind, h.added, h.removed) for h in d.history] == [
        ("created", (), ()),
        ("merge", ("cam-b/4",), ()),
        ("merge", ("cam-c/2",), ()),
        ("split", (), ("cam-c/2",)),
    ]
    assert store.detail("t-none") is None


def test_retention_deletes_tracks_plates_and_vectors(store: TrackStore) -> None:
    """Guards personal data (plates, appearance vectors) outliving the retention limit."""
    store.write(
        [
            track("t-old", 1, (("cam-a", 1, T0, T0 + 5),)),
            read("cam-a", 1, "OLD123", 0.9, T0 + 1),
            look("cam-a", 1, basis(0), T0 + 1),
            track("t-new", 1, (("cam-a", 2, T0 + 500, T0 + 505),)),
            read("cam-a", 2, "NEW456", 0.9, T0 + 501),
            look("cam-a", 2, basis(1), T0 + 501),
        ],
        T0,
    )
    store.search_similar(SimilarQuery(basis(0), "car", MODEL))  # the index has seen both
    assert store.purge_before(T0 + 100) == 1
    assert store.get("t-old") is None and store.get("t-new") is not None
    assert store.search_plates(PlateQuery("fuzzy", "OLD123", max_distance=1.0)).items == []
    assert store.search_plates(PlateQuery("pattern", "OLD*")).items == []
    assert [h.text for h in store.search_plates(PlateQuery("exact", "NEW456")).items] == ["NEW456"]
    assert [h.tracklet for h in store.search_similar(SimilarQuery(basis(0), "car", MODEL))] == [
        "cam-a/2"
    ]


# ---- per-tracklet crops ----------------------------------------------------------------

A_LEG = ("cam-a", 1, T0, T0 + 5)
B_LEG = ("cam-b", 4, T0 + 30, T0 + 50)


@pytest.mark.parametrize(
    ("versions", "expected"),
    [
        ([(1, "v1"), (2, "v2"), (3, "v3")], "v3"),
        ([(1, "v1"), (3, "v3"), (2, "v2")], "v3"),  # a late, older version never wins
        ([(2, "v2"), (2, "v2")], "v2"),  # a replay is a no-op
        ([(1, "v1"), (2, None), (3, None)], "v1"),  # later versions without a crop keep it
    ],
)
def test_a_tracklet_keeps_the_crop_of_its_own_tracks_newest_version(
    store: TrackStore, versions: list[tuple[int, str | None]], expected: str
) -> None:
    """Guards a late or replayed version regressing a tracklet's thumbnail, and updates
    without a crop erasing it."""
    for v, tag in versions:
        store.write([own(A_LEG, v, jpeg(tag) if tag else None)], T0)
    assert store.tracklet_crop("cam-a/1") == jpeg(expected)
    assert store.tracklet_crop("cam-a/2") is None


@pytest.mark.parametrize(
    "update",
    [
        track("g-1", 1, (A_LEG,), crop=b"\xff\xd8g"),  # a cross-camera track of one tracklet
        track("t-other", 1, (A_LEG,), crop=b"\xff\xd8o"),
        track(global_track_id("cam-a", 1), 1, (A_LEG, B_LEG), crop=b"\xff\xd8two"),
    ],
    ids=["global-track", "other-id", "two-tracklets"],
)
def test_only_a_tracklets_own_track_names_its_crop(store: TrackStore, update: TrackUpdate) -> None:
    """Guards a crop of a whole track (maybe of another camera) shown as one tracklet's."""
    store.write([update], T0)
    assert store.tracklet_crop("cam-a/1") is None
    assert store.tracklet_crop("cam-b/4") is None


def test_a_cross_camera_track_shows_its_tracklets_crops(store: TrackStore) -> None:
    """Guards the track page losing its per-camera thumbnails, and cross-camera tracks
    (which carry no crop of their own) listed without any picture."""
    store.write(
        [
            own(A_LEG, 1, jpeg("a")),
            own(B_LEG, 2, jpeg("b")),
            track("g-ab", 3, (A_LEG, B_LEG)),
            track("g-bare", 1, (("cam-c", 9, T0, T0 + 1),)),
        ],
        T0,
    )
    d = store.detail("g-ab")
    assert d is not None
    assert [(s.tracklet, s.has_crop) for s in d.trajectory] == [
        ("cam-a/1", True),
        ("cam-b/4", True),
    ]
    assert d.track.has_crop
    assert store.crop("g-ab") == jpeg("b")  # the longest visit stands in
    found = {t.track_id: t.has_crop for t in store.search(TrackQuery(limit=10)).items}
    assert found["g-ab"] and not found["g-bare"]
    assert store.crop("g-bare") is None and store.crop("g-none") is None


def test_a_tracks_own_crop_comes_before_its_tracklets(store: TrackStore) -> None:
    """Guards the stand-in replacing a crop the track has."""
    store.write([own(A_LEG, 1, jpeg("a")), track("g-a", 1, (A_LEG,), crop=jpeg("g"))], T0)
    assert store.crop("g-a") == jpeg("g")


def test_retention_deletes_tracklet_crops_with_their_tracks(store: TrackStore) -> None:
    """Guards thumbnails (pictures of people) outliving the tracks' retention limit."""
    late = ("cam-a", 2, T0 + 500, T0 + 505)
    store.write([own(A_LEG, 1, jpeg("old")), own(late, 1, jpeg("new"))], T0)
    assert store.purge("tracks", T0 + 100) >= 1
    assert store.tracklet_crop("cam-a/1") is None
    assert store.tracklet_crop("cam-a/2") == jpeg("new")


def test_a_merged_track_says_where_it_went(store: TrackStore) -> None:
    """Guards the track page showing a merged-away track as if it were still whole."""
    store.write([track("g-x", 1, (A_LEG,)), track("g-x", 2, (A_LEG,), merged_into="g-y")], T0)
    got = store.get("g-x")
    assert got is not None and got.merged_into == "g-y" and got.closed
    store.write([track("g-z", 1, (B_LEG,))], T0)
    assert store.get("g-z").merged_into is None  # type: ignore[union-attr]
