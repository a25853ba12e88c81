"""Detect + track service: frames -> batched detection -> ByteTrack -> ``detections`` and
``crops``, keyed by camera id (the pipeline in ``pipeline.py``). Frames of cameras with
``analytics.detect: false`` are read and let go. A frame whose JPEG does not decode is
dead-lettered. Batches stay in flight in the pipeline; the runtime commits a batch once its
detections and crops are delivered. ``python -m civicsight.services.detect.main``.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterator
from contextlib import ExitStack, closing
from typing import Literal

from civicsight.cameras import load_cameras
from civicsight.events import Frame
from civicsight.metric_names import INFERENCE_SECONDS
from civicsight.runtime import Outputs, Polling, Received, Service, run
from civicsight.services.detect.pipeline import build_pipeline
from civicsight.services.detect.settings import DetectSettings

log = logging.getLogger("detect")


class Detect(Service[DetectSettings]):
    name = "detect"
    settings_class = DetectSettings
    consumes = ("frames",)
    publishes = ("detections", "crops")

    @property
    def offset_reset(self) -> Literal["earliest", "latest"]:
        return "latest"  # live video: a new group starts at the newest frames

    def polling(self) -> Polling:
        return Polling(self.settings.batch_max, 0.2, self.settings.batch_wait_ms / 1000)

    def open(self, resources: ExitStack) -> None:
        s = self.settings
        self.pipeline = build_pipeline(s)
        resources.enter_context(closing(self.pipeline.detector))
        self.skip = {c.id for c in load_cameras(s.cameras_dir) if not c.analytics.detect}
        log.info(
            "detect ready: %s, input %d px, batches of up to %d frames / %d ms",
            self.pipeline.model_label,
            s.imgsz,
            s.batch_max,
            s.batch_wait_ms,
        )

    def stream(self, batches: Iterator[list[Received]]) -> Iterator[tuple[list[Received], Outputs]]:
        held: deque[tuple[list[Received], list[Received]]] = deque()

        def frames() -> Iterator[list[Frame]]:
            for batch in batches:
                wanted: list[Received] = []
                frames: list[Frame] = []
                for r in batch:
                    if r.key not in self.skip and isinstance(r.event, Frame):
                        wanted.append(r)
                        frames.append(r.event)
                held.append((batch, wanted))
                yield frames

        for result in self.pipeline.run(frames()):
            batch, wanted = held.popleft()
            if wanted:
                self.metrics.observe(INFERENCE_SECONDS, result.inference_s)
            out = Outputs()
            for i in result.undecodable:
                out.dead_letter(wanted[i], "frame JPEG cannot be decoded")
            for detections in result.detections:
                out.publish("detections", detections.camera_id, detections)
            for crop in result.crops:
                out.publish("crops", crop.camera_id, crop)
            yield batch, out


if __name__ == "__main__":
    run(Detect)
