"""The y5fu plate detectors (onnxruntime): output decoding, and real plates in real photos."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from civicsight.models.registry import resolve
from civicsight.models.runtimes.plate_detector import PlateDetector, decode_plates, letterbox_square
from civicsight.models.runtimes.yolo_decode import Letterbox

PHOTOS = ["eu10", "test_002", "test_013", "eu2"]


def labelled(media: Path, name: str) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    image = cv2.imread(str(media / "alpr_eu" / f"{name}.jpg"))
    assert image is not None, name
    x, y, w, h = (float(v) for v in (media / "alpr_eu" / f"{name}.txt").read_text().split()[1:5])
    return image, (x, y, x + w, y + h)


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - ix * iy
    return ix * iy / union


@pytest.fixture(scope="module", params=[320, 640])
def detector(request: pytest.FixtureRequest, model_mirror: Path) -> Iterator[PlateDetector]:
    spec, folder = resolve(f"plate-det-y5fu-{request.param}", model_mirror)
    det = PlateDetector(folder / spec.files[0].name, request.param, conf=0.2)
    det.start()
    yield det
    det.close()


@pytest.mark.parametrize("name", PHOTOS)
def test_finds_the_labelled_plate_with_its_corners(
    detector: PlateDetector, media_mirror: Path, name: str
) -> None:
    """Guards against wrong letterbox arithmetic or keypoint decoding (plates found in
    the wrong place, or corners that do not frame the plate)."""
    image, truth = labelled(media_mirror, name)
    plates = detector.detect(image)
    best = max(plates, key=lambda p: iou(p.xyxy, truth))
    assert iou(best.xyxy, truth) >= 0.5
    x1, y1, x2, y2 = truth
    expected = np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], np.float32)
    slack = max(6.0, 0.12 * (x2 - x1))
    assert np.abs(best.corners - expected).max() <= slack
    assert best.rows in (1, 2)
    assert plates[0].conf >= plates[-1].conf  # best first


def test_refuses_sizes_it_was_not_made_for(model_mirror: Path) -> None:
    spec, folder = resolve("plate-det-y5fu-320", model_mirror)
    with pytest.raises(ValueError, match="320 or 640"):
        PlateDetector(folder / spec.files[0].name, 416)
    det = PlateDetector(folder / spec.files[0].name, 320)
    with pytest.raises(RuntimeError, match="not started"):
        det.detect(np.zeros((10, 10, 3), np.uint8))


def test_wrong_model_file_is_refused(model_mirror: Path) -> None:
    """Guards against loading the 640 file as the 320 detector (silent garbage)."""
    spec, folder = resolve("plate-det-y5fu-640", model_mirror)
    det = PlateDetector(folder / spec.files[0].name, 320)
    with pytest.raises(RuntimeError, match=r"input .*expected \[1, 3, 320, 320\]"):
        det.start()


@pytest.mark.parametrize(
    ("shape", "left", "top", "scale"),
    [((100, 200, 3), 0, 80, 1.6), ((320, 160, 3), 80, 0, 1.0), ((320, 320, 3), 0, 0, 1.0)],
)
def test_letterbox_centres_the_image(
    shape: tuple[int, int, int], left: int, top: int, scale: float
) -> None:
    square, box = letterbox_square(np.full(shape, 7, np.uint8), 320)
    assert square.shape == (320, 320, 3)
    assert (box.left, box.top, box.scale) == (left, top, pytest.approx(scale))
    assert square[top + 1, left + 1, 0] == 7
    if top:
        assert square[0, 0, 0] == 114


def test_letterbox_refuses_non_images() -> None:
    with pytest.raises(ValueError, match="BGR image"):
        letterbox_square(np.zeros((10, 10), np.uint8), 320)


def row(
    cx: float, cy: float, w: float, h: float, obj: float, single: float, double: float
) -> list[float]:
    corners = [
        cx - w / 2,
        cy - h / 2,
        cx + w / 2,
        cy - h / 2,
        cx + w / 2,
        cy + h / 2,
        cx - w / 2,
        cy + h / 2,
    ]
    return [cx, cy, w, h, obj, *corners, single, double]


def test_decoding_maps_boxes_and_corners_back_and_keeps_the_best() -> None:
    """Guards against boxes in letterbox pixels, duplicate plates, and the row class."""
    out = np.array(
        [
            row(100, 100, 80, 20, 0.9, 0.9, 0.1),  # a single-row plate
            row(102, 101, 80, 20, 0.8, 0.9, 0.1),  # the same plate again (NMS)
            row(200, 200, 40, 30, 0.9, 0.2, 0.8),  # a double-row plate
            row(50, 50, 40, 30, 0.1, 0.9, 0.1),  # below the threshold
        ],
        np.float32,
    )
    box = Letterbox(scale=0.5, left=10, top=20, width=400, height=600)
    plates = decode_plates(out, box, conf=0.3, iou=0.5)
    assert len(plates) == 2
    single, double = sorted(plates, key=lambda p: p.xyxy[0])
    assert single.xyxy == pytest.approx(
        ((60 - 10) / 0.5, (90 - 20) / 0.5, (140 - 10) / 0.5, (110 - 20) / 0.5)
    )
    assert single.rows == 1 and double.rows == 2
    assert single.corners[0] == pytest.approx(np.array([100.0, 140.0]))
    assert single.conf == pytest.approx(0.81)


def test_decoding_checks_the_output_shape() -> None:
    with pytest.raises(ValueError, match=r"\(N, 15\)"):
        decode_plates(np.zeros((3, 14), np.float32), Letterbox(1, 0, 0, 10, 10), 0.3, 0.5)
