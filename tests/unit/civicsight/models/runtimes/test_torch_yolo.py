"""The torch (GPU) detection path: letterbox, on-device NMS, decoding, the pipelined stream.
Runs on CUDA where present (the prepared GPU check runs this file there), else on the CPU.

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

from civicsight.models.runtimes.torch_yolo import TorchYolo, TorchYoloOptions, pick_device
from civicsight.models.runtimes.yolo_decode import Letterbox


@pytest.fixture(scope="module")
def detector() -> Iterator[TorchYolo]:
    d = TorchYolo("yolo11n.yaml", "auto", TorchYoloOptions(imgsz=320, rect=False))
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
    (det,) = detector._nms(pred_tensor(rows).to(detector.device), [IDENTITY])
    got = sorted((int(c), round(float(s), 2)) for c, s in zip(det.class_id, det.conf, strict=True))
    assert got == sorted(expected)


def test_boxes_map_back_through_the_letterbox(detector: TorchYolo) -> None:
    """Guards against boxes left in network coordinates (offset by the padding)."""
    lb = Letterbox(scale=0.5, left=0, top=80, width=1280, height=960)
    (det,) = detector._nms(pred_tensor([(100, 180, 40, 40, 0, 0.9)]).to(detector.device), [lb])
    np.testing.assert_allclose(det.xyxy[0], [160, 160, 240, 240], atol=1e-3)


def test_letterbox_places_the_image_centred_with_grey(detector: TorchYolo) -> None:
    image = torch.full((3, 100, 200), 255, dtype=torch.uint8, device=detector.device)
    batch, (lb,) = detector.letterbox([image])
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
        pred = detector.forward(
            torch.zeros(2, 3, 320, 320, device=detector.device, dtype=detector.dtype)
        )
    assert pred.shape == (2, 84, 2100)  # 40*40 + 20*20 + 10*10 anchors at 320


def test_cuda_asked_for_without_cuda_is_a_clear_error() -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(RuntimeError, match="no CUDA device"):
        pick_device("cuda")
    assert pick_device("auto") == "cpu"


def test_nms_keeps_frames_apart(detector: TorchYolo) -> None:
    """Guards the one-NMS-per-batch path: the same box in two frames must survive in both,
    and each frame keeps only its own boxes."""
    one = pred_tensor([(100, 100, 50, 50, 0, 0.9), (400, 400, 50, 50, 2, 0.7)])
    two = pred_tensor([(100, 100, 50, 50, 0, 0.8), (50, 50, 10, 10, 14, 0.9)])
    empty = pred_tensor([(100, 100, 50, 50, 0, 0.1), (10, 10, 5, 5, 0, 0.0)])
    pred = torch.cat([one, empty, two]).to(detector.device)
    got = detector._nms(pred, [IDENTITY] * 3)
    assert [sorted(d.class_id.tolist()) for d in got] == [[0, 2], [], [0]]
    assert got[2].conf.tolist() == pytest.approx([0.8])


def test_max_det_is_per_frame_best_first(detector: TorchYolo) -> None:
    rows = [(40.0 * i + 20, 20, 10, 10, 0, 0.3 + 0.01 * i) for i in range(12)]
    small = TorchYolo("yolo11n.yaml", detector.device, TorchYoloOptions(imgsz=320, max_det=5))
    small._wanted = detector._wanted
    (det,) = small._nms(pred_tensor(rows).to(detector.device), [IDENTITY])
    assert det.conf.tolist() == pytest.approx([0.41, 0.4, 0.39, 0.38, 0.37])


@pytest.mark.parametrize(
    ("sizes", "rect", "canvas"),
    [
        ([(1080, 1920)], True, (192, 320)),  # 16:9 -> 320x180 -> canvas 320x192
        ([(1080, 1920)], False, (320, 320)),
        ([(1080, 1920), (480, 640)], True, (256, 320)),  # 4:3 frame sets the height
        ([(100, 200), (100, 200), (300, 300)], True, (320, 320)),
    ],
    ids=["hd-rect", "hd-square", "mixed-rect", "mixed-groups"],
)
def test_letterbox_batches_mixed_sizes(
    detector: TorchYolo, sizes: list[tuple[int, int]], rect: bool, canvas: tuple[int, int]
) -> None:
    """Guards against frames of one batch being resized with another frame's scale, or
    landing in the wrong batch row, when sizes are grouped for one resize call."""
    d = TorchYolo("yolo11n.yaml", detector.device, TorchYoloOptions(imgsz=320, rect=rect))
    d._half = detector._half
    images = [
        torch.full((3, h, w), 10 * (i + 1), dtype=torch.uint8, device=detector.device)
        for i, (h, w) in enumerate(sizes)
    ]
    batch, boxes = d.letterbox(images)
    assert tuple(batch.shape) == (len(sizes), 3, *canvas)
    for i, ((h, w), lb) in enumerate(zip(sizes, boxes, strict=True)):
        assert (lb.width, lb.height) == (w, h)
        assert lb.scale == pytest.approx(min(320 / w, 320 / h))
        cy = lb.top + round(h * lb.scale) // 2
        cx = lb.left + round(w * lb.scale) // 2
        assert float(batch[i, 1, cy, cx]) == pytest.approx(10 * (i + 1) / 255, abs=2e-3)


def test_stream_gives_what_batch_calls_give(detector: TorchYolo, media_mirror: Path) -> None:
    """Guards the decode-ahead thread: results in batch order, none lost or swapped,
    empty batches kept, and an undecodable frame gives None without failing its batch."""
    images = [cv2.imread(str(media_mirror / n)) for n in ("bus.jpg", "zidane.jpg")]
    jpegs = [cv2.imencode(".jpg", im)[1].tobytes() for im in images]
    batches = [[jpegs[0]], [], [jpegs[1], jpegs[0]], [jpegs[1]]]
    streamed = list(detector.detect_stream(batches))
    direct = [detector.detect_jpegs(b) for b in batches]
    assert [len(s) for s in streamed] == [1, 0, 2, 1]
    for s, d in zip(streamed, direct, strict=True):
        for a, b in zip(s, d, strict=True):
            np.testing.assert_allclose(a.xyxy, b.xyxy, atol=1e-2)
            assert a.class_id.tolist() == b.class_id.tolist()
    bad = list(detector.detect_stream([[jpegs[0]], [b"not a jpeg", jpegs[1]], [b"\xff\xd8"]]))
    assert [[d is None for d in b] for b in bad] == [[False], [True, False], [True]]


def test_device_image_crops_like_a_bgr_array(detector: TorchYolo, media_mirror: Path) -> None:
    """Guards crops cut from device frames: same pixels (BGR, rows then columns) as
    cutting the CPU-decoded frame, within JPEG decoder differences."""
    bgr = cv2.imread(str(media_mirror / "bus.jpg"))
    jpeg = cv2.imencode(".jpg", bgr)[1].tobytes()
    ((_, image),) = next(detector.detect_stream_images([[jpeg]]))
    assert image.shape == bgr.shape
    crop = image[100:200, 50:130]
    assert crop.shape == (100, 80, 3) and crop.dtype == np.uint8
    ref = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)[100:200, 50:130]
    assert np.abs(crop.astype(int) - ref.astype(int)).mean() < 3
