"""Rules of ``streams.tracklets``: each test names the bug it guards against."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import pytest

from civicsight.events import Box, Crop, FrameDetections, TrackUpdate, global_track_id
from civicsight.streams import tracklets as tl
from civicsight.streams.tracklets import CameraState

CAM = "cam-1"
T0 = 1_700_000_000.0
W, H = 640, 480


def box(track_id: int | None = 1, cls: str = "car", x: float = 100.0, conf: float = 0.9) -> Box:
    return Box(x1=x, y1=100, x2=x + 40, y2=140, cls=cls, conf=conf, track_id=track_id)


def frame(t: float, *boxes: Box, camera_id: str = CAM, seq: int = 0) -> FrameDetections:
    return FrameDetections(
        camera_id=camera_id,
        seq=seq,
        captured_at=t,
        width=W,
        height=H,
        model="test",
        boxes=boxes,
        detected_at=t,
    )


def crop(track_id: int, quality: float, t: float = T0, jpeg: bytes = b"\xff\xd8jpg") -> Crop:
    return Crop(
        camera_id=CAM,
        track_id=track_id,
        captured_at=t,
        box=box(track_id),
        quality=quality,
        jpeg=jpeg,
    )


def feed(
    frames: Sequence[FrameDetections], state: CameraState | None = None, **policy: float
) -> tuple[CameraState, list[TrackUpdate]]:
    """Observe frames in order, each processed at wall time == its capture time."""
    state = state or tl.new_state(CAM)
    out: list[TrackUpdate] = []
    for f in frames:
        state, updates = tl.observe(state, f, f.captured_at, **policy)  # type: ignore[arg-type]
        out.extend(updates)
    return state, out


def steady(n: int, dt: float = 0.1, start: float = T0, **kw: object) -> list[FrameDetections]:
    return [frame(start + i * dt, box(**kw), seq=i) for i in range(n)]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("min_detections", "frames", "first_update_at"),
    [
        (1, 5, 0),
        (3, 5, 2),
        (5, 5, 4),
        (3, 2, None),
    ],
)
def test_confirmed_after_min_detections(
    min_detections: int, frames: int, first_update_at: int | None
) -> None:
    """Guards: flicker (fewer than min_detections) must never become a track, and a
    confirmed one must be announced at once as version 1."""
    state = tl.new_state(CAM)
    emitted_at: list[int] = []
    versions: list[int] = []
    for i, f in enumerate(steady(frames)):
        state, updates = tl.observe(state, f, f.captured_at, min_detections=min_detections)
        emitted_at += [i] * len(updates)
        versions += [u.version for u in updates]
    if first_update_at is None:
        assert emitted_at == []
    else:
        assert emitted_at[0] == first_update_at
        assert versions[0] == 1


@pytest.mark.parametrize(
    ("interval", "dt", "n", "expected_versions"),
    [
        (2.0, 0.1, 20, [1]),  # 1.9 s of frames: only the confirmation
        (2.0, 0.1, 23, [1, 2]),  # confirmation at 0.2 s, next due at 2.2 s
        (2.0, 0.5, 20, [1, 2, 3, 4, 5]),  # 9.5 s: versions at 1.0, 3.0, 5.0, 7.0, 9.0
        (0.0, 1.0, 5, [1, 2, 3]),  # interval 0: every frame after confirmation
    ],
)
def test_reemission_at_most_every_interval(
    interval: float, dt: float, n: int, expected_versions: list[int]
) -> None:
    """Guards: an open tracklet flooding the bus with a version per frame, or never
    being updated while it stays in view."""
    _, updates = feed(steady(n, dt), update_interval=interval)
    assert [u.version for u in updates] == expected_versions
    times = [u.last_seen for u in updates]
    assert all(b - a >= interval - 1e-9 for a, b in itertools.pairwise(times))


@pytest.mark.parametrize(
    ("timeout", "silence", "closes"),
    [
        (3.0, 2.9, False),
        (3.0, 3.0, True),
        (1.0, 1.5, True),
        (10.0, 9.0, False),
    ],
)
def test_closed_after_timeout_with_final_version(
    timeout: float, silence: float, closes: bool
) -> None:
    """Guards: a track that never closes (indexer shows it live forever) or one closed
    while still within the timeout."""
    state, updates = feed(steady(5))
    last = updates[-1]
    state, closed = tl.expire(state, T0 + 0.4 + silence, timeout)
    if not closes:
        assert closed == [] and 1 in state.tracklets
        return
    assert len(closed) == 1
    final = closed[0]
    assert final.closed is True
    assert final.version == last.version + 1
    assert final.last_seen == pytest.approx(T0 + 0.4)
    assert final.emitted_at == pytest.approx(T0 + 0.4 + silence)
    assert 1 not in state.tracklets


def test_expiry_runs_on_the_camera_clock_not_capture_timestamps() -> None:
    """Guards: replayed footage (old capture times) or a camera clock hours behind
    closing every track the moment the sweep runs."""
    old = 1_000.0
    wall = 1_700_000_000.0
    state = tl.new_state(CAM)
    for i, f in enumerate(steady(5, start=old)):
        state, _ = tl.observe(state, f, wall + i * 0.1)
    state, closed = tl.expire(state, wall + 0.4 + 1.0, 3.0)
    assert closed == []
    state, closed = tl.expire(state, wall + 0.4 + 3.0, 3.0)
    assert [u.closed for u in closed] == [True]


@pytest.mark.parametrize(
    ("classes", "expected"),
    [
        (["car", "car", "truck"], "car"),
        (["truck", "car", "car", "car", "truck"], "car"),
        (["bus", "truck", "truck", "bus"], "bus"),  # tie: the class seen first
        (["person"] * 4 + ["bicycle"] * 5, "bicycle"),
    ],
)
def test_class_is_majority_vote(classes: list[str], expected: str) -> None:
    """Guards: a track labelled by its first or last (possibly wrong) detection."""
    frames = [frame(T0 + i * 0.1, box(cls=c)) for i, c in enumerate(classes)]
    state, _ = feed(frames, update_interval=0.0)
    _, closed = tl.expire(state, T0 + 100, 3.0)
    assert closed[-1].cls == expected


@pytest.mark.parametrize("detections", [0, 1, 2])
def test_unconfirmed_tracklets_vanish_silently(detections: int) -> None:
    """Guards: flicker emitting a closed track, or piling up in the state forever."""
    frames = steady(detections)
    state = tl.new_state(CAM)
    if detections == 0:
        state = tl.add_crop(state, crop(1, 0.5))
    state, updates = feed(frames, state)
    state, closed = tl.expire(state, T0 + 100, 3.0)
    assert updates == [] and closed == []
    assert state.is_idle


@pytest.mark.parametrize("gap", [0.5, 5.0, 30.0])
def test_versions_strictly_increase_across_close_and_reappearance(gap: float) -> None:
    """Guards: a tracker id reappearing after its tracklet closed starting again at
    version 1, which an indexer keeping the highest version would silently ignore."""
    state, updates = feed(steady(30, 0.2))
    state, closed = tl.expire(state, T0 + 5.8 + 3.0, 3.0)
    updates += closed
    restart = T0 + 5.8 + 3.0 + gap
    state, more = feed(steady(30, 0.2, start=restart), state)
    state, closed = tl.expire(state, restart + 5.8 + 3.0, 3.0)
    updates += more + closed
    versions = [u.version for u in updates]
    assert versions == list(range(1, len(versions) + 1))
    assert {u.track_id for u in updates} == {global_track_id(CAM, 1)}
    assert [u.closed for u in updates].count(True) == 2
    assert updates[-1].first_seen == T0


@pytest.mark.parametrize(
    ("qualities", "best"),
    [
        ([0.3], 0.3),
        ([0.3, 0.8, 0.5], 0.8),
        ([0.9, 0.1, 0.9], 0.9),  # equal quality does not replace
        ([0.1, 0.2, 0.3, 0.4], 0.4),
    ],
)
def test_best_crop_keeps_highest_quality(qualities: list[float], best: float) -> None:
    """Guards: a later, blurrier crop replacing the best view of the object."""
    state = tl.new_state(CAM)
    for i, q in enumerate(qualities):
        state = tl.add_crop(state, crop(1, q, jpeg=b"jpeg%d" % i))
    kept = state.tracklets[1].crop
    assert kept is not None and kept.quality == best
    assert kept.jpeg == b"jpeg%d" % qualities.index(best)


@pytest.mark.parametrize(
    ("script", "sent"),
    [
        # ("frames", n): n frames 1 s apart, versions due every 2 s; ("crop", quality);
        # ("close", 0): expire. ``sent``: whether each emitted version carried the JPEG.
        ([("crop", 0.5), ("frames", 3), ("frames", 2), ("close", 0)], [True, False, False]),
        ([("frames", 3), ("crop", 0.5), ("frames", 2), ("frames", 2)], [False, True, False]),
        (
            [("frames", 3), ("crop", 0.5), ("frames", 2), ("crop", 0.4), ("frames", 2)],
            [False, True, False],
        ),
        (
            [("frames", 3), ("crop", 0.5), ("frames", 2), ("crop", 0.7), ("frames", 2)],
            [False, True, True],
        ),
        ([("frames", 3), ("crop", 0.5), ("close", 0)], [False, True]),
    ],
)
def test_crop_sent_only_when_changed(script: list[tuple[str, float]], sent: list[bool]) -> None:
    """Guards: every version carrying the same JPEG again (large messages), or a better
    crop never reaching the index."""
    state = tl.new_state(CAM)
    t = T0
    updates: list[TrackUpdate] = []
    for action, arg in script:
        if action == "crop":
            state = tl.add_crop(state, crop(1, arg, t))
        elif action == "frames":
            for _ in range(int(arg)):
                state, out = tl.observe(state, frame(t, box()), t, update_interval=2.0)
                updates += out
                t += 1.0
        else:
            state, out = tl.expire(state, t + 10, 3.0)
            updates += out
    assert [u.best_crop_jpeg is not None for u in updates] == sent


@pytest.mark.parametrize("n", [1, 10, 63, 64, 65, 127, 128, 500, 5000])
def test_path_bounded_to_64_points(n: int) -> None:
    """Guards: the path growing with the track's length until a TrackUpdate is refused
    (max 64 points) or the state outgrows its changelog message."""
    frames = [frame(T0 + i * 0.05, box(x=float(i % 600))) for i in range(n)]
    state, _ = feed(frames, min_detections=1, update_interval=1e9)
    t = state.tracklets[1]
    path = t.emitted_path
    assert 1 <= len(path) <= tl.MAX_PATH
    assert path[0] == pytest.approx((20 / W, 120 / H), abs=1e-4)
    assert path[-1] == t.last_center
    assert path[-1] == pytest.approx((((n - 1) % 600 + 20) / W, 120 / H), abs=1e-4)
    assert all(0.0 <= v <= 1.0 for p in path for v in p)
    _, closed = tl.expire(state, T0 + n + 10, 3.0)
    assert closed[0].path == path


@pytest.mark.parametrize(
    ("delay", "processed"),
    [
        (0.0, False),  # the same frame again (redelivery after a restart)
        (-0.5, False),  # an older frame
        (-120.0, True),  # camera clock set back: a reset, not a duplicate
        (0.1, True),
    ],
)
def test_redelivered_frames_do_not_count_twice(delay: float, processed: bool) -> None:
    """Guards: at-least-once redelivery double-counting detections and path points."""
    state, _ = feed(steady(2))
    again = frame(T0 + 0.1 + delay, box())
    after, updates = tl.observe(state, again, T0 + 1)
    assert (after is not state) == processed
    if not processed:
        assert updates == []


def test_update_content() -> None:
    """Guards: a TrackUpdate that does not identify its camera tracklet, or whose id is
    not the deterministic global id (replays would create duplicate tracks)."""
    _, updates = feed(steady(3))
    u = updates[0]
    assert u.track_id == global_track_id(CAM, 1)
    assert u.cameras == (CAM,)
    assert len(u.tracklets) == 1
    ref = u.tracklets[0]
    assert (ref.camera_id, ref.track_id) == (CAM, 1)
    assert (u.first_seen, u.last_seen) == (ref.first_seen, ref.last_seen) == (T0, T0 + 0.2)
    assert u.emitted_at == T0 + 0.2
    assert not u.closed


@pytest.mark.parametrize(
    "boxes",
    [
        (box(None), box(None, x=300)),
        (box(1, conf=0.4), box(1, conf=0.9, x=300)),
    ],
)
def test_untracked_and_duplicate_boxes(boxes: tuple[Box, ...]) -> None:
    """Guards: boxes without a tracker id opening tracklets, or one id counted twice in
    a frame (confirming flicker in a single frame)."""
    state, updates = tl.observe(tl.new_state(CAM), frame(T0, *boxes), T0, min_detections=2)
    assert updates == []
    assert all(t.detections <= 1 for t in state.tracklets.values())


def test_many_tracks_per_frame_are_independent() -> None:
    """Guards: one track's detections confirming or closing another."""
    frames = [frame(T0 + i * 0.1, box(1), *([box(2, x=300)] if i < 2 else [])) for i in range(4)]
    state, updates = feed(frames)
    assert [u.track_id for u in updates] == [global_track_id(CAM, 1)]
    assert state.tracklets[2].detections == 2


