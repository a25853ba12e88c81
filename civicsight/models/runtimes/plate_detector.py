"""Licence-plate detection (HyperLPR3 ``y5fu``) on onnxruntime.

The network is a YOLOv5-face style detector: its single output (1, N, 15) holds per
anchor cx, cy, w, h, objectness, four corner keypoints (x, y) and two class scores
(single-row, double-row plate), in letterboxed input pixels. The input is RGB / 255,
letterboxed to a square (320 or 640) and centred on grey 114.

onnxruntime is opened by ``onnx_cpu`` (shared with ``plate_ocr``); ``decode_plates`` is pure numpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from civicsight.models.runtimes.onnx_cpu import cpu_session
from civicsight.models.runtimes.yolo_decode import Letterbox, letterbox, nms

OUTPUT_WIDTH = 15


@dataclass(frozen=True)
class PlateBox:
    """One plate in image pixels: box, score, corners (tl, tr, br, bl) and row count."""

    xyxy: tuple[float, float, float, float]
    conf: float
    corners: np.ndarray  # (4, 2) float32: top-left, top-right, bottom-right, bottom-left
    rows: int  # 1 (single-row plate) or 2 (double-row plate)

    @property
    def width(self) -> float:
        return self.xyxy[2] - self.xyxy[0]

    @property
    def height(self) -> float:
        return self.xyxy[3] - self.xyxy[1]

    def shifted(self, dx: float, dy: float) -> PlateBox:
        """The same plate in the coordinates of an image this one was cut from at (dx, dy)."""
        x1, y1, x2, y2 = self.xyxy
        corners = self.corners + np.array([dx, dy], np.float32)
        return PlateBox((x1 + dx, y1 + dy, x2 + dx, y2 + dy), self.conf, corners, self.rows)


def letterbox_square(image: np.ndarray, size: int) -> tuple[np.ndarray, Letterbox]:
    """``image`` (BGR) scaled into a ``size`` square, centred on grey 114."""
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] < 2 or image.shape[1] < 2:
        raise ValueError(f"expected a BGR image (h, w, 3), got shape {image.shape}")
    out = np.empty((size, size, 3), np.uint8)
    return out, letterbox(image, out)


def decode_plates(output: np.ndarray, box: Letterbox, conf: float, iou: float) -> list[PlateBox]:
    """Plates from one image's raw output (N, 15), best first, in image pixels."""
    if output.ndim != 2 or output.shape[1] != OUTPUT_WIDTH:
        raise ValueError(f"expected plate detector output (N, 15), got {output.shape}")
    obj = output[:, 4]
    cls = output[:, 13:15] * obj[:, None]
    score = cls.max(axis=1)
    keep = score > conf
    rows, score, cls_id = output[keep], score[keep], cls[keep].argmax(axis=1)
    if not len(rows):
        return []
    cx, cy, w, h = rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3]
    xyxy = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    order = nms(xyxy, score, iou)
    offset = np.array([box.left, box.top], np.float32)
    limit = np.array([box.width, box.height], np.float32)
    plates: list[PlateBox] = []
    for i in order:
        b = (xyxy[i].reshape(2, 2) - offset) / box.scale
        b = np.clip(b, 0, limit)
        corners = (rows[i, 5:13].reshape(4, 2) - offset) / box.scale
        if b[1, 0] - b[0, 0] < 2 or b[1, 1] - b[0, 1] < 2:
            continue
        plates.append(
            PlateBox(
                (float(b[0, 0]), float(b[0, 1]), float(b[1, 0]), float(b[1, 1])),
                float(score[i]),
                corners.astype(np.float32),
                int(cls_id[i]) + 1,
            )
        )
    return plates


class PlateDetector:
    """HyperLPR3 y5fu plate detector. Lifecycle: ``start()`` ... ``close()``."""

    def __init__(
        self,
        onnx: Path,
        imgsz: int,
        conf: float = 0.3,
        iou: float = 0.5,
        threads: int = 1,
    ) -> None:
        if imgsz not in (320, 640):
            raise ValueError(f"y5fu plate detectors take 320 or 640 px inputs, not {imgsz}")
        self.onnx = onnx
        self.imgsz = imgsz
        self.conf = conf
        self.iou = iou
        self.threads = threads
        self._session: Any = None
        self._input = ""

    def start(self) -> None:
        session = cpu_session(self.onnx, self.threads)
        inp = session.get_inputs()[0]
        if list(inp.shape) != [1, 3, self.imgsz, self.imgsz]:
            raise RuntimeError(
                f"{self.onnx.name}: input {inp.shape}, expected [1, 3, {self.imgsz}, {self.imgsz}]"
            )
        out = session.get_outputs()[0]
        if out.shape[-1] != OUTPUT_WIDTH:
            raise RuntimeError(f"{self.onnx.name}: not a y5fu plate detector (output {out.shape})")
        self._session, self._input = session, inp.name

    def close(self) -> None:
        self._session = None

    def detect(self, image: np.ndarray) -> list[PlateBox]:
        """Plates in one BGR image, best first."""
        if self._session is None:
            raise RuntimeError("plate detector not started")
        square, box = letterbox_square(image, self.imgsz)
        tensor = square[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32) / 255.0
        (output,) = self._session.run(None, {self._input: tensor})
        return decode_plates(output[0], box, self.conf, self.iou)
