"""The GPU detection path (PyTorch + ultralytics model): the only importer of torch for detection.

JPEG frames are decoded on the device (nvJPEG through ``torchvision.io.decode_jpeg`` on
CUDA), letterboxed there into one batch tensor, run in fp16, filtered and NMS'd on the
device, and copied back once per batch. On a machine without CUDA the same code runs on
the CPU (slowly): that is how it is tested here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.runtimes.yolo_decode import Detections, Letterbox


@dataclass(frozen=True)
class TorchYoloOptions:
    imgsz: int = 640
    conf: float = 0.25
    iou: float = 0.7
    class_ids: tuple[int, ...] = (0, 1, 2, 3, 5, 7)
    max_det: int = 300
    half: bool | None = None  # None: fp16 on CUDA, fp32 on the CPU


def pick_device(wanted: str) -> str:
    """``auto`` is CUDA when present, else the CPU."""
    import torch

    if wanted == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if wanted.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("CUDA was asked for but no CUDA device is available")
    return wanted


class TorchYolo:
    """Batched detector on a torch device. ``weights``: a ``.pt`` file, or a model YAML
    such as ``yolo11n.yaml`` for random weights (speed tests only, never accuracy)."""

    def __init__(
        self, weights: str | Path, device: str = "auto", options: TorchYoloOptions | None = None
    ) -> None:
        self.weights = str(weights)
        self.wanted_device = device
        self.options = options or TorchYoloOptions()
        self.device = "cpu"
        self._model: Any = None
        self._half = False

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
        torch.backends.cudnn.benchmark = True

    def close(self) -> None:
        self._model = None

    @property
    def name(self) -> str:
        return Path(self.weights).stem

    def forward(self, batch: Any) -> Any:
        """The bare network on a prepared (B, 3, S, S) batch: the benchmark's upper bound."""
        out = self._model(batch)
        return out[0] if isinstance(out, tuple | list) else out

    def detect_jpegs(self, jpegs: Sequence[bytes]) -> list[Detections]:
        """Decode, letterbox, infer, NMS: all on the device; one copy back per batch."""
        import torch
        from torchvision.io import ImageReadMode, decode_jpeg

        if self._model is None:
            raise RuntimeError("detector not started")
        if not jpegs:
            return []
        data = [torch.frombuffer(bytearray(j), dtype=torch.uint8) for j in jpegs]
        images = decode_jpeg(data, mode=ImageReadMode.RGB, device=self.device)
        batch, boxes = self._letterbox(images)
        with torch.inference_mode():
            return self._nms(self.forward(batch), boxes)

    def _letterbox(self, images: Sequence[Any]) -> tuple[Any, list[Letterbox]]:
        import torch
        import torch.nn.functional as F

        s = self.options.imgsz
        dtype = torch.float16 if self._half else torch.float32
        batch = torch.full((len(images), 3, s, s), 114 / 255, dtype=dtype, device=self.device)
        boxes: list[Letterbox] = []
        for i, im in enumerate(images):
            h, w = int(im.shape[1]), int(im.shape[2])
            r = min(s / w, s / h)
            nw, nh = round(w * r), round(h * r)
            left, top = (s - nw) // 2, (s - nh) // 2
            x = im.unsqueeze(0).to(dtype).div_(255)
            if (nw, nh) != (w, h):
                x = F.interpolate(x, size=(nh, nw), mode="bilinear", align_corners=False)
            batch[i, :, top : top + nh, left : left + nw] = x[0]
            boxes.append(Letterbox(scale=r, left=left, top=top, width=w, height=h))
        return batch, boxes

    def _nms(self, pred: Any, boxes: list[Letterbox]) -> list[Detections]:
        """pred: (B, 4 + classes, A) with xywh boxes and class scores, as ultralytics' head
        returns in eval mode."""
        import torch
        from torchvision.ops import batched_nms

        o = self.options
        wanted = torch.tensor(o.class_ids, device=pred.device)
        scores_all = pred[:, 4:, :].index_select(1, wanted)  # (B, k, A)
        best, best_k = scores_all.max(1)  # (B, A)
        kept: list[Any] = []
        for b in range(pred.shape[0]):
            mask = best[b] > o.conf
            xywh = pred[b, :4, mask].T.float()
            score = best[b, mask].float()
            cls = wanted[best_k[b, mask]]
            xyxy = torch.cat([xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2], 1)
            keep = batched_nms(xyxy, score, cls, o.iou)[: o.max_det]
            kept.append(
                torch.cat(
                    [
                        xyxy[keep],
                        score[keep, None],
                        cls[keep, None].float(),
                        torch.full_like(score[keep, None], b),
                    ],
                    1,
                )
            )
        rows = torch.cat(kept).cpu().numpy() if kept else np.zeros((0, 7), np.float32)
        out: list[Detections] = []
        for b, lb in enumerate(boxes):
            r = rows[rows[:, 6] == b]
            xyxy = r[:, :4].copy()
            xyxy[:, [0, 2]] = ((xyxy[:, [0, 2]] - lb.left) / lb.scale).clip(0, lb.width)
            xyxy[:, [1, 3]] = ((xyxy[:, [1, 3]] - lb.top) / lb.scale).clip(0, lb.height)
            out.append(
                Detections(
                    xyxy.astype(np.float32), r[:, 4].astype(np.float32), r[:, 5].astype(np.int64)
                )
            )
        return out
