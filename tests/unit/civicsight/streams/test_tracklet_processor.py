"""The tracklet processor over plain dicts: what the stream app does to its tables,
without Faust or a broker."""

from __future__ import annotations

import json
import logging

import pytest

from civicsight.cameras import NO_RULES, CountingLine, Rules, Zone
from civicsight.events import Box, Crop, FrameDetections, TrackUpdate, global_track_id
from civicsight.streams.tracklet_processor import TrackletProcessor

T0 = 1_700_000_000.0
JPEG = b"\xff\xd8" + b"J" * 64


def det(camera: str, t: float, *track_ids: int) -> bytes:
    boxes = tuple(
        Box(x1=10, y1=10, x2=20, y2=20, cls="person", conf=0.8, track_id=tid) for tid in track_ids
    )
    return FrameDetections(
        camera_id=camera,
        seq=0,
        captured_at=t,
        width=100,
        height=100,
        model="m",
        boxes=boxes,
        detected_at=t,
    ).to_bytes()


def crop(camera: str, track_id: int, quality: float, t: float = T0) -> bytes:
    box = Box(x1=10, y1=10, x2=20, y2=20, cls="person", conf=0.8, track_id=track_id)
    return Crop(
        camera_id=camera, track_id=track_id, captured_at=t, box=box, quality=quality, jpeg=JPEG
    ).to_bytes()


def processor(
    states: dict[bytes, bytes] | None = None, crops: dict[bytes, bytes] | None = None
) -> TrackletProcessor:
    return TrackletProcessor(
        {} if states is None else states,
        {} if crops is None else crops,
        min_detections=3,
        update_interval=2.0,
        timeout=3.0,
    )


def run_frames(
    p: TrackletProcessor, camera: str, partition: int, times: list[float], track: int = 1
) -> list[TrackUpdate]:
    out: list[TrackUpdate] = []
    for t in times:
        out += p.on_detections(det(camera, t, track), partition, t)
    return out


@pytest.mark.parametrize(
    ("topic", "raw"),
    [
        ("detections", b"not json"),
        ("detections", None),
        ("detections", b'{"camera_id": "c"}'),
        (
            "detections",
            json.dumps(
                {
                    "camera_id": "c",
                    "seq": 0,
                    "captured_at": 1,
                    "width": 1,
                    "height": 1,
                    "model": "m",
                    "detected_at": 1,
                    "race": "x",
                }
            ).encode(),
        ),
        ("crops", b"\x00\x01"),
        ("crops", det("cam-a", T0, 1)),  # a FrameDetections is not a Crop
    ],
)
def test_undecodable_messages_are_skipped_and_counted(
    topic: str, raw: bytes | None, caplog: pytest.LogCaptureFixture
) -> None:
    """Guards: one bad message crashing the worker (it would crash again on restart,
    stuck on the same offset)."""
    p = processor()
    with caplog.at_level(logging.WARNING, logger="civicsight.streams.tracklet_processor"):
        if topic == "detections":
            assert p.on_detections(raw, 0, T0, "detections[0]@7") == []
        else:
            p.on_crop(raw, 0, "crops[0]@7")
    assert p.counters.skipped == {topic: 1}
    assert "skipped undecodable" in caplog.text
    # and the next good message is processed normally
    updates = run_frames(p, "cam-a", 0, [T0, T0 + 0.1, T0 + 0.2])
    assert [u.version for u in updates] == [1]


def test_crops_stored_apart_and_recovered_after_restart() -> None:
    """Guards: the per-frame state write carrying JPEGs (changelog flooding), and a
    restarted worker losing the crop or re-sending it or restarting versions at 1."""
    states: dict[bytes, bytes] = {}
    crops: dict[bytes, bytes] = {}
    p = processor(states, crops)
    p.on_crop(crop("cam-a", 1, 0.6), 2)
    first = run_frames(p, "cam-a", 2, [T0, T0 + 1, T0 + 2])
    assert [u.best_crop_jpeg for u in first] == [JPEG]
    assert JPEG not in states[b"cam-a"]
    assert list(crops) == [b"cam-a/1"]

    restarted = processor(dict(states), dict(crops))  # a worker rebuilt from changelogs
    assert restarted.state("cam-a") == p.state("cam-a")
    again = run_frames(restarted, "cam-a", 2, [T0 + 3, T0 + 4])
    assert [(u.version, u.best_crop_jpeg) for u in again] == [(2, None)]
    restarted.on_crop(crop("cam-a", 1, 0.9), 2)
    again = run_frames(restarted, "cam-a", 2, [T0 + 5, T0 + 6])
    assert [(u.version, u.best_crop_jpeg) for u in again] == [(3, JPEG)]


