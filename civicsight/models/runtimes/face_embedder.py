"""dlib's ResNet face embedding (128-d): the only module that imports dlib.

Alignment: dlib's 5-point shape predictor places its own landmarks (eye corners and the
base of the nose, the points the ResNet was trained with) inside each detector box, and
``get_face_chip`` cuts the aligned 150x150 chip the network expects. YuNet's landmarks
(eye centres, mouth corners) are a different set of points, so they are not fed to dlib.
The chips of a whole batch go through the network in one call.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

EMBEDDING_DIM = 128
RECOGNITION_FILE = "dlib_face_recognition_resnet_model_v1.dat"
SHAPE_FILE = "shape_predictor_5_face_landmarks.dat"
CHIP_SIZE = 150
CHIP_PADDING = 0.25


class DlibFaceEmbedder:
    """Face boxes in, 128-d descriptors out. Lifecycle: start() ... close()."""

    def __init__(self, folder: Path, jitters: int = 0) -> None:
        if jitters < 0:
            raise ValueError(f"jitters must be >= 0, got {jitters}")
        self.folder = folder
        self.jitters = jitters
        self._dlib: Any = None
        self._shape: Any = None
        self._net: Any = None

    def start(self) -> None:
        for name in (RECOGNITION_FILE, SHAPE_FILE):
            if not (self.folder / name).is_file():
                raise FileNotFoundError(f"dlib model file {self.folder / name} not found")
        import dlib

        self._dlib = dlib
        self._shape = dlib.shape_predictor(str(self.folder / SHAPE_FILE))
        self._net = dlib.face_recognition_model_v1(str(self.folder / RECOGNITION_FILE))

    def close(self) -> None:
        self._shape = self._net = self._dlib = None

    def embed(self, items: Sequence[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
        """For each (BGR uint8 image, boxes (n, 4) x1 y1 x2 y2) pair, an (n, 128) float32
        array of descriptors in box order."""
        if self._net is None:
            raise RuntimeError("face embedder not started")
        dlib = self._dlib
        chips: list[np.ndarray] = []
        counts: list[int] = []
        for image, boxes in items:
            if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
                raise ValueError(f"expected a BGR uint8 image, got {image.dtype} {image.shape}")
            counts.append(len(boxes))
            if not len(boxes):
                continue
            rgb = np.ascontiguousarray(image[..., ::-1])
            for x1, y1, x2, y2 in np.asarray(boxes, np.float64):
                rect = dlib.rectangle(round(x1), round(y1), round(x2), round(y2))
                shape = self._shape(rgb, rect)
                chips.append(dlib.get_face_chip(rgb, shape, size=CHIP_SIZE, padding=CHIP_PADDING))
        vectors = (
            np.asarray(self._net.compute_face_descriptor(chips, self.jitters), np.float32)
            if chips
            else np.zeros((0, EMBEDDING_DIM), np.float32)
        )
        out: list[np.ndarray] = []
        start = 0
        for n in counts:
            out.append(vectors[start : start + n].reshape(n, EMBEDDING_DIM))
            start += n
        return out
