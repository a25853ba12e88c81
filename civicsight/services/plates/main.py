"""Plates service: vehicle crops -> plate detection -> reading -> per-tracklet vote ->
``plate_reads``.

Only crops of vehicles (car, truck, bus, motorcycle) from cameras whose camera file sets
``analytics.plates`` are read. Crops from several cameras are read in one batch. A
``PlateRead`` keyed by camera id is published when a tracklet's voted text changes or
gains confidence. ``python -m services.plates.main``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pydantic import Field

from civicsight.bus import (
    KafkaPublisher,
    KafkaSubscriber,
    Publisher,
    Received,
    heartbeats,
    run_loop,
    stop_on_signals,
)
from civicsight.cameras import CameraWatch
from civicsight.events import Crop, PlateRead
from civicsight.images import decoded_crops
from civicsight.logs import setup_logging
from civicsight.resources import data_path
from civicsight.services.plates.logic import Choice, CropPlan
from civicsight.services.plates.patterns import load_regions
from civicsight.services.plates.pipeline import PlateReader, ReaderOptions
from civicsight.services.plates.voting import TrackletVotes
from civicsight.settings import CameraFiles, HubSettings, ModelSource

log = logging.getLogger("plates")
VEHICLES = frozenset({"car", "truck", "bus", "motorcycle"})


class PlatesSettings(HubSettings, CameraFiles, ModelSource):
    """The plates service (and `civicsight eval plates`); CIVICSIGHT_* variables."""

    vehicle_model: str = Field(
        "yolov8n-int8-openvino", description="vehicle detector for `civicsight eval plates`"
    )
    plate_regions_file: Path = Field(
        data_path("plate-regions.yaml"), description="plate formats by region (YAML)"
    )
    plate_regions: str = Field(
        "europe",
        description="plate regions or groups of the regions file, comma separated, e.g. "
        "europe, us, hr,sk (all: every region; fewer regions choose better)",
    )
    plate_detector_sizes: str = Field(
        "320,640",
        description="plate detector input sizes in order: the first finds plates, the next "
        "look again at plates whose reading is unsure",
    )
    plate_detector_conf: float = Field(
        0.2, gt=0, lt=1, description="least plate detection confidence"
    )
    plate_pattern_bonus: float = Field(
        8.0,
        ge=0,
        le=20,
        description="log-likelihood bonus of a text that fits a region pattern "
        "(regions may set their own)",
    )
    plate_min_conf: float = Field(
        0.3, ge=0, le=1, description="reads below this confidence do not vote"
    )
    plate_vote_gain: float = Field(
        0.05, ge=0, lt=1, description="confidence rise that publishes the same text again"
    )
    plate_keep_s: float = Field(
        120.0, gt=0, description="seconds a tracklet's votes are kept after its last read"
    )
    plate_threads: int = Field(2, ge=1, le=64, description="CPU threads per plate model")
    plate_batch_max: int = Field(16, ge=1, le=256, description="crops per batch (at most)")
    plate_batch_wait_ms: int = Field(100, ge=1, le=5000, description="longest wait to fill a batch")
    plate_cameras_reload_s: float = Field(
        30.0, gt=0, description="how often the camera files are read again"
    )

    def reader_options(self, lookalikes: Sequence[str]) -> ReaderOptions:
        try:
            sizes = tuple(int(s) for s in self.plate_detector_sizes.split(",") if s.strip())
        except ValueError:
            raise ValueError(
                f"CIVICSIGHT_PLATE_DETECTOR_SIZES={self.plate_detector_sizes!r}: "
                "expected sizes such as 320,640"
            ) from None
        return ReaderOptions(
            detector_sizes=sizes,
            detector_conf=self.plate_detector_conf,
            plan=CropPlan(),
            choice=Choice(pattern_bonus=self.plate_pattern_bonus, lookalikes=tuple(lookalikes)),
            threads=self.plate_threads,
        )


def build_reader(settings: PlatesSettings) -> PlateReader:
    regions = load_regions(settings.plate_regions_file)
    reader = PlateReader.from_registry(
        regions.select(settings.plate_regions.split(",")),
        settings.reader_options(regions.lookalikes),
        settings.model_mirror,
        settings.data_dir / "models",
        settings.model_download,
    )
    reader.start()
    return reader


def wanted(crop: Crop, cameras: frozenset[str]) -> bool:
    return crop.box.cls in VEHICLES and crop.camera_id in cameras


class PlatesService:
    """Reads batches of crops and turns them into votes and events (no bus inside)."""

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


def main() -> None:
    settings = PlatesSettings()
    setup_logging(settings.log_level)
    cameras = CameraWatch(settings.cameras_dir, "plates", settings.plate_cameras_reload_s)
    reader = build_reader(settings)
    service = PlatesService(
        reader,
        TrackletVotes(min_gain=settings.plate_vote_gain, keep_s=settings.plate_keep_s),
        settings.plate_min_conf,
    )
    stop = stop_on_signals()
    bus = KafkaPublisher(settings.kafka_config(), "plates")
    sub = KafkaSubscriber(settings.kafka_config(), "plates", ["crops"], bus)
    publisher: Publisher = bus
    log.info(
        "plates ready: cameras %s, regions %s, %d patterns",
        ", ".join(sorted(cameras.ids)) or "(none yet)",
        settings.plate_regions,
        len(reader.patterns),
    )

    def handle(batch: list[Received]) -> None:
        todo = decoded_crops(
            batch,
            lambda c: wanted(c, cameras.ids),
            lambda r, why: sub.dead_letter(r.message, why),
            min_side=8,
        )
        if not todo:
            return
        for event in service.process(todo):
            publisher.publish("plate_reads", event.camera_id, event)
        publisher.flush(30)

    try:
        run_loop(
            sub,
            handle,
            stop,
            max_messages=settings.plate_batch_max,
            timeout=settings.plate_batch_wait_ms / 1000,
            every_poll=cameras.refresh,
            heartbeat=heartbeats("plates", bus, sub),
        )
    finally:
        sub.close()
        bus.close()
        reader.close()


if __name__ == "__main__":
    main()
