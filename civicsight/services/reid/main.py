"""Re-identification service: crops of cameras with ``analytics.reid`` -> quality gate ->
batched embeddings -> ``appearances``, keyed by camera id. Crops from several cameras are
embedded in one batch (``embedding.py``; the models in ``civicsight.models.appearance``).
``python -m civicsight.services.reid.main``; the runtime (``civicsight.runtime``) does the
rest.
"""

from __future__ import annotations

import logging
from contextlib import ExitStack, closing

from civicsight.images import decoded_crops
from civicsight.metric_names import INFERENCE_SECONDS
from civicsight.models.appearance import build_person_embedder, build_vehicle_model
from civicsight.runtime import Outputs, Polling, Received, Service, run, timed
from civicsight.services.reid.embedding import CropEmbedder
from civicsight.services.reid.logic import QualityParams
from civicsight.services.reid.settings import ReidSettings

log = logging.getLogger("reid")


class Reid(Service[ReidSettings]):
    name = "reid"
    settings_class = ReidSettings
    consumes = ("crops",)
    publishes = ("appearances",)

    @property
    def group(self) -> str:
        return self.settings.reid_group

    def polling(self) -> Polling:
        return Polling(self.settings.reid_batch_max, 0.2, self.settings.reid_batch_wait_ms / 1000)

    def open(self, resources: ExitStack) -> None:
        s = self.settings
        self.cameras = s.watch("reid")
        persons, person_label = build_person_embedder(s)
        resources.enter_context(closing(persons))
        vehicles, vehicle_label = None, ""
        if s.reid_vehicles:
            vehicles, vehicle_label = build_vehicle_model(s)
            resources.enter_context(closing(vehicles))
        self.embedder = CropEmbedder(
            persons,
            person_label,
            vehicles,
            vehicle_label,
            s.reid_min_quality,
            QualityParams(sharp_ref=s.reid_sharp_ref),
        )
        log.info(
            "reid ready: cameras %s, persons %s, vehicles %s, least quality %.2f",
            ", ".join(sorted(self.cameras.ids)) or "(none yet)",
            person_label,
            vehicle_label or "off",
            s.reid_min_quality,
        )

    def handle(self, batch: list[Received]) -> Outputs:
        out = Outputs()
        crops = decoded_crops(batch, lambda c: c.camera_id in self.cameras.ids, out.dead_letter)
        if crops:
            with timed(self.metrics, INFERENCE_SECONDS):
                events = self.embedder.process(crops, self.cameras.ids)
            for event in events:
                out.publish("appearances", event.camera_id, event)
        return out

    def every_poll(self, now: float) -> None:
        self.cameras.refresh()


if __name__ == "__main__":
    run(Reid)
