"""YOLOv8 detection on OpenVINO: the only module that imports openvino for detection.

The exported IR ends in a head decoder whose anchor grid is fixed to 640x640. We cut
the graph at the three per-scale head outputs (same weights, same network) so the
model can take a batch of frames at their own aspect ratio (e.g. 640x384 for 16:9
video: the same scale as a 640x640 letterbox, without the padding), and decode the
boxes in numpy for the classes the hub tracks only. Pixel conversion (u8 NHWC BGR ->
f32 NCHW RGB / 255) is folded into the compiled graph.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from civicsight.models.runtimes.openvino_input import compile_for_u8_bgr
from civicsight.models.runtimes.yolo_decode import Detections, Letterbox, decode_heads, letterbox

HEAD_OUTPUTS = ("/model.22/Concat", "/model.22/Concat_1", "/model.22/Concat_2")
STRIDES = (8, 16, 32)


@dataclass(frozen=True)
class YoloOptions:
    imgsz: int = 640
    batch: int = 8
    conf: float = 0.25
    iou: float = 0.7
    class_ids: tuple[int, ...] = (0, 1, 2, 3, 5, 7)
    streams: int = 2
    requests: int = 3
    hint: str = "THROUGHPUT"


def input_shape(height: int, width: int, imgsz: int, stride: int = 32) -> tuple[int, int]:
    """Network input (h, w): long side ``imgsz``, short side rounded up to the stride."""
    r = imgsz / max(height, width)
    return (
        max(stride, -(-round(height * r) // stride) * stride),
        max(stride, -(-round(width * r) // stride) * stride),
    )


@dataclass
class _Pool:
    """One compiled input shape and its idle infer requests."""

    shape: tuple[int, int]
    free: deque[Any]


@dataclass
class _Part:
    pool: _Pool
    request: Any
    indices: list[int]
    boxes: list[Letterbox]


class OpenVinoYolo:
    """Batched, pipelined YOLOv8 detector. Lifecycle: ``start()`` ... ``close()``.

    Each distinct input shape (one per frame aspect ratio) is compiled once, on first use.
    """

    def __init__(self, xml: Path, options: YoloOptions | None = None, device: str = "CPU") -> None:
        self.xml = xml
        self.options = options or YoloOptions()
        self.device = device
        self._core: Any = None
        self._heads: Any = None
        self._pools: dict[tuple[int, int], _Pool] = {}

    def start(self) -> None:
        import openvino as ov

        self._core = ov.Core()
        full = self._core.read_model(self.xml)
        concats = {
            op.get_friendly_name(): op
            for op in full.get_ordered_ops()
            if op.get_friendly_name() in HEAD_OUTPUTS
        }
        if len(concats) != len(HEAD_OUTPUTS):
            raise RuntimeError(f"{self.xml.name}: not a YOLOv8 detection IR (head outputs missing)")
        # per stride: the box (4 x 16 DFL bins) and class convolutions, before their concat
        heads = [concats[name].input_value(i) for name in HEAD_OUTPUTS for i in (0, 1)]
        self._heads = (heads, full.get_parameters())

    def _pool(self, shape: tuple[int, int]) -> _Pool:
        if shape in self._pools:
            return self._pools[shape]
        import openvino as ov

        if self._heads is None:
            raise RuntimeError("detector not started")
        o = self.options
        model = ov.Model(self._heads[0], self._heads[1], "yolo_heads").clone()
        model.reshape([o.batch, 3, shape[0], shape[1]])
        compiled = compile_for_u8_bgr(
            self._core,
            model,
            self.device,
            {"PERFORMANCE_HINT": o.hint, "NUM_STREAMS": str(o.streams), "ENABLE_CPU_PINNING": True},
            rgb=True,
            scale=255.0,
            nhwc_outputs=2 * len(HEAD_OUTPUTS),  # no reorder at the end
        )
        pool = _Pool(shape, deque(compiled.create_infer_request() for _ in range(o.requests)))
        self._pools[shape] = pool
        return pool

    def close(self) -> None:
        self._pools.clear()
        self._heads = None
        self._core = None

    @property
    def name(self) -> str:
        return self.xml.parent.name

    def detect(self, images: Sequence[np.ndarray]) -> list[Detections]:
        step = self.options.batch
        chunks = [images[i : i + step] for i in range(0, len(images), step)]
        return [d for result in self.detect_batches(chunks) for d in result]

    def detect_batches(self, batches: Iterable[Sequence[np.ndarray]]) -> Iterator[list[Detections]]:
        """Detections for each batch (at most ``batch`` images), in order. Up to ``streams``
        batches infer at once, so the caller's decoding of the next batch and the
        letterboxing here overlap inference."""
        o = self.options
        jobs: deque[tuple[list[_Part], int]] = deque()
        for images in batches:
            if len(images) > o.batch:
                raise ValueError(f"batch of {len(images)} images; at most {o.batch}")
            groups: dict[tuple[int, int], list[int]] = {}
            for i, im in enumerate(images):
                groups.setdefault(input_shape(im.shape[0], im.shape[1], o.imgsz), []).append(i)
            parts: list[_Part] = []
            for shape, indices in groups.items():
                pool = self._pool(shape)
                while not pool.free:
                    yield self._complete(*jobs.popleft())
                tensor = np.empty((o.batch, shape[0], shape[1], 3), np.uint8)
                boxes = [letterbox(images[i], tensor[k]) for k, i in enumerate(indices)]
                tensor[len(indices) :] = 114
                request = pool.free.popleft()
                request.start_async({0: tensor}, share_inputs=True)  # no copy; not reused
                parts.append(_Part(pool, request, indices, boxes))
            jobs.append((parts, len(images)))
        while jobs:
            yield self._complete(*jobs.popleft())

    def _complete(self, parts: list[_Part], size: int) -> list[Detections]:
        o = self.options
        out: list[Detections] = [Detections.empty()] * size
        for part in parts:
            part.request.wait()
            outputs = [part.request.get_output_tensor(i).data for i in range(2 * len(STRIDES))]
            found = decode_heads(outputs, STRIDES, part.boxes, o.class_ids, o.conf, o.iou)
            for i, det in zip(part.indices, found, strict=True):
                out[i] = det
            part.pool.free.append(part.request)
        return out
