"""Fixtures for the API tests: real sample media, a filled SQLite store, tokens, cameras."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from civicsight.audit import AuditLog
from civicsight.auth import Role, TokenStore
from civicsight.cameras import CameraConfig
from civicsight.events import (
    Box,
    Frame,
    FrameDetections,
    ObjectClass,
    TrackletRef,
    TrackUpdate,
)
from civicsight.store.sqlite import SqliteTrackStore
from tests.support import media_file

REPO = Path(__file__).resolve().parents[5]
T0 = (time.time() // 86_400 - 2) * 86_400
"""Midnight (UTC) two days ago: inside the 31 days a search covers by default, and on a
bin boundary."""
SECRET = "s3cr3t-pa55"


def bus_image() -> np.ndarray:
    image = cv2.imread(str(media_file("bus.jpg")))
    assert image is not None
    return image


def encode_jpeg(image: np.ndarray, quality: int = 85) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buf.tobytes()


def make_frame(camera_id: str, seq: int, image: np.ndarray, captured_at: float = T0) -> Frame:
    h, w = image.shape[:2]
    return Frame(
        camera_id=camera_id,
        seq=seq,
        captured_at=captured_at,
        width=w,
        height=h,
        jpeg=encode_jpeg(image),
    )


def make_detections(frame: Frame, boxes: tuple[Box, ...]) -> FrameDetections:
    return FrameDetections(
        camera_id=frame.camera_id,
        seq=frame.seq,
        captured_at=frame.captured_at,
        width=frame.width,
        height=frame.height,
        model="test-model@1",
        boxes=boxes,
        detected_at=frame.captured_at + 0.05,
    )


# the bus and a pedestrian in bus.jpg (810x1080), roughly
BUS_BOXES = (
    Box(x1=20, y1=230, x2=800, y2=750, cls="bus", conf=0.9, track_id=3),
    Box(x1=48, y1=400, x2=245, y2=905, cls="person", conf=0.8, track_id=7),
)

CLASSES: tuple[ObjectClass, ...] = ("car", "person", "bus", "truck")


@dataclass(frozen=True)
class TrackSpec:
    track_id: str
    cls: ObjectClass
    cameras: tuple[str, ...]
    first_seen: float
    last_seen: float
    crop: bool
    closed: bool


def track_specs() -> list[TrackSpec]:
    """Twelve tracks: classes cycling, cameras a/b (every fourth on both), 60 s apart."""
    specs: list[TrackSpec] = []
    for i in range(12):
        cams = ("cam-a", "cam-b") if i % 4 == 0 else (("cam-a",) if i % 2 else ("cam-b",))
        first = T0 + 60 * i
        specs.append(
            TrackSpec(
                f"t-{i:016x}",
                CLASSES[i % len(CLASSES)],
                cams,
                first,
                first + 20 + i,
                crop=i % 3 == 0,
                closed=i < 6,
            )
        )
    return specs


def track_update(spec: TrackSpec, crop: bytes | None, version: int = 1) -> TrackUpdate:
    return TrackUpdate(
        track_id=spec.track_id,
        version=version,
        cls=spec.cls,
        tracklets=tuple(
            TrackletRef(
                camera_id=c, track_id=n + 1, first_seen=spec.first_seen, last_seen=spec.last_seen
            )
            for n, c in enumerate(spec.cameras)
        ),
        first_seen=spec.first_seen,
        last_seen=spec.last_seen,
        closed=spec.closed,
        path=((0.1, 0.2), (0.3, 0.4)),
        best_crop_jpeg=crop if spec.crop else None,
        emitted_at=spec.last_seen + 1,
    )


@pytest.fixture
def crop_jpeg() -> bytes:
    return encode_jpeg(bus_image()[400:905, 48:245])


@pytest.fixture
def store(tmp_path: Path, crop_jpeg: bytes) -> Iterator[SqliteTrackStore]:
    s = SqliteTrackStore(tmp_path / "tracks.db")
    s.open()
    for spec in track_specs():
        assert s.upsert(track_update(spec, crop_jpeg), stored_at=T0 + 10_000)
    yield s
    s.close()


@pytest.fixture
def trail(tmp_path: Path) -> Iterator[AuditLog]:
    log = AuditLog(tmp_path)
    log.open()
    yield log
    log.close()


@pytest.fixture
def tokens(tmp_path: Path) -> Iterator[TokenStore]:
    t = TokenStore(tmp_path / "auth.db")
    t.open()
    yield t
    t.close()


@pytest.fixture
def token(tokens: TokenStore) -> str:
    return tokens.issue(Role.INVESTIGATOR, "test investigator")


@pytest.fixture
def cameras() -> list[CameraConfig]:
    return [
        CameraConfig(
            id="cam-a",
            name="Main St / 5th Ave",
            source=f"rtsp://admin:{SECRET}@10.0.0.5:554/stream1?token=qq{SECRET}",
            fps=5,
        ),
        CameraConfig(
            id="cam-b",
            name="Harbour bridge (simulated)",
            source="media:car-detection.mp4",
            simulated=True,
            transform="mirror",
        ),
    ]
