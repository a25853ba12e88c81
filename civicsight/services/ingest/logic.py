"""Pure ingest logic: which frames to keep, and view changes for simulated cameras."""

from __future__ import annotations

import cv2
import numpy as np


class FrameSampler:
    """Keeps frames so that the output runs at ``fps`` whatever the source rate.

    ``take(t)`` is given each source frame's time in seconds (media time for files,
    wall time for live streams) and answers whether to keep it. Keeps the first frame,
    then one per period, never bursting to catch up after a gap.
    """

    def __init__(self, fps: float) -> None:
        if fps <= 0:
            raise ValueError("fps must be positive")
        self.period = 1.0 / fps
        self._due: float | None = None

    def take(self, t: float) -> bool:
        if self._due is None or t >= self._due - 1e-9:
            base = t if self._due is None or t - self._due > self.period else self._due
            self._due = base + self.period
            return True
        return False

    def reset(self) -> None:
        self._due = None


def scale_to_width(width: int, height: int, max_width: int) -> tuple[int, int]:
    if width <= max_width:
        return width, height
    return max_width, max(1, round(height * max_width / width))


def transform_view(image: np.ndarray, transform: str | None) -> np.ndarray:
    """Simulated second views: mirrored; ``-shift``: colour-shifted too; ``mirror-crop-shift``:
    also cropped to the central 80 % and scaled back to the frame's size, so the same
    people appear larger, elsewhere and in other colours."""
    if transform is None:
        return image
    out = np.ascontiguousarray(image[:, ::-1])
    if transform == "mirror-crop-shift":
        h, w = out.shape[:2]
        dy, dx = h // 10, w // 10
        out = cv2.resize(out[dy : h - dy, dx : w - dx], (w, h), interpolation=cv2.INTER_LINEAR)
    if transform.endswith("-shift"):
        shift = np.array([12, -8, 18], dtype=np.int16)  # BGR
        out = np.clip(out.astype(np.int16) + shift, 0, 255).astype(np.uint8)
    return out
