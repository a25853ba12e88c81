"""Re-identification service: crops -> quality gate -> batched embeddings -> ``appearances``.

Only crops from cameras whose camera file sets ``analytics.reid`` are used. Crops from
several cameras are embedded in one batch. Persons go through an OpenVINO OMZ re-ID
model (``reid-person-0277`` by default; 256-d, L2-normalised, compared by cosine) or,
where a site has the weights, torchreid's OSNet. Vehicles (car, truck, bus, motorcycle)
go through ``vehicle-attributes-0039``: colour and type, and an appearance vector made
of the network's pooled trunk feature and a colour histogram (see
``services.reid.logic.vehicle_vectors``). Each embedded crop becomes an ``Appearance``
keyed by camera id; crops below the least quality are skipped, not published.
``python -m services.reid.main``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

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
from civicsight.events import Appearance, Crop
from civicsight.images import decoded_crops
from civicsight.logs import setup_logging
from civicsight.models.appearance import (
    AppearanceSettings,
    PersonEmbedder,
    build_person_embedder,
    build_vehicle_model,
    colour_histogram,
    vehicle_vectors,
)
from civicsight.models.runtimes.vehicle_attributes import COLOURS, TYPES, OpenVinoVehicleAttributes
from civicsight.services.reid.logic import (
    Plan,
    QualityParams,
    appearance,
    plan,
    vehicle_label,
)
from civicsight.settings import (
    CameraFiles,
)

log = logging.getLogger("reid")


class ReidSettings(AppearanceSettings, CameraFiles):
    """The re-ID service: the appearance models (shared with the image search) and how
    crops are chosen and batched."""

    reid_min_quality: float = Field(
        0.3, ge=0, le=1, description="crops of lower quality (blur, size, border) are skipped"
    )
    reid_sharp_ref: float = Field(
        300.0, gt=0, description="Laplacian variance that counts as fully sharp"
    )
    reid_batch_wait_ms: int = Field(100, ge=1, le=5000, description="longest wait to fill a batch")
    reid_cameras_reload_s: float = Field(
        30.0, gt=0, description="how often the camera files are read again"
    )
    reid_group: str = Field(
        "reid", min_length=1, description="Kafka consumer group (processes in it share the crops)"
    )


class ReidService:
    """Turns batches of decoded crops into Appearance events (no bus inside)."""

    def __init__(
        self,
        persons: PersonEmbedder,
        person_label: str,
        vehicles: OpenVinoVehicleAttributes | None,
        vehicle_label: str,
        min_quality: float,
        quality: QualityParams | None = None,
    ) -> None:
        self.persons = persons
        self.person_label = person_label
        self.vehicles = vehicles
        self.vehicle_label = vehicle_label
        self.min_quality = min_quality
        self.quality = quality or QualityParams()
        self.skipped_low_quality = 0
        self.embedded = 0

    def process(
        self, crops: Sequence[tuple[Crop, np.ndarray]], cameras: frozenset[str]
    ) -> list[Appearance]:
        todo: Plan = plan(crops, cameras, self.min_quality, self.vehicles is not None, self.quality)
        self.skipped_low_quality += todo.low_quality
        out: list[Appearance] = []
        if todo.persons:
            vectors = self.persons.embed([s.pixels for s in todo.persons])
            out += [
                appearance(s, self.person_label, v)
                for s, v in zip(todo.persons, vectors, strict=True)
            ]
        if todo.vehicles and self.vehicles is not None:
            attrs = self.vehicles.analyse([s.pixels for s in todo.vehicles])
            hists = np.stack([colour_histogram(s.pixels) for s in todo.vehicles])
            vectors = vehicle_vectors(attrs.trunk, hists)
            for i, s in enumerate(todo.vehicles):
                label = vehicle_label(
                    s.crop.box.cls, attrs.colour[i], attrs.type[i], COLOURS, TYPES
                )
                out.append(appearance(s, self.vehicle_label, vectors[i], label))
                log.debug(
                    "%s: %s %s (%.2f), type %s (%s)",
                    s.crop.tracklet_id,
                    s.crop.box.cls,
                    label.colour,
                    label.colour_conf,
                    label.type,
                    label.type_conf,
                )
        self.embedded += len(out)
        return out


def main() -> None:
    settings = ReidSettings()
    setup_logging(settings.log_level)
    cameras = CameraWatch(settings.cameras_dir, "reid", settings.reid_cameras_reload_s)
    persons, person_label = build_person_embedder(settings)
    vehicles, vehicle_model_label = (
        build_vehicle_model(settings) if settings.reid_vehicles else (None, "")
    )
    service = ReidService(
        persons,
        person_label,
        vehicles,
        vehicle_model_label,
        settings.reid_min_quality,
        QualityParams(sharp_ref=settings.reid_sharp_ref),
    )
    stop = stop_on_signals()
    bus = KafkaPublisher(settings.kafka_config(), "reid")
    sub = KafkaSubscriber(settings.kafka_config(), settings.reid_group, ["crops"], bus)
    publisher: Publisher = bus
    log.info(
        "reid ready: cameras %s, persons %s, vehicles %s, least quality %.2f",
        ", ".join(sorted(cameras.ids)) or "(none yet)",
        person_label,
        vehicle_model_label or "off",
        settings.reid_min_quality,
    )

    def handle(batch: list[Received]) -> None:
        todo = decoded_crops(
            batch,
            lambda c: c.camera_id in cameras.ids,
            lambda r, why: sub.dead_letter(r.message, why),
        )
        if not todo:
            return
        for event in service.process(todo, cameras.ids):
            publisher.publish("appearances", event.camera_id, event)
        publisher.flush(30)

    try:
        run_loop(
            sub,
            handle,
            stop,
            max_messages=settings.reid_batch_max,
            timeout=settings.reid_batch_wait_ms / 1000,
            every_poll=cameras.refresh,
            heartbeat=heartbeats("reid", bus, sub),
        )
    finally:
        sub.close()
        bus.close()
        persons.close()
        if vehicles is not None:
            vehicles.close()


if __name__ == "__main__":
    main()
