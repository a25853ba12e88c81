"""Person re-identification on OpenVINO (Open Model Zoo ``person-reidentification-retail-*``).

The only module that imports openvino for re-identification. The OMZ IRs take a BGR
image of 256x128 (height x width) and do their own channel swap and mean/scale inside
the graph, so the crops go in as they come from OpenCV: stretched (no letterbox, as
in training) to the input size, u8 NHWC. The u8 -> f32 conversion and the NHWC ->
NCHW reorder are folded into the compiled graph. The batch dimension is dynamic, so a
batch of 3 crops costs 3 crops of work (no padding to a fixed batch).

Embeddings come back L2-normalised: compare them with a dot product (cosine).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from civicsight.models.runtimes.openvino_input import compile_for_u8_bgr


@dataclass(frozen=True)
class ReidOptions:
    batch: int = 16  # crops per inference call, at most
    device: str = "CPU"
    hint: str = "LATENCY"  # one batch at a time, all cores on it


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (a zero row stays zero rather than becoming NaN)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


def embed_in_batches(
    images: Sequence[np.ndarray],
    size: tuple[int, int],
    batch: int,
    dim: int,
    forward: Callable[[np.ndarray], np.ndarray],
) -> np.ndarray:
    """Unit-length embeddings of BGR crops: each ``batch`` of them stretched to ``size``
    (u8, N x H x W x 3) and passed to ``forward``, which returns one row per crop."""
    out = np.empty((len(images), dim), np.float32)
    for start in range(0, len(images), batch):
        chunk = images[start : start + batch]
        pixels = np.empty((len(chunk), *size, 3), np.uint8)
        resize_into(chunk, pixels)
        out[start : start + len(chunk)] = forward(pixels).reshape(len(chunk), -1)
    return l2_normalise(out)


def resize_into(images: Sequence[np.ndarray], out: np.ndarray) -> None:
    """Stretch each BGR image into ``out[i]`` (h x w x 3, u8)."""
    height, width = out.shape[1:3]
    for i, image in enumerate(images):
        if image.ndim != 3 or image.shape[2] != 3 or image.size == 0:
            raise ValueError(f"crop {i}: expected a non-empty BGR image, got shape {image.shape}")
        cv2.resize(image, (width, height), dst=out[i], interpolation=cv2.INTER_LINEAR)


class OpenVinoReid:
    """Batched person embedder. Lifecycle: ``start()`` ... ``close()``."""

    def __init__(self, xml: Path, options: ReidOptions | None = None) -> None:
        self.xml = xml
        self.options = options or ReidOptions()
        self._compiled: Any = None
        self._request: Any = None
        self._size: tuple[int, int] = (0, 0)
        self._dim = 0

    def start(self) -> None:
        import openvino as ov

        core = ov.Core()
        model = core.read_model(self.xml)
        if len(model.inputs) != 1 or len(model.outputs) != 1:
            raise RuntimeError(f"{self.xml.name}: not a re-ID IR (want one input, one output)")
        shape = model.inputs[0].get_partial_shape()
        if shape.rank.get_length() != 4 or shape[1].get_length() != 3:
            raise RuntimeError(f"{self.xml.name}: input {shape} is not N x 3 x H x W")
        self._size = (shape[2].get_length(), shape[3].get_length())
        model.reshape([-1, 3, *self._size])
        self._compiled = compile_for_u8_bgr(
            core, model, self.options.device, {"PERFORMANCE_HINT": self.options.hint}
        )
        self._request = self._compiled.create_infer_request()
        self._dim = int(self._compiled.outputs[0].get_partial_shape()[1].get_length())

    def close(self) -> None:
        self._request = None
        self._compiled = None

    @property
    def dim(self) -> int:
        """Embedding length (256 for the OMZ retail models); known after ``start()``."""
        return self._dim

    @property
    def input_size(self) -> tuple[int, int]:
        """Network input (height, width); known after ``start()``."""
        return self._size

    def embed(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """One unit-length embedding row per BGR crop, in order: (len(images), dim) f32."""
        if self._request is None:
            raise RuntimeError("re-ID model not started")
        request = self._request
        return embed_in_batches(
            images,
            self._size,
            self.options.batch,
            self._dim,
            lambda pixels: next(iter(request.infer({0: pixels}).values())),
        )
