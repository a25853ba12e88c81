"""The GPU detection path (PyTorch + ultralytics model): the only importer of torch for detection.

JPEG frames are decoded on the device (nvJPEG through ``torchvision.io.decode_jpeg`` on
CUDA), letterboxed there into one batch tensor (frames of one size are resized in one
call), run in fp16, filtered and NMS'd on the device in one pass for the whole batch, and
copied back once per batch. ``detect_stream`` overlaps the decoding of the next batch
(the JPEG engine and a side stream) with the inference of the current one. On a machine
without CUDA the same code runs on the CPU (slowly): that is how it is tested here.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from civicsight.models.runtimes.torch_device import cuda_present, pick_device
from civicsight.models.runtimes.yolo_decode import Detections, Letterbox

__all__ = ["DeviceImage", "TorchYolo", "TorchYoloOptions", "cuda_present", "pick_device"]

STRIDE = 32


@dataclass(frozen=True)
class TorchYoloOptions:
    imgsz: int = 640
    conf: float = 0.25
    iou: float = 0.7
    class_ids: tuple[int, ...] = (0, 1, 2, 3, 5, 7)
    max_det: int = 300
    max_candidates: int = 30_000  # boxes over ``conf`` kept for NMS per batch, best first
    half: bool | None = None  # None: fp16 on CUDA, fp32 on the CPU
    # Rectangular input: 16:9 frames go in as 640x384 rather than 640x640 (same scale, same
    # boxes, 40 % fewer pixels). False: the square input ultralytics uses by default.
    rect: bool = True


class DeviceImage:
    """A decoded frame kept on the device, (3, H, W) RGB uint8. Looks to crop code like a
    (H, W, 3) BGR array: ``image[y1:y2, x1:x2]`` copies just that crop back to the host."""

    def __init__(self, pixels: Any) -> None:
        self.pixels = pixels

    @property
    def shape(self) -> tuple[int, int, int]:
        return (int(self.pixels.shape[1]), int(self.pixels.shape[2]), 3)

    def __getitem__(self, key: tuple[slice, slice]) -> np.ndarray:
        ys, xs = key
        crop = self.pixels[:, ys, xs].flip(0).permute(1, 2, 0)
        return np.ascontiguousarray(crop.cpu().numpy())


class TorchYolo:
    """Batched detector on a torch device. ``weights``: a ``.pt`` file, or a model YAML
    such as ``yolo11n.yaml`` for random weights (speed tests only, never accuracy).
    Lifecycle: ``start()`` ... ``close()``."""

    def __init__(
        self, weights: str | Path, device: str = "auto", options: TorchYoloOptions | None = None
    ) -> None:
        self.weights = str(weights)
        self.wanted_device = device
        self.options = options or TorchYoloOptions()
        self.device = "cpu"
        self._model: Any = None
        self._half = False
        self._wanted: Any = None

    def start(self) -> None:
        import torch
        from ultralytics import YOLO

        self.device = pick_device(self.wanted_device)
        model: Any = YOLO(self.weights, task="detect").model
        if model is None:
            raise RuntimeError(f"{self.weights}: no detection model inside")
        model = model.fuse().eval().to(self.device)
        self._half = (
            self.options.half if self.options.half is not None else (self.device.startswith("cuda"))
        )
        if self._half:
            model = model.half()
        for p in model.parameters():
            p.requires_grad_(False)
        self._model = model
        self._wanted = torch.tensor(self.options.class_ids, device=self.device)
        torch.backends.cudnn.benchmark = True

    def close(self) -> None:
        self._model = None

    @property
    def name(self) -> str:
        return Path(self.weights).stem

    @property
    def dtype(self) -> Any:
        import torch

        return torch.float16 if self._half else torch.float32

    def forward(self, batch: Any) -> Any:
        """The bare network on a prepared (B, 3, H, W) batch: the benchmark's upper bound."""
        out = self._model(batch)
        return out[0] if isinstance(out, tuple | list) else out

    def decode(self, jpegs: Sequence[bytes]) -> list[Any]:
        """JPEG bytes -> (3, H, W) uint8 RGB tensors on the device (nvJPEG on CUDA).
        Raises RuntimeError when any of them cannot be decoded."""
        import torch
        from torchvision.io import ImageReadMode, decode_jpeg

        if not jpegs:
            return []
        with warnings.catch_warnings():  # read-only bytes: the decoder only reads them
            warnings.simplefilter("ignore", UserWarning)
            data = [torch.frombuffer(j, dtype=torch.uint8) for j in jpegs]
        return list(decode_jpeg(data, mode=ImageReadMode.RGB, device=self.device))

    def decode_each(self, jpegs: Sequence[bytes]) -> list[Any | None]:
        """``decode``, but a frame that cannot be decoded gives None instead of failing the
        batch (the batch is decoded whole first; one by one only after a failure)."""
        try:
            return list(self.decode(jpegs))
        except (RuntimeError, ValueError):
            out: list[Any | None] = []
            for j in jpegs:
                try:
                    out.append(self.decode([j])[0])
                except (RuntimeError, ValueError):
                    out.append(None)
            return out

    def detect_jpegs(self, jpegs: Sequence[bytes]) -> list[Detections]:
        """Decode, letterbox, infer, NMS: all on the device; one copy back per batch."""
        if not jpegs:
            return []
        return self.infer(*self.letterbox(self.decode(jpegs)))

    def detect_stream(
        self, batches: Iterable[Sequence[bytes]], depth: int = 2
    ) -> Iterator[list[Detections | None]]:
        """``detect_jpegs`` over many batches, decoding and letterboxing up to ``depth``
        batches ahead in a worker thread (on a side CUDA stream) while the network runs.
        A frame that cannot be decoded gives None in its place."""
        for found in self.detect_stream_images(batches, depth):
            yield [None if f is None else f[0] for f in found]

    def detect_stream_images(
        self, batches: Iterable[Sequence[bytes]], depth: int = 2
    ) -> Iterator[list[tuple[Detections, DeviceImage] | None]]:
        """``detect_stream`` that also hands back each decoded frame, still on the device,
        so that crops are cut there and only their pixels copied back."""
        import torch

        self._require_started()
        ahead: queue.Queue[Any] = queue.Queue(maxsize=depth)
        side = torch.cuda.Stream(self.device) if self.device.startswith("cuda") else None
        stop = threading.Event()

        def prepare() -> None:
            try:
                ctx = torch.cuda.stream(side) if side is not None else contextlib.nullcontext()
                with ctx:
                    for jpegs in batches:
                        if stop.is_set():
                            return
                        images = self.decode_each(jpegs)
                        good = [im for im in images if im is not None]
                        batch, boxes = self.letterbox(good) if good else (None, [])
                        ready = None
                        if side is not None:
                            ready = torch.cuda.Event()
                            ready.record(side)
                        ahead.put((images, batch, boxes, ready))
                ahead.put(None)
            except BaseException as e:  # handed to the consumer, raised there
                ahead.put(e)

        worker = threading.Thread(target=prepare, name="jpeg-decode", daemon=True)
        worker.start()
        try:
            while (item := ahead.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                images, batch, boxes, ready = item
                if ready is not None and batch is not None:
                    current = torch.cuda.current_stream(self.device)
                    current.wait_event(ready)
                    batch.record_stream(current)
                    for im in images:
                        if im is not None:
                            im.record_stream(current)
                found = iter(self.infer(batch, boxes) if batch is not None else [])
                yield [None if im is None else (next(found), DeviceImage(im)) for im in images]
        finally:
            stop.set()
            with contextlib.suppress(queue.Empty):
                while True:
                    ahead.get_nowait()
            worker.join(timeout=5)

    def letterbox(self, images: Sequence[Any]) -> tuple[Any, list[Letterbox]]:
        """One (B, 3, H, W) batch, 0..1, padded with grey; frames of one size are resized
        together. H, W: ``imgsz`` square, or the smallest stride multiple (``rect``)."""
        import torch
        import torch.nn.functional as F

        s = self.options.imgsz
        by_size: dict[tuple[int, int], list[int]] = {}
        for i, im in enumerate(images):
            by_size.setdefault((int(im.shape[1]), int(im.shape[2])), []).append(i)
        fits = {}
        for h, w in by_size:
            r = min(s / w, s / h)
            fits[(h, w)] = (r, round(w * r), round(h * r))
        if self.options.rect:
            ch = max(-(-nh // STRIDE) * STRIDE for _, _, nh in fits.values())
            cw = max(-(-nw // STRIDE) * STRIDE for _, nw, _ in fits.values())
        else:
            ch = cw = s
        device = images[0].device if len(images) else self.device
        batch = torch.full((len(images), 3, ch, cw), 114 / 255, dtype=self.dtype, device=device)
        boxes: list[Letterbox | None] = [None] * len(images)
        for (h, w), idx in by_size.items():
            r, nw, nh = fits[(h, w)]
            left, top = (cw - nw) // 2, (ch - nh) // 2
            x = torch.stack([images[i] for i in idx]).to(self.dtype)
            if (nw, nh) != (w, h):
                x = F.interpolate(x, size=(nh, nw), mode="bilinear", align_corners=False)
            x.mul_(1 / 255)
            window = batch[:, :, top : top + nh, left : left + nw]
            if len(idx) == len(images):
                window.copy_(x)
            else:
                window.index_copy_(0, torch.tensor(idx, device=device), x)
            for i in idx:
                boxes[i] = Letterbox(scale=r, left=left, top=top, width=w, height=h)
        return batch, [b for b in boxes if b is not None]

    def infer(self, batch: Any, boxes: list[Letterbox]) -> list[Detections]:
        import torch

        self._require_started()
        with torch.inference_mode():
            return self._nms(self.forward(batch), boxes)

    def _require_started(self) -> None:
        if self._model is None:
            raise RuntimeError("detector not started")

    def _nms(self, pred: Any, boxes: list[Letterbox]) -> list[Detections]:
        """pred: (B, 4 + classes, A) with xywh boxes and class scores, as ultralytics' head
        returns in eval mode. One NMS for the whole batch (boxes of different frames or
        classes never suppress each other) and one copy back."""
        import torch
        from torchvision.ops import batched_nms

        o = self.options
        best, best_k = pred[:, 4:, :].index_select(1, self._wanted).max(1)  # (B, A)
        frame, anchor = (best > o.conf).nonzero(as_tuple=True)
        score = best[frame, anchor].float()
        if score.numel() > o.max_candidates:
            top = score.topk(o.max_candidates).indices
            frame, anchor, score = frame[top], anchor[top], score[top]
        xywh = pred[frame, :4, anchor].float()
        cls = self._wanted[best_k[frame, anchor]]
        xyxy = torch.cat([xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2], 1)
        keep = batched_nms(xyxy, score, frame * 1000 + cls, o.iou)  # best first
        rows = (
            torch.cat(
                [xyxy[keep], score[keep, None], cls[keep, None].float(), frame[keep, None].float()],
                1,
            )
            .cpu()
            .numpy()
        )
        rows = rows[np.argsort(rows[:, 6], kind="stable")]  # by frame, best first within
        starts = np.searchsorted(rows[:, 6], np.arange(len(boxes) + 1))
        out: list[Detections] = []
        for b, lb in enumerate(boxes):
            r = rows[starts[b] : starts[b + 1]][: o.max_det]
            xyxy_np = r[:, :4].copy()
            xyxy_np[:, [0, 2]] = ((xyxy_np[:, [0, 2]] - lb.left) / lb.scale).clip(0, lb.width)
            xyxy_np[:, [1, 3]] = ((xyxy_np[:, [1, 3]] - lb.top) / lb.scale).clip(0, lb.height)
            out.append(
                Detections(
                    xyxy_np.astype(np.float32), r[:, 4].astype(np.float32), r[:, 5].astype(np.int64)
                )
            )
        return out