@pytest.mark.parametrize("include_crops", [True, False])
def test_state_round_trips_through_bytes(include_crops: bool) -> None:
    """Guards: a restarted worker recovering a different state from the changelog."""
    state, _ = feed(steady(70, 0.1))
    state = tl.add_crop(state, crop(1, 0.7))
    state = tl.add_crop(state, crop(5, 0.2))
    state, _ = tl.expire(state, T0 + 7.0 + 3.0, 3.0)  # track 1 closed, crop-only 5 dropped
    state, _ = feed(steady(4, start=T0 + 20, track_id=2), state)
    state = tl.add_crop(state, crop(2, 0.6, T0 + 20))
    back = CameraState.from_bytes(state.to_bytes(include_crops=include_crops))
    if include_crops:
        assert back == state
    else:
        assert back.crops() == {}
        assert back.with_crops(state.crops()) == state


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"[]",
        b"{}",
        b'{"format": 99}',
        b"\xff",
        b'{"format":1,"camera_id":"c","clock":[null,null],"tracklets":[{"id":1}],"closed":[]}',
    ],
)
def test_corrupt_state_raises_decode_error(data: bytes) -> None:
    """Guards: a bad changelog record crashing the worker with an unrelated exception."""
    with pytest.raises(tl.StateDecodeError):
        CameraState.from_bytes(data)


