"""Pure numpy YOLO helpers: letterboxing, decoding of YOLOv8 head outputs (DFL boxes +
class logits) and NMS."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

REG_MAX = 16


@dataclass(frozen=True)
class Letterbox:
    """How one image was placed into the network input."""

    scale: float
    left: int
    top: int
    width: int
    height: int


@dataclass(frozen=True)
class Detections:
    """Boxes of one image: xyxy in image pixels, confidence, COCO class id."""

    xyxy: np.ndarray  # (n, 4) float32
    conf: np.ndarray  # (n,) float32
    class_id: np.ndarray  # (n,) int64

    def __len__(self) -> int:
        return len(self.conf)

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))


def letterbox(image: np.ndarray, out: np.ndarray) -> Letterbox:
    """Scale ``image`` into ``out`` (h x w x 3), centred, padded with grey 114."""
    h, w = image.shape[:2]
    height, width = out.shape[:2]
    r = min(width / w, height / h)
    nw, nh = max(1, round(w * r)), max(1, round(h * r))
    left, top = (width - nw) // 2, (height - nh) // 2
    out[:top] = 114  # grey only the padding; the image is resized straight into place
    out[top + nh :] = 114
    out[top : top + nh, :left] = 114
    out[top : top + nh, left + nw :] = 114
    inner = out[top : top + nh, left : left + nw]
    if (nw, nh) == (w, h):
        inner[...] = image
    else:
        cv2.resize(image, (nw, nh), dst=inner, interpolation=cv2.INTER_LINEAR)
    return Letterbox(scale=r, left=left, top=top, width=w, height=h)


@lru_cache(maxsize=32)
def anchors(sizes: tuple[tuple[int, int, int], ...]) -> tuple[np.ndarray, np.ndarray]:
    """Anchor centres (A, 2) in input pixels and each anchor's stride (A,), for head
    outputs of (h, w, stride) each; computed once per input shape."""
    grids, strides = [], []
    for h, w, stride in sizes:
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        grids.append(np.stack([(xs.ravel() + 0.5) * stride, (ys.ravel() + 0.5) * stride], 1))
        strides.append(np.full(h * w, stride, np.float32))
    centres, of = np.concatenate(grids), np.concatenate(strides)
    centres.flags.writeable = False  # shared between calls
    of.flags.writeable = False
    return centres, of


def nms(xyxy: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression, best first."""
    order = np.argsort(-scores, kind="stable")
    areas = (xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1])
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        xx1 = np.maximum(xyxy[i, 0], xyxy[rest, 0])
        yy1 = np.maximum(xyxy[i, 1], xyxy[rest, 1])
        xx2 = np.minimum(xyxy[i, 2], xyxy[rest, 2])
        yy2 = np.minimum(xyxy[i, 3], xyxy[rest, 3])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        overlap = inter / (areas[i] + areas[rest] - inter + 1e-9)
        order = rest[overlap <= iou]
    return np.asarray(keep, dtype=np.int64)


def decode_heads(
    outputs: Sequence[np.ndarray],
    strides: Sequence[int],
    boxes: Sequence[Letterbox],
    class_ids: Sequence[int],
    conf: float,
    iou: float,
    max_det: int = 300,
) -> list[Detections]:
    """Per-image detections from head outputs: per stride, box bins (B, h, w, 4*16) then
    class logits (B, h, w, classes), channels last (the layout the CPU plugin computes in)."""
    logit_thr = float(np.log(conf / (1 - conf)))
    wanted = np.asarray(class_ids)
    box_out, cls_out = outputs[0::2], outputs[1::2]
    grids, stride_of = anchors(
        tuple((o.shape[1], o.shape[2], s) for o, s in zip(box_out, strides, strict=True))
    )
    n = len(boxes)
    # the whole batch at once: (B, A, classes wanted); best class and its logit per anchor
    logits = np.concatenate([o[:n, ..., wanted].reshape(n, -1, len(wanted)) for o in cls_out], 1)
    best = logits.argmax(axis=2)
    best_logit = np.take_along_axis(logits, best[..., None], axis=2)[..., 0]
    image_of, anchor_of = np.nonzero(best_logit > logit_thr)
    results: list[Detections] = []
    for b, lb in enumerate(boxes):
        found = anchor_of[image_of == b]
        if found.size == 0:
            results.append(Detections.empty())
            continue
        bins = np.concatenate([o[b].reshape(-1, 4 * REG_MAX) for o in box_out])  # (A, 64)
        dist = bins[found].reshape(-1, 4, REG_MAX).astype(np.float32)
        dist = np.exp(dist - dist.max(axis=2, keepdims=True))
        dist = (dist * np.arange(REG_MAX, dtype=np.float32)).sum(2) / dist.sum(2)  # (k, 4)
        dist = dist * stride_of[found, None]
        centre = grids[found]
        xyxy = np.concatenate([centre - dist[:, :2], centre + dist[:, 2:]], axis=1)
        scores = 1.0 / (1.0 + np.exp(-best_logit[b, found].astype(np.float32)))
        cls = wanted[best[b, found]]
        # class-aware NMS: shift each class into its own region
        shifted = xyxy + (cls * 4096.0)[:, None]
        keep = nms(shifted, scores, iou)[:max_det]
        xyxy = xyxy[keep]
        xyxy[:, [0, 2]] = ((xyxy[:, [0, 2]] - lb.left) / lb.scale).clip(0, lb.width)
        xyxy[:, [1, 3]] = ((xyxy[:, [1, 3]] - lb.top) / lb.scale).clip(0, lb.height)
        kept = Detections(xyxy.astype(np.float32), scores[keep], cls[keep].astype(np.int64))
        results.append(kept)
    return results
