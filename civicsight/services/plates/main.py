"""Plates service: vehicle crops -> plate detection -> reading -> per-tracklet vote ->
``plate_reads``, keyed by camera id. Crops from several cameras are read in one batch.
Each voted read also goes out as ``plate_sightings`` (camera, time, class and a pseudonym
under the day's key: ``civicsight.pseudonyms``), keyed by the pseudonym, for journey
times; the keys live in this process only and are never logged.
``python -m civicsight.services.plates.main``; the runtime (``civicsight.runtime``) does
the rest.
"""

from __future__ import annotations

import logging
from contextlib import ExitStack, closing

from civicsight.events import ObjectClass
from civicsight.images import decoded_crops
from civicsight.metric_names import INFERENCE_SECONDS
from civicsight.pseudonyms import KeySchedule, sightings
from civicsight.runtime import Outputs, Polling, Received, Service, run, timed
from civicsight.services.plates.reading import TrackletReader, wanted
from civicsight.services.plates.settings import PlatesSettings, build_reader
from civicsight.services.plates.voting import TrackletVotes

log = logging.getLogger("plates")


class Plates(Service[PlatesSettings]):
    name = "plates"
    settings_class = PlatesSettings
    consumes = ("crops",)
    publishes = ("plate_reads", "plate_sightings")

    def __init__(self, settings: PlatesSettings) -> None:
        super().__init__(settings)
        self.keys = KeySchedule()  # this instance's keys of the days: never shared or kept

    def polling(self) -> Polling:
        return Polling(self.settings.plate_batch_max, 0.2, self.settings.plate_batch_wait_ms / 1000)

    def open(self, resources: ExitStack) -> None:
        s = self.settings
        self.cameras = s.watch("plates")
        reader = resources.enter_context(closing(build_reader(s)))
        votes = TrackletVotes(min_gain=s.plate_vote_gain, keep_s=s.plate_keep_s)
        self.reading = TrackletReader(reader, votes, s.plate_min_conf)
        log.info(
            "plates ready: cameras %s, regions %s, %d patterns",
            ", ".join(sorted(self.cameras.ids)) or "(none yet)",
            s.plate_regions,
            len(reader.patterns),
        )

    def handle(self, batch: list[Received]) -> Outputs:
        out = Outputs()
        crops = decoded_crops(
            batch, lambda c: wanted(c, self.cameras.ids), out.dead_letter, min_side=8
        )
        if crops:
            classes: dict[tuple[str, int, float], ObjectClass] = {
                (c.camera_id, c.track_id, c.captured_at): c.box.cls for c, _ in crops
            }
            with timed(self.metrics, INFERENCE_SECONDS):
                events = self.reading.process(crops)
            for event in events:
                out.publish("plate_reads", event.camera_id, event)
                if self.settings.plate_pseudonyms:
                    cls = classes[(event.camera_id, event.track_id, event.captured_at)]
                    for seen in sightings(
                        self.keys, event.camera_id, event.captured_at, cls, event.text
                    ):
                        out.publish("plate_sightings", seen.pseudonym, seen)
        return out

    def every_poll(self, now: float) -> None:
        self.cameras.refresh()
        self.keys.forget(now)


if __name__ == "__main__":
    run(Plates)
