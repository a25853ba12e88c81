"""Single-camera multi-object tracking: ByteTrack from ultralytics (the only importer here)."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Protocol

import numpy as np


class Tracker(Protocol):
    def update(self, xyxy: np.ndarray, conf: np.ndarray, cls: np.ndarray) -> np.ndarray:
        """Per detection, its track id, or -1 where the detection starts no track yet."""
        ...


@dataclass
class _Boxes:
    """The numpy-backed, index-able view of detections that ultralytics trackers read."""

    xyxy: np.ndarray
    conf: np.ndarray
    cls: np.ndarray

    @property
    def xywh(self) -> np.ndarray:
        out = self.xyxy.copy()
        out[:, 2:] = self.xyxy[:, 2:] - self.xyxy[:, :2]
        out[:, :2] = self.xyxy[:, :2] + out[:, 2:] / 2
        return out

    def __len__(self) -> int:
        return len(self.conf)

    def __getitem__(self, index: Any) -> _Boxes:
        return _Boxes(self.xyxy[index], self.conf[index], self.cls[index])


class ByteTrack:
    """ByteTrack with ultralytics' default settings; ``fps`` sets how long lost tracks live."""

    def __init__(self, fps: float, lost_seconds: float = 3.0) -> None:
        from ultralytics.trackers.byte_tracker import BYTETracker

        args = SimpleNamespace(
            track_high_thresh=0.25,
            track_low_thresh=0.1,
            new_track_thresh=0.25,
            track_buffer=max(1, round(fps * lost_seconds)),
            match_thresh=0.8,
            fuse_score=True,
        )
        self._tracker = BYTETracker(args)

    def update(self, xyxy: np.ndarray, conf: np.ndarray, cls: np.ndarray) -> np.ndarray:
        ids = np.full(len(conf), -1, dtype=np.int64)
        if len(conf) == 0:
            self._tracker.update(_Boxes(xyxy.reshape(0, 4), conf, cls.astype(np.float32)))
            return ids
        out = self._tracker.update(_Boxes(xyxy, conf, cls.astype(np.float32)))
        for row in out:
            ids[int(row[7])] = int(row[4])
        return ids
