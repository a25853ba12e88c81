"""Pure detect-service logic: crop quality and choosing about one best crop a second per track."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np


class Image(Protocol):
    """A decoded frame as crop code sees it: a (H, W, 3) BGR array, or a frame still on the
    GPU that copies back only the crop that is cut from it."""

    @property
    def shape(self) -> tuple[int, ...]: ...

    def __getitem__(self, key: tuple[slice, slice]) -> np.ndarray: ...


def choose_backend(
    device: str, has_torch_weights: bool, cuda: bool
) -> Literal["openvino", "torch"]:
    """Which detector runs: ``cpu`` is OpenVINO; ``cuda`` is the torch path (and fails
    clearly without CUDA or torch weights); ``auto`` is torch when both are there."""
    if device == "cpu":
        return "openvino"
    if device.startswith("cuda"):
        if not cuda:
            raise ValueError(f"device {device!r} asked for, but no CUDA device is present")
        if not has_torch_weights:
            raise ValueError(
                "the CUDA path needs torch weights: set CIVICSIGHT_TORCH_WEIGHTS to a YOLO .pt file"
            )
        return "torch"
    return "torch" if cuda and has_torch_weights else "openvino"


def crop_quality(
    box: tuple[float, float, float, float],
    conf: float,
    width: int,
    height: int,
    full_size: float = 128.0,
) -> float:
    """0..1: confident, large and not cut by the frame border is best."""
    x1, y1, x2, y2 = box
    size = min(1.0, math.sqrt(max(0.0, (x2 - x1) * (y2 - y1))) / full_size)
    margin = 2.0
    cut = x1 <= margin or y1 <= margin or x2 >= width - margin or y2 >= height - margin
    return max(0.0, min(1.0, conf * size * (0.5 if cut else 1.0)))


@dataclass
class _Window:
    start: float
    last_seen: float
    best_quality: float = -1.0
    best: tuple[np.ndarray, tuple[float, float, float, float], float, str, float] | None = None
    frame_size: tuple[int, int] = (0, 0)


@dataclass(frozen=True)
class ChosenCrop:
    camera_id: str
    track_id: int
    captured_at: float
    box: tuple[float, float, float, float]
    conf: float
    cls: str
    quality: float
    pixels: np.ndarray
    frame_size: tuple[int, int]  # (width, height) of the frame the crop was cut from


@dataclass
class CropSelector:
    """Keeps the best view of each track over ``interval`` seconds of capture time and
    releases it when the window ends (or the track has not been seen for a window)."""

    interval: float = 1.0
    _windows: dict[tuple[str, int], _Window] = field(default_factory=dict)

    def offer(
        self,
        camera_id: str,
        track_id: int,
        t: float,
        image: Image,
        box: tuple[float, float, float, float],
        conf: float,
        cls: str,
    ) -> list[ChosenCrop]:
        out: list[ChosenCrop] = []
        key = (camera_id, track_id)
        win = self._windows.get(key)
        if win is not None and t >= win.start + self.interval:
            out.extend(self._release(key))
            win = None
        if win is None:
            win = self._windows[key] = _Window(start=t, last_seen=t)
        win.last_seen = t
        h, w = image.shape[:2]
        win.frame_size = (w, h)
        q = crop_quality(box, conf, w, h)
        if q > win.best_quality:
            x1, y1, x2, y2 = (round(v) for v in box)
            pixels = image[max(0, y1) : min(h, y2), max(0, x1) : min(w, x2)]
            if pixels.size:
                win.best_quality = q
                win.best = (pixels.copy(), box, conf, cls, t)
        return out

    def flush(self, camera_id: str, now: float) -> list[ChosenCrop]:
        """Release windows of this camera whose interval is over, by capture time."""
        due = [
            k
            for k, w in self._windows.items()
            if k[0] == camera_id and now >= w.start + self.interval
        ]
        return [c for k in due for c in self._release(k)]

    def _release(self, key: tuple[str, int]) -> list[ChosenCrop]:
        win = self._windows.pop(key)
        if win.best is None:
            return []
        pixels, box, conf, cls, t = win.best
        return [
            ChosenCrop(key[0], key[1], t, box, conf, cls, win.best_quality, pixels, win.frame_size)
        ]


def run_base(now: float) -> int:
    """Offset that makes tracker ids unique per camera across detect-service restarts
    (tracker ids restart at 1): tenths of a second since 2020, times 10,000, stays below
    2**53 so browsers show the ids exactly."""
    return int((now - 1_577_836_800) * 10) * 10_000
