"""Per-tracklet thumbnails end to end without a broker: the stream app's tracklet
processor turns real crops into its per-tracklet track updates, they cross the wire
format, the indexer's batch step writes them, and the store answers each tracklet's
best crop and marks them on the cross-camera track that holds the tracklets."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from civicsight.bus import Received
from civicsight.events import Box, Crop, FrameDetections, TrackletRef, TrackUpdate
from civicsight.services.indexer.logic import index_batch
from civicsight.store.sqlite import SqliteTrackStore
from civicsight.streams.tracklet_processor import TrackletProcessor
from civicsight.topics import topic
from tests.support import media_file

T0 = 1_700_000_000.0
WALKER = (48, 400, 245, 905)  # a pedestrian in bus.jpg, x1 y1 x2 y2


def jpeg(x1: int, y1: int, x2: int, y2: int) -> bytes:
    image = cv2.imread(str(media_file("bus.jpg")))
    assert image is not None
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(image[y1:y2, x1:x2]))
    assert ok
    return buf.tobytes()


def frame(camera: str, t: float, track_id: int) -> bytes:
    box = Box(x1=10, y1=10, x2=60, y2=90, cls="person", conf=0.8, track_id=track_id)
    return FrameDetections(
        camera_id=camera,
        seq=int(t - T0),
        captured_at=t,
        width=100,
        height=100,
        model="m",
        boxes=(box,),
        detected_at=t,
    ).to_bytes()


def crop(camera: str, track_id: int, t: float, quality: float, data: bytes) -> bytes:
    box = Box(x1=10, y1=10, x2=60, y2=90, cls="person", conf=0.8, track_id=track_id)
    return Crop(
        camera_id=camera, track_id=track_id, captured_at=t, box=box, quality=quality, jpeg=data
    ).to_bytes()


def updates(crops: dict[str, bytes]) -> list[TrackUpdate]:
    """What the stream app publishes for two walkers (cam-a/1, cam-b/2) whose crops come
    in the order given: a sharp one, then a blurrier one that must not replace it."""
    p = TrackletProcessor({}, {}, min_detections=3, update_interval=1.0, timeout=3.0)
    out: list[TrackUpdate] = []
    for i in range(8):
        t = T0 + i
        if i == 1:
            p.on_crop(crop("cam-a", 1, t, 0.4, crops["a-first"]), 0)
        if i == 4:
            p.on_crop(crop("cam-a", 1, t, 0.9, crops["a-sharp"]), 0)
            p.on_crop(crop("cam-b", 2, t, 0.7, crops["b"]), 1)
        if i == 6:
            p.on_crop(crop("cam-a", 1, t, 0.5, crops["a-blurry"]), 0)
        out += p.on_detections(frame("cam-a", t, 1), 0, t)
        out += p.on_detections(frame("cam-b", t + 20, 2), 1, t + 20)
    out += p.on_tick(0, T0 + 60) + p.on_tick(1, T0 + 80)
    return out


@pytest.fixture
def crops() -> dict[str, bytes]:
    x1, y1, x2, y2 = WALKER
    return {
        "a-first": jpeg(x1, y1, x2, y1 + 200),
        "a-sharp": jpeg(x1, y1, x2, y2),
        "a-blurry": jpeg(x1 + 20, y1, x2, y2 - 100),
        "b": jpeg(665, 375, 810, 880),
    }


@pytest.mark.parametrize("order", ["as-sent", "reversed", "twice"])
def test_each_tracklet_keeps_its_best_crop_through_the_indexer(
    tmp_path: Path, crops: dict[str, bytes], order: str
) -> None:
    """Guards the track page showing no thumbnail per camera visit (the crop only ever
    reached the stream app), a later, blurrier crop replacing the sharp one, and a
    redelivered or reordered batch regressing a thumbnail."""
    sent = updates(crops)
    limit = topic("track_updates").max_bytes
    assert all(len(u.to_bytes()) <= limit for u in sent)
    wire = [TrackUpdate.from_bytes(u.to_bytes()) for u in sent]  # what the indexer reads
    batch = {"as-sent": wire, "reversed": wire[::-1], "twice": wire + wire}[order]
    store = SqliteTrackStore(tmp_path / "tracks.db")
    store.open()
    dead: list[str] = []

    def write(events: list[TrackUpdate]) -> None:
        items = [Received("track_updates", u.track_id, u, None) for u in events]  # type: ignore[arg-type]
        index_batch(store, items, lambda _r, why: dead.append(why), T0)

    write(batch)
    joined = TrackUpdate(
        track_id="g-walker",
        version=1,
        cls="person",
        tracklets=(
            TrackletRef(camera_id="cam-a", track_id=1, first_seen=T0, last_seen=T0 + 7),
            TrackletRef(camera_id="cam-b", track_id=2, first_seen=T0 + 20, last_seen=T0 + 27),
        ),
        first_seen=T0,
        last_seen=T0 + 27,
        emitted_at=T0 + 90,
    )
    write([joined])
    assert dead == []
    assert store.tracklet_crop("cam-a/1") == crops["a-sharp"]
    assert store.tracklet_crop("cam-b/2") == crops["b"]
    detail = store.detail("g-walker")
    assert detail is not None and detail.track.has_crop
    assert [(s.tracklet, s.has_crop) for s in detail.trajectory] == [
        ("cam-a/1", True),
        ("cam-b/2", True),
    ]
    store.close()
