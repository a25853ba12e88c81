"""The torch (GPU) detection path, run on the CPU: letterbox, on-device NMS, decoding.

Random weights (the YOLO11n architecture from its YAML) are used only for shapes and
speed; accuracy is never claimed for them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from models.runtimes.torch_yolo import TorchYolo, TorchYoloOptions, pick_device
from models.runtimes.yolo_decode import Letterbox


@pytest.fixture(scope="module")
def detector() -> Iterator[TorchYolo]:
    d = TorchYolo("yolo11n.yaml", "cpu", TorchYoloOptions(imgsz=320))
    d.start()
    yield d
    d.close()


def pred_tensor(
    rows: list[tuple[float, float, float, float, int, float]], classes: int = 80
) -> torch.Tensor:
    """(1, 4 + classes, A): one anchor per row (cx, cy, w, h, class, score)."""
    pred = torch.zeros(1, 4 + classes, len(rows))
    for a, (cx, cy, w, h, cls, score) in enumerate(rows):
        pred[0, :4, a] = torch.tensor([cx, cy, w, h])
        pred[0, 4 + cls, a] = score
    return pred


IDENTITY = Letterbox(scale=1.0, left=0, top=0, width=640, height=640)


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([(100, 100, 50, 50, 0, 0.9), (102, 101, 50, 50, 0, 0.8)], [(0, 0.9)]),  # duplicate
        ([(100, 100, 50, 50, 0, 0.9), (102, 101, 50, 50, 2, 0.8)], [(0, 0.9), (2, 0.8)]),
        ([(100, 100, 50, 50, 14, 0.9)], []),  # a bird is not tracked
        ([(100, 100, 50, 50, 0, 0.1)], []),  # below the confidence threshold
        ([(300, 300, 40, 80, 7, 0.5), (100, 100, 20, 20, 5, 0.6)], [(5, 0.6), (7, 0.5)]),
    ],
    ids=["same-class-overlap", "other-class-overlap", "untracked", "low-conf", "two"],
)
def test_nms_on_device(
    detector: TorchYolo,
    rows: list[tuple[float, float, float, float, int, float]],
    expected: list[tuple[int, float]],
) -> None:
    (det,) = detector._nms(pred_tensor(rows), [IDENTITY])
    got = sorted((int(c), round(float(s), 2)) for c, s in zip(det.class_id, det.conf, strict=True))
    assert got == sorted(expected)


def test_boxes_map_back_through_the_letterbox(detector: TorchYolo) -> None:
    """Guards against boxes left in network coordinates (offset by the padding)."""
    lb = Letterbox(scale=0.5, left=0, top=80, width=1280, height=960)
    (det,) = detector._nms(pred_tensor([(100, 180, 40, 40, 0, 0.9)]), [lb])
    np.testing.assert_allclose(det.xyxy[0], [160, 160, 240, 240], atol=1e-3)


def test_letterbox_places_the_image_centred_with_grey(detector: TorchYolo) -> None:
    image = torch.full((3, 100, 200), 255, dtype=torch.uint8)
    batch, (lb,) = detector._letterbox([image])
    assert batch.shape == (1, 3, 320, 320)
    assert (lb.scale, lb.left, lb.top) == (1.6, 0, 80)
    assert float(batch[0, 0, 0, 0]) == pytest.approx(114 / 255, abs=1e-3)
    assert float(batch[0, 0, 160, 160]) == pytest.approx(1.0)


def test_detect_jpegs_runs_end_to_end_on_real_frames(
    detector: TorchYolo, media_mirror: Path
) -> None:
    images = [cv2.imread(str(media_mirror / n)) for n in ("bus.jpg", "zidane.jpg")]
    jpegs = [cv2.imencode(".jpg", im)[1].tobytes() for im in images]
    out = detector.detect_jpegs(jpegs)
    assert len(out) == 2 and all(d.xyxy.shape[1] == 4 for d in out)
    assert detector.detect_jpegs([]) == []


def test_forward_gives_one_prediction_per_anchor(detector: TorchYolo) -> None:
    with torch.inference_mode():
        pred = detector.forward(torch.zeros(2, 3, 320, 320))
    assert pred.shape == (2, 84, 2100)  # 40*40 + 20*20 + 10*10 anchors at 320


def test_cuda_asked_for_without_cuda_is_a_clear_error() -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(RuntimeError, match="no CUDA device"):
        pick_device("cuda")
    assert pick_device("auto") == "cpu"