@pytest.mark.parametrize(
    ("tick_partition", "closed_cameras"),
    [
        (0, ["cam-a"]),
        (3, ["cam-b", "cam-c"]),
        (5, []),
    ],
)
def test_tick_expires_only_its_partition(tick_partition: int, closed_cameras: list[str]) -> None:
    """Guards: a worker closing (and writing) cameras whose partitions it does not own,
    or a changelog record landing in the wrong partition."""
    p = processor()
    for camera, partition in [("cam-a", 0), ("cam-b", 3), ("cam-c", 3)]:
        run_frames(p, camera, partition, [T0, T0 + 0.1, T0 + 0.2])
    updates = p.on_tick(tick_partition, T0 + 10)
    assert sorted(u.track_id for u in updates) == sorted(
        global_track_id(c, 1) for c in closed_cameras
    )
    assert all(u.closed for u in updates)


def test_closed_tracklets_leave_no_crop_and_idle_cameras_leave_the_table() -> None:
    """Guards: the tables growing with every camera and crop ever seen."""
    states: dict[bytes, bytes] = {}
    crops: dict[bytes, bytes] = {}
    p = TrackletProcessor(states, crops, keep_closed=5.0)
    p.on_crop(crop("cam-a", 1, 0.6), 1)
    p.on_crop(crop("cam-a", 2, 0.6), 1)  # never detected: dropped silently
    run_frames(p, "cam-a", 1, [T0, T0 + 0.1, T0 + 0.2])
    assert len(crops) == 2
    closed = p.on_tick(1, T0 + 4)
    assert [u.closed for u in closed] == [True]
    assert crops == {}
    assert b"cam-a" in states  # still remembers the closed id
    assert p.on_tick(1, T0 + 10) == []
    assert states == {}
    assert p.on_detections(det("cam-a", T0 + 11), 1, T0 + 11) == []
    assert states == {}  # frames without tracks write nothing


def feet(camera: str, t: float, y: float, track: int = 4) -> bytes:
    """A frame whose one box stands with its feet at (0.5, y)."""
    box = Box(x1=45, y1=100 * y - 30, x2=55, y2=100 * y, cls="car", conf=0.9, track_id=track)
    return FrameDetections(
        camera_id=camera,
        seq=0,
        captured_at=t,
        width=100,
        height=100,
        model="m",
        boxes=(box,),
        detected_at=t,
    ).to_bytes()


RULES = Rules(
    lines=(CountingLine(id="gate", name="Gate", points=((0.0, 0.5), (1.0, 0.5))),),
    zones=(Zone(id="yard", name="Yard", polygon=((0.0, 0.0), (1.0, 0.0), (1.0, 0.5), (0.0, 0.5))),),
)


def test_rule_hits_follow_the_camera_file_the_partition_and_the_tables() -> None:
    """Guards: a redelivered frame counting a crossing twice, hits sent for a camera
    without rules, a restarted worker (tables rebuilt from changelogs) forgetting a zone
    visit, and a visit never closed when its tracklet times out."""
    states: dict[bytes, bytes] = {}
    p = TrackletProcessor(states, {}, rules=lambda c: RULES if c == "cam-a" else NO_RULES)
    for i, y in enumerate([0.3, 0.35, 0.4, 0.6]):
        p.on_detections(feet("cam-a", T0 + 0.2 * i, y), 4, T0 + 0.2 * i)
        p.on_detections(feet("cam-b", T0 + 0.2 * i, y), 5, T0 + 0.2 * i)
    p.on_detections(feet("cam-a", T0 + 0.6, 0.6), 4, T0 + 0.7)  # redelivered
    hits = p.take_hits()
    assert [(part, h.camera_id, h.rule_id, h.direction or h.action, h.seq) for part, h in hits] == [
        (4, "cam-a", "yard", "enter", 1),
        (4, "cam-a", "gate", "in", 2),
        (4, "cam-a", "yard", "leave", 3),
    ]
    assert hits[-1][1].dwell_s == pytest.approx(0.6) and p.take_hits() == []

    p.on_detections(feet("cam-a", T0 + 1.0, 0.3, track=6), 4, T0 + 1.0)
    restarted = TrackletProcessor(dict(states), {}, rules=lambda c: RULES)
    for i in range(1, 3):
        restarted.on_detections(
            feet("cam-a", T0 + 1.0 + 0.2 * i, 0.3, track=6), 4, T0 + 1.0 + 0.2 * i
        )
    restarted.on_tick(4, T0 + 10)
    visit = [(h.track_id, h.action, h.ended, h.dwell_s) for _, h in restarted.take_hits()]
    assert visit == [(6, "enter", False, None), (6, "leave", True, pytest.approx(0.4))]


