"""YuNet face detection on OpenCV's ``FaceDetectorYN``: the only module that runs YuNet.

The registry's YuNet files have a fixed 640x640 input, so every image is scaled (long
side 640, small images enlarged) into the top-left corner of a black 640x640 canvas and
the boxes and landmarks are mapped back to the image's own pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np


@dataclass(frozen=True)
class Faces:
    """The faces found in one image, in that image's pixel coordinates.

    ``boxes`` (n, 4) x1, y1, x2, y2 clipped to the image; ``landmarks`` (n, 5, 2): right
    eye, left eye, nose tip, right and left mouth corner; ``scores`` (n,) in 0..1.
    """

    boxes: np.ndarray
    landmarks: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)

    @property
    def widths(self) -> np.ndarray:
        return self.boxes[:, 2] - self.boxes[:, 0]

    @classmethod
    def empty(cls) -> Faces:
        return cls(
            np.zeros((0, 4), np.float32), np.zeros((0, 5, 2), np.float32), np.zeros(0, np.float32)
        )


class YuNetDetector:
    """One image at a time (YuNet's files take a batch of one). Lifecycle: start() ... close()."""

    def __init__(
        self,
        onnx: Path,
        score_threshold: float = 0.6,
        nms_threshold: float = 0.3,
        top_k: int = 5000,
        size: int = 640,
    ) -> None:
        if not 0 < score_threshold < 1:
            raise ValueError(f"score_threshold must lie in (0, 1), got {score_threshold}")
        self.onnx = onnx
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self.top_k = top_k
        self.size = size
        self._net: Any = None
        self._canvas = np.zeros((size, size, 3), np.uint8)

    def start(self) -> None:
        if not self.onnx.is_file():
            raise FileNotFoundError(f"YuNet model {self.onnx} not found")
        self._net = cv2.FaceDetectorYN.create(
            str(self.onnx),
            "",
            (self.size, self.size),
            self.score_threshold,
            self.nms_threshold,
            self.top_k,
        )

    def close(self) -> None:
        self._net = None

    def detect(self, image: np.ndarray) -> Faces:
        """Faces in a BGR uint8 image (h, w, 3) of any size."""
        if self._net is None:
            raise RuntimeError("face detector not started")
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or not image.size:
            raise ValueError(
                f"expected a BGR uint8 image (h, w, 3), got {image.dtype} {image.shape}"
            )
        h, w = image.shape[:2]
        r = self.size / max(h, w)
        nw = min(self.size, max(1, round(w * r)))
        nh = min(self.size, max(1, round(h * r)))
        canvas = self._canvas
        canvas[...] = 0
        interpolation = cv2.INTER_AREA if r < 1 else cv2.INTER_LINEAR
        cv2.resize(image, (nw, nh), dst=canvas[:nh, :nw], interpolation=interpolation)
        _, found = self._net.detect(canvas)
        if found is None or not len(found):
            return Faces.empty()
        found = np.asarray(found, np.float32)
        xywh = found[:, 0:4] / r
        boxes = np.stack(
            [xywh[:, 0], xywh[:, 1], xywh[:, 0] + xywh[:, 2], xywh[:, 1] + xywh[:, 3]], axis=1
        )
        boxes[:, 0::2] = boxes[:, 0::2].clip(0, w)
        boxes[:, 1::2] = boxes[:, 1::2].clip(0, h)
        landmarks = (found[:, 4:14] / r).reshape(-1, 5, 2)
        return Faces(boxes=boxes, landmarks=landmarks, scores=found[:, 14].copy())
