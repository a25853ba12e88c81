"""Vehicle crops -> plates read in one batch -> votes per tracklet -> the ``PlateRead``s due.

Only crops of vehicles (car, truck, bus, motorcycle) from cameras whose camera file sets
``analytics.plates`` are read. A ``PlateRead`` is due when a tracklet's voted text changes
or gains confidence.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from civicsight.events import Crop, PlateRead
from civicsight.services.plates.pipeline import PlateReader
from civicsight.services.plates.voting import TrackletVotes

VEHICLES = frozenset({"car", "truck", "bus", "motorcycle"})


def wanted(crop: Crop, cameras: frozenset[str]) -> bool:
    return crop.box.cls in VEHICLES and crop.camera_id in cameras


class TrackletReader:
    """Reads batches of crops and turns them into votes and events."""

    def __init__(self, reader: PlateReader, votes: TrackletVotes, min_conf: float) -> None:
        self.reader = reader
        self.votes = votes
        self.min_conf = min_conf
        self.reads = 0

    def process(self, crops: Sequence[tuple[Crop, np.ndarray]]) -> list[PlateRead]:
        """Read the best plate of each vehicle crop (one batch) and vote; the events due."""
        found = self.reader.read_images([image for _, image in crops], max_plates=1)
        out: list[PlateRead] = []
        for (crop, _), plates in zip(crops, found, strict=True):
            text = plates[0].text if plates else None
            if text is None or text.conf < self.min_conf:
                continue
            self.reads += 1
            event = self.votes.add(crop.camera_id, crop.track_id, crop.captured_at, text)
            if event is not None:
                out.append(event)
        latest: dict[str, float] = {}
        for crop, _ in crops:
            latest[crop.camera_id] = max(latest.get(crop.camera_id, 0.0), crop.captured_at)
        for camera, now in latest.items():
            self.votes.expire(camera, now)
        return out