@pytest.mark.parametrize("stored", [b"garbage", b'{"partition": 1, "state": {"format": 7}}'])
def test_corrupt_stored_state_starts_the_camera_afresh(stored: bytes) -> None:
    """Guards: one bad changelog record crash-looping every worker that recovers it."""
    p = processor({b"cam-a": stored}, {b"cam-a/1": b"bad"})
    updates = run_frames(p, "cam-a", 1, [T0, T0 + 0.1, T0 + 0.2])
    assert [u.version for u in updates] == [1]
    assert p.counters.skipped == {"state": 1}
    assert p.on_tick(0, T0 + 10) == []


class CountingDict(dict[bytes, bytes]):
    """A table that counts its writes (the changelog messages a Faust table would send)."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.writes += 1
        super().__setitem__(key, value)


def test_a_batch_writes_each_camera_once() -> None:
    """Guards the per-frame state write coming back (one changelog message per frame:
    the worker's main cost at full speed)."""
    states = CountingDict()
    p = TrackletProcessor(states, {})
    with p.batch():
        for i in range(10):
            p.on_detections(det("cam-a", T0 + 0.1 * i, 1), 0, T0 + 0.1 * i)
            p.on_detections(det("cam-b", T0 + 0.1 * i, 1), 0, T0 + 0.1 * i)
        assert states == {}  # nothing written while the batch runs
        assert p.state("cam-a") is not None  # yet the batch sees its own changes
    assert states.writes == 2 and set(states) == {b"cam-a", b"cam-b"}
    unbatched = CountingDict()
    q = TrackletProcessor(unbatched, {})
    for i in range(10):
        q.on_detections(det("cam-a", T0 + 0.1 * i, 1), 0, T0 + 0.1 * i)
    assert unbatched.writes == 10
    assert q.state("cam-a") == p.state("cam-a")  # the same state either way


def test_a_failed_batch_writes_nothing_and_sends_nothing() -> None:
    """Guards a batch that raised half-way leaving its changes buffered (written with the
    next batch, after the tracklets it closed were lost), or its closures, clocks and
    hits sent with the next batch: after a failure the processor goes on from what the
    tables hold."""
    states: dict[bytes, bytes] = {}
    crops: dict[bytes, bytes] = {}
    p = TrackletProcessor(states, crops, rules=lambda c: RULES)
    run_frames(p, "cam-a", 4, [T0, T0 + 0.1, T0 + 0.2])
    p.take(), p.take_hits()
    before, crops_before = dict(states), dict(crops)
    with pytest.raises(RuntimeError, match="boom"), p.batch():
        p.on_crop(crop("cam-a", 1, 0.9), 4)
        for i, y in enumerate([0.3, 0.6]):  # crosses the gate
            p.on_detections(feet("cam-a", T0 + 1 + 0.2 * i, y, track=4), 4, T0 + 1 + 0.2 * i)
        p.end_batch(4)
        p.on_tick(4, T0 + 60)  # closes everything
        raise RuntimeError("boom")
    assert (states, crops) == (before, crops_before)
    assert p.take() == [] and p.take_hits() == []
    # the next batch starts from the tables, with the clock of before the failure
    with p.batch():
        updates = p.on_detections(det("cam-a", T0 + 0.3, 1), 4, T0 + 0.3)
        closed = p.end_batch(4)
    assert [u.version for u in updates] == [] and closed == []
    state = p.state("cam-a")
    assert state is not None and state.tracklets[1].last_seen == T0 + 0.3
    clocks = [c for c in p.take() if c.kind == "partition_clock"]
    assert [c.captured_at for c in clocks] == [T0 + 0.3]


def test_batches_do_not_nest() -> None:
    """Guards an inner batch flushing the outer one's writes half-way."""
    p = processor()
    with p.batch(), pytest.raises(RuntimeError, match="nest"), p.batch():
        pass
