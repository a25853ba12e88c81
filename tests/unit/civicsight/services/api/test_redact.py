"""Faces blurred for roles without face permission, checked with the face detector itself:
after redaction YuNet must find no face where it found them before (real photo)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from civicsight.events import Box, Frame, FrameDetections
from civicsight.models.registry import resolve
from civicsight.services.api.live import LiveView
from civicsight.services.api.redact import YuNetFaces, head_regions, pixelate, redact_faces


@pytest.fixture(scope="module")
def faces(model_mirror: Path) -> Iterator[YuNetFaces]:
    spec, folder = resolve("face-det-yunet-s", model_mirror)
    finder = YuNetFaces(folder / spec.files[0].name)
    finder.start()
    yield finder
    finder.close()


@pytest.fixture(scope="module")
def zidane(media_mirror: Path) -> np.ndarray:
    image = cv2.imread(str(media_mirror / "zidane.jpg"))
    assert image is not None
    return image


def person(x1: float, y1: float, x2: float, y2: float, cls: str = "person") -> Box:
    return Box(x1=x1, y1=y1, x2=x2, y2=y2, cls=cls, conf=0.9, track_id=1)


@pytest.mark.parametrize(
    ("box", "expected"),
    [
        (person(100, 100, 200, 600), [(90.0, 90.0, 210.0, 200.0)]),
        (person(100, 100, 200, 600, cls="car"), []),  # only people have heads
    ],
)
def test_head_regions(box: Box, expected: list[tuple[float, ...]]) -> None:
    assert [tuple(round(v, 3) for v in r) for r in head_regions([box])] == expected


@pytest.mark.parametrize("size", [8, 30, 200])
def test_pixelate_changes_only_the_region_and_leaves_no_detail(size: int) -> None:
    """Guards large faces: however big the region, it becomes at most 5 x 5 flat cells."""
    rng = np.random.default_rng(size)
    image = rng.integers(0, 255, (300, 300, 3), dtype=np.uint8)
    out = pixelate(image, [(50, 50, 50 + size, 50 + size)])
    outside = np.ones(image.shape[:2], bool)
    outside[50 : 50 + size, 50 : 50 + size] = False
    assert np.array_equal(out[outside], image[outside])
    region = out[50 : 50 + size, 50 : 50 + size].reshape(-1, 3)
    assert len(np.unique(region, axis=0)) <= 25


def test_no_face_is_found_after_redaction(faces: YuNetFaces, zidane: np.ndarray) -> None:
    assert len(faces.face_boxes(zidane)) >= 2
    assert faces.face_boxes(redact_faces(zidane, [], faces)) == []


def test_live_tiles_are_redacted_per_request_and_cached_apart(
    faces: YuNetFaces, zidane: np.ndarray
) -> None:
    """Guards against a viewer being served the cached unblurred drawing an investigator
    caused (or the reverse), and against a fail-open without a face model."""
    h, w = zidane.shape[:2]
    jpeg = cv2.imencode(".jpg", zidane)[1].tobytes()
    frame = Frame(camera_id="c", seq=1, captured_at=1.0, width=w, height=h, jpeg=jpeg)
    dets = FrameDetections(
        camera_id="c",
        seq=1,
        captured_at=1.0,
        width=w,
        height=h,
        model="m",
        boxes=(person(1, 40, 660, 720),),
        detected_at=2.0,
    )
    for redactor, minimum_plain in ((lambda im, b: redact_faces(im, b, faces)), 2), (None, 2):
        live = LiveView(redactor=redactor)
        live.offer_frame(frame)
        live.offer_detections(dets)
        for redact in (False, True, False, True):
            found = live.annotated("c", redact=redact)
            assert found is not None
            image = cv2.imdecode(np.frombuffer(found[0], np.uint8), cv2.IMREAD_COLOR)
            n = len(faces.face_boxes(image))
            if redact and redactor is not None:
                assert n == 0
            elif not redact:
                assert n >= minimum_plain
