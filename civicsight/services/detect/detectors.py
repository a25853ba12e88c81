"""The two detector back ends of the detect service behind one Protocol.

- ``CpuDetector``: frames decoded and letterboxed on the CPU (a thread pool: each frame is
  letterboxed right after decoding, while its pixels are in the cache), OpenVINO batched
  inference.
- ``CudaDetector``: frames decoded on the GPU (nvJPEG), letterboxed, inferred in fp16 and
  NMS'd there; crops are cut from the frames still on the GPU.

Both take batches of ``Frame``s and give, per batch and in frame order, what was found in
each frame: its decoded image and detections, or None where the JPEG cannot be decoded.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from civicsight.events import Frame
from civicsight.images import decode_jpeg
from civicsight.models.runtimes.openvino_yolo import OpenVinoYolo, Prepared
from civicsight.models.runtimes.torch_yolo import TorchYolo
from civicsight.models.runtimes.yolo_decode import Detections
from civicsight.services.detect.logic import Image


@dataclass(frozen=True)
class Found:
    image: Image
    detections: Detections


class FrameDetector(Protocol):
    def start(self) -> None: ...
    def close(self) -> None: ...
    def detect(self, batches: Iterator[list[Frame]]) -> Iterator[list[Found | None]]: ...


class CpuDetector:
    def __init__(self, model: OpenVinoYolo, decode_threads: int = 2) -> None:
        self.model = model
        self.decode_threads = decode_threads
        self._pool: ThreadPoolExecutor | None = None

    def start(self) -> None:
        self.model.start()
        self._pool = ThreadPoolExecutor(self.decode_threads, thread_name_prefix="decode")

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
        self.model.close()

    def detect(self, batches: Iterator[list[Frame]]) -> Iterator[list[Found | None]]:
        pool = self._pool
        if pool is None:
            raise RuntimeError("detector not started")
        held: deque[list[Prepared | None]] = deque()

        def prepare(frame: Frame) -> Prepared | None:
            image = decode_jpeg(frame.jpeg)
            return None if image is None else self.model.prepare(image)

        def images() -> Iterator[list[Prepared]]:
            for frames in batches:
                decoded = list(pool.map(prepare, frames))
                held.append(decoded)
                yield [im for im in decoded if im is not None]

        for found in self.model.detect_batches(images()):
            it = iter(found)
            yield [None if p is None else Found(p.image, next(it)) for p in held.popleft()]


class CudaDetector:
    def __init__(self, model: TorchYolo, depth: int = 2) -> None:
        self.model = model
        self.depth = depth

    def start(self) -> None:
        self.model.start()

    def close(self) -> None:
        self.model.close()

    def detect(self, batches: Iterator[list[Frame]]) -> Iterator[list[Found | None]]:
        jpegs = ([f.jpeg for f in frames] for frames in batches)
        for found in self.model.detect_stream_images(jpegs, self.depth):
            yield [None if f is None else Found(f[1], f[0]) for f in found]