@pytest.mark.parametrize("data", [b"", b"\x01abc", b"\x09" + bytes(16) + b"jpeg"])
def test_corrupt_best_crop_raises_decode_error(data: bytes) -> None:
    """Guards: a bad crop record being used as a JPEG."""
    with pytest.raises(tl.StateDecodeError):
        tl.BestCrop.from_bytes(data)


def test_best_crop_round_trips() -> None:
    """Guards: crops stored apart coming back altered."""
    c = tl.BestCrop(jpeg=b"\xff\xd8\x00jpeg", quality=0.75, captured_at=T0)
    assert tl.BestCrop.from_bytes(c.to_bytes()) == c


@pytest.mark.parametrize("call", ["observe", "add_crop"])
def test_other_cameras_events_are_refused(call: str) -> None:
    """Guards: the app mixing up two cameras' states."""
    state = tl.new_state("cam-2")
    with pytest.raises(ValueError):
        if call == "observe":
            tl.observe(state, frame(T0, box()), T0)
        else:
            tl.add_crop(state, crop(1, 0.5))


def test_closed_ids_forgotten_after_keep_closed() -> None:
    """Guards: a camera's state growing with every track it ever saw."""
    state, _ = feed(steady(5))
    state, _ = tl.expire(state, T0 + 10, 3.0, keep_closed=60.0)
    assert 1 in state.closed and not state.is_idle
    state, _ = tl.expire(state, T0 + 30, 3.0, keep_closed=60.0)
    assert 1 in state.closed
    state, _ = tl.expire(state, T0 + 61, 3.0, keep_closed=60.0)
    assert state.is_idle


def test_unchanged_state_is_the_same_object() -> None:
    """Guards: the app rewriting the changelog for frames and sweeps that change nothing."""
    empty = tl.new_state(CAM)
    same, _ = tl.observe(empty, frame(T0), T0)
    assert same is empty
    state, _ = feed(steady(3))
    assert tl.expire(state, T0 + 0.5, 3.0)[0] is state
    assert tl.add_crop(tl.add_crop(state, crop(1, 0.5)), crop(1, 0.4)) is not state
