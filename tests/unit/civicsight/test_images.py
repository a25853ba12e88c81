"""Crop decoding shared by the perception services."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest

from civicsight.bus import Received
from civicsight.events import Box, Crop
from civicsight.images import decode_jpeg, decoded_crops


def crop(camera: str, jpeg: bytes, cls: str = "person") -> Crop:
    box = Box(x1=0, y1=0, x2=10, y2=10, cls=cls, conf=0.9, track_id=1)  # type: ignore[arg-type]
    return Crop(camera_id=camera, track_id=1, captured_at=1.0, box=box, quality=0.5, jpeg=jpeg)


@pytest.mark.parametrize(
    ("data", "min_side", "ok"),
    [(b"\xff\xd8garbage\xff\xd9", 1, False), ("real", 1, True), ("real", 5000, False)],
)
def test_decode_jpeg(media_mirror: Path, data: bytes | str, min_side: int, ok: bool) -> None:
    if data == "real":
        data = cv2.imencode(".jpg", cv2.imread(str(media_mirror / "bus.jpg")))[1].tobytes()
    assert (decode_jpeg(data, min_side) is not None) is ok  # type: ignore[arg-type]


def test_only_wanted_crops_are_decoded_and_broken_ones_dead_lettered(
    media_mirror: Path,
) -> None:
    """Guards against decoding crops of cameras where an analytics is off (privacy), and
    against a broken JPEG stopping the batch."""
    good = cv2.imencode(".jpg", cv2.imread(str(media_mirror / "zidane.jpg")))[1].tobytes()
    broken = b"\xff\xd8broken\xff\xd9"
    batch = [
        Received("crops", c.camera_id, c, None)
        for c in (  # type: ignore[arg-type]
            crop("on", good),
            crop("off", broken),
            crop("on", broken),
        )
    ]
    dead: list[str] = []
    out = decoded_crops(
        batch, lambda c: c.camera_id == "on", lambda r, why: dead.append(f"{r.key}: {why}")
    )
    assert [(c.camera_id, im.shape[2]) for c, im in out] == [("on", 3)]
    assert dead == ["on: crop JPEG cannot be decoded"]  # the off camera's was never opened
