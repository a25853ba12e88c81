"""Pure faces logic: matching against the watchlist only, expiry, scores, face choice."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

from civicsight.events import Box, Crop, ObjectClass
from civicsight.faces import (
    EnrolmentError,
    WatchlistIndex,
    check_enrolment,
    enrolment_face,
    pick_face,
)
from civicsight.services.faces.logic import match, match_score, observations, wants_crop

NOW = 1_700_000_000.0
LATER = NOW + 3600
EARLIER = NOW - 1
JPEG = b"\xff\xd8\xff\xe0test\xff\xd9"


def unit(i: int) -> np.ndarray:
    v = np.zeros(128, np.float32)
    v[i] = 1.0
    return v


def near(i: int, distance: float) -> np.ndarray:
    """A vector ``distance`` away from unit(i), off every other axis used here."""
    v = unit(i)
    v[127] = distance
    return v


def index(*rows: tuple[str, int, float]) -> WatchlistIndex:
    return WatchlistIndex.build(("wl", entry, expires, unit(axis)) for entry, axis, expires in rows)


def crop(camera: str = "cam-a", cls: ObjectClass = "person", track: int = 7) -> Crop:
    box = Box(x1=0, y1=0, x2=10, y2=20, cls=cls, conf=0.9, track_id=track)
    return Crop(camera_id=camera, track_id=track, captured_at=NOW, box=box, quality=0.8, jpeg=JPEG)


@pytest.mark.parametrize(
    ("distance", "threshold", "score"),
    [(0.0, 0.5, 1.0), (0.25, 0.5, 0.5), (0.45, 0.5, 0.1), (0.5, 0.5, 0.0), (0.9, 0.5, 0.0)],
)
def test_score_is_one_minus_distance_over_threshold_clipped(
    distance: float, threshold: float, score: float
) -> None:
    """Guards the documented score: 1 = identical, 0 = at the threshold, never outside 0..1
    (FaceObservation would refuse it)."""
    assert match_score(distance, threshold) == pytest.approx(score)


@pytest.mark.parametrize(
    ("idx", "probe", "want"),
    [
        (index(("alice", 0, LATER)), near(0, 0.0), ("alice", 1.0)),
        (index(("alice", 0, LATER), ("bob", 1, LATER)), near(1, 0.2), ("bob", 0.6)),
        (index(("alice", 0, LATER)), near(0, 0.49), ("alice", 0.02)),
        (index(("alice", 0, LATER)), near(0, 0.5), None),
        (index(("alice", 0, LATER)), near(0, 0.8), None),
        (index(("alice", 0, LATER)), unit(5), None),
        (index(("alice", 0, NOW)), near(0, 0.0), None),
        (index(("alice", 0, EARLIER), ("alice-2", 0, LATER)), near(0, 0.1), ("alice-2", 0.8)),
        (index(("alice", 0, EARLIER), ("bob", 1, LATER)), near(0, 0.1), None),
        (WatchlistIndex.empty(), near(0, 0.0), None),
    ],
    ids=[
        "identical",
        "nearest-of-two",
        "just-inside",
        "at-threshold-is-no-match",
        "beyond-threshold",
        "stranger",
        "expires-now",
        "expired-skipped-for-live",
        "only-match-expired",
        "empty-watchlist",
    ],
)
def test_match_only_within_threshold_and_unexpired(
    idx: WatchlistIndex, probe: np.ndarray, want: tuple[str, float] | None
) -> None:
    """Guards against matching a stranger, a face at the threshold, or an expired entry."""
    found = match(probe, idx, 0.5, NOW)
    if want is None:
        assert found is None
    else:
        assert found is not None
        assert (found.entry_id, round(found.score, 4)) == (want[0], want[1])
        assert found.watchlist_id == "wl"


@pytest.mark.parametrize("shape", [(127,), (1, 128), (256,)])
def test_match_refuses_embeddings_of_another_size(shape: tuple[int, ...]) -> None:
    """Guards against broadcasting a wrong-shaped vector into a meaningless distance."""
    with pytest.raises(ValueError, match="128-d"):
        match(np.zeros(shape, np.float32), index(("alice", 0, LATER)), 0.5, NOW)


@pytest.mark.parametrize("threshold", [0.0, -0.1])
def test_threshold_must_be_positive(threshold: float) -> None:
    with pytest.raises(ValueError, match="threshold"):
        match(unit(0), index(("alice", 0, LATER)), threshold, NOW)


@pytest.mark.parametrize(
    ("embeddings", "want"),
    [
        ([near(0, 0.1)], [("cam-a", 7, "alice", 0.8)]),
        ([unit(9)], []),
        ([None], []),
    ],
    ids=["match", "stranger", "no-face"],
)
def test_observations_only_for_matches(
    embeddings: list[np.ndarray | None], want: list[tuple[str, int, str, float]]
) -> None:
    """Guards the privacy rule: a face that matches nothing produces no event at all."""
    out = observations([crop()], embeddings, index(("alice", 0, LATER)), 0.5, NOW)
    got = [(o.camera_id, o.track_id, o.entry_id, round(o.score, 4)) for o in out]
    assert got == want
    assert all(o.threshold == 0.5 and o.captured_at == NOW for o in out)


def test_a_non_matching_embedding_is_not_kept() -> None:
    """Guards against any cache or log buffer holding on to a stranger's embedding: after
    matching, nothing but the caller refers to it, and the index is unchanged."""
    idx = index(("alice", 0, LATER))
    before = idx.vectors.copy()
    stranger = unit(9)
    ref = weakref.ref(stranger)
    assert observations([crop()], [stranger], idx, 0.5, NOW) == []
    del stranger
    gc.collect()
    assert ref() is None
    np.testing.assert_array_equal(idx.vectors, before)
    assert len(idx) == 1


def test_index_is_read_only() -> None:
    """Guards against matching code editing the enrolled embeddings in place."""
    idx = index(("alice", 0, LATER))
    with pytest.raises(ValueError, match="read-only"):
        idx.vectors[0, 0] = 5.0
    with pytest.raises(ValueError, match="read-only"):
        idx.expires_at[0] = NOW + 10**9


def test_index_shapes_must_agree() -> None:
    with pytest.raises(ValueError, match="shapes disagree"):
        WatchlistIndex(np.zeros((2, 128), np.float32), (("wl", "a"),), np.zeros(1))


@pytest.mark.parametrize(
    ("widths", "min_px", "want"),
    [([], 32, None), ([20.0], 32, None), ([40.0], 32, 0), ([40.0, 90.0, 60.0], 32, 1)],
    ids=["none", "too-small", "one", "widest"],
)
def test_pick_face_takes_the_widest_usable_face(
    widths: list[float], min_px: float, want: int | None
) -> None:
    """Guards against matching a bystander's small face instead of the tracked person's."""
    assert pick_face(np.array(widths, np.float32), min_px) == want


@pytest.mark.parametrize(
    ("widths", "scores", "want"),
    [
        ([100.0], [0.95], 0),
        ([100.0, 90.0], [0.95, 0.65], 0),
        ([100.0, 90.0], [0.95, 0.93], "2 faces"),
        ([], [], "no face"),
        ([20.0], [0.95], "no face"),
        ([100.0], [0.7], "no face"),
    ],
    ids=["one", "one-plus-weak-false-hit", "group-photo", "empty", "too-small", "unsure"],
)
def test_enrolment_needs_exactly_one_clear_face(
    widths: list[float], scores: list[float], want: int | str
) -> None:
    """Guards against enrolling the wrong person from a photo with several faces."""
    w, s = np.array(widths), np.array(scores)
    if isinstance(want, int):
        assert enrolment_face("p.jpg", w, s, 32, 0.8) == want
    else:
        with pytest.raises(EnrolmentError, match=want):
            enrolment_face("p.jpg", w, s, 32, 0.8)


@pytest.mark.parametrize(
    ("vectors", "ok"),
    [([near(0, 0.0)], True), ([near(0, 0.0), near(0, 0.3)], True), ([unit(0), unit(1)], False)],
    ids=["one-photo", "same-person", "two-people"],
)
def test_enrolment_photos_must_show_one_person(vectors: list[np.ndarray], ok: bool) -> None:
    """Guards against one entry mixing two people (it would match both)."""
    names = [f"p{i}.jpg" for i in range(len(vectors))]
    if ok:
        check_enrolment(names, np.stack(vectors), 0.5)
    else:
        with pytest.raises(EnrolmentError, match="different people"):
            check_enrolment(names, np.stack(vectors), 0.5)


@pytest.mark.parametrize(
    ("camera", "cls", "want"),
    [("cam-a", "person", True), ("cam-b", "person", False), ("cam-a", "car", False)],
    ids=["enabled-person", "disabled-camera", "not-a-person"],
)
def test_only_person_crops_of_enabled_cameras_are_wanted(
    camera: str, cls: ObjectClass, want: bool
) -> None:
    """Guards the per-camera opt-in: faces are off unless the camera enables them."""
    assert wants_crop(crop(camera, cls), frozenset({"cam-a"})) is want
