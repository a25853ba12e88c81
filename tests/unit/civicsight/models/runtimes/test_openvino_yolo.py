"""The real detector on real images: hand-labelled counts, and parity with ultralytics."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml

from civicsight.bench.detect import load_labelled_image
from civicsight.models.registry import resolve
from civicsight.models.runtimes.openvino_yolo import OpenVinoYolo, YoloOptions, input_shape
from civicsight.services.detect.pipeline import COCO_TRACKED

LABELS = yaml.safe_load(
    (Path(__file__).resolve().parents[4] / "fixtures/detect_labels.yaml").read_text()
)["images"]


@pytest.fixture(scope="module")
def detector(model_mirror: Path) -> Iterator[OpenVinoYolo]:
    _, folder = resolve("yolov8n-int8-openvino", model_mirror)
    det = OpenVinoYolo(folder / "yolov8n.xml", YoloOptions(imgsz=640, batch=4))
    det.start()
    yield det
    det.close()


@pytest.mark.parametrize("item", LABELS, ids=lambda i: f"{i['file']}#{i.get('frame', 0)}")
def test_finds_the_labelled_people_and_vehicles(
    detector: OpenVinoYolo, media_mirror: Path, item: dict[str, object]
) -> None:
    """Guards against a faster path that silently loses detections."""
    image = load_labelled_image(media_mirror, item)
    (found,) = detector.detect([image])
    counts = Counter(COCO_TRACKED[int(c)] for c in found.class_id)
    want: dict[str, int] = item["counts"]  # type: ignore[assignment]
    for cls, n in want.items():
        assert counts[cls] >= n, f"{cls}: found {counts[cls]}, labelled {n}"
    assert sum(counts.values()) <= sum(want.values()) + 1  # at most one extra box


def test_batches_give_the_same_boxes_as_single_images(
    detector: OpenVinoYolo, media_mirror: Path
) -> None:
    """Guards against mixing up images inside a batch (order, letterbox of another size)."""
    images = [load_labelled_image(media_mirror, i) for i in LABELS[:4]]
    together = detector.detect(images)
    for image, batched in zip(images, together, strict=True):
        (alone,) = detector.detect([image])
        assert len(alone) == len(batched)
        np.testing.assert_allclose(alone.xyxy, batched.xyxy, atol=1.0)


def test_boxes_match_ultralytics_on_the_same_model(
    detector: OpenVinoYolo, media_mirror: Path, model_mirror: Path
) -> None:
    """The cut-graph decoder must agree with the reference pipeline (same model, same scale)."""
    from ultralytics import YOLO

    ref = YOLO(str(model_mirror / "det_yolov8n_int8_openvino_model"), task="detect")
    image = load_labelled_image(media_mirror, LABELS[0])  # bus.jpg
    r = ref.predict(image, verbose=False)[0]
    keep = [i for i, c in enumerate(r.boxes.cls.tolist()) if int(c) in COCO_TRACKED]
    theirs = r.boxes.xyxy.numpy()[keep]
    (ours,) = detector.detect([image])
    assert len(ours) == len(theirs)
    for box in theirs:  # int8 activations differ a little with the padding: IoU, not pixels
        assert max(iou(box, mine) for mine in ours.xyxy) > 0.8


def iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return float(inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter))


@pytest.mark.parametrize(
    ("hw", "expected"),
    [
        ((432, 768), (384, 640)),
        ((1080, 810), (640, 480)),
        ((720, 1280), (384, 640)),
        ((640, 640), (640, 640)),
    ],
)
def test_input_shape_keeps_aspect(hw: tuple[int, int], expected: tuple[int, int]) -> None:
    assert input_shape(*hw, 640) == expected


def test_too_large_batch_is_refused(detector: OpenVinoYolo) -> None:
    with pytest.raises(ValueError, match="at most"):
        list(detector.detect_batches([[np.zeros((8, 8, 3), np.uint8)] * 5]))
