"""YuNet on real photos: the expected faces, and boxes mapped back through the letterbox."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from civicsight.models.registry import resolve
from civicsight.models.runtimes.face_detector import YuNetDetector
from tests.support import media_file


@pytest.fixture(scope="module")
def detector(model_mirror: Path) -> Iterator[YuNetDetector]:
    spec, folder = resolve("face-det-yunet-s", model_mirror)
    det = YuNetDetector(folder / spec.files[0].name)
    det.start()
    yield det
    det.close()


def photo(name: str) -> np.ndarray:
    image = cv2.imread(str(media_file(f"faces/{name}")))
    assert image is not None
    return image


def iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return float(inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter))


@pytest.mark.parametrize(
    ("name", "faces"),
    [
        ("train_obama_obama.jpg", 1),
        ("obama3.jpg", 1),  # 1434 x 2333 portrait: scaled down
        ("train_kit_harington_john2.jpeg", 1),  # 630 x 374: scaled up
        ("train_biden_biden2.jpg", 1),  # plus weak false hits in the painting, below 0.8
        ("two_people.jpg", 2),
        ("test_kit_with_rose.jpg", 2),
        ("test_obama_and_biden.jpg", 3),  # and the girl at the bottom right
    ],
)
def test_finds_the_faces_in_the_sample_photos(
    detector: YuNetDetector, name: str, faces: int
) -> None:
    """Guards against losing faces (or inventing confident ones) in the 640x640 letterbox."""
    image = photo(name)
    found = detector.detect(image)
    assert int((found.scores >= 0.8).sum()) == faces
    h, w = image.shape[:2]
    assert (found.boxes[:, [0, 2]] <= w).all() and (found.boxes[:, [1, 3]] <= h).all()
    assert (found.boxes >= 0).all()
    confident = found.scores >= 0.8
    for box, points in zip(found.boxes[confident], found.landmarks[confident], strict=True):
        assert box[0] <= points[:, 0].min() and points[:, 0].max() <= box[2]  # eyes, nose, mouth
        assert box[1] <= points[:, 1].min() and points[:, 1].max() <= box[3]


def scaled(factor: float) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]:
    def move(image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        out = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
        return out, np.full(4, factor, np.float32), np.zeros(4, np.float32)

    return move


def padded(dx: int, dy: int) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]:
    def move(image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        h, w = image.shape[:2]
        out = np.zeros((h + dy + 50, w + dx + 900, 3), np.uint8)
        out[dy : dy + h, dx : dx + w] = image
        return out, np.ones(4, np.float32), np.array([dx, dy, dx, dy], np.float32)

    return move


@pytest.mark.parametrize(
    "move",
    [scaled(0.5), scaled(0.3), padded(400, 120)],
    ids=["half-size", "small-enlarged", "wide-canvas-offset"],
)
def test_boxes_follow_the_image_through_the_letterbox(
    detector: YuNetDetector, move: Callable[[np.ndarray], tuple[np.ndarray, ...]]
) -> None:
    """Guards the mapping from the 640x640 network input back to image pixels."""
    image = photo("train_obama_obama.jpg")  # 910 x 1137
    (box,) = detector.detect(image).boxes
    moved, scale, offset = move(image)
    found = detector.detect(moved)
    best = int(np.argmax(found.scores))
    assert iou(found.boxes[best], box * scale + offset) > 0.85


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((10, 10), np.uint8),
        np.zeros((10, 10, 3), np.float32),
        np.zeros((0, 5, 3), np.uint8),
    ],
    ids=["grey", "float", "empty"],
)
def test_refuses_what_is_not_a_bgr_image(detector: YuNetDetector, image: np.ndarray) -> None:
    with pytest.raises(ValueError, match="BGR uint8"):
        detector.detect(image)


def test_blank_image_has_no_faces(detector: YuNetDetector) -> None:
    found = detector.detect(np.full((480, 640, 3), 127, np.uint8))
    assert len(found) == 0 and found.boxes.shape == (0, 4)


def test_lifecycle_errors_are_clear(tmp_path: Path) -> None:
    det = YuNetDetector(tmp_path / "missing.onnx")
    with pytest.raises(RuntimeError, match="not started"):
        det.detect(np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(FileNotFoundError, match=r"missing\.onnx"):
        det.start()
