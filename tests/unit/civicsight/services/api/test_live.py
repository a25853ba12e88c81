"""LiveView pairing and drawing, and LiveFeed's loop, with real frames and no broker."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Any

import cv2
import numpy as np
import pytest

from civicsight.bus import Received
from civicsight.events import Box, Frame, FrameDetections, RuleHit
from civicsight.services.api.live import CLASS_COLOURS, LiveFeed, LiveView, draw_detections

from .conftest import BUS_BOXES, T0, bus_image, make_detections, make_frame


def decode(jpeg: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not a decodable JPEG"
    return image


@pytest.fixture(scope="module")
def bus() -> np.ndarray:
    return bus_image()


# ---- pairing --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("order", "det_camera", "det_seq", "det_time", "paired"),
    [
        ("frame-first", "cam-a", 1, T0, True),
        ("detections-first", "cam-a", 1, T0, True),
        ("frame-first", "cam-a", 2, T0, False),  # another frame's boxes
        ("frame-first", "cam-b", 1, T0, False),  # another camera's boxes
        ("frame-first", "cam-a", 1, T0 + 900, False),  # same seq after an ingest restart
        ("detections-first", "cam-a", 1, T0 + 900, False),
    ],
)
def test_detections_pair_only_with_their_own_frame(
    bus: np.ndarray, order: str, det_camera: str, det_seq: int, det_time: float, paired: bool
) -> None:
    """Guards drawing boxes on the wrong frame: another camera's, a later frame's, or a
    frame with the same number from before an ingest restart (seq restarts at 0)."""
    live = LiveView()
    frame = make_frame("cam-a", 1, bus)
    dets = FrameDetections(
        camera_id=det_camera,
        seq=det_seq,
        captured_at=det_time,
        width=frame.width,
        height=frame.height,
        model="m",
        boxes=BUS_BOXES,
        detected_at=det_time + 0.1,
    )
    if order == "frame-first":
        live.offer_frame(frame)
        live.offer_detections(dets)
    else:
        live.offer_detections(dets)
        live.offer_frame(frame)
    shown = live.latest("cam-a")
    assert shown is not None and shown.frame == frame
    assert (shown.detections == dets) if paired else shown.detections is None


def test_latest_prefers_the_newest_paired_frame_while_detection_lags(bus: np.ndarray) -> None:
    """Guards boxes flickering on and off: while detection runs a few frames behind, the
    tile shows the newest frame that has its boxes."""
    live = LiveView(ring=8)
    frames = [make_frame("cam-a", i, bus, T0 + i) for i in range(5)]
    for f in frames:
        live.offer_frame(f)
    live.offer_detections(make_detections(frames[2], BUS_BOXES))
    shown = live.latest("cam-a")
    assert shown is not None and shown.frame.seq == 2 and shown.detections is not None


def test_latest_falls_back_to_the_newest_frame_when_detection_stops(bus: np.ndarray) -> None:
    """Guards a frozen tile when the detect service stops (or the camera has detection off):
    once the last paired frame leaves the ring, the newest raw frame is shown."""
    live = LiveView(ring=4)
    first = make_frame("cam-a", 0, bus, T0)
    live.offer_frame(first)
    live.offer_detections(make_detections(first, BUS_BOXES))
    for i in range(1, 6):
        live.offer_frame(make_frame("cam-a", i, bus, T0 + i))
    shown = live.latest("cam-a")
    assert shown is not None and shown.frame.seq == 5 and shown.detections is None


@pytest.mark.parametrize("ring", [1, 3, 16])
def test_rings_stay_bounded(ring: int) -> None:
    """Guards unbounded memory: frames and unmatched detections are kept in small rings."""
    live = LiveView(ring=ring)
    tiny = np.full((8, 8, 3), 128, np.uint8)
    for i in range(50):
        f = make_frame("cam-a", i, tiny, T0 + i)
        live.offer_frame(f)
        live.offer_detections(make_detections(make_frame("cam-a", 1000 + i, tiny), ()))
    cam = live._cameras["cam-a"]
    assert len(cam.frames) == ring and len(cam.detections) == ring


def test_unknown_camera_has_no_frame() -> None:
    """Guards a KeyError (500) for a camera that has sent nothing yet."""
    live = LiveView()
    assert live.latest("cam-a") is None
    assert live.annotated_jpeg("cam-a") is None
    assert live.cameras() == []


def test_ring_must_hold_a_frame() -> None:
    """Guards a LiveView that can never show anything."""
    with pytest.raises(ValueError, match="ring"):
        LiveView(ring=0)


# ---- drawing --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame_size", "det_size"),
    [((810, 1080), (810, 1080)), ((405, 540), (810, 1080)), ((810, 1080), (405, 540))],
    ids=["same-size", "frame-scaled-down", "detections-scaled-down"],
)
def test_drawing_returns_a_jpeg_of_the_frame_size_with_boxes(
    bus: np.ndarray, frame_size: tuple[int, int], det_size: tuple[int, int]
) -> None:
    """Guards a drawing that changes the frame size, fails to decode, or puts boxes in
    the wrong place when detection ran on a differently scaled frame."""
    image = cv2.resize(bus, frame_size, interpolation=cv2.INTER_AREA)
    frame = make_frame("cam-a", 1, image)
    sx, sy = det_size[0] / frame_size[0], det_size[1] / frame_size[1]
    box = Box(x1=100 * sx, y1=150 * sy, x2=300 * sx, y2=350 * sy, cls="car", conf=0.9, track_id=12)
    dets = FrameDetections(
        camera_id="cam-a",
        seq=1,
        captured_at=T0,
        width=det_size[0],
        height=det_size[1],
        model="m",
        boxes=(box,),
        detected_at=T0,
    )
    out = decode(draw_detections(frame, dets))
    assert out.shape == image.shape
    # the box's left edge, half way down, has the class colour
    edge = out[250, 99:102].astype(int)
    colour = np.array(CLASS_COLOURS["car"])
    assert np.abs(edge - colour).sum(axis=1).min() < 90, edge
    # inside the box, away from the label, the picture is untouched (within JPEG noise)
    raw = decode(frame.jpeg)
    assert np.abs(out[260:330, 130:280].astype(int) - raw[260:330, 130:280]).mean() < 4


def test_labels_name_class_and_tracker_id(bus: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    """Guards labels without the tracker id ("cls #id") that operators use to follow one."""
    texts: list[str] = []
    real = cv2.putText

    def spy(img: np.ndarray, text: str, *args: Any, **kwargs: Any) -> Any:
        texts.append(text)
        return real(img, text, *args, **kwargs)

    monkeypatch.setattr(cv2, "putText", spy)
    frame = make_frame("cam-a", 1, bus)
    untracked = Box(x1=5, y1=5, x2=50, y2=50, cls="bicycle", conf=0.5)
    draw_detections(frame, make_detections(frame, (*BUS_BOXES, untracked)))
    assert texts == ["bus #3", "person #7", "bicycle"]


@pytest.mark.parametrize("boxes", [None, ()], ids=["unpaired", "no-boxes"])
def test_frames_without_boxes_are_served_as_sent(bus: np.ndarray, boxes: object) -> None:
    """Guards re-encoding (and losing quality, costing CPU) when there is nothing to draw."""
    frame = make_frame("cam-a", 1, bus)
    dets = None if boxes is None else make_detections(frame, ())
    assert draw_detections(frame, dets) is frame.jpeg


def test_undecodable_frame_is_served_as_sent() -> None:
    """Guards a crash on a corrupt JPEG from a camera."""
    frame = Frame(
        camera_id="cam-a", seq=1, captured_at=T0, width=10, height=10, jpeg=b"\xff\xd8not-a-jpeg"
    )
    dets = FrameDetections(
        camera_id="cam-a",
        seq=1,
        captured_at=T0,
        width=10,
        height=10,
        model="m",
        boxes=(Box(x1=1, y1=1, x2=5, y2=5, cls="car", conf=1),),
        detected_at=T0,
    )
    assert draw_detections(frame, dets) == frame.jpeg


def test_annotated_jpeg_is_drawn_once_per_frame(bus: np.ndarray) -> None:
    """Guards re-drawing the same frame for every viewer every 500 ms (CPU per viewer)."""
    live = LiveView()
    frame = make_frame("cam-a", 1, bus)
    live.offer_frame(frame)
    live.offer_detections(make_detections(frame, BUS_BOXES))
    first = live.annotated_jpeg("cam-a")
    assert first is not None and first is live.annotated_jpeg("cam-a")
    assert decode(first).shape == bus.shape
    nxt = make_frame("cam-a", 2, bus, T0 + 1)
    live.offer_frame(nxt)
    live.offer_detections(make_detections(nxt, BUS_BOXES[:1]))
    assert live.annotated_jpeg("cam-a") is not first


def test_concurrent_offers_and_reads(bus: np.ndarray) -> None:
    """Guards races between the feed thread and request threads (dict changed while
    iterating, torn pairs)."""
    live = LiveView(ring=4)
    small = cv2.resize(bus, (160, 214))
    frames = [make_frame(f"cam-{c}", i, small, T0 + i) for c in "ab" for i in range(60)]
    errors: list[BaseException] = []
    done = threading.Event()

    def feed() -> None:
        try:
            for f in frames:
                live.offer_frame(f)
                live.offer_detections(
                    make_detections(
                        f, (Box(x1=1, y1=1, x2=50, y2=50, cls="car", conf=1, track_id=1),)
                    )
                )
        except BaseException as err:
            errors.append(err)
        finally:
            done.set()

    def read() -> None:
        try:
            while not done.is_set():
                for cam in ("cam-a", "cam-b"):
                    shown = live.latest(cam)
                    if shown and shown.detections:
                        assert shown.detections.seq == shown.frame.seq
                    live.annotated_jpeg(cam)
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=feed)] + [threading.Thread(target=read) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert live.cameras() == ["cam-a", "cam-b"]


# ---- LiveFeed -------------------------------------------------------------------------


class FakeSubscriber:
    """Hands out scripted batches; an Exception in the script is raised by poll_batch."""

    def __init__(self, script: list[list[object] | Exception]) -> None:
        self.script = script
        self.closed = False

    def poll_batch(self, max_messages: int, timeout: float, linger: float = 0.0) -> list[Received]:
        if not self.script:
            time.sleep(0.01)
            return []
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise step
        return [Received("frames", "k", ev, None) for ev in step]  # type: ignore[arg-type]

    def done(self, items: Iterable[Received]) -> None:
        raise AssertionError("live tiles store no offsets")

    def close(self) -> None:
        self.closed = True


def wait_for(cond: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return
        time.sleep(0.01)
    raise AssertionError("condition not met in time")


def test_live_feed_fills_the_view_and_survives_bus_errors(bus: np.ndarray) -> None:
    """Guards a live feed that dies for good on one broker error (tiles freeze until the
    API restarts), or that leaks subscribers on reconnect or stop."""
    live = LiveView()
    f1 = make_frame("cam-a", 1, bus)
    f2 = make_frame("cam-a", 2, bus, T0 + 1)
    hit = RuleHit(
        camera_id="cam-a",
        track_id=7,
        captured_at=T0 + 1,
        rule_id="kerb",
        rule_kind="line",
        action="cross",
        direction="in",
        cls="person",
        seq=1,
    )
    subs = [
        FakeSubscriber([[f1], RuntimeError("broker went away")]),
        FakeSubscriber([[hit, f2, make_detections(f2, BUS_BOXES)]]),
    ]
    made: list[FakeSubscriber] = []

    def subscribe() -> FakeSubscriber:
        sub = subs.pop(0)
        made.append(sub)
        return sub

    feed = LiveFeed(subscribe, live, retry_s=0.05)  # type: ignore[arg-type]
    feed.start()
    try:
        wait_for(lambda: (s := live.latest("cam-a")) is not None and s.detections is not None)
    finally:
        feed.stop()
    shown = live.latest("cam-a")
    assert shown is not None and shown.frame == f2
    assert live.rule_hits.after(0).items == [hit]
    assert feed.received == 4
    assert [s.closed for s in made] == [True, True]


def test_live_feed_retries_when_it_cannot_subscribe() -> None:
    """Guards the API failing to start (or the feed thread dying) while Kafka is down."""
    calls: list[int] = []

    def subscribe() -> FakeSubscriber:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("no broker")
        return FakeSubscriber([])

    feed = LiveFeed(subscribe, LiveView(), retry_s=0.02)  # type: ignore[arg-type]
    feed.start()
    try:
        wait_for(lambda: len(calls) >= 3)
    finally:
        feed.stop(timeout=5)
    assert len(calls) == 3


def test_live_feed_uses_a_fresh_consumer_group_each_time() -> None:
    """Guards API replicas sharing a group, which would split the cameras between them."""
    groups = {LiveFeed.group_id() for _ in range(20)}
    assert len(groups) == 20 and all(g.startswith("api-live-") for g in groups)
    assert set(LiveFeed.TOPICS) == {
        "frames",
        "detections",
        "rule_hits",
        "track_updates",
        "face_matches",
        "heartbeats",
    }
