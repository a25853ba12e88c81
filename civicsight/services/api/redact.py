"""Faces blurred out of frames for roles that may not see them.

Two layers, so that a face the detector misses is still hidden: every face YuNet finds,
and the head of every person box (its top fifth, widened a little). Blurring is a coarse
pixelation (it cannot be undone by sharpening). Pure functions on arrays; the detector
is passed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from civicsight.events import Box

Region = tuple[float, float, float, float]


class FaceFinder(Protocol):
    def face_boxes(self, image: np.ndarray) -> list[Region]: ...


def head_regions(boxes: Iterable[Box]) -> list[Region]:
    """The top fifth of each person box, 10 % wider on each side."""
    out: list[Region] = []
    for b in boxes:
        if b.cls != "person":
            continue
        w, h = b.x2 - b.x1, b.y2 - b.y1
        out.append((b.x1 - 0.1 * w, b.y1 - 0.02 * h, b.x2 + 0.1 * w, b.y1 + 0.2 * h))
    return out


def pixelate(image: np.ndarray, regions: Sequence[Region], blocks: int = 5) -> np.ndarray:
    """A copy of ``image`` with each region replaced by ``blocks`` x ``blocks`` flat cells,
    however large the region: a face becomes a few colour patches, never a smaller face."""
    out = image.copy()
    h, w = out.shape[:2]
    for x1, y1, x2, y2 in regions:
        a, b = max(0, int(x1)), max(0, int(y1))
        c, d = min(w, int(np.ceil(x2))), min(h, int(np.ceil(y2)))
        if c <= a or d <= b:
            continue
        small = cv2.resize(
            out[b:d, a:c], (min(blocks, c - a), min(blocks, d - b)), interpolation=cv2.INTER_AREA
        )
        out[b:d, a:c] = cv2.resize(small, (c - a, d - b), interpolation=cv2.INTER_NEAREST)
    return out


def redact_faces(image: np.ndarray, boxes: Iterable[Box], finder: FaceFinder | None) -> np.ndarray:
    regions = head_regions(boxes)
    if finder is not None:
        regions += finder.face_boxes(image)
    return pixelate(image, regions)


class YuNetFaces:
    """``FaceFinder`` over the faces service's YuNet detector; boxes grown by 25 %."""

    def __init__(self, onnx_path: Path) -> None:
        from civicsight.models.runtimes.face_detector import YuNetDetector

        self._detector = YuNetDetector(onnx_path, score_threshold=0.5)

    def start(self) -> None:
        self._detector.start()

    def close(self) -> None:
        self._detector.close()

    def face_boxes(self, image: np.ndarray) -> list[Region]:
        out: list[Region] = []
        for x1, y1, x2, y2 in self._detector.detect(image).boxes.tolist():
            gw, gh = 0.25 * (x2 - x1), 0.25 * (y2 - y1)
            out.append((x1 - gw, y1 - gh, x2 + gw, y2 + gh))
        return out
