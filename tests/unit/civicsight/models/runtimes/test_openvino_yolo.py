"""The real detector on real images: hand-labelled counts, and parity with ultralytics."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml

from civicsight.bench.detect import load_labelled_image
from civicsight.models.registry import resolve
from civicsight.models.runtimes.openvino_yolo import (
    OpenVinoYolo,
    YoloOptions,
    batch_sizes,
    input_shape,
)
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


@pytest.mark.parametrize(
    ("most", "sizes"),
    [
        (1, (1,)),
        (4, (1, 2, 4)),
        (8, (1, 2, 4, 8)),
        (6, (1, 2, 4, 6)),
        (128, (1, 2, 4, 8, 16, 32, 64, 128)),
    ],
)
def test_batch_sizes_hold_every_count(most: int, sizes: tuple[int, ...]) -> None:
    assert batch_sizes(most) == sizes


def test_a_single_frame_is_not_padded_to_a_full_batch(
    detector: OpenVinoYolo, media_mirror: Path
) -> None:
    """Guards the latency bug where one frame under light load was inferred as a batch of
    ``batch`` (three padding images' worth of CPU and time)."""
    image = load_labelled_image(media_mirror, LABELS[0])
    assert detector.input_tensor([image]).shape[0] == 1
    assert detector.input_tensor([image] * 3).shape[0] == 4


def test_a_batch_comes_back_before_more_input_arrives(
    detector: OpenVinoYolo, media_mirror: Path
) -> None:
    """Guards the latency bug where a batch's detections were held until ``requests``
    more batches had been handed in: a live camera waited seconds at low frame rates."""
    image = load_labelled_image(media_mirror, LABELS[0])
    handed = 0

    def source() -> Iterator[list[np.ndarray]]:
        nonlocal handed
        handed += 1
        yield [image]
        for _ in range(50):  # a quiet stream: empty polls, a little apart
            time.sleep(0.02)
            handed += 1
            yield []

    results = detector.detect_batches(source())
    first = next(results)
    assert len(first) == 1 and len(first[0]) > 0
    assert handed < 50, "the first batch waited for the whole stream"
    list(results)


def test_forward_infers_prepared_tensors(detector: OpenVinoYolo, media_mirror: Path) -> None:
    image = load_labelled_image(media_mirror, LABELS[0])
    tensors = [detector.input_tensor([image] * n) for n in (1, 4, 2)]
    assert detector.forward(tensors) == 1 + 4 + 2
