"""YOLOv8 detection on OpenVINO: the only module that imports openvino for detection.

The exported IR ends in a head decoder whose anchor grid is fixed to 640x640. We cut
the graph at the three per-scale head outputs (same weights, same network) so the
model can take a batch of frames at their own aspect ratio (e.g. 640x384 for 16:9
video: the same scale as a 640x640 letterbox, without the padding), and decode the
boxes in numpy for the classes the hub tracks only. Pixel conversion (u8 NHWC BGR ->
f32 NCHW RGB / 255) is folded into the compiled graph.

A batch is inferred at the smallest compiled batch size that holds it (1, 2, 4, ... up to
``batch``): under light load a single frame is not padded to a full batch, which would
cost the inference time of the whole batch in latency and CPU.
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


def batch_sizes(most: int) -> tuple[int, ...]:
    """The compiled batch sizes: powers of two below ``most``, and ``most``."""
    sizes = [1 << i for i in range(most.bit_length()) if 1 << i < most]
    return (*sizes, most)


def input_shape(height: int, width: int, imgsz: int, stride: int = 32) -> tuple[int, int]:
    """Network input (h, w): long side ``imgsz``, short side rounded up to the stride."""
    r = imgsz / max(height, width)
    return (
        max(stride, -(-round(height * r) // stride) * stride),
        max(stride, -(-round(width * r) // stride) * stride),
    )


@dataclass(frozen=True)
class Prepared:
    """An image made ready for the network off the inference thread (``prepare``): its
    letterboxed pixels and where they were placed. Preparing right after decoding, on
    the decoding thread, works on pixels still in the cache and overlaps inference."""

    image: np.ndarray
    pixels: np.ndarray
    box: Letterbox


@dataclass
class _Pool:
    """One compiled input shape and batch size, and its idle infer requests."""

    shape: tuple[int, int]
    batch: int
    free: deque[Any]


@dataclass
class _Part:
    pool: _Pool
    request: Any
    indices: list[int]
    boxes: list[Letterbox]


class OpenVinoYolo:
    """Batched, pipelined YOLOv8 detector. Lifecycle: ``start()`` ... ``close()``.

    Each distinct input shape (one per frame aspect ratio) and batch size is compiled
    once, on first use.
    """

    def __init__(self, xml: Path, options: YoloOptions | None = None, device: str = "CPU") -> None:
        self.xml = xml
        self.options = options or YoloOptions()
        self.device = device
        self._core: Any = None
        self._heads: Any = None
        self._pools: dict[tuple[int, int, int], _Pool] = {}

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

    def _pool(self, shape: tuple[int, int], images: int) -> _Pool:
        """The compiled model for ``images`` frames of ``shape``: the smallest batch size
        that holds them."""
        o = self.options
        batch = next(b for b in batch_sizes(o.batch) if b >= images)
        key = (shape[0], shape[1], batch)
        if key in self._pools:
            return self._pools[key]
        import openvino as ov

        if self._heads is None:
            raise RuntimeError("detector not started")
        model = ov.Model(self._heads[0], self._heads[1], "yolo_heads").clone()
        model.reshape([batch, 3, shape[0], shape[1]])
        compiled = compile_for_u8_bgr(
            self._core,
            model,
            self.device,
            {"PERFORMANCE_HINT": o.hint, "NUM_STREAMS": str(o.streams), "ENABLE_CPU_PINNING": True},
            rgb=True,
            scale=255.0,
            nhwc_outputs=2 * len(HEAD_OUTPUTS),  # no reorder at the end
        )
        pool = _Pool(
            shape, batch, deque(compiled.create_infer_request() for _ in range(o.requests))
        )
        self._pools[key] = pool
        return pool

    def close(self) -> None:
        self._pools.clear()
        self._heads = None
        self._core = None

    @property
    def name(self) -> str:
        return self.xml.parent.name

    def prepare(self, image: np.ndarray) -> Prepared:
        """``image`` letterboxed to its network input (thread-safe; see ``Prepared``)."""
        height, width = image.shape[:2]
        pixels = np.empty((*input_shape(height, width, self.options.imgsz), 3), np.uint8)
        return Prepared(image, pixels, letterbox(image, pixels))

    def detect(self, images: Sequence[np.ndarray]) -> list[Detections]:
        step = self.options.batch
        chunks = [images[i : i + step] for i in range(0, len(images), step)]
        return [d for result in self.detect_batches(chunks) for d in result]

    def detect_batches(
        self, batches: Iterable[Sequence[np.ndarray | Prepared]]
    ) -> Iterator[list[Detections]]:
        """Detections for each batch (at most ``batch`` images, raw or ``Prepared``), in
        order, each as soon as it is inferred. Up to ``requests`` batches of a shape infer
        at once, so the caller's decoding of the next batch overlaps inference."""
        o = self.options
        jobs: deque[tuple[list[_Part], int]] = deque()
        for images in batches:
            if len(images) > o.batch:
                raise ValueError(f"batch of {len(images)} images; at most {o.batch}")
            groups: dict[tuple[int, int], list[int]] = {}
            for i, im in enumerate(images):
                shape = (
                    im.pixels.shape[:2]
                    if isinstance(im, Prepared)
                    else input_shape(im.shape[0], im.shape[1], o.imgsz)
                )
                groups.setdefault(shape, []).append(i)
            parts: list[_Part] = []
            for shape, indices in groups.items():
                pool = self._pool(shape, len(indices))
                while not pool.free:
                    yield self._complete(*jobs.popleft())
                tensor = np.empty((pool.batch, shape[0], shape[1], 3), np.uint8)
                boxes = [_place(images[i], tensor[k]) for k, i in enumerate(indices)]
                tensor[len(indices) :] = 114
                request = pool.free.popleft()
                request.start_async({0: tensor}, share_inputs=True)  # no copy; not reused
                parts.append(_Part(pool, request, indices, boxes))
            jobs.append((parts, len(images)))
            while jobs and _finished(jobs[0][0]):  # under light load: no wait for more input
                yield self._complete(*jobs.popleft())
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

    def input_tensor(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """``images`` (one aspect ratio, at most ``batch``) as the network takes them:
        letterboxed into one u8 NHWC tensor of a compiled batch size (``forward``)."""
        o = self.options
        shapes = {input_shape(im.shape[0], im.shape[1], o.imgsz) for im in images}
        if len(shapes) != 1 or len(images) > o.batch:
            raise ValueError("input_tensor takes up to `batch` images of one aspect ratio")
        (shape,) = shapes
        pool = self._pool(shape, len(images))
        tensor = np.full((pool.batch, shape[0], shape[1], 3), 114, np.uint8)
        for k, im in enumerate(images):
            letterbox(im, tensor[k])
        return tensor

    def forward(self, tensors: Iterable[np.ndarray]) -> int:
        """The bare batched forward pass over prepared tensors (``input_tensor``): the same
        compiled models and infer requests as ``detect_batches``, with nothing before or
        after (no decoding, letterboxing or box decoding). Returns the images inferred.
        What the hardware gives this model: ``civicsight bench detect``'s ``forward_fps``."""
        running: deque[Any] = deque()
        done = 0
        for tensor in tensors:
            pool = self._pool((tensor.shape[1], tensor.shape[2]), tensor.shape[0])
            while not pool.free:
                request, owner = running.popleft()
                request.wait()
                owner.free.append(request)
            request = pool.free.popleft()
            request.start_async({0: tensor}, share_inputs=True)
            running.append((request, pool))
            done += tensor.shape[0]
        for request, owner in running:
            request.wait()
            owner.free.append(request)
        return done


def _place(image: np.ndarray | Prepared, slot: np.ndarray) -> Letterbox:
    """Put one image into its slot of a batch tensor."""
    if isinstance(image, Prepared):
        slot[...] = image.pixels
        return image.box
    return letterbox(image, slot)


def _finished(parts: list[_Part]) -> bool:
    """Whether every part of a batch has finished inferring (without waiting)."""
    return all(part.request.wait_for(0) for part in parts)
