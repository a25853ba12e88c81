"""The PP-OCRv4 recogniser (onnxruntime) limited to plate characters, on real plates."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from civicsight.models.registry import resolve
from civicsight.models.runtimes.plate_ocr import (
    ALPHABET,
    PlateRecognizer,
    line_tensor,
    project,
    projection,
)

# photos whose plate the bare recogniser reads right from the labelled box
PHOTOS = ["eu10", "test_002", "eu2", "test_014"]


@pytest.fixture(scope="module")
def recognizer() -> Iterator[PlateRecognizer]:
    spec, folder = resolve("plate-ocr-ppocrv4-rec", None)
    rec = PlateRecognizer(folder / spec.files[0].name, threads=2)
    rec.start()
    yield rec
    rec.close()


def plate_crop(media: Path, name: str) -> tuple[np.ndarray, str]:
    image = cv2.imread(str(media / "alpr_eu" / f"{name}.jpg"))
    assert image is not None, name
    parts = (media / "alpr_eu" / f"{name}.txt").read_text().split()
    x, y, w, h = (int(v) for v in parts[1:5])
    return image[y : y + h, x : x + w], parts[5]


def greedy(probs: np.ndarray) -> str:
    best = probs.argmax(axis=1)
    return "".join(
        ALPHABET[k - 1] for i, k in enumerate(best) if k and (i == 0 or best[i - 1] != k)
    )


def test_reads_real_plates(recognizer: PlateRecognizer, media_mirror: Path) -> None:
    """Guards against wrong pre-processing (colour order, scaling, padding) or a wrong
    character table: each would garble every plate."""
    crops, texts = zip(*(plate_crop(media_mirror, n) for n in PHOTOS), strict=True)
    readings = recognizer.recognize(list(crops))
    assert [greedy(r) for r in readings] == list(texts)
    for r, crop in zip(readings, crops, strict=True):
        assert r.shape[1] == 1 + len(ALPHABET)
        np.testing.assert_allclose(r.sum(axis=1), 1.0, atol=1e-4)
        assert len(r) == math.ceil(math.ceil(48 * crop.shape[1] / crop.shape[0]) / 8)  # unpadded


def test_batching_does_not_change_a_reading(
    recognizer: PlateRecognizer, media_mirror: Path
) -> None:
    """Guards against padding in a batch leaking characters into narrower lines."""
    crops = [plate_crop(media_mirror, n)[0] for n in PHOTOS]
    together = recognizer.recognize(crops)
    for crop, batched in zip(crops, together, strict=True):
        (alone,) = recognizer.recognize([crop])
        assert greedy(alone) == greedy(batched)


def test_projection_folds_case_and_separators_and_drops_the_rest() -> None:
    """Guards against lower-case or Chinese characters leaking into plate texts."""
    sources, targets = projection(["a", "A", "-", "中", "1"])
    mapping = dict(zip(sources.tolist(), targets.tolist(), strict=True))
    a, one = 1 + ALPHABET.index("A"), 1 + ALPHABET.index("1")
    assert mapping == {0: 0, 1: a, 2: a, 3: 0, 5: one, 6: 0}  # 4 (中) dropped; 6 = space
    probs = np.array([[[0.1, 0.2, 0.2, 0.1, 0.3, 0.1, 0.0]]], np.float32)
    out = project(probs, sources, targets)
    assert out[0, 0, a] == pytest.approx(0.4 / 0.7)
    assert out[0, 0, 0] == pytest.approx(0.2 / 0.7)
    assert out.sum() == pytest.approx(1.0)


def test_line_tensor_scales_to_48_and_pads_right() -> None:
    lines = [np.full((24, 96, 3), 255, np.uint8), np.zeros((48, 48, 3), np.uint8)]
    batch = line_tensor(lines)
    assert batch.shape == (2, 3, 48, 192)
    assert batch[0].max() == pytest.approx(1.0) and batch[1, :, :, :48].min() == -1.0
    assert (batch[1, :, :, 48:] == 0).all()
    with pytest.raises(ValueError, match="BGR text line"):
        line_tensor([np.zeros((48, 100), np.uint8)])


def test_must_be_started(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="not started"):
        PlateRecognizer(tmp_path / "none.onnx").recognize([np.zeros((48, 96, 3), np.uint8)])
